import XCTest
@testable import LXCFSCore

/// The container's cgroup rule (../shared/cases/README.md, "The view is the
/// container's"): fixture roots with nested cgroups inside a container, a
/// reader in the container's init cgroup, the shared-pid-namespace pod, a
/// host-pid-namespace reader and v1 paths that differ per controller.
/// Every expected figure is worked out by hand in the comments.
final class ContainerCgroupTests: XCTestCase {
    let mib: UInt64 = 1024 * 1024
    static let hostNS = "pid:[4026531836]"
    static let containerNS = "pid:[4026532100]"

    /// The tree of lxcfs's hierarchy tests (issue 14), on v2 or v1:
    /// - cg1: 500 MiB, 256 MiB swap, CFS quota 3 CPUs, 150 MiB used;
    /// - cg2: 600 MiB, 300 MiB swap, 100 MiB used;
    /// - cg3: the container (no limit), cpuset `containerCPUs`, 100 MiB used,
    ///   4 MiB swap used; its init (host pid 500) in cg3/init.scope;
    /// - cg4: 400 MiB, 200 MiB swap, cpus 0,2, quota 2 CPUs, 80 MiB used;
    /// - cg5; cg6: 900 MiB; cg7: the reader (host pid 501), 10 MiB used.
    /// On v1, swap is memsw minus memory: cg1 memsw 756 MiB, cg2 900 MiB, cg4 600 MiB.
    func nestedTree(v2: Bool, containerCPUs: String = "0-2") throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.host(mountinfo: v2 ? FixtureRoot.v2Mountinfo : FixtureRoot.v1Mountinfo)
        let c3 = "/cg1/cg2/cg3"
        let c7 = "\(c3)/cg4/cg5/cg6/cg7"
        func cgroupFile(_ path: String) -> String {
            v2 ? "0::\(path)\n" : "5:memory:\(path)\n3:cpuset:\(path)\n1:cpu,cpuacct:\(path)\n0::/\n"
        }
        try f.process(400, parent: 1, ns: Self.hostNS, start: 90, cgroup: "0::/\n")            // the runtime
        try f.process(500, parent: 400, ns: Self.containerNS, start: 100, cgroup: cgroupFile("\(c3)/init.scope"))
        try f.process(501, parent: 500, ns: Self.containerNS, start: 200, cgroup: cgroupFile(c7))
        let mem = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory"
        let cpuset = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpuset"
        let cpu = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu,cpuacct"
        let limitFile = v2 ? "memory.max" : "memory.limit_in_bytes"
        let usageFile = v2 ? "memory.current" : "memory.usage_in_bytes"
        func memory(_ dir: String, limit: UInt64?, swap: UInt64?, used: UInt64, swapUsed: UInt64 = 0) throws {
            try f.write("\(mem)\(dir)/\(limitFile)", limit.map { "\($0 * mib)\n" } ?? (v2 ? "max\n" : "9223372036854771712\n"))
            try f.write("\(mem)\(dir)/\(usageFile)", "\(used * mib)\n")
            if v2 {
                try f.write("\(mem)\(dir)/memory.swap.max", swap.map { "\($0 * mib)\n" } ?? "max\n")
                try f.write("\(mem)\(dir)/memory.swap.current", "\(swapUsed * mib)\n")
            } else {
                let memsw = swap.map { "\(($0 + limit!) * mib)\n" } ?? "9223372036854771712\n"
                try f.write("\(mem)\(dir)/memory.memsw.limit_in_bytes", memsw)
                try f.write("\(mem)\(dir)/memory.memsw.usage_in_bytes", "\((used + swapUsed) * mib)\n")
            }
        }
        try memory("/cg1", limit: 500, swap: 256, used: 150)
        try memory("/cg1/cg2", limit: 600, swap: 300, used: 100)
        try memory(c3, limit: nil, swap: nil, used: 100, swapUsed: 4)
        try memory("\(c3)/init.scope", limit: nil, swap: nil, used: 1)
        try memory("\(c3)/cg4", limit: 400, swap: 200, used: 80)
        try memory("\(c3)/cg4/cg5", limit: nil, swap: nil, used: 80)
        try memory("\(c3)/cg4/cg5/cg6", limit: 900, swap: nil, used: 80)
        try memory(c7, limit: nil, swap: nil, used: 10, swapUsed: 1)
        // memory.stat: the container's says 40 MiB of cache, cg7's 2 MiB, init.scope's 1 MiB.
        let stat: (UInt64) -> String = { v2 ? "file \($0 * self.mib)\nanon \(self.mib)\n" : "total_cache \($0 * self.mib)\ntotal_rss \(self.mib)\n" }
        try f.write("\(mem)\(c3)/memory.stat", stat(40))
        try f.write("\(mem)\(c3)/init.scope/memory.stat", stat(1))
        try f.write("\(mem)\(c7)/memory.stat", stat(2))
        let effective = v2 ? "cpuset.cpus.effective" : "cpuset.effective_cpus"
        try f.write("\(cpuset)\(c3)/\(effective)", containerCPUs + "\n")
        try f.write("\(cpuset)\(c3)/init.scope/\(effective)", containerCPUs + "\n")
        for dir in ["/cg4", "/cg4/cg5", "/cg4/cg5/cg6", "/cg4/cg5/cg6/cg7"] {
            try f.write("\(cpuset)\(c3)\(dir)/\(effective)", "0,2\n")
        }
        if v2 {
            try f.write("\(cpu)/cg1/cpu.max", "300000 100000\n")
            try f.write("\(cpu)\(c3)/cg4/cpu.max", "200000 100000\n")
            // The container: 3 s user and 1.5 s system; cg7 alone: 0.2 s and 0.1 s.
            try f.write("\(cpu)\(c3)/cpu.stat", "usage_usec 4500000\nuser_usec 3000000\nsystem_usec 1500000\n")
            try f.write("\(cpu)\(c7)/cpu.stat", "usage_usec 300000\nuser_usec 200000\nsystem_usec 100000\n")
            try f.write("\(cpu)\(c3)/cpu.pressure", "some avg10=7.00 avg60=0.00 avg300=0.00 total=3\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
            try f.write("\(cpu)\(c7)/cpu.pressure", "some avg10=1.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
            try f.write("\(cpu)\(c3)/io.stat", "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")
            try f.write("\(cpu)\(c7)/io.stat", "8:16 rbytes=512 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")
            try f.write("/proc/diskstats", "   8       0 sda 9 0 9 0 0 0 0 0 0 0 0\n   8      16 sdb 9 0 9 0 0 0 0 0 0 0 0\n")
        } else {
            try f.write("\(cpu)/cg1/cpu.cfs_quota_us", "300000\n")
            try f.write("\(cpu)/cg1/cpu.cfs_period_us", "100000\n")
            try f.write("\(cpu)\(c3)/cg4/cpu.cfs_quota_us", "200000\n")
            try f.write("\(cpu)\(c3)/cg4/cpu.cfs_period_us", "100000\n")
            // Nanoseconds per CPU: the container 1 s user and 0.5 s system on each of CPUs 0-3.
            try f.write("\(cpu)\(c3)/cpuacct.usage_all",
                        "cpu user system\n0 1000000000 500000000\n1 1000000000 500000000\n2 1000000000 500000000\n3 1000000000 500000000\n")
            try f.write("\(cpu)\(c7)/cpuacct.usage_all", "cpu user system\n0 100000000 0\n1 0 0\n2 100000000 0\n3 0 0\n")
        }
        return f
    }

    /// MemTotal min(500, 600) MiB = 512000 kB; MemFree the smallest headroom
    /// of the container's limited levels, min(500 - 150, 600 - 100) MiB =
    /// 350 MiB = 358400 kB; Cached the container's 40 MiB = 40960 kB;
    /// SwapTotal min(256, 300) MiB = 262144 kB; SwapFree 256 - 4 MiB = 258048 kB.
    func assertContainerMemory(_ f: FixtureRoot, pid: Int32, file: StaticString = #filePath, line: UInt = #line) {
        let out = f.render(.meminfo, pid: pid)
        XCTAssertEqual(out.field("MemTotal"), "512000 kB", file: file, line: line)
        XCTAssertEqual(out.field("MemFree"), "358400 kB", file: file, line: line)
        XCTAssertEqual(out.field("Cached"), "40960 kB", file: file, line: line)
        XCTAssertEqual(out.field("SwapTotal"), "262144 kB", file: file, line: line)
        XCTAssertEqual(out.field("SwapFree"), "258048 kB", file: file, line: line)
        let swaps = f.render(.swaps, pid: pid)
        XCTAssertTrue(swaps.hasPrefix(SwapsRenderer.header), swaps, file: file, line: line)
        XCTAssertEqual(swaps.split(separator: "\n").dropFirst().map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }) },
                       [["none", "virtual", "262144", "4096", "0"]], swaps, file: file, line: line)
    }

    func testNestedTreeV2ReaderInCg7SeesTheContainer() throws {
        let f = try nestedTree(v2: true)
        assertContainerMemory(f, pid: 501)
        // The container's cpuset 0-2: three CPUs everywhere.
        let stat = f.render(.stat, pid: 501)
        XCTAssertEqual(stat.split(separator: "\n").filter { $0.hasPrefix("cpu") && $0.dropFirst(3).first?.isNumber == true }.map { String($0.prefix(4)) },
                       ["cpu0", "cpu1", "cpu2"], stat)
        // The container's 300 user and 150 system ticks shared over 3 CPUs.
        XCTAssertTrue(stat.hasPrefix("cpu  300 0 150 "), stat)
        XCTAssertTrue(stat.contains("\ncpu0 100 0 50 "), stat)
        XCTAssertEqual(f.render(.cpuOnline, pid: 501), "0-2\n")
        XCTAssertEqual(f.render(.cpuinfo, pid: 501).components(separatedBy: "processor\t: ").count - 1, 3)
        // Pressure and I/O are the container's too.
        XCTAssertTrue(f.render(.cpuPressure, pid: 501).hasPrefix("some avg10=7.00 "))
        let disks = f.render(.diskstats, pid: 501)
        XCTAssertTrue(disks.hasPrefix("   8       0 sda 1 0 8 ") && !disks.contains("sdb"), disks)
        // The load average counts the container's tasks.
        let view = ContainerView(root: f.root)
        let group = try XCTUnwrap(CgroupReader(root: f.root, layout: view.layout).taskGroup(try XCTUnwrap(view.membership(of: 501))))
        XCTAssertEqual(group.directory, "/sys/fs/cgroup/cg1/cg2/cg3")
    }

    /// With --enable-cfs and the container's cpuset wide open (0-3), the
    /// quota of 3 CPUs on cg1 cuts the view to 3 CPUs (cg4's 2 do not count);
    /// without --enable-cfs all 4 show.
    func testNestedTreeCFSQuotaIsTheContainersOnV2AndV1() throws {
        for v2 in [true, false] {
            let f = try nestedTree(v2: v2, containerCPUs: "0-3")
            let cfs = ViewOptions(enableCFS: true)
            let stat = f.render(.stat, pid: 501, options: cfs)
            XCTAssertEqual(stat.split(separator: "\n").filter { $0.hasPrefix("cpu") && $0.dropFirst(3).first?.isNumber == true }.count, 3, "v2=\(v2): \(stat)")
            XCTAssertEqual(f.render(.cpuOnline, pid: 501, options: cfs), "0-2\n", "v2=\(v2)")
            XCTAssertEqual(f.render(.cpuOnline, pid: 501), "0-3\n", "v2=\(v2)")
        }
    }

    func testNestedTreeV1ReaderInCg7SeesTheContainer() throws {
        let f = try nestedTree(v2: false)
        assertContainerMemory(f, pid: 501)
        let stat = f.render(.stat, pid: 501)
        // cpuacct of the container on CPUs 0-2: 100 user and 50 system ticks each.
        XCTAssertTrue(stat.hasPrefix("cpu  300 0 150 "), stat)
        XCTAssertTrue(stat.contains("\ncpu2 100 0 50 ") && !stat.contains("\ncpu3 "), stat)
        XCTAssertEqual(f.render(.cpuOnline, pid: 501), "0-2\n")
    }

    /// The init itself, and another process in cg3/init.scope, read the
    /// container: on v1 too, where `init.scope` is a plain folder with its
    /// own memory.stat (1 MiB of cache) that must not be taken.
    func testReaderInTheContainersInitCgroup() throws {
        for v2 in [true, false] {
            let f = try nestedTree(v2: v2)
            let initScope = v2 ? "0::/cg1/cg2/cg3/init.scope\n"
                : "5:memory:/cg1/cg2/cg3/init.scope\n3:cpuset:/cg1/cg2/cg3/init.scope\n1:cpu,cpuacct:/cg1/cg2/cg3/init.scope\n0::/\n"
            try f.process(502, parent: 500, ns: Self.containerNS, start: 300, cgroup: initScope)
            assertContainerMemory(f, pid: 500)
            assertContainerMemory(f, pid: 502)
            // One CPU-time view for the whole container: the same lines for all.
            let view = ContainerView(root: f.root)
            let a = String(decoding: view.render(.stat, for: 500), as: UTF8.self)
            let b = String(decoding: view.render(.stat, for: 501), as: UTF8.self)
            XCTAssertEqual(a.split(separator: "\n").prefix(4), b.split(separator: "\n").prefix(4), "v2=\(v2)")
        }
    }

    /// A pod whose containers share one pid namespace: the init is the pause
    /// container in kubepods/pod1/pause (no limit), the containers are its
    /// siblings app (256 MiB = 262144 kB) and side (128 MiB = 131072 kB)
    /// under the pod's 1 GiB. Each sees its own limit; pause sees the pod's
    /// 1 GiB = 1048576 kB.
    func testSharedPidNamespacePodKeepsEachContainersLimit() throws {
        for v2 in [true, false] {
            let f = try FixtureRoot()
            try f.host(mountinfo: v2 ? FixtureRoot.v2Mountinfo : FixtureRoot.v1Mountinfo)
            func cgroupFile(_ path: String) -> String {
                v2 ? "0::\(path)\n" : "5:memory:\(path)\n3:cpuset:\(path)\n1:cpu,cpuacct:\(path)\n0::/\n"
            }
            try f.process(400, parent: 1, ns: Self.hostNS, start: 90, cgroup: "0::/\n")
            try f.process(600, parent: 400, ns: Self.containerNS, start: 100, cgroup: cgroupFile("/kubepods/pod1/pause"))
            try f.process(601, parent: 600, ns: Self.containerNS, start: 200, cgroup: cgroupFile("/kubepods/pod1/app"))
            try f.process(602, parent: 600, ns: Self.containerNS, start: 300, cgroup: cgroupFile("/kubepods/pod1/side"))
            let mem = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory"
            let limitFile = v2 ? "memory.max" : "memory.limit_in_bytes"
            let usageFile = v2 ? "memory.current" : "memory.usage_in_bytes"
            for (dir, limit) in [("/kubepods/pod1", "\(1024 * mib)"), ("/kubepods/pod1/pause", v2 ? "max" : "9223372036854771712"),
                                 ("/kubepods/pod1/app", "\(256 * mib)"), ("/kubepods/pod1/side", "\(128 * mib)")] {
                try f.write("\(mem)\(dir)/\(limitFile)", limit + "\n")
                try f.write("\(mem)\(dir)/\(usageFile)", "\(mib)\n")
                try f.write("\(mem)\(dir)/memory.stat", v2 ? "file 0\n" : "total_cache 0\n")
            }
            XCTAssertEqual(f.render(.meminfo, pid: 601).field("MemTotal"), "262144 kB", "v2=\(v2)")
            XCTAssertEqual(f.render(.meminfo, pid: 602).field("MemTotal"), "131072 kB", "v2=\(v2)")
            XCTAssertEqual(f.render(.meminfo, pid: 600).field("MemTotal"), "1048576 kB", "v2=\(v2)")
            let lines = ContainerView(root: f.root).explainContainerCgroup(of: 601)
            XCTAssertTrue(lines.contains { $0.contains("/kubepods/pod1/app (reader's /kubepods/pod1/app)") && $0.contains("not at or below the init's (/kubepods/pod1/pause)") }, "\(lines)")
        }
    }

    /// A reader in the host's pid namespace in a sub-cgroup: its own cgroup
    /// (/svc/sub, 300 MiB = 307200 kB under /svc's 1 GiB), though pid 1 sits
    /// in /init.scope, whose cgroup with `init.scope` dropped is the root.
    func testHostPidNamespaceReaderInASubCgroupKeepsItsOwn() throws {
        for v2 in [true, false] {
            let f = try FixtureRoot()
            try f.host(mountinfo: v2 ? FixtureRoot.v2Mountinfo : FixtureRoot.v1Mountinfo)
            if !v2 { try f.write("/proc/1/cgroup", "5:memory:/init.scope\n3:cpuset:/\n1:cpu,cpuacct:/init.scope\n0::/init.scope\n") }
            try f.process(700, parent: 1, ns: Self.hostNS, start: 100,
                          cgroup: v2 ? "0::/svc/sub\n" : "5:memory:/svc/sub\n3:cpuset:/svc/sub\n1:cpu,cpuacct:/svc/sub\n0::/svc/sub\n")
            let mem = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory"
            let limitFile = v2 ? "memory.max" : "memory.limit_in_bytes"
            try f.write("\(mem)/svc/\(limitFile)", "\(1024 * mib)\n")
            try f.write("\(mem)/svc/sub/\(limitFile)", "\(300 * mib)\n")
            try f.write("\(mem)/svc/sub/memory.stat", v2 ? "file 0\n" : "total_cache 0\n")
            XCTAssertEqual(f.render(.meminfo, pid: 700).field("MemTotal"), "307200 kB", "v2=\(v2)")
            let lines = ContainerView(root: f.root).explainContainerCgroup(of: 700)
            XCTAssertTrue(lines.first?.contains("no init of another pid namespace") == true, "\(lines)")
        }
    }

    /// v1 hierarchies whose paths differ per controller, each decided on its
    /// own line:
    /// - memory: reader /ct/inner (64 MiB) below the init's /ct (256 MiB):
    ///   /ct, MemTotal 262144 kB;
    /// - cpuset: reader /cpus/ct/inner (CPU 1) below the init's /cpus/ct
    ///   (0-2): /cpus/ct, three CPUs;
    /// - cpu,cpuacct: reader /cpuct/x (quota 1 CPU) not below the init's
    ///   /cpuinit (no quota): its own, so --enable-cfs shows one CPU.
    func testV1PathsThatDifferPerController() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(400, parent: 1, ns: Self.hostNS, start: 90, cgroup: "0::/\n")
        try f.process(800, parent: 400, ns: Self.containerNS, start: 100,
                      cgroup: "5:memory:/ct\n3:cpuset:/cpus/ct\n1:cpu,cpuacct:/cpuinit\n0::/\n")
        try f.process(801, parent: 800, ns: Self.containerNS, start: 200,
                      cgroup: "5:memory:/ct/inner\n3:cpuset:/cpus/ct/inner\n1:cpu,cpuacct:/cpuct/x\n0::/\n")
        let mem = "/sys/fs/cgroup/memory"
        try f.write("\(mem)/ct/memory.limit_in_bytes", "\(256 * mib)\n")
        try f.write("\(mem)/ct/memory.stat", "total_cache 0\n")
        try f.write("\(mem)/ct/inner/memory.limit_in_bytes", "\(64 * mib)\n")
        try f.write("\(mem)/ct/inner/memory.stat", "total_cache 0\n")
        try f.write("/sys/fs/cgroup/cpuset/cpus/ct/cpuset.effective_cpus", "0-2\n")
        try f.write("/sys/fs/cgroup/cpuset/cpus/ct/inner/cpuset.effective_cpus", "1\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/cpuct/x/cpu.cfs_quota_us", "100000\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/cpuct/x/cpu.cfs_period_us", "100000\n")
        XCTAssertEqual(f.render(.meminfo, pid: 801).field("MemTotal"), "262144 kB")
        XCTAssertEqual(f.render(.cpuOnline, pid: 801), "0-2\n")
        XCTAssertEqual(f.render(.cpuOnline, pid: 801, options: ViewOptions(enableCFS: true)), "0\n")
        let m = try XCTUnwrap(ContainerView(root: f.root).membership(of: 801))
        XCTAssertEqual(m.v1Paths, ["memory": "/ct", "cpuset": "/cpus/ct", "cpu": "/cpuct/x", "cpuacct": "/cpuct/x"])
        XCTAssertEqual(m.unifiedPath, "/")
    }

    /// The rule on bytes alone: prefixes count only at a `/`, `init.scope`
    /// is dropped on v1 and v2 lines alike, an unchanged membership is not copied.
    func testResolveByLine() throws {
        func resolve(_ reader: String, _ initText: String?) -> ContainerCgroup.Resolution {
            ContainerCgroup.resolve(reader: CgroupMembership(parsing: Array(reader.utf8)[...]), initPid: 5,
                                    initCgroup: initText.map { Array($0.utf8) }, explain: true)
        }
        var r = resolve("4:memory:/a/bc\n0::/a/bc\n", "4:memory:/a/b\n0::/a/b/init.scope\n")
        XCTAssertEqual(r.choices.map(\.path), ["/a/bc", "/a/bc"])
        r = resolve("4:memory:/a/b/c\n0::/a/b/c\n", "4:memory:/a/b/init.scope\n0::/a/b/init.scope\n")
        XCTAssertEqual(r.choices.map(\.path), ["/a/b", "/a/b"])
        XCTAssertEqual(r.membership.v1Paths["memory"], "/a/b")
        r = resolve("4:memory:/x\n0::/x\n", "4:memory:/init.scope\n0::/\n")
        XCTAssertEqual(r.choices.map(\.path), ["/", "/"])
        // Lines in another order, and a hierarchy the init lacks.
        r = resolve("4:memory:/a/b/c\n3:cpuset:/a/b/c\n", "3:cpuset:/a\n4:memory:/a/b\n")
        XCTAssertEqual(r.choices.map(\.path), ["/a/b", "/a"])
        r = resolve("4:memory:/a/b/c\n2:pids:/p\n", "4:memory:/a\n")
        XCTAssertEqual(r.choices.map(\.path), ["/a", "/p"])
        XCTAssertEqual(r.choices.last?.reason, .initNotInHierarchy)
        r = resolve("4:memory:/a\n", nil)
        XCTAssertEqual(r.choices.map(\.reason), [.initCgroupUnreadable])
        let same = CgroupMembership(parsing: Array("4:memory:/a\n0::/a\n".utf8)[...])
        XCTAssertEqual(ContainerCgroup.resolve(reader: same, initPid: 5, initCgroup: Array("4:memory:/a\n0::/a\n".utf8)).membership.bytes,
                       same.bytes)
    }
}
