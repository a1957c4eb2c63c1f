/// The view switches, named as lxcfs names its flags.
public struct ViewOptions: Sendable, Hashable {
    /// `--enable-cfs`: cut the visible CPUs to the CFS quota, rounded up.
    public var enableCFS: Bool
    /// `-u/--disable-swap`: show SwapTotal and SwapFree as 0 kB.
    public var disableSwap: Bool
    /// `-l/--enable-loadavg`: per-container load averages.
    public var enableLoadavg: Bool

    public init(enableCFS: Bool = false, disableSwap: Bool = false, enableLoadavg: Bool = false) {
        self.enableCFS = enableCFS
        self.disableSwap = disableSwap
        self.enableLoadavg = enableLoadavg
    }
}

/// A file the mount serves, named by its path under the mount point.
public enum VirtualFile: String, Sendable, CaseIterable {
    case meminfo = "/proc/meminfo"
    case cpuinfo = "/proc/cpuinfo"
    case stat = "/proc/stat"
    case uptime = "/proc/uptime"
    case cpuOnline = "/sys/devices/system/cpu/online"

    /// The host file this one is a view of (same path on the host).
    public var hostPath: String { rawValue }

    /// Looks a file up by its path under the mount point, or by the host
    /// path it stands for (`/proc/meminfo`).
    public init?(path: String) {
        self.init(rawValue: path)
    }
}
