import LXCFSCore

/// How much memory the held renderings of open file handles may take.
///
/// A handle holds no rendering until its first read, and gives it up once
/// its end has been served; in between, held renderings count against a
/// total budget and one per container (the reader's container cgroup, as
/// the views define it). Past either, the oldest are dropped: what a reader
/// of a dropped rendering gets next is in `HandleStore`.
public struct SnapshotBudget: Sendable, Equatable {
    /// The most bytes all held renderings together may take (`--snapshot-budget`).
    public var totalBytes: Int
    /// The most bytes one container's held renderings may take (`--container-snapshot-budget`).
    public var perContainerBytes: Int

    /// 8 MiB in all, 4 MiB per container: some 2,400 partly read
    /// /proc/meminfo renderings per container (or forty-five 90 KiB cpuinfo
    /// ones of a 64-CPU host), far more than readers that read a file at
    /// once ever hold at the same moment. The resume points of dropped
    /// renderings (at most some 130 bytes each) have an allowance of the same
    /// size, counted apart: some 30,000 or more per container. With the
    /// handles' own state (16 bytes each in a table) this keeps 100,000
    /// held handles well under 32 MiB of RSS.
    public static let defaultTotalBytes = 8 << 20
    public static let defaultPerContainerBytes = 4 << 20

    /// - Parameters:
    ///   - totalBytes: the bytes all held renderings may take (negative: 0).
    ///   - perContainerBytes: the bytes one container's may take (negative: 0).
    public init(totalBytes: Int = SnapshotBudget.defaultTotalBytes,
                perContainerBytes: Int = SnapshotBudget.defaultPerContainerBytes) {
        self.totalBytes = max(0, totalBytes)
        self.perContainerBytes = max(0, perContainerBytes)
    }

    /// Parses a size: bytes, or a number with a `K`, `M` or `G` suffix
    /// (KiB, MiB, GiB; `KiB`, `MiB`, `GiB` and a trailing `B` are accepted too).
    /// - Returns: the size in bytes; `nil` for anything else.
    public static func parseSize(_ text: String) -> Int? {
        var s = Substring(text.uppercased())
        if s.hasSuffix("IB") { s = s.dropLast(2) } else if s.hasSuffix("B") { s = s.dropLast() }
        var shift = 0
        switch s.last {
        case "K": shift = 10
        case "M": shift = 20
        case "G": shift = 30
        default: break
        }
        if shift > 0 { s = s.dropLast() }
        guard let n = Int(s), n >= 0, n <= Int.max >> shift else { return nil }
        return n << shift
    }
}

/// The room left for resume points: as large as the snapshot budget,
/// counted apart, in total and per container. Pure: what it decides
/// depends on the numbers it is given only.
struct ResumeAllowance: Equatable {
    let budget: SnapshotBudget
    /// Bytes already spent on resume points, in all and by the container at hand.
    let spentTotal: Int
    let spentByContainer: Int

    /// Whether a resume point of `cost` bytes fits in `1/share` of the allowance.
    func admits(_ cost: Int, share: Int = 1) -> Bool {
        spentTotal + cost <= budget.totalBytes / share && spentByContainer + cost <= budget.perContainerBytes / share
    }

    /// The resume point a dropped rendering leaves: `exact` (the rest of a
    /// line up to `HandleStore.longestHeldRemainder` bytes) while it fits in
    /// half the allowance, else `fallback()` (a short rest or the line's
    /// hash) when it fits in all of it, else `nil` (the reader is lost).
    func choose(exact: ResumePoint?, fallback: () -> ResumePoint?) -> ResumePoint? {
        if let exact, admits(exact.cost, share: 2) { return exact }
        if let other = fallback(), admits(other.cost) { return other }
        return nil
    }
}

/// The budget's books: each held rendering's entry (a ticket, oldest
/// first), bytes in all and per container, and the resume allowance
/// spent. A value type mutated only under `HandleStore`'s lock.
struct BudgetLedger {
    struct Entry {
        var fh: UInt64
        var cost: Int
        var container: Int
    }
    /// Tickets oldest first; forgotten ones are skipped and compacted away.
    struct Queue {
        var items: [UInt64] = []
        var head = 0

        mutating func append(_ t: UInt64) { items.append(t) }

        /// The oldest ticket still in `entries`, removed from the queue.
        mutating func popLive(_ entries: [UInt64: Entry]) -> UInt64? {
            while head < items.count {
                let t = items[head]
                head += 1
                if entries[t] != nil { compact(entries); return t }
            }
            items.removeAll(keepingCapacity: true)
            head = 0
            return nil
        }

        mutating func compact(_ entries: [UInt64: Entry]) {
            if head > 64, head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            if items.count > 4 * entries.count + 1024 {
                items = items[head...].filter { entries[$0] != nil }
                head = 0
            }
        }
    }
    struct ContainerUse {
        var bytes = 0
        var resumeBytes = 0
        var queue = Queue()
    }

    private(set) var entries: [UInt64: Entry] = [:]
    private var queue = Queue()
    /// Bytes counted for held renderings, and for resume points.
    private(set) var bytes = 0
    private(set) var resumeBytes = 0
    private var nextTicket: UInt64 = 1
    private var containerIDs: [CgroupMembership?: Int] = [:]
    private var containerKeys: [Int: CgroupMembership?] = [:]
    private(set) var containers: [Int: ContainerUse] = [:]
    private var nextContainer = 1

    /// Counts a held rendering of `cost` bytes for handle `fh` of `key`'s container.
    /// - Returns: its ticket (never 0).
    mutating func admit(_ fh: UInt64, cost: Int, container key: CgroupMembership?) -> UInt64 {
        let id: Int
        if let known = containerIDs[key] {
            id = known
        } else {
            id = nextContainer
            nextContainer += 1
            containerIDs[key] = id
            containerKeys[id] = key
        }
        let ticket = nextTicket
        nextTicket += 1
        entries[ticket] = Entry(fh: fh, cost: cost, container: id)
        queue.append(ticket)
        bytes += cost
        containers[id, default: ContainerUse()].bytes += cost
        containers[id]!.queue.append(ticket)
        return ticket
    }

    /// Stops counting a held rendering (ticket 0 or unknown: nothing).
    /// - Returns: its entry, if it was counted.
    @discardableResult
    mutating func forget(_ ticket: UInt64) -> Entry? {
        guard ticket != 0, let e = entries.removeValue(forKey: ticket) else { return nil }
        bytes -= e.cost
        queue.compact(entries)
        guard var use = containers[e.container] else { return e }
        use.bytes -= e.cost
        use.queue.compact(entries)
        containers[e.container] = use
        retire(e.container)
        return e
    }

    /// Forgets a container with nothing held.
    mutating func retire(_ id: Int) {
        guard let use = containers[id], use.bytes <= 0, use.resumeBytes <= 0 else { return }
        containers[id] = nil
        if let key = containerKeys.removeValue(forKey: id) { containerIDs[key] = nil }
    }

    /// The resume allowance as container `id` sees it.
    func allowance(_ budget: SnapshotBudget, container id: Int) -> ResumeAllowance {
        ResumeAllowance(budget: budget, spentTotal: resumeBytes, spentByContainer: containers[id]?.resumeBytes ?? 0)
    }

    /// Counts a resume point against the allowance.
    mutating func charge(_ r: ResumePoint) {
        resumeBytes += r.cost
        containers[r.container, default: ContainerUse()].resumeBytes += r.cost
    }

    /// Gives back a resume point's allowance.
    mutating func release(_ r: ResumePoint) {
        resumeBytes -= r.cost
        containers[r.container]?.resumeBytes -= r.cost
        retire(r.container)
    }

    /// The oldest ticket while the total is past the budget, removed from its queue.
    mutating func oldestPastTotal(_ budget: SnapshotBudget) -> UInt64? {
        bytes > budget.totalBytes ? queue.popLive(entries) : nil
    }

    /// The containers past their share.
    func containersPast(_ budget: SnapshotBudget) -> [Int] {
        containers.filter { $0.value.bytes > budget.perContainerBytes }.map(\.key)
    }

    /// Container `id`'s oldest ticket while it is past its share, removed from its queue.
    mutating func oldest(of id: Int, past budget: SnapshotBudget) -> UInt64? {
        guard let use = containers[id], use.bytes > budget.perContainerBytes else { return nil }
        return containers[id]!.queue.popLive(entries)
    }
}
