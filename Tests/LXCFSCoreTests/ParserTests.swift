import XCTest
@testable import LXCFSCore

final class ParserTests: XCTestCase {
    func testCPUListParsesRangesAndFormats() {
        XCTAssertEqual(CPUList("0-3,8,10-11\n")?.cpus, [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(CPUList("0-3,8,10-11")?.description, "0-3,8,10-11")
        XCTAssertEqual(CPUList("5")?.cpus, [5])
        XCTAssertNil(CPUList(""))
        XCTAssertNil(CPUList("\n"))
        XCTAssertNil(CPUList("3-1"))
        XCTAssertNil(CPUList("a-b"))
    }

    func testIntegersRejectGarbageAndOverflow() {
        XCTAssertEqual(ByteParser.integer(Array("-1".utf8)[...]), -1)
        XCTAssertNil(ByteParser.integer(Array("max".utf8)[...]))
        XCTAssertNil(ByteParser.integer(Array("99999999999999999999".utf8)[...]))
        XCTAssertEqual(ByteParser.unsigned(Array("9223372036854771712".utf8)[...]), 9223372036854771712)
        XCTAssertEqual(ByteParser.unsigned(Array("99999999999999999999".utf8)[...]), UInt64.max)
    }

    func testV1LayoutMapsComountedControllersAndIgnoresEmptyUnified() {
        let layout = CgroupLayout(mountinfo: Array(FixtureRoot.v1Mountinfo.utf8)[...])
        XCTAssertEqual(layout.hierarchy(for: "cpu")?.mountPoint, "/sys/fs/cgroup/cpu,cpuacct")
        XCTAssertEqual(layout.hierarchy(for: "cpuacct")?.mountPoint, "/sys/fs/cgroup/cpu,cpuacct")
        XCTAssertEqual(layout.hierarchy(for: "memory")?.isUnified, false)
        XCTAssertEqual(layout.hierarchy(for: "name=systemd")?.mountPoint, "/sys/fs/cgroup/systemd")
        // A controller no v1 hierarchy holds falls to the unified mount (hybrid).
        XCTAssertEqual(layout.hierarchy(for: "io")?.mountPoint, "/sys/fs/cgroup/unified")
    }

    func testV2LayoutAndOctalEscapes() {
        let layout = CgroupLayout(mountinfo: Array(FixtureRoot.v2Mountinfo.utf8)[...])
        XCTAssertEqual(layout.hierarchy(for: "memory")?.mountPoint, "/sys/fs/cgroup")
        let escaped = CgroupLayout(mountinfo: Array("30 23 0:26 /kube /my\\040cg rw - cgroup2 cgroup2 rw\n".utf8)[...])
        XCTAssertEqual(escaped.unified?.mountPoint, "/my cg")
        XCTAssertEqual(escaped.unified?.mountRoot, "/kube")
        XCTAssertEqual(escaped.unified?.directory(of: "/kube/pod1"), "/my cg/pod1")
        XCTAssertEqual(escaped.unified?.directory(of: "/kube"), "/my cg")
    }

    func testMembershipParsesV1AndV2AndDropsInitScope() {
        let m = CgroupMembership(parsing: Array("4:memory:/docker/abc\n1:cpu,cpuacct:/a\n0::/system.slice/init.scope\n".utf8)[...])
        XCTAssertEqual(m.v1Paths["memory"], "/docker/abc")
        XCTAssertEqual(m.v1Paths["cpuacct"], "/a")
        XCTAssertEqual(m.unifiedPath, "/system.slice")
        XCTAssertEqual(CgroupMembership(parsing: Array("0::/init.scope\n".utf8)[...]).unifiedPath, "/")
    }

    /// A membership is held as a key of the render cache and of the
    /// per-container budgets: it must hold its text, not the reader's
    /// 8 KiB buffer it was parsed from.
    func testMembershipHoldsOnlyItsText() {
        let text = "4:memory:/docker/abc\n0::/system.slice\n"
        var buffer = [UInt8]()
        buffer.reserveCapacity(8192)
        buffer.append(contentsOf: text.utf8)
        let m = CgroupMembership(parsing: buffer[...])
        XCTAssertEqual(m.bytes, Array(text.utf8))
        XCTAssertLessThan(m.bytes.capacity, 256)
        XCTAssertEqual(m, CgroupMembership(parsing: Array(text.utf8)[...]))
    }

    func testMemoryStatKeysForEachVersion() {
        let v1 = MemoryStat(parsingV1: Array("cache 1\ntotal_cache 4096\ntotal_rss 8192\ntotal_mapped_file 1024\n".utf8)[...])
        XCTAssertEqual(v1.cache, 4096)
        XCTAssertEqual(v1.anon, 8192)
        XCTAssertEqual(v1.mapped, 1024)
        let v2 = MemoryStat(parsingV2: Array("anon 10\nfile 20\nslab_reclaimable 30\nfile_mapped 40\n".utf8)[...])
        XCTAssertEqual(v2.anon, 10)
        XCTAssertEqual(v2.cache, 20)
        XCTAssertEqual(v2.slabReclaimable, 30)
        XCTAssertEqual(v2.mapped, 40)
    }

    func testProcessStatCountsFieldsAfterTheCommandName() {
        let s = ProcessStat(parsing: Array("77 (a) b (c) S 12 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 4242 0 0\n".utf8)[...])
        XCTAssertEqual(s?.parentPid, 12)
        XCTAssertEqual(s?.startTime, 4242)
        XCTAssertNil(ProcessStat(parsing: Array("garbage".utf8)[...]))
    }
}

final class GarbageInputTests: XCTestCase {
    /// Host files with absurd or missing values render without trapping.
    func testHugeAndMissingHostValuesDoNotTrap() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.write("/proc/meminfo", "SwapTotal: 99999999999999999999999 kB\n")
        try f.write("/proc/uptime", "99999999999999999999.99 1\n")
        try f.process(42, parent: 7, ns: "pid:[1]", start: UInt64.max, cgroup: "5:memory:/c\n")
        try f.process(7, parent: 0, ns: "pid:[1]", start: UInt64.max, cgroup: "5:memory:/c\n")
        try f.write("/sys/fs/cgroup/memory/c/memory.stat", "total_active_file 99999999999999999999999\n")
        try f.write("/sys/fs/cgroup/memory/c/memory.limit_in_bytes", "-5\n")
        // The host's SwapTotal saturates at UInt64.max kB; no memsw limit: the host's, none in use.
        XCTAssertEqual(f.render(.meminfo, pid: 42),
                       "SwapTotal:      18446744073709551615 kB\n")
        // An uptime too large for hundredths: the host's file unchanged.
        XCTAssertEqual(f.render(.uptime, pid: 42), "99999999999999999999.99 1\n")
        // No cpuacct: the host's CPU lines, whose sum is the host's own first line.
        XCTAssertEqual(f.render(.stat, pid: 42), FixtureRoot.hostStat)
        XCTAssertEqual(f.render(.cpuinfo, pid: 42), FixtureRoot.hostCpuinfo(cpus: 4))
        XCTAssertEqual(f.render(.cpuOnline, pid: 42), "0-3\n")
    }
}
