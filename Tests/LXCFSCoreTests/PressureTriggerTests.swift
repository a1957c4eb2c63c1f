import XCTest
@testable import LXCFSCore

/// PSI trigger text as the kernel's psi_write takes it, and the container
/// cgroup's pressure file a trigger is registered on. Values by hand.
final class PressureTriggerTests: XCTestCase {
    /// One write(2) of `text`; `nul` adds the NUL the kernel documentation's example writes.
    func parse(_ text: String, nul: Bool = true) -> Result<PressureTrigger, PressureTrigger.Invalid> {
        PressureTrigger.parse(written: Array(text.utf8) + (nul ? [0] : []))
    }

    func testValidTriggers() {
        XCTAssertEqual(try parse("some 150000 1000000").get(),
                       PressureTrigger(stall: .some, thresholdMicroseconds: 150_000, windowMicroseconds: 1_000_000))
        // A newline instead of the NUL: the kernel drops the last byte either way.
        XCTAssertEqual(try parse("full 50000 2000000\n", nul: false).get(),
                       PressureTrigger(stall: .full, thresholdMicroseconds: 50_000, windowMicroseconds: 2_000_000))
        // The edges: a 500 ms window, a 10 s window, stall equal to the window, 1 us.
        XCTAssertEqual(try parse("some 500000 500000").get().windowMicroseconds, 500_000)
        XCTAssertEqual(try parse("some 1 10000000").get().windowMicroseconds, 10_000_000)
        // sscanf: a blank in the format takes any run of white space; trailing bytes are ignored.
        XCTAssertEqual(try parse("some   70000\t1000000 junk").get().thresholdMicroseconds, 70_000)
        // What is written to the cgroup's file.
        XCTAssertEqual(try parse("some  150000   1000000").get().text, "some 150000 1000000")
    }

    func testInvalidTriggers() {
        XCTAssertEqual(parse("many 150000 1000000"), .failure(.syntax))
        XCTAssertEqual(parse(" some 150000 1000000"), .failure(.syntax))
        XCTAssertEqual(parse("some 150000"), .failure(.syntax))
        XCTAssertEqual(parse("some -1 1000000"), .failure(.syntax))
        XCTAssertEqual(parse("some 1 99999999999"), .failure(.syntax))   // > u32
        XCTAssertEqual(parse(""), .failure(.syntax))
        XCTAssertEqual(PressureTrigger.parse(written: [UInt8]()), .failure(.syntax))
        // Windows outside 500 ms .. 10 s.
        XCTAssertEqual(parse("some 1000 499999"), .failure(.window))
        XCTAssertEqual(parse("some 1000 10000001"), .failure(.window))
        // Stall 0, stall longer than the window.
        XCTAssertEqual(parse("some 0 1000000"), .failure(.threshold))
        XCTAssertEqual(parse("full 1000001 1000000"), .failure(.threshold))
        // Without a terminator the kernel drops the last digit: 1000000 -> 100000 us, under 500 ms.
        XCTAssertEqual(parse("some 50000 1000000", nul: false), .failure(.window))
    }

    func testOnlyThirtyTwoBytesAreRead() {
        // 31 bytes of text and the NUL: 32 bytes, taken whole, the NUL dropped.
        let fits = "some 150000" + String(repeating: " ", count: 13) + "1000000"
        XCTAssertEqual(fits.utf8.count, 31)
        XCTAssertEqual(try parse(fits).get().windowMicroseconds, 1_000_000)
        // 32 bytes of text and the NUL: the kernel reads 32 and drops the
        // 32nd, the window's last digit: 100000 us, under 500 ms.
        let over = "some 150000" + String(repeating: " ", count: 14) + "1000000"
        XCTAssertEqual(over.utf8.count, 32)
        XCTAssertEqual(parse(over), .failure(.window))
    }

    func testUnprivilegedWindows() {
        XCTAssertTrue(try parse("some 150000 2000000").get().allowedUnprivileged)
        XCTAssertTrue(try parse("some 150000 4000000").get().allowedUnprivileged)
        XCTAssertFalse(try parse("some 150000 1000000").get().allowedUnprivileged)
        XCTAssertFalse(try parse("some 150000 3000000").get().allowedUnprivileged)
    }

    func testPrivilegeFromCapEff() throws {
        let f = try FixtureRoot()
        // CAP_SYS_RESOURCE is bit 24: 0x1000000.
        try f.write("/proc/10/status", "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n")
        try f.write("/proc/11/status", "Name:\tx\nCapEff:\t00000000a80425fb\n")   // docker's default set: no 24
        try f.write("/proc/12/status", "Name:\tx\nCapEff:\t0000000001000000\n")
        XCTAssertTrue(PressureTrigger.isPrivileged(pid: 10, root: f.root))
        XCTAssertFalse(PressureTrigger.isPrivileged(pid: 11, root: f.root))
        XCTAssertTrue(PressureTrigger.isPrivileged(pid: 12, root: f.root))
        XCTAssertFalse(PressureTrigger.isPrivileged(pid: 13, root: f.root))   // gone
    }

    func testTriggerFileIsTheContainerCgroupsOnV2() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v2Mountinfo)
        // The container's init in /lxc/c1/init.scope, a reader below it in /lxc/c1/svc.
        try f.process(500, parent: 1, ns: "pid:[4026532100]", start: 100, cgroup: "0::/lxc/c1/init.scope\n")
        try f.process(501, parent: 500, ns: "pid:[4026532100]", start: 200, cgroup: "0::/lxc/c1/svc\n")
        for dir in ["/lxc/c1", "/lxc/c1/svc", "/lxc/c1/init.scope"] {
            for file in ["cpu.pressure", "io.pressure", "memory.pressure"] {
                try f.write("/sys/fs/cgroup\(dir)/\(file)", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
            }
        }
        let view = ContainerView(root: f.root)
        XCTAssertEqual(view.pressureTriggerFile(.cpu, for: 501), f.url.path + "/sys/fs/cgroup/lxc/c1/cpu.pressure")
        XCTAssertEqual(view.pressureTriggerFile(.memory, for: 500), f.url.path + "/sys/fs/cgroup/lxc/c1/memory.pressure")
        XCTAssertEqual(view.pressureTriggerFile(.io, for: 501), f.url.path + "/sys/fs/cgroup/lxc/c1/io.pressure")
        XCTAssertNil(view.pressureTriggerFile(.cpu, for: 999))   // exited
        // No pressure file (PSI off): no trigger.
        try f.remove("/sys/fs/cgroup/lxc/c1/io.pressure")
        XCTAssertNil(ContainerView(root: f.root).pressureTriggerFile(.io, for: 501))
    }

    func testNoTriggerFileOnV1() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(501, parent: 1, ns: "pid:[4026531836]", start: 200,
                      cgroup: "5:memory:/c1\n3:cpuset:/c1\n1:cpu,cpuacct:/c1\n0::/c1\n")
        try f.write("/sys/fs/cgroup/cpu,cpuacct/c1/cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
        try f.write("/sys/fs/cgroup/memory/c1/memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
        let view = ContainerView(root: f.root)
        XCTAssertNil(view.pressureTriggerFile(.cpu, for: 501))
        XCTAssertNil(view.pressureTriggerFile(.memory, for: 501))
        XCTAssertNil(view.pressureTriggerFile(.io, for: 501))
    }
}
