import Logging
import Synchronization

/// Renders each virtual file as a given process would see it. This is the
/// one entry point of the core: the filesystem calls it on every open, the
/// `render` command once.
///
/// A render is two steps (see `VirtualFileGenerator`): the file's type
/// reads what it needs for the reader into a typed snapshot (through the
/// injected `KernelFileReader` and the cgroup backends), then renders the
/// snapshot with a pure function. `VirtualFile.generator` is the table.
///
/// Safe to call from many threads at once: its only mutable state (the
/// cached cgroup layout, the pid-namespace cache, the CPU time tracker, the
/// absent v1 file names) sits behind mutexes.
public final class ContainerView: Sendable {
    /// Where host files are read.
    package let root: HostRoot
    /// How kernel files are read: descriptors cached per worker thread on
    /// the real host, direct reads under a fixture root.
    package let files: any KernelFileReader
    /// The view switches.
    package let options: ViewOptions
    let logger: Logger
    let namespaces: PidNamespaceResolver
    /// The /proc/stat lines last shown per cgroup, so that later reads only add to them.
    package let cpuTimes: CPUTimeTracker
    /// v1 blkio file names found absent, for diskstats.
    package let absentNames: AbsentCgroupFileNames
    private let layoutCache: Mutex<(layout: CgroupLayout, readAt: UInt64)>
    /// Per-cgroup load averages; present only with `enableLoadavg`.
    package let loadavgSampler: LoadavgSampler?
    /// Renderings reused within a tick (`rendering(_:for:reuse:)`); `nil` when off.
    let renderCache: RenderCache<CoarseMonotonicClock>?
    /// The clocks of cached values' ages and of the CPU time tracker.
    let clocks: ViewClocks
    /// The fallbacks already logged (`fallback(_:_:_:membership:)`).
    let loggedFallbacks = LoggedFallbacks()

    /// How long a discovered cgroup layout is used before mountinfo is read
    /// again, in nanoseconds.
    static let layoutLifetime: UInt64 = 5_000_000_000

    /// - Parameters:
    ///   - root: where host files are read (`/` on a real host).
    ///   - files: how they are read; by default a `CachedDescriptorReader`
    ///     on the real host and a `DirectFileReader` under a fixture root
    ///     (whose files a test may replace between reads).
    ///   - options: the view switches.
    ///   - logger: receives a debug line for each value that falls back to the host's.
    ///   - renderCacheTick: how long, in nanoseconds, a rendering is reused
    ///     for the same container and file (`--render-cache-ms`); 0: never.
    ///   - clocks: by default the host's clocks on the real host, and under a
    ///     fixture root that root's `/proc/uptime` for the CPU time tracker.
    package init(root: HostRoot = HostRoot(), files: (any KernelFileReader)? = nil, options: ViewOptions = ViewOptions(),
                logger: Logger = Logger(label: "swift-lxcfs"), renderCacheTick: UInt64 = 0, clocks: ViewClocks? = nil) {
        self.renderCache = renderCacheTick > 0 ? RenderCache(tick: renderCacheTick, clock: CoarseMonotonicClock()) : nil
        let files = files ?? (root.isHost ? CachedDescriptorReader(root: root) : DirectFileReader(root: root))
        let clocks = clocks ?? (files.root.isHost ? .host : .fixture(files))
        self.clocks = clocks
        self.root = files.root
        self.files = files
        self.options = options
        self.logger = logger
        self.namespaces = PidNamespaceResolver(root: files.root)
        self.cpuTimes = CPUTimeTracker(root: files.root)
        self.absentNames = AbsentCgroupFileNames()
        self.loadavgSampler = options.enableLoadavg ? LoadavgSampler(clock: clocks.monotonic) : nil
        self.layoutCache = Mutex((CgroupLayout.discover(files), clocks.monotonic()))
    }

    /// The cgroup hierarchies, re-read from mountinfo every few seconds so
    /// that hierarchies mounted after start are found.
    package var layout: CgroupLayout {
        let now = clocks.monotonic()
        if let fresh = layoutCache.withLock({ now &- $0.readAt < Self.layoutLifetime ? $0.layout : nil }) {
            return fresh
        }
        let layout = CgroupLayout.discover(files)
        layoutCache.withLock { $0 = (layout, now) }
        return layout
    }

    /// A reader of cgroup values over the current layout.
    package func cgroupReader() -> CgroupReader {
        CgroupReader(files: files, layout: layout, absentNames: absentNames)
    }

    /// The cgroup membership every view of reader `pid` is computed from:
    /// its container's cgroup in each hierarchy (`ContainerCgroup`: the
    /// init's cgroup of its pid namespace where the reader's own cgroup is at
    /// or below it, else its own).
    /// - Parameter pid: the reader's host pid.
    /// - Returns: `nil` when the process has exited (its `/proc/PID/cgroup` is gone).
    package func membership(of pid: Int32) -> CgroupMembership? {
        membership(ofReader: HostPID(pid))
    }

    func membership(ofReader pid: HostPID) -> CgroupMembership? {
        guard let bytes = files.readProcessCgroup(pid) else { return nil }
        return containerCgroup(ofReader: pid, own: CgroupMembership(parsing: bytes[...])).membership
    }

    /// Renders `file` for the process `pid`.
    /// - Parameters:
    ///   - file: the virtual file.
    ///   - pid: the reader's host pid (from the FUSE request).
    /// - Returns: the file's bytes. Never fails: whatever cannot be read
    ///   falls back to the host's values; a missing host file renders empty.
    package func render(_ file: VirtualFile, for pid: Int32) -> [UInt8] {
        renderIfPresent(file, for: pid) ?? []
    }

    /// Renders `file` for `pid`, or says it does not exist for this reader.
    /// - Returns: `nil` where neither the cgroup nor the host has the file
    ///   (a `/proc/pressure` file on a host without PSI): the mount answers ENOENT.
    package func renderIfPresent(_ file: VirtualFile, for pid: Int32) -> [UInt8]? {
        var request = RenderRequest(view: self, pid: HostPID(pid))
        return file.generator.generate(&request)
    }

    /// One rendering and the container it was made for.
    package struct Rendering: Sendable {
        /// The file's bytes; `nil` where it does not exist for this reader (`renderIfPresent`).
        package var bytes: [UInt8]?
        /// The reader's container cgroups (`membership(of:)`) where the
        /// rendering looked them up; `nil` where it did not or the reader has exited.
        package var container: CgroupMembership?
        /// True when a host file the rendering starts from (`/proc/meminfo`,
        /// `/proc/stat`...) could not be read (the daemon out of descriptors
        /// or memory): `bytes` are not the file, and the mount answers EIO
        /// instead of an empty file.
        package var failed: Bool

        package init(bytes: [UInt8]?, container: CgroupMembership?, failed: Bool = false) {
            self.bytes = bytes
            self.container = container
            self.failed = failed
        }
    }

    /// Renders `file` for `pid` and says which container it was rendered
    /// for: what the filesystem keys snapshot budgets and fair queueing by.
    /// - Parameter reuse: whether a rendering made for the same container
    ///   and file (and pid namespace, for uptime) less than a tick ago may
    ///   be served (`renderCacheTick`); when not, the fresh rendering
    ///   replaces it. A reader that re-reads its handle from offset 0 (top)
    ///   gets a fresh one.
    /// - Parameter length: on a handle's first read, the length its open's
    ///   rendering had: a cached rendering of that length is served however
    ///   old (it is the open's, or as old), so that the length the handle
    ///   carries for a successor is that of the bytes the reader got.
    package func rendering(_ file: VirtualFile, for pid: Int32, reuse: Bool = true, length: Int? = nil) -> Rendering {
        var request = RenderRequest(view: self, pid: HostPID(pid))
        guard let cache = renderCache, file.generator.isWorthCaching(by: self) else {
            // Uncached: the container is left to the caller (`membership(of:)`
            // where it needs it), not looked up for a file that does not use it.
            let bytes = file.generator.generate(&request)
            return Rendering(bytes: bytes, container: nil, failed: request.hostUnreadable)
        }
        let reader = cache.reader(pid, needNamespace: file.dependsOnPidNamespace,
                                  membership: { membership(ofReader: HostPID(pid)) },
                                  namespace: { namespaces.namespace(of: HostPID(pid)) })
        guard let m = reader.container else {
            let bytes = file.generator.generate(&request)
            return Rendering(bytes: bytes, container: nil, failed: request.hostUnreadable)
        }
        request.membership = m
        let key = RenderKey(file: file, container: m, namespace: reader.namespace)
        // A failed rendering is not kept for the other readers of the tick.
        let bytes = cache.rendering(key, reuse: reuse, length: length, render: { file.generator.generate(&request) },
                                    keep: { !request.hostUnreadable })
        return Rendering(bytes: bytes, container: m, failed: request.hostUnreadable)
    }

    /// The container cgroups of reader `pid` (`membership(of:)`), as the
    /// render cache last saw them within its tick: what requests are
    /// classified by for each container's share of the daemon.
    package func container(of pid: Int32) -> CgroupMembership? {
        guard let cache = renderCache else { return membership(of: pid) }
        return cache.reader(pid, needNamespace: false, membership: { membership(ofReader: HostPID(pid)) },
                            namespace: { nil }).container
    }

    /// True when the mount should list `file`: the pressure files only where
    /// the host has `/proc/pressure` (PSI enabled); every other file always.
    package func serves(_ file: VirtualFile) -> Bool {
        file.generator.isServed(by: self)
    }

    /// The host CPU numbers a process sees, ascending: its cpuset (within the
    /// host's online CPUs), cut to the CFS quota rounded up when
    /// `enableCFS` is set. Every CPU view (cpuinfo, stat, online) uses this list.
    package func visibleCPUs(for pid: Int32) -> [Int] {
        var request = RenderRequest(view: self, pid: HostPID(pid))
        return request.cpuView.cpus
    }

    /// Starts the loadavg sampling thread (with `enableLoadavg` only); the
    /// daemon calls this once after mounting.
    package func startLoadavgSampler() {
        guard let sampler = loadavgSampler else { return }
        sampler.start { [self] in cgroupReader() }
    }

    /// Logs, at debug level, that `file` shows host values for reader
    /// `pid`, and why: once per file, reason and cgroup membership (the
    /// reader's `/proc/PID/cgroup` text), not once per read, since a cgroup
    /// that cannot be read stays so for every read of every process in it.
    func fallback(_ file: VirtualFile, _ pid: HostPID, _ why: String, membership: CgroupMembership?) {
        guard logger.logLevel <= .debug else { return }
        let cgroups = membership.map { String(decoding: $0.bytes, as: UTF8.self) } ?? ""
        guard loggedFallbacks.firstTime(file.rawValue + "\0" + why + "\0" + cgroups) else { return }
        logger.debug("\(file.rawValue): \(why), host values (logged once for these cgroups)",
                     metadata: ["pid": "\(pid)", "cgroups": "\(cgroups.split(separator: "\n").joined(separator: " "))"])
    }

    /// The host's online CPUs (`/sys/devices/system/cpu/online`).
    func hostOnlineCPUs() -> CPUList? {
        files.read("/sys/devices/system/cpu/online", sizeHint: 64).flatMap { CPUList(parsing: $0[...]) }
    }

    /// The visible CPUs and the CPUs of real capacity behind them: the CFS
    /// quota in CPUs when `enableCFS` is set and a quota applies (never more
    /// than the visible count), otherwise the visible count.
    func cpuView(membership m: CgroupMembership?, reader: CgroupReader) -> CPUView {
        let online = hostOnlineCPUs()
        guard let m else {
            let cpus = online?.cpus ?? [0]
            return CPUView(cpus: cpus, capacity: Double(cpus.count))
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
        return CPUView(cpus: cpus, capacity: capacity)
    }

    /// The "now" of the CPU time tracker, in nanoseconds (`clocks.boot`):
    /// CLOCK_BOOTTIME on the real host (the clock of /proc/uptime); under a
    /// fixture root, that root's `/proc/uptime` (its "now").
    func trackerNow() -> UInt64 { clocks.boot() }
}

/// The CPUs a reader sees.
struct CPUView {
    /// The host CPU numbers shown, ascending.
    var cpus: [Int]
    /// How many CPUs of real capacity stand behind them (the CFS quota, or the count).
    var capacity: Double
}

/// One render: the view, the reader, and what has been read for the reader
/// so far (read once per render, on first use).
struct RenderRequest {
    let view: ContainerView
    /// The reader's host pid.
    let pid: HostPID

    init(view: ContainerView, pid: HostPID) {
        self.view = view
        self.pid = pid
    }

    /// How host files are read.
    var files: any KernelFileReader { view.files }
    /// The view switches.
    var options: ViewOptions { view.options }

    /// The reader's cgroups; `nil` when it has exited.
    lazy var membership: CgroupMembership? = view.membership(ofReader: pid)
    /// Cgroup values over the current layout.
    lazy var reader: CgroupReader = view.cgroupReader()
    /// The CPUs the reader sees.
    lazy var cpuView: CPUView = view.cpuView(membership: membership, reader: reader)

    /// True once a host file the rendering starts from could not be read
    /// (EMFILE, ENOMEM...): the rendering is then no file at all.
    var hostUnreadable = false

    /// The host's own file (empty, and `hostUnreadable` set, when it cannot be read).
    mutating func host(_ file: VirtualFile, sizeHint: Int) -> [UInt8] {
        guard let bytes = files.read(file.hostPath, sizeHint: sizeHint) else {
            hostUnreadable = true
            return []
        }
        return bytes
    }

    /// Logs that `file` shows host values for this reader, and why (once
    /// per file, reason and cgroups).
    mutating func fallback(_ file: VirtualFile, _ why: String) {
        view.fallback(file, pid, why, membership: membership)
    }
}

/// The fallback lines already logged, by a hash of file, reason and
/// cgroups; forgotten all at once past 4,096 (so a long-running daemon logs
/// a lasting fallback again now and then, and the set stays small).
final class LoggedFallbacks: Sendable {
    private let seen = Mutex(Set<UInt64>())

    /// True the first time `key` is seen (since the set was last emptied).
    func firstTime(_ key: String) -> Bool {
        let hash = FNV1a.hash(key.utf8)
        return seen.withLock { seen in
            if seen.count >= 4096 { seen.removeAll() }
            return seen.insert(hash).inserted
        }
    }
}
