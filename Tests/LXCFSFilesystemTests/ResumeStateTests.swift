import XCTest
@testable import LXCFSFilesystem

/// What a successor relies on without the predecessor's memory: the state
/// blob's format, node ids as a fixed function of the path, the socket path.
final class ResumeStateTests: XCTestCase {
    let parameters = FUSEInitParameters(major: 7, minor: 40, flags: 0x4000_0009, maxWrite: 4096, maxReadahead: 131_072)

    func testStateRoundTrips() throws {
        let state = SessionState(mountPoint: "/var/lib/lxcfs", parameters: parameters,
                                 options: "allow_other,fsname=swift-lxcfs,subtype=lxcfs", device: "0:52")
        let text = String(decoding: state.encoded(), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("swift-lxcfs-state 1\nmountpoint /var/lib/lxcfs\nprotocol 7.40\n"))
        XCTAssertEqual(try SessionState(decoding: state.encoded()), state)
    }

    func testOtherVersionsAndGarbageAreRefused() {
        let good = SessionState(mountPoint: "/m", parameters: parameters, options: "o", device: "0:1").encoded()
        var v2 = Array("swift-lxcfs-state 2\n".utf8)
        v2 += good.drop(while: { $0 != UInt8(ascii: "\n") }).dropFirst()
        XCTAssertThrowsError(try SessionState(decoding: v2)) { error in
            XCTAssertEqual("\(error)", "it has format version 2, and this build reads 1")
        }
        XCTAssertThrowsError(try SessionState(decoding: [0, 1, 2, 255]))
        XCTAssertThrowsError(try SessionState(decoding: Array("swift-lxcfs-state 1\nmountpoint /m\n".utf8))) { error in
            XCTAssertTrue("\(error)".contains("protocol"))
        }
        let noDevice = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "device 0:1", with: "device x")
        XCTAssertThrowsError(try SessionState(decoding: Array(noDevice.utf8)))
    }

    func testNodeIDsAreAFixedFunctionOfThePath() {
        XCTAssertEqual(NodeTable.id(of: "/"), 1)
        // FNV-1a 64 of the path: the same in every process and every build.
        XCTAssertEqual(NodeTable.id(of: "/proc/meminfo"), NodeTable.id(of: "/proc/meminfo"))
        XCTAssertEqual(NodeTable.id(of: "a"), 0xaf63dc4c8601ec8c)
        let paths = ["/proc", "/proc/meminfo", "/proc/stat", "/sys/devices/system/cpu/cpu0/topology/core_id"]
        XCTAssertEqual(Set(paths.map(NodeTable.id(of:))).count, paths.count)
        let table = NodeTable(fixed: ["/proc", "/proc/meminfo"])
        XCTAssertEqual(table.path(of: NodeTable.id(of: "/proc/meminfo")), "/proc/meminfo")
        // An id from an earlier process, for a path this one never looked up,
        // resolves once the table is rebuilt.
        let late = "/sys/devices/system/cpu/cpu1/online"
        XCTAssertNil(table.path(of: NodeTable.id(of: late)))
        XCTAssertEqual(table.resolve(NodeTable.id(of: late)) { [late] }, late)
    }

    func testTakeoverSocketPath() {
        XCTAssertEqual(TakeoverSocket.path(forMountPoint: "/var/lib/lxcfs"), "/run/swift-lxcfs/var-lib-lxcfs.sock")
        XCTAssertEqual(TakeoverSocket.path(forMountPoint: "/var/lib/lxcfs/"), "/run/swift-lxcfs/var-lib-lxcfs.sock")
        XCTAssertEqual(TakeoverSocket.path(forMountPoint: "/srv/a b"), "/run/swift-lxcfs/srv-a_20b.sock")
        let long = "/" + String(repeating: "x", count: 120)
        let path = TakeoverSocket.path(forMountPoint: long)
        XCTAssertTrue(path.hasPrefix("/run/swift-lxcfs/h-") && path.utf8.count < 108, path)
    }

    func testShutdownKind() {
        XCTAssertEqual(shutdownKind(for: SIGTERM), .final)
        XCTAssertEqual(shutdownKind(for: SIGINT), .final)
        XCTAssertEqual(shutdownKind(for: SIGUSR2), .handover)
    }
}
