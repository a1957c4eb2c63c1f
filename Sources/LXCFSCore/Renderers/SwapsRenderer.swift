/// The swap a cgroup may use and has free, in kB, as both `/proc/meminfo`
/// (SwapTotal, SwapFree) and `/proc/swaps` show it, so the two always agree.
package struct SwapFigures: Sendable, Equatable {
    /// SwapTotal in kB: the cgroup's swap allowance, never more than the host's SwapTotal.
    package let totalKB: KiB
    /// SwapFree in kB: SwapTotal minus the cgroup's swap in use, clamped to
    /// 0...SwapTotal; where the cgroup reports no swap in use (v1 without
    /// swap accounting), the host's SwapFree, never above SwapTotal.
    package let freeKB: KiB

    /// - Parameters:
    ///   - hostSwapTotalKB: the host's SwapTotal (kB, from `/proc/meminfo`).
    ///   - memory: the cgroup's memory figures (bytes).
    ///   - options: `disableSwap` makes both 0.
    ///   - hostSwapFreeKB: the host's SwapFree (kB), used when the cgroup
    ///     reports no swap in use; `nil` when unknown (then SwapTotal).
    package init(hostSwapTotalKB: KiB, memory m: MemoryUsage, options: ViewOptions, hostSwapFreeKB: KiB? = nil) {
        var total = min(m.swapLimit.map(KiB.init(bytes:)) ?? hostSwapTotalKB, hostSwapTotalKB)
        if options.disableSwap { total = 0 }
        totalKB = total
        if let used = m.swapUsage {
            // Clamped to 0...SwapTotal: KiB's subtraction stops at 0.
            freeKB = total - KiB(bytes: used)
        } else {
            freeKB = min(hostSwapFreeKB ?? total, total)
        }
    }

    /// The host's SwapFree in kB from its `/proc/meminfo`; `nil` when absent.
    package static func hostSwapFreeKB(meminfo: ArraySlice<UInt8>) -> KiB? {
        HostMeminfo(parsing: meminfo).swapFreeKB
    }

    /// The host's SwapTotal in kB from its `/proc/meminfo`; 0 when absent.
    package static func hostSwapTotalKB(meminfo: ArraySlice<UInt8>) -> KiB {
        var total: UInt64 = 0
        ByteParser.forEachLine(while: meminfo) { line in
            guard ByteParser.hasPrefix(line, "SwapTotal:") else { return true }
            total = ByteParser.firstWord(line.dropFirst(10)).flatMap(ByteParser.unsigned) ?? 0
            return false
        }
        return KiB(total)
    }
}

/// Renders `/proc/swaps` for a cgroup, in lxcfs's layout: always the
/// header, and only when the cgroup may swap (SwapTotal above 0) one line
/// `none<36 spaces>virtual\t\tSIZE\tUSED\t0` with SIZE = SwapTotal and
/// USED = SwapTotal - SwapFree, in kB, the figures `/proc/meminfo` shows.
package enum SwapsRenderer {
    /// The header line of `/proc/swaps`, as the kernel and lxcfs print it.
    package static let header = "Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"

    /// - Parameter swap: the cgroup's SwapTotal and SwapFree (kB).
    /// - Returns: the file's bytes.
    package static func render(swap: SwapFigures) -> [UInt8] {
        var out = TextBuffer(capacity: 128)
        out.append(header)
        if swap.totalKB > 0 {
            out.append("none")
            out.bytes.append(contentsOf: repeatElement(ByteParser.space, count: 36))
            out.append("virtual\t\t")
            out.append(swap.totalKB.rawValue)
            out.append(byte: ByteParser.tab)
            out.append((swap.totalKB - swap.freeKB).rawValue)
            out.append("\t0\n")
        }
        return out.bytes
    }
}
