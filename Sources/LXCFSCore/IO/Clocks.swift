#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// CLOCK_MONOTONIC_COARSE in nanoseconds: how old a cached value is (the
/// cgroup layout, absent v1 file names, the loadavg sampler's entries).
/// Cheap (no system call) and a few milliseconds coarse.
package enum MonotonicClock {
    @Sendable package static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// CLOCK_BOOTTIME in nanoseconds: the clock of `/proc/uptime` (it counts
/// suspend), which the `/proc/stat` view's idle time follows.
package enum BootClock {
    @Sendable package static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// The clocks a `ContainerView` reads, injected so that a test can move
/// time by hand. Both give nanoseconds.
package struct ViewClocks: Sendable {
    /// How old a cached value is: the cgroup layout's age and the loadavg
    /// sampler's entries (`MonotonicClock` on a host).
    package var monotonic: @Sendable () -> UInt64
    /// The CPU time tracker's "now", the clock `/proc/stat`'s idle time
    /// follows (`BootClock` on a host).
    package var boot: @Sendable () -> UInt64

    /// - Parameters:
    ///   - monotonic: how old cached values are, in nanoseconds.
    ///   - boot: the CPU time tracker's "now", in nanoseconds.
    package init(monotonic: @escaping @Sendable () -> UInt64, boot: @escaping @Sendable () -> UInt64) {
        self.monotonic = monotonic
        self.boot = boot
    }

    /// The host's clocks: CLOCK_MONOTONIC_COARSE and CLOCK_BOOTTIME.
    package static let host = ViewClocks(monotonic: MonotonicClock.nanoseconds, boot: BootClock.nanoseconds)

    /// The clocks of a fixture root: the host's monotonic clock, and for
    /// "now" the root's own `/proc/uptime` (0 where it cannot be read).
    /// - Parameter files: reads the root's `/proc/uptime`.
    package static func fixture(_ files: any KernelFileReader) -> ViewClocks {
        ViewClocks(monotonic: MonotonicClock.nanoseconds, boot: {
            let bytes = files.read("/proc/uptime", sizeHint: 64) ?? []
            return (UptimeRenderer.hostUptimeHundredths(bytes[...]) ?? 0) &* CPUTime.nanosecondsPerHundredth
        })
    }
}
