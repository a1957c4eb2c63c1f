/// Renders `/proc/diskstats` for a cgroup: one line per host block device
/// the cgroup did I/O on, in the host file's order, in the kernel's layout
/// (`%4u %7u %s` then the counters, one space apart; proc(5)). Devices the
/// cgroup did not touch are left out.
///
/// The counters, in order: reads completed, reads merged, sectors read, ms
/// reading, writes completed, writes merged, sectors written, ms writing,
/// I/Os in progress (0), ms doing I/O, weighted ms (0), discards completed,
/// discards merged, sectors discarded, ms discarding, flushes (0), ms
/// flushing (0). Sectors are 512 bytes. As many counters are printed as the
/// host's line for the device has (at least the first 11).
package enum DiskstatsRenderer {
    /// - Parameters:
    ///   - host: the host's `/proc/diskstats` (device names and column count).
    ///   - io: the cgroup's I/O per device.
    /// - Returns: the file's bytes (empty when the cgroup did no I/O).
    package static func render(host: ArraySlice<UInt8>, io: [DeviceNumber: BlockIOStat]) -> [UInt8] {
        var out = TextBuffer(capacity: 256)
        ByteParser.forEachLine(host) { line in
            var i = line.startIndex
            guard let w0 = ByteParser.nextWord(line, from: &i), let w1 = ByteParser.nextWord(line, from: &i),
                  let name = ByteParser.nextWord(line, from: &i),
                  let ma = ByteParser.unsigned(w0), let mi = ByteParser.unsigned(w1),
                  ma <= UInt64(UInt32.max), mi <= UInt64(UInt32.max),
                  let s = io[DeviceNumber(major: UInt32(ma), minor: UInt32(mi))], !s.isIdle else { return }
            var hostCounters = 0
            while ByteParser.nextWord(line, from: &i) != nil { hostCounters += 1 }
            out.append(ma, width: 4)
            out.append(byte: ByteParser.space)
            out.append(mi, width: 7)
            out.append(byte: ByteParser.space)
            out.append(name)
            for k in 0..<min(max(hostCounters, 11), fieldCount) {
                out.append(byte: ByteParser.space)
                out.append(field(k, s))
            }
            out.append(byte: ByteParser.newline)
        }
        return out.bytes
    }

    /// How many counters a line can have (proc(5), kernel 5.5 and later).
    static let fieldCount = 17

    /// Counter `k` (0-based, in the order above) of a device's line.
    static func field(_ k: Int, _ s: BlockIOStat) -> UInt64 {
        let ms: (UInt64) -> UInt64 = { $0 / 1_000_000 }
        switch k {
        case 0: return s.reads
        case 1: return s.readsMerged
        case 2: return s.readBytes / 512
        case 3: return ms(s.readNanoseconds)
        case 4: return s.writes
        case 5: return s.writesMerged
        case 6: return s.writeBytes / 512
        case 7: return ms(s.writeNanoseconds)
        case 9: return ms(s.busyNanoseconds)
        case 11: return s.discards
        case 12: return s.discardsMerged
        case 13: return s.discardBytes / 512
        case 14: return ms(s.discardNanoseconds)
        default: return 0   // 8: in progress, 10: weighted, 15, 16: flushes
        }
    }
}
