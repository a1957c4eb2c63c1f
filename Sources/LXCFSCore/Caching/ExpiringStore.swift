/// Key -> value, in shards each behind its own lock, with a bound on the
/// entries and an age past which an entry is no longer served: the shape
/// the daemon's small caches share (the render cache's readers, the pid
/// namespaces' inits).
///
/// Ages are measured by the injected clock in nanoseconds from when an
/// entry was stored (or last touched, `value(_:orInsert:)`). A shard that
/// holds `purgeAbove` entries drops its expired ones when a new key comes
/// (at most once per `lifetime`); one that is full then drops its oldest. The locks are `AdaptiveMutex`es: the standard
/// library's `Mutex` is a priority-inheritance futex that sent contended
/// readers through the kernel (docs/performance.md, "the read path's locks").
package final class ExpiringStore<Key: Hashable & Sendable, Value: Sendable, Clock: NanosecondClock>: Sendable {
    struct Slot {
        var value: Value
        /// When it was stored or last touched (clock nanoseconds).
        var at: UInt64
    }
    struct Shard {
        var map: [Key: Slot] = [:]
        var purgedAt: UInt64 = 0
    }

    /// How long an entry is served, in nanoseconds (`UInt64.max`: until evicted).
    package let lifetime: UInt64
    /// The most entries one shard holds.
    package let capacityPerShard: Int
    /// From this many entries on, a shard drops its expired ones.
    package let purgeAbovePerShard: Int
    package let clock: Clock
    private let shards: [AdaptiveMutex<Shard>]
    private let shardOf: @Sendable (Key) -> Int

    /// - Parameters:
    ///   - shards: how many shards (rounded up to a power of two, at least 1).
    ///   - capacity: the most entries in all (split evenly, at least one per shard).
    ///   - purgeAbove: from this many entries in all (split the same way),
    ///     expired ones are dropped; `capacity` when not given.
    ///   - lifetime: nanoseconds an entry is served after it was stored.
    ///   - clock: the clock ages are read from.
    ///   - shardOf: a number that picks a key's shard (its hash by default;
    ///     a pid will do for a pid).
    package init(shards: Int = 8, capacity: Int, purgeAbove: Int? = nil, lifetime: UInt64, clock: Clock,
                 shardOf: @escaping @Sendable (Key) -> Int = { $0.hashValue }) {
        var n = 1
        while n < shards { n <<= 1 }
        self.shards = (0..<n).map { _ in AdaptiveMutex(Shard()) }
        self.capacityPerShard = max(1, (capacity + n - 1) / n)
        self.purgeAbovePerShard = min(capacityPerShard, max(1, ((purgeAbove ?? capacity) + n - 1) / n))
        self.lifetime = lifetime
        self.clock = clock
        self.shardOf = shardOf
    }

    @inline(__always)
    private func shard(_ key: Key) -> AdaptiveMutex<Shard> {
        shards[shardOf(key) & (shards.count - 1)]
    }

    @inline(__always)
    private func fresh(_ slot: Slot, _ now: UInt64) -> Bool { now &- slot.at < lifetime }

    /// The value stored for `key` less than `lifetime` ago, if any.
    /// - Parameter now: the clock's reading, when the caller has one.
    package func value(_ key: Key, now: UInt64? = nil) -> Value? {
        let now = now ?? clock.now()
        return shard(key).withLock { s in
            guard let slot = s.map[key], fresh(slot, now) else { return nil }
            return slot.value
        }
    }

    /// Stores `value` for `key` as of `now`.
    package func set(_ value: Value, for key: Key, now: UInt64? = nil) {
        let now = now ?? clock.now()
        shard(key).withLock { s in
            if s.map[key] == nil { makeRoom(&s, now) }
            s.map[key] = Slot(value: value, at: now)
        }
    }

    /// The value for `key`, stored by `make()` when there is none or it
    /// expired; either way its age starts again from `now` (an entry in use
    /// does not expire). `make` runs under the shard's lock: keep it short.
    package func value(_ key: Key, orInsert make: () -> Value, now: UInt64? = nil) -> Value {
        let now = now ?? clock.now()
        return shard(key).withLock { s in
            if let slot = s.map[key], fresh(slot, now) {
                s.map[key]!.at = now
                return slot.value
            }
            if s.map[key] == nil { makeRoom(&s, now) }
            let value = make()
            s.map[key] = Slot(value: value, at: now)
            return value
        }
    }

    /// Forgets `key`.
    package func remove(_ key: Key) {
        _ = shard(key).withLock { $0.map.removeValue(forKey: key) }
    }

    /// Forgets everything.
    package func removeAll() {
        for s in shards { s.withLock { $0 = Shard() } }
    }

    /// How many entries are held, expired ones not yet dropped included.
    package var count: Int { shards.reduce(0) { n, s in n + s.withLock { $0.map.count } } }

    /// Before a new key goes into a shard past `purgeAbovePerShard`: its
    /// expired entries go (at most once per lifetime), and if it is still
    /// full, its oldest.
    private func makeRoom(_ s: inout Shard, _ now: UInt64) {
        guard s.map.count >= purgeAbovePerShard else { return }
        if now &- s.purgedAt >= lifetime || s.purgedAt == 0 {
            s.map = s.map.filter { fresh($0.value, now) }
            s.purgedAt = now
        }
        if s.map.count >= capacityPerShard, let oldest = s.map.min(by: { $0.value.at < $1.value.at })?.key {
            s.map.removeValue(forKey: oldest)
        }
    }
}
