import Synchronization

/// Facts about one process read from `/proc/PID/stat`.
public struct ProcessStat: Sendable, Equatable {
    /// The parent's pid (field 4), as seen from the host.
    public let parentPid: HostPID
    /// When the process started, after boot (field 22).
    public let startTime: ClockTicks

    /// Parses `/proc/PID/stat`; the command name (field 2) may hold spaces
    /// and parentheses, so fields are counted after its last `)`.
    public init?(parsing bytes: ArraySlice<UInt8>) {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Words after the name: the first is field 3 (state); field N is word N - 3.
        let rest = bytes[(close + 1)...]
        var i = rest.startIndex
        var ppid: Int64?
        var start: UInt64?
        for field in 3...22 {
            guard let word = ByteParser.nextWord(rest, from: &i) else { return nil }
            if field == 4 { ppid = ByteParser.integer(word) }
            if field == 22 { start = ByteParser.unsigned(word) }
        }
        guard let ppid, let start else { return nil }
        parentPid = HostPID(Int32(truncatingIfNeeded: ppid))
        startTime = ClockTicks(start)
    }
}

/// Finds the init of a reader's pid namespace: the host pid of pid 1 of that
/// namespace, and when it started.
///
/// The namespace is named by the target of `/proc/PID/ns/pid`
/// (`pid:[INODE]`). The init is the topmost ancestor, by parent pid, that is
/// still in the same namespace; where that one is not pid 1 there (its
/// `NSpid` does not end in 1: the reader entered from outside, as with
/// `docker exec`), the process that is pid 1 there is looked for in `/proc`.
/// Results are cached per namespace and
/// checked on each use (same start time), so a recycled pid never gives
/// another container's init.
public final class PidNamespaceResolver: Sendable {
    /// The namespace's init: its host pid and its start time in clock ticks.
    public struct Init: Sendable, Equatable {
        public let pid: HostPID
        public let startTime: ClockTicks
    }

    let root: HostRoot
    /// The init found per pid namespace name, checked on each use; at most
    /// 4,096 namespaces, the one found longest ago dropped first.
    private let cache = ExpiringStore<String, Init, CoarseMonotonicClock>(
        shards: 4, capacity: 4096, lifetime: .max, clock: CoarseMonotonicClock())
    /// The host's pid namespace, once known (it never changes while the daemon runs).
    private let hostNamespaceCache = Mutex<String?>(nil)

    public init(root: HostRoot) {
        self.root = root
    }

    /// The pid namespace name of a process, such as `pid:[4026531836]`.
    public func namespace(of pid: HostPID) -> String? {
        root.readLink("/proc/\(pid)/ns/pid")
    }

    /// The host's pid namespace: that of pid 1, or, where pid 1's is not
    /// readable (pid 1 in another user namespace, or a micro-VM's init that
    /// refuses it with EACCES), the daemon's own, which must be the host's
    /// for it to see readers' pids. Read once: it never changes while the
    /// daemon runs.
    func hostNamespace() -> String? {
        if let known = hostNamespaceCache.withLock({ $0 }) { return known }
        guard let ns = namespace(of: 1) ?? root.readLink("/proc/self/ns/pid") else { return nil }
        hostNamespaceCache.withLock { $0 = ns }
        return ns
    }

    func stat(of pid: HostPID) -> ProcessStat? {
        guard let bytes = root.read("/proc/\(pid)/stat", sizeHint: 512) else { return nil }
        return ProcessStat(parsing: bytes[...])
    }

    /// The init of the pid namespace `pid` lives in.
    /// - Returns: `nil` when the reader shares the host's pid namespace (that
    ///   of pid 1), or when its namespace or init cannot be read.
    public func initProcess(of pid: HostPID) -> Init? {
        guard let ns = namespace(of: pid) else { return nil }
        if let hostNS = hostNamespace(), hostNS == ns { return nil }
        // A cached init still holds when its pid has the same start time: a
        // process never leaves its pid namespace, so this alone tells a
        // recycled pid (no second link read on every render).
        if let cached = cache.value(ns), stat(of: cached.pid)?.startTime == cached.startTime {
            return cached
        }
        var current = pid
        guard var currentStat = stat(of: pid) else { return nil }
        var steps = 0
        while currentStat.parentPid > 0, steps < 4096 {
            let parent = currentStat.parentPid
            guard namespace(of: parent) == ns, let parentStat = stat(of: parent) else { break }
            current = parent
            currentStat = parentStat
            steps += 1
        }
        var found = Init(pid: current, startTime: currentStat.startTime)
        // A reader that entered the namespace from outside (`docker exec`,
        // `nsenter`) has a parent outside it: its topmost in-namespace
        // ancestor is not pid 1 there. Then pid 1 is looked for among all processes.
        if namespacePid(of: current) != 1, let scanned = scanForInit(of: ns) {
            found = scanned
        }
        cache.set(found, for: ns)
        return found
    }

    /// A process's pid in its innermost pid namespace (last `NSpid:` field
    /// of `/proc/PID/status`).
    /// - Returns: `nil` when the status or its `NSpid:` line cannot be read
    ///   (kernels before 4.1), in which case the walk's result stands.
    func namespacePid(of pid: HostPID) -> NamespacePID? {
        guard let bytes = root.read("/proc/\(pid)/status", sizeHint: 2048) else { return nil }
        for line in ByteParser.lines(bytes[...]) where ByteParser.hasPrefix(line, "NSpid:") {
            guard let v = ByteParser.words(line.dropFirst(6)).last.flatMap(ByteParser.integer),
                  v > 0, v <= Int64(Int32.max) else { return nil }
            return NamespacePID(Int32(v))
        }
        return nil
    }

    /// Looks through `/proc` for the process that is pid 1 of namespace `ns`.
    /// Costs one link read per process; done once per namespace, then cached.
    func scanForInit(of ns: String) -> Init? {
        for entry in root.entries(of: "/proc") ?? [] {
            guard let raw = Int32(entry.name), raw > 0, case let pid = HostPID(raw), namespace(of: pid) == ns,
                  namespacePid(of: pid) == 1, let st = stat(of: pid) else { continue }
            return Init(pid: pid, startTime: st.startTime)
        }
        return nil
    }
}
