import XCTest
@testable import LXCFSCore

/// One test (or more) per rule of the views (the shared fixture cases'
/// README, restated here so that a clean clone guards them): each builds a
/// small host, renders a file for a reader and compares with values worked
/// out by hand in the comments. Host meminfo (FixtureRoot.hostMeminfo):
/// MemTotal 16 GiB = 16777216 kB, MemFree 12 GiB = 12582912 kB, SwapTotal
/// 1 GiB = 1048576 kB; host CPUs 0-3.
final class MemoryRuleTests: XCTestCase {
    let mib: UInt64 = 1 << 20

    /// A v1 host with reader 42 in memory cgroup `path` (cpuset and cpu at `/`).
    func v1(_ path: String = "/a/b") throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100,
                      cgroup: "5:memory:\(path)\n3:cpuset:/\n1:cpu,cpuacct:/\n0::/\n")
        try f.write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")
        try f.write("/sys/fs/cgroup/memory\(path)/memory.stat", "total_cache 0\n")
        return f
    }

    /// A pure v2 host with reader 42 in `path`.
    func v2(_ path: String = "/pod/ctr") throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v2Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "0::\(path)\n")
        try f.write("/sys/fs/cgroup\(path)/memory.stat", "anon 0\n")
        return f
    }

    func mem(_ f: FixtureRoot, _ key: String, options: ViewOptions = ViewOptions()) -> String? {
        f.render(.meminfo, pid: 42, options: options).field(key)
    }

    // MARK: MemTotal

    func testMemTotalIsTheSmallestLimitOverTheAncestorsWhicheverLevelHoldsIt() throws {
        // Parent 512 MiB, child 256 MiB: 256 MiB = 262144 kB.
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "\(512 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(256 * mib)\n")
        XCTAssertEqual(mem(f, "MemTotal"), "262144 kB")
        // Parent 256 MiB, child 512 MiB: still 256 MiB.
        try f.write("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(512 * mib)\n")
        XCTAssertEqual(mem(f, "MemTotal"), "262144 kB")
        // v2: pod 384 MiB, container 768 MiB: 393216 kB.
        let g = try v2()
        try g.write("/sys/fs/cgroup/pod/memory.max", "\(384 * mib)\n")
        try g.write("/sys/fs/cgroup/pod/ctr/memory.max", "\(768 * mib)\n")
        XCTAssertEqual(mem(g, "MemTotal"), "393216 kB")
    }

    func testMemTotalIsNeverAboveTheHosts() throws {
        // A 64 GiB limit on a 16 GiB host: the host's 16777216 kB.
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(64 * 1024 * mib)\n")
        XCTAssertEqual(mem(f, "MemTotal"), "16777216 kB")
    }

    func testUnlimitedMissingAndGarbageLevelsDoNotCountButTheOthersDo() throws {
        // Parent 384 MiB = 393216 kB; the child's own value is no limit.
        for child in ["9223372036854771712\n", "4611686018427387904\n", "garbage\n", "-5\n", nil] {
            let f = try v1()
            try f.write("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "\(384 * mib)\n")
            if let child { try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", child) }
            XCTAssertEqual(mem(f, "MemTotal"), "393216 kB", child ?? "missing")
        }
        // Just below 2^62 is a limit, above the host's: the host's MemTotal.
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "4611686018427387903\n")
        XCTAssertEqual(mem(f, "MemTotal"), "16777216 kB")
        // v2 `max` in the container, 384 MiB in the pod.
        let g = try v2()
        try g.write("/sys/fs/cgroup/pod/memory.max", "\(384 * mib)\n")
        try g.write("/sys/fs/cgroup/pod/ctr/memory.max", "max\n")
        XCTAssertEqual(mem(g, "MemTotal"), "393216 kB")
    }

    // MARK: MemFree

    func testMemFreeIsTheSmallestHeadroomOverTheLevelsWithALimit() throws {
        // Pod 1024 MiB with 900 MiB used (124 MiB left), container 512 MiB
        // with 100 MiB used (412 MiB left): 124 MiB = 126976 kB.
        let f = try v2()
        try f.write("/sys/fs/cgroup/pod/memory.max", "\(1024 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/memory.current", "\(900 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.max", "\(512 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.current", "\(100 * mib)\n")
        XCTAssertEqual(mem(f, "MemTotal"), "524288 kB")
        XCTAssertEqual(mem(f, "MemFree"), "126976 kB")
        // The smaller headroom in the container: pod 1024 - 100 = 924 MiB,
        // container 512 - 400 = 112 MiB = 114688 kB.
        try f.write("/sys/fs/cgroup/pod/memory.current", "\(100 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.current", "\(400 * mib)\n")
        XCTAssertEqual(mem(f, "MemFree"), "114688 kB")
        // v1: parent 600 MiB with 500 MiB used (100 MiB left), child 512 MiB with 100 used: 102400 kB.
        let g = try v1()
        try g.write("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "\(600 * mib)\n")
        try g.write("/sys/fs/cgroup/memory/a/memory.usage_in_bytes", "\(500 * mib)\n")
        try g.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(512 * mib)\n")
        try g.write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "\(100 * mib)\n")
        XCTAssertEqual(mem(g, "MemFree"), "102400 kB")
    }

    func testMemFreeIsNeverAboveTheHostsMemFree() throws {
        // A 15 GiB limit with 1 GiB used leaves 14 GiB = 14680064 kB, more
        // than the host's MemFree of 12582912 kB (and less than MemTotal).
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(15 * 1024 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "\(1024 * mib)\n")
        XCTAssertEqual(mem(f, "MemTotal"), "15728640 kB")
        XCTAssertEqual(mem(f, "MemFree"), "12582912 kB")
    }

    func testMemFreeIsNeverBelowZero() throws {
        // 300 MiB used under a 256 MiB limit.
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "\(300 * mib)\n")
        XCTAssertEqual(mem(f, "MemFree"), "0 kB")
        XCTAssertEqual(mem(f, "MemAvailable"), "0 kB")
    }

    func testWithoutAnyLimitMemFreeIsMemTotalLessTheCgroupsOwnUsage() throws {
        // 16 GiB - 6 GiB = 10 GiB = 10485760 kB.
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "\(6 * 1024 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/memory.usage_in_bytes", "\(8 * 1024 * mib)\n")
        XCTAssertEqual(mem(f, "MemTotal"), "16777216 kB")
        XCTAssertEqual(mem(f, "MemFree"), "10485760 kB")
        // 16 GiB - 1 GiB = 15 GiB, capped at the host's MemFree (12582912 kB).
        try f.write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "\(1024 * mib)\n")
        XCTAssertEqual(mem(f, "MemFree"), "12582912 kB")
    }

    // MARK: MemAvailable

    func testMemAvailableIsMemFreePlusFilePagesAndReclaimableSlab() throws {
        // v2: 1 GiB limit, 256 MiB used: MemFree 768 MiB = 786432 kB; plus
        // active_file 10 MiB, inactive_file 20 MiB, slab_reclaimable 2 MiB
        // (32 MiB = 32768 kB): 819200 kB.
        let f = try v2()
        try f.write("/sys/fs/cgroup/pod/ctr/memory.max", "\(1024 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.current", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.stat",
                    "active_file \(10 * mib)\ninactive_file \(20 * mib)\nslab_reclaimable \(2 * mib)\nslab \(5 * mib)\n")
        XCTAssertEqual(mem(f, "MemFree"), "786432 kB")
        XCTAssertEqual(mem(f, "MemAvailable"), "819200 kB")
        // v1 has no per-cgroup slab: 786432 + 30720 = 817152 kB.
        let g = try v1()
        try g.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(1024 * mib)\n")
        try g.write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "\(256 * mib)\n")
        try g.write("/sys/fs/cgroup/memory/a/b/memory.stat",
                    "total_active_file \(10 * mib)\ntotal_inactive_file \(20 * mib)\nactive_file \(900 * mib)\n")
        XCTAssertEqual(mem(g, "MemAvailable"), "817152 kB")
    }

    func testMemAvailableIsNeverAboveMemTotal() throws {
        // 2 GiB of file pages under a 1 GiB limit: MemTotal, 1048576 kB.
        let f = try v2()
        try f.write("/sys/fs/cgroup/pod/ctr/memory.max", "\(1024 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.current", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.stat", "inactive_file \(2048 * mib)\n")
        XCTAssertEqual(mem(f, "MemAvailable"), "1048576 kB")
    }

    /// MiB 1 to 14 for the fourteen keys, so a key mapped to the wrong line shows.
    func testMemoryStatLinesV2() throws {
        let f = try v2()
        try f.write("/sys/fs/cgroup/pod/ctr/memory.stat", """
            file \(1 * mib)
            shmem \(2 * mib)
            active_anon \(3 * mib)
            inactive_anon \(4 * mib)
            active_file \(5 * mib)
            inactive_file \(6 * mib)
            unevictable \(7 * mib)
            file_mapped \(8 * mib)
            anon \(9 * mib)
            file_dirty \(10 * mib)
            file_writeback \(11 * mib)
            slab \(12 * mib)
            slab_reclaimable \(13 * mib)
            slab_unreclaimable \(14 * mib)

            """)
        let out = f.render(.meminfo, pid: 42)
        let expected: [(String, String)] = [
            ("Cached", "1024 kB"), ("Shmem", "2048 kB"), ("Active(anon)", "3072 kB"), ("Inactive(anon)", "4096 kB"),
            ("Active(file)", "5120 kB"), ("Inactive(file)", "6144 kB"), ("Unevictable", "7168 kB"),
            ("Mapped", "8192 kB"), ("AnonPages", "9216 kB"), ("Dirty", "10240 kB"), ("Writeback", "11264 kB"),
            ("Slab", "12288 kB"), ("SReclaimable", "13312 kB"), ("SUnreclaim", "14336 kB"),
            // Active = 3 + 5 MiB, Inactive = 4 + 6 MiB.
            ("Active", "8192 kB"), ("Inactive", "10240 kB"), ("Buffers", "0 kB"),
            // Every other line is the host's.
            ("Mlocked", "9392 kB"), ("SwapCached", "0 kB"), ("HugePages_Total", "0"), ("Hugepagesize", "2048 kB"),
        ]
        for (key, value) in expected { XCTAssertEqual(out.field(key), value, key) }
    }

    func testMemoryStatLinesV1AreTheHierarchicalTotals() throws {
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/b/memory.stat", """
            cache \(99 * mib)
            rss \(99 * mib)
            total_cache \(1 * mib)
            total_shmem \(2 * mib)
            total_active_anon \(3 * mib)
            total_inactive_anon \(4 * mib)
            total_active_file \(5 * mib)
            total_inactive_file \(6 * mib)
            total_unevictable \(7 * mib)
            total_mapped_file \(8 * mib)
            total_rss \(9 * mib)
            total_dirty \(10 * mib)
            total_writeback \(11 * mib)

            """)
        let out = f.render(.meminfo, pid: 42)
        let expected: [(String, String)] = [
            ("Cached", "1024 kB"), ("Shmem", "2048 kB"), ("Active(anon)", "3072 kB"), ("Inactive(anon)", "4096 kB"),
            ("Active(file)", "5120 kB"), ("Inactive(file)", "6144 kB"), ("Unevictable", "7168 kB"),
            ("Mapped", "8192 kB"), ("AnonPages", "9216 kB"), ("Dirty", "10240 kB"), ("Writeback", "11264 kB"),
            ("Active", "8192 kB"), ("Inactive", "10240 kB"), ("Buffers", "0 kB"),
            // v1 keeps no slab per cgroup: without a memory limit (a host
            // process) the host's lines, never 0 kB (issue 22).
            ("Slab", "213480 kB"), ("SReclaimable", "181136 kB"), ("SUnreclaim", "32344 kB"),
        ]
        for (key, value) in expected { XCTAssertEqual(out.field(key), value, key) }
        // Under a limit the container has no slab of its own: 0 kB (the shared cases' v1-meminfo-basic).
        try f.write("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "\(256 * mib)\n")
        let limited = f.render(.meminfo, pid: 42)
        for key in ["Slab", "SReclaimable", "SUnreclaim"] { XCTAssertEqual(limited.field(key), "0 kB", key) }
        XCTAssertEqual(limited.field("Cached"), "1024 kB")
    }

    func testLinesKeepTheKernelsLayout() throws {
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(256 * mib)\n")
        let out = f.render(.meminfo, pid: 42)
        // "MemTotal:" padded to 16, 262144 right-aligned in 8, " kB".
        XCTAssertTrue(out.hasPrefix("MemTotal:         262144 kB\nMemFree:          262144 kB\n"), out)
        XCTAssertTrue(out.contains("\nCached:" + String(repeating: " ", count: 16) + "0 kB\n"), out)
        XCTAssertTrue(out.hasSuffix("HugePages_Total:       0\nHugepagesize:       2048 kB\n"), out)
    }

    // MARK: swap

    func testV1SwapIsTheSmallestMemswLessTheSmallestMemoryLimit() throws {
        // memsw: parent 768 MiB, child 1024 MiB (smallest 768); memory:
        // parent 512, child 256 (smallest 256): 512 MiB = 524288 kB of swap.
        // In use: memsw usage 300 MiB - usage 200 MiB = 100 MiB: free 412 MiB = 421888 kB.
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "\(512 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/memory.memsw.limit_in_bytes", "\(768 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.memsw.limit_in_bytes", "\(1024 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "\(200 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.memsw.usage_in_bytes", "\(300 * mib)\n")
        XCTAssertEqual(mem(f, "SwapTotal"), "524288 kB")
        XCTAssertEqual(mem(f, "SwapFree"), "421888 kB")
        XCTAssertEqual(f.render(.swaps, pid: 42),
                       SwapsRenderer.header + "none" + String(repeating: " ", count: 36) + "virtual\t\t524288\t102400\t0\n")
    }

    func testV1SwapWithoutAnyMemswLimitIsTheHostsAndNegativeIsZero() throws {
        // No memsw limit anywhere: unlimited, so the host's 1048576 kB; 8 MiB in use.
        let f = try v1()
        try f.write("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "\(200 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/b/memory.memsw.usage_in_bytes", "\(208 * mib)\n")
        XCTAssertEqual(mem(f, "SwapTotal"), "1048576 kB")
        XCTAssertEqual(mem(f, "SwapFree"), "1040384 kB")
        // memsw 200 MiB below memory 256 MiB: 0, and SwapFree clamped to 0.
        try f.write("/sys/fs/cgroup/memory/a/b/memory.memsw.limit_in_bytes", "\(200 * mib)\n")
        XCTAssertEqual(mem(f, "SwapTotal"), "0 kB")
        XCTAssertEqual(mem(f, "SwapFree"), "0 kB")
        XCTAssertEqual(f.render(.swaps, pid: 42), SwapsRenderer.header)
    }

    func testV2SwapIsTheSmallestSwapMaxCappedAtTheHosts() throws {
        // pod 64 MiB, container 128 MiB: 65536 kB; 4 MiB in use: 61440 kB free.
        let f = try v2()
        try f.write("/sys/fs/cgroup/pod/memory.swap.max", "\(64 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.swap.max", "\(128 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.swap.current", "\(4 * mib)\n")
        XCTAssertEqual(mem(f, "SwapTotal"), "65536 kB")
        XCTAssertEqual(mem(f, "SwapFree"), "61440 kB")
        // 4 GiB allowed, the host has 1 GiB: 1048576 kB; 2 GiB in use: 0 free.
        try f.write("/sys/fs/cgroup/pod/memory.swap.max", "\(4096 * mib)\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.swap.max", "max\n")
        try f.write("/sys/fs/cgroup/pod/ctr/memory.swap.current", "\(2048 * mib)\n")
        XCTAssertEqual(mem(f, "SwapTotal"), "1048576 kB")
        XCTAssertEqual(mem(f, "SwapFree"), "0 kB")
        // 0 means none.
        try f.write("/sys/fs/cgroup/pod/ctr/memory.swap.max", "0\n")
        XCTAssertEqual(mem(f, "SwapTotal"), "0 kB")
        XCTAssertEqual(mem(f, "SwapFree"), "0 kB")
    }

    func testDisableSwapKeepsBothLinesAtZero() throws {
        let f = try v2()
        try f.write("/sys/fs/cgroup/pod/ctr/memory.swap.max", "\(128 * mib)\n")
        let out = f.render(.meminfo, pid: 42, options: ViewOptions(disableSwap: true))
        XCTAssertTrue(out.contains("\nSwapTotal:             0 kB\nSwapFree:              0 kB\n"), out)
    }
}

/// The hierarchy rules: which levels count, and where a reader's cgroup is.
final class HierarchyRuleTests: XCTestCase {
    let mib: UInt64 = 1 << 20

    func testTheHierarchysRootCgroupHoldsNoLimit() throws {
        // Values in the root's files (which the kernel never lets anyone
        // set) are ignored: the reader's own 256 MiB = 262144 kB.
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100,
                      cgroup: "5:memory:/a\n3:cpuset:/\n1:cpu,cpuacct:/a\n0::/\n")
        try f.write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "\(100 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/memory.usage_in_bytes", "\(90 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/a/memory.stat", "total_cache 0\n")
        XCTAssertEqual(f.render(.meminfo, pid: 42).field("MemTotal"), "262144 kB")
        XCTAssertEqual(f.render(.meminfo, pid: 42).field("MemFree"), "262144 kB")
        // A quota of half a CPU in the root: all 4 CPUs stay.
        try f.write("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
        XCTAssertEqual(f.render(.cpuOnline, pid: 42, options: ViewOptions(enableCFS: true)), "0-3\n")
    }

    func testUnderACgroupNamespaceTheMountsTopCgroupHoldsALimit() throws {
        // The memory hierarchy's mount root is /kube (a cgroup namespace):
        // its top folder is the cgroup /kube, which may have a limit.
        // Top 200 MiB, reader's cgroup 256 MiB: 204800 kB.
        let f = try FixtureRoot()
        try f.host(mountinfo: "35 31 0:32 /kube /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n")
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "5:memory:/kube/pod\n")
        try f.write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "\(200 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/pod/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/pod/memory.stat", "total_cache 0\n")
        XCTAssertEqual(f.render(.meminfo, pid: 42).field("MemTotal"), "204800 kB")
    }

    func testAV2InitScopeLeafCountsAsItsParent() throws {
        // The reader is in /a/init.scope; the limit of /a (128 MiB = 131072 kB) is its own.
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v2Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "0::/a/init.scope\n")
        try f.write("/sys/fs/cgroup/a/memory.max", "\(128 * mib)\n")
        try f.write("/sys/fs/cgroup/a/memory.current", "\(28 * mib)\n")
        try f.write("/sys/fs/cgroup/a/memory.stat", "anon 0\n")
        try f.write("/sys/fs/cgroup/a/init.scope/memory.max", "\(1 * mib)\n")
        try f.write("/sys/fs/cgroup/a/init.scope/memory.stat", "anon 0\n")
        XCTAssertEqual(f.render(.meminfo, pid: 42).field("MemTotal"), "131072 kB")
        XCTAssertEqual(f.render(.meminfo, pid: 42).field("MemFree"), "102400 kB")
    }

    func testEachControllerComesFromTheV1HierarchyThatMountsIt() throws {
        // memory on v1 (256 MiB) beside a cgroup2 mount that has a memory.max
        // of 1 MiB for the same path: v1 wins (hybrid).
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "5:memory:/c\n0::/c\n")
        try f.write("/sys/fs/cgroup/memory/c/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("/sys/fs/cgroup/memory/c/memory.stat", "total_cache 0\n")
        try f.write("/sys/fs/cgroup/unified/c/memory.max", "\(1 * mib)\n")
        try f.write("/sys/fs/cgroup/unified/c/memory.stat", "anon 0\n")
        XCTAssertEqual(f.render(.meminfo, pid: 42).field("MemTotal"), "262144 kB")
    }
}

/// The CPU rules: the list, the CFS cut, and the views that must agree.
final class CPURuleTests: XCTestCase {
    /// A v1 host (CPUs 0-3, cpuinfo `core id` = host CPU number) with reader 42.
    func v1(cpuset: String = "/c", cpu: String = "/c", online: String = "0-3\n") throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.write("/sys/devices/system/cpu/online", online)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100,
                      cgroup: "5:memory:/\n3:cpuset:\(cpuset)\n1:cpu,cpuacct:\(cpu)\n0::/\n")
        return f
    }

    /// The host CPU numbers shown in cpuinfo, in order (from `core id`), and the `processor` numbers.
    func cpuinfo(_ f: FixtureRoot, options: ViewOptions = ViewOptions()) -> (hostCPUs: [Int], processors: [Int]) {
        let out = f.render(.cpuinfo, pid: 42, options: options)
        var host: [Int] = [], proc: [Int] = []
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: ":")
            guard parts.count == 2, let n = Int(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
            if line.hasPrefix("processor") { proc.append(n) }
            if line.hasPrefix("core id") { host.append(n) }
        }
        return (host, proc)
    }

    func testTheEffectiveListWinsThenCpusetCpusThenTheNearestAncestor() throws {
        let f = try v1(cpuset: "/a/b")
        try f.write("/sys/fs/cgroup/cpuset/a/b/cpuset.effective_cpus", "1-2\n")
        try f.write("/sys/fs/cgroup/cpuset/a/b/cpuset.cpus", "0-3\n")
        XCTAssertEqual(cpuinfo(f).hostCPUs, [1, 2])
        try f.write("/sys/fs/cgroup/cpuset/a/b/cpuset.effective_cpus", "\n")
        try f.write("/sys/fs/cgroup/cpuset/a/b/cpuset.cpus", "3\n")
        XCTAssertEqual(cpuinfo(f).hostCPUs, [3])
        try f.write("/sys/fs/cgroup/cpuset/a/b/cpuset.cpus", "\n")
        try f.write("/sys/fs/cgroup/cpuset/a/cpuset.cpus", "0,2\n")
        XCTAssertEqual(cpuinfo(f).hostCPUs, [0, 2])
        // v2 spells the effective file cpuset.cpus.effective.
        let g = try FixtureRoot()
        try g.host(mountinfo: FixtureRoot.v2Mountinfo)
        try g.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "0::/c\n")
        try g.write("/sys/fs/cgroup/c/cpuset.cpus.effective", "2-3\n")
        try g.write("/sys/fs/cgroup/c/cpuset.cpus", "0\n")
        XCTAssertEqual(cpuinfo(g).hostCPUs, [2, 3])
    }

    func testWithoutACpusetControllerTheHostsOnlineCPUs() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n")
        try f.write("/sys/devices/system/cpu/online", "0,2-3\n")
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "1:cpu,cpuacct:/c\n")
        XCTAssertEqual(cpuinfo(f).hostCPUs, [0, 2, 3])
        XCTAssertEqual(f.render(.cpuOnline, pid: 42), "0-2\n")
    }

    func testTheListIsCutToTheHostsOnlineCPUs() throws {
        // cpuset 1-3 with only CPUs 0-1 online: CPU 1 alone.
        let f = try v1(online: "0-1\n")
        try f.write("/sys/fs/cgroup/cpuset/c/cpuset.effective_cpus", "1-3\n")
        XCTAssertEqual(cpuinfo(f).hostCPUs, [1])
        XCTAssertEqual(f.render(.cpuOnline, pid: 42), "0\n")
        XCTAssertEqual(f.render(.stat, pid: 42).split(separator: "\n").filter { $0.hasPrefix("cpu") }.count, 2)
    }

    func testTheCFSQuotaIsTheSmallestOverTheAncestorsRoundedUp() throws {
        let cfs = ViewOptions(enableCFS: true)
        // Parent 1.5 CPUs, child 2.5: 1.5 rounded up, 2 CPUs.
        let f = try v1(cpuset: "/", cpu: "/a/b")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us", "150000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us", "100000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us", "250000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_period_us", "100000\n")
        XCTAssertEqual(f.render(.cpuOnline, pid: 42, options: cfs), "0-1\n")
        // Parent 2.5, child 1.5: still 2.
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us", "250000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us", "150000\n")
        XCTAssertEqual(f.render(.cpuOnline, pid: 42, options: cfs), "0-1\n")
        // -1 in the child is no quota: the parent's 2.5, 3 CPUs.
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us", "-1\n")
        XCTAssertEqual(f.render(.cpuOnline, pid: 42, options: cfs), "0-2\n")
        // Without --enable-cfs the quota does not cut.
        XCTAssertEqual(f.render(.cpuOnline, pid: 42), "0-3\n")
        // v2: pod 1.5, container 2.5 (and `max` means none): 2 CPUs.
        let g = try FixtureRoot()
        try g.host(mountinfo: FixtureRoot.v2Mountinfo)
        try g.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "0::/pod/ctr\n")
        try g.write("/sys/fs/cgroup/pod/cpu.max", "150000 100000\n")
        try g.write("/sys/fs/cgroup/pod/ctr/cpu.max", "250000 100000\n")
        XCTAssertEqual(g.render(.cpuOnline, pid: 42, options: cfs), "0-1\n")
        try g.write("/sys/fs/cgroup/pod/cpu.max", "max 100000\n")
        XCTAssertEqual(g.render(.cpuOnline, pid: 42, options: cfs), "0-2\n")
    }

    func testTheQuotaKeepsTheFirstCPUsOfTheListAscending() throws {
        // cpuset 1-3 (from /x), quota 2 CPUs (at the cpu path /a): host CPUs 1 and 2, renumbered 0 and 1.
        let f = try v1(cpuset: "/x", cpu: "/a")
        try f.write("/sys/fs/cgroup/cpuset/x/cpuset.effective_cpus", "1-3\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us", "200000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us", "100000\n")
        let view = cpuinfo(f, options: ViewOptions(enableCFS: true))
        XCTAssertEqual(view.hostCPUs, [1, 2])
        XCTAssertEqual(view.processors, [0, 1])
    }

    func testEveryCPUViewAgrees() throws {
        // cpuset 1-2: cpuinfo shows host CPUs 1 and 2 as processors 0 and 1,
        // stat has cpu0 and cpu1, and online, possible and present say 0-1.
        let f = try v1()
        try f.write("/sys/fs/cgroup/cpuset/c/cpuset.effective_cpus", "1-2\n")
        XCTAssertEqual(cpuinfo(f).processors, [0, 1])
        XCTAssertEqual(cpuinfo(f).hostCPUs, [1, 2])
        let cpuLines = f.render(.stat, pid: 42).split(separator: "\n").filter { $0.hasPrefix("cpu") }.map { $0.split(separator: " ")[0] }
        XCTAssertEqual(cpuLines, ["cpu", "cpu0", "cpu1"])
        for file in [VirtualFile.cpuOnline, .cpuPossible, .cpuPresent] {
            XCTAssertEqual(f.render(file, pid: 42), "0-1\n", file.rawValue)
        }
        XCTAssertEqual(f.render(.cpuOffline, pid: 42), "\n")
        try f.write("/sys/fs/cgroup/cpuset/c/cpuset.effective_cpus", "3\n")
        XCTAssertEqual(f.render(.cpuOnline, pid: 42), "0\n")
    }

    func testV1StatTimesAreTheUsageRowsOfTheVisibleCPUs() throws {
        // cpuset 1,3. cpu1: user 2 s, system 1 s (200 and 100 ticks); cpu3:
        // 0.5 s and 0.25 s (50 and 25); cpu0's 99 s is not visible.
        // idle = the host CPU's total (first 8 fields) - the cgroup's busy:
        // cpu1 10100+5+4010+91000+300+0+20+0 = 105435 - 300 = 105135,
        // cpu3 10300+15+4030+93000+300+0+20+0 = 107665 - 75 = 107590.
        let f = try v1()
        try f.write("/sys/fs/cgroup/cpuset/c/cpuset.effective_cpus", "1,3\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/c/cpuacct.usage_all",
                    "cpu user system\n0 99000000000 0\n1 2000000000 1000000000\n2 0 0\n3 500000000 250000000\n")
        XCTAssertEqual(f.render(.stat, pid: 42), """
            cpu  250 0 125 212725 0 0 0 0 0 0
            cpu0 200 0 100 105135 0 0 0 0 0 0
            cpu1 50 0 25 107590 0 0 0 0 0 0
            intr 1548627 0 0 0
            ctxt 5762237
            btime 1795953907
            processes 21645
            procs_running 2
            procs_blocked 0

            """)
    }

    func testV2StatTimesAreSharedOverTheVisibleCPUsWithTheRemainderToTheLowest() throws {
        // user 1.01 s = 101 ticks, system 0.5 s = 50 ticks over 2 CPUs:
        // cpu0 51 and 25, cpu1 50 and 25. Host cpu0 total 104320, cpu1 105435.
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v2Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "0::/c\n")
        try f.write("/sys/fs/cgroup/c/cpuset.cpus.effective", "0-1\n")
        try f.write("/sys/fs/cgroup/c/cpu.stat", "usage_usec 1510000\nuser_usec 1010000\nsystem_usec 500000\n")
        let out = f.render(.stat, pid: 42)
        XCTAssertTrue(out.hasPrefix("cpu  101 0 50 209604 0 0 0 0 0 0\ncpu0 51 0 25 104244 0 0 0 0 0 0\ncpu1 50 0 25 105360 0 0 0 0 0 0\nintr "), out)
    }
}

/// The uptime rules: the host's in the host's pid namespace, else since the
/// namespace's init started, never below 0; the host's when the init is unknown.
final class UptimeRuleTests: XCTestCase {
    func fixture() throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v2Mountinfo)
        return f
    }

    func testAContainerSeesTheTimeSinceItsInitStarted() throws {
        // Host up 5000.00 s, idle 18000.00; the init started at 123456 ticks
        // (1234.56 s): up 3765.44 s; idle scaled by 3765.44 / 5000 (no cgroup
        // CPU time): 18000 x 0.753088 = 13555.58.
        let f = try fixture()
        try f.process(700, parent: 1, ns: "pid:[4026532100]", start: 123_456, cgroup: "0::/c\n")
        try f.process(701, parent: 700, ns: "pid:[4026532100]", start: 200_000, cgroup: "0::/c\n")
        try f.write("/proc/700/status", "NSpid:\t700\t1\n")
        XCTAssertEqual(f.render(.uptime, pid: 701), "3765.44 13555.58\n")
    }

    func testNeverBelowZero() throws {
        // An init that started after the host's uptime (clock skew in a fixture): 0.
        let f = try fixture()
        try f.process(700, parent: 1, ns: "pid:[4026532100]", start: 600_000, cgroup: "0::/c\n")
        try f.write("/proc/700/status", "NSpid:\t700\t1\n")
        XCTAssertEqual(f.render(.uptime, pid: 700), "0.00 0.00\n")
    }

    func testTheHostsPidNamespaceAndAnUnknownInitGiveTheHostsUptime() throws {
        let f = try fixture()
        try f.process(800, parent: 1, ns: "pid:[4026531836]", start: 300_000, cgroup: "0::/c\n")
        XCTAssertEqual(f.render(.uptime, pid: 800), "5000.00 18000.00\n")
        // A reader in another namespace whose /proc/PID/stat is gone.
        try f.write("/proc/900/ns/pid", "pid:[4026532200]\n")
        try f.write("/proc/900/cgroup", "0::/c\n")
        XCTAssertEqual(f.render(.uptime, pid: 900), "5000.00 18000.00\n")
    }
}

/// The daemon's view reads through cached descriptors; a fixture root's directly.
final class ReaderChoiceTests: XCTestCase {
    func testTheRealHostUsesCachedDescriptorsAndAFixtureRootReadsDirectly() throws {
        XCTAssertTrue(ContainerView(root: HostRoot()).files is CachedDescriptorReader)
        XCTAssertTrue(ContainerView(root: HostRoot("/tmp")).files is DirectFileReader)
    }
}
