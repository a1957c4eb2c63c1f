import Synchronization

/// What a rendering depends on besides the moment: the file, the reader's
/// container cgroups (one path per hierarchy, `ContainerView.membership`)
/// and, for `/proc/uptime`, its pid namespace. The view switches are the
/// daemon's, the same for every reader.
struct RenderKey: Hashable, Sendable {
    let file: VirtualFile
    let container: CgroupMembership
    /// The reader's pid namespace (`pid:[4026531836]`), for the files that
    /// depend on it; `nil` for the others.
    let namespace: String?
}

/// Renderings reused for one short tick: the readers of one container read
/// the same bytes while the tick lasts, and a tight loop costs little more
/// than the FUSE round trip.
///
/// One rendering per key runs at a time (the others wait for it and take
/// its bytes), and the entry always holds the latest: so every reader of
/// a key sees renderings in the order they were made, and counters (the
/// CPU time tracker's /proc/stat rows, uptime) never go back for anyone.
///
/// Ages come from `Clock` (CLOCK_MONOTONIC_COARSE in the daemon, a
/// `ManualClock` in tests), a type parameter so that the daemon's reads
/// cost no dynamic call.
final class RenderCache<Clock: NanosecondClock>: Sendable {
    final class Entry: Sendable {
        /// The bytes (`nil` inside: the file is absent for this reader), and
        /// when they were rendered (clock nanoseconds).
        let state = Mutex<(bytes: [UInt8]?, renderedAt: UInt64, valid: Bool)>((nil, 0, false))
        /// When the entry was last used, for the purge.
        let usedAt = Atomic<UInt64>(0)
    }

    /// How long a rendering is reused, in nanoseconds.
    let tick: UInt64
    let clock: Clock
    private let entries = AdaptiveMutex<(map: [RenderKey: Entry], purgedAt: UInt64)>(([:], 0))
    /// More entries than this and, at most once a tick, the ones unused
    /// for two ticks are dropped: a rendering older than a tick is never
    /// served again, so only the keys of the last moments are held.
    static var purgeAbove: Int { 256 }

    /// - Parameters:
    ///   - tick: nanoseconds a rendering is reused.
    ///   - clock: the clock ages are read from.
    init(tick: UInt64, clock: Clock) {
        self.tick = tick
        self.clock = clock
        self.readers = ExpiringStore(shards: 8, capacity: 4096, purgeAbove: Self.purgeAbove, lifetime: tick, clock: clock,
                                     shardOf: { Int($0) })
    }

    /// The rendering for `key`: the one made less than a tick ago when
    /// `reuse` is set, else `render()`'s, which then replaces it.
    /// - Parameter length: a rendering of this many bytes is reused
    ///   whatever its age (a handle's first read: the rendering its open made).
    func rendering(_ key: RenderKey, reuse: Bool, length: Int? = nil, render: () -> [UInt8]?,
                   keep: () -> Bool = { true }) -> [UInt8]? {
        let now = clock.now()
        let entry = entries.withLock { e -> Entry in
            if let known = e.map[key] { return known }
            if e.map.count >= Self.purgeAbove, now &- e.purgedAt >= tick {
                let horizon = 2 * tick
                e.map = e.map.filter { now &- $0.value.usedAt.load(ordering: .relaxed) < horizon }
                e.purgedAt = now
            }
            let fresh = Entry()
            e.map[key] = fresh
            return fresh
        }
        entry.usedAt.store(now, ordering: .relaxed)
        return entry.state.withLock { s -> [UInt8]? in
            // Taken after the lock: a reader that waited for another's
            // rendering reuses it.
            let at = clock.now()
            if reuse, s.valid, at &- s.renderedAt < tick || (length != nil && (s.bytes?.count ?? 0) == length) {
                return s.bytes
            }
            let bytes = render()
            s = (bytes, clock.now(), keep())
            return bytes
        }
    }

    /// What a reader's renderings are keyed by, remembered for a tick: a
    /// FUSE open and the read after it come from the same pid within
    /// microseconds, and a tight loop's reader asks again and again.
    struct Reader: Sendable {
        var container: CgroupMembership?
        /// `nil`: not looked up; `.some(nil)`: looked up, not readable.
        var namespace: String??
    }
    /// Readers by host pid, for a tick: past `purgeAbove` (in a shard's
    /// share) the expired go, at most once a tick; at most 4,096 (512 per shard).
    private let readers: ExpiringStore<Int32, Reader, Clock>

    /// The reader's container cgroups and (with `needNamespace`) pid
    /// namespace, from the last tick or from `membership` and `namespace`.
    func reader(_ pid: Int32, needNamespace: Bool, membership: () -> CgroupMembership?,
                namespace: () -> String?) -> (container: CgroupMembership?, namespace: String?) {
        let now = clock.now()
        if let known = readers.value(pid, now: now), !needNamespace || known.namespace != nil {
            return (known.container, known.namespace ?? nil)
        }
        let m = membership()
        let ns: String?? = needNamespace ? .some(namespace()) : nil
        readers.set(Reader(container: m, namespace: ns), for: pid, now: now)
        return (m, ns ?? nil)
    }

    /// How many keys are held.
    var count: Int { entries.withLock { $0.map.count } }
}
