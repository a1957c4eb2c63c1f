/// CPU time as the views show it, shaped in one place: the units
/// (nanoseconds from the cgroup, clock ticks in `/proc/stat`, hundredths of
/// a second in `/proc/uptime`), saturating arithmetic on counters, the CFS
/// quota's scale and the even sharing of a total over the visible CPUs.
/// `CPUTimeTracker`, `StatRenderer`, the uptime view and the v2 backend all
/// use these, and nothing else converts CPU time.
package enum CPUTime {
    /// Clock ticks per second in `/proc/stat` and `/proc/PID/stat` (USER_HZ).
    package static let ticksPerSecond: UInt64 = ClockTicks.perSecond
    /// Nanoseconds per clock tick (10 ms).
    package static let nanosecondsPerTick: UInt64 = 1_000_000_000 / ticksPerSecond
    /// Nanoseconds per hundredth of a second, the unit `/proc/uptime` prints.
    package static let nanosecondsPerHundredth: UInt64 = 10_000_000
    /// Nanoseconds per microsecond, the unit of v2 `cpu.stat`'s `user_usec`.
    package static let nanosecondsPerMicrosecond: UInt64 = 1000

    /// `a + b`, or `UInt64.max` where that overflows (garbage counters never trap).
    @inline(__always)
    package static func sum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? .max : r
    }

    /// `a * b`, or `UInt64.max` where that overflows.
    @inline(__always)
    package static func product(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        return o ? .max : r
    }

    /// A counter's growth since the last read; a counter that went
    /// backwards was reset and counts from zero.
    @inline(__always)
    package static func growth(_ now: UInt64, since last: UInt64) -> UInt64 {
        now >= last ? now - last : now
    }

    /// `ns * factor`, held below `UInt64.max / 4` where it would not fit.
    package static func scaled(_ ns: UInt64, _ factor: Double) -> UInt64 {
        guard factor != 1 else { return ns }
        let v = Double(ns) * factor
        return v >= 1.8e19 ? UInt64.max / 4 : UInt64(v)
    }

    /// The factor busy time is scaled by so that a container using all of
    /// its CFS quota looks fully busy: `visible / capacity`, at least 1
    /// (1 when the capacity is not positive).
    /// - Parameters:
    ///   - visible: the number of CPUs shown.
    ///   - capacity: the CPUs of real capacity behind them (the quota in CPUs).
    package static func quotaScale(visible: Int, capacity: Double) -> Double {
        capacity > 0 ? max(1, Double(visible) / capacity) : 1
    }

    /// Row `k`'s part of `total` shared evenly over `count` rows: `total /
    /// count`, and one more for each of the lowest `total % count` rows.
    /// The parts of rows `0..<count` add up to `total`.
    package static func share(_ total: UInt64, among count: Int, row k: Int) -> UInt64 {
        let n = UInt64(max(count, 1))
        return total / n + (UInt64(k) < total % n ? 1 : 0)
    }
}

extension CPUUsage {
    /// User plus system time over all CPUs, in nanoseconds (saturating).
    package var busyNanoseconds: UInt64 {
        switch self {
        case .perCPU(let rows):
            var busy: UInt64 = 0
            for (_, v) in rows { busy = CPUTime.sum(busy, CPUTime.sum(v.user, v.system)) }
            return busy
        case .total(let u, let s):
            return CPUTime.sum(u, s)
        }
    }
}
