/// One virtual file, in gVisor's shape: `snapshot` reads what the file
/// needs for one reader into a typed value (host files, cgroup values, the
/// CPU time tracker's step), and `render` turns that value into the file's
/// bytes as a pure function, so each file is tested without mounting
/// anything. `VirtualFile.generator` is the table of all of them.
protocol VirtualFileGenerator {
    /// What the file is made from, for one reader.
    associatedtype Snapshot
    /// Reads the snapshot for the request's reader; whatever cannot be
    /// read is left to the host's values.
    static func snapshot(_ request: inout RenderRequest) -> Snapshot
    /// The file's bytes; `nil` where the file does not exist (ENOENT).
    static func render(_ snapshot: Snapshot) -> [UInt8]?
    /// Whether the render cache should keep this file's renderings
    /// (default: yes; not for a file that is cheaper to render than to look up).
    static func isWorthCaching(by view: ContainerView) -> Bool
    /// Whether the mount lists the file on this host (default: always).
    static func isServed(by view: ContainerView) -> Bool
    /// `render(snapshot(request))` (a requirement, so that each file's
    /// witness is specialized: no generic value handling per render).
    static func generate(_ request: inout RenderRequest) -> [UInt8]?
}

extension VirtualFileGenerator {
    static func isServed(by view: ContainerView) -> Bool { true }
    static func isWorthCaching(by view: ContainerView) -> Bool { true }

    static func generate(_ request: inout RenderRequest) -> [UInt8]? {
        render(snapshot(&request))
    }
}

extension VirtualFile {
    /// The table: the type that makes each file.
    var generator: any VirtualFileGenerator.Type {
        switch self {
        case .meminfo: return MeminfoFile.self
        case .cpuinfo: return CpuinfoFile.self
        case .stat: return StatFile.self
        case .uptime: return UptimeFile.self
        case .loadavg: return LoadavgFile.self
        case .swaps: return SwapsFile.self
        case .diskstats: return DiskstatsFile.self
        case .slabinfo: return SlabinfoFile.self
        case .cpuPressure: return CPUPressureFile.self
        case .ioPressure: return IOPressureFile.self
        case .memoryPressure: return MemoryPressureFile.self
        case .cpuOnline, .cpuPossible, .cpuPresent: return CPURangeFile.self
        case .cpuOffline: return CPUOfflineFile.self
        }
    }
}

/// `/proc/meminfo`: the host's file with the cgroup's figures.
enum MeminfoFile: VirtualFileGenerator {
    struct Snapshot {
        var host: [UInt8]
        /// `nil`: the host's file unchanged.
        var figures: MeminfoFigures?
    }

    static func snapshot(_ r: inout RenderRequest) -> Snapshot {
        let host = r.host(.meminfo, sizeHint: 4096)
        guard let m = r.membership else {
            r.fallback(.meminfo, "process has no cgroup")
            return Snapshot(host: host, figures: nil)
        }
        let hostFigures = HostMeminfo(parsing: host[...])
        // Without host swap (or with -u) SwapTotal is 0 whatever the
        // cgroup allows: its swap files are not read.
        let swap = !r.options.disableSwap && hostFigures.swapTotalKB > 0
        guard let memory = r.reader.memory(m, swap: swap) else {
            r.fallback(.meminfo, "memory cgroup unreadable")
            return Snapshot(host: host, figures: nil)
        }
        return Snapshot(host: host, figures: MeminfoFigures(host: hostFigures, memory: memory, options: r.options))
    }

    static func render(_ s: Snapshot) -> [UInt8]? {
        guard let figures = s.figures else { return s.host }
        return MeminfoRenderer.render(host: s.host[...], figures: figures)
    }
}

/// `/proc/cpuinfo`: the blocks of the visible CPUs, renumbered.
enum CpuinfoFile: VirtualFileGenerator {
    struct Snapshot {
        var host: [UInt8]
        var visible: [Int]
    }

    static func snapshot(_ r: inout RenderRequest) -> Snapshot {
        Snapshot(host: r.host(.cpuinfo, sizeHint: 65536), visible: r.cpuView.cpus)
    }

    static func render(_ s: Snapshot) -> [UInt8]? {
        CpuinfoRenderer.render(host: s.host[...], visible: s.visible)
    }
}

/// `/proc/stat`: the visible CPUs' lines from the cgroup, continued from
/// the reader cgroup's earlier reads by the CPU time tracker (an explicit
/// step of the snapshot), then rendered purely.
enum StatFile: VirtualFileGenerator {
    struct Snapshot {
        var host: StatRenderer.HostStat
        /// One row per visible CPU, in clock ticks.
        var rows: [StatRenderer.Times]
    }

    static func snapshot(_ r: inout RenderRequest) -> Snapshot {
        let host = StatRenderer.HostStat(parsing: r.host(.stat, sizeHint: 8192)[...])
        let view = r.cpuView
        let usage = r.membership.flatMap { r.reader.cpuUsage($0) }
        if usage == nil { r.fallback(.stat, "no cgroup CPU usage") }
        let first = StatRenderer.firstReadRows(host, visible: view.cpus, usage: usage)
        guard let m = r.membership, let usage, !first.shown.isEmpty else { return Snapshot(host: host, rows: first.rows) }
        // The tracker: no field goes down between reads, and busy plus idle
        // grow by 100 ticks a second on each visible CPU.
        let sample = CPUTimeSample(visible: first.shown, usage: usage, firstRead: StatRenderer.trackerRows(first.rows),
                                   capacity: view.capacity, now: r.view.trackerNow())
        // The view's key: the cpuacct, cpuset and cpu cgroups, which together
        // decide the visible CPUs and their times; the cpuacct folder's
        // removal lets the tracker forget the view.
        let reader = r.reader
        let cpuacct = reader.place("cpuacct", m)?.2 ?? ""
        let key = cpuacct + "\n" + (reader.place("cpuset", m)?.2 ?? "") + "\n" + (reader.place("cpu", m)?.2 ?? "") + "\n"
        let tracked = r.view.cpuTimes.rows(key: key, directory: cpuacct, sample: sample)
        return Snapshot(host: host, rows: StatRenderer.rows(tracked))
    }

    static func render(_ s: Snapshot) -> [UInt8]? {
        StatRenderer.render(s.host, rows: s.rows)
    }
}

/// `/proc/uptime`: since the reader's pid namespace's init started.
enum UptimeFile: VirtualFileGenerator {
    struct Snapshot {
        var host: [UInt8]
        /// When the init started, after boot; `nil` in the host's namespace.
        var initStartTicks: ClockTicks?
        var cpuTime: UptimeRenderer.CPUTime?
    }

    static func snapshot(_ r: inout RenderRequest) -> Snapshot {
        let host = r.host(.uptime, sizeHint: 64)
        guard let initProcess = r.view.namespaces.initProcess(of: r.pid) else {
            return Snapshot(host: host, initStartTicks: nil, cpuTime: nil)
        }
        return Snapshot(host: host, initStartTicks: initProcess.startTime, cpuTime: cpuTime(&r))
    }

    static func render(_ s: Snapshot) -> [UInt8]? {
        UptimeRenderer.render(host: s.host[...], initStartTicks: s.initStartTicks, cpuTime: s.cpuTime)
    }

    /// The reader cgroup's CPU time for the idle field: its visible CPU
    /// count and its busy time over the cgroup's life, scaled as the
    /// /proc/stat view scales it, in hundredths of a second.
    static func cpuTime(_ r: inout RenderRequest) -> UptimeRenderer.CPUTime? {
        guard let m = r.membership, let usage = r.reader.cpuUsage(m) else { return nil }
        let view = r.cpuView
        let factor = CPUTime.quotaScale(visible: view.cpus.count, capacity: view.capacity)
        return UptimeRenderer.CPUTime(cpus: view.cpus.count,
                                      busyHundredths: CPUTime.scaled(usage.busyNanoseconds, factor) / CPUTime.nanosecondsPerHundredth)
    }
}

/// `/proc/loadavg`: the cgroup's own load with `-l`, else the host's.
enum LoadavgFile: VirtualFileGenerator {
    struct Snapshot {
        var host: [UInt8]
        var load: CgroupLoad?
    }

    static func snapshot(_ r: inout RenderRequest) -> Snapshot {
        let host = r.host(.loadavg, sizeHint: 128)
        guard let sampler = r.view.loadavgSampler else { return Snapshot(host: host, load: nil) }
        guard let m = r.membership else {
            r.fallback(.loadavg, "process has no cgroup")
            return Snapshot(host: host, load: nil)
        }
        let reader = r.reader
        guard let group = reader.loadavgCgroup(m),
              let load = sampler.load(of: group, reader: reader, now: r.view.clocks.monotonic()) else {
            r.fallback(.loadavg, "cpu cgroup tasks unreadable")
            return Snapshot(host: host, load: nil)
        }
        return Snapshot(host: host, load: load)
    }

    static func render(_ s: Snapshot) -> [UInt8]? {
        s.load.map(LoadavgRenderer.render) ?? s.host
    }

    /// Without `-l` the file is the host's: one read, no cgroup.
    static func isWorthCaching(by view: ContainerView) -> Bool { view.loadavgSampler != nil }
}

/// `/proc/swaps`: one virtual device of the cgroup's swap, agreeing with meminfo.
enum SwapsFile: VirtualFileGenerator {
    struct Snapshot {
        var host: [UInt8]
        var swap: SwapFigures?
    }

    static func snapshot(_ r: inout RenderRequest) -> Snapshot {
        let host = r.host(.swaps, sizeHint: 256)
        guard let m = r.membership else {
            r.fallback(.swaps, "process has no cgroup")
            return Snapshot(host: host, swap: nil)
        }
        let meminfo = r.host(.meminfo, sizeHint: 4096)
        let hostSwap = SwapFigures.hostSwapTotalKB(meminfo: meminfo[...])
        guard let memory = r.reader.memory(m, swap: hostSwap > 0 && !r.options.disableSwap) else {
            r.fallback(.swaps, "memory cgroup unreadable")
            return Snapshot(host: host, swap: nil)
        }
        return Snapshot(host: host, swap: SwapFigures(hostSwapTotalKB: hostSwap, memory: memory, options: r.options,
                                                      hostSwapFreeKB: SwapFigures.hostSwapFreeKB(meminfo: meminfo[...])))
    }

    static func render(_ s: Snapshot) -> [UInt8]? {
        s.swap.map(SwapsRenderer.render) ?? s.host
    }
}

/// `/proc/diskstats`: the cgroup's I/O per host device.
enum DiskstatsFile: VirtualFileGenerator {
    struct Snapshot {
        var host: [UInt8]
        var io: [DeviceNumber: BlockIOStat]?
    }

    static func snapshot(_ r: inout RenderRequest) -> Snapshot {
        let host = r.host(.diskstats, sizeHint: 8192)
        guard let m = r.membership else {
            r.fallback(.diskstats, "process has no cgroup")
            return Snapshot(host: host, io: nil)
        }
        let io = r.reader.blockIO(m)
        if io == nil { r.fallback(.diskstats, "blkio/io cgroup unreadable") }
        return Snapshot(host: host, io: io)
    }

    static func render(_ s: Snapshot) -> [UInt8]? {
        guard let io = s.io else { return s.host }
        return DiskstatsRenderer.render(host: s.host[...], io: io)
    }
}

/// `/proc/slabinfo`: the cgroup's v1 `memory.kmem.slabinfo`, else the host's.
enum SlabinfoFile: VirtualFileGenerator {
    struct Snapshot {
        var host: [UInt8]
        var cgroup: [UInt8]?
    }

    static func snapshot(_ r: inout RenderRequest) -> Snapshot {
        let host = r.host(.slabinfo, sizeHint: 65536)
        let cgroup = r.membership.flatMap { r.reader.kmemSlabinfo($0) }
        return Snapshot(host: host, cgroup: cgroup)
    }

    static func render(_ s: Snapshot) -> [UInt8]? {
        SlabinfoRenderer.render(cgroup: s.cgroup, host: s.host)
    }
}

/// A `/proc/pressure` file: the cgroup's v2 file, else the host's; listed
/// only where the host has `/proc/pressure` (PSI enabled).
protocol PressureFileGenerator: VirtualFileGenerator where Snapshot == PressureSnapshot {
    static var file: VirtualFile { get }
    static var resource: PressureResource { get }
}

/// What a pressure file is made from.
struct PressureSnapshot {
    /// The host's `/proc/pressure` file; `nil` where the host has none.
    var host: [UInt8]?
    /// The cgroup's v2 file; `nil` on v1.
    var cgroup: [UInt8]?
}

extension PressureFileGenerator {
    static func snapshot(_ r: inout RenderRequest) -> PressureSnapshot {
        let host = r.files.read(file.hostPath, sizeHint: 256)
        let cgroup = r.membership.flatMap { r.reader.pressure(resource, $0) }
        return PressureSnapshot(host: host, cgroup: cgroup)
    }

    static func render(_ s: PressureSnapshot) -> [UInt8]? {
        PressureRenderer.render(cgroup: s.cgroup, host: s.host)
    }

    static func isServed(by view: ContainerView) -> Bool {
        view.root.exists(file.hostPath)
    }
}

enum CPUPressureFile: PressureFileGenerator {
    static let file = VirtualFile.cpuPressure
    static let resource = PressureResource.cpu
}

enum IOPressureFile: PressureFileGenerator {
    static let file = VirtualFile.ioPressure
    static let resource = PressureResource.io
}

enum MemoryPressureFile: PressureFileGenerator {
    static let file = VirtualFile.memoryPressure
    static let resource = PressureResource.memory
}

/// `/sys/devices/system/cpu/online`, `possible` and `present`: `0-(N-1)`
/// for the N visible CPUs.
enum CPURangeFile: VirtualFileGenerator {
    static func snapshot(_ r: inout RenderRequest) -> Int { r.cpuView.cpus.count }
    static func render(_ count: Int) -> [UInt8]? { CPUOnlineRenderer.render(count: count) }
}

/// `/sys/devices/system/cpu/offline`: none of the visible CPUs.
enum CPUOfflineFile: VirtualFileGenerator {
    static func snapshot(_ r: inout RenderRequest) {}
    static func render(_: ()) -> [UInt8]? { CPUOfflineRenderer.render() }
    static func isWorthCaching(by view: ContainerView) -> Bool { false }
}
