/// Renders `/proc/uptime` for a pid namespace: the host's uptime minus the
/// start time of the namespace's init, never below 0, as `%.2f %.2f\n`
/// (uptime, idle seconds).
///
/// Like the kernel's, the idle field counts every CPU: with the reader
/// cgroup's CPU time it is the visible CPUs' time since the container
/// started minus the cgroup's busy time, scaled as `/proc/stat` scales it,
/// so that it grows at the rate the `/proc/stat` view's idle grows.
package enum UptimeRenderer {
    /// A cgroup's CPU time as the `/proc/stat` view counts it.
    package struct CPUTime: Sendable, Equatable {
        /// Visible CPUs.
        package var cpus: Int
        /// Busy (user + system) time over the cgroup's life, scaled by
        /// visible CPUs / CFS capacity, in hundredths of a second.
        package var busyHundredths: UInt64

        package init(cpus: Int, busyHundredths: UInt64) {
            self.cpus = cpus
            self.busyHundredths = busyHundredths
        }
    }

    /// - Parameters:
    ///   - host: the host's `/proc/uptime` ("UPTIME IDLE" in seconds).
    ///   - initStartTicks: when the namespace's init started, after boot;
    ///     `nil` for the host's pid namespace.
    ///   - cpuTime: the reader cgroup's CPU time; `nil` scales the host's idle
    ///     time by the share of the host's uptime the container has seen.
    /// - Returns: the file's bytes; the host's file when it cannot be parsed.
    package static func render(host: ArraySlice<UInt8>, initStartTicks: ClockTicks?, cpuTime: CPUTime? = nil) -> [UInt8] {
        guard let start = initStartTicks else { return Array(host) }
        let w = ByteParser.words(host)
        guard w.count >= 2, let up = hundredths(w[0]), let idle = hundredths(w[1]) else { return Array(host) }
        let startHundredths = start.hundredths
        let uptime = up > startHundredths ? up - startHundredths : 0
        let scaledIdle: UInt64
        if let cpuTime {
            // All visible CPUs' time since the container started, less what the cgroup used.
            let (all, overflow) = UInt64(max(cpuTime.cpus, 1)).multipliedReportingOverflow(by: uptime)
            if overflow { return Array(host) }
            scaledIdle = all > cpuTime.busyHundredths ? all - cpuTime.busyHundredths : 0
        } else {
            // Idle time scales with the share of the host's uptime the container has seen.
            scaledIdle = up > 0 ? UInt64(Double(idle) * Double(uptime) / Double(up)) : 0
        }
        var out = TextBuffer(capacity: 32)
        out.appendHundredths(uptime)
        out.append(byte: ByteParser.space)
        out.appendHundredths(scaledIdle)
        out.append(byte: ByteParser.newline)
        return out.bytes
    }

    /// The first uptime value of the host in hundredths of a second.
    package static func hostUptimeHundredths(_ host: ArraySlice<UInt8>) -> UInt64? {
        ByteParser.words(host).first.flatMap(hundredths)
    }

    /// Parses `12345.67` into hundredths.
    static func hundredths(_ word: ArraySlice<UInt8>) -> UInt64? {
        let parts = word.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard let whole = parts.first.flatMap(ByteParser.unsigned) else { return nil }
        var frac: UInt64 = 0
        if parts.count > 1 {
            let digits = parts[1].prefix(2)
            frac = ByteParser.unsigned(digits) ?? 0
            if digits.count == 1 { frac *= 10 }
        }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: 100)
        return overflow ? nil : scaled &+ frac
    }
}

/// Renders `/sys/devices/system/cpu/online` (and `possible`, `present`):
/// `0-(N-1)\n`, or `0\n` for one CPU.
package enum CPUOnlineRenderer {
    /// - Parameter count: how many CPUs the reader sees (at least 1 is shown).
    package static func render(count: Int) -> [UInt8] {
        let n = max(count, 1)
        return Array((n == 1 ? "0\n" : "0-\(n - 1)\n").utf8)
    }
}
