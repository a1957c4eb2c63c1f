/// A set of CPU numbers as the kernel prints it in `cpuset.cpus`,
/// `cpuset.effective_cpus`, `cpuset.cpus.effective` and
/// `/sys/devices/system/cpu/online`: comma-separated numbers and ranges,
/// such as `0-3,8,10-11`.
package struct CPUList: Sendable, Hashable, CustomStringConvertible {
    /// The CPU numbers, ascending, without duplicates.
    package let cpus: [Int]

    /// - Parameter cpus: CPU numbers in any order; duplicates are dropped.
    package init(_ cpus: [Int]) {
        self.cpus = Array(Set(cpus)).sorted()
    }

    /// Parses the kernel's list format.
    /// - Returns: the list, or `nil` when the text is empty or malformed.
    package init?(parsing bytes: ArraySlice<UInt8>) {
        guard let text = ByteParser.firstWord(bytes) else { return nil }
        var result: [Int] = []
        var ascending = true
        var start = text.startIndex
        // Comma-separated parts (empty parts skipped), each `N` or `LO-HI`.
        while start < text.endIndex {
            let end = ByteParser.firstIndex(of: ByteParser.comma, in: text[start...]) ?? text.endIndex
            let part = text[start..<end]
            start = end + 1
            if part.isEmpty { continue }
            let dash = ByteParser.firstIndex(of: ByteParser.minus, in: part)
            let loText = dash.map { part[..<$0] } ?? part
            let hiText = dash.map { part[($0 + 1)...] } ?? part
            guard ByteParser.firstIndex(of: ByteParser.minus, in: hiText) == nil || dash == nil,
                  let lo = ByteParser.integer(loText), lo >= 0, lo < 1 << 16,
                  let hi = ByteParser.integer(hiText), hi >= lo, hi < 1 << 16 else { return nil }
            if let last = result.last, last >= Int(lo) { ascending = false }
            result.append(contentsOf: Int(lo)...Int(hi))
        }
        // Well-formed lists come out ascending; anything else is sorted and deduplicated.
        cpus = ascending ? result : Array(Set(result)).sorted()
    }

    /// Parses the kernel's list format from a string.
    package init?(_ text: String) {
        self.init(parsing: Array(text.utf8)[...])
    }

    /// The number of CPUs in the list.
    package var count: Int { cpus.count }

    /// The kernel's compact format, such as `0-3,8`.
    package var description: String {
        var parts: [String] = []
        var i = 0
        while i < cpus.count {
            var j = i
            while j + 1 < cpus.count, cpus[j + 1] == cpus[j] + 1 { j += 1 }
            parts.append(i == j ? "\(cpus[i])" : "\(cpus[i])-\(cpus[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}
