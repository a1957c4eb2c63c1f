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
        var total: UInt64 { fields[0..<8].reduce(0, CPUTimeTracker.sum) }
    }

    /// Renders the file as a first, stateless read shows it (the fixture rules).
    /// - Parameters:
    ///   - host: the host's `/proc/stat`.
    ///   - visible: the host CPU numbers to show, ascending.
    ///   - usage: the cgroup's CPU time; `nil` shows the host's lines of the visible CPUs.
    /// - Returns: the file's bytes.
    public static func render(host: ArraySlice<UInt8>, visible: [Int], usage: CPUUsage?) -> [UInt8] {
        render(host: host, visible: visible, usage: usage, continuing: nil)
    }

    /// Where a read continues from earlier reads of the same cgroup.
    public struct Continuation: Sendable {
        /// Keeps the lines last shown per cgroup.
        public var tracker: CPUTimeTracker
        /// The view's key (the reader's cpuacct, cpuset and cpu cgroup paths).
        public var key: String
        /// The cgroup directory whose removal lets the tracker forget the view.
        public var directory: String
        /// CPUs of real capacity behind the visible rows (see `CPUTimeSample.capacity`).
        public var capacity: Double
        /// A monotonic clock in nanoseconds.
        public var now: UInt64

        public init(tracker: CPUTimeTracker, key: String, directory: String, capacity: Double, now: UInt64) {
            self.tracker = tracker
            self.key = key
            self.directory = directory
            self.capacity = capacity
            self.now = now
        }
    }

    /// Renders the file, continuing from earlier reads when `continuing` is
    /// given: then no field goes down between reads and busy plus idle grow
    /// by 100 ticks a second on each visible CPU (see `CPUTimeTracker`).
    /// - Parameters:
    ///   - host: the host's `/proc/stat`.
    ///   - visible: the host CPU numbers to show, ascending.
    ///   - usage: the cgroup's CPU time; `nil` shows the host's lines of the visible CPUs.
    ///   - continuing: the tracker and this read's clock; `nil` for a one-shot read.
    /// - Returns: the file's bytes.
    public static func render(host: ArraySlice<UInt8>, visible: [Int], usage: CPUUsage?,
                              continuing: Continuation?) -> [UInt8] {
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
        if let c = continuing, let usage, !shown.isEmpty {
            let first = rows.map { CPUTimeRow(user: $0.fields[0], system: $0.fields[2], idle: $0.fields[3]) }
            let sample = CPUTimeSample(visible: shown, usage: usage, firstRead: first, capacity: c.capacity, now: c.now)
            rows = c.tracker.rows(key: c.key, directory: c.directory, sample: sample).map {
                var t = Times()
                t.fields[0] = $0.user
                t.fields[2] = $0.system
                t.fields[3] = $0.idle
                return t
            }
        }
        var sum = Times()
        for r in rows { for k in 0..<10 { sum.fields[k] = CPUTimeTracker.sum(sum.fields[k], r.fields[k]) } }

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
