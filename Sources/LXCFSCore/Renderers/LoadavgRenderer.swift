/// Renders `/proc/loadavg` from a cgroup's load: `A.AA B.BB C.CC R/T P\n`
/// (1, 5 and 15 minute averages rounded to hundredths as the kernel
/// rounds them, runnable and total tasks, the last pid).
package enum LoadavgRenderer {
    /// - Parameter load: the cgroup's load state (fixed-point averages, FSHIFT 11).
    /// - Returns: the file's bytes.
    package static func render(_ load: CgroupLoad) -> [UInt8] {
        var out = TextBuffer(capacity: 64)
        for (i, avg) in [load.average1, load.average5, load.average15].enumerated() {
            if i > 0 { out.append(byte: ByteParser.space) }
            // The kernel adds FIXED_1/200 so that the hundredths round to nearest.
            let a = avg + LoadAverage.fixed1 / 200
            out.append(a >> LoadAverage.fshift)
            out.append(byte: UInt8(ascii: "."))
            let frac = ((a & (LoadAverage.fixed1 - 1)) * 100) >> LoadAverage.fshift
            if frac < 10 { out.append(byte: UInt8(ascii: "0")) }
            out.append(frac)
        }
        out.append(byte: ByteParser.space)
        out.append(UInt64(load.running))
        out.append(byte: UInt8(ascii: "/"))
        out.append(UInt64(load.total))
        out.append(byte: ByteParser.space)
        out.append(UInt64(max(load.lastPid.rawValue, 0)))
        out.append(byte: ByteParser.newline)
        return out.bytes
    }
}
