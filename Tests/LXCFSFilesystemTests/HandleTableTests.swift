import XCTest
import LXCFSCore
@testable import LXCFSFilesystem

/// What a file handle tells a successor that never saw it (issue 10).
final class HandleTableTests: XCTestCase {
    func testAHandleCarriesItsSnapshotLengthForASuccessor() {
        let table = HandleTable()
        let fh = table.insert(.meminfo, length: 1234)
        XCTAssertEqual(HandleTable.snapshotLength(fh), 1234)
        XCTAssertTrue(table.isOurs(fh))
        var successor = HandleTable()
        while successor.generation == table.generation { successor = HandleTable() }
        XCTAssertFalse(successor.isOurs(fh))
        XCTAssertFalse(successor.knows(fh))
    }

    func testASnapshotTooLongForTheFieldHasNoLength() {
        let fh = HandleTable().insert(.cpuinfo, length: 40_000)
        XCTAssertNil(HandleTable.snapshotLength(fh))
    }

    func testTheLengthNeverSpillsIntoTheWriterBitOrTheGeneration() {
        let table = HandleTable()
        let fh = table.insert(.cpuinfo, length: 32_766)
        XCTAssertEqual(HandleTable.snapshotLength(fh), 32_766)
        XCTAssertFalse(HandleTable.isWriter(fh))
        XCTAssertTrue(table.isOurs(fh))
    }
}
