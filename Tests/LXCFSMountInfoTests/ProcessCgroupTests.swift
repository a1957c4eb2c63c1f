import XCTest
import LXCFSMountInfo

/// The one parser of `/proc/PID/cgroup`, on lines as the kernel writes them
/// (kernel/cgroup/cgroup.c, proc_cgroup_show) and on lines it never writes.
final class ProcessCgroupTests: XCTestCase {
    func testV1NamedAndUnifiedLinesInFileOrder() {
        let text = "12:cpu,cpuacct:/docker/abc\n1:name=systemd:/user.slice\n0::/system.slice/x.service\n"
        let e = ProcessCgroup.entries(text)
        XCTAssertEqual(e.map { String($0.hierarchyID) }, ["12", "1", "0"])
        XCTAssertEqual(e.map { String($0.controllers) }, ["cpu,cpuacct", "name=systemd", ""])
        XCTAssertEqual(e.map { String($0.path) }, ["/docker/abc", "/user.slice", "/system.slice/x.service"])
    }

    func testAPathHoldingColonsIsCutAtTheFirstTwoOnly() {
        let e = ProcessCgroup.entries("0::/a:b:c")
        XCTAssertEqual(e.count, 1)
        XCTAssertEqual(e.first.map { String($0.path) }, "/a:b:c")
    }

    func testLinesWithoutTwoColonsAndEmptyLinesAreSkipped() {
        let e = ProcessCgroup.entries("\nnothing\n3:memory\n4:pids:/p\n")
        XCTAssertEqual(e.map { String($0.path) }, ["/p"])
        XCTAssertTrue(ProcessCgroup.entries("").isEmpty)
    }

    func testByteOffsetsOfALine() {
        // "5:memory:/a" after a first line of 6 bytes ("0::/x\n").
        let bytes = Array("0::/x\n5:memory:/a".utf8)
        let lines = bytes.withUnsafeBufferPointer { ProcessCgroup.lines($0) }
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines[1], ProcessCgroup.Line(start: 6, firstColon: 7, secondColon: 14, end: 17))
        XCTAssertEqual(lines[1].hierarchyID, 6..<7)
        XCTAssertEqual(lines[1].controllers, 8..<14)
        XCTAssertEqual(lines[1].path, 15..<17)
        XCTAssertEqual(lines[1].nameCount, 9)
    }

    func testForEachLineStopsWhenTheBodySaysSo() {
        let bytes = Array("1:a:/x\n2:b:/y\n3:c:/z\n".utf8)
        var seen = 0
        bytes.withUnsafeBufferPointer { ProcessCgroup.forEachLine($0) { _ in seen += 1; return seen < 2 } }
        XCTAssertEqual(seen, 2)
    }
}
