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
