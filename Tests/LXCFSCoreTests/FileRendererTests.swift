import XCTest
@testable import LXCFSCore

/// swaps, diskstats, pressure and slabinfo on the v1 and v2 fixture hosts.
final class FileRendererTests: XCTestCase {
    let v1 = ContainerView(root: FileFixtures.named("v1"))
    let v2 = ContainerView(root: FileFixtures.named("v2"))
    let swapLine = "none" + String(repeating: " ", count: 36) + "virtual\t\t"

    // MARK: swaps

    func testSwapsV1MemswLimitGivesOneLineThatAgreesWithMeminfo() {
        // memory 256 MiB, memsw 512 MiB: 256 MiB of swap; memsw usage - memory usage = 10 MiB.
        let swaps = v1.render(.swaps, for: 4242).text
        XCTAssertEqual(swaps, SwapsRenderer.header + swapLine + "262144\t10240\t0\n")
        let meminfo = v1.render(.meminfo, for: 4242).text
        XCTAssertTrue(meminfo.contains("SwapTotal:        262144 kB\n"), meminfo)
        XCTAssertTrue(meminfo.contains("SwapFree:         251904 kB\n"), meminfo)
    }

    func testSwapsDisableSwapIsHeaderOnly() {
        let view = ContainerView(root: FileFixtures.named("v1"), options: ViewOptions(disableSwap: true))
        XCTAssertEqual(view.render(.swaps, for: 4242).text, SwapsRenderer.header)
        XCTAssertTrue(view.render(.meminfo, for: 4242).text.contains("SwapTotal:             0 kB\n"))
    }

    func testSwapsV1WithoutMemswLimitShowsTheHostsSwap() {
        XCTAssertEqual(v1.render(.swaps, for: 4343).text, SwapsRenderer.header + swapLine + "1048576\t0\t0\n")
    }

    func testSwapsV2SwapMaxZeroIsHeaderOnly() {
        XCTAssertEqual(v2.render(.swaps, for: 4242).text, SwapsRenderer.header)
    }

    func testSwapsCapsAtTheHostsSwapAndClampsUse() {
        var m = MemoryUsage(limit: 1 << 30, headroom: nil, usage: nil, stat: MemoryStat(),
                            swapLimit: 4 << 30, swapUsage: 9 << 30)
        let capped = SwapFigures(hostSwapTotalKB: 1000, memory: m, options: ViewOptions())
        XCTAssertEqual(capped.totalKB, 1000)
        XCTAssertEqual(capped.freeKB, 0)
        XCTAssertEqual(SwapsRenderer.render(swap: capped).text, SwapsRenderer.header + swapLine + "1000\t1000\t0\n")
        m.swapLimit = 0
        XCTAssertEqual(SwapsRenderer.render(swap: SwapFigures(hostSwapTotalKB: 1000, memory: m, options: ViewOptions())).text,
                       SwapsRenderer.header)
    }

    func testSwapsOfAProcessThatIsGoneIsTheHostsFile() {
        XCTAssertEqual(v1.render(.swaps, for: 999_999).text,
                       String(decoding: FileFixtures.named("v1").read("/proc/swaps")!, as: UTF8.self))
    }

    // MARK: diskstats

    func testDiskstatsV1ThrottleCountersOnlyDevicesWithIO() {
        // BFQ lists no device, so the throttle family is used; vdb is idle and
        // 259:9 has no name in the host's diskstats: both are left out.
        XCTAssertEqual(v1.render(.diskstats, for: 4242).text,
                       " 254       0 vda 8 0 16384 0 16 0 32768 0 0 0 0 2 0 8 0 0 0\n")
    }

    func testDiskstatsV2IOStat() {
        XCTAssertEqual(v2.render(.diskstats, for: 4242).text,
                       " 254       0 vda 3 0 2048 0 4 0 4096 0 0 0 0 1 0 1 0 0 0\n")
    }

    func testDiskstatsOfACgroupWithoutIOIsEmpty() {
        XCTAssertEqual(v1.render(.diskstats, for: 4343), [])
    }

    func testDiskstatsKeepsTheHostsColumnCountAndConvertsUnits() {
        // 4096 bytes = 8 sectors, 7 ms reading, 9 ms busy; the host line has 11 counters.
        var s = BlockIOStat()
        s.reads = 1
        s.readBytes = 4096
        s.readNanoseconds = 7_000_000
        s.busyNanoseconds = 9_000_000
        let host = "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n"
        XCTAssertEqual(DiskstatsRenderer.render(host: Array(host.utf8)[...], io: [DeviceNumber(major: 8, minor: 0): s]).text,
                       "   8       0 sda 1 0 8 7 0 0 0 0 0 9 0\n")
        let cfq = "8:0 Read 5\n8:0 Write 1\n8:0 Total 6\nTotal 6\n"
        let parsed = CgroupReader.parseRWStat(Array(cfq.utf8)[...])
        XCTAssertEqual(parsed[DeviceNumber(major: 8, minor: 0)]?.read, 5)
        XCTAssertEqual(parsed[DeviceNumber(major: 8, minor: 0)]?.total, 6)
        XCTAssertEqual(parsed.count, 1)
    }

    // MARK: pressure

    func testPressureV1IsTheHostsFileOrNothing() {
        XCTAssertEqual(v1.renderIfPresent(.cpuPressure, for: 4242)?.text,
                       "some avg10=1.00 avg60=2.00 avg300=3.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
        XCTAssertNil(v1.renderIfPresent(.memoryPressure, for: 4242))
        XCTAssertFalse(v1.serves(.memoryPressure))
        XCTAssertTrue(v1.serves(.cpuPressure))
    }

    func testPressureV2IsTheCgroupsFile() {
        XCTAssertEqual(v2.renderIfPresent(.cpuPressure, for: 4242)?.text,
                       "some avg10=11.11 avg60=22.22 avg300=33.33 total=999\nfull avg10=0.50 avg60=0.25 avg300=0.10 total=55\n")
        XCTAssertEqual(v2.renderIfPresent(.ioPressure, for: 4242)?.text.hasPrefix("some avg10=9.00"), true)
        // The host has no memory pressure file, the cgroup has one.
        XCTAssertEqual(v2.renderIfPresent(.memoryPressure, for: 4242)?.text.hasPrefix("some avg10=0.00"), true)
    }

    // MARK: slabinfo

    func testSlabinfoIsTheCgroupsWhereNonEmptyElseTheHosts() {
        XCTAssertTrue(v1.render(.slabinfo, for: 4242).text.contains("ctr_cache"))
        XCTAssertTrue(v1.render(.slabinfo, for: 4343).text.contains("host_cache"))
        XCTAssertTrue(v2.render(.slabinfo, for: 4242).text.contains("host_cache"))
    }

    // MARK: sysfs CPU lists

    func testCPUListsOfTheV1FixtureAreTheHostsFourCPUs() {
        // The v1 fixture has no cpuset hierarchy: the host's online 0-3.
        let view = ContainerView(root: FileFixtures.named("v1"))
        for file in [VirtualFile.cpuOnline, .cpuPossible, .cpuPresent] {
            XCTAssertEqual(view.render(file, for: 4242).text, "0-3\n", file.rawValue)
        }
        XCTAssertEqual(view.render(.cpuOffline, for: 4242).text, "\n")
    }
}

/// v1 blkio on a kernel with CFQ: its own counters win over the throttle ones.
final class BlkioFamilyTests: XCTestCase {
    func testCFQCountersWithMergesAndTimesWinOverThrottle() throws {
        let dir = try FileFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileFixtures.write(dir, "/proc/self/mountinfo",
                               "36 31 0:33 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n")
        try FileFixtures.write(dir, "/proc/7/cgroup", "1:blkio:/lxc/c1\n")
        try FileFixtures.write(dir, "/proc/diskstats", "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n")
        let cg = "/sys/fs/cgroup/blkio/lxc/c1/"
        try FileFixtures.write(dir, cg + "blkio.io_serviced_recursive", "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n")
        try FileFixtures.write(dir, cg + "blkio.io_service_bytes_recursive", "8:0 Read 10240\n8:0 Write 20480\n8:0 Total 30720\nTotal 30720\n")
        try FileFixtures.write(dir, cg + "blkio.io_merged_recursive", "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n")
        try FileFixtures.write(dir, cg + "blkio.io_service_time_recursive", "8:0 Read 3000000\n8:0 Write 4000000\n8:0 Total 7000000\nTotal 7000000\n")
        try FileFixtures.write(dir, cg + "blkio.io_wait_time_recursive", "8:0 Read 1000000\n8:0 Write 1000000\n8:0 Total 2000000\nTotal 2000000\n")
        try FileFixtures.write(dir, cg + "blkio.throttle.io_serviced_recursive", "8:0 Read 99\n8:0 Write 99\n8:0 Total 198\nTotal 198\n")
        let view = ContainerView(root: HostRoot(dir.path))
        XCTAssertEqual(String(decoding: view.render(.diskstats, for: 7), as: UTF8.self),
                       "   8       0 sda 10 1 20 4 20 2 40 5 0 7 0 0 0 0 0 0 0\n")
    }
}

/// Garbage in the new inputs never crashes and never invents devices or tasks.
final class FileGarbageTests: XCTestCase {
    func testGarbageCgroupFilesAreIgnored() throws {
        let junk: [String] = ["", "\n\n", "max", "254:0", "254:0 Read", "254:0 Read x", ":0 Read 1", "254: Read 1",
                              "99999999999:0 Read 1", "254:0 Read 99999999999999999999999", "\u{0}\u{1}\u{ff}",
                              "254:0 rbytes=", "254:0 =5 rios=x", "254:0 rbytes=1=2", "some", "R R R"]
        let host = " 254       0 vda 1 2 3 4 5 6 7 8 9 10 11\n"
        for j in junk {
            let bytes = Array(j.utf8)[...]
            // No junk line is a well-formed `MAJ:MIN OP N` with a counted operation.
            // (A huge count saturates: that line is well formed.)
            let counted = CgroupReader.parseRWStat(bytes).values.filter { $0 != CgroupReader.RWStat() }
            XCTAssertEqual(counted.map(\.read), j == "254:0 Read 99999999999999999999999" ? [.max] : [], j)
            // No junk line gives a device any I/O.
            XCTAssertTrue(CgroupReader.parseIOStat(bytes).values.allSatisfy(\.isIdle), j)
            // Junk as the host file names no device; a device without I/O is left out.
            XCTAssertEqual(DiskstatsRenderer.render(host: bytes, io: [DeviceNumber(major: 254, minor: 0): BlockIOStat()]), [], j)
            XCTAssertEqual(DiskstatsRenderer.render(host: Array(host.utf8)[...], io: CgroupReader.parseIOStat(bytes)), [], j)
            XCTAssertEqual(SwapFigures.hostSwapTotalKB(meminfo: bytes), 0, j)
            // Only a file that starts with `some` or `full` is a pressure file.
            let pressure = PressureRenderer.render(cgroup: Array(bytes), host: Array("host".utf8))
            XCTAssertEqual(pressure?.text, j.hasPrefix("some") ? j : "host", j)
        }
        XCTAssertTrue(CgroupReader.parseRWStat(Array("254:0 Read x\n:0 Read 1\n".utf8)[...]).isEmpty)
        XCTAssertEqual(CgroupReader.parseIOStat(Array("254:0 rbytes=x rios=2\n".utf8)[...])[DeviceNumber(major: 254, minor: 0)]?.reads, 2)
        XCTAssertNil(PressureRenderer.render(cgroup: Array("garbage".utf8), host: nil))

        let dir = try FileFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileFixtures.write(dir, "/g/tasks", "12\nabc\n-5\n0\n99999999999\n13\n")
        try FileFixtures.write(dir, "/proc/12/stat", "12 (a) b) c) R 1")
        try FileFixtures.write(dir, "/proc/13/stat", "no parenthesis here")
        try FileFixtures.write(dir, "/proc/12/status", "NSpid:\tgarbage\n")
        let root = HostRoot(dir.path)
        let reader = CgroupReader(files: DirectFileReader(root: root), layout: CgroupLayout(hierarchies: []))
        let count = LoadavgSampler().sample(LoadavgCgroup(directory: "/g", threadsFile: "/tasks"), reader: reader)
        XCTAssertEqual(count?.total, 1)
        XCTAssertEqual(count?.running, 1)
        XCTAssertEqual(count?.lastPid, 12, "unreadable NSpid: the host id")
    }
}
