import Synchronization

/// A monotonic clock read in nanoseconds: what the caches age their entries
/// by. Injected, so that a test moves time by hand (`ManualClock`).
package protocol NanosecondClock: Sendable {
    /// Nanoseconds since an arbitrary fixed point; never goes back.
    func now() -> UInt64
}

/// CLOCK_MONOTONIC_COARSE (`MonotonicClock`): no system call, a few
/// milliseconds coarse. The daemon's clock for every cache.
package struct CoarseMonotonicClock: NanosecondClock {
    package init() {}

    @inline(__always)
    package func now() -> UInt64 { MonotonicClock.nanoseconds() }
}

/// A clock that moves only when told to: for tests.
package final class ManualClock: NanosecondClock {
    private let nanoseconds: Atomic<UInt64>

    /// - Parameter start: the first reading, in nanoseconds.
    package init(start: UInt64 = 1_000_000_000) {
        nanoseconds = Atomic(start)
    }

    package func now() -> UInt64 { nanoseconds.load(ordering: .relaxed) }

    /// Moves the clock `by` nanoseconds forward.
    package func advance(by delta: UInt64) {
        nanoseconds.add(delta, ordering: .relaxed)
    }
}
