/// A set of CPU numbers as the kernel prints it in `cpuset.cpus`,
/// `cpuset.effective_cpus`, `cpuset.cpus.effective` and
/// `/sys/devices/system/cpu/online`: comma-separated numbers and ranges,
/// such as `0-3,8,10-11`.
public struct CPUList: Sendable, Hashable, CustomStringConvertible {
    /// The CPU numbers, ascending, without duplicates.
    public let cpus: [Int]

    /// - Parameter cpus: CPU numbers in any order; duplicates are dropped.
    public init(_ cpus: [Int]) {
        self.cpus = Array(Set(cpus)).sorted()
    }

    /// Parses the kernel's list format.
    /// - Returns: the list, or `nil` when the text is empty or malformed.
    public init?(parsing bytes: ArraySlice<UInt8>) {
        var result: [Int] = []
        let text = ByteParser.words(bytes).first ?? []
        guard !text.isEmpty else { return nil }
        for part in text.split(separator: ByteParser.comma) {
            let ends = part.split(separator: ByteParser.minus, omittingEmptySubsequences: false)
            guard ends.count == 1 || ends.count == 2,
                  let lo = ByteParser.integer(ends[0]), lo >= 0, lo < 1 << 16 else { return nil }
            let hi = ends.count == 2 ? ByteParser.integer(ends[1]) : lo
            guard let hi, hi >= lo, hi < 1 << 16 else { return nil }
            result.append(contentsOf: Int(lo)...Int(hi))
        }
        self.init(result)
    }

    /// Parses the kernel's list format from a string.
    public init?(_ text: String) {
        self.init(parsing: Array(text.utf8)[...])
    }

    /// The number of CPUs in the list.
    public var count: Int { cpus.count }

    /// The kernel's compact format, such as `0-3,8`.
    public var description: String {
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
