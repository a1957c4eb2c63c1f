import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Renders each virtual file as a given process would see it. This is the
/// one entry point of the core: the filesystem calls it on every open, the
/// `render` command once.
///
/// Safe to call from many threads at once: its only mutable state (the
/// cached cgroup layout and the pid-namespace cache) sits behind mutexes.
public final class ContainerView: Sendable {
    /// Where host files are read.
    public let root: HostRoot
    /// The view switches.
    public let options: ViewOptions
    let logger: Logger
    let namespaces: PidNamespaceResolver
    /// The /proc/stat lines last shown per cgroup, so that later reads only add to them.
    public let cpuTimes: CPUTimeTracker
    private let layoutCache: Mutex<(layout: CgroupLayout, readAt: UInt64)>
    /// Per-cgroup load averages; present only with `enableLoadavg`.
    public let loadavgSampler: LoadavgSampler?

    /// How long a discovered cgroup layout is used before mountinfo is read
    /// again, in nanoseconds.
    static let layoutLifetime: UInt64 = 5_000_000_000

    /// - Parameters:
    ///   - root: where host files are read (`/` on a real host).
    ///   - options: the view switches.
    ///   - logger: receives a debug line for each value that falls back to the host's.
    public init(root: HostRoot = HostRoot(), options: ViewOptions = ViewOptions(), logger: Logger = Logger(label: "swift-lxcfs")) {
        self.root = root
        self.options = options
        self.logger = logger
        self.namespaces = PidNamespaceResolver(root: root)
        self.cpuTimes = CPUTimeTracker(root: root)
        self.loadavgSampler = options.enableLoadavg ? LoadavgSampler(root: root) : nil
        self.layoutCache = Mutex((CgroupLayout.discover(root: root), Self.monotonicNanoseconds()))
    }

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The cgroup hierarchies, re-read from mountinfo every few seconds so
    /// that hierarchies mounted after start are found.
    public var layout: CgroupLayout {
        let now = Self.monotonicNanoseconds()
        if let fresh = layoutCache.withLock({ now &- $0.readAt < Self.layoutLifetime ? $0.layout : nil }) {
            return fresh
        }
        let layout = CgroupLayout.discover(root: root)
        layoutCache.withLock { $0 = (layout, now) }
        return layout
    }

    /// The cgroup membership every view of reader `pid` is computed from:
    /// its container's cgroup in each hierarchy (`ContainerCgroup`: the
    /// init's cgroup of its pid namespace where the reader's own cgroup is at
    /// or below it, else its own).
    /// - Returns: `nil` when the process has exited (its `/proc/PID/cgroup` is gone).
    public func membership(of pid: Int32) -> CgroupMembership? {
        guard let bytes = root.readProcessCgroup(pid) else { return nil }
        return containerCgroup(of: pid, own: CgroupMembership(parsing: bytes[...])).membership
    }

    /// Renders `file` for the process `pid`.
    /// - Parameters:
    ///   - file: the virtual file.
    ///   - pid: the reader's host pid (from the FUSE request).
    /// - Returns: the file's bytes. Never fails: whatever cannot be read
    ///   falls back to the host's values; a missing host file renders empty.
    public func render(_ file: VirtualFile, for pid: Int32) -> [UInt8] {
        switch file {
        case .meminfo:
            let host = root.read(file.hostPath, sizeHint: 4096) ?? []
            guard let m = membership(of: pid) else { return fallback(file, pid, "process has no cgroup", host) }
            // Without host swap (or with -u) SwapTotal is 0 whatever the
            // cgroup allows: its swap files are not read.
            let swap = !options.disableSwap && SwapFigures.hostSwapTotalKB(meminfo: host[...]) > 0
            guard let memory = CgroupReader(root: root, layout: layout).memory(m, swap: swap) else {
                return fallback(file, pid, "memory cgroup unreadable", host)
            }
            return MeminfoRenderer.render(host: host[...], memory: memory, options: options)
        case .cpuinfo:
            let host = root.read(file.hostPath, sizeHint: 65536) ?? []
            return CpuinfoRenderer.render(host: host[...], visible: visibleCPUs(for: pid))
        case .stat:
            let host = root.read(file.hostPath, sizeHint: 8192) ?? []
            let reader = CgroupReader(root: root, layout: layout)
            let m = membership(of: pid)
            let cpuView = cpuView(for: pid, membership: m, reader: reader)
            let usage = m.flatMap { reader.cpuUsage($0) }
            if usage == nil { logger.debug("stat: no cgroup CPU usage, host lines", metadata: ["pid": "\(pid)"]) }
            let continuation = m.map { m in
                StatRenderer.Continuation(tracker: cpuTimes, key: cpuTimeKey(m, reader), directory: cpuacctDirectory(m, reader),
                                          capacity: cpuView.capacity, now: clockNanoseconds(host: nil))
            }
            return StatRenderer.render(host: host[...], visible: cpuView.cpus, usage: usage, continuing: continuation)
        case .uptime:
            let host = root.read(file.hostPath, sizeHint: 64) ?? []
            let initProcess = namespaces.initProcess(of: pid)
            guard let initProcess else { return UptimeRenderer.render(host: host[...], initStartTicks: nil) }
            return UptimeRenderer.render(host: host[...], initStartTicks: initProcess.startTime, cpuTime: cpuTime(for: pid))
        case .cpuOnline:
            return CPUOnlineRenderer.render(count: visibleCPUs(for: pid).count)
        case .loadavg, .swaps, .diskstats, .slabinfo, .cpuPressure, .ioPressure, .memoryPressure,
             .cpuPossible, .cpuPresent, .cpuOffline:
            return renderMore(file, for: pid)
        }
    }

    func fallback(_ file: VirtualFile, _ pid: Int32, _ why: String, _ host: [UInt8]) -> [UInt8] {
        logger.debug("\(file.rawValue): \(why), host values", metadata: ["pid": "\(pid)"])
        return host
    }

    /// The host's online CPUs (`/sys/devices/system/cpu/online`).
    func hostOnlineCPUs() -> CPUList? {
        root.read("/sys/devices/system/cpu/online", sizeHint: 64).flatMap { CPUList(parsing: $0[...]) }
    }

    /// The host CPU numbers a process sees, ascending: its cpuset (within the
    /// host's online CPUs), cut to the CFS quota rounded up when
    /// `enableCFS` is set. Every CPU view (cpuinfo, stat, online) uses this list.
    public func visibleCPUs(for pid: Int32) -> [Int] {
        visibleCPUs(for: pid, membership: membership(of: pid), reader: CgroupReader(root: root, layout: layout))
    }

    func visibleCPUs(for pid: Int32, membership m: CgroupMembership?, reader: CgroupReader) -> [Int] {
        cpuView(for: pid, membership: m, reader: reader).cpus
    }

    /// The visible CPUs and the CPUs of real capacity behind them: the CFS
    /// quota in CPUs when `enableCFS` is set and a quota applies (never more
    /// than the visible count), otherwise the visible count.
    func cpuView(for pid: Int32, membership m: CgroupMembership?, reader: CgroupReader) -> (cpus: [Int], capacity: Double) {
        let online = hostOnlineCPUs()
        guard let m else {
            let cpus = online?.cpus ?? [0]
            return (cpus, Double(cpus.count))
        }
        var cpus = reader.cpuset(m)?.cpus ?? online?.cpus ?? [0]
        if let online {
            // Both lists are ascending: intersect them in one merge pass.
            var inside: [Int] = []
            inside.reserveCapacity(cpus.count)
            var j = 0
            for cpu in cpus {
                while j < online.cpus.count, online.cpus[j] < cpu { j += 1 }
                if j < online.cpus.count, online.cpus[j] == cpu { inside.append(cpu) }
            }
            if !inside.isEmpty { cpus = inside }
        }
        var capacity = Double(cpus.count)
        if options.enableCFS, let quota = reader.cfsQuota(m) {
            let n = max(1, Int(quota.rounded(.up)))
            if n < cpus.count { cpus = Array(cpus.prefix(n)) }
            capacity = min(quota, Double(cpus.count))
        }
        return (cpus, capacity)
    }

    /// The directory of a process's cpuacct cgroup (v2: its unified cgroup), or "" when unknown.
    func cpuacctDirectory(_ m: CgroupMembership, _ reader: CgroupReader) -> String {
        guard let h = reader.layout.hierarchy(for: "cpuacct"), let path = m.path(in: h) else { return "" }
        return h.directory(of: path)
    }

    /// The key of a /proc/stat view: the cpuacct, cpuset and cpu cgroup
    /// paths, which together decide the visible CPUs and their times.
    func cpuTimeKey(_ m: CgroupMembership, _ reader: CgroupReader) -> String {
        var key = ""
        for controller in ["cpuacct", "cpuset", "cpu"] {
            if let h = reader.layout.hierarchy(for: controller), let path = m.path(in: h) { key += h.directory(of: path) }
            key += "\n"
        }
        return key
    }

    /// A monotonic clock in nanoseconds: CLOCK_BOOTTIME on the real host
    /// (the clock of /proc/uptime); under a fixture root, that root's
    /// `/proc/uptime` (its "now").
    func clockNanoseconds(host uptime: [UInt8]?) -> UInt64 {
        if root.isHost {
            var ts = timespec()
            clock_gettime(CLOCK_BOOTTIME, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
        let bytes = uptime ?? root.read("/proc/uptime", sizeHint: 64) ?? []
        return (UptimeRenderer.hostUptimeHundredths(bytes[...]) ?? 0) * 10_000_000
    }

    /// The reader cgroup's CPU time for /proc/uptime's idle field: its
    /// visible CPU count and its busy time over the cgroup's life, scaled as
    /// the /proc/stat view scales it, in hundredths of a second.
    func cpuTime(for pid: Int32) -> UptimeRenderer.CPUTime? {
        guard let m = membership(of: pid) else { return nil }
        let reader = CgroupReader(root: root, layout: layout)
        guard let usage = reader.cpuUsage(m) else { return nil }
        let view = cpuView(for: pid, membership: m, reader: reader)
        var busyNanoseconds: UInt64 = 0
        switch usage {
        case .perCPU(let rows):
            for (_, v) in rows { busyNanoseconds = CPUTimeTracker.sum(busyNanoseconds, CPUTimeTracker.sum(v.user, v.system)) }
        case .total(let u, let s):
            busyNanoseconds = CPUTimeTracker.product(CPUTimeTracker.sum(u, s), 1000)
        }
        let factor = view.capacity > 0 ? max(1, Double(view.cpus.count) / view.capacity) : 1
        return UptimeRenderer.CPUTime(cpus: view.cpus.count,
                                      busyHundredths: CPUTimeTracker.scaled(busyNanoseconds, factor) / 10_000_000)
    }
}
