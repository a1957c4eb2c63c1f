import LXCFSCore
import Synchronization

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
    /// When the table was last rebuilt from the host tree (`nil`: never).
    /// `SuspendingClock` reads CLOCK_MONOTONIC.
    private let lastRebuild = Mutex<SuspendingClock.Instant?>(nil)

    /// A table holding the root and `fixed`, the paths of the served tree.
    public init<S: Sequence>(fixed: S) where S.Element == String {
        var table: [UInt64: String] = [1: "/"]
        for path in fixed { table[Self.id(of: path)] = path }
        self.fixed = table
    }

    /// The node id of `path` (absolute, relative to the mount point).
    public static func id(of path: String) -> UInt64 {
        if path == "/" { return 1 }
        let hash = FNV1a.hash(path.utf8)
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
        let now = SuspendingClock.now
        let due = lastRebuild.withLock { last -> Bool in
            if let last, now - last < .seconds(1) { return false }
            last = now
            return true
        }
        guard due else { return nil }
        enter(all: rebuild())
        return path(of: id)
    }

    /// How many paths are known.
    public var count: Int { fixed.count + paths.withLock { $0.count } }
}
