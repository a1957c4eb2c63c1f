import Synchronization

/// One visible CPU's line in the `/proc/stat` view, in clock ticks (USER_HZ,
/// 100 per second). nice, iowait, irq, softirq, steal and guest are always 0.
package struct CPUTimeRow: Sendable, Equatable {
    package var user: UInt64
    package var system: UInt64
    package var idle: UInt64

    package init(user: UInt64, system: UInt64, idle: UInt64) {
        self.user = user
        self.system = system
        self.idle = idle
    }
}

/// What one read of `/proc/stat` gives the tracker.
package struct CPUTimeSample: Sendable {
    /// The host CPU numbers shown as `cpu0`, `cpu1`, ..., ascending.
    package var visible: [Int]
    /// The cgroup's CPU time counters as read now.
    package var usage: CPUUsage
    /// The rows a first, stateless read shows (the fixture rules: the
    /// cgroup's own user/system of each visible CPU, idle the rest of that
    /// host CPU's time), one per visible CPU, in clock ticks.
    package var firstRead: [CPUTimeRow]
    /// How many CPUs of real capacity the visible rows stand for: the CFS
    /// quota in CPUs when `--enable-cfs` cuts the view (never more than
    /// `visible.count`), otherwise `visible.count`. Usage is scaled by
    /// `visible.count / capacity` so that a container using all of its
    /// quota looks fully busy.
    package var capacity: Double
    /// A monotonic clock (CLOCK_BOOTTIME on a host, the fixture root's
    /// uptime otherwise), in nanoseconds.
    package var now: UInt64

    package init(visible: [Int], usage: CPUUsage, firstRead: [CPUTimeRow], capacity: Double, now: UInt64) {
        self.visible = visible
        self.usage = usage
        self.firstRead = firstRead
        self.capacity = capacity
        self.now = now
    }
}

/// Keeps, per cgroup, the `/proc/stat` CPU lines last shown, so that every
/// later read only adds to them:
///
/// - No counter a reader sees ever decreases, and idle never goes negative
///   or wraps: each read adds non-negative amounts to every field.
/// - Over an interval of `t` seconds, busy plus idle grow by `100 * t`
///   clock ticks on each visible CPU (up to rounding to whole ticks).
/// - Busy time is the cgroup's usage since the last read, scaled by
///   `visible / capacity` (so under a CFS quota of 0.5 CPU on one visible
///   CPU, a busy loop shows as 100% busy). Usage accounted on host CPUs that
///   are not visible (another cpuset CPU beyond the quota's count, or a CPU
///   the cgroup ran on before its cpuset changed) is folded into the visible
///   CPUs that have room; what does not fit this interval is carried to the
///   next read (at most one second per visible CPU).
/// - A counter that went backwards (the cgroup was removed and made again
///   under the same name) counts from zero.
///
/// The first read of a cgroup shows `CPUTimeSample.firstRead` unchanged,
/// so a one-shot render (`swift-lxcfs render --root`) follows the fixture
/// rules exactly. Entries whose cgroup directory is gone and that were not
/// read for `idleLifetime` are dropped; at most `capacityLimit` entries are
/// held (the least recently read go first).
///
/// Safe to use from many threads: its entries sit in 64 shards, each
/// behind its own mutex, so readers in different cgroups seldom wait.
package final class CPUTimeTracker: Sendable {
    /// A shown counter: whole clock ticks and the nanoseconds not yet a tick.
    struct Counter {
        var ticks: UInt64 = 0
        var nanoseconds: UInt64 = 0

        init(ticks: UInt64 = 0) { self.ticks = ticks }

        mutating func add(_ ns: UInt64) {
            let all = CPUTime.sum(nanoseconds, ns)
            ticks = CPUTime.sum(ticks, all / CPUTime.nanosecondsPerTick)
            nanoseconds = all % CPUTime.nanosecondsPerTick
        }

        mutating func add(_ other: Counter) {
            ticks = CPUTime.sum(ticks, other.ticks)
            add(other.nanoseconds)
        }
    }

    struct Row {
        var user = Counter()
        var system = Counter()
        var idle = Counter()
    }

    struct Entry {
        var rows: [Row]
        /// `rows` in whole clock ticks, as last shown.
        var shown: [CPUTimeRow]
        /// The raw counters at the last read: v1 per host CPU, user and system ns.
        var lastPerCPU: [Int: (user: UInt64, system: UInt64)]
        /// v2: user and system ns over all CPUs.
        var lastTotal: (user: UInt64, system: UInt64)?
        /// Shown (scaled) busy time that did not fit yet, ns.
        var carryUser: UInt64 = 0
        var carrySystem: UInt64 = 0
        /// `now` at the last read that advanced the rows.
        var lastNow: UInt64
        /// `now` at the last read, for eviction.
        var lastRead: UInt64
        /// A cgroup directory whose absence (under the host root) lets the entry go.
        var directory: String
    }

    struct State {
        var entries: [String: Entry] = [:]
    }

    /// A part of the entries with its own lock: a key always lands in the
    /// same shard, and readers in different cgroups seldom share one.
    final class Shard: Sendable {
        let state = Mutex(State())
    }

    let root: HostRoot
    /// How long an entry of a removed cgroup is held after its last read, ns.
    let idleLifetime: UInt64
    /// The most entries held.
    let capacityLimit: Int
    /// The entries, spread over shards by the key's hash.
    private let shards: [Shard]
    /// Entries over all shards.
    private let entryCount = Atomic<Int>(0)
    /// `now` at the last sweep, ns.
    private let lastSweep = Atomic<UInt64>(0)

    /// How many shards the entries are spread over.
    static let shardCount = 64

    /// - Parameters:
    ///   - root: where cgroup directories are looked up when sweeping.
    ///   - idleLifetime: nanoseconds an entry of a removed cgroup is held after its last read.
    ///   - capacityLimit: the most cgroups tracked at once.
    package init(root: HostRoot, idleLifetime: UInt64 = 60_000_000_000, capacityLimit: Int = 4096) {
        self.root = root
        self.idleLifetime = idleLifetime
        self.capacityLimit = max(1, capacityLimit)
        shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    /// How many cgroups are tracked now.
    package var count: Int { shards.reduce(0) { sum, shard in sum + shard.state.withLock { $0.entries.count } } }

    func shard(_ key: String) -> Shard {
        shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
    }

    /// The CPU lines to show for one read.
    /// - Parameters:
    ///   - key: identifies the view (the reader's cpuacct, cpuset and cpu cgroup paths).
    ///   - directory: the cgroup directory (host path) whose removal lets the entry go.
    ///   - sample: this read's counters.
    /// - Returns: one row per visible CPU, in clock ticks.
    package func rows(key: String, directory: String, sample: CPUTimeSample) -> [CPUTimeRow] {
        let now = sample.now
        let result: [CPUTimeRow] = shard(key).state.withLock { st in
            guard st.entries[key] != nil else {
                st.entries[key] = Self.newEntry(sample, directory: directory)
                entryCount.add(1, ordering: .relaxed)
                return sample.firstRead
            }
            if st.entries[key]!.directory != directory { st.entries[key]!.directory = directory }
            // Less than a tick since the rows last moved (or a sample older
            // than that, from a thread that was slower): the same rows. The
            // next read that advances counts the whole interval, so nothing
            // is lost, and many readers of one cgroup hold the lock briefly.
            if sample.visible.count == st.entries[key]!.rows.count,
               sample.now < st.entries[key]!.lastNow &+ CPUTime.nanosecondsPerTick {
                if sample.now > st.entries[key]!.lastRead { st.entries[key]!.lastRead = sample.now }
                return st.entries[key]!.shown
            }
            // In place: no copy of the entry's arrays.
            Self.advance(&st.entries[key]!, sample)
            let shown = st.entries[key]!.rows.map {
                CPUTimeRow(user: $0.user.ticks, system: $0.system.ticks, idle: $0.idle.ticks)
            }
            st.entries[key]!.shown = shown
            return shown
        }
        sweepIfDue(now: now)
        return result
    }

    static func newEntry(_ sample: CPUTimeSample, directory: String) -> Entry {
        var e = Entry(rows: sample.firstRead.map {
                          Row(user: Counter(ticks: $0.user), system: Counter(ticks: $0.system), idle: Counter(ticks: $0.idle))
                      },
                      shown: sample.firstRead,
                      lastPerCPU: [:], lastTotal: nil, lastNow: sample.now, lastRead: sample.now,
                      directory: directory)
        remember(sample.usage, in: &e)
        return e
    }

    static func remember(_ usage: CPUUsage, in e: inout Entry) {
        switch usage {
        case .perCPU(let rows):
            e.lastPerCPU = rows
            e.lastTotal = nil
        case .total(let u, let s):
            e.lastTotal = (u, s)
            e.lastPerCPU = [:]
        }
    }

    /// Adds one interval to `e`'s rows.
    static func advance(_ e: inout Entry, _ sample: CPUTimeSample) {
        let n = sample.visible.count
        e.lastRead = max(e.lastRead, sample.now)
        guard n > 0 else { remember(sample.usage, in: &e); return }
        // The visible CPUs changed in number: fold dropped rows into the rest
        // (so the aggregate line never goes down); new rows start at 0.
        if e.rows.count > n {
            for (k, extra) in e.rows[n...].enumerated() {
                e.rows[k % n].user.add(extra.user)
                e.rows[k % n].system.add(extra.system)
                e.rows[k % n].idle.add(extra.idle)
            }
            e.rows.removeSubrange(n...)
        }
        while e.rows.count < n { e.rows.append(Row()) }

        let elapsed = sample.now > e.lastNow ? sample.now - e.lastNow : 0
        if sample.now > e.lastNow { e.lastNow = sample.now }
        let factor = CPUTime.quotaScale(visible: n, capacity: sample.capacity)

        // Busy time each row would get, in shown (scaled) nanoseconds.
        var wantUser = [UInt64](repeating: 0, count: n)
        var wantSystem = [UInt64](repeating: 0, count: n)
        var surplusUser = e.carryUser
        var surplusSystem = e.carrySystem
        switch sample.usage {
        case .perCPU(let now):
            if e.lastTotal == nil {
                for (cpu, v) in now {
                    guard let last = e.lastPerCPU[cpu] else { continue }
                    let du = CPUTime.scaled(CPUTime.growth(v.user, since: last.user), factor)
                    let ds = CPUTime.scaled(CPUTime.growth(v.system, since: last.system), factor)
                    if let k = sample.visible.firstIndex(of: cpu) {
                        wantUser[k] = CPUTime.sum(wantUser[k], du)
                        wantSystem[k] = CPUTime.sum(wantSystem[k], ds)
                    } else {
                        surplusUser = CPUTime.sum(surplusUser, du)
                        surplusSystem = CPUTime.sum(surplusSystem, ds)
                    }
                }
            }
        case .total(let u, let s):
            if let last = e.lastTotal {
                let du = CPUTime.scaled(CPUTime.growth(u, since: last.user), factor)
                let ds = CPUTime.scaled(CPUTime.growth(s, since: last.system), factor)
                for k in 0..<n {
                    wantUser[k] = CPUTime.share(du, among: n, row: k)
                    wantSystem[k] = CPUTime.share(ds, among: n, row: k)
                }
            }
        }
        remember(sample.usage, in: &e)

        // Each row has `elapsed` ns to give out: its own busy time first,
        // what does not fit goes to the surplus.
        var room = [UInt64](repeating: elapsed, count: n)
        var addUser = [UInt64](repeating: 0, count: n)
        var addSystem = [UInt64](repeating: 0, count: n)
        for k in 0..<n {
            let u = min(wantUser[k], room[k])
            room[k] -= u
            addUser[k] = u
            surplusUser = CPUTime.sum(surplusUser, wantUser[k] - u)
            let s = min(wantSystem[k], room[k])
            room[k] -= s
            addSystem[k] = s
            surplusSystem = CPUTime.sum(surplusSystem, wantSystem[k] - s)
        }
        spread(&surplusUser, into: &addUser, room: &room)
        spread(&surplusSystem, into: &addSystem, room: &room)
        for k in 0..<n {
            e.rows[k].user.add(addUser[k])
            e.rows[k].system.add(addSystem[k])
            e.rows[k].idle.add(room[k])
        }
        // Keep at most one second per visible CPU for the next reads.
        let carryLimit = UInt64(n) * 1_000_000_000
        e.carryUser = min(surplusUser, carryLimit)
        e.carrySystem = min(surplusSystem, carryLimit)
    }

    /// Gives `surplus` out over the rows that still have room, evenly.
    static func spread(_ surplus: inout UInt64, into add: inout [UInt64], room: inout [UInt64]) {
        while surplus > 0 {
            let open = room.indices.filter { room[$0] > 0 }
            guard !open.isEmpty else { return }
            let share = max(1, surplus / UInt64(open.count))
            for k in open where surplus > 0 {
                let t = min(share, room[k], surplus)
                add[k] += t
                room[k] -= t
                surplus -= t
            }
        }
    }

    /// Every `idleLifetime`, drops entries not read for that long whose
    /// cgroup directory is gone, then the least recently read beyond
    /// `capacityLimit`. Takes no lock when no sweep is due; one thread sweeps.
    func sweepIfDue(now: UInt64) {
        let last = lastSweep.load(ordering: .relaxed)
        // A `now` older than the last sweep (another thread's read) is not due.
        guard (now > last && now - last >= idleLifetime) || entryCount.load(ordering: .relaxed) > capacityLimit,
              lastSweep.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
        var candidates: [(key: String, directory: String, lastRead: UInt64)] = []
        for shard in shards {
            shard.state.withLock { st in
                for (key, e) in st.entries where now > e.lastRead && now - e.lastRead >= idleLifetime {
                    candidates.append((key, e.directory, e.lastRead))
                }
            }
        }
        for c in candidates where !root.exists(c.directory) {
            remove(c.key, ifLastRead: c.lastRead)
        }
        guard entryCount.load(ordering: .relaxed) > capacityLimit else { return }
        var all: [(key: String, lastRead: UInt64)] = []
        for shard in shards {
            shard.state.withLock { st in
                for (key, e) in st.entries { all.append((key, e.lastRead)) }
            }
        }
        all.sort { $0.lastRead < $1.lastRead }
        for (key, lastRead) in all.prefix(max(0, all.count - capacityLimit)) { remove(key, ifLastRead: lastRead) }
    }

    /// Drops `key`'s entry unless it was read since `lastRead` was seen
    /// (a reader's next lines must continue from its last ones).
    private func remove(_ key: String, ifLastRead lastRead: UInt64) {
        let removed = shard(key).state.withLock { st in
            guard let e = st.entries[key], e.lastRead == lastRead else { return false }
            st.entries[key] = nil
            return true
        }
        if removed { entryCount.subtract(1, ordering: .relaxed) }
    }
}
