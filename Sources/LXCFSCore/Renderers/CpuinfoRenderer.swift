/// Renders `/proc/cpuinfo`: the blocks of the visible host CPUs, in
/// ascending order, with the `processor` field renumbered from 0 and every
/// other field unchanged.
public enum CpuinfoRenderer {
    /// - Parameters:
    ///   - host: the host's `/proc/cpuinfo` (blocks separated by blank lines,
    ///     each starting with `processor : N`).
    ///   - visible: the host CPU numbers to show, ascending.
    /// - Returns: the file's bytes; the host's file when it has no `processor` blocks.
    public static func render(host: ArraySlice<UInt8>, visible: [Int]) -> [UInt8] {
        let keep = Set(visible)
        var out = TextBuffer(capacity: host.count)
        var next = 0
        var sawBlock = false
        var blockStart = host.startIndex
        var i = host.startIndex
        // Walk blocks: a block ends at "\n\n" or at the end of the file.
        while blockStart < host.endIndex {
            i = blockStart
            var end = host.endIndex
            while i < host.endIndex {
                if host[i] == ByteParser.newline, i + 1 < host.endIndex, host[i + 1] == ByteParser.newline {
                    end = i + 2
                    break
                }
                i += 1
            }
            let block = host[blockStart..<end]
            blockStart = end
            guard ByteParser.hasPrefix(block, "processor") else {
                if !sawBlock { out.append(block) }
                continue
            }
            sawBlock = true
            let firstLineEnd = block.firstIndex(of: ByteParser.newline) ?? block.endIndex
            let firstLine = block[block.startIndex..<firstLineEnd]
            guard let colon = firstLine.firstIndex(of: ByteParser.colon),
                  let n = ByteParser.words(firstLine[(colon + 1)...]).first.flatMap(ByteParser.integer),
                  keep.contains(Int(n)) else { continue }
            out.append(block[block.startIndex...colon])
            out.append(byte: ByteParser.space)
            out.append(UInt64(next))
            out.append(block[firstLineEnd...])
            next += 1
        }
        return sawBlock ? out.bytes : Array(host)
    }
}
