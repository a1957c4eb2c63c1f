import CLinux
import LXCFSCore
import LXCFSSeccomp
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class SysinfoTests: XCTestCase {
    func figures(memTotal: UInt64 = 307200, memFree: UInt64 = 250000, procs: UInt64 = 3) -> SystemInfoFigures {
        SystemInfoFigures(uptimeSeconds: 3723, loadHundredths: [52, 100, 1], memTotal: KiB(memTotal),
                          memFree: KiB(memFree), shmem: 12, buffers: 0, swapTotal: 1024, swapFree: 1000, procs: procs)
    }

    func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
    }

    /// The offsets are glibc's struct sysinfo's (the same as the kernel's on a 64-bit host).
    func testLayoutIsGlibcsStructSysinfo() {
        XCTAssertEqual(SysinfoLayout.size, MemoryLayout<sysinfo>.size)
        XCTAssertEqual(SysinfoLayout.uptimeOffset, MemoryLayout<sysinfo>.offset(of: \.uptime))
        XCTAssertEqual(SysinfoLayout.loadsOffset, MemoryLayout<sysinfo>.offset(of: \.loads))
        XCTAssertEqual(SysinfoLayout.totalRAMOffset, MemoryLayout<sysinfo>.offset(of: \.totalram))
        XCTAssertEqual(SysinfoLayout.freeRAMOffset, MemoryLayout<sysinfo>.offset(of: \.freeram))
        XCTAssertEqual(SysinfoLayout.sharedRAMOffset, MemoryLayout<sysinfo>.offset(of: \.sharedram))
        XCTAssertEqual(SysinfoLayout.bufferRAMOffset, MemoryLayout<sysinfo>.offset(of: \.bufferram))
        XCTAssertEqual(SysinfoLayout.totalSwapOffset, MemoryLayout<sysinfo>.offset(of: \.totalswap))
        XCTAssertEqual(SysinfoLayout.freeSwapOffset, MemoryLayout<sysinfo>.offset(of: \.freeswap))
        XCTAssertEqual(SysinfoLayout.procsOffset, MemoryLayout<sysinfo>.offset(of: \.procs))
        XCTAssertEqual(SysinfoLayout.totalHighOffset, MemoryLayout<sysinfo>.offset(of: \.totalhigh))
        XCTAssertEqual(SysinfoLayout.freeHighOffset, MemoryLayout<sysinfo>.offset(of: \.freehigh))
        XCTAssertEqual(SysinfoLayout.memUnitOffset, MemoryLayout<sysinfo>.offset(of: \.mem_unit))
    }

    /// Read back through glibc's struct, as a caller would.
    func testEncodedFiguresInBytesWithLoadsInSixteenBitFixedPoint() {
        let bytes = SysinfoLayout.encode(figures())
        var info = sysinfo()
        withUnsafeMutableBytes(of: &info) { $0.copyBytes(from: bytes) }
        XCTAssertEqual(info.uptime, 3723)
        // 0.52 * 65536 = 34078.72, 1.00 * 65536, 0.01 * 65536 = 655.36, rounded up...
        XCTAssertEqual(info.loads.0, 34079)
        XCTAssertEqual(info.loads.1, 65536)
        XCTAssertEqual(info.loads.2, 656)
        // ...so that busybox's and procps' ((x & 0xffff) * 100) >> 16 prints 52, 0 and 1 hundredths.
        XCTAssertEqual(((34079 & 0xffff) * 100) >> 16, 52)
        XCTAssertEqual(((656 & 0xffff) * 100) >> 16, 1)
        XCTAssertEqual(info.mem_unit, 1)
        XCTAssertEqual(info.totalram, 314_572_800) // 307200 kB
        XCTAssertEqual(info.freeram, 256_000_000)  // 250000 kB
        XCTAssertEqual(info.sharedram, 12288)
        XCTAssertEqual(info.bufferram, 0)
        XCTAssertEqual(info.totalswap, 1_048_576)
        XCTAssertEqual(info.freeswap, 1_024_000)
        XCTAssertEqual(info.procs, 3)
        XCTAssertEqual(info.totalhigh, 0)
        XCTAssertEqual(info.freehigh, 0)
    }

    func testAFigureTooLargeForBytesIsSentInKilobytesAndProcsAreCut() {
        let huge: UInt64 = 1 << 60
        let bytes = SysinfoLayout.encode(figures(memTotal: huge, procs: 70000))
        XCTAssertEqual(u64(bytes, SysinfoLayout.totalRAMOffset), huge)
        XCTAssertEqual(u64(bytes, SysinfoLayout.freeRAMOffset), 250000)
        XCTAssertEqual(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: SysinfoLayout.memUnitOffset, as: UInt32.self) }, 1024)
        XCTAssertEqual(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: SysinfoLayout.procsOffset, as: UInt16.self) }, 65535)
    }

    func testFiguresAreReadBackFromRenderings() {
        let meminfo = """
            MemTotal:         307200 kB
            MemFree:          250000 kB
            MemAvailable:     260000 kB
            Buffers:               0 kB
            Cached:             1000 kB
            SwapTotal:          1024 kB
            SwapFree:           1000 kB
            Shmem:                12 kB

            """
        let figures = SystemInfoFigures(meminfo: Array(meminfo.utf8)[...], uptime: Array("3723.99 100.00\n".utf8)[...],
                                        loadavg: Array("0.52 1.00 0.01 1/3 7\n".utf8)[...], procs: 3)
        XCTAssertEqual(figures, self.figures())
    }

    func testRenderingsWithoutMemTotalOrLoadsAreNoFigures() {
        XCTAssertNil(SystemInfoFigures(meminfo: Array("MemFree: 1 kB\n".utf8)[...], uptime: Array("1.00 1.00\n".utf8)[...],
                                       loadavg: Array("0.00 0.00 0.00 1/1 1\n".utf8)[...], procs: 1))
        XCTAssertNil(SystemInfoFigures(meminfo: Array("MemTotal: 2 kB\nMemFree: 1 kB\n".utf8)[...],
                                       uptime: Array("1.00 1.00\n".utf8)[...], loadavg: Array("0.00\n".utf8)[...], procs: 1))
    }

    func testOnlyTheNativeSysinfoIsAnswered() {
        XCTAssertTrue(SyscallTable.isSysinfo(arch: 0xC000_003E, nr: 99, native: SyscallTable.x86_64))
        XCTAssertFalse(SyscallTable.isSysinfo(arch: 0xC000_003E, nr: 98, native: SyscallTable.x86_64))
        // i386 (AUDIT_ARCH_I386) sysinfo is 116, with a 32-bit struct: the kernel answers.
        XCTAssertFalse(SyscallTable.isSysinfo(arch: 0x4000_0003, nr: 116, native: SyscallTable.x86_64))
        XCTAssertFalse(SyscallTable.isSysinfo(arch: 0xC000_00B7, nr: 99, native: SyscallTable.x86_64))
        XCTAssertTrue(SyscallTable.isSysinfo(arch: 0xC000_00B7, nr: 179, native: SyscallTable.aarch64))
        XCTAssertFalse(SyscallTable.isSysinfo(arch: 0xC000_003E, nr: 99, native: nil))
    }
}
