import XCTest
@testable import LXCFSCore

/// The host-wide files kept open (`KeptOpenFiles`) on the real host: what
/// is shared between reads and what is read afresh.
final class KeptOpenFilesTests: XCTestCase {
    /// /proc/stat's `ctxt` and CPU counters move every tick on a running
    /// machine; within the shared lifetime the same bytes come back.
    func testSharedFileIsReusedWithinItsLifetime() throws {
        let kept = KeptOpenFiles(sharedLifetime: 3_600_000_000_000)
        let first = try XCTUnwrap(kept.read("/proc/stat", sizeHint: 8192))
        usleep(50_000)
        XCTAssertEqual(kept.read("/proc/stat", sizeHint: 8192), first)
    }

    /// With no shared lifetime, each read generates the file again: five
    /// tick-apart reads of /proc/stat are not all the same.
    func testUnsharedReadsGenerateTheFileAgain() throws {
        let kept = KeptOpenFiles(sharedLifetime: 0)
        var seen = Set<[UInt8]>()
        for _ in 0..<5 {
            seen.insert(try XCTUnwrap(kept.read("/proc/stat", sizeHint: 8192)))
            usleep(20_000)
        }
        XCTAssertGreaterThan(seen.count, 1)
    }

    /// /proc/uptime is never shared, whatever the lifetime: it must move.
    func testUptimeIsNeverShared() throws {
        let kept = KeptOpenFiles(sharedLifetime: 3_600_000_000_000)
        let first = try XCTUnwrap(kept.read("/proc/uptime", sizeHint: 64))
        usleep(30_000)
        XCTAssertNotEqual(kept.read("/proc/uptime", sizeHint: 64), first)
    }

    /// Files outside the kept set are left to the caller.
    func testOtherFilesAreNotKept() {
        XCTAssertNil(KeptOpenFiles().read("/proc/self/status", sizeHint: 4096))
    }
}
