import XCTest
@testable import LXCFSCore

final class RenderTests: XCTestCase {
    let mib: UInt64 = 1024 * 1024

    /// v1: cgroup /c with 256 MiB limit, 100 MiB used, memsw 384 MiB (128 MiB swap, 8 MiB used),
    /// cpuset 1-2, CFS quota 0.5.
    func v1Host() throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100,
                      cgroup: "5:memory:/c\n3:cpuset:/c\n1:cpu,cpuacct:/c\n0::/\n")
        let mem = "/sys/fs/cgroup/memory"
        try f.write("\(mem)/memory.limit_in_bytes", "9223372036854771712\n")
        try f.write("\(mem)/c/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("\(mem)/c/memory.usage_in_bytes", "\(100 * mib)\n")
        try f.write("\(mem)/c/memory.memsw.limit_in_bytes", "\(384 * mib)\n")
        try f.write("\(mem)/c/memory.memsw.usage_in_bytes", "\(108 * mib)\n")
        try f.write("\(mem)/c/memory.stat", "cache 0\ntotal_cache \(20 * mib)\ntotal_rss \(80 * mib)\ntotal_active_file \(8 * mib)\ntotal_inactive_file \(12 * mib)\n")
        try f.write("/sys/fs/cgroup/cpuset/c/cpuset.effective_cpus", "1-2\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/c/cpu.cfs_quota_us", "50000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/c/cpu.cfs_period_us", "100000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/c/cpuacct.usage_all", "cpu user system\n0 0 0\n1 5000000000 3000000000\n2 1000000000 0\n3 0 0\n")
        return f
    }

    func testV1Meminfo() throws {
        let out = try v1Host().render(.meminfo, pid: 42)
        XCTAssertEqual(out.field("MemTotal"), "262144 kB")
        XCTAssertEqual(out.field("MemFree"), "159744 kB")
        XCTAssertEqual(out.field("MemAvailable"), "180224 kB")
        XCTAssertEqual(out.field("Cached"), "20480 kB")
        XCTAssertEqual(out.field("AnonPages"), "81920 kB")
        XCTAssertEqual(out.field("SwapTotal"), "131072 kB")
        XCTAssertEqual(out.field("SwapFree"), "122880 kB")
        XCTAssertEqual(out.field("Buffers"), "0 kB")
        XCTAssertEqual(out.field("HugePages_Total"), "0", "lines without kB stay the host's")
        XCTAssertTrue(out.contains("\nMemFree:          159744 kB\n"), "kernel layout: key padded to 16, value in 8")
    }

    func testV1DisableSwap() throws {
        let out = try v1Host().render(.meminfo, pid: 42, options: ViewOptions(disableSwap: true))
        XCTAssertEqual(out.field("SwapTotal"), "0 kB")
        XCTAssertEqual(out.field("SwapFree"), "0 kB")
    }

    func testGarbageLimitFallsBackForThatLevelOnly() throws {
        let f = try v1Host()
        try f.write("/sys/fs/cgroup/memory/c/memory.limit_in_bytes", "garbage\n")
        let out = f.render(.meminfo, pid: 42)
        XCTAssertEqual(out.field("MemTotal"), "16777216 kB")
        XCTAssertEqual(out.field("Cached"), "20480 kB")
    }

    func testDeletedCgroupAndExitedProcessGiveHostValues() throws {
        let f = try v1Host()
        try f.remove("/sys/fs/cgroup/memory/c")
        XCTAssertEqual(f.render(.meminfo, pid: 42), FixtureRoot.hostMeminfo)
        XCTAssertEqual(f.render(.meminfo, pid: 9999), FixtureRoot.hostMeminfo)
        XCTAssertEqual(f.render(.cpuOnline, pid: 9999), "0-3\n")
        XCTAssertEqual(f.render(.uptime, pid: 9999), "5000.00 18000.00\n")
    }

    func testV1CPUViewsAgree() throws {
        let f = try v1Host()
        let cpuinfo = f.render(.cpuinfo, pid: 42)
        XCTAssertEqual(cpuinfo.components(separatedBy: "processor\t: ").count - 1, 2)
        XCTAssertTrue(cpuinfo.hasPrefix("processor\t: 0\nvendor_id\t: AuthenticAMD\ncore id\t\t: 1\n"))
        XCTAssertTrue(cpuinfo.contains("processor\t: 1\nvendor_id\t: AuthenticAMD\ncore id\t\t: 2\n"))
        XCTAssertEqual(f.render(.cpuOnline, pid: 42), "0-1\n")
        let stat = f.render(.stat, pid: 42)
        XCTAssertTrue(stat.hasPrefix("cpu  600 0 300 "), stat)
        XCTAssertTrue(stat.contains("\ncpu0 500 0 300 "))
        XCTAssertTrue(stat.contains("\ncpu1 100 0 0 "))
        XCTAssertFalse(stat.contains("\ncpu2 "))
        XCTAssertTrue(stat.contains("\nbtime 1795953907\n"))

        let cfs = ViewOptions(enableCFS: true)
        XCTAssertEqual(f.render(.cpuOnline, pid: 42, options: cfs), "0\n")
        XCTAssertEqual(f.render(.cpuinfo, pid: 42, options: cfs).components(separatedBy: "processor").count - 1, 1)
        let cfsStat = f.render(.stat, pid: 42, options: cfs)
        XCTAssertTrue(cfsStat.contains("\ncpu0 ") && !cfsStat.contains("\ncpu1 "))
    }

    func testV2MeminfoStatAndQuotaOverAncestors() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v2Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "0::/pod/ctr\n")
        let cg = "/sys/fs/cgroup"
        try f.write("\(cg)/pod/memory.max", "\(1024 * mib)\n")
        try f.write("\(cg)/pod/memory.current", "\(900 * mib)\n")
        try f.write("\(cg)/pod/memory.swap.max", "\(64 * mib)\n")
        try f.write("\(cg)/pod/cpu.max", "150000 100000\n")
        try f.write("\(cg)/pod/ctr/memory.max", "max\n")
        try f.write("\(cg)/pod/ctr/memory.current", "\(100 * mib)\n")
        try f.write("\(cg)/pod/ctr/memory.swap.max", "max\n")
        try f.write("\(cg)/pod/ctr/memory.swap.current", "\(4 * mib)\n")
        try f.write("\(cg)/pod/ctr/memory.stat", "anon \(80 * mib)\nfile \(20 * mib)\nactive_file \(20 * mib)\nslab_reclaimable \(2 * mib)\nslab \(3 * mib)\n")
        try f.write("\(cg)/pod/ctr/cpu.max", "250000 100000\n")
        try f.write("\(cg)/pod/ctr/cpuset.cpus.effective", "0-2\n")
        try f.write("\(cg)/pod/ctr/cpu.stat", "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")

        let mem = f.render(.meminfo, pid: 42)
        XCTAssertEqual(mem.field("MemTotal"), "1048576 kB")
        XCTAssertEqual(mem.field("MemFree"), "126976 kB")
        XCTAssertEqual(mem.field("MemAvailable"), "149504 kB")
        XCTAssertEqual(mem.field("SwapTotal"), "65536 kB")
        XCTAssertEqual(mem.field("SwapFree"), "61440 kB")
        XCTAssertEqual(mem.field("Slab"), "3072 kB")

        XCTAssertEqual(f.render(.cpuOnline, pid: 42), "0-2\n")
        // Quota 1.5 CPUs in the pod, 2.5 in the container: the smaller, rounded up.
        XCTAssertEqual(f.render(.cpuOnline, pid: 42, options: ViewOptions(enableCFS: true)), "0-1\n")
        // 100 user ticks and 50 system ticks over 3 CPUs: remainders go to the lowest CPUs.
        let stat = f.render(.stat, pid: 42)
        XCTAssertTrue(stat.hasPrefix("cpu  100 0 50 "), stat)
        XCTAssertTrue(stat.contains("\ncpu0 34 0 17 "))
        XCTAssertTrue(stat.contains("\ncpu1 33 0 17 "))
        XCTAssertTrue(stat.contains("\ncpu2 33 0 16 "))
    }

    func testHybridReadsV1ControllersBesideEmptyUnified() throws {
        let f = try v1Host()
        // The unified mount holds nothing; memory still comes from v1.
        try f.write("/sys/fs/cgroup/unified/memory.max", "\(1 * mib)\n")
        XCTAssertEqual(f.render(.meminfo, pid: 42).field("MemTotal"), "262144 kB")
    }

    func testUptimeFromTheNamespaceInit() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(100, parent: 1, ns: "pid:[4026531836]", start: 200, cgroup: "0::/\n")
        try f.process(200, parent: 100, ns: "pid:[4026532999]", start: 300_000, cgroup: "0::/\n")
        try f.process(201, parent: 200, ns: "pid:[4026532999]", start: 300_500, cgroup: "0::/\n")
        XCTAssertTrue(f.render(.uptime, pid: 201).hasPrefix("2000.00 "))
        XCTAssertEqual(f.render(.uptime, pid: 100), "5000.00 18000.00\n")
        // The init exits and its pid is reused outside the namespace: not taken as the init.
        try f.process(200, parent: 1, ns: "pid:[4026531836]", start: 400_000, cgroup: "0::/\n")
        try f.process(201, parent: 1, ns: "pid:[4026532999]", start: 300_500, cgroup: "0::/\n")
        XCTAssertTrue(f.render(.uptime, pid: 201).hasPrefix("1995.00 "))
    }

    func testHostNamespaceFromTheDaemonWhenPid1IsUnreadable() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.remove("/proc/1/ns/pid")
        try f.write("/proc/self/ns/pid", "pid:[4026531836]\n")
        try f.process(300, parent: 1, ns: "pid:[4026531836]", start: 30_000, cgroup: "0::/\n")
        XCTAssertEqual(f.render(.uptime, pid: 300), "5000.00 18000.00\n")
    }
}
