import FUSEProtocol
import LXCFSCore
import LXCFSSystem
import Synchronization

/// How much daemon CPU one container's requests may use.
public struct ContainerCPUBudget: Sendable, Equatable {
    /// CPU seconds per second (cores) one container's requests may take
    /// (`--container-cpu-budget`); 0 turns the budget off.
    public var cores: Double
    /// CPU time a container may spend at once after being idle, in
    /// nanoseconds: a burst of reads (a `top` start, a monitoring agent's
    /// round) is served at once.
    public var burstNanoseconds: UInt64

    /// 0.1 cores and a 50 ms burst. With the render cache an open, a read
    /// and a close cost the daemon some 10-25 µs (docs/performance.md), so
    /// 0.1 cores is 4,000 or more files a second for one container:
    /// hundreds of times what `top` (5 files a second) or a monitoring
    /// agent reads, while a container of tight loops costs the node some
    /// 0.1 cores for its opens and reads plus what is not budgeted (its
    /// RELEASEs, the classifying of its requests): measured 0.2 cores in
    /// all, under the target of 0.25. Ten such containers stay
    /// within two cores.
    public static let defaultCores = 0.1
    public static let defaultBurstNanoseconds: UInt64 = 50_000_000

    public init(cores: Double = ContainerCPUBudget.defaultCores,
                burstNanoseconds: UInt64 = ContainerCPUBudget.defaultBurstNanoseconds) {
        self.cores = max(0, cores)
        self.burstNanoseconds = burstNanoseconds
    }
}

/// Fair shares of the daemon per container: each request (OPEN and READ,
/// the ones that render) is classified by its reader's container (its
/// container cgroups, as the views define them) and charged the CPU time
/// the daemon spent on it, from the worker's read(2) of the request to its
/// reply. Each container has a token bucket of `ContainerCPUBudget`.
///
/// A container within its budget is served at once on the worker thread
/// that read the request. A container past it waits for its replies: its
/// requests (decoded values) go into its queue and the worker goes back to reading
/// /dev/fuse (FUSE replies are asynchronous: a request is answered later,
/// from another thread), so no worker thread blocks and no other container
/// waits. One dispatcher thread serves the queues round-robin, one request
/// per container in turn, as each container's bucket refills.
final class FairShare: Sendable {
    /// A request held to be served later, with the responder that answers it.
    struct Deferred {
        let request: FUSERequest
        let reply: FUSEResponder
    }

    /// Whether `operation` is charged to its reader's container: OPEN and
    /// READ, the requests that render.
    static func isBudgeted(_ operation: FUSEOperation) -> Bool {
        switch operation {
        case .open, .read: return true
        default: return false
        }
    }

    private struct Bucket {
        /// CPU nanoseconds left; negative in debt.
        var tokens: Double
        var refilledAt: UInt64
        var queue: [Deferred] = []
        var head = 0
        var queued: Int { queue.count - head }
    }

    /// A part of the buckets with its own lock: a container's bucket is
    /// always in the same shard, and containers seldom share one. Every
    /// OPEN and READ takes its shard's lock twice (`admits`, `charge`); with
    /// one lock for all, 32 readers in 32 containers on 2 CPUs spent 47 % of
    /// the daemon's samples waiting for it (docs/performance.md).
    private final class Shard: Sendable {
        let buckets = Mutex<[CgroupMembership?: Bucket]>([:])
        /// When the shard was last purged of full buckets (CLOCK_MONOTONIC ns).
        let purgedAt = Atomic<UInt64>(0)
    }

    /// The containers with queued requests, in round-robin order (the
    /// dispatcher's; taken only when a request is deferred or served late).
    private struct Ready {
        var keys: [CgroupMembership?] = []
    }

    let budget: ContainerCPUBudget
    private let shards: [Shard]
    private let ready = Mutex(Ready())
    /// Held while a request is taken from the queues (`next`).
    private let consumer = Mutex(())
    /// Requests queued in all buckets.
    private let deferredTotal = Atomic<Int>(0)
    /// Wakes the dispatcher when a request is queued.
    private let wake = Semaphore()
    /// Serves a deferred request (the filesystem's own handler).
    private let serve: @Sendable (FUSERequest, FUSEResponder) -> Void
    /// Requests deferred and served so far (for logs and tests).
    let deferredCount = Atomic<Int>(0)

    /// How many shards the buckets are spread over.
    static let shardCount = 64
    /// Past this many buckets in a shard, the full ones of containers with
    /// nothing queued are forgotten (a full bucket is what a new one is):
    /// 4,096 containers over all shards.
    static let bucketsPerShard = 4096 / shardCount
    /// The least time between two purges of one shard, in nanoseconds.
    static let purgeInterval: UInt64 = 1_000_000_000

    /// Nanoseconds of CPU a container earns per nanosecond of wall time.
    private var rate: Double { budget.cores }

    init(budget: ContainerCPUBudget, serve: @escaping @Sendable (FUSERequest, FUSEResponder) -> Void) {
        self.budget = budget
        self.serve = serve
        shards = (0..<Self.shardCount).map { _ in Shard() }
        Threads.startDetached { [self] in dispatcher() }
    }

    private func shard(_ container: CgroupMembership?) -> Shard {
        shards[Int(UInt(bitPattern: container?.hashValue ?? 0) % UInt(Self.shardCount))]
    }

    private func refill(_ b: inout Bucket, now: UInt64) {
        let elapsed = Double(now &- b.refilledAt)
        b.tokens = min(Double(budget.burstNanoseconds), b.tokens + elapsed * rate)
        b.refilledAt = now
    }

    /// Whether `container` may be served now, on the calling worker thread
    /// (within its budget and nothing of it waiting before this request).
    func admits(_ container: CgroupMembership?) -> Bool {
        let now = MonotonicClock.nanoseconds()
        return shard(container).buckets.withLock { buckets in
            var b = buckets[container] ?? Bucket(tokens: Double(budget.burstNanoseconds), refilledAt: now)
            refill(&b, now: now)
            buckets[container] = b
            return b.tokens > 0 && b.queued == 0
        }
    }

    /// Charges `container` for `nanoseconds` of daemon CPU.
    func charge(_ container: CgroupMembership?, _ nanoseconds: UInt64) {
        let now = MonotonicClock.nanoseconds()
        let shard = shard(container)
        // At most once a second, and only past `bucketsPerShard`: buckets
        // that would be full by now (refilled lazily, so judged by what they
        // hold plus what they earned since) with nothing queued are
        // forgotten; a new bucket starts full, so nothing is lost.
        let purge = now &- shard.purgedAt.load(ordering: .relaxed) >= Self.purgeInterval
        shard.buckets.withLock { buckets in
            buckets[container, default: Bucket(tokens: Double(budget.burstNanoseconds), refilledAt: now)].tokens
                -= Double(nanoseconds)
            if purge, buckets.count > Self.bucketsPerShard {
                let burst = Double(budget.burstNanoseconds)
                buckets = buckets.filter { key, b in
                    key == container || b.queued > 0 || b.tokens + Double(now &- b.refilledAt) * rate < burst
                }
                shard.purgedAt.store(now, ordering: .relaxed)
            }
        }
    }

    /// Queues `request` for `container`, to be answered by the dispatcher.
    func postpone(_ request: FUSERequest, container: CgroupMembership?, reply: FUSEResponder) {
        let held = Deferred(request: request, reply: reply)
        let now = MonotonicClock.nanoseconds()
        let first = shard(container).buckets.withLock { buckets -> Bool in
            // Taken out and put back, so that the queue is not copied.
            var b = buckets.removeValue(forKey: container) ?? Bucket(tokens: 0, refilledAt: now)
            let first = b.queued == 0
            b.queue.append(held)
            buckets[container] = b
            return first
        }
        // A container enters the round when its queue stops being empty;
        // the dispatcher puts it back while anything of it is left.
        if first { ready.withLock { $0.keys.append(container) } }
        deferredTotal.add(1, ordering: .relaxed)
        wake.signal()
    }

    /// Serves every queued request at once, whatever the budgets (before
    /// the connection stops, so that none is left unanswered).
    func drain() {
        while let next = next(ignoringBudget: true) { run(next.0, next.1) }
    }

    /// The next request to serve: round-robin over the containers with
    /// queued requests whose bucket is positive; `nil` when none is.
    private func next(ignoringBudget: Bool = false) -> (Deferred, CgroupMembership?)? {
        // One taker at a time (the dispatcher, or `drain` at the stop), so
        // the round's order is not shuffled by two takers putting keys back.
        consumer.withLock { _ in take(ignoringBudget: ignoringBudget) }
    }

    private func take(ignoringBudget: Bool) -> (Deferred, CgroupMembership?)? {
        let now = MonotonicClock.nanoseconds()
        let rounds = ready.withLock { $0.keys.count }
        for _ in 0..<rounds {
            guard let key = ready.withLock({ r -> CgroupMembership?? in
                r.keys.isEmpty ? nil : .some(r.keys.removeFirst())
            }) else { return nil }
            // (taken, and whether the container stays in the round)
            let (taken, stays) = shard(key).buckets.withLock { buckets -> (Deferred?, Bool) in
                guard var b = buckets.removeValue(forKey: key) else { return (nil, false) }
                defer { buckets[key] = b }
                guard b.queued > 0 else { return (nil, false) }
                refill(&b, now: now)
                guard b.tokens > 0 || ignoringBudget else { return (nil, true) }
                let d = b.queue[b.head]
                b.head += 1
                if b.queued == 0 {
                    b.queue.removeAll(keepingCapacity: false)
                    b.head = 0
                    return (d, false)
                }
                if b.head > 256, b.head * 2 > b.queue.count {
                    b.queue.removeFirst(b.head)
                    b.head = 0
                }
                return (d, true)
            }
            if stays { ready.withLock { $0.keys.append(key) } }
            if let taken {
                deferredTotal.subtract(1, ordering: .relaxed)
                return (taken, key)
            }
        }
        return nil
    }

    private func run(_ d: Deferred, _ container: CgroupMembership?) {
        let start = threadCPUNanoseconds()
        serve(d.request, d.reply)
        charge(container, threadCPUNanoseconds() &- start)
        deferredCount.add(1, ordering: .relaxed)
    }

    private func dispatcher() {
        while true {
            if let (d, key) = next() {
                run(d, key)
                continue
            }
            // Sleep until the bucket nearest to positive refills (at least
            // 0.2 ms, at most 10 ms), or until a request is queued.
            let wait: Double? = deferredTotal.load(ordering: .relaxed) > 0 ? {
                var least = 10_000_000.0
                for key in ready.withLock({ $0.keys }) {
                    if let tokens = shard(key).buckets.withLock({ $0[key]?.tokens }) {
                        least = min(least, -tokens / max(rate, 1e-9))
                    }
                }
                return max(200_000, least)
            }() : nil
            if let wait {
                Semaphore.sleep(microseconds: UInt32(wait / 1000))
            } else {
                wake.wait()
            }
        }
    }
}
