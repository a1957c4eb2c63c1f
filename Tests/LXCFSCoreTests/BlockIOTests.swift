import Synchronization
import XCTest
@testable import LXCFSCore

/// The v1 absent-name cache of the block-I/O code: a blkio file name the
/// kernel does not create (no CFQ, no BFQ debug counters) is tried once,
/// then left alone for its lifetime, in that hierarchy and scope only.
final class AbsentNameTests: XCTestCase {
    let cg = "/sys/fs/cgroup/blkio/lxc/c1/"
    let throttleLine = "   8       0 sda 5 0 16 0 7 0 32 0 0 0 0 0 0 0 0 0 0\n"

    /// A clock a test moves by hand.
    final class Clock: Sendable {
        let now = Atomic<UInt64>(1_000)
        func advance(_ ns: UInt64) { now.add(ns, ordering: .relaxed) }
    }

    /// A v1 host whose cgroup /lxc/c1 has only the throttle policy's
    /// files: 5 reads, 7 writes, 8 KiB read (16 sectors), 16 KiB written (32).
    func host() throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.write("/proc/self/mountinfo", "36 31 0:33 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n")
        try f.write("/proc/7/cgroup", "1:blkio:/lxc/c1\n")
        try f.write("/proc/diskstats", "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n")
        try f.write(cg + "blkio.throttle.io_serviced_recursive", "8:0 Read 5\n8:0 Write 7\n8:0 Total 12\nTotal 12\n")
        try f.write(cg + "blkio.throttle.io_service_bytes_recursive", "8:0 Read 8192\n8:0 Write 16384\n8:0 Total 24576\nTotal 24576\n")
        return f
    }

    func diskstats(_ f: FixtureRoot, _ names: AbsentCgroupFileNames) -> String {
        let files = DirectFileReader(root: f.root)
        let reader = CgroupReader(files: files, layout: CgroupLayout.discover(files), absentNames: names)
        let m = CgroupMembership(parsing: Array("1:blkio:/lxc/c1\n".utf8)[...])
        let io = reader.blockIO(m) ?? [:]
        return String(decoding: DiskstatsRenderer.render(host: Array(try! XCTUnwrap(files.read("/proc/diskstats", sizeHint: 256)))[...], io: io),
                      as: UTF8.self)
    }

    /// CFQ's counters (only its serviced file: no bytes), which win over the throttle policy's when present.
    func addCFQ(_ f: FixtureRoot) throws {
        try f.write(cg + "blkio.io_serviced_recursive", "8:0 Read 50\n8:0 Write 70\n8:0 Total 120\nTotal 120\n")
    }

    func testAnAbsentNameIsTriedOnceThenBelievedForItsLifetime() throws {
        let f = try host()
        let clock = Clock()
        let names = AbsentCgroupFileNames(lifetime: 10_000, clock: { clock.now.load(ordering: .relaxed) })
        XCTAssertEqual(diskstats(f, names), throttleLine)
        // CFQ's and BFQ's file names are absent: learnt, recursive and plain.
        XCTAssertTrue(names.isAbsent("/sys/fs/cgroup/blkio/*/", "blkio.io_serviced_recursive"))
        XCTAssertTrue(names.isAbsent("/sys/fs/cgroup/blkio/*/", "blkio.bfq.io_serviced"))
        XCTAssertFalse(names.isAbsent("/sys/fs/cgroup/blkio/*/", "blkio.throttle.io_serviced_recursive"))
        // CFQ's files appear (a scheduler loaded): within the lifetime they are not looked at.
        try addCFQ(f)
        clock.advance(9_999)
        XCTAssertEqual(diskstats(f, names), throttleLine)
        // Once the lifetime is over they are read, and win.
        clock.advance(1)
        XCTAssertEqual(diskstats(f, names), "   8       0 sda 50 0 0 0 70 0 0 0 0 0 0 0 0 0 0 0 0\n")
    }

    func testOnlyNoSuchFileInAFolderThatExistsTeachesAbsence() throws {
        let f = try host()
        let names = AbsentCgroupFileNames()
        let files = DirectFileReader(root: f.root)
        let reader = CgroupReader(files: files, layout: CgroupLayout.discover(files), absentNames: names)
        // The cgroup's folder is gone (removed meanwhile): nothing is learnt.
        let gone = CgroupMembership(parsing: Array("1:blkio:/lxc/gone\n".utf8)[...])
        XCTAssertNil(reader.blockIO(gone))
        XCTAssertEqual(names.count, 0)
        // A name that exists but cannot be read (a folder in its place) is not absent either.
        try FileManager.default.createDirectory(atPath: f.root.resolve(cg + "blkio.io_serviced_recursive"),
                                                withIntermediateDirectories: true)
        XCTAssertEqual(diskstats(f, names), throttleLine)
        XCTAssertFalse(names.isAbsent("/sys/fs/cgroup/blkio/*/", "blkio.io_serviced_recursive"))
        XCTAssertTrue(names.isAbsent("/sys/fs/cgroup/blkio/*/", "blkio.io_serviced"))
    }

    func testTheRootCgroupIsAScopeOfItsOwn() throws {
        // Absent from the root cgroup (files made for children only), present in a child.
        let f = try host()
        try f.write("/sys/fs/cgroup/blkio/blkio.throttle.io_serviced", "8:0 Read 1\n8:0 Total 1\nTotal 1\n")
        let names = AbsentCgroupFileNames()
        let files = DirectFileReader(root: f.root)
        let reader = CgroupReader(files: files, layout: CgroupLayout.discover(files), absentNames: names)
        _ = reader.blockIO(CgroupMembership(parsing: Array("1:blkio:/\n".utf8)[...]))
        XCTAssertTrue(names.isAbsent("/sys/fs/cgroup/blkio/", "blkio.throttle.io_serviced_recursive"))
        XCTAssertFalse(names.isAbsent("/sys/fs/cgroup/blkio/*/", "blkio.throttle.io_serviced_recursive"))
        XCTAssertEqual(diskstats(f, names), throttleLine)
    }

    func testV2ReadsIOStatAndLearnsNothing() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v2Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "0::/c\n")
        try f.write("/proc/diskstats", " 254       0 vda 1 2 3 4 5 6 7 8 9 10 11\n")
        // 3 reads of 4096 bytes in all (8 sectors), 2 writes of 1 MiB (2048 sectors).
        try f.write("/sys/fs/cgroup/c/io.stat", "254:0 rbytes=4096 wbytes=1048576 rios=3 wios=2 dbytes=0 dios=0\n")
        let names = AbsentCgroupFileNames()
        let view = ContainerView(root: f.root)
        XCTAssertEqual(view.render(.diskstats, for: 42).text, " 254       0 vda 3 0 8 0 2 0 2048 0 0 0 0\n")
        XCTAssertEqual(names.count, 0)
        XCTAssertEqual(view.absentNames.count, 0)
    }

    func testTheFirstFamilyThatCountsADeviceWins() throws {
        // BFQ lists the device with no I/O (it does not schedule it): the
        // throttle family's counters are used. With CFQ's present, CFQ's.
        let f = try host()
        try f.write(cg + "blkio.bfq.io_serviced_recursive", "8:0 Read 0\n8:0 Write 0\n8:0 Total 0\nTotal 0\n")
        XCTAssertEqual(diskstats(f, AbsentCgroupFileNames()), throttleLine)
        try addCFQ(f)
        XCTAssertEqual(diskstats(f, AbsentCgroupFileNames()), "   8       0 sda 50 0 0 0 70 0 0 0 0 0 0 0 0 0 0 0 0\n")
    }
}

/// The per-version backends give each value in one unit.
final class CgroupBackendTests: XCTestCase {
    func testCPUTimeIsNanosecondsOnBothVersions() throws {
        let f = try FixtureRoot()
        try f.write("/v1/cpuacct.usage_all", "cpu user system\n0 1500000000 250000000\n1 7 9\n")
        try f.write("/v2/cpu.stat", "usage_usec 1750000\nuser_usec 1500000\nsystem_usec 250000\n")
        let files = DirectFileReader(root: f.root)
        XCTAssertEqual(CgroupV1Backend().cpuTime("/v1", files), .perCPU([0: (1_500_000_000, 250_000_000), 1: (7, 9)]))
        XCTAssertEqual(CgroupV2Backend().cpuTime("/v2", files), .total(userNanoseconds: 1_500_000_000, systemNanoseconds: 250_000_000))
    }

    func testMemoryFiguresAreBytesOnBothVersions() throws {
        let f = try FixtureRoot()
        try f.write("/v1/memory.limit_in_bytes", "268435456\n")
        try f.write("/v1/memory.usage_in_bytes", "1000\n")
        try f.write("/v1/memory.memsw.limit_in_bytes", "536870912\n")
        try f.write("/v1/memory.memsw.usage_in_bytes", "1500\n")
        try f.write("/v2/memory.max", "268435456\n")
        try f.write("/v2/memory.current", "1000\n")
        try f.write("/v2/memory.swap.max", "268435456\n")
        try f.write("/v2/memory.swap.current", "500\n")
        let files = DirectFileReader(root: f.root)
        for (backend, dir) in [(CgroupV1Backend() as any CgroupBackend, "/v1"), (CgroupV2Backend(), "/v2")] {
            XCTAssertEqual(backend.memoryLimit(dir, files), 268_435_456, dir)
            XCTAssertEqual(backend.memoryUsage(dir, files), 1000, dir)
            // v1: 512 MiB memsw - 256 MiB memory; v2: swap.max itself.
            XCTAssertEqual(backend.swapAllowance([dir], memoryLimit: 268_435_456, files), 268_435_456, dir)
            // v1: 1500 - 1000; v2: swap.current.
            XCTAssertEqual(backend.swapUsage(dir, memoryUsage: 1000, files), 500, dir)
        }
        try f.write("/v2/memory.max", "max\n")
        XCTAssertNil(CgroupV2Backend().memoryLimit("/v2", files))
        try f.write("/v1/memory.limit_in_bytes", "9223372036854771712\n")
        XCTAssertNil(CgroupV1Backend().memoryLimit("/v1", files))
    }

    func testCFSBandwidthIsMicrosecondsAndNoneIsNil() throws {
        let f = try FixtureRoot()
        try f.write("/v1/cpu.cfs_quota_us", "150000\n")
        try f.write("/v1/cpu.cfs_period_us", "100000\n")
        try f.write("/v2/cpu.max", "150000 100000\n")
        let files = DirectFileReader(root: f.root)
        XCTAssertEqual(CgroupV1Backend().cfsBandwidth("/v1", files)?.quotaMicroseconds, 150_000)
        XCTAssertEqual(CgroupV2Backend().cfsBandwidth("/v2", files)?.periodMicroseconds, 100_000)
        try f.write("/v1/cpu.cfs_quota_us", "-1\n")
        try f.write("/v2/cpu.max", "max 100000\n")
        XCTAssertNil(CgroupV1Backend().cfsBandwidth("/v1", files))
        XCTAssertNil(CgroupV2Backend().cfsBandwidth("/v2", files))
    }
}

/// MeminfoFigures, the one function that computes the meminfo figures.
final class MeminfoFiguresTests: XCTestCase {
    let mib: UInt64 = 1 << 20

    func testFiguresFromTheHostAndTheCgroup() {
        // Limit 1 GiB, headroom 700 MiB, file pages 40 + 60 MiB, reclaimable slab 12 MiB.
        var stat = MemoryStat()
        stat.activeFile = 40 * mib
        stat.inactiveFile = 60 * mib
        stat.slabReclaimable = 12 * mib
        stat.activeAnon = 5 * mib
        stat.inactiveAnon = 3 * mib
        let memory = MemoryUsage(limit: 1024 * mib, headroom: 700 * mib, usage: 324 * mib, stat: stat,
                                 swapLimit: 100 * mib, swapUsage: 30 * mib)
        let host = HostMeminfo(memTotalKB: 16_777_216, memFreeKB: 12_582_912, swapTotalKB: 1_048_576)
        let f = MeminfoFigures(host: host, memory: memory, options: ViewOptions())
        XCTAssertEqual(f.memTotal, 1_048_576)
        XCTAssertEqual(f.memFree, 716_800)
        // 716800 + 40960 + 61440 + 12288 = 831488.
        XCTAssertEqual(f.memAvailable, 831_488)
        XCTAssertEqual(f.swapTotal, 102_400)
        XCTAssertEqual(f.swapFree, 71_680)
        XCTAssertEqual(f.active, 46_080)
        XCTAssertEqual(f.inactive, 64_512)
        // The host's MemFree (12 GiB) caps a larger headroom; MemTotal caps MemAvailable.
        let roomy = MemoryUsage(limit: nil, headroom: nil, usage: 0, stat: stat, swapLimit: nil, swapUsage: nil)
        let g = MeminfoFigures(host: host, memory: roomy, options: ViewOptions(disableSwap: true))
        XCTAssertEqual(g.memTotal, 16_777_216)
        XCTAssertEqual(g.memFree, 12_582_912)
        XCTAssertEqual(g.memAvailable, 12_582_912 + 40_960 + 61_440 + 12_288)
        XCTAssertEqual(g.swapTotal, 0)
        XCTAssertEqual(g.swapFree, 0)
    }

    func testKiBRoundsDownAndStopsAtZero() {
        // 1023 bytes are 0 kB, 2047 bytes 1 kB (proc(5): bytes / 1024, rounded down).
        XCTAssertEqual(KiB(bytes: 1023), 0)
        XCTAssertEqual(KiB(bytes: 2047), 1)
        XCTAssertEqual(KiB(5) - KiB(7), 0)
        XCTAssertEqual(KiB.max + KiB(1), KiB.max)
        // A cgroup with 1,048,575 bytes of limit (1 kB short of 1 MiB): 1023 kB.
        var stat = MemoryStat()
        stat.activeFile = 1023
        let memory = MemoryUsage(limit: 1_048_575, headroom: 2047, usage: nil, stat: stat, swapLimit: nil, swapUsage: nil)
        let f = MeminfoFigures(host: HostMeminfo(memTotalKB: 16_777_216, memFreeKB: 12_582_912), memory: memory, options: ViewOptions())
        XCTAssertEqual(f.memTotal, 1023)
        XCTAssertEqual(f.memFree, 1)
        XCTAssertEqual(f.memAvailable, 1)
    }

    func testHostFiguresParseOnlyTheirLines() {
        let host = HostMeminfo(parsing: Array(FixtureRoot.hostMeminfo.utf8)[...])
        XCTAssertEqual(host, HostMeminfo(memTotalKB: 16_777_216, memFreeKB: 12_582_912, swapTotalKB: 1_048_576,
                                         swapFreeKB: 1_048_576))
        XCTAssertEqual(HostMeminfo(parsing: Array("MemAvailable: 5 kB\n".utf8)[...]), HostMeminfo())
    }
}
