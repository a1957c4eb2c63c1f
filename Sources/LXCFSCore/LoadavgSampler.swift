import LXCFSSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kernel's fixed-point load average arithmetic (kernel/sched/loadavg.c):
/// 11 bits of fraction, one update every 5 seconds.
package enum LoadAverage {
    /// Bits of fraction.
    package static let fshift: UInt64 = 11
    /// 1.0 in fixed point.
    package static let fixed1: UInt64 = 1 << fshift
    /// 1/exp(5 s / 1 min) in fixed point.
    package static let exp1: UInt64 = 1884
    /// 1/exp(5 s / 5 min) in fixed point.
    package static let exp5: UInt64 = 2014
    /// 1/exp(5 s / 15 min) in fixed point.
    package static let exp15: UInt64 = 2037

    /// One update: `load * exp + active * (1 - exp)`, rounded up while the
    /// load rises, as the kernel's `calc_load` does.
    /// - Parameters:
    ///   - load: the previous average, fixed point.
    ///   - exp: `exp1`, `exp5` or `exp15`.
    ///   - active: tasks runnable or in uninterruptible sleep now.
    /// - Returns: the new average, fixed point.
    package static func next(_ load: UInt64, exp: UInt64, active: UInt64) -> UInt64 {
        let activeFixed = active * fixed1
        var newload = load * exp + activeFixed * (fixed1 - exp)
        if activeFixed >= load { newload += fixed1 - 1 }
        return newload / fixed1
    }
}

/// One count of a cgroup's tasks, from `/proc/TID/stat` states.
package struct TaskCount: Sendable, Equatable {
    /// Tasks in state R (runnable).
    package var running: Int = 0
    /// Tasks in state D (uninterruptible sleep).
    package var uninterruptible: Int = 0
    /// All tasks (threads) counted.
    package var total: Int = 0
    /// The highest thread id, as the cgroup's own pid namespace numbers it
    /// (the last `NSpid` entry); 0 when there are none.
    package var lastPid: NamespacePID = 0

    package init() {}
}

/// A cgroup's load: the three averages and the last count.
package struct CgroupLoad: Sendable, Equatable {
    /// 1, 5 and 15 minute averages in fixed point (FSHIFT 11).
    package var average1: UInt64 = 0
    package var average5: UInt64 = 0
    package var average15: UInt64 = 0
    /// Runnable tasks at the last sample.
    package var running: Int = 0
    /// All tasks at the last sample.
    package var total: Int = 0
    /// The last pid (see `TaskCount.lastPid`).
    package var lastPid: NamespacePID = 0

    package init() {}

    /// Applies one 5-second sample.
    package mutating func update(with count: TaskCount) {
        let active = UInt64(count.running + count.uninterruptible)
        average1 = LoadAverage.next(average1, exp: LoadAverage.exp1, active: active)
        average5 = LoadAverage.next(average5, exp: LoadAverage.exp5, active: active)
        average15 = LoadAverage.next(average15, exp: LoadAverage.exp15, active: active)
        running = count.running
        total = count.total
        lastPid = count.lastPid
    }
}

/// Per-cgroup load averages for `-l/--enable-loadavg`.
///
/// Only cgroups that were read recently are sampled: the first read of a
/// cgroup registers it (and samples it once); a background thread then
/// samples every registered cgroup every 5 seconds and drops the ones not
/// read for `idleLimit` nanoseconds or whose cgroup is gone. The cost thus
/// follows what is read, not how many cgroups exist. State sits behind one
/// mutex; task files are read outside it.
package final class LoadavgSampler: Sendable {
    /// Seconds between samples, as in the kernel.
    package static let intervalSeconds: UInt32 = 5
    /// A cgroup not read for this long (nanoseconds) is no longer sampled.
    package let idleLimit: UInt64

    struct Entry {
        var load: CgroupLoad
        var lastRead: UInt64
    }

    /// The sampling thread's clock: monotonic nanoseconds.
    let clock: @Sendable () -> UInt64
    private let entries = Mutex<[LoadavgCgroup: Entry]>([:])
    /// Set once the sampling thread is started.
    private let started = Atomic<Bool>(false)

    /// - Parameters:
    ///   - idleLimit: nanoseconds after the last read at which a cgroup is dropped (default 10 minutes).
    ///   - clock: the sampling thread's clock, monotonic nanoseconds (`MonotonicClock` by default).
    package init(idleLimit: UInt64 = 600_000_000_000,
                 clock: @escaping @Sendable () -> UInt64 = MonotonicClock.nanoseconds) {
        self.idleLimit = idleLimit
        self.clock = clock
    }

    /// The number of cgroups being sampled.
    package var trackedCount: Int { entries.withLock { $0.count } }

    /// The load of a cgroup for a reader, registering the cgroup on its first read.
    /// - Parameters:
    ///   - group: the reader's cgroup in the cpu hierarchy.
    ///   - reader: reads the cgroup's task files.
    ///   - now: monotonic nanoseconds.
    /// - Returns: the load; `nil` when the cgroup's tasks cannot be read.
    package func load(of group: LoadavgCgroup, reader: CgroupReader, now: UInt64) -> CgroupLoad? {
        if let known = entries.withLock({ (e: inout [LoadavgCgroup: Entry]) -> CgroupLoad? in
            guard e[group] != nil else { return nil }
            e[group]!.lastRead = now
            return e[group]!.load
        }) {
            return known
        }
        guard let count = sample(group, reader: reader) else { return nil }
        var load = CgroupLoad()
        load.update(with: count)
        return entries.withLock { e in
            if let raced = e[group] { return raced.load }
            e[group] = Entry(load: load, lastRead: now)
            return load
        }
    }

    /// Samples every registered cgroup once and drops idle or vanished ones.
    /// - Parameters:
    ///   - reader: reads the cgroups' task files.
    ///   - now: monotonic nanoseconds.
    package func tick(reader: CgroupReader, now: UInt64) {
        let groups = entries.withLock { e -> [LoadavgCgroup] in
            e = e.filter { now &- $0.value.lastRead < idleLimit }
            return Array(e.keys)
        }
        for group in groups {
            let count = sample(group, reader: reader)
            entries.withLock { e in
                guard e[group] != nil else { return }
                if let count { e[group]!.load.update(with: count) } else { e[group] = nil }
            }
        }
    }

    /// Counts a cgroup's tasks (and its descendants') by state, reading
    /// each task's `/proc/TID/stat` through the reader's files.
    /// - Returns: `nil` when the cgroup is gone.
    package func sample(_ group: LoadavgCgroup, reader: CgroupReader) -> TaskCount? {
        guard let tids = reader.threads(of: group) else { return nil }
        var c = TaskCount()
        var highest: HostPID = 0
        for tid in tids {
            guard let bytes = reader.files.read("/proc/\(tid)/stat", sizeHint: 512),
                  let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { continue }
            c.total += 1
            highest = max(highest, tid)
            guard let state = ByteParser.words(bytes[(close + 1)...]).first?.first else { continue }
            if state == UInt8(ascii: "R") { c.running += 1 }
            else if state == UInt8(ascii: "D") { c.uninterruptible += 1 }
        }
        c.lastPid = highest > 0 ? namespacePid(of: highest, files: reader.files) : 0
        return c
    }

    /// A thread's id in its innermost pid namespace (last `NSpid:` field of
    /// `/proc/TID/status`); the host id where that cannot be read.
    func namespacePid(of tid: HostPID, files: any KernelFileReader) -> NamespacePID {
        // Where it cannot be read, the host's number stands in.
        let fallback = NamespacePID(tid.rawValue)
        guard let bytes = files.read("/proc/\(tid)/status", sizeHint: 2048) else { return fallback }
        for line in ByteParser.lines(bytes[...]) where ByteParser.hasPrefix(line, "NSpid:") {
            if let last = ByteParser.words(line.dropFirst(6)).last, let v = ByteParser.integer(last),
               v > 0, v <= Int64(Int32.max) {
                return NamespacePID(Int32(v))
            }
        }
        return fallback
    }

    /// Starts the sampling thread: every 5 seconds, `tick` with a fresh reader
    /// from `makeReader`, for the daemon's life. Does nothing when already started.
    /// - Parameter makeReader: gives a reader over the current cgroup layout.
    package func start(makeReader: @escaping @Sendable () -> CgroupReader) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let body: @Sendable () -> Void = { [self] in
            while true {
                sleep(Self.intervalSeconds)
                tick(reader: makeReader(), now: clock())
            }
        }
        // A detached thread of Threads' 1 MiB stack (a tick needs little).
        if !Threads.startDetached(body) {
            started.store(false, ordering: .releasing)
        }
    }
}
