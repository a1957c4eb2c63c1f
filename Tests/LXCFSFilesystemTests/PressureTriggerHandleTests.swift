import XCTest
import Logging
import LXCFSCore
@testable import LXCFSFilesystem

/// Handles of pressure files opened for writing carry bit 47, so that a
/// successor tells them apart without the old process's memory (its poll
/// answer for them is POLLERR|POLLPRI: the trigger died with that process).
final class PressureTriggerHandleTests: XCTestCase {
    func testWriterBitIsInTheHandle() {
        let table = HandleTable()
        let reader = table.insert(.meminfo, length: 0)
        let writer = table.insert(.cpuPressure, length: 0, writer: true)
        XCTAssertFalse(HandleTable.isWriter(reader))
        XCTAssertTrue(HandleTable.isWriter(writer))
        XCTAssertEqual(writer & (1 << 47), 1 << 47)
        // Both keep this process's generation in the top 16 bits.
        XCTAssertTrue(table.isOurs(reader))
        XCTAssertTrue(table.isOurs(writer))
        XCTAssertEqual(writer >> 48, table.generation)
        // Another process's handle (another generation) is not ours, writer or not.
        let other = HandleTable()
        let foreign = other.insert(.cpuPressure, length: 0, writer: true)
        if other.generation != table.generation {
            XCTAssertFalse(table.isOurs(foreign))
        }
        XCTAssertTrue(HandleTable.isWriter(foreign))
    }

    func testTriggersOnlyForRecordedHandles() {
        let triggers = PressureTriggers(enabled: true, logger: .init(label: "test"))
        XCTAssertFalse(triggers.holds(7))
        // A write on a handle never opened for writing: EACCES, nothing registered.
        let result = [UInt8]("some 150000 1000000\0".utf8).withUnsafeBytes { triggers.write(7, $0) }
        guard case .failure(let e) = result else { return XCTFail("a write on an unknown handle succeeded") }
        XCTAssertEqual(e.code, EACCES)
    }
}
