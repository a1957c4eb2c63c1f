import LXCFSCore

/// `struct sysinfo` (sysinfo(2), <linux/sysinfo.h>) as a 64-bit kernel
/// (x86-64, arm64: `long` of 8 bytes) lays it out, in the host's byte
/// order: 112 bytes.
///
///     offset  field                                    C type
///          0  uptime (seconds)                         long
///      8..31  loads[3] (fixed point, SI_LOAD_SHIFT 16) unsigned long
///         32  totalram, freeram, sharedram, bufferram,
///             totalswap, freeswap (mem_unit units)     unsigned long x 6
///         80  procs                                    unsigned short
///         88  totalhigh, freehigh (0)                  unsigned long x 2
///        104  mem_unit (bytes)                         unsigned int
package enum SysinfoLayout {
    /// sizeof(struct sysinfo) on a 64-bit kernel.
    package static let size = 112
    package static let uptimeOffset = 0
    package static let loadsOffset = 8
    package static let totalRAMOffset = 32
    package static let freeRAMOffset = 40
    package static let sharedRAMOffset = 48
    package static let bufferRAMOffset = 56
    package static let totalSwapOffset = 64
    package static let freeSwapOffset = 72
    package static let procsOffset = 80
    package static let totalHighOffset = 88
    package static let freeHighOffset = 96
    package static let memUnitOffset = 104
    /// The loads' fixed point: 1.0 is 1 << 16.
    package static let loadShift = 16

    /// The bytes of one `struct sysinfo` for `figures`.
    ///
    /// - `mem_unit` is 1 (bytes) when every memory figure fits in 64 bits as
    ///   bytes, otherwise 1024 (the figures in kB as rendered).
    /// - `loads[i]` is the average in hundredths scaled to 1 << 16, rounded
    ///   up, so that a caller that prints it as uptime(1) and busybox do
    ///   (`x >> 16`, `((x & 0xffff) * 100) >> 16`) prints the file's hundredths.
    /// - `procs` is cut to 65535; `totalhigh` and `freehigh` are 0.
    package static func encode(_ figures: SystemInfoFigures) -> [UInt8] {
        let memory = [figures.memTotal, figures.memFree, figures.shmem, figures.buffers,
                      figures.swapTotal, figures.swapFree].map(\.rawValue)
        let unit: UInt64 = memory.allSatisfy { $0 <= UInt64.max / 1024 } ? 1 : 1024
        let scaled = memory.map { unit == 1 ? $0 * 1024 : $0 }
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: Int64(clamping: figures.uptimeSeconds), toByteOffset: uptimeOffset, as: Int64.self)
            for (i, load) in figures.loadHundredths.prefix(3).enumerated() {
                let (shifted, overflow) = load.multipliedReportingOverflow(by: 1 << UInt64(loadShift))
                raw.storeBytes(of: overflow ? UInt64.max : (shifted + 99) / 100, toByteOffset: loadsOffset + 8 * i, as: UInt64.self)
            }
            for (i, value) in scaled.enumerated() {
                raw.storeBytes(of: value, toByteOffset: totalRAMOffset + 8 * i, as: UInt64.self)
            }
            raw.storeBytes(of: UInt16(clamping: figures.procs), toByteOffset: procsOffset, as: UInt16.self)
            raw.storeBytes(of: UInt32(unit), toByteOffset: memUnitOffset, as: UInt32.self)
        }
        return bytes
    }
}
