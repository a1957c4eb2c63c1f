/// Memory figures of one process's cgroup, combined over its ancestors.
/// All values are bytes.
package struct MemoryUsage: Sendable, Equatable {
    /// The smallest memory limit over the cgroup and its ancestors
    /// (v1 `memory.limit_in_bytes`, v2 `memory.max`); `nil` when no level has one.
    package var limit: UInt64?
    /// The smallest `limit - usage` over the levels that have a limit, never
    /// below 0; `nil` when no level has a limit.
    package var headroom: UInt64?
    /// The cgroup's own usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    package var usage: UInt64?
    /// The cgroup's own `memory.stat`, with v1 and v2 keys mapped to one set.
    package var stat: MemoryStat
    /// How much swap the cgroup may use: v1 smallest memsw limit minus the
    /// smallest memory limit (0 if negative), v2 smallest `memory.swap.max`;
    /// `nil` when unlimited.
    package var swapLimit: UInt64?
    /// Swap in use: v1 memsw usage minus memory usage, v2 `memory.swap.current`.
    package var swapUsage: UInt64?
}

/// The lines of a cgroup's `memory.stat` that /proc/meminfo shows, in bytes.
/// v1 reads the hierarchical `total_*` keys; v2 the plain ones. A key the
/// file does not have is `nil` (v1 has no slab keys; older kernels lack
/// some v2 keys), never 0: the view then shows the host's line.
package struct MemoryStat: Sendable, Equatable {
    package var cache: UInt64?             // total_cache / file
    package var shmem: UInt64?             // total_shmem / shmem
    package var activeAnon: UInt64?        // total_active_anon / active_anon
    package var inactiveAnon: UInt64?      // total_inactive_anon / inactive_anon
    package var activeFile: UInt64?        // total_active_file / active_file
    package var inactiveFile: UInt64?      // total_inactive_file / inactive_file
    package var unevictable: UInt64?       // total_unevictable / unevictable
    package var mapped: UInt64?            // total_mapped_file / file_mapped
    package var anon: UInt64?              // total_rss / anon
    package var dirty: UInt64?             // total_dirty / file_dirty
    package var writeback: UInt64?         // total_writeback / file_writeback
    package var slab: UInt64?              // v2 slab (none on v1)
    package var slabReclaimable: UInt64?   // v2 slab_reclaimable (none on v1)
    package var slabUnreclaimable: UInt64? // v2 slab_unreclaimable (none on v1)
    package var zswap: UInt64 = 0          // v2 zswap, compressed size in the pool (0 on v1)
    package var zswapped: UInt64 = 0       // v2 zswapped, the pages' size before compression (0 on v1)

    package init() {}

    /// Parses a v2 `memory.stat` (`file`, `anon`, `slab_reclaimable`...).
    package init(parsingV2 bytes: ArraySlice<UInt8>) {
        var s = MemoryStat()
        // Keys are compared as bytes: no String per line on the hot path.
        ByteParser.forEachKeyValue(bytes) { key, value in
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
            else if ByteParser.equals(key, "zswap") { s.zswap = value }
            else if ByteParser.equals(key, "zswapped") { s.zswapped = value }
        }
        self = s
    }

    /// Parses a v1 `memory.stat`: the hierarchical `total_*` keys only
    /// (the plain ones count the cgroup without its descendants).
    package init(parsingV1 bytes: ArraySlice<UInt8>) {
        var s = MemoryStat()
        ByteParser.forEachKeyValue(bytes) { key, value in
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
        self = s
    }
}

/// CPU time a cgroup has used, in nanoseconds whatever the version.
package enum CPUUsage: Sendable, Equatable {
    /// Per host CPU number (v1 `cpuacct.usage_all`): user and system nanoseconds.
    case perCPU([Int: (user: UInt64, system: UInt64)])
    /// Over all CPUs (v2 `cpu.stat`, whose microseconds are converted): user and system nanoseconds.
    case total(userNanoseconds: UInt64, systemNanoseconds: UInt64)

    package static func == (a: CPUUsage, b: CPUUsage) -> Bool {
        switch (a, b) {
        case let (.total(u1, s1), .total(u2, s2)): return u1 == u2 && s1 == s2
        case let (.perCPU(x), .perCPU(y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { $0 == v } ?? false }
        default: return false
        }
    }
}


/// Reads a process's cgroup values. Each getter picks the hierarchy that
/// serves the controller from the layout and reads it through that
/// hierarchy's backend (`CgroupV1Backend`, `CgroupV2Backend`), so callers
/// never ask which version serves a value. A missing or unparsable file
/// counts as "no value at that level"; a getter returns `nil` where nothing
/// at all could be read, and the renderers then use the host's values.
package struct CgroupReader: Sendable {
    /// How host files are read.
    package let files: any KernelFileReader
    /// The mounted hierarchies.
    package let layout: CgroupLayout
    /// v1 blkio file names known to be absent; `nil` remembers none.
    package let absentNames: AbsentCgroupFileNames?

    /// v1 prints "unlimited" as a page-rounded `Int64.max`; anything from
    /// 2^62 bytes up counts as no limit.
    static let unlimitedThreshold: UInt64 = 1 << 62

    /// - Parameters:
    ///   - files: how host files are read.
    ///   - layout: the mounted hierarchies.
    ///   - absentNames: where v1 blkio file names found absent are remembered.
    package init(files: any KernelFileReader, layout: CgroupLayout, absentNames: AbsentCgroupFileNames? = nil) {
        self.files = files
        self.layout = layout
        self.absentNames = absentNames
    }

    /// Where host files are read.
    package var root: HostRoot { files.root }

    /// The backend of a hierarchy's cgroup version.
    static func backend(_ hierarchy: CgroupHierarchy) -> any CgroupBackend { cgroupBackend(of: hierarchy) }

    /// The hierarchy serving `controller`, its backend and the process's folder in it.
    func place(_ controller: String, _ membership: CgroupMembership) -> (CgroupHierarchy, any CgroupBackend, String)? {
        guard let h = layout.hierarchy(for: controller), let path = membership.path(in: h) else { return nil }
        return (h, Self.backend(h), h.directory(of: path))
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
    /// level counts.
    func limitLevels(_ dirs: [String], _ hierarchy: CgroupHierarchy) -> ArraySlice<String> {
        if hierarchy.mountRoot == "/", dirs.last == hierarchy.mountPoint { return dirs.dropLast() }
        return dirs[...]
    }

    /// The memory view of a process's cgroup (limits, usage, `memory.stat`, swap).
    /// - Parameter swap: false leaves out the swap files and `swapLimit`/`swapUsage`
    ///   nil, for a host without swap.
    /// - Returns: `nil` when the process has no memory cgroup that can be read.
    package func memory(_ membership: CgroupMembership, swap: Bool = true) -> MemoryUsage? {
        guard let h = layout.hierarchy(for: "memory"), let dirs = ancestry(membership, h) else { return nil }
        let backend = Self.backend(h)
        guard let stat = backend.memoryStat(dirs[0], files) else { return nil }
        var m = MemoryUsage(limit: nil, headroom: nil, usage: backend.memoryUsage(dirs[0], files), stat: stat,
                            swapLimit: nil, swapUsage: nil)
        let levels = limitLevels(dirs, h)
        for (level, dir) in levels.enumerated() {
            guard let l = backend.memoryLimit(dir, files) else { continue }
            m.limit = min(m.limit ?? l, l)
            if let used = level == 0 ? m.usage : backend.memoryUsage(dir, files) {
                let room = l > used ? l - used : 0
                m.headroom = min(m.headroom ?? room, room)
            }
        }
        // v1 keeps no slab per cgroup. Under a limit the container has none
        // of its own (0, the shared cases' rule: the host's slab may exceed
        // its MemTotal); without one (a host process) they stay absent, so
        // the view shows the host's lines.
        if !h.isUnified && m.limit != nil {
            m.stat.slab = m.stat.slab ?? 0
            m.stat.slabReclaimable = m.stat.slabReclaimable ?? 0
            m.stat.slabUnreclaimable = m.stat.slabUnreclaimable ?? 0
        }
        guard swap else { return m }
        m.swapLimit = backend.swapAllowance(levels, memoryLimit: m.limit, files)
        m.swapUsage = backend.swapUsage(dirs[0], memoryUsage: m.usage, files)
        return m
    }

    /// The CPUs a process may run on: its cpuset cgroup's effective list,
    /// else `cpuset.cpus`, else the nearest ancestor that has either.
    /// - Returns: `nil` when there is no cpuset to read (callers use the host's online CPUs).
    package func cpuset(_ membership: CgroupMembership) -> CPUList? {
        guard let h = layout.hierarchy(for: "cpuset"), let dirs = ancestry(membership, h) else { return nil }
        let backend = Self.backend(h)
        for dir in dirs {
            if let list = backend.cpusetCPUs(dir, files) { return list }
        }
        return nil
    }

    /// The CFS bandwidth limit of a process, in CPUs: the smallest
    /// quota/period over the cpu cgroup and its ancestors.
    /// - Returns: `nil` when no level sets a quota.
    package func cfsQuota(_ membership: CgroupMembership) -> Double? {
        guard let h = layout.hierarchy(for: "cpu"), let dirs = ancestry(membership, h) else { return nil }
        let backend = Self.backend(h)
        var best: Double?
        for dir in limitLevels(dirs, h) {
            guard let b = backend.cfsBandwidth(dir, files) else { continue }
            let cpus = Double(b.quotaMicroseconds) / Double(b.periodMicroseconds)
            best = min(best ?? cpus, cpus)
        }
        return best
    }

    /// The CPU time a process's cgroup has used, in nanoseconds.
    /// - Returns: `nil` when nothing can be read.
    package func cpuUsage(_ membership: CgroupMembership) -> CPUUsage? {
        guard let (_, backend, dir) = place("cpuacct", membership) else { return nil }
        return backend.cpuTime(dir, files)
    }

    /// Per-device I/O of a process's cgroup, including its descendants.
    /// - Returns: `nil` when no blkio or io file can be read.
    package func blockIO(_ membership: CgroupMembership) -> [DeviceNumber: BlockIOStat]? {
        guard let (h, backend, dir) = place("blkio", membership) else { return nil }
        return backend.blockIO(dir, hierarchy: h.mountPoint, files, absentNames: absentNames)
    }

    /// The pressure stall file of a process's cgroup, where the resource's
    /// controller (cpu, blkio/io, memory) is on the unified hierarchy.
    /// - Returns: the file's bytes; `nil` where the controller is on v1 or
    ///   the file cannot be read (callers use the host's `/proc/pressure` file).
    package func pressure(_ resource: PressureResource, _ membership: CgroupMembership) -> [UInt8]? {
        guard let (_, backend, dir) = place(resource.controller, membership) else { return nil }
        return backend.pressure(resource, dir, files)
    }

    /// The host path (under the root) of the pressure stall file of a
    /// process's cgroup, where the resource's controller is on the unified
    /// hierarchy; whether it exists is not checked.
    /// - Returns: `nil` where the controller is on v1 or the process has no cgroup in its hierarchy.
    package func pressureFile(_ resource: PressureResource, _ membership: CgroupMembership) -> String? {
        guard let (_, backend, dir) = place(resource.controller, membership) else { return nil }
        return backend.pressureFile(resource, dir)
    }

    /// The v1 `memory.kmem.slabinfo` of a process's memory cgroup.
    /// - Returns: the file's bytes; `nil` on v2, when missing, or when empty.
    package func kmemSlabinfo(_ membership: CgroupMembership) -> [UInt8]? {
        guard let (_, backend, dir) = place("memory", membership) else { return nil }
        return backend.kmemSlabinfo(dir, files)
    }

    /// The cgroup whose tasks make a process's load average: its cgroup in
    /// the cpu controller's hierarchy.
    /// - Returns: `nil` when the process has no such cgroup.
    package func loadavgCgroup(_ membership: CgroupMembership) -> LoadavgCgroup? {
        guard let (_, backend, dir) = place("cpu", membership) else { return nil }
        return LoadavgCgroup(directory: dir, threadsFile: backend.threadsFile)
    }

    /// The host thread ids in a cgroup and its descendants (v1 `tasks`, v2
    /// `cgroup.threads`), walked down at most `maxDepth` levels.
    /// - Returns: `nil` when the cgroup's own file cannot be read (the cgroup is gone).
    package func threads(of group: LoadavgCgroup, maxDepth: Int = 16) -> [HostPID]? {
        guard let own = files.read(group.directory + group.threadsFile, sizeHint: 1024) else { return nil }
        var tids: [HostPID] = []
        func collect(_ bytes: [UInt8]) {
            for w in ByteParser.words(bytes[...]) {
                if let v = ByteParser.integer(w), v > 0, v <= Int64(Int32.max) { tids.append(HostPID(Int32(v))) }
            }
        }
        collect(own)
        var pending: [(String, Int)] = root.subdirectories(of: group.directory).map { (group.directory + "/" + $0, 1) }
        while let (dir, depth) = pending.popLast() {
            if let bytes = files.read(dir + group.threadsFile, sizeHint: 1024) { collect(bytes) }
            if depth < maxDepth {
                pending.append(contentsOf: root.subdirectories(of: dir).map { (dir + "/" + $0, depth + 1) })
            }
        }
        return tids
    }
}
