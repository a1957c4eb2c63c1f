/// Renders `/proc/meminfo` for a cgroup: MemTotal, MemFree, MemAvailable,
/// the page-cache and anon lines and swap from the cgroup; every other line
/// is the host's. Values are printed in kB (bytes / 1024, rounded down) in
/// the kernel's layout: key and colon padded to 16 characters, the value
/// right-aligned in 8, then ` kB`.
public enum MeminfoRenderer {
    /// - Parameters:
    ///   - host: the host's `/proc/meminfo`.
    ///   - memory: the cgroup's memory figures (bytes).
    ///   - options: `disableSwap` zeroes SwapTotal and SwapFree.
    /// - Returns: the file's bytes.
    public static func render(host: ArraySlice<UInt8>, memory m: MemoryUsage, options: ViewOptions) -> [UInt8] {
        let lines = ByteParser.lines(host)
        var hostKB: [String: UInt64] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ByteParser.colon) else { continue }
            let key = String(decoding: line[..<colon], as: UTF8.self)
            if let v = ByteParser.words(line[(colon + 1)...]).first.flatMap(ByteParser.unsigned) { hostKB[key] = v }
        }
        let kb: (UInt64) -> UInt64 = { $0 / 1024 }
        let hostTotal = hostKB["MemTotal"] ?? UInt64.max
        let hostFree = hostKB["MemFree"] ?? UInt64.max
        let hostSwap = hostKB["SwapTotal"] ?? 0
        let s = m.stat

        let total = min(m.limit.map(kb) ?? hostTotal, hostTotal)
        var free: UInt64
        if let room = m.headroom {
            free = kb(room)
        } else {
            let used = kb(m.usage ?? 0)
            free = total > used ? total - used : 0
        }
        free = min(free, hostFree, total)
        let reclaimable = kb(s.activeFile) + kb(s.inactiveFile) + kb(s.slabReclaimable)
        let (sum, overflow) = free.addingReportingOverflow(reclaimable)
        let available = min(overflow ? UInt64.max : sum, total)
        // Shared with /proc/swaps so that the two files always agree.
        let swap = SwapFigures(hostSwapTotalKB: hostSwap, memory: m, options: options)
        let swapTotal = swap.totalKB
        let swapFree = swap.freeKB

        var out = TextBuffer(capacity: host.count + 64)
        for line in lines {
            let value: UInt64?
            if let colon = line.firstIndex(of: ByteParser.colon) {
                value = replacement(line[..<colon])
            } else {
                value = nil
            }
            if let value, let colon = line.firstIndex(of: ByteParser.colon) {
                let key = line[...colon]
                out.append(key)
                if key.count < 16 { out.bytes.append(contentsOf: repeatElement(ByteParser.space, count: 16 - key.count)) }
                out.append(value, width: 8)
                out.append(" kB\n")
            } else {
                out.append(line)
                out.append(byte: ByteParser.newline)
            }
        }
        return out.bytes

        func replacement(_ key: ArraySlice<UInt8>) -> UInt64? {
            switch String(decoding: key, as: UTF8.self) {
            case "MemTotal": return total
            case "MemFree": return free
            case "MemAvailable": return available
            case "Buffers": return 0
            case "Cached": return kb(s.cache)
            case "Active": return kb(s.activeAnon) + kb(s.activeFile)
            case "Inactive": return kb(s.inactiveAnon) + kb(s.inactiveFile)
            case "Active(anon)": return kb(s.activeAnon)
            case "Inactive(anon)": return kb(s.inactiveAnon)
            case "Active(file)": return kb(s.activeFile)
            case "Inactive(file)": return kb(s.inactiveFile)
            case "Unevictable": return kb(s.unevictable)
            case "SwapTotal": return swapTotal
            case "SwapFree": return swapFree
            case "Dirty": return kb(s.dirty)
            case "Writeback": return kb(s.writeback)
            case "AnonPages": return kb(s.anon)
            case "Mapped": return kb(s.mapped)
            case "Shmem": return kb(s.shmem)
            case "Slab": return kb(s.slab)
            case "SReclaimable": return kb(s.slabReclaimable)
            case "SUnreclaim": return kb(s.slabUnreclaimable)
            default: return nil
            }
        }
    }
}
