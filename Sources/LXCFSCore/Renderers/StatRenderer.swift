/// Renders `/proc/stat`: one `cpuN` line per visible CPU, numbered from 0,
/// with user and system time from the cgroup, and a first `cpu` line that
/// is the sum of the `cpuN` lines shown. All other lines are the host's.
/// Times are in clock ticks (USER_HZ, 100 per second).
package enum StatRenderer {
    /// The ten time fields of a `cpu` line, in clock ticks.
    struct Times: Sendable {
        var fields: [UInt64] = Array(repeating: 0, count: 10)
        /// user + nice + system + idle + iowait + irq + softirq + steal
        /// (guest time is already counted in user and nice).
        var total: UInt64 { fields[0..<8].reduce(0, CPUTime.sum) }
    }

    /// The host's `/proc/stat`, split into lines once, with its `cpuN` times.
    package struct HostStat: Sendable {
        let lines: [ArraySlice<UInt8>]
        /// Each host CPU's ten time fields, by CPU number.
        let cpus: [Int: Times]

        package init(parsing host: ArraySlice<UInt8>) {
            lines = ByteParser.lines(host)
            var cpus: [Int: Times] = [:]
            for line in lines where ByteParser.hasPrefix(line, "cpu") {
                let w = ByteParser.words(line)
                guard let name = w.first, name.count > 3, let n = ByteParser.integer(name.dropFirst(3)) else { continue }
                var t = Times()
                for (k, f) in w.dropFirst().prefix(10).enumerated() { t.fields[k] = ByteParser.unsigned(f) ?? 0 }
                cpus[Int(n)] = t
            }
            self.cpus = cpus
        }
    }

    /// The rows a first, stateless read shows (the fixture rules), one per
    /// visible CPU the host file has: the cgroup's user and system time
    /// (v1 per CPU; v2 shared over the visible CPUs, the remainder one tick
    /// each to the lowest), idle the rest of that host CPU's time; with no
    /// cgroup usage, the host's own lines.
    /// - Returns: the host CPU numbers shown and their rows.
    static func firstReadRows(_ host: HostStat, visible: [Int], usage: CPUUsage?) -> (shown: [Int], rows: [Times]) {
        let shown = visible.filter { host.cpus[$0] != nil }
        var rows: [Times] = []
        rows.reserveCapacity(shown.count)
        let perTick = CPUTime.nanosecondsPerTick
        switch usage {
        case .perCPU(let perCPU)?:
            for cpu in shown {
                let u = perCPU[cpu] ?? (0, 0)
                rows.append(cgroupRow(user: u.user / perTick, system: u.system / perTick, host: host.cpus[cpu]!))
            }
        case .total(let userNanoseconds, let systemNanoseconds)?:
            let user = userNanoseconds / perTick, system = systemNanoseconds / perTick
            for (k, cpu) in shown.enumerated() {
                rows.append(cgroupRow(user: CPUTime.share(user, among: shown.count, row: k),
                                      system: CPUTime.share(system, among: shown.count, row: k), host: host.cpus[cpu]!))
            }
        case nil:
            rows = shown.map { host.cpus[$0]! }
        }
        return (shown, rows)
    }

    /// The file for `rows` (one per visible CPU, numbered from 0): a first
    /// `cpu` line that is their sum, then the rows, in place of the host's
    /// CPU lines; every other line the host's. A pure function of its inputs.
    static func render(_ host: HostStat, rows: [Times]) -> [UInt8] {
        var sum = Times()
        for r in rows { for k in 0..<10 { sum.fields[k] = CPUTime.sum(sum.fields[k], r.fields[k]) } }
        var out = TextBuffer(capacity: 256 + 64 * rows.count + host.lines.reduce(0) { $0 + $1.count + 1 })
        var wroteCPU = false
        for line in host.lines {
            if ByteParser.hasPrefix(line, "cpu") {
                guard !wroteCPU else { continue }
                wroteCPU = true
                out.append("cpu ")
                appendFields(sum, to: &out)
                for (k, r) in rows.enumerated() {
                    out.append("cpu")
                    out.append(UInt64(k))
                    appendFields(r, to: &out)
                }
                continue
            }
            out.append(line)
            out.append(byte: ByteParser.newline)
        }
        return out.bytes
    }

    /// Renders the file as a first, stateless read shows it (the fixture rules).
    /// - Parameters:
    ///   - host: the host's `/proc/stat`.
    ///   - visible: the host CPU numbers to show, ascending.
    ///   - usage: the cgroup's CPU time; `nil` shows the host's lines of the visible CPUs.
    /// - Returns: the file's bytes.
    package static func render(host: ArraySlice<UInt8>, visible: [Int], usage: CPUUsage?) -> [UInt8] {
        let parsed = HostStat(parsing: host)
        return render(parsed, rows: firstReadRows(parsed, visible: visible, usage: usage).rows)
    }

    /// The rows as `CPUTimeTracker` takes and gives them (user, system, idle).
    static func trackerRows(_ rows: [Times]) -> [CPUTimeRow] {
        rows.map { CPUTimeRow(user: $0.fields[0], system: $0.fields[2], idle: $0.fields[3]) }
    }

    /// Rows from the tracker's, the other fields 0.
    static func rows(_ tracked: [CPUTimeRow]) -> [Times] {
        tracked.map {
            var t = Times()
            t.fields[0] = $0.user
            t.fields[2] = $0.system
            t.fields[3] = $0.idle
            return t
        }
    }

    /// A row for a visible CPU: the cgroup's user and system ticks, idle as
    /// the rest of that host CPU's time (never below 0), the other fields 0.
    static func cgroupRow(user: UInt64, system: UInt64, host: Times) -> Times {
        var t = Times()
        t.fields[0] = user
        t.fields[2] = system
        let busy = user + system
        t.fields[3] = host.total > busy ? host.total - busy : 0
        return t
    }

    static func appendFields(_ t: Times, to out: inout TextBuffer) {
        for f in t.fields {
            out.append(byte: ByteParser.space)
            out.append(f)
        }
        out.append(byte: ByteParser.newline)
    }
}
