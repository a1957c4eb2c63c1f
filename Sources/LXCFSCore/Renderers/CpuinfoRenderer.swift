/// Renders `/proc/cpuinfo`: the blocks of the visible host CPUs, in
/// ascending order, with the `processor` field renumbered from 0 and every
/// other field unchanged.
package enum CpuinfoRenderer {
    /// - Parameters:
    ///   - host: the host's `/proc/cpuinfo` (blocks separated by blank lines,
    ///     each starting with `processor : N`).
    ///   - visible: the host CPU numbers to show, ascending.
    /// - Returns: the file's bytes; the host's file when it has no `processor` blocks.
    package static func render(host: ArraySlice<UInt8>, visible: [Int]) -> [UInt8] {
        // Which host CPU numbers to keep, as a table indexed by CPU number.
        var keep = [Bool](repeating: false, count: (visible.max() ?? -1) + 1)
        for cpu in visible where cpu >= 0 { keep[cpu] = true }
        var out = TextBuffer(capacity: host.count)
        var next = 0
        var sawBlock = false
        var blockStart = host.startIndex
        // Walk blocks: a block ends at "\n\n" or at the end of the file.
        while blockStart < host.endIndex {
            var i = blockStart
            var end = host.endIndex
            while let nl = ByteParser.firstIndex(of: ByteParser.newline, in: host[i...]) {
                if nl + 1 < host.endIndex, host[nl + 1] == ByteParser.newline {
                    end = nl + 2
                    break
                }
                i = nl + 1
            }
            let block = host[blockStart..<end]
            blockStart = end
            guard ByteParser.hasPrefix(block, "processor") else {
                if !sawBlock { out.append(block) }
                continue
            }
            sawBlock = true
            let firstLineEnd = ByteParser.firstIndex(of: ByteParser.newline, in: block) ?? block.endIndex
            let firstLine = block[block.startIndex..<firstLineEnd]
            guard let colon = ByteParser.firstIndex(of: ByteParser.colon, in: firstLine),
                  let n = ByteParser.firstWord(firstLine[(colon + 1)...]).flatMap(ByteParser.integer),
                  n >= 0, n < keep.count, keep[Int(n)] else { continue }
            out.append(block[block.startIndex...colon])
            out.append(byte: ByteParser.space)
            out.append(UInt64(next))
            out.append(block[firstLineEnd...])
            next += 1
        }
        return sawBlock ? out.bytes : Array(host)
    }
}
