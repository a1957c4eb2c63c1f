import XCTest
@testable import LXCFSCore

/// Hosts with many CPUs: every file is returned whole, never truncated.
final class LargeHostTests: XCTestCase {
    func testFiveHundredTwelveCPUsAreAllShown() throws {
        let cpus = 512
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo, cpus: cpus)
        var stat = "cpu  1 2 3 4 5 6 7 8 0 0\n"
        for i in 0..<cpus { stat += "cpu\(i) 1000 0 500 90000 10 0 5 0 0 0\n" }
        stat += "intr 1\nctxt 2\nbtime 3\nprocesses 4\nprocs_running 1\nprocs_blocked 0\nsoftirq 0\n"
        try f.write("/proc/stat", stat)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "3:cpuset:/big\n1:cpu,cpuacct:/big\n")
        try f.write("/sys/fs/cgroup/cpuset/big/cpuset.effective_cpus", "0-\(cpus - 1)\n")
        var usage = "cpu user system\n"
        for i in 0..<cpus { usage += "\(i) 10000000000 20000000000\n" }
        try f.write("/sys/fs/cgroup/cpu,cpuacct/big/cpuacct.usage_all", usage)

        let out = f.render(.stat, pid: 42)
        let cpuLines = out.split(separator: "\n").filter { $0.hasPrefix("cpu") && !$0.hasPrefix("cpu ") }
        XCTAssertEqual(cpuLines.count, cpus)
        XCTAssertTrue(cpuLines.last!.hasPrefix("cpu511 "))
        XCTAssertTrue(out.hasSuffix("procs_blocked 0\nsoftirq 0\n"), "the lines after the cpu lines are all there")
        let cpuinfo = f.render(.cpuinfo, pid: 42)
        XCTAssertEqual(cpuinfo.components(separatedBy: "processor\t: ").count - 1, cpus)
        XCTAssertTrue(cpuinfo.contains("processor\t: 511\n"))
        XCTAssertEqual(f.render(.cpuOnline, pid: 42), "0-511\n")
    }
}
