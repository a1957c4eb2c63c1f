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
public enum DiskstatsRenderer {
    /// - Parameters:
    ///   - host: the host's `/proc/diskstats` (device names and column count).
    ///   - io: the cgroup's I/O per device.
    /// - Returns: the file's bytes (empty when the cgroup did no I/O).
    public static func render(host: ArraySlice<UInt8>, io: [DeviceNumber: BlockIOStat]) -> [UInt8] {
        var out = TextBuffer(capacity: 256)
        for line in ByteParser.lines(host) {
            let w = ByteParser.words(line)
            guard w.count >= 3, let ma = ByteParser.unsigned(w[0]), let mi = ByteParser.unsigned(w[1]),
                  ma <= UInt64(UInt32.max), mi <= UInt64(UInt32.max) else { continue }
            guard let s = io[DeviceNumber(major: UInt32(ma), minor: UInt32(mi))], !s.isIdle else { continue }
            let ms: (UInt64) -> UInt64 = { $0 / 1_000_000 }
            let fields: [UInt64] = [
                s.reads, s.readsMerged, s.readBytes / 512, ms(s.readNanoseconds),
                s.writes, s.writesMerged, s.writeBytes / 512, ms(s.writeNanoseconds),
                0, ms(s.busyNanoseconds), 0,
                s.discards, s.discardsMerged, s.discardBytes / 512, ms(s.discardNanoseconds),
                0, 0,
            ]
            let count = min(max(w.count - 3, 11), fields.count)
            out.append(ma, width: 4)
            out.append(byte: ByteParser.space)
            out.append(mi, width: 7)
            out.append(byte: ByteParser.space)
            out.append(w[2])
            for f in fields.prefix(count) {
                out.append(byte: ByteParser.space)
                out.append(f)
            }
            out.append(byte: ByteParser.newline)
        }
        return out.bytes
    }
}
