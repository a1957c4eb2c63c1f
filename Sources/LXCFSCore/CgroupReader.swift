/// Memory figures of one process's cgroup, combined over its ancestors.
/// All values are bytes.
public struct MemoryUsage: Sendable, Equatable {
    /// The smallest memory limit over the cgroup and its ancestors
    /// (v1 `memory.limit_in_bytes`, v2 `memory.max`); `nil` when no level has one.
    public var limit: UInt64?
    /// The smallest `limit - usage` over the levels that have a limit, never
    /// below 0; `nil` when no level has a limit.
    public var headroom: UInt64?
    /// The cgroup's own usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    public var usage: UInt64?
    /// The cgroup's own `memory.stat`, with v1 and v2 keys mapped to one set.
    public var stat: MemoryStat
    /// How much swap the cgroup may use: v1 smallest memsw limit minus the
    /// smallest memory limit (0 if negative), v2 smallest `memory.swap.max`;
    /// `nil` when unlimited.
    public var swapLimit: UInt64?
    /// Swap in use: v1 memsw usage minus memory usage, v2 `memory.swap.current`.
    public var swapUsage: UInt64?
}

/// The lines of a cgroup's `memory.stat` that /proc/meminfo shows, in bytes.
/// v1 reads the hierarchical `total_*` keys; v2 the plain ones.
public struct MemoryStat: Sendable, Equatable {
    public var cache: UInt64 = 0            // total_cache / file
    public var shmem: UInt64 = 0            // total_shmem / shmem
    public var activeAnon: UInt64 = 0       // total_active_anon / active_anon
    public var inactiveAnon: UInt64 = 0     // total_inactive_anon / inactive_anon
    public var activeFile: UInt64 = 0       // total_active_file / active_file
    public var inactiveFile: UInt64 = 0     // total_inactive_file / inactive_file
    public var unevictable: UInt64 = 0      // total_unevictable / unevictable
    public var mapped: UInt64 = 0           // total_mapped_file / file_mapped
    public var anon: UInt64 = 0             // total_rss / anon
    public var dirty: UInt64 = 0            // total_dirty / file_dirty
    public var writeback: UInt64 = 0        // total_writeback / file_writeback
    public var slab: UInt64 = 0             // v2 slab (0 on v1)
    public var slabReclaimable: UInt64 = 0  // v2 slab_reclaimable (0 on v1)
    public var slabUnreclaimable: UInt64 = 0 // v2 slab_unreclaimable (0 on v1)

    public init() {}

    /// Parses `memory.stat`.
    /// - Parameters:
    ///   - bytes: the file's contents.
    ///   - unified: true for v2 keys, false for v1 `total_*` keys.
    public init(parsing bytes: ArraySlice<UInt8>, unified: Bool) {
        var s = MemoryStat()
        // Keys are compared as bytes: no String per line on the hot path.
        ByteParser.forEachKeyValue(bytes) { key, value in
            if unified {
                if ByteParser.equals(key, "file") { s.cache = value }
                else if ByteParser.equals(key, "shmem") { s.shmem = value }
                else if ByteParser.equals(key, "active_anon") { s.activeAnon = value }
                else if ByteParser.equals(key, "inactive_anon") { s.inactiveAnon = value }
                else if ByteParser.equals(key, "active_file") { s.activeFile = value }
                else if ByteParser.equals(key, "inactive_file") { s.inactiveFile = value }
                else if ByteParser.equals(key, "unevictable") { s.unevictable = value }
                else if ByteParser.equals(key, "file_mapped") { s.mapped = value }
                else if ByteParser.equals(key, "anon") { s.anon = value }
                else if ByteParser.equals(key, "file_dirty") { s.dirty = value }
                else if ByteParser.equals(key, "file_writeback") { s.writeback = value }
                else if ByteParser.equals(key, "slab") { s.slab = value }
                else if ByteParser.equals(key, "slab_reclaimable") { s.slabReclaimable = value }
                else if ByteParser.equals(key, "slab_unreclaimable") { s.slabUnreclaimable = value }
            } else {
                guard ByteParser.hasPrefix(key, "total_") else { return }
                let k = key.dropFirst(6)
                switch k.count {
                case 3: if ByteParser.equals(k, "rss") { s.anon = value }
                case 5:
                    if ByteParser.equals(k, "cache") { s.cache = value }
                    else if ByteParser.equals(k, "shmem") { s.shmem = value }
                    else if ByteParser.equals(k, "dirty") { s.dirty = value }
                case 9: if ByteParser.equals(k, "writeback") { s.writeback = value }
                case 11:
                    if ByteParser.equals(k, "active_anon") { s.activeAnon = value }
                    else if ByteParser.equals(k, "active_file") { s.activeFile = value }
                    else if ByteParser.equals(k, "unevictable") { s.unevictable = value }
                    else if ByteParser.equals(k, "mapped_file") { s.mapped = value }
                case 13:
                    if ByteParser.equals(k, "inactive_anon") { s.inactiveAnon = value }
                    else if ByteParser.equals(k, "inactive_file") { s.inactiveFile = value }
                default: break
                }
            }
        }
        self = s
    }
}

/// CPU time a cgroup has used.
public enum CPUUsage: Sendable, Equatable {
    /// v1 `cpuacct.usage_all`: user and system nanoseconds per host CPU number.
    case perCPU([Int: (user: UInt64, system: UInt64)])
    /// v2 `cpu.stat`: user and system microseconds over all CPUs.
    case total(userMicroseconds: UInt64, systemMicroseconds: UInt64)

    public static func == (a: CPUUsage, b: CPUUsage) -> Bool {
        switch (a, b) {
        case let (.total(u1, s1), .total(u2, s2)): return u1 == u2 && s1 == s2
        case let (.perCPU(x), .perCPU(y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { $0 == v } ?? false }
        default: return false
        }
    }
}

/// Reads a process's cgroup values. Callers never ask which cgroup version
/// serves a value: each getter picks the hierarchy from the layout and reads
/// the v1 or v2 file. A missing or unparsable file counts as "no value at
/// that level"; a getter returns `nil` where nothing at all could be read,
/// and the renderers then use the host's values.
public struct CgroupReader: Sendable {
    /// Where host files are read.
    public let root: HostRoot
    /// The mounted hierarchies.
    public let layout: CgroupLayout

    /// v1 prints "unlimited" as a page-rounded `Int64.max`; anything from
    /// 2^62 bytes up counts as no limit.
    static let unlimitedThreshold: UInt64 = 1 << 62

    public init(root: HostRoot, layout: CgroupLayout) {
        self.root = root
        self.layout = layout
    }

    /// The folders of a process's cgroup in `hierarchy`, from its own up to
    /// the hierarchy's mount point, innermost first.
    func ancestry(_ membership: CgroupMembership, _ hierarchy: CgroupHierarchy) -> [String]? {
        guard let path = membership.path(in: hierarchy) else { return nil }
        var dir = hierarchy.directory(of: path)
        var result = [dir]
        let top = hierarchy.mountPoint
        // Byte lengths and a byte search: no Character walking.
        while dir != top, dir.utf8.count > top.utf8.count, let slash = dir.utf8.lastIndex(of: UInt8(ascii: "/")) {
            dir = slash == dir.startIndex ? "/" : String(dir[..<slash])
            result.append(dir)
        }
        return result
    }

    /// The levels of `dirs` (from `ancestry`) that can hold a limit: all but
    /// the hierarchy's root cgroup, whose memory and CFS limits cannot be set
    /// (v1 refuses the write, v2 has no `memory.max` or `cpu.max` there).
    /// Where the mount's root is a deeper cgroup (a cgroup namespace), every
    /// level is kept.
    func limitLevels(_ dirs: [String], _ hierarchy: CgroupHierarchy) -> ArraySlice<String> {
        if hierarchy.mountRoot == "/", dirs.last == hierarchy.mountPoint { return dirs.dropLast() }
        return dirs[...]
    }

    /// A byte count from a cgroup file: `nil` for `max`, missing, garbage or
    /// the v1 unlimited value.
    func limit(_ path: String) -> UInt64? {
        guard let bytes = root.read(path, sizeHint: 64),
              let word = ByteParser.firstWord(bytes[...]),
              let v = ByteParser.unsigned(word), v < Self.unlimitedThreshold else { return nil }
        return v
    }

    /// A plain counter from a cgroup file, such as `memory.current`.
    func counter(_ path: String) -> UInt64? {
        guard let bytes = root.read(path, sizeHint: 64),
              let word = ByteParser.firstWord(bytes[...]) else { return nil }
        return ByteParser.unsigned(word)
    }

    /// The memory view of a process's cgroup (limits, usage, `memory.stat`, swap).
    /// - Parameter swap: false leaves out the swap files (v1 `memory.memsw.*`,
    ///   v2 `memory.swap.*`) and `swapLimit`/`swapUsage` nil, for a host without swap.
    /// - Returns: `nil` when the process has no memory cgroup that can be read.
    public func memory(_ membership: CgroupMembership, swap: Bool = true) -> MemoryUsage? {
        guard let h = layout.hierarchy(for: "memory"), let dirs = ancestry(membership, h) else { return nil }
        let v2 = h.isUnified
        guard let statBytes = root.read(dirs[0] + "/memory.stat", sizeHint: 2048) else { return nil }
        var m = MemoryUsage(limit: nil, headroom: nil, usage: nil,
                            stat: MemoryStat(parsing: statBytes[...], unified: v2),
                            swapLimit: nil, swapUsage: nil)
        let limitFile = v2 ? "/memory.max" : "/memory.limit_in_bytes"
        let usageFile = v2 ? "/memory.current" : "/memory.usage_in_bytes"
        let swapFile = v2 ? "/memory.swap.max" : "/memory.memsw.limit_in_bytes"
        m.usage = counter(dirs[0] + usageFile)
        var swapLimit: UInt64?
        for (level, dir) in limitLevels(dirs, h).enumerated() {
            if let l = limit(dir + limitFile) {
                m.limit = min(m.limit ?? l, l)
                let used = level == 0 ? m.usage : counter(dir + usageFile)
                if let used {
                    let room = l > used ? l - used : 0
                    m.headroom = min(m.headroom ?? room, room)
                }
            }
            if swap, let s = limit(dir + swapFile) { swapLimit = min(swapLimit ?? s, s) }
        }
        guard swap else { return m }
        if v2 {
            m.swapLimit = swapLimit
            m.swapUsage = counter(dirs[0] + "/memory.swap.current")
        } else {
            if let memsw = swapLimit {
                let mem = m.limit ?? memsw
                m.swapLimit = memsw > mem ? memsw - mem : 0
            }
            if let memswUsage = counter(dirs[0] + "/memory.memsw.usage_in_bytes"), let used = m.usage {
                m.swapUsage = memswUsage > used ? memswUsage - used : 0
            }
        }
        return m
    }

    /// The CPUs a process may run on: the effective list of its cpuset
    /// cgroup (v1 `cpuset.effective_cpus`, v2 `cpuset.cpus.effective`), else
    /// `cpuset.cpus`, else the nearest ancestor that has either.
    /// - Returns: `nil` when there is no cpuset to read (callers use the host's online CPUs).
    public func cpuset(_ membership: CgroupMembership) -> CPUList? {
        guard let h = layout.hierarchy(for: "cpuset"), let dirs = ancestry(membership, h) else { return nil }
        let effective = h.isUnified ? "/cpuset.cpus.effective" : "/cpuset.effective_cpus"
        for dir in dirs {
            for file in [effective, "/cpuset.cpus"] {
                if let bytes = root.read(dir + file, sizeHint: 128), let list = CPUList(parsing: bytes[...]) {
                    return list
                }
            }
        }
        return nil
    }

    /// The CFS bandwidth limit of a process, in CPUs: the smallest
    /// quota/period over the cpu cgroup and its ancestors (v1
    /// `cpu.cfs_quota_us` / `cpu.cfs_period_us` in microseconds, -1 meaning
    /// none; v2 `cpu.max` "QUOTA PERIOD", `max` meaning none).
    /// - Returns: `nil` when no level sets a quota.
    public func cfsQuota(_ membership: CgroupMembership) -> Double? {
        guard let h = layout.hierarchy(for: "cpu"), let dirs = ancestry(membership, h) else { return nil }
        var best: Double?
        for dir in limitLevels(dirs, h) {
            var quota: Int64?
            var period: Int64?
            if h.isUnified {
                if let bytes = root.read(dir + "/cpu.max", sizeHint: 64) {
                    let w = ByteParser.words(bytes[...])
                    if w.count >= 2 { quota = ByteParser.integer(w[0]); period = ByteParser.integer(w[1]) }
                }
            } else {
                quota = root.readInteger(dir + "/cpu.cfs_quota_us")
                if let q = quota, q > 0 { period = root.readInteger(dir + "/cpu.cfs_period_us") }
            }
            if let q = quota, let p = period, q > 0, p > 0 {
                let cpus = Double(q) / Double(p)
                best = min(best ?? cpus, cpus)
            }
        }
        return best
    }

    /// The CPU time a process's cgroup has used: v1 `cpuacct.usage_all`
    /// (or `cpuacct.usage_percpu_user`/`_sys`), v2 `cpu.stat`.
    /// - Returns: `nil` when nothing can be read.
    public func cpuUsage(_ membership: CgroupMembership) -> CPUUsage? {
        guard let h = layout.hierarchy(for: "cpuacct"), let path = membership.path(in: h) else { return nil }
        let dir = h.directory(of: path)
        if h.isUnified {
            guard let bytes = root.read(dir + "/cpu.stat", sizeHint: 512) else { return nil }
            var user: UInt64?
            var system: UInt64?
            ByteParser.forEachKeyValue(bytes[...]) { key, value in
                if ByteParser.equals(key, "user_usec") { user = value }
                else if ByteParser.equals(key, "system_usec") { system = value }
            }
            guard let user, let system else { return nil }
            return .total(userMicroseconds: user, systemMicroseconds: system)
        }
        var rows: [Int: (user: UInt64, system: UInt64)] = [:]
        if let bytes = root.read(dir + "/cpuacct.usage_all", sizeHint: 1024) {
            for line in ByteParser.lines(bytes[...]).dropFirst() {
                let w = ByteParser.words(line)
                guard w.count >= 3, let cpu = ByteParser.integer(w[0]),
                      let u = ByteParser.unsigned(w[1]), let s = ByteParser.unsigned(w[2]) else { continue }
                rows[Int(cpu)] = (u, s)
            }
        } else if let ub = root.read(dir + "/cpuacct.usage_percpu_user", sizeHint: 512),
                  let sb = root.read(dir + "/cpuacct.usage_percpu_sys", sizeHint: 512) {
            let u = ByteParser.words(ub[...]), s = ByteParser.words(sb[...])
            for i in 0..<min(u.count, s.count) {
                if let uv = ByteParser.unsigned(u[i]), let sv = ByteParser.unsigned(s[i]) { rows[i] = (uv, sv) }
            }
        }
        return rows.isEmpty ? nil : .perCPU(rows)
    }
}
