#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// CLOCK_MONOTONIC_COARSE in nanoseconds: how old a cached value is (the
/// cgroup layout, absent v1 file names, the loadavg sampler's entries).
/// Cheap (no system call) and a few milliseconds coarse.
public enum MonotonicClock {
    @Sendable public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// CLOCK_BOOTTIME in nanoseconds: the clock of `/proc/uptime` (it counts
/// suspend), which the `/proc/stat` view's idle time follows.
public enum BootClock {
    @Sendable public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
