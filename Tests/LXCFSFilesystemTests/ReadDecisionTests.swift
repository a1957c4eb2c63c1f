import XCTest
@testable import LXCFSFilesystem

/// The read decision (`ReadDecision.decide`, `CompletionDecision.decide`)
/// and the resume allowance, as pure functions: every expected value below
/// was worked out by hand from the rules in `ReadDecision`'s comment.
final class ReadDecisionTests: XCTestCase {
    typealias D = ReadDecision

    /// A rendering of 20 bytes held from offset 0.
    let whole = HeldSpan(base: 0, from: 0, count: 20)
    /// A reader resumed inside a long line: a whole new rendering of 20
    /// bytes placed at offset 10, served from offset 14 on (offsets 10-29, end 30).
    let resumed = HeldSpan(base: 10, from: 14, count: 20)

    func check(_ facts: HandleFacts, _ rows: [(offset: Int, size: Int, expected: D)],
               file: StaticString = #filePath, line: UInt = #line) {
        for row in rows {
            XCTAssertEqual(D.decide(facts, offset: row.offset, size: row.size), row.expected,
                           "\(facts) at \(row.offset) size \(row.size)", file: file, line: line)
        }
    }

    func testTheFirstReadOfAHandle() {
        check(HandleFacts(), [
            (0, 4096, .render(reuse: true, first: true)),
            (0, 0, .render(reuse: true, first: true)),
            (5, 4096, .render(reuse: true, first: false)),   // a seek before the first read
            (1 << 20, 1, .render(reuse: true, first: false)),
        ])
    }

    func testAReadAtZeroOfAHandleReadBeforeRendersAnewWithoutTheCache() {
        for facts in [HandleFacts(readBefore: true), HandleFacts(readBefore: true, held: whole),
                      HandleFacts(readBefore: true, held: resumed), HandleFacts(readBefore: true, end: 30),
                      HandleFacts(readBefore: true, resumeAt: 17), HandleFacts(readBefore: true, lost: true)] {
            check(facts, [(0, 4096, .render(reuse: false, first: false)), (0, 1, .render(reuse: false, first: false))])
        }
    }

    func testReadsOfAHeldRendering() {
        check(HandleFacts(readBefore: true, held: whole), [
            (1, 5, .serveHeld(1..<6, releases: false)),
            (15, 4, .serveHeld(15..<19, releases: false)),   // one byte short of the end
            (15, 5, .serveHeld(15..<20, releases: true)),    // exactly to the end
            (15, 100, .serveHeld(15..<20, releases: true)),  // past the end
            (19, 1, .serveHeld(19..<20, releases: true)),    // the last byte
            (5, 0, .serveHeld(5..<5, releases: false)),      // a read of nothing
            (20, 10, .endOfFile),                            // at the end
            (25, 10, .endOfFile),                            // past it
        ])
    }

    func testReadsOfARenderingHeldForAReaderResumedInsideALongLine() {
        check(HandleFacts(readBefore: true, held: resumed), [
            (5, 10, .render(reuse: true, first: false)),     // before the rendering
            (12, 10, .render(reuse: true, first: false)),    // inside it, before where the reader went on
            (13, 1, .render(reuse: true, first: false)),
            (14, 3, .serveHeld(4..<7, releases: false)),     // where the reader went on
            (20, 10, .serveHeld(10..<20, releases: true)),
            (29, 8, .serveHeld(19..<20, releases: true)),
            (30, 8, .endOfFile),
            (31, 8, .endOfFile),
        ])
    }

    func testAfterTheEndWasServed() {
        check(HandleFacts(readBefore: true, end: 30), [
            (29, 10, .render(reuse: true, first: false)),    // before the end: a seek back renders
            (30, 10, .endOfFile),
            (31, 10, .endOfFile),
        ])
    }

    func testAResumePointIsTakenOnlyAtItsOffset() {
        check(HandleFacts(readBefore: true, resumeAt: 17), [
            (17, 10, .renderResuming),
            (17, 0, .renderResuming),
            (16, 10, .render(reuse: true, first: false)),
            (18, 10, .render(reuse: true, first: false)),
        ])
        // An end served before the resume point wins over it.
        check(HandleFacts(readBefore: true, end: 10, resumeAt: 17), [(17, 10, .endOfFile), (9, 1, .render(reuse: true, first: false))])
    }

    func testALostReaderGetsEndOfFileUntilItReadsFromZero() {
        check(HandleFacts(readBefore: true, lost: true), [
            (1, 10, .endOfFile),
            (17, 10, .endOfFile),
            (0, 10, .render(reuse: false, first: false)),
        ])
        // A resume point at the offset is taken before the loss is looked at.
        check(HandleFacts(readBefore: true, resumeAt: 9, lost: true), [(9, 1, .renderResuming), (8, 1, .endOfFile)])
    }

    /// Every offset from 0 to 40 and several sizes, for every kind of
    /// handle: the rules that hold whatever the row.
    func testInvariantsOverTheWholeInputSpace() {
        let kinds: [HandleFacts] = [
            HandleFacts(), HandleFacts(readBefore: true), HandleFacts(readBefore: true, held: whole),
            HandleFacts(readBefore: true, held: resumed), HandleFacts(readBefore: true, end: 20),
            HandleFacts(readBefore: true, resumeAt: 17), HandleFacts(readBefore: true, lost: true),
        ]
        for facts in kinds {
            for offset in 0...40 {
                for size in [0, 1, 3, 7, 4096] {
                    let d = D.decide(facts, offset: offset, size: size)
                    if offset == 0 {
                        XCTAssertEqual(d, .render(reuse: !facts.readBefore, first: !facts.readBefore))
                        continue
                    }
                    switch d {
                    case .serveHeld(let range, let releases):
                        let held = try! XCTUnwrap(facts.held)
                        XCTAssertGreaterThanOrEqual(offset, held.from)
                        XCTAssertEqual(range.lowerBound, offset - held.base)
                        XCTAssertEqual(range.count, min(size, held.count - range.lowerBound))
                        XCTAssertEqual(releases, range.upperBound == held.count)
                    case .endOfFile:
                        let pastHeld = facts.held.map { offset >= $0.base + $0.count } ?? false
                        let pastEnd = facts.end.map { offset >= $0 } ?? false
                        XCTAssertTrue(pastHeld || pastEnd || facts.lost, "\(facts) \(offset)")
                    case .renderResuming:
                        XCTAssertEqual(facts.resumeAt, offset)
                        XCTAssertNil(facts.held)
                    case .render(let reuse, let first):
                        XCTAssertTrue(reuse)
                        XCTAssertFalse(first)
                    }
                }
            }
        }
    }

    func testWhatAReadDoesWithTheRenderingItMade() {
        typealias C = CompletionDecision
        let rows: [(base: Int, count: Int, offset: Int, size: Int, expected: C)] = [
            (0, 20, 0, 5, .serveAndHold(0..<5)),
            (0, 20, 0, 19, .serveAndHold(0..<19)),
            (0, 20, 0, 20, .serveToEnd(0..<20, end: 20)),
            (0, 20, 0, 4096, .serveToEnd(0..<20, end: 20)),
            (0, 20, 7, 4096, .serveToEnd(7..<20, end: 20)),   // a first read past 0
            (0, 20, 3, 0, .serveAndHold(3..<3)),
            (0, 20, 20, 10, .nothing(end: 20)),
            (0, 20, 25, 10, .nothing(end: 20)),
            (0, 0, 0, 10, .nothing(end: 0)),                  // an empty file
            (10, 20, 10, 5, .serveAndHold(0..<5)),            // resumed at 10
            (10, 20, 29, 1, .serveToEnd(19..<20, end: 30)),
            (10, 20, 5, 10, .nothing(end: 30)),                // before a resumed rendering
            (17, 0, 17, 10, .nothing(end: 17)),                // a long line that no longer begins the same
        ]
        for r in rows {
            XCTAssertEqual(C.decide(base: r.base, count: r.count, offset: r.offset, size: r.size), r.expected, "\(r)")
        }
    }

    // MARK: The resume allowance

    /// A point with a 127-byte rest of line costs 200 bytes (25 packed + 127 + 48).
    let exact = ResumePoint(at: 40, nextLine: 3, container: 1, remainder: ArraySlice(repeating: 0x61, count: 127))
    /// A point matched by hash costs 73 bytes.
    let hashed = ResumePoint(at: 40, line: 2, column: 9, prefixHash: 42, container: 1)

    func testResumePointCosts() {
        XCTAssertEqual(exact.cost, 200)
        XCTAssertEqual(hashed.cost, 73)
    }

    func testTheResumeAllowanceUntouchedHalfSpentAndSpent() {
        let budget = SnapshotBudget(totalBytes: 1000, perContainerBytes: 600)
        func pick(_ total: Int, _ container: Int, exact e: ResumePoint? = nil, fallback f: ResumePoint? = nil) -> Int? {
            ResumeAllowance(budget: budget, spentTotal: total, spentByContainer: container)
                .choose(exact: e, fallback: { f })?.cost
        }
        XCTAssertEqual(pick(0, 0, exact: exact, fallback: hashed), 200)      // untouched: the rest of the line
        XCTAssertEqual(pick(300, 0, exact: exact, fallback: hashed), 200)    // 500 of 1000: just fits in half
        XCTAssertEqual(pick(301, 0, exact: exact, fallback: hashed), 73)     // past half: the hash
        XCTAssertEqual(pick(0, 100, exact: exact, fallback: hashed), 200)    // 300 of 600: half the container's
        XCTAssertEqual(pick(0, 101, exact: exact, fallback: hashed), 73)
        XCTAssertEqual(pick(927, 0, exact: exact, fallback: hashed), 73)     // 1000 of 1000
        XCTAssertEqual(pick(928, 0, exact: exact, fallback: hashed), nil)    // spent: lost
        XCTAssertEqual(pick(0, 527, exact: exact, fallback: hashed), 73)
        XCTAssertEqual(pick(0, 528, exact: exact, fallback: hashed), nil)
        XCTAssertEqual(pick(0, 0, fallback: hashed), 73)                     // no exact point
        XCTAssertEqual(pick(0, 0), nil)
        XCTAssertEqual(ResumeAllowance(budget: SnapshotBudget(totalBytes: 0, perContainerBytes: 0), spentTotal: 0,
                                       spentByContainer: 0).choose(exact: exact, fallback: { self.hashed })?.cost, nil)
    }

    // MARK: Resume points

    /// "cpu 1\n" (offsets 0-5), a 37-byte intr line (6-42), "ctxt 5\n" (43-49).
    let long = Array(("cpu 1\nintr " + String(repeating: "7 ", count: 15) + "9\nctxt 5\n").utf8)

    func held(servedTo offset: Int) -> HeldRendering {
        let h = HeldRendering(bytes: long, base: 0, firstLine: 0, startsLine: true)
        h.served = offset
        return h
    }

    func testAReaderAtTheStartOfALineResumesWithThatLine() {
        let r = ResumePoint(readerOf: held(servedTo: 6), container: 3, longest: 64)
        XCTAssertEqual([r.at, r.line, r.container], [6, 1, 3])
        XCTAssertFalse(r.isColumn)
        XCTAssertTrue(r.remainder.isEmpty)
    }

    func testAReaderInsideALongLineKeepsItsRestOrItsHash() {
        // Offset 11 is column 5 of the intr line ("intr |7 7 ..."), 32 bytes of it left with its newline.
        let rest = ResumePoint(readerOf: held(servedTo: 11), container: 1, longest: 64)
        XCTAssertFalse(rest.isColumn)
        XCTAssertEqual(rest.line, 2)
        XCTAssertEqual(Array(rest.remainder), Array(long[11..<43]))
        XCTAssertEqual(rest.column, 5)
        let column = ResumePoint(readerOf: held(servedTo: 11), container: 1, longest: 31)
        XCTAssertTrue(column.isColumn)
        XCTAssertEqual([column.at, column.line, column.column], [11, 1, 5])
        XCTAssertEqual(column.prefixHash, ResumePoint.hash(Array("intr ".utf8)[...]))
    }

    func testAColumnPointGoesOnOnlyWhereTheNewLineBeginsTheSame() {
        let column = ResumePoint(readerOf: held(servedTo: 11), container: 1, longest: 8)
        // The same lines, other numbers after the column: placed so that offset 11 is column 5 of line 1.
        let next = Array(("cpu 22\nintr " + String(repeating: "8 ", count: 15) + "9\nctxt 6\n").utf8)
        let same = column.held(from: next)
        XCTAssertEqual(same.base, 11 - (7 + 5))
        XCTAssertEqual(same.from, 11)
        XCTAssertEqual(Array(same.bytes[(11 - same.base)...].prefix(3)), Array("8 8".utf8))
        // A line that begins otherwise: nothing, the reader is at end of file.
        let other = column.held(from: Array("cpu 22\nctxt 6\n".utf8))
        XCTAssertEqual(other.bytes.count, 0)
        XCTAssertEqual(other.base, 11)
    }

    func testARestOfLinePointSplicesTheRestOntoTheNextLines() {
        let rest = ResumePoint(readerOf: held(servedTo: 41), container: 1, longest: 64)   // "9\n" left
        let spliced = rest.held(from: Array("cpu 2\nintr 1\nctxt 6\n".utf8))
        XCTAssertEqual(String(decoding: spliced.bytes, as: UTF8.self), "9\nctxt 6\n")
        XCTAssertEqual(spliced.base, 41)
        XCTAssertEqual(spliced.firstLine, 1)
        XCTAssertFalse(spliced.startsLine)
    }
}
