import CFuse3
import LXCFSCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Node ids that are a fixed function of the path, the same in every
/// process: the kernel keeps using the ids an earlier process issued (bind
/// mounts pin dentries), and a successor must resolve them without a LOOKUP.
///
/// The root is 1 (`FUSE_ROOT_ID`); every other path's id is the 64-bit
/// FNV-1a hash of its virtual path (`/proc/meminfo`,
/// `/sys/devices/system/cpu/cpu0/topology/core_id`), with 0 and 1 moved
/// out of the way. The table maps ids back to paths: the served tree is
/// entered at start, passthrough paths as they are looked up, and an id
/// that is not known (issued by an earlier process) makes the owner walk
/// the host tree again (`NodeTable.missed`). FORGET frees nothing.
public final class NodeTable: Sendable {
    /// The served tree's paths: fixed at start, read without a lock.
    private let fixed: [UInt64: String]
    /// Passthrough paths, entered as they are looked up.
    private let paths = Mutex<[UInt64: String]>([:])
    /// When the table was last rebuilt from the host tree (CLOCK_MONOTONIC seconds).
    private let lastRebuild = Mutex<Double>(-1e9)

    /// A table holding the root and `fixed`, the paths of the served tree.
    public init<S: Sequence>(fixed: S) where S.Element == String {
        var table: [UInt64: String] = [1: "/"]
        for path in fixed { table[Self.id(of: path)] = path }
        self.fixed = table
    }

    /// The node id of `path` (absolute, relative to the mount point).
    public static func id(of path: String) -> UInt64 {
        if path == "/" { return 1 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in path.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash < 2 ? hash + 2 : hash
    }

    /// Records `path` and returns its id.
    @discardableResult
    public func enter(_ path: String) -> UInt64 {
        let id = Self.id(of: path)
        if fixed[id] == nil { paths.withLock { $0[id] = path } }
        return id
    }

    /// Records many paths at once.
    public func enter<S: Sequence>(all: S) where S.Element == String {
        paths.withLock { table in
            for path in all { table[Self.id(of: path)] = path }
        }
    }

    /// The path of a known id.
    public func path(of id: UInt64) -> String? {
        fixed[id] ?? paths.withLock { $0[id] }
    }

    /// Resolves an id, calling `rebuild` (at most once a second) to list
    /// every path the tree can hold when the id is not known.
    public func resolve(_ id: UInt64, rebuild: () -> [String]) -> String? {
        if let path = path(of: id) { return path }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let t = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        let due = lastRebuild.withLock { last -> Bool in
            guard t - last >= 1 else { return false }
            last = t
            return true
        }
        guard due else { return nil }
        enter(all: rebuild())
        return path(of: id)
    }

    /// How many paths are known.
    public var count: Int { fixed.count + paths.withLock { $0.count } }
}

/// File handles (`fh`), laid out so that a successor can serve one without
/// the memory of the process that issued it:
///
///     bits 48-63  the issuing process's generation (random, never 0)
///     bit  47     opened for writing (a pressure file that may hold a PSI trigger)
///     bits 32-46  the length in bytes of the file's rendering at open,
///                 `lengthUnknown` when it is 32767 or more
///     bits 0-31   the handle's slot in `HandleStore` (bits 0-23) and a tag (bits 24-31)
///
/// A read on a handle this process does not know renders the file afresh
/// for the caller and serves it from there (`HandleStore`), except a read
/// past offset 0 of a file whose length the handle carries (under 32 KiB):
/// that reader read the file at once and already has the whole rendering
/// of the earlier process (since issue 15 the first read renders, so its
/// length may differ from the open's that the handle carries), and gets
/// end of file, so no reader ever gets the tail of a later rendering
/// spliced onto an earlier one. Releasing an unknown handle frees nothing. What a handle keeps
/// between reads is in `HandleStore`, under the snapshot budget.
final class HandleTable: Sendable {
    /// This process's generation, 1 to 2^16 - 1.
    let generation: UInt64
    /// The state of every handle and the snapshots they keep.
    let store: HandleStore

    init(budget: SnapshotBudget = SnapshotBudget()) {
        var random: UInt32 = 0
        _ = withUnsafeMutableBytes(of: &random) { cfuse3_random($0.baseAddress, 4) }
        var g = UInt64(random & 0xffff)
        if g == 0 { g = UInt64(getpid() & 0xffff) | 1 }
        generation = g
        store = HandleStore(budget: budget, generation: g)
    }

    /// Whether `fh` was issued by this process.
    func isOurs(_ fh: UInt64) -> Bool { fh >> 48 == generation }

    /// Bit 47 of a handle: the file was opened for writing (a pressure file
    /// that may hold a PSI trigger), told from the handle alone by a successor.
    static let writerBit: UInt64 = 1 << 47

    /// The length field's value for a rendering of 32767 bytes or more.
    static let lengthUnknown: UInt64 = 0x7fff

    /// The rendering length in bytes that `fh` carries, `nil` when unknown.
    static func snapshotLength(_ fh: UInt64) -> Int? {
        let length = fh >> 32 & lengthUnknown
        return length == lengthUnknown ? nil : Int(length)
    }

    /// Whether `fh` was issued for a file opened for writing (by any process).
    static func isWriter(_ fh: UInt64) -> Bool { fh & writerBit != 0 }

    /// A new handle for `file` (`nil`: a host file of the CPU tree) whose
    /// rendering at open was `length` bytes, with `writerBit` set for
    /// `writer`. Keeps no bytes: the first read renders.
    func insert(_ file: VirtualFile?, length: Int, writer: Bool = false) -> UInt64 {
        let length = UInt64(min(max(0, length), Int(Self.lengthUnknown)))
        return (writer ? Self.writerBit : 0) | length << 32 | store.open(file)
    }

    /// Whether this process knows `fh`.
    func knows(_ fh: UInt64) -> Bool { store.contains(fh) }

    /// Keeps state for a handle another process issued (a read on it renders).
    func adopt(_ fh: UInt64, file: VirtualFile?) {
        store.adopt(fh, file: file)
    }

    /// Forgets a handle and its snapshot (nothing happens for an unknown one).
    func remove(_ fh: UInt64) {
        store.release(fh)
    }
}
