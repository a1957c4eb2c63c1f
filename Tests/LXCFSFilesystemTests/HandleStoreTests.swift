import XCTest
import LXCFSCore
@testable import LXCFSFilesystem

/// The snapshot budget and what a reader of a dropped snapshot gets (issue 15).
final class HandleStoreTests: XCTestCase {
    /// Ten lines, "line 0 aaaa\n" ... : each rendering distinct by `tag`.
    func rendering(_ tag: String) -> [UInt8] {
        Array((0..<10).map { "line \($0) \(tag)\n" }.joined().utf8)
    }

    func read(_ store: HandleStore, _ fh: UInt64, at offset: Int, _ size: Int, render tag: String) -> [UInt8] {
        switch store.plan(fh, offset: offset, size: size) {
        case .serve(let b): return Array(b)
        case .endOfFile, .unknown: return []
        case .render(_, let resume, _, _):
            return Array(store.complete(fh, offset: offset, size: size, rendering: rendering(tag),
                                        resume: resume, container: nil))
        }
    }

    func testAnOpenHandleKeepsNothingAndAFullyReadOneFreesItsSnapshot() {
        let store = HandleStore(budget: SnapshotBudget())
        let h1 = store.open(.meminfo)
        XCTAssertEqual(store.usage.bytes, 0)
        let first = read(store, h1, at: 0, 20, render: "a")
        XCTAssertEqual(first.count, 20)
        XCTAssertGreaterThan(store.usage.bytes, 0)
        let rest = read(store, h1, at: 20, 4096, render: "b")
        XCTAssertEqual(first + rest, rendering("a"))
        XCTAssertEqual(store.usage.bytes, 0)
        XCTAssertEqual(read(store, h1, at: first.count + rest.count, 4096, render: "c"), [])
    }

    func testPastTheBudgetTheOldestIsDroppedAndResumedOnWholeLines() {
        let one = rendering("a").count + HandleStore.overhead
        let store = HandleStore(budget: SnapshotBudget(totalBytes: one * 2, perContainerBytes: one * 2))
        let (h1, h2, h3) = (store.open(.meminfo), store.open(.meminfo), store.open(.meminfo))
        // Handle 1 stops in the middle of line 3, handle 2 at the start of line 4.
        let p1 = read(store, h1, at: 0, 30, render: "a")
        let p2 = read(store, h2, at: 0, 36, render: "a")
        _ = read(store, h3, at: 0, 5, render: "a")
        XCTAssertLessThanOrEqual(store.usage.bytes, one * 2)
        XCTAssertGreaterThan(store.usage.resumeBytes, 0)
        // Handle 1's snapshot was the oldest: the rest of its line, then the new rendering's lines.
        let rest1 = read(store, h1, at: p1.count, 4096, render: "bb")
        let text1 = String(decoding: p1 + rest1, as: UTF8.self)
        XCTAssertTrue(text1.hasPrefix("line 0 a\nline 1 a\nline 2 a\nline 3 a\nline 4 bb\n"), text1)
        XCTAssertEqual(text1.split(separator: "\n").map { $0.split(separator: " ")[1] },
                       (0..<10).map { Substring("\($0)") })
        // Handle 2 is intact.
        XCTAssertEqual(p2 + read(store, h2, at: p2.count, 4096, render: "cc"), rendering("a"))
    }

    func testAPerContainerBudgetDropsOnlyThatContainersSnapshots() {
        let one = rendering("a").count + HandleStore.overhead
        let store = HandleStore(budget: SnapshotBudget(totalBytes: one * 100, perContainerBytes: one))
        let (h1, h2) = (store.open(.meminfo), store.open(.meminfo))
        _ = read(store, h1, at: 0, 5, render: "a")
        _ = read(store, h2, at: 0, 5, render: "a")
        XCTAssertLessThanOrEqual(store.usage.bytes, one)
    }

    func testASeekBeforeTheFirstReadAndAReadPastTheEndAreClean() {
        let store = HandleStore(budget: SnapshotBudget())
        let h1 = store.open(.meminfo)
        XCTAssertEqual(read(store, h1, at: 1 << 40, 10, render: "a"), [])
        XCTAssertEqual(read(store, h1, at: 3, 2, render: "a"), Array(rendering("a")[3..<5]))
    }

    func testAReaderOfSnapshotsDroppedAtOnceStillGetsWholeLines() {
        // Room for a resume point, never for a snapshot.
        let store = HandleStore(budget: SnapshotBudget(totalBytes: 150, perContainerBytes: 150))
        let h1 = store.open(.meminfo)
        var all = read(store, h1, at: 0, 5, render: "a")
        var n = 0
        while true {
            let b = read(store, h1, at: all.count, 7, render: "z\(n)")
            n += 1
            if b.isEmpty { break }
            all += b
        }
        let text = String(decoding: all, as: UTF8.self)
        XCTAssertEqual(text.split(separator: "\n").map { $0.split(separator: " ")[1] },
                       (0..<10).map { Substring("\($0)") }, text)
        XCTAssertTrue(text.hasSuffix("\n"))
        XCTAssertEqual(store.usage.bytes, 0)
        XCTAssertEqual(store.usage.resumeBytes, 0)
    }

    func testWithNoBudgetAtAllAPartlyReadHandleEndsCleanly() {
        let store = HandleStore(budget: SnapshotBudget(totalBytes: 0, perContainerBytes: 0))
        let h1 = store.open(.meminfo)
        XCTAssertEqual(read(store, h1, at: 0, 5, render: "a").count, 5)
        XCTAssertEqual(read(store, h1, at: 5, 100, render: "b"), [])
        XCTAssertEqual(store.usage.bytes, 0)
        // From 0 again: a whole fresh rendering.
        XCTAssertEqual(read(store, h1, at: 0, 4096, render: "c"), rendering("c"))
    }

    func testAReaderDroppedInALongLineGoesOnWhereTheNewLineBeginsTheSame() {
        let long = "intr " + (0..<40).map { _ in "1234567" }.joined(separator: " ")
        func file(_ first: String) -> [UInt8] { Array("cpu 1 2\n\(first) \(long)\nctxt 5\n".utf8) }
        let store = HandleStore(budget: SnapshotBudget(totalBytes: 150, perContainerBytes: 150))
        func read(_ fh: UInt64, _ offset: Int, _ size: Int, _ bytes: [UInt8]) -> [UInt8] {
            switch store.plan(fh, offset: offset, size: size) {
            case .serve(let b): return Array(b)
            case .endOfFile, .unknown: return []
            case .render(_, let resume, _, _):
                return Array(store.complete(fh, offset: offset, size: size, rendering: bytes, resume: resume, container: nil))
            }
        }
        let same = store.open(.stat), changed = store.open(.stat)
        // Both stop 12 bytes into the long line ("cpu 1 2\n" is 8 bytes).
        let a = read(same, 0, 20, file("x"))
        let b = read(changed, 0, 20, file("x"))
        let restA = read(same, 20, 1 << 16, file("x"))
        XCTAssertEqual(a + restA, file("x"))
        // A line that no longer begins as the reader's did: end of file, never a spliced line.
        XCTAssertEqual(read(changed, 20, 1 << 16, file("y")), [])
        XCTAssertEqual(b.count, 20)
        // Dropped twice in the same long line (each read of 7 bytes leaves a
        // snapshot the budget cannot hold): still the whole file.
        let twice = store.open(.stat)
        var all = read(twice, 0, 20, file("x"))
        while true {
            let more = read(twice, all.count, 7, file("x"))
            if more.isEmpty { break }
            all += more
        }
        XCTAssertEqual(all, file("x"))
    }
}
