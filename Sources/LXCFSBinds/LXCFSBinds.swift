/// One path that a container binds from the mount point over its own:
/// `MOUNTPOINT/relativePath` over `/relativePath`.
public struct LXCFSBind: Sendable, Equatable {
    /// The path under the mount point and under the container's root, without
    /// a leading slash, such as `proc/meminfo` or `sys/devices/system/cpu`.
    public let relativePath: String
    /// True for a folder (bound whole, Kubernetes hostPath type `Directory`),
    /// false for one file (hostPath type `File`).
    public let isDirectory: Bool

    /// The path inside the container, such as `/proc/meminfo`.
    public var containerPath: String { "/" + relativePath }

    /// The path on the host under `mountPoint` (trailing slashes ignored),
    /// such as `/var/lib/lxcfs/proc/meminfo`.
    public func hostPath(under mountPoint: String) -> String {
        var root = mountPoint
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        return (root == "/" ? "" : root) + "/" + relativePath
    }

    /// `relativePath` as a DNS label part: `proc-meminfo`, `sys-devices-system-cpu`.
    public var slug: String {
        String(relativePath.map { $0 == "/" ? "-" : $0 })
    }
}

extension LXCFSBind {
    /// What the admission webhook and the CDI spec bind, in this order: every
    /// file lxcfs users bind (the proc files runc allows as bind destinations)
    /// and the whole `sys/devices/system/cpu` tree, so that `lscpu`, `mpstat`
    /// and `getconf` count the visible CPUs, not only readers of `online`.
    ///
    /// Left out: `proc/pressure/{cpu,io,memory}`. runc refuses bind
    /// destinations under /proc other than its list of lxcfs files, and the
    /// daemon serves no pressure files on a host without /proc/pressure, where
    /// a hostPath of type File would keep the pod from starting.
    public static let all: [LXCFSBind] = [
        LXCFSBind(relativePath: "proc/cpuinfo", isDirectory: false),
        LXCFSBind(relativePath: "proc/diskstats", isDirectory: false),
        LXCFSBind(relativePath: "proc/loadavg", isDirectory: false),
        LXCFSBind(relativePath: "proc/meminfo", isDirectory: false),
        LXCFSBind(relativePath: "proc/slabinfo", isDirectory: false),
        LXCFSBind(relativePath: "proc/stat", isDirectory: false),
        LXCFSBind(relativePath: "proc/swaps", isDirectory: false),
        LXCFSBind(relativePath: "proc/uptime", isDirectory: false),
        LXCFSBind(relativePath: "sys/devices/system/cpu", isDirectory: true),
    ]

    /// The daemon's default mount point, as lxcfs has it.
    public static let defaultMountPoint = "/var/lib/lxcfs"
}
