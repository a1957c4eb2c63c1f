import XCTest
import Foundation
@testable import LXCFSCore

final class AdaptiveMutexTests: XCTestCase {
    /// Eight threads add to one counter and to one dictionary under the
    /// lock: no update is lost.
    func testNoUpdateIsLostUnderContention() {
        let box = AdaptiveMutex<(count: Int, seen: [Int: Int])>((0, [:]))
        let threads = 8, rounds = 50_000
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for i in 0..<rounds {
                box.withLock { v in
                    v.count += 1
                    v.seen[i % 64, default: 0] += 1
                }
            }
        }
        let (count, seen) = box.withLock { ($0.count, $0.seen) }
        XCTAssertEqual(count, threads * rounds)
        XCTAssertEqual(seen.values.reduce(0, +), threads * rounds)
    }

    func testAThrownErrorUnlocks() {
        struct Failure: Error {}
        let box = AdaptiveMutex(0)
        XCTAssertThrowsError(try box.withLock { _ in throw Failure() })
        // A lock left held would block here for good.
        XCTAssertEqual(box.withLock { v -> Int in v += 1; return v }, 1)
    }
}
