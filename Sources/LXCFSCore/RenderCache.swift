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
final class RenderCache: Sendable {
    final class Entry: Sendable {
        /// The bytes (`nil` inside: the file is absent for this reader), and
        /// when they were rendered (CLOCK_MONOTONIC nanoseconds).
        let state = Mutex<(bytes: [UInt8]?, renderedAt: UInt64, valid: Bool)>((nil, 0, false))
        /// When the entry was last used, for the purge.
        let usedAt = Atomic<UInt64>(0)
    }

    /// How long a rendering is reused, in nanoseconds.
    let tick: UInt64
    private let entries = AdaptiveMutex<(map: [RenderKey: Entry], purgedAt: UInt64)>(([:], 0))
    /// More entries than this and, at most once a tick, the ones unused
    /// for two ticks are dropped: a rendering older than a tick is never
    /// served again, so only the keys of the last moments are kept.
    static let purgeAbove = 256

    init(tick: UInt64) {
        self.tick = tick
    }

    /// The rendering for `key`: the one made less than a tick ago when
    /// `reuse` is set, else `render()`'s, which then replaces it.
    /// - Parameter length: a rendering of this many bytes is reused
    ///   whatever its age (a handle's first read: the rendering its open made).
    func rendering(_ key: RenderKey, reuse: Bool, length: Int? = nil, render: () -> [UInt8]?) -> [UInt8]? {
        let now = MonotonicClock.nanoseconds()
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
            let at = MonotonicClock.nanoseconds()
            if reuse, s.valid, at &- s.renderedAt < tick || (length != nil && (s.bytes?.count ?? 0) == length) {
                return s.bytes
            }
            let bytes = render()
            s = (bytes, MonotonicClock.nanoseconds(), true)
            return bytes
        }
    }

    /// What a reader's renderings are keyed by, remembered for a tick: a
    /// FUSE open and the read after it come from the same pid within
    /// microseconds, and a tight loop's reader asks again and again.
    private struct Reader {
        var container: CgroupMembership?
        var namespace: String??
        var at: UInt64
    }
    private let readers = AdaptiveMutex<(map: [Int32: Reader], purgedAt: UInt64)>(([:], 0))

    /// The reader's container cgroups and (with `needNamespace`) pid
    /// namespace, from the last tick or from `membership` and `namespace`.
    func reader(_ pid: Int32, needNamespace: Bool, membership: () -> CgroupMembership?,
                namespace: () -> String?) -> (container: CgroupMembership?, namespace: String?) {
        let now = MonotonicClock.nanoseconds()
        if let known = readers.withLock({ $0.map[pid] }), now &- known.at < tick,
           !needNamespace || known.namespace != nil {
            return (known.container, known.namespace ?? nil)
        }
        let m = membership()
        let ns: String?? = needNamespace ? .some(namespace()) : nil
        readers.withLock { r in
            if r.map.count >= Self.purgeAbove, now &- r.purgedAt >= tick {
                r.map = r.map.filter { now &- $0.value.at < tick }
                r.purgedAt = now
            }
            r.map[pid] = Reader(container: m, namespace: ns, at: now)
        }
        return (m, ns ?? nil)
    }

    /// How many keys are held.
    var count: Int { entries.withLock { $0.map.count } }
}
