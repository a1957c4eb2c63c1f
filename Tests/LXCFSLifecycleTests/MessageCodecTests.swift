import LXCFSLifecycle
import XCTest

final class NotifyMessageTests: XCTestCase {
    func testEncodesTheDatagramsSwiftLXCFSSends() {
        XCTAssertEqual(NotifyMessage.store("fuse").encoded, "FDSTORE=1\nFDNAME=fuse")
        XCTAssertEqual(NotifyMessage.remove("state").encoded, "FDSTOREREMOVE=1\nFDNAME=state")
        XCTAssertEqual(NotifyMessage(ready: true, status: "Serving /var/lib/lxcfs", mainPID: 42).encoded,
                       "READY=1\nSTATUS=Serving /var/lib/lxcfs\nMAINPID=42")
        XCTAssertEqual(NotifyMessage(stopping: true).encoded, "STOPPING=1")
        XCTAssertEqual(NotifyMessage(status: "two\nlines").encoded, "STATUS=two lines")
    }

    func testRoundTrips() {
        let messages = [
            NotifyMessage.store("fuse"), .remove("fuse"), NotifyMessage(ready: true, status: "Serving /x", mainPID: 7),
            NotifyMessage(stopping: true), NotifyMessage(ready: true, stopping: true, status: "s", mainPID: 1,
                                                         fdStore: true, fdStoreRemove: true, fdName: "n"),
        ]
        for m in messages { XCTAssertEqual(NotifyMessage.parse(m.encoded), m, m.encoded) }
    }

    func testParsesAsSystemdDoes() {
        let m = NotifyMessage.parse("X=1\nREADY=0\nREADY=1\nnoequals\nFDSTORE=1\nMAINPID=abc\n")
        XCTAssertEqual(m, NotifyMessage(ready: true, fdStore: true))
        XCTAssertEqual(m?.storeName, "stored")
        XCTAssertEqual(NotifyMessage.parse("FDSTORE=yes\nFDNAME=a=b")?.fdStore, false)
        XCTAssertEqual(NotifyMessage.parse("FDSTORE=yes\nFDNAME=a=b")?.fdName, "a=b")
    }

    func testRejectsGarbage() {
        for text in ["", "\n\n", "hello", "=1", "WATCHDOG=1\nUNKNOWN=2", "READY\n1"] {
            XCTAssertNil(NotifyMessage.parse(text), text)
        }
    }
}

final class TakeoverMessageTests: XCTestCase {
    func testTheWireTextsOfAnOlderSwiftLXCFS() {
        XCTAssertEqual(TakeoverMessage.request.bytes, Array("swift-lxcfs takeover 1".utf8))
        XCTAssertEqual(TakeoverMessage.handover.bytes, Array("swift-lxcfs handover 1".utf8))
        XCTAssertEqual(TakeoverMessage.ok.bytes, Array("ok".utf8))
        XCTAssertEqual(TakeoverMessage.abort.bytes, Array("abort".utf8))
        XCTAssertEqual(TakeoverMessage.bye.bytes, Array("bye".utf8))
    }

    func testRoundTrips() {
        for m in TakeoverMessage.allCases { XCTAssertEqual(TakeoverMessage(packet: m.bytes), m) }
    }

    func testRejectsGarbage() {
        for text in ["", "OK", "ok\n", "ok\0", "byebye", "swift-lxcfs takeover 2", "swift-lxcfs takeover", " abort"] {
            XCTAssertNil(TakeoverMessage(packet: Array(text.utf8)), text)
        }
        XCTAssertNil(TakeoverMessage(packet: [0xff, 0xfe]))
    }
}

final class HelperReportTests: XCTestCase {
    func testLinesAsTheHelperWritesThem() {
        XCTAssertEqual(HelperReport.item(id: 80, .replaced("beneath")).line, "80\treplaced\tbeneath\n")
        XCTAssertEqual(HelperReport.item(id: 83, .alreadyLive).line, "83\talready\ta live bind is already there\n")
        XCTAssertEqual(HelperReport.item(id: 82, .gone).line, "82\tgone\tno longer mounted\n")
        XCTAssertEqual(HelperReport.item(id: 81, .failed("no\nway")).line, "81\tfailed\tno way\n")
        XCTAssertEqual(HelperReport.namespace(.gone("process 7 exited")).line, "ns\tgone\tprocess 7 exited\n")
        XCTAssertEqual(HelperReport.namespace(.failed("cannot enter")).line, "ns\tfailed\tcannot enter\n")
    }

    func testRoundTrips() {
        let reports: [HelperReport] = [
            .item(id: 1, .replaced("detach-first (beneath: Invalid argument)")), .item(id: 2, .alreadyLive),
            .item(id: 3, .gone), .item(id: 4, .failed("a\tb")), .namespace(.gone("g")), .namespace(.failed("f")),
        ]
        for r in reports {
            XCTAssertEqual(HelperReport(line: r.line.dropLast()), r, r.line)
        }
        let (results, ns) = HelperReport.parse(reports.map(\.line).joined())
        XCTAssertEqual(results, [1: .replaced("detach-first (beneath: Invalid argument)"), 2: .alreadyLive, 3: .gone,
                                 4: .failed("a\tb")])
        XCTAssertEqual(ns, .failed("f"))
    }

    func testRejectsGarbage() {
        for line in ["", "80", "80\treplaced", "x\treplaced\tbeneath", "80\tdone\tyes", "ns\treplaced\tx",
                     "-\tgone\tx", "80 replaced beneath"] {
            XCTAssertNil(HelperReport(line: Substring(line)), line)
        }
        let (results, ns) = HelperReport.parse("garbage\n80\tdone\tyes\n\n81\tgone\tx\n")
        XCTAssertEqual(results, [81: .gone])
        XCTAssertNil(ns)
    }
}
