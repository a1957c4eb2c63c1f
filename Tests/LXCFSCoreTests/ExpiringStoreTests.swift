import Synchronization
import XCTest
@testable import LXCFSCore

/// The sharded, expiring store the small caches share, on a clock moved by hand.
final class ExpiringStoreTests: XCTestCase {
    func testAValueIsServedForLessThanItsLifetimeExactly() {
        let clock = ManualClock()
        let store = ExpiringStore<String, Int, ManualClock>(capacity: 64, lifetime: 100, clock: clock)
        XCTAssertNil(store.value("a"))
        store.set(1, for: "a")
        XCTAssertEqual(store.value("a"), 1)
        clock.advance(by: 99)
        XCTAssertEqual(store.value("a"), 1)
        clock.advance(by: 1)
        XCTAssertNil(store.value("a"), "at its lifetime an entry is no longer served")
        store.set(2, for: "a")
        XCTAssertEqual(store.value("a"), 2, "storing again starts its age again")
        XCTAssertEqual(store.count, 1)
    }

    func testAnEntryInUseIsTouchedAndAnExpiredOneIsMadeAgain() {
        let clock = ManualClock()
        let store = ExpiringStore<Int, String, ManualClock>(capacity: 64, lifetime: 100, clock: clock)
        var made = 0
        func get() -> String { store.value(7, orInsert: { made += 1; return "v\(made)" }) }
        XCTAssertEqual(get(), "v1")
        for _ in 0..<5 {
            clock.advance(by: 60)
            XCTAssertEqual(get(), "v1", "each use starts its age again")
        }
        clock.advance(by: 100)
        XCTAssertEqual(get(), "v2")
        XCTAssertEqual(made, 2)
    }

    func testAFullShardDropsItsExpiredEntriesThenItsOldest() {
        let clock = ManualClock()
        let store = ExpiringStore<Int, Int, ManualClock>(shards: 1, capacity: 3, lifetime: 100, clock: clock)
        store.set(1, for: 1)
        clock.advance(by: 10)
        store.set(2, for: 2)
        clock.advance(by: 10)
        store.set(3, for: 3)
        // Full, nothing expired: the oldest (1) goes.
        store.set(4, for: 4)
        XCTAssertEqual(store.count, 3)
        XCTAssertNil(store.value(1))
        XCTAssertEqual([2, 3, 4].map { store.value($0) }, [2, 3, 4])
        // Replacing a held key drops nothing.
        clock.advance(by: 95)
        store.set(40, for: 4)
        XCTAssertEqual(store.count, 3)
        // At 120, 2 and 3 are expired (ages 110 and 100) and the last purge
        // (at 20) a lifetime ago: both go, 4 and 5 stay.
        clock.advance(by: 5)
        store.set(5, for: 5)
        XCTAssertEqual(store.count, 2)
        XCTAssertEqual(store.value(4), 40)
        XCTAssertEqual(store.value(5), 5)
    }

    func testPastThePurgeThresholdTheExpiredGoButNothingFreshUnderTheCapacity() {
        let clock = ManualClock()
        let store = ExpiringStore<Int, Int, ManualClock>(shards: 1, capacity: 10, purgeAbove: 2, lifetime: 100,
                                                         clock: clock)
        for k in 1...5 { store.set(k, for: k) }
        XCTAssertEqual(store.count, 5, "nothing expired: the shard grows up to its capacity")
        clock.advance(by: 100)
        store.set(6, for: 6)
        XCTAssertEqual(store.count, 1, "all five expired and dropped when the sixth came")
        XCTAssertEqual(store.value(6), 6)
    }

    func testWithoutALifetimeOnlyTheCapacityEvicts() {
        let clock = ManualClock()
        let store = ExpiringStore<Int, Int, ManualClock>(shards: 1, capacity: 2, lifetime: .max, clock: clock)
        store.set(1, for: 1)
        clock.advance(by: 1 << 62)
        XCTAssertEqual(store.value(1), 1)
        store.set(2, for: 2)
        store.set(3, for: 3)
        XCTAssertEqual(store.count, 2)
        XCTAssertNil(store.value(1))
    }

    func testShardsAreAPowerOfTwoAndShareTheCapacity() {
        let clock = ManualClock()
        let store = ExpiringStore<Int, Int, ManualClock>(shards: 3, capacity: 10, lifetime: 100, clock: clock,
                                                         shardOf: { $0 })
        XCTAssertEqual(store.capacityPerShard, 3)   // 4 shards
        // Keys 0, 4, 8, 12 share shard 0: the fourth evicts the first.
        for k in [0, 4, 8, 12] { store.set(k, for: k) }
        XCTAssertEqual(store.count, 3)
        for k in [1, 2, 3] { store.set(k, for: k) }
        XCTAssertEqual(store.count, 6)
        store.remove(2)
        XCTAssertNil(store.value(2))
        store.removeAll()
        XCTAssertEqual(store.count, 0)
    }

    func testManyThreadsEachSeeTheirOwnValues() {
        let clock = ManualClock()
        let store = ExpiringStore<Int, Int, ManualClock>(capacity: 1 << 16, lifetime: .max, clock: clock)
        let wrong = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for i in 0..<2000 {
                let key = t * 10_000 + i
                store.set(key * 2, for: key)
                if store.value(key) != key * 2 { wrong.add(1, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(wrong.load(ordering: .relaxed), 0)
        XCTAssertEqual(store.count, 16_000)
    }
}
