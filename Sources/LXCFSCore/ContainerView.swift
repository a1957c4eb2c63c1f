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

    /// A process's cgroup membership.
    /// - Returns: `nil` when the process has exited (its `/proc/PID/cgroup` is gone).
    public func membership(of pid: Int32) -> CgroupMembership? {
        guard let bytes = root.read("/proc/\(pid)/cgroup", sizeHint: 1024) else { return nil }
        return CgroupMembership(parsing: bytes[...])
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
            guard let memory = CgroupReader(root: root, layout: layout).memory(m) else {
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
            let visible = visibleCPUs(for: pid, membership: m, reader: reader)
            let usage = m.flatMap { reader.cpuUsage($0) }
            if usage == nil { logger.debug("stat: no cgroup CPU usage, host lines", metadata: ["pid": "\(pid)"]) }
            return StatRenderer.render(host: host[...], visible: visible, usage: usage)
        case .uptime:
            let host = root.read(file.hostPath, sizeHint: 64) ?? []
            let initProcess = namespaces.initProcess(of: pid)
            return UptimeRenderer.render(host: host[...], initStartTicks: initProcess?.startTime)
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
        let online = hostOnlineCPUs()
        guard let m else { return online?.cpus ?? [0] }
        var cpus = reader.cpuset(m)?.cpus ?? online?.cpus ?? [0]
        if let online {
            let onlineSet = Set(online.cpus)
            let inside = cpus.filter { onlineSet.contains($0) }
            if !inside.isEmpty { cpus = inside }
        }
        if options.enableCFS, let quota = reader.cfsQuota(m) {
            let n = max(1, Int(quota.rounded(.up)))
            if n < cpus.count { cpus = Array(cpus.prefix(n)) }
        }
        return cpus
    }
}
