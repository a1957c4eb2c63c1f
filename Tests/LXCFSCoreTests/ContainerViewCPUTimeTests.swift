import Foundation
import XCTest
@testable import LXCFSCore

/// /proc/stat and /proc/uptime through `ContainerView` on a small cgroup v2
/// fixture root whose files change between reads: the view's clock, CFS
/// capacity and cgroup key reach the tracker.
final class ContainerViewCPUTimeTests: XCTestCase {
    var root: URL!

    func write(_ path: String, _ text: String) throws {
        let url = root.appendingPathComponent(String(path.dropFirst()))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: false, encoding: .utf8)
    }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("swl-par-view-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try write("/proc/self/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
        try write("/sys/devices/system/cpu/online", "0-1\n")
        try write("/proc/stat", "cpu  200 0 100 19700 0 0 0 0 0 0\ncpu0 100 0 50 9850 0 0 0 0 0 0\ncpu1 100 0 50 9850 0 0 0 0 0 0\nbtime 1\n")
        try write("/proc/uptime", "100.00 150.00\n")
        try write("/proc/1/ns/pid", "pid:[1]\n")
        try write("/proc/1/stat", "1 (init) S 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0\n")
        try write("/proc/4200/ns/pid", "pid:[2]\n")
        try write("/proc/4200/stat", "4200 (sh) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5000 0\n")
        try write("/proc/4242/ns/pid", "pid:[2]\n")
        try write("/proc/4242/stat", "4242 (loop) R 4200 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5100 0\n")
        try write("/proc/4242/cgroup", "0::/c\n")
        try write("/sys/fs/cgroup/c/cpu.max", "50000 100000\n")
        try write("/sys/fs/cgroup/c/cpuset.cpus.effective", "0-1\n")
        try write("/sys/fs/cgroup/c/cpu.stat", "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\n")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    func cpuLines(_ bytes: [UInt8]) -> [String: [UInt64]] {
        var out: [String: [UInt64]] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("cpu") {
            let w = line.split(separator: " ")
            out[String(w[0])] = w.dropFirst().map { UInt64($0)! }
        }
        return out
    }

    func testAQuotaOfHalfACPUShowsAFullyBusyCPUAcrossReads() throws {
        let view = ContainerView(root: HostRoot(root.path), options: ViewOptions(enableCFS: true))
        let a = cpuLines(view.render(.stat, for: 4242))
        XCTAssertEqual(a.keys.sorted(), ["cpu", "cpu0"])
        // The first read follows the fixture rules: the cgroup's own time, idle the rest of host CPU 0.
        XCTAssertEqual(a["cpu0"]!, [150, 0, 50, 9800, 0, 0, 0, 0, 0, 0])
        // One second later the cgroup used its whole quota (0.5 s).
        try write("/proc/uptime", "101.00 151.00\n")
        try write("/sys/fs/cgroup/c/cpu.stat", "usage_usec 2500000\nuser_usec 1900000\nsystem_usec 600000\n")
        let b = cpuLines(view.render(.stat, for: 4242))
        XCTAssertEqual(b["cpu0"]![0] - a["cpu0"]![0], 80)
        XCTAssertEqual(b["cpu0"]![2] - a["cpu0"]![2], 20)
        XCTAssertEqual(b["cpu0"]![3], a["cpu0"]![3], "no idle left under a fully used quota")
        XCTAssertEqual(b["cpu"]!, b["cpu0"]!)
        // Idle next second: all of it idle.
        try write("/proc/uptime", "102.00 152.00\n")
        let c = cpuLines(view.render(.stat, for: 4242))
        XCTAssertEqual(c["cpu0"]![0], b["cpu0"]![0])
        XCTAssertEqual(c["cpu0"]![3] - b["cpu0"]![3], 100)
        XCTAssertEqual(view.cpuTimes.count, 1)
        // A one-shot view (as `render --root`) still shows the fixture rule's rows.
        let fresh = cpuLines(ContainerView(root: HostRoot(root.path), options: ViewOptions(enableCFS: true)).render(.stat, for: 4242))
        XCTAssertEqual(fresh["cpu0"]![0], 190)
    }

    func testUptimeIdleCountsVisibleCPUsLessScaledBusyTime() throws {
        let view = ContainerView(root: HostRoot(root.path), options: ViewOptions(enableCFS: true))
        // Up 100 s, init started at 50 s: 50 s, 1 visible CPU, 2 s used x 2 (quota 0.5) = 4 s busy.
        XCTAssertEqual(String(decoding: view.render(.uptime, for: 4242), as: UTF8.self), "50.00 46.00\n")
        let plain = ContainerView(root: HostRoot(root.path))
        // Without --enable-cfs: 2 visible CPUs, busy unscaled.
        XCTAssertEqual(String(decoding: plain.render(.uptime, for: 4242), as: UTF8.self), "50.00 98.00\n")
    }

    func testAbsurdCountersNeverTrapOrGoDown() throws {
        let huge = "18446744073709551615"
        try write("/proc/stat", "cpu  \(huge) 0 \(huge) \(huge) 0 0 0 0 0 0\ncpu0 \(huge) 0 \(huge) \(huge) 0 0 0 0 0 0\ncpu1 1 0 1 1 0 0 0 0 0 0\n")
        try write("/sys/fs/cgroup/c/cpu.stat", "user_usec \(huge)\nsystem_usec \(huge)\n")
        for options in [ViewOptions(), ViewOptions(enableCFS: true)] {
            let view = ContainerView(root: HostRoot(root.path), options: options)
            var last: [String: [UInt64]]?
            for (k, usage) in ["\(huge)", "5", "\(huge)"].enumerated() {
                try write("/proc/uptime", "\(100 + k).00 150.00\n")
                try write("/sys/fs/cgroup/c/cpu.stat", "user_usec \(usage)\nsystem_usec \(usage)\n")
                let now = cpuLines(view.render(.stat, for: 4242))
                if let last {
                    for (name, fields) in now { XCTAssertTrue(zip(last[name]!, fields).allSatisfy { $0 <= $1 }, name) }
                }
                last = now
                XCTAssertTrue(String(decoding: view.render(.uptime, for: 4242), as: UTF8.self).hasSuffix("\n"))
            }
        }
    }
}
