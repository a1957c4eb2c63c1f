import Foundation
import Synchronization
import XCTest
@testable import LXCFSCore

/// The render cache's promises (README, "Budgets"; `RenderCache`): a
/// rendering is reused for a tick, a re-read from offset 0 renders anew,
/// one rendering per key runs at a time, and counters never go back.
final class RenderCacheTests: XCTestCase {
    let tick: UInt64 = 20_000_000
    let a = CgroupMembership(parsing: Array("0::/swl/a\n".utf8)[...])
    let b = CgroupMembership(parsing: Array("0::/swl/b\n".utf8)[...])

    func key(_ m: CgroupMembership, _ file: VirtualFile = .meminfo, namespace: String? = nil) -> RenderKey {
        RenderKey(file: file, container: m, namespace: namespace)
    }

    /// A renderer of a counter: each call renders the next number.
    final class Counter: Sendable {
        let n = Atomic<Int>(0)
        func render() -> [UInt8]? { Array(String(n.add(1, ordering: .relaxed).newValue).utf8) }
        var calls: Int { n.load(ordering: .relaxed) }
    }

    func value(_ bytes: [UInt8]?) -> Int { Self.number(bytes) }
    static func number(_ bytes: [UInt8]?) -> Int { Int(String(decoding: bytes ?? [], as: UTF8.self)) ?? -1 }

    func testARenderingIsReusedForLessThanATick() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        let c = Counter()
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, render: c.render)), 1)
        clock.advance(by: tick - 1)
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, render: c.render)), 1)
        clock.advance(by: 1)
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, render: c.render)), 2, "expired at the tick")
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, render: c.render)), 2)
        XCTAssertEqual(c.calls, 2)
    }

    func testAReReadFromOffsetZeroRendersAnewAndLaterReadersGetThatOne() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        let c = Counter()
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, render: c.render)), 1)
        XCTAssertEqual(value(cache.rendering(key(a), reuse: false, render: c.render)), 2)
        // Within the same tick, a reusing reader gets the newest, never the older 1.
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, render: c.render)), 2)
        XCTAssertEqual(c.calls, 2)
    }

    func testKeysAreApartByContainerFileAndPidNamespace() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        let c = Counter()
        let keys = [key(a), key(b), key(a, .stat), key(a, .uptime, namespace: "pid:[1]"), key(a, .uptime, namespace: "pid:[2]")]
        XCTAssertEqual(keys.map { value(cache.rendering($0, reuse: true, render: c.render)) }, [1, 2, 3, 4, 5])
        XCTAssertEqual(keys.map { value(cache.rendering($0, reuse: true, render: c.render)) }, [1, 2, 3, 4, 5])
        XCTAssertEqual(cache.count, 5)
    }

    func testAnAbsentFileIsReusedToo() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        var calls = 0
        for _ in 0..<3 { XCTAssertNil(cache.rendering(key(a), reuse: true) { calls += 1; return nil }) }
        XCTAssertEqual(calls, 1)
    }

    func testAFirstReadTakesTheOpensRenderingOfItsLengthWhateverItsAge() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        let c = Counter()
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, render: c.render)), 1)
        clock.advance(by: 50 * tick)
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, length: 1, render: c.render)), 1)
        XCTAssertEqual(value(cache.rendering(key(a), reuse: true, length: 7, render: c.render)), 2)
        XCTAssertEqual(value(cache.rendering(key(a), reuse: false, length: 1, render: c.render)), 3,
                       "a re-read renders anew whatever the length")
    }

    func testOneRenderingPerKeyAtATime() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        let inFlight = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let calls = Atomic<Int>(0)
        let k = key(a)
        let render: @Sendable () -> [UInt8]? = {
            let now = inFlight.add(1, ordering: .relaxed).newValue
            _ = most.max(now, ordering: .relaxed)
            calls.add(1, ordering: .relaxed)
            usleep(2000)
            inFlight.subtract(1, ordering: .relaxed)
            return [1]
        }
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            _ = cache.rendering(k, reuse: true, render: render)
        }
        XCTAssertEqual(most.load(ordering: .relaxed), 1)
        XCTAssertEqual(calls.load(ordering: .relaxed), 1, "the others waited and took its bytes")
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            _ = cache.rendering(k, reuse: false, render: render)
        }
        XCTAssertEqual(most.load(ordering: .relaxed), 1, "re-reads render one at a time too")
        XCTAssertEqual(calls.load(ordering: .relaxed), 5)
    }

    /// Threads that re-read, reuse and let the clock run, at once: what each
    /// is served never goes back, and nobody is served a rendering older
    /// than one already served to anyone before it asked.
    func testCountersNeverGoBack() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        let c = Counter()
        let newestServed = Atomic<Int>(0)
        let wentBack = Atomic<Int>(0)
        let k = key(a)
        let step = tick / 3
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            var last = 0
            for i in 0..<400 {
                if i % 7 == t % 7 { clock.advance(by: step) }
                let before = newestServed.load(ordering: .sequentiallyConsistent)
                let v = Self.number(cache.rendering(k, reuse: i % 5 != 0, render: c.render))
                if v < last || v < before { wentBack.add(1, ordering: .relaxed) }
                last = v
                _ = newestServed.max(v, ordering: .sequentiallyConsistent)
            }
        }
        XCTAssertEqual(wentBack.load(ordering: .relaxed), 0)
        XCTAssertGreaterThan(c.calls, 1)
    }

    func testUnusedKeysArePurgedOnlyPastTheThresholdAndAfterTwoTicks() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        let c = Counter()
        let many = (0..<RenderCache<ManualClock>.purgeAbove).map {
            key(CgroupMembership(parsing: Array("0::/swl/\($0)\n".utf8)[...]))
        }
        for k in many { _ = cache.rendering(k, reuse: true, render: c.render) }
        clock.advance(by: tick)
        _ = cache.rendering(many[0], reuse: true, render: c.render)   // used within two ticks
        clock.advance(by: tick)
        _ = cache.rendering(key(a), reuse: true, render: c.render)
        XCTAssertEqual(cache.count, 2, "only the key used in the last two ticks and the new one")
    }

    func testAReaderIsRememberedForATick() {
        let clock = ManualClock()
        let cache = RenderCache(tick: tick, clock: clock)
        var lookups = 0, namespaceLookups = 0
        func ask(_ needNamespace: Bool) -> (CgroupMembership?, String?) {
            let r = cache.reader(42, needNamespace: needNamespace, membership: { lookups += 1; return a },
                                 namespace: { namespaceLookups += 1; return "pid:[9]" })
            return (r.container, r.namespace)
        }
        XCTAssertEqual(ask(false).0, a)
        XCTAssertEqual(ask(false).0, a)
        XCTAssertEqual(lookups, 1)
        XCTAssertEqual(ask(true).1, "pid:[9]", "a namespace not looked up before is looked up")
        XCTAssertEqual(ask(true).1, "pid:[9]")
        XCTAssertEqual([lookups, namespaceLookups], [2, 1])
        clock.advance(by: tick)
        _ = ask(false)
        XCTAssertEqual(lookups, 3, "forgotten at the tick")
    }
}
