/// The view switches, named as lxcfs names its flags.
package struct ViewOptions: Sendable, Hashable {
    /// `--enable-cfs`: cut the visible CPUs to the CFS quota, rounded up.
    package var enableCFS: Bool
    /// `-u/--disable-swap`: show SwapTotal and SwapFree as 0 kB.
    package var disableSwap: Bool
    /// `-l/--enable-loadavg`: per-container load averages.
    package var enableLoadavg: Bool
    /// `--disable-zswap` (lxcfs 7): show Zswap and Zswapped as 0 kB.
    package var disableZswap: Bool

    package init(enableCFS: Bool = false, disableSwap: Bool = false, enableLoadavg: Bool = false,
                 disableZswap: Bool = false) {
        self.enableCFS = enableCFS
        self.disableSwap = disableSwap
        self.enableLoadavg = enableLoadavg
        self.disableZswap = disableZswap
    }
}

/// A file the mount serves, named by its path under the mount point.
public enum VirtualFile: String, Sendable, CaseIterable {
    case meminfo = "/proc/meminfo"
    case cpuinfo = "/proc/cpuinfo"
    case stat = "/proc/stat"
    case uptime = "/proc/uptime"
    case cpuOnline = "/sys/devices/system/cpu/online"
    case loadavg = "/proc/loadavg"
    case swaps = "/proc/swaps"
    case diskstats = "/proc/diskstats"
    case slabinfo = "/proc/slabinfo"
    case cpuPressure = "/proc/pressure/cpu"
    case ioPressure = "/proc/pressure/io"
    case memoryPressure = "/proc/pressure/memory"
    case cpuPossible = "/sys/devices/system/cpu/possible"
    case cpuPresent = "/sys/devices/system/cpu/present"
    case cpuOffline = "/sys/devices/system/cpu/offline"

    /// The host file this one is a view of (same path on the host).
    package var hostPath: String { rawValue }

    /// Looks a file up by its path under the mount point, or by the host
    /// path it stands for (`/proc/meminfo`).
    package init?(path: String) {
        self.init(rawValue: path)
    }

    /// The permission bits the mount shows: 0400 for `/proc/slabinfo` (as
    /// on the host, where only root may read it), 0444 for the rest.
    package var mode: UInt32 { self == .slabinfo ? 0o400 : 0o444 }

    /// True for files only a caller with host uid 0 may open (`/proc/slabinfo`).
    package var rootOnly: Bool { self == .slabinfo }

    /// Whether the file depends on the reader's pid namespace beyond its
    /// container cgroups: `/proc/uptime` counts from its init's start.
    package var dependsOnPidNamespace: Bool { self == .uptime }

    /// The pressure resource of a `/proc/pressure/*` file.
    package var pressureResource: PressureResource? {
        switch self {
        case .cpuPressure: return .cpu
        case .ioPressure: return .io
        case .memoryPressure: return .memory
        default: return nil
        }
    }
}
