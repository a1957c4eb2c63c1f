/// What sysinfo(2) reports, as the mount's files show it to one process:
/// each figure read back from the file the mount renders for that process
/// (`ContainerView.rendering`), so a system call and a read of the file
/// always agree and no rule is written twice.
///
/// - `uptime`: proc/uptime's first field, in whole seconds (rounded down).
/// - `loads`: proc/loadavg's three averages, in hundredths (the file's
///   precision): the container's with `-l`, the host's without.
/// - memory: proc/meminfo's MemTotal, MemFree, Shmem, Buffers, SwapTotal
///   and SwapFree, in kB.
/// - `procs`: the tasks (threads) of the container's cgroup and its
///   descendants (the cpu hierarchy's, whose tasks make the load average).
package struct SystemInfoFigures: Sendable, Equatable {
    /// Seconds since the container's pid namespace's init started.
    package var uptimeSeconds: UInt64
    /// The 1, 5 and 15 minute load averages in hundredths (0.52 is 52).
    package var loadHundredths: [UInt64]
    package var memTotal: KiB
    package var memFree: KiB
    package var shmem: KiB
    package var buffers: KiB
    package var swapTotal: KiB
    package var swapFree: KiB
    /// Tasks in the container.
    package var procs: UInt64

    package init(uptimeSeconds: UInt64, loadHundredths: [UInt64], memTotal: KiB, memFree: KiB, shmem: KiB,
                 buffers: KiB, swapTotal: KiB, swapFree: KiB, procs: UInt64) {
        self.uptimeSeconds = uptimeSeconds
        self.loadHundredths = loadHundredths
        self.memTotal = memTotal
        self.memFree = memFree
        self.shmem = shmem
        self.buffers = buffers
        self.swapTotal = swapTotal
        self.swapFree = swapFree
        self.procs = procs
    }

    /// Reads the figures from rendered files.
    /// - Parameters:
    ///   - meminfo: a proc/meminfo rendering (`Key:   N kB` lines).
    ///   - uptime: a proc/uptime rendering (`UPTIME IDLE`, seconds with hundredths).
    ///   - loadavg: a proc/loadavg rendering (`A.AA B.BB C.CC R/T P`).
    ///   - procs: the container's task count.
    /// - Returns: `nil` when MemTotal, MemFree, the uptime or the three
    ///   averages are missing or unparsable (a line the others lack counts 0).
    package init?(meminfo: ArraySlice<UInt8>, uptime: ArraySlice<UInt8>, loadavg: ArraySlice<UInt8>, procs: UInt64) {
        var values: [String: UInt64] = [:]
        let keys: Set<String> = ["MemTotal:", "MemFree:", "Shmem:", "Buffers:", "SwapTotal:", "SwapFree:"]
        ByteParser.forEachKeyValue(meminfo) { key, value in
            // The keys wanted are 6 to 10 bytes long (with the colon).
            guard key.count >= 6, key.count <= 10 else { return }
            let name = String(decoding: key, as: UTF8.self)
            if keys.contains(name) { values[name] = value }
        }
        guard let total = values["MemTotal:"], let free = values["MemFree:"],
              let up = ByteParser.firstWord(uptime).flatMap(UptimeRenderer.hundredths) else { return nil }
        let averages = ByteParser.words(loadavg).prefix(3).compactMap(UptimeRenderer.hundredths)
        guard averages.count == 3 else { return nil }
        self.init(uptimeSeconds: up / 100, loadHundredths: averages, memTotal: KiB(total), memFree: KiB(free),
                  shmem: KiB(values["Shmem:"] ?? 0), buffers: KiB(values["Buffers:"] ?? 0),
                  swapTotal: KiB(values["SwapTotal:"] ?? 0), swapFree: KiB(values["SwapFree:"] ?? 0), procs: procs)
    }
}

extension ContainerView {
    /// The sysinfo(2) figures for the process (or thread) `pid`, read back
    /// from proc/meminfo, proc/uptime and proc/loadavg as the mount renders
    /// them for it (the same container choice, rules and render cache).
    /// - Parameter pid: the caller's host pid or thread id.
    /// - Returns: `nil` when the caller has exited or has no cgroup, or a
    ///   rendering cannot be read back: the caller then gets the kernel's answer.
    package func systemInfo(for pid: Int32) -> SystemInfoFigures? {
        guard let membership = membership(of: pid) else { return nil }
        let reader = cgroupReader()
        guard let group = reader.loadavgCgroup(membership), let tasks = reader.threads(of: group) else { return nil }
        let meminfo = rendering(.meminfo, for: pid).bytes ?? []
        let uptime = rendering(.uptime, for: pid).bytes ?? []
        let loadavg = rendering(.loadavg, for: pid).bytes ?? []
        return SystemInfoFigures(meminfo: meminfo[...], uptime: uptime[...], loadavg: loadavg[...],
                                 procs: UInt64(tasks.count))
    }
}
