extension ContainerView {
    /// Renders loadavg, swaps, diskstats, slabinfo, the pressure files and the
    /// sysfs CPU lists for `pid`; each falls back to the host's file for what
    /// cannot be read.
    func renderMore(_ file: VirtualFile, for pid: Int32) -> [UInt8] {
        switch file {
        case .loadavg:
            let host = root.read(file.hostPath, sizeHint: 128) ?? []
            guard let sampler = loadavgSampler else { return host }
            guard let m = membership(of: pid) else { return fallback(file, pid, "process has no cgroup", host) }
            let reader = CgroupReader(root: root, layout: layout)
            guard let group = reader.taskGroup(m),
                  let load = sampler.load(of: group, reader: reader, now: Self.monotonicNanoseconds()) else {
                return fallback(file, pid, "cpu cgroup tasks unreadable", host)
            }
            return LoadavgRenderer.render(load)
        case .swaps:
            let host = root.read(file.hostPath, sizeHint: 256) ?? []
            guard let m = membership(of: pid) else { return fallback(file, pid, "process has no cgroup", host) }
            let meminfo = root.read(VirtualFile.meminfo.hostPath, sizeHint: 4096) ?? []
            let hostSwap = SwapFigures.hostSwapTotalKB(meminfo: meminfo[...])
            let reader = CgroupReader(root: root, layout: layout)
            guard let memory = reader.memory(m, swap: hostSwap > 0 && !options.disableSwap) else {
                return fallback(file, pid, "memory cgroup unreadable", host)
            }
            let swap = SwapFigures(hostSwapTotalKB: hostSwap, memory: memory, options: options)
            return SwapsRenderer.render(swap: swap)
        case .diskstats:
            let host = root.read(file.hostPath, sizeHint: 8192) ?? []
            guard let m = membership(of: pid) else { return fallback(file, pid, "process has no cgroup", host) }
            guard let io = CgroupReader(root: root, layout: layout).blockIO(m) else {
                return fallback(file, pid, "blkio/io cgroup unreadable", host)
            }
            return DiskstatsRenderer.render(host: host[...], io: io)
        case .slabinfo:
            let host = root.read(file.hostPath, sizeHint: 65536) ?? []
            let cgroup = membership(of: pid).flatMap { CgroupReader(root: root, layout: layout).kmemSlabinfo($0) }
            return SlabinfoRenderer.render(cgroup: cgroup, host: host)
        case .cpuPressure, .ioPressure, .memoryPressure:
            return renderPressure(file, for: pid) ?? []
        case .cpuPossible, .cpuPresent:
            return CPUOnlineRenderer.render(count: visibleCPUs(for: pid).count)
        case .cpuOffline:
            return CPUOfflineRenderer.render()
        case .meminfo, .cpuinfo, .stat, .uptime, .cpuOnline:
            return render(file, for: pid)
        }
    }

    /// A `/proc/pressure` file for `pid`: the cgroup's v2 file, else the host's.
    /// - Returns: `nil` when neither exists (the mount answers ENOENT).
    public func renderPressure(_ file: VirtualFile, for pid: Int32) -> [UInt8]? {
        guard let resource = file.pressureResource else { return nil }
        let host = root.read(file.hostPath, sizeHint: 256)
        let cgroup = membership(of: pid).flatMap { CgroupReader(root: root, layout: layout).pressure(resource, $0) }
        return PressureRenderer.render(cgroup: cgroup, host: host)
    }

    /// True when the mount should list `file`: the pressure files only where
    /// the host has `/proc/pressure` (PSI enabled); every other file always.
    public func serves(_ file: VirtualFile) -> Bool {
        if file.pressureResource != nil { return root.exists(file.hostPath) }
        return true
    }

    /// Starts the loadavg sampling thread (with `enableLoadavg` only); the
    /// daemon calls this once after mounting.
    public func startLoadavgSampler() {
        guard let sampler = loadavgSampler else { return }
        sampler.start { [self] in CgroupReader(root: root, layout: layout) }
    }
}
