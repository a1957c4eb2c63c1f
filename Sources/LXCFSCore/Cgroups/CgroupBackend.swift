/// The files of one cgroup version, behind one getter per value (as lxcfs's
/// `cgroup_ops`). Each value comes back in one unit whatever the version:
/// bytes for memory, nanoseconds for CPU time, microseconds for the CFS
/// quota and period. `CgroupReader` picks the backend of the hierarchy that
/// serves a controller; nothing above it asks which version it is on.
///
/// Every getter reads one cgroup folder (`dir`, a host path) and returns
/// `nil` where the file is missing or unparsable, or the value means "none".
protocol CgroupBackend: Sendable {
    /// The memory limit at one level, in bytes (v1 `memory.limit_in_bytes`,
    /// v2 `memory.max`); `nil` for none (`max`, the v1 unlimited value).
    func memoryLimit(_ dir: String, _ files: any KernelFileReader) -> UInt64?
    /// The memory in use at one level, in bytes (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    func memoryUsage(_ dir: String, _ files: any KernelFileReader) -> UInt64?
    /// The cgroup's `memory.stat`, v1 hierarchical `total_*` keys or v2 keys, in bytes.
    func memoryStat(_ dir: String, _ files: any KernelFileReader) -> MemoryStat?
    /// How much swap the cgroup may use, in bytes, over the levels that can
    /// hold a limit (`levels`, innermost first), given their smallest memory
    /// limit: v1 the smallest `memory.memsw.limit_in_bytes` minus that limit
    /// (0 if negative), v2 the smallest `memory.swap.max`.
    /// - Returns: `nil` when no level limits swap.
    func swapAllowance(_ levels: ArraySlice<String>, memoryLimit: UInt64?, _ files: any KernelFileReader) -> UInt64?
    /// Swap in use by the cgroup, in bytes: v1 `memory.memsw.usage_in_bytes`
    /// minus its memory usage (0 if negative), v2 `memory.swap.current`.
    func swapUsage(_ dir: String, memoryUsage: UInt64?, _ files: any KernelFileReader) -> UInt64?
    /// The cgroup's CPU list: the effective one (v1 `cpuset.effective_cpus`,
    /// v2 `cpuset.cpus.effective`), else `cpuset.cpus`; `nil` when both are
    /// missing or empty.
    func cpusetCPUs(_ dir: String, _ files: any KernelFileReader) -> CPUList?
    /// The CFS bandwidth limit at one level, in microseconds (v1
    /// `cpu.cfs_quota_us` and `cpu.cfs_period_us`, v2 `cpu.max`).
    /// - Returns: `nil` for none (v1 -1, v2 `max`) or a non-positive value.
    func cfsBandwidth(_ dir: String, _ files: any KernelFileReader) -> (quotaMicroseconds: Int64, periodMicroseconds: Int64)?
    /// The CPU time the cgroup has used, in nanoseconds: v1 per host CPU
    /// (`cpuacct.usage_all`, or `cpuacct.usage_percpu_user`/`_sys`), v2 in
    /// total (`cpu.stat` `user_usec`, `system_usec`).
    func cpuTime(_ dir: String, _ files: any KernelFileReader) -> CPUUsage?
    /// The cgroup's file of thread ids: v1 `tasks`, v2 `cgroup.threads`.
    var threadsFile: String { get }
    /// The cgroup's pressure stall file (v2 `cpu.pressure`, `io.pressure`,
    /// `memory.pressure`); `nil` on v1, which has none.
    func pressure(_ resource: PressureResource, _ dir: String, _ files: any KernelFileReader) -> [UInt8]?
    /// The cgroup's `memory.kmem.slabinfo` (v1 only); `nil` on v2, when
    /// missing, or when empty (newer kernels leave it empty).
    func kmemSlabinfo(_ dir: String, _ files: any KernelFileReader) -> [UInt8]?
    /// Per-device I/O of the cgroup and its descendants: v1 blkio rwstat
    /// files, v2 `io.stat`.
    /// - Parameters:
    ///   - hierarchy: the hierarchy's mount point (v1 absent names are remembered per hierarchy).
    ///   - absentNames: v1 file names known to be absent; `nil` remembers none.
    func blockIO(_ dir: String, hierarchy: String, _ files: any KernelFileReader,
                 absentNames: AbsentCgroupFileNames?) -> [DeviceNumber: BlockIOStat]?
    /// The host path of the cgroup's pressure stall file, where a trigger
    /// may be registered (v2 `DIR/cpu.pressure`...); `nil` on v1, which has none.
    func pressureFile(_ resource: PressureResource, _ dir: String) -> String?
    /// A process's cgroup path in `hierarchy`, as `/proc/PID/cgroup` prints
    /// it: v1 the line whose controller list holds one of the hierarchy's
    /// controllers, v2 the `0::` line (`init.scope` dropped).
    /// - Returns: `nil` when the file has no line for the hierarchy.
    func path(of membership: CgroupMembership, in hierarchy: CgroupHierarchy) -> String?
}

/// The backend of a hierarchy's cgroup version: the one place outside the
/// two backends that tells the versions apart.
func cgroupBackend(of hierarchy: CgroupHierarchy) -> any CgroupBackend {
    hierarchy.isUnified ? CgroupV2Backend() : CgroupV1Backend()
}

/// Bytes from a cgroup file that holds one: `nil` for `max`, missing,
/// garbage, and anything from 2^62 up (v1 prints "unlimited" as a
/// page-rounded `Int64.max`).
func cgroupLimit(_ path: String, _ files: any KernelFileReader) -> UInt64? {
    guard let bytes = files.read(path, sizeHint: 64),
          let word = ByteParser.firstWord(bytes[...]),
          let v = ByteParser.unsigned(word), v < CgroupReader.unlimitedThreshold else { return nil }
    return v
}

/// A plain counter from a cgroup file, such as `memory.current`.
func cgroupCounter(_ path: String, _ files: any KernelFileReader) -> UInt64? {
    guard let bytes = files.read(path, sizeHint: 64),
          let word = ByteParser.firstWord(bytes[...]) else { return nil }
    return ByteParser.unsigned(word)
}

/// The first CPU list of `names` (tried in order) in `dir` that is neither missing nor empty.
func cgroupCPUList(_ dir: String, _ names: [String], _ files: any KernelFileReader) -> CPUList? {
    for name in names {
        if let bytes = files.read(dir + name, sizeHint: 128), let list = CPUList(parsing: bytes[...]) { return list }
    }
    return nil
}

/// cgroup v1: one hierarchy per controller (or group of controllers).
struct CgroupV1Backend: CgroupBackend {
    func memoryLimit(_ dir: String, _ files: any KernelFileReader) -> UInt64? {
        cgroupLimit(dir + "/memory.limit_in_bytes", files)
    }

    func memoryUsage(_ dir: String, _ files: any KernelFileReader) -> UInt64? {
        cgroupCounter(dir + "/memory.usage_in_bytes", files)
    }

    func memoryStat(_ dir: String, _ files: any KernelFileReader) -> MemoryStat? {
        files.read(dir + "/memory.stat", sizeHint: 2048).map { MemoryStat(parsingV1: $0[...]) }
    }

    func swapAllowance(_ levels: ArraySlice<String>, memoryLimit: UInt64?, _ files: any KernelFileReader) -> UInt64? {
        var memsw: UInt64?
        for dir in levels {
            if let s = cgroupLimit(dir + "/memory.memsw.limit_in_bytes", files) { memsw = min(memsw ?? s, s) }
        }
        guard let memsw else { return nil }
        let memory = memoryLimit ?? memsw
        return memsw > memory ? memsw - memory : 0
    }

    func swapUsage(_ dir: String, memoryUsage: UInt64?, _ files: any KernelFileReader) -> UInt64? {
        guard let memsw = cgroupCounter(dir + "/memory.memsw.usage_in_bytes", files), let used = memoryUsage else { return nil }
        return memsw > used ? memsw - used : 0
    }

    func cpusetCPUs(_ dir: String, _ files: any KernelFileReader) -> CPUList? {
        cgroupCPUList(dir, ["/cpuset.effective_cpus", "/cpuset.cpus"], files)
    }

    func cfsBandwidth(_ dir: String, _ files: any KernelFileReader) -> (quotaMicroseconds: Int64, periodMicroseconds: Int64)? {
        guard let q = files.readInteger(dir + "/cpu.cfs_quota_us"), q > 0,
              let p = files.readInteger(dir + "/cpu.cfs_period_us"), p > 0 else { return nil }
        return (q, p)
    }

    func cpuTime(_ dir: String, _ files: any KernelFileReader) -> CPUUsage? {
        var rows: [Int: (user: UInt64, system: UInt64)] = [:]
        if let bytes = files.read(dir + "/cpuacct.usage_all", sizeHint: 1024) {
            for line in ByteParser.lines(bytes[...]).dropFirst() {
                let w = ByteParser.words(line)
                guard w.count >= 3, let cpu = ByteParser.integer(w[0]),
                      let u = ByteParser.unsigned(w[1]), let s = ByteParser.unsigned(w[2]) else { continue }
                rows[Int(cpu)] = (u, s)
            }
        } else if let ub = files.read(dir + "/cpuacct.usage_percpu_user", sizeHint: 512),
                  let sb = files.read(dir + "/cpuacct.usage_percpu_sys", sizeHint: 512) {
            let u = ByteParser.words(ub[...]), s = ByteParser.words(sb[...])
            for i in 0..<min(u.count, s.count) {
                if let uv = ByteParser.unsigned(u[i]), let sv = ByteParser.unsigned(s[i]) { rows[i] = (uv, sv) }
            }
        }
        return rows.isEmpty ? nil : .perCPU(rows)
    }

    var threadsFile: String { "/tasks" }

    func pressureFile(_ resource: PressureResource, _ dir: String) -> String? { nil }

    func path(of membership: CgroupMembership, in hierarchy: CgroupHierarchy) -> String? {
        for c in hierarchy.controllers {
            if let p = membership.v1Path(c) { return p }
        }
        return nil
    }

    func pressure(_ resource: PressureResource, _ dir: String, _ files: any KernelFileReader) -> [UInt8]? { nil }

    func kmemSlabinfo(_ dir: String, _ files: any KernelFileReader) -> [UInt8]? {
        guard let bytes = files.read(dir + "/memory.kmem.slabinfo", sizeHint: 16384),
              ByteParser.firstWord(bytes[...]) != nil else { return nil }
        return bytes
    }

    func blockIO(_ dir: String, hierarchy: String, _ files: any KernelFileReader,
                 absentNames: AbsentCgroupFileNames?) -> [DeviceNumber: BlockIOStat]? {
        BlkioV1(files: files, absentNames: absentNames).read(dir, hierarchy: hierarchy)
    }
}

/// cgroup v2: the unified hierarchy.
struct CgroupV2Backend: CgroupBackend {
    func memoryLimit(_ dir: String, _ files: any KernelFileReader) -> UInt64? {
        cgroupLimit(dir + "/memory.max", files)
    }

    func memoryUsage(_ dir: String, _ files: any KernelFileReader) -> UInt64? {
        cgroupCounter(dir + "/memory.current", files)
    }

    func memoryStat(_ dir: String, _ files: any KernelFileReader) -> MemoryStat? {
        files.read(dir + "/memory.stat", sizeHint: 2048).map { MemoryStat(parsingV2: $0[...]) }
    }

    func swapAllowance(_ levels: ArraySlice<String>, memoryLimit: UInt64?, _ files: any KernelFileReader) -> UInt64? {
        var allowed: UInt64?
        for dir in levels {
            if let s = cgroupLimit(dir + "/memory.swap.max", files) { allowed = min(allowed ?? s, s) }
        }
        return allowed
    }

    func swapUsage(_ dir: String, memoryUsage: UInt64?, _ files: any KernelFileReader) -> UInt64? {
        cgroupCounter(dir + "/memory.swap.current", files)
    }

    func cpusetCPUs(_ dir: String, _ files: any KernelFileReader) -> CPUList? {
        cgroupCPUList(dir, ["/cpuset.cpus.effective", "/cpuset.cpus"], files)
    }

    func cfsBandwidth(_ dir: String, _ files: any KernelFileReader) -> (quotaMicroseconds: Int64, periodMicroseconds: Int64)? {
        guard let bytes = files.read(dir + "/cpu.max", sizeHint: 64) else { return nil }
        let w = ByteParser.words(bytes[...])
        guard w.count >= 2, let q = ByteParser.integer(w[0]), let p = ByteParser.integer(w[1]), q > 0, p > 0 else { return nil }
        return (q, p)
    }

    func cpuTime(_ dir: String, _ files: any KernelFileReader) -> CPUUsage? {
        guard let bytes = files.read(dir + "/cpu.stat", sizeHint: 512) else { return nil }
        var user: UInt64?
        var system: UInt64?
        ByteParser.forEachKeyValue(bytes[...]) { key, value in
            if ByteParser.equals(key, "user_usec") { user = value }
            else if ByteParser.equals(key, "system_usec") { system = value }
        }
        guard let user, let system else { return nil }
        return .total(userNanoseconds: CPUTime.product(user, CPUTime.nanosecondsPerMicrosecond),
                      systemNanoseconds: CPUTime.product(system, CPUTime.nanosecondsPerMicrosecond))
    }

    var threadsFile: String { "/cgroup.threads" }

    func pressureFile(_ resource: PressureResource, _ dir: String) -> String? { dir + "/" + resource.cgroupFile }

    func pressure(_ resource: PressureResource, _ dir: String, _ files: any KernelFileReader) -> [UInt8]? {
        guard let bytes = files.read(dir + "/" + resource.cgroupFile, sizeHint: 256), !bytes.isEmpty else { return nil }
        return bytes
    }

    func path(of membership: CgroupMembership, in hierarchy: CgroupHierarchy) -> String? { membership.unifiedPath }

    func kmemSlabinfo(_ dir: String, _ files: any KernelFileReader) -> [UInt8]? { nil }

    func blockIO(_ dir: String, hierarchy: String, _ files: any KernelFileReader,
                 absentNames: AbsentCgroupFileNames?) -> [DeviceNumber: BlockIOStat]? {
        guard let bytes = files.read(dir + "/io.stat", sizeHint: 1024) else { return nil }
        return CgroupReader.parseIOStat(bytes[...])
    }
}
