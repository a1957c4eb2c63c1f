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
    /// SwapFree; `nil` when the line is missing.
    package var swapFreeKB: KiB?

    package init(memTotalKB: KiB = .max, memFreeKB: KiB = .max, swapTotalKB: KiB = 0, swapFreeKB: KiB? = nil) {
        self.memTotalKB = memTotalKB
        self.memFreeKB = memFreeKB
        self.swapTotalKB = swapTotalKB
        self.swapFreeKB = swapFreeKB
    }

    /// Reads the four lines from the host's `/proc/meminfo`, in one pass
    /// that stops when all four are in; keys compared as bytes.
    package init(parsing host: ArraySlice<UInt8>) {
        var found = 0
        ByteParser.forEachLine(while: host) { line in
            guard let colon = ByteParser.firstIndex(of: ByteParser.colon, in: line) else { return true }
            let key = line[..<colon]
            guard key.count == 7 || key.count == 8 || key.count == 9 else { return true }
            let isTotal = ByteParser.equals(key, "MemTotal")
            let isFree = !isTotal && ByteParser.equals(key, "MemFree")
            let isSwap = !isTotal && !isFree && ByteParser.equals(key, "SwapTotal")
            let isSwapFree = !isTotal && !isFree && !isSwap && ByteParser.equals(key, "SwapFree")
            guard isTotal || isFree || isSwap || isSwapFree,
                  let v = ByteParser.firstWord(line[(colon + 1)...]).flatMap(ByteParser.unsigned) else { return true }
            if isTotal { memTotalKB = KiB(v) }
            else if isFree { memFreeKB = KiB(v) }
            else if isSwap { swapTotalKB = KiB(v) }
            else { swapFreeKB = KiB(v) }
            found += 1
            // The kernel prints each key once.
            return found < 4
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
///   reclaimable slab that `memory.stat` reports, never above MemTotal.
/// - SwapTotal and SwapFree: as `SwapFigures`.
/// - The page-cache and anon lines from `memory.stat`; Buffers 0.
/// - Zswap and Zswapped: the cgroup's `zswap` and `zswapped` (cgroup v2;
///   0 on v1, and 0 with `disableZswap`), as lxcfs 7 shows them.
/// - Slab, SReclaimable, SUnreclaim from `memory.stat` (v2; on v1 as
///   `CgroupReader.memory` sets them: 0 under a limit, else absent).
///
/// A `nil` figure is one the cgroup does not report (its key is missing
/// from `memory.stat`): the host's line is shown, never 0.
package struct MeminfoFigures: Sendable, Equatable {
    package var memTotal: KiB
    package var memFree: KiB
    package var memAvailable: KiB
    package var swapTotal: KiB
    package var swapFree: KiB
    package var cached: KiB?
    package var shmem: KiB?
    package var activeAnon: KiB?
    package var inactiveAnon: KiB?
    package var activeFile: KiB?
    package var inactiveFile: KiB?
    package var unevictable: KiB?
    package var mapped: KiB?
    package var anonPages: KiB?
    package var dirty: KiB?
    package var writeback: KiB?
    package var slab: KiB?
    package var sReclaimable: KiB?
    package var sUnreclaim: KiB?
    package var zswap: KiB
    package var zswapped: KiB
    /// Active(anon) + Active(file); `nil` (the host's line) unless both are reported.
    package var active: KiB? { activeAnon.flatMap { a in activeFile.map { a + $0 } } }
    /// Inactive(anon) + Inactive(file); `nil` (the host's line) unless both are reported.
    package var inactive: KiB? { inactiveAnon.flatMap { a in inactiveFile.map { a + $0 } } }

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
        // Only what the cgroup reports counts: a host figure is not this cgroup's to reclaim.
        memAvailable = min(memFree + kb(s.activeFile ?? 0) + kb(s.inactiveFile ?? 0) + kb(s.slabReclaimable ?? 0),
                           memTotal)
        // Shared with /proc/swaps so that the two files always agree.
        let swap = SwapFigures(hostSwapTotalKB: host.swapTotalKB, memory: m, options: options,
                               hostSwapFreeKB: host.swapFreeKB)
        swapTotal = swap.totalKB
        swapFree = swap.freeKB
        cached = s.cache.map(kb)
        shmem = s.shmem.map(kb)
        activeAnon = s.activeAnon.map(kb)
        inactiveAnon = s.inactiveAnon.map(kb)
        activeFile = s.activeFile.map(kb)
        inactiveFile = s.inactiveFile.map(kb)
        unevictable = s.unevictable.map(kb)
        mapped = s.mapped.map(kb)
        anonPages = s.anon.map(kb)
        dirty = s.dirty.map(kb)
        writeback = s.writeback.map(kb)
        slab = s.slab.map(kb)
        sReclaimable = s.slabReclaimable.map(kb)
        sUnreclaim = s.slabUnreclaimable.map(kb)
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
