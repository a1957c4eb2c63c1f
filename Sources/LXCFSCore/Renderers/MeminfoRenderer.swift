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
        // One pass for the three host values needed; keys compared as bytes.
        var hostTotal = UInt64.max
        var hostFree = UInt64.max
        var hostSwap: UInt64 = 0
        var found = (total: false, free: false, swap: false)
        ByteParser.forEachLine(while: host) { line in
            guard let colon = ByteParser.firstIndex(of: ByteParser.colon, in: line) else { return true }
            let key = line[..<colon]
            let isTotal = ByteParser.equals(key, "MemTotal")
            let isFree = !isTotal && ByteParser.equals(key, "MemFree")
            let isSwap = !isTotal && !isFree && ByteParser.equals(key, "SwapTotal")
            guard isTotal || isFree || isSwap,
                  let v = ByteParser.firstWord(line[(colon + 1)...]).flatMap(ByteParser.unsigned) else { return true }
            if isTotal { hostTotal = v; found.total = true }
            else if isFree { hostFree = v; found.free = true }
            else { hostSwap = v; found.swap = true }
            // The kernel prints each key once: stop when all three are in.
            return !(found.total && found.free && found.swap)
        }
        let kb: (UInt64) -> UInt64 = { $0 / 1024 }
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
        ByteParser.forEachLine(host) { line in
            if let colon = ByteParser.firstIndex(of: ByteParser.colon, in: line), let value = replacement(line[..<colon]) {
                let key = line[...colon]
                out.append(key)
                var pad = 16 - key.count
                while pad > 0 { out.append(byte: ByteParser.space); pad -= 1 }
                out.append(value, width: 8)
                out.append(" kB\n")
            } else {
                out.append(line)
                out.append(byte: ByteParser.newline)
            }
        }
        return out.bytes

        // Dispatch on the key's length first: most host lines are rejected
        // after one comparison.
        func replacement(_ key: ArraySlice<UInt8>) -> UInt64? {
            switch key.count {
            case 4:
                if ByteParser.equals(key, "Slab") { return kb(s.slab) }
            case 5:
                if ByteParser.equals(key, "Dirty") { return kb(s.dirty) }
                if ByteParser.equals(key, "Shmem") { return kb(s.shmem) }
            case 6:
                if ByteParser.equals(key, "Cached") { return kb(s.cache) }
                if ByteParser.equals(key, "Active") { return kb(s.activeAnon) + kb(s.activeFile) }
                if ByteParser.equals(key, "Mapped") { return kb(s.mapped) }
            case 7:
                if ByteParser.equals(key, "MemFree") { return free }
                if ByteParser.equals(key, "Buffers") { return 0 }
            case 8:
                if ByteParser.equals(key, "MemTotal") { return total }
                if ByteParser.equals(key, "Inactive") { return kb(s.inactiveAnon) + kb(s.inactiveFile) }
                if ByteParser.equals(key, "SwapFree") { return swapFree }
            case 9:
                if ByteParser.equals(key, "SwapTotal") { return swapTotal }
                if ByteParser.equals(key, "Writeback") { return kb(s.writeback) }
                if ByteParser.equals(key, "AnonPages") { return kb(s.anon) }
            case 10:
                if ByteParser.equals(key, "SUnreclaim") { return kb(s.slabUnreclaimable) }
            case 11:
                if ByteParser.equals(key, "Unevictable") { return kb(s.unevictable) }
            case 12:
                if ByteParser.equals(key, "MemAvailable") { return available }
                if ByteParser.equals(key, "Active(anon)") { return kb(s.activeAnon) }
                if ByteParser.equals(key, "Active(file)") { return kb(s.activeFile) }
                if ByteParser.equals(key, "SReclaimable") { return kb(s.slabReclaimable) }
            case 14:
                if ByteParser.equals(key, "Inactive(anon)") { return kb(s.inactiveAnon) }
                if ByteParser.equals(key, "Inactive(file)") { return kb(s.inactiveFile) }
            default:
                break
            }
            return nil
        }
    }
}
