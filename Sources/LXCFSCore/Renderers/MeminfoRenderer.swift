#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The host's own figures a meminfo view starts from (kB, as its
/// `/proc/meminfo` prints them).
package struct HostMeminfo: Sendable, Equatable {
    /// MemTotal; `UInt64.max` when the line is missing.
    package var memTotalKB: KiB = .max
    /// MemFree; `UInt64.max` when the line is missing.
    package var memFreeKB: KiB = .max
    /// SwapTotal; 0 when the line is missing.
    package var swapTotalKB: KiB = 0

    package init(memTotalKB: KiB = .max, memFreeKB: KiB = .max, swapTotalKB: KiB = 0) {
        self.memTotalKB = memTotalKB
        self.memFreeKB = memFreeKB
        self.swapTotalKB = swapTotalKB
    }

    /// Reads the three lines from the host's `/proc/meminfo`, in one pass
    /// that stops when all three are in; keys compared as bytes.
    package init(parsing host: ArraySlice<UInt8>) {
        var found = (total: false, free: false, swap: false)
        ByteParser.forEachLine(while: host) { line in
            guard let colon = ByteParser.firstIndex(of: ByteParser.colon, in: line) else { return true }
            let key = line[..<colon]
            let isTotal = ByteParser.equals(key, "MemTotal")
            let isFree = !isTotal && ByteParser.equals(key, "MemFree")
            let isSwap = !isTotal && !isFree && ByteParser.equals(key, "SwapTotal")
            guard isTotal || isFree || isSwap,
                  let v = ByteParser.firstWord(line[(colon + 1)...]).flatMap(ByteParser.unsigned) else { return true }
            if isTotal { memTotalKB = KiB(v); found.total = true }
            else if isFree { memFreeKB = KiB(v); found.free = true }
            else { swapTotalKB = KiB(v); found.swap = true }
            // The kernel prints each key once.
            return !(found.total && found.free && found.swap)
        }
    }
}

/// The figures of a cgroup's `/proc/meminfo`, in kB (bytes / 1024, rounded
/// down), computed by the rules in one place so that each is tested
/// without parsing text:
///
/// - MemTotal: the smallest limit over the ancestors, never above the host's.
/// - MemFree: the smallest headroom over the levels with a limit (with no
///   limit anywhere, MemTotal minus the cgroup's usage), never below 0 and
///   never above the host's MemFree or MemTotal.
/// - MemAvailable: MemFree plus the active and inactive file pages and the
///   reclaimable slab, never above MemTotal.
/// - SwapTotal and SwapFree: as `SwapFigures`.
/// - The page-cache and anon lines from `memory.stat`; Buffers 0.
/// - Zswap and Zswapped: the cgroup's `zswap` and `zswapped` (cgroup v2;
///   0 on v1, and 0 with `disableZswap`), as lxcfs 7 shows them.
package struct MeminfoFigures: Sendable, Equatable {
    package var memTotal: KiB
    package var memFree: KiB
    package var memAvailable: KiB
    package var swapTotal: KiB
    package var swapFree: KiB
    package var cached: KiB
    package var shmem: KiB
    package var activeAnon: KiB
    package var inactiveAnon: KiB
    package var activeFile: KiB
    package var inactiveFile: KiB
    package var unevictable: KiB
    package var mapped: KiB
    package var anonPages: KiB
    package var dirty: KiB
    package var writeback: KiB
    package var slab: KiB
    package var sReclaimable: KiB
    package var sUnreclaim: KiB
    package var zswap: KiB
    package var zswapped: KiB
    /// Active(anon) + Active(file).
    package var active: KiB { activeAnon + activeFile }
    /// Inactive(anon) + Inactive(file).
    package var inactive: KiB { inactiveAnon + inactiveFile }

    /// - Parameters:
    ///   - host: the host's MemTotal, MemFree and SwapTotal.
    ///   - memory: the cgroup's memory figures (bytes).
    ///   - options: `disableSwap` zeroes SwapTotal and SwapFree, `disableZswap` Zswap and Zswapped.
    package init(host: HostMeminfo, memory m: MemoryUsage, options: ViewOptions) {
        let kb = KiB.init(bytes:)
        let s = m.stat
        memTotal = min(m.limit.map(kb) ?? host.memTotalKB, host.memTotalKB)
        // The smallest headroom; with no limit anywhere, MemTotal less the
        // cgroup's own usage (never below 0: KiB's subtraction stops at 0).
        let free = m.headroom.map(kb) ?? (memTotal - kb(m.usage ?? 0))
        memFree = min(free, host.memFreeKB, memTotal)
        memAvailable = min(memFree + kb(s.activeFile) + kb(s.inactiveFile) + kb(s.slabReclaimable), memTotal)
        // Shared with /proc/swaps so that the two files always agree.
        let swap = SwapFigures(hostSwapTotalKB: host.swapTotalKB, memory: m, options: options)
        swapTotal = swap.totalKB
        swapFree = swap.freeKB
        cached = kb(s.cache)
        shmem = kb(s.shmem)
        activeAnon = kb(s.activeAnon)
        inactiveAnon = kb(s.inactiveAnon)
        activeFile = kb(s.activeFile)
        inactiveFile = kb(s.inactiveFile)
        unevictable = kb(s.unevictable)
        mapped = kb(s.mapped)
        anonPages = kb(s.anon)
        dirty = kb(s.dirty)
        writeback = kb(s.writeback)
        slab = kb(s.slab)
        sReclaimable = kb(s.slabReclaimable)
        sUnreclaim = kb(s.slabUnreclaimable)
        zswap = options.disableZswap ? 0 : kb(s.zswap)
        zswapped = options.disableZswap ? 0 : kb(s.zswapped)
    }
}

/// Renders `/proc/meminfo` for a cgroup: the lines `MeminfoFigures` gives
/// replaced, every other line the host's. Values in the kernel's layout:
/// key and colon padded to 16 characters, the value right-aligned in 8,
/// then ` kB`.
package enum MeminfoRenderer {
    /// - Parameters:
    ///   - host: the host's `/proc/meminfo`.
    ///   - figures: the cgroup's figures (kB).
    /// - Returns: the file's bytes.
    package static func render(host: ArraySlice<UInt8>, figures f: MeminfoFigures) -> [UInt8] {
        var out = TextBuffer(capacity: host.count + 64)
        ByteParser.forEachLineBuffer(host) { line in
            if let base = line.baseAddress, let hit = memchr(base, Int32(ByteParser.colon), line.count) {
                let colon = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
                if let value = replacement(UnsafeBufferPointer(rebasing: line[..<colon]), f) {
                    out.append(UnsafeBufferPointer(rebasing: line[...colon]))
                    var pad = 15 - colon
                    while pad > 0 { out.append(byte: ByteParser.space); pad -= 1 }
                    out.append(value.rawValue, width: 8)
                    out.append(" kB\n")
                    return
                }
            }
            out.append(line)
            out.append(byte: ByteParser.newline)
        }
        return out.bytes
    }

    /// The figure that replaces the host's line `key`, or `nil` to keep it.
    /// Dispatches on the key's length first: most host lines are rejected
    /// after one comparison.
    @inline(__always)
    static func replacement(_ key: UnsafeBufferPointer<UInt8>, _ f: MeminfoFigures) -> KiB? {
            switch key.count {
            case 4:
                if ByteParser.equals(key, "Slab") { return f.slab }
            case 5:
                if ByteParser.equals(key, "Dirty") { return f.dirty }
                if ByteParser.equals(key, "Shmem") { return f.shmem }
                if ByteParser.equals(key, "Zswap") { return f.zswap }
            case 6:
                if ByteParser.equals(key, "Cached") { return f.cached }
                if ByteParser.equals(key, "Active") { return f.active }
                if ByteParser.equals(key, "Mapped") { return f.mapped }
            case 7:
                if ByteParser.equals(key, "MemFree") { return f.memFree }
                if ByteParser.equals(key, "Buffers") { return 0 }
            case 8:
                if ByteParser.equals(key, "MemTotal") { return f.memTotal }
                if ByteParser.equals(key, "Inactive") { return f.inactive }
                if ByteParser.equals(key, "SwapFree") { return f.swapFree }
                if ByteParser.equals(key, "Zswapped") { return f.zswapped }
            case 9:
                if ByteParser.equals(key, "SwapTotal") { return f.swapTotal }
                if ByteParser.equals(key, "Writeback") { return f.writeback }
                if ByteParser.equals(key, "AnonPages") { return f.anonPages }
            case 10:
                if ByteParser.equals(key, "SUnreclaim") { return f.sUnreclaim }
            case 11:
                if ByteParser.equals(key, "Unevictable") { return f.unevictable }
            case 12:
                if ByteParser.equals(key, "MemAvailable") { return f.memAvailable }
                if ByteParser.equals(key, "Active(anon)") { return f.activeAnon }
                if ByteParser.equals(key, "Active(file)") { return f.activeFile }
                if ByteParser.equals(key, "SReclaimable") { return f.sReclaimable }
            case 14:
                if ByteParser.equals(key, "Inactive(anon)") { return f.inactiveAnon }
                if ByteParser.equals(key, "Inactive(file)") { return f.inactiveFile }
            default:
                break
            }
            return nil
    }

    /// Renders from the host's file and the cgroup's memory figures.
    package static func render(host: ArraySlice<UInt8>, memory: MemoryUsage, options: ViewOptions) -> [UInt8] {
        render(host: host, figures: MeminfoFigures(host: HostMeminfo(parsing: host), memory: memory, options: options))
    }
}
