/// Renders `/proc/stat`: one `cpuN` line per visible CPU, numbered from 0,
/// with user and system time from the cgroup, and a first `cpu` line that
/// is the sum of the `cpuN` lines shown. All other lines are the host's.
/// Times are in clock ticks (USER_HZ, 100 per second).
public enum StatRenderer {
    /// Clock ticks per second in /proc/stat (USER_HZ).
    public static let ticksPerSecond: UInt64 = 100

    /// The ten time fields of a `cpu` line, in clock ticks.
    struct Times {
        var fields: [UInt64] = Array(repeating: 0, count: 10)
        /// user + nice + system + idle + iowait + irq + softirq + steal
        /// (guest time is already counted in user and nice).
        var total: UInt64 { fields[0..<8].reduce(0, +) }
    }

    /// - Parameters:
    ///   - host: the host's `/proc/stat`.
    ///   - visible: the host CPU numbers to show, ascending.
    ///   - usage: the cgroup's CPU time; `nil` shows the host's lines of the visible CPUs.
    /// - Returns: the file's bytes.
    public static func render(host: ArraySlice<UInt8>, visible: [Int], usage: CPUUsage?) -> [UInt8] {
        let lines = ByteParser.lines(host)
        var hostCPU: [Int: Times] = [:]
        for line in lines where ByteParser.hasPrefix(line, "cpu") {
            let w = ByteParser.words(line)
            guard let name = w.first, name.count > 3, let n = ByteParser.integer(name.dropFirst(3)) else { continue }
            var t = Times()
            for (k, f) in w.dropFirst().prefix(10).enumerated() { t.fields[k] = ByteParser.unsigned(f) ?? 0 }
            hostCPU[Int(n)] = t
        }
        let shown = visible.filter { hostCPU[$0] != nil }
        var rows: [Times] = []
        rows.reserveCapacity(shown.count)
        switch usage {
        case .perCPU(let perCPU)?:
            for cpu in shown {
                let u = perCPU[cpu] ?? (0, 0)
                rows.append(cgroupRow(user: u.user / 10_000_000, system: u.system / 10_000_000, host: hostCPU[cpu]!))
            }
        case .total(let userUsec, let systemUsec)?:
            let n = UInt64(max(shown.count, 1))
            let user = userUsec / 10_000, system = systemUsec / 10_000
            for (k, cpu) in shown.enumerated() {
                let u = user / n + (UInt64(k) < user % n ? 1 : 0)
                let s = system / n + (UInt64(k) < system % n ? 1 : 0)
                rows.append(cgroupRow(user: u, system: s, host: hostCPU[cpu]!))
            }
        case nil:
            rows = shown.map { hostCPU[$0]! }
        }
        var sum = Times()
        for r in rows { for k in 0..<10 { sum.fields[k] += r.fields[k] } }

        var out = TextBuffer(capacity: host.count)
        var wroteCPU = false
        for line in lines {
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
