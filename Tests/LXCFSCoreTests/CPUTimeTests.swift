import XCTest
@testable import LXCFSCore

/// The one place CPU time is shaped: units, the quota's scale, even shares.
final class CPUTimeTests: XCTestCase {
    func testUnits() {
        XCTAssertEqual(CPUTime.ticksPerSecond, 100)
        XCTAssertEqual(CPUTime.nanosecondsPerTick, 10_000_000)
        XCTAssertEqual(CPUTime.nanosecondsPerHundredth, 10_000_000)
        XCTAssertEqual(CPUTime.nanosecondsPerMicrosecond, 1000)
    }

    func testSharesAddUpWithTheRemainderToTheLowestRows() {
        // 10 over 4 rows: 3, 3, 2, 2.
        XCTAssertEqual((0..<4).map { CPUTime.share(10, among: 4, row: $0) }, [3, 3, 2, 2])
        XCTAssertEqual((0..<3).map { CPUTime.share(2, among: 3, row: $0) }, [1, 1, 0])
        // No rows counts as one.
        XCTAssertEqual(CPUTime.share(7, among: 0, row: 0), 7)
    }

    func testQuotaScale() {
        // Half a CPU behind one visible CPU: busy time counts twice.
        XCTAssertEqual(CPUTime.quotaScale(visible: 1, capacity: 0.5), 2)
        // 1.5 CPUs behind 2 visible: 4/3.
        XCTAssertEqual(CPUTime.quotaScale(visible: 2, capacity: 1.5), 2.0 / 1.5)
        // More capacity than CPUs shown never scales down; no capacity never scales.
        XCTAssertEqual(CPUTime.quotaScale(visible: 2, capacity: 4), 1)
        XCTAssertEqual(CPUTime.quotaScale(visible: 2, capacity: 0), 1)
    }

    func testSaturatingArithmetic() {
        XCTAssertEqual(CPUTime.sum(.max - 1, 5), .max)
        XCTAssertEqual(CPUTime.product(1 << 40, 1 << 30), .max)
        XCTAssertEqual(CPUTime.growth(5, since: 9), 5, "a counter that went back counts from zero")
        XCTAssertEqual(CPUTime.growth(9, since: 5), 4)
        XCTAssertEqual(CPUTime.scaled(1000, 2), 2000)
        XCTAssertEqual(CPUTime.scaled(.max, 2), .max / 4)
    }

    func testBusyTimeOfBothShapes() {
        XCTAssertEqual(CPUUsage.total(userNanoseconds: 30, systemNanoseconds: 12).busyNanoseconds, 42)
        XCTAssertEqual(CPUUsage.perCPU([0: (10, 1), 3: (20, 2)]).busyNanoseconds, 33)
        XCTAssertEqual(CPUUsage.perCPU([0: (.max, 1)]).busyNanoseconds, .max)
    }
}
