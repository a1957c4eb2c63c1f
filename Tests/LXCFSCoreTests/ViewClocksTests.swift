import Foundation
import Synchronization
import XCTest
@testable import LXCFSCore

/// A hand-moved clock for a view (nanoseconds).
final class FakeClock: Sendable {
    private let nanoseconds: Mutex<UInt64>
    init(_ start: UInt64) { nanoseconds = Mutex(start) }
    func advance(seconds: UInt64) { nanoseconds.withLock { $0 += seconds * 1_000_000_000 } }
    @Sendable func now() -> UInt64 { nanoseconds.withLock { $0 } }
}

/// `ContainerView` with injected clocks: the CPU time tracker's "now" and
/// the cgroup layout's age follow the fake clocks, not the host's or the
/// fixture's `/proc/uptime`.
final class ViewClocksTests: XCTestCase {
    var root: URL!

    func write(_ path: String, _ text: String) throws {
        try FileFixtures.write(root, path, text)
    }

    override func setUpWithError() throws {
        root = try FileFixtures.scratch()
        try write("/proc/self/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
        try write("/sys/devices/system/cpu/online", "0-1\n")
        try write("/proc/stat", "cpu  200 0 100 19700 0 0 0 0 0 0\ncpu0 100 0 50 9850 0 0 0 0 0 0\ncpu1 100 0 50 9850 0 0 0 0 0 0\n")
        // The fixture's own "now", which injected clocks must override.
        try write("/proc/uptime", "100.00 150.00\n")
        try write("/proc/4242/cgroup", "0::/c\n")
        try write("/sys/fs/cgroup/c/cpuset.cpus.effective", "0-1\n")
        try write("/sys/fs/cgroup/c/cpu.stat", "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\n")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    func cpu0(_ bytes: [UInt8]) -> String? {
        bytes.text.split(separator: "\n").first { $0.hasPrefix("cpu0 ") }.map(String.init)
    }

    func testTheTrackerFollowsTheInjectedBootClock() {
        let monotonic = FakeClock(1_000_000_000), boot = FakeClock(500_000_000_000)
        let view = ContainerView(root: HostRoot(root.path),
                                 clocks: ViewClocks(monotonic: monotonic.now, boot: boot.now))
        // First read, the fixture rules: user 150 and system 50 ticks shared
        // over 2 CPUs (75, 25), idle the rest of host cpu0's 10,000 ticks.
        XCTAssertEqual(cpu0(view.render(.stat, for: 4242)), "cpu0 75 0 25 9900 0 0 0 0 0 0")
        // The fixture's /proc/uptime stands still; the boot clock moves 2 s
        // with no CPU used: 200 idle ticks more on each CPU.
        boot.advance(seconds: 2)
        XCTAssertEqual(cpu0(view.render(.stat, for: 4242)), "cpu0 75 0 25 10100 0 0 0 0 0 0")
        // The clock stands still: nothing moves, whatever the fixture says.
        XCTAssertEqual(cpu0(view.render(.stat, for: 4242)), "cpu0 75 0 25 10100 0 0 0 0 0 0")
    }

    func testTheLayoutIsReadAgainAfterFiveSecondsOfTheInjectedMonotonicClock() throws {
        try write("/proc/self/mountinfo", "")
        let monotonic = FakeClock(1_000_000_000), boot = FakeClock(500_000_000_000)
        let view = ContainerView(root: HostRoot(root.path),
                                 clocks: ViewClocks(monotonic: monotonic.now, boot: boot.now))
        // No cgroup hierarchy: the host's line.
        XCTAssertEqual(cpu0(view.render(.stat, for: 4242)), "cpu0 100 0 50 9850 0 0 0 0 0 0")
        try write("/proc/self/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
        monotonic.advance(seconds: 4)
        XCTAssertEqual(cpu0(view.render(.stat, for: 4242)), "cpu0 100 0 50 9850 0 0 0 0 0 0", "layout still held")
        monotonic.advance(seconds: 1)
        XCTAssertEqual(cpu0(view.render(.stat, for: 4242)), "cpu0 75 0 25 9900 0 0 0 0 0 0", "layout read again")
    }

    func testAFixtureRootsDefaultBootClockIsItsUptime() {
        // 100.00 s of the fixture's /proc/uptime, in nanoseconds.
        XCTAssertEqual(ViewClocks.fixture(DirectFileReader(root: HostRoot(root.path))).boot(), 100_000_000_000)
    }
}
