import LXCFSMountInfo

/// Whose a dead lxcfs-type connection is, told from the mount table of the
/// daemon's own mount namespace (the host's, where every instance's mount
/// point lives). A bind in a container's namespace does not say which
/// host path it came from (its mountinfo root is a path inside the
/// filesystem, such as `/proc/meminfo`); the connection's mounts with root
/// `/` in the daemon's namespace do: they are its instance's mount points.
public enum ConnectionOwner: Sendable, Equatable {
    /// Mounted at this path, which the daemon serves or was told to take
    /// over (`--reattach-from`): its mounts are replaced.
    case claimed(String)
    /// No mount of it with root `/` is left in the daemon's namespace: its
    /// instance's mount point was unmounted (as lxcfs's unit does when lxcfs
    /// stops, and as the daemon does with a dead mount at its own mount
    /// point before it mounts). Nothing tells another instance's from the
    /// one being replaced, and its readers get ENOTCONN until some daemon
    /// adopts it: its mounts are replaced.
    case orphaned
    /// Mounted at these other paths (sorted): another instance's mount
    /// points. Neither they nor the connection's binds in any namespace are
    /// touched.
    case otherInstance([String])

    /// True when the reattach step replaces the connection's mounts.
    public var isAdopted: Bool {
        if case .otherInstance = self { return false }
        return true
    }

    /// The owner of connection `device`.
    /// - Parameters:
    ///   - device: the connection's `major:minor` (mountinfo field 3).
    ///   - ownTable: the daemon's own namespace's mounts (`/proc/self/mountinfo`).
    ///   - claimedPaths: absolute paths, symbolic links resolved: the
    ///     daemon's mount point and each `--reattach-from` path.
    public static func of(device: String, ownTable: [MountInfo.Entry], claimedPaths: [String]) -> ConnectionOwner {
        let mountPoints = ownTable.filter { $0.device == device && $0.root == "/" }.map(\.mountPoint)
        if mountPoints.isEmpty { return .orphaned }
        if let claimed = mountPoints.first(where: { claimedPaths.contains(Self.normalized($0)) }) {
            return .claimed(claimed)
        }
        return .otherInstance(Array(Set(mountPoints)).sorted())
    }

    /// `path` without trailing slashes (except `/` itself).
    static func normalized(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }
}

/// A dead lxcfs-type connection that belongs to another instance: left alone.
public struct ForeignConnection: Sendable, Equatable {
    /// Its `major:minor`.
    public let device: String
    /// The mount source its mounts show (`lxcfs`, `swift-lxcfs`).
    public let source: String
    /// Its instance's mount points in the daemon's namespace.
    public let mountPoints: [String]
    /// How many of its mounts the namespaces looked at hold.
    public let mounts: Int
}
