import CFuse3
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
///     bits 32-46  the snapshot's length in bytes at open, `lengthUnknown` when
///                 it is 32767 or more
///     bits 0-31   a counter
///
/// A read on a handle this process does not know renders the file afresh
/// for the caller and keeps that snapshot under the handle (`adopt`), except
/// a read at or past the length the handle carries: that reader already has
/// the whole snapshot of the earlier process and gets end of file, so no
/// reader ever gets the tail of a later rendering spliced onto an earlier
/// one. Releasing an unknown handle frees nothing.
final class HandleTable: Sendable {
    /// This process's generation, 1 to 2^16 - 1.
    let generation: UInt64
    private let next = Atomic<UInt64>(1)
    private final class Shard: Sendable {
        let files = Mutex<[UInt64: OpenFile]>([:])
    }
    private let shards: [Shard]

    init() {
        var random: UInt32 = 0
        _ = withUnsafeMutableBytes(of: &random) { cfuse3_random($0.baseAddress, 4) }
        var g = UInt64(random & 0xffff)
        if g == 0 { g = UInt64(getpid() & 0xffff) | 1 }
        generation = g
        shards = (0..<16).map { _ in Shard() }
    }

    private func shard(_ fh: UInt64) -> Shard { shards[Int(fh & 15)] }

    /// Whether `fh` was issued by this process.
    func isOurs(_ fh: UInt64) -> Bool { fh >> 48 == generation }

    /// Bit 47 of a handle: the file was opened for writing (a pressure file
    /// that may hold a PSI trigger), told from the handle alone by a successor.
    static let writerBit: UInt64 = 1 << 47

    /// The length field's value for a snapshot of 32767 bytes or more.
    static let lengthUnknown: UInt64 = 0x7fff

    /// The snapshot length in bytes that `fh` carries, `nil` when unknown.
    static func snapshotLength(_ fh: UInt64) -> Int? {
        let length = fh >> 32 & lengthUnknown
        return length == lengthUnknown ? nil : Int(length)
    }

    /// Whether `fh` was issued for a file opened for writing (by any process).
    static func isWriter(_ fh: UInt64) -> Bool { fh & writerBit != 0 }

    /// Keeps `file` under a new handle (with `writerBit` set for `writer`).
    func insert(_ file: OpenFile, writer: Bool = false) -> UInt64 {
        let length = UInt64(min(file.snapshot.withLock { $0.bytes.count }, Int(Self.lengthUnknown)))
        let fh = generation << 48 | (writer ? Self.writerBit : 0) | length << 32
            | (next.add(1, ordering: .relaxed).oldValue & 0xffff_ffff)
        shard(fh).files.withLock { $0[fh] = file }
        return fh
    }

    /// The file of a handle this process knows.
    func file(_ fh: UInt64) -> OpenFile? {
        shard(fh).files.withLock { $0[fh] }
    }

    /// Keeps `file` under a handle another process issued; returns the
    /// file kept (an earlier adoption wins a race).
    func adopt(_ fh: UInt64, _ file: OpenFile) -> OpenFile {
        shard(fh).files.withLock { files in
            if let kept = files[fh] { return kept }
            files[fh] = file
            return file
        }
    }

    /// Forgets a handle (nothing happens for an unknown one).
    func remove(_ fh: UInt64) {
        _ = shard(fh).files.withLock { $0.removeValue(forKey: fh) }
    }
}
