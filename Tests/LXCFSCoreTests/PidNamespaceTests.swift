import Foundation
import XCTest
@testable import LXCFSCore

/// The init of a reader's pid namespace, and its cache when pids are recycled.
final class PidNamespaceTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try FileFixtures.scratch() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Writes a process: its namespace (as the link's text), parent and start time.
    func process(_ pid: Int32, ns: String, ppid: Int32, start: UInt64) throws {
        try FileFixtures.write(dir, "/proc/\(pid)/ns/pid", "pid:[\(ns)]\n")
        try FileFixtures.write(dir, "/proc/\(pid)/stat",
                              "\(pid) (sh) S \(ppid) 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 \(start) 0 0\n")
    }

    func testFindsTheTopmostAncestorInTheSameNamespace() throws {
        try process(1, ns: "1", ppid: 0, start: 1)
        try process(400, ns: "1", ppid: 1, start: 900)      // the runtime, host namespace
        try process(500, ns: "77", ppid: 400, start: 1000)  // the container's init
        try process(501, ns: "77", ppid: 500, start: 1100)
        let resolver = PidNamespaceResolver(root: HostRoot(dir.path))
        XCTAssertEqual(resolver.initProcess(of: 501), .init(pid: 500, startTime: 1000))
        XCTAssertNil(resolver.initProcess(of: 400), "host namespace: no init")
    }

    func testARecycledInitPidNeverGivesAnotherContainersInit() throws {
        try process(1, ns: "1", ppid: 0, start: 1)
        try process(400, ns: "1", ppid: 1, start: 900)
        try process(500, ns: "77", ppid: 400, start: 1000)
        try process(501, ns: "77", ppid: 500, start: 1100)
        let resolver = PidNamespaceResolver(root: HostRoot(dir.path))
        XCTAssertEqual(resolver.initProcess(of: 501)?.pid, 500)

        // The container stops; its namespace inode 77 is reused by a new
        // container whose init is 700, and pid 500 is recycled by a process
        // of yet another container (namespace 88).
        try FileManager.default.removeItem(at: dir.appendingPathComponent("proc/501"))
        try process(500, ns: "88", ppid: 400, start: 5000)
        try process(700, ns: "77", ppid: 400, start: 6000)
        try process(701, ns: "77", ppid: 700, start: 6100)
        XCTAssertEqual(resolver.initProcess(of: 701), .init(pid: 700, startTime: 6000))

        // Pid 700 is recycled inside the same namespace inode with a new
        // start time: the cached entry fails its check and is looked up again.
        try process(700, ns: "77", ppid: 400, start: 7000)
        try process(702, ns: "77", ppid: 700, start: 7100)
        XCTAssertEqual(resolver.initProcess(of: 702), .init(pid: 700, startTime: 7000))
    }
}

/// A reader that joined the namespace from outside (`docker exec`) still finds pid 1.
final class PidNamespaceExecTests: XCTestCase {
    func testAReaderWhoseParentIsOutsideTheNamespaceFindsPidOne() throws {
        let dir = try FileFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func process(_ pid: Int32, ns: String, ppid: Int32, start: UInt64, nspid: String) throws {
            try FileFixtures.write(dir, "/proc/\(pid)/ns/pid", "pid:[\(ns)]\n")
            try FileFixtures.write(dir, "/proc/\(pid)/stat",
                                   "\(pid) (sh) S \(ppid) 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 \(start) 0 0\n")
            try FileFixtures.write(dir, "/proc/\(pid)/status", "PPid:\t\(ppid)\nNSpid:\t\(nspid)\n")
        }
        try process(1, ns: "1", ppid: 0, start: 1, nspid: "1")
        try process(400, ns: "1", ppid: 1, start: 900, nspid: "400")       // containerd-shim
        try process(500, ns: "77", ppid: 400, start: 1000, nspid: "500\t1")  // the container's init
        try process(800, ns: "77", ppid: 400, start: 9000, nspid: "800\t42") // docker exec'd shell
        try process(801, ns: "77", ppid: 800, start: 9100, nspid: "801\t43")
        let resolver = PidNamespaceResolver(root: HostRoot(dir.path))
        XCTAssertEqual(resolver.initProcess(of: 801), .init(pid: 500, startTime: 1000))
        // The exec'd shell was never cached as the init.
        XCTAssertEqual(resolver.initProcess(of: 500), .init(pid: 500, startTime: 1000))
    }
}
