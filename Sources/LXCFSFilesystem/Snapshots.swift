import LXCFSCore
import Synchronization

/// How much memory the rendered snapshots of open file handles may take.
///
/// A handle holds no snapshot until its first read, and gives it up once
/// its end has been served; in between, snapshots count against a total
/// budget and one per container (the reader's container cgroup, as the
/// views define it). Past either, the oldest snapshots are dropped: what a
/// reader of a dropped snapshot gets next is in `HandleStore`.
public struct SnapshotBudget: Sendable, Equatable {
    /// The most bytes all snapshots together may take (`--snapshot-budget`).
    public var totalBytes: Int
    /// The most bytes one container's snapshots may take (`--container-snapshot-budget`).
    public var perContainerBytes: Int

    /// 8 MiB in all, 4 MiB per container: some 2,400 partly read
    /// /proc/meminfo snapshots per container (or forty-five 90 KiB cpuinfo
    /// ones of a 64-CPU host), far more than readers that read a file at
    /// once ever hold at the same moment. The resume points of dropped
    /// snapshots (at most some 130 bytes each) have an allowance of the same
    /// size, counted apart: some 30,000 or more per container. With the
    /// handles' own state (16 bytes each in a table) this keeps 100,000
    /// held handles well under 32 MiB of RSS.
    public static let defaultTotalBytes = 8 << 20
    public static let defaultPerContainerBytes = 4 << 20

    public init(totalBytes: Int = SnapshotBudget.defaultTotalBytes,
                perContainerBytes: Int = SnapshotBudget.defaultPerContainerBytes) {
        self.totalBytes = max(0, totalBytes)
        self.perContainerBytes = max(0, perContainerBytes)
    }

    /// Parses a size: bytes, or a number with a `K`, `M` or `G` suffix
    /// (KiB, MiB, GiB; `KiB`, `MiB`, `GiB` and a trailing `B` are accepted too).
    /// - Returns: `nil` for anything else.
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

/// One rendering kept for a handle between the read that made it and the
/// read that serves its end. Mutated only under `HandleStore`'s lock.
final class Snapshot: @unchecked Sendable {
    /// The bytes; `bytes[0]` is at the reader's offset `base`.
    let bytes: [UInt8]
    /// The reader's file offset of `bytes[0]` (0, or where a dropped snapshot was resumed).
    let base: Int
    /// The line of the rendering `bytes[0]` lies in (0-based).
    let firstLine: Int
    /// Whether `bytes[0]` starts a line.
    let startsLine: Bool
    /// Where `bytes[0]` is in its line (0 where it starts one), and the
    /// hash of that line's bytes before it, which the reader was served.
    let headColumn: Int
    let headHash: UInt64
    /// The reader's offset just past what was served last.
    var served: Int
    /// Its entry in the budget.
    var ticket: UInt64 = 0

    /// The smallest reader offset served from it (`base`, or where a
    /// resumed reader went on when `bytes` is a whole new rendering).
    let from: Int

    init(bytes: [UInt8], base: Int, from: Int? = nil, firstLine: Int, startsLine: Bool, headColumn: Int = 0,
         headHash: UInt64 = Resume.emptyHash) {
        self.bytes = bytes
        self.base = base
        self.from = from ?? base
        self.headColumn = headColumn
        self.headHash = headHash
        self.firstLine = firstLine
        self.startsLine = startsLine
        self.served = base
    }
}

/// Where a reader stood in a snapshot that was dropped before its end was
/// served: its offset, and how to go on from there with a new rendering:
/// - at the start of a line: that line's number;
/// - in the middle of a short line (up to `HandleStore.longestRemainder`
///   bytes left): the rest of that line as the reader's snapshot had it,
///   then the new rendering from the next line on;
/// - in the middle of a longer line (the `intr` line of /proc/stat, the
///   `flags` of cpuinfo): its rest too while the resume allowance is less
///   than half spent; past that the column and a hash of the line up to
///   it: the new rendering's same line goes on from that column if it has
///   the same beginning, else the reader gets end of file.
/// Packed in one array (one allocation of some 64 bytes): tens of
/// thousands of handles may hold one.
struct Resume: Sendable {
    /// at, line, container id (UInt32 each), kind (0: rest of the line
    /// follows; 1: column UInt32 and hash UInt64 follow).
    let packed: [UInt8]

    private init(_ at: Int, _ line: Int, _ container: Int, kind: UInt8, _ payload: ArraySlice<UInt8>) {
        var p = [UInt8]()
        p.reserveCapacity(13 + payload.count)
        for v in [at, line, container] { Self.append(UInt64(UInt32(clamping: v)), 4, to: &p) }
        p.append(kind)
        p.append(contentsOf: payload)
        packed = p
    }

    /// Goes on at the start of line `line`, or (with a remainder) with that
    /// rest of line `line - 1`, then line `line`; the remainder starts at
    /// `column` of its line, whose bytes before it hash to `prefixHash`.
    init(at: Int, nextLine: Int, container: Int, remainder: ArraySlice<UInt8>, column: Int = 0,
         prefixHash: UInt64 = Resume.emptyHash) {
        var payload = [UInt8]()
        payload.reserveCapacity(12 + remainder.count)
        Self.append(UInt64(UInt32(clamping: column)), 4, to: &payload)
        Self.append(prefixHash, 8, to: &payload)
        payload.append(contentsOf: remainder)
        self.init(at, nextLine, container, kind: 0, payload[...])
    }

    /// Goes on in line `line` at `column` where a new rendering's line begins with the same bytes.
    init(at: Int, line: Int, column: Int, prefixHash: UInt64, container: Int) {
        var payload = [UInt8]()
        Self.append(UInt64(UInt32(clamping: column)), 4, to: &payload)
        Self.append(prefixHash, 8, to: &payload)
        self.init(at, line, container, kind: 1, payload[...])
    }

    private static func append(_ v: UInt64, _ n: Int, to p: inout [UInt8]) {
        for i in 0..<n { p.append(UInt8(v >> (8 * i) & 0xff)) }
    }

    private func field(_ i: Int, _ n: Int = 4) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<n { v |= UInt64(packed[i + k]) << (8 * k) }
        return v
    }
    var at: Int { Int(field(0)) }
    var line: Int { Int(field(4)) }
    var container: Int { Int(field(8)) }
    var isColumn: Bool { packed[12] == 1 }
    /// Kind 0: the rest of the reader's line.
    var remainder: ArraySlice<UInt8> { packed[25...] }
    /// The column (kind 1: where to go on; kind 0: where the remainder
    /// starts) and the hash of the line's bytes before it.
    var column: Int { Int(field(13)) }
    var prefixHash: UInt64 { field(17, 8) }
    /// The bytes it takes, counted against the resume allowance.
    var cost: Int { packed.count + 48 }

    /// FNV-1a of nothing.
    static let emptyHash: UInt64 = 0xcbf2_9ce4_8422_2325

    /// FNV-1a of `bytes`, going on from `seed` (the hash of what came before).
    static func hash(_ bytes: ArraySlice<UInt8>, from seed: UInt64 = emptyHash) -> UInt64 {
        var h = seed
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}

/// One read-only handle's state: 16 bytes, no rendering until the first read.
struct HandleState {
    enum Kept {
        case nothing
        /// The snapshot being served, between first read and end.
        case snapshot(Snapshot)
        /// Where the reader stood in a dropped snapshot.
        case resume(Resume)
    }
    var kept = Kept.nothing
    /// The reader's offset at the end of the last snapshot whose end was
    /// served, -1 if none: a read at or past it is at end of file.
    var endOffset: Int32 = -1
    /// The virtual file; `nil` for a host file of the CPU tree.
    var file: VirtualFile?
    /// `lost`, `used` and `read`, one bit each.
    private var flags: UInt8 = 0
    /// The handle's tag (`HandleSlots`).
    var tag: UInt8 = 0

    private func flag(_ bit: UInt8) -> Bool { flags & bit != 0 }
    private mutating func set(_ bit: UInt8, _ on: Bool) { flags = on ? flags | bit : flags & ~bit }
    /// A dropped snapshot left no resume point: reads past 0 are at end
    /// of file until the reader starts again at 0.
    var lost: Bool { get { flag(1) } set { set(1, newValue) } }
    /// The slot holds a handle (`HandleSlots`).
    var used: Bool { get { flag(2) } set { set(2, newValue) } }
    /// The handle was read before: a read at offset 0 then wants a fresh
    /// rendering, not the render cache's.
    var read: Bool { get { flag(4) } set { set(4, newValue) } }

    init(file: VirtualFile? = nil) {
        self.file = file
    }

    var snapshot: Snapshot? {
        get { if case .snapshot(let s) = kept { return s } else { return nil } }
        set {
            if let newValue { kept = .snapshot(newValue) } else if snapshot != nil { kept = .nothing }
        }
    }
    var resume: Resume? {
        get { if case .resume(let r) = kept { return r } else { return nil } }
        set {
            if let newValue { kept = .resume(newValue) } else if resume != nil { kept = .nothing }
        }
    }
    var end: Int {
        get { Int(endOffset) }
        set { endOffset = Int32(clamping: newValue) }
    }
}

/// The handles of this process in an array indexed by the handle's low 24
/// bits (with an 8-bit tag above them): 16 bytes a handle, where a
/// dictionary would take three times that. Handles another process issued
/// (read after a restart) are kept in a dictionary beside it.
struct HandleSlots {
    let generation: UInt64
    var slots: [HandleState] = []
    var free: [UInt32] = []
    var foreign: [UInt64: HandleState] = [:]
    private(set) var count = 0
    /// The slot index meaning "not tracked" (past 2^24 - 1 handles open at once).
    static let untracked: UInt32 = 0xff_ffff

    init(generation: UInt64) {
        self.generation = generation
    }

    /// Takes a slot for a new handle; returns the handle's low 32 bits.
    mutating func allocate(_ file: VirtualFile?) -> UInt64 {
        let index: UInt32
        if let reused = free.popLast() {
            index = reused
        } else if slots.count < Int(Self.untracked) {
            index = UInt32(slots.count)
            slots.append(HandleState())
        } else {
            return UInt64(Self.untracked)
        }
        let tag = slots[Int(index)].tag &+ 1
        var h = HandleState(file: file)
        h.used = true
        h.tag = tag
        slots[Int(index)] = h
        count += 1
        return UInt64(tag) << 24 | UInt64(index)
    }

    private func slot(_ fh: UInt64) -> Int? {
        guard fh >> 48 == generation else { return nil }
        let index = Int(fh & 0xff_ffff)
        guard index < slots.count, slots[index].used, slots[index].tag == UInt8(fh >> 24 & 0xff) else { return -1 }
        return index
    }

    /// The state of a handle; setting `nil` forgets it. Setting a handle of
    /// this process that is not open (released meanwhile) does nothing.
    subscript(fh: UInt64) -> HandleState? {
        get {
            switch slot(fh) {
            case nil: return foreign[fh]
            case .some(-1): return nil
            case let i?: return slots[i]
            }
        }
        set {
            switch slot(fh) {
            case nil:
                if newValue == nil { if foreign.removeValue(forKey: fh) != nil { count -= 1 } }
                else {
                    if foreign[fh] == nil { count += 1 }
                    foreign[fh] = newValue
                }
            case .some(-1):
                return
            case let i?:
                if var h = newValue {
                    h.used = true
                    h.tag = slots[i].tag
                    slots[i] = h
                } else {
                    let tag = slots[i].tag
                    slots[i] = HandleState()
                    slots[i].tag = tag
                    free.append(UInt32(i))
                    count -= 1
                }
            }
        }
    }
}

/// What a read does after looking at its handle.
enum ReadPlan {
    /// Serve these bytes (a slice of a snapshot).
    case serve(ArraySlice<UInt8>)
    /// End of file.
    case endOfFile
    /// Render the file, then `complete` the read with the rendering;
    /// `reuse`: a rendering of the last tick will do (not for a re-read from
    /// offset 0); `first`: the handle's first read.
    case render(file: VirtualFile?, resume: Resume?, reuse: Bool, first: Bool = false)
    /// The handle is not known (issued by an earlier process, or never).
    case unknown
}

/// The handles of this process and the snapshot budget, under one lock:
/// every operation under it is a few dictionary steps (rendering happens
/// outside it), and one lock keeps handle and budget from ever disagreeing.
///
/// What a reader gets:
/// - a read at offset 0 renders afresh (as lxcfs does; `top` re-reads so);
/// - a read past 0 is served from the handle's snapshot; the read that
///   serves its end frees it, and later reads at or past that end get end of file;
/// - a read past 0 on a handle never read renders and serves from there;
/// - a read past 0 where a dropped snapshot left off renders afresh and
///   serves the rest of the line the reader was in (kept when the snapshot
///   was dropped), then the new rendering from the next line on: whole,
///   well-formed lines, values of two moments (documented in the README);
/// - where even that resume point was dropped, end of file (a clean, short
///   file) until the reader reads from 0 again.
final class HandleStore: @unchecked Sendable {
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
    struct State {
        var handles: HandleSlots
        var entries: [UInt64: Entry] = [:]
        var queue = Queue()
        var bytes = 0
        var resumeBytes = 0
        var nextTicket: UInt64 = 1
        var containerIDs: [CgroupMembership?: Int] = [:]
        var containerKeys: [Int: CgroupMembership?] = [:]
        var containers: [Int: ContainerUse] = [:]
        var nextContainer = 1
    }

    let budget: SnapshotBudget
    private let state: AdaptiveMutex<State>
    /// Bookkeeping bytes counted for each kept snapshot (its object, its
    /// array's header, its budget entry and queue slots, malloc's headers).
    static let overhead = 192
    /// The longest rest of a line always kept for a dropped snapshot;
    /// longer ones up to `longestKeptRemainder` are kept while the resume
    /// allowance has room, else matched by hash.
    static let longestRemainder = 64
    static let longestKeptRemainder = 8192

    /// - Parameter generation: the handle table's generation (bits 48-63 of its handles).
    init(budget: SnapshotBudget, generation: UInt64 = 1) {
        self.budget = budget
        self.state = AdaptiveMutex(State(handles: HandleSlots(generation: generation)))
    }

    // MARK: Handles

    /// A new handle of this process: the generation in bits 48-63 and its
    /// slot and tag in bits 0-31 (the caller adds bits 32-47).
    func open(_ file: VirtualFile?) -> UInt64 {
        state.withLock { $0.handles.generation << 48 | $0.handles.allocate(file) }
    }

    /// Keeps a handle another process issued.
    func adopt(_ fh: UInt64, file: VirtualFile?) {
        state.withLock { s in
            if s.handles[fh] == nil { s.handles[fh] = HandleState(file: file) }
        }
    }

    func contains(_ fh: UInt64) -> Bool {
        state.withLock { $0.handles[fh] != nil }
    }

    func release(_ fh: UInt64) {
        state.withLock { s in
            guard let h = s.handles[fh] else { return }
            s.handles[fh] = nil
            if let t = h.snapshot?.ticket { Self.forget(t, &s) }
            if let r = h.resume { Self.release(r, &s) }
        }
    }

    /// How many handles are open, and the bytes counted for their
    /// snapshots and resume points (for tests and logs).
    var usage: (handles: Int, bytes: Int, resumeBytes: Int) {
        state.withLock { ($0.handles.count, $0.bytes, $0.resumeBytes) }
    }

    // MARK: Reads

    /// Looks at the handle for a read of `size` bytes at `offset`.
    func plan(_ fh: UInt64, offset: Int, size: Int) -> ReadPlan {
        state.withLock { s -> ReadPlan in
            guard var h = s.handles[fh] else { return .unknown }
            let readBefore = h.read
            h.read = true
            defer { s.handles[fh] = h }
            if offset == 0 { return .render(file: h.file, resume: nil, reuse: !readBefore, first: !readBefore) }
            if let snap = h.snapshot, offset >= snap.from {
                let local = offset - snap.base
                if local >= snap.bytes.count { return .endOfFile }
                let n = min(size, snap.bytes.count - local)
                snap.served = offset + n
                if local + n >= snap.bytes.count {
                    h.end = snap.base + snap.bytes.count
                    h.snapshot = nil
                    Self.forget(snap.ticket, &s)
                }
                return .serve(snap.bytes[local..<local + n])
            }
            if h.snapshot == nil {
                if h.end >= 0, offset >= h.end { return .endOfFile }
                if let r = h.resume, r.at == offset { return .render(file: h.file, resume: r, reuse: true) }
                if h.lost { return .endOfFile }
            }
            return .render(file: h.file, resume: nil, reuse: true)
        }
    }

    /// Serves a read with a fresh rendering: keeps it as the handle's
    /// snapshot when the read does not reach its end (under the budget of
    /// `container`), and returns the bytes to serve.
    /// - Parameter resume: the resume point the plan rendered for, if any.
    func complete(_ fh: UInt64, offset: Int, size: Int, rendering: [UInt8], resume: Resume?,
                  container: CgroupMembership?) -> ArraySlice<UInt8> {
        let snap: Snapshot
        if let resume, resume.isColumn {
            // The same line of the new rendering, from the column on, if it
            // begins as the reader's did; else nothing (end of file).
            let start = Self.startOfLine(resume.line, in: rendering)
            var end = start
            while end < rendering.count, rendering[end] != 0x0a { end += 1 }
            let column = resume.column
            if end - start >= column, Resume.hash(rendering[start..<start + column]) == resume.prefixHash {
                // The whole rendering, placed so that the reader's offset
                // lands on the column: a later drop in the same long line
                // then finds the line's start to match again.
                snap = Snapshot(bytes: rendering, base: resume.at - (start + column), from: resume.at,
                                firstLine: 0, startsLine: true)
            } else {
                snap = Snapshot(bytes: [], base: resume.at, firstLine: resume.line, startsLine: false)
            }
        } else if let resume {
            let start = Self.startOfLine(resume.line, in: rendering)
            snap = Snapshot(bytes: Array(resume.remainder) + rendering[start...], base: resume.at,
                            firstLine: resume.remainder.isEmpty ? resume.line : resume.line - 1,
                            startsLine: resume.remainder.isEmpty, headColumn: resume.remainder.isEmpty ? 0 : resume.column,
                            headHash: resume.remainder.isEmpty ? Resume.emptyHash : resume.prefixHash)
        } else {
            snap = Snapshot(bytes: rendering, base: 0, firstLine: 0, startsLine: true)
        }
        let local = offset - snap.base
        return state.withLock { s -> ArraySlice<UInt8> in
            // Released meanwhile: serve the read, keep nothing.
            guard var h = s.handles[fh] else {
                guard local >= 0, local < snap.bytes.count else { return [] }
                return snap.bytes[local..<min(snap.bytes.count, local + size)]
            }
            if let t = h.snapshot?.ticket { Self.forget(t, &s) }
            if let r = h.resume { Self.release(r, &s) }
            h.snapshot = nil
            h.resume = nil
            h.lost = false
            guard local >= 0, local < snap.bytes.count else {
                h.end = snap.base + snap.bytes.count
                s.handles[fh] = h
                return []
            }
            let n = min(size, snap.bytes.count - local)
            snap.served = offset + n
            if local + n >= snap.bytes.count {
                h.end = snap.base + snap.bytes.count
                s.handles[fh] = h
            } else {
                h.end = -1
                h.snapshot = snap
                s.handles[fh] = h
                snap.ticket = Self.admit(fh, cost: snap.bytes.count + Self.overhead, container: container, &s)
                Self.enforce(budget, &s)
            }
            return snap.bytes[local..<local + n]
        }
    }

    // MARK: Budget

    /// The byte index where line `line` (0-based) of `bytes` starts; the end when it has fewer lines.
    static func startOfLine(_ line: Int, in bytes: [UInt8]) -> Int {
        if line <= 0 { return 0 }
        var seen = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0a {
                seen += 1
                if seen == line { return i + 1 }
            }
            i += 1
        }
        return bytes.count
    }

    private static func admit(_ fh: UInt64, cost: Int, container key: CgroupMembership?,
                              _ s: inout State) -> UInt64 {
        let id: Int
        if let known = s.containerIDs[key] {
            id = known
        } else {
            id = s.nextContainer
            s.nextContainer += 1
            s.containerIDs[key] = id
            s.containerKeys[id] = key
        }
        let ticket = s.nextTicket
        s.nextTicket += 1
        s.entries[ticket] = Entry(fh: fh, cost: cost, container: id)
        s.queue.append(ticket)
        s.bytes += cost
        s.containers[id, default: ContainerUse()].bytes += cost
        s.containers[id]!.queue.append(ticket)
        return ticket
    }

    private static func forget(_ ticket: UInt64, _ s: inout State) {
        guard ticket != 0, let e = s.entries.removeValue(forKey: ticket) else { return }
        s.bytes -= e.cost
        s.queue.compact(s.entries)
        guard var use = s.containers[e.container] else { return }
        use.bytes -= e.cost
        use.queue.compact(s.entries)
        s.containers[e.container] = use
        retire(e.container, &s)
    }

    /// Forgets a container with nothing kept.
    private static func retire(_ id: Int, _ s: inout State) {
        guard let use = s.containers[id], use.bytes <= 0, use.resumeBytes <= 0 else { return }
        s.containers[id] = nil
        if let key = s.containerKeys.removeValue(forKey: id) { s.containerIDs[key] = nil }
    }

    /// Gives back a resume point's allowance.
    private static func release(_ r: Resume, _ s: inout State) {
        s.resumeBytes -= r.cost
        s.containers[r.container]?.resumeBytes -= r.cost
        retire(r.container, &s)
    }

    /// Drops the oldest snapshots while the total or a container is past its budget.
    private static func enforce(_ budget: SnapshotBudget, _ s: inout State) {
        while s.bytes > budget.totalBytes {
            guard let t = s.queue.popLive(s.entries) else { break }
            drop(t, budget: budget, &s)
        }
        let over = s.containers.filter { $0.value.bytes > budget.perContainerBytes }.map(\.key)
        for id in over {
            while let use = s.containers[id], use.bytes > budget.perContainerBytes {
                guard let t = s.containers[id]!.queue.popLive(s.entries) else { break }
                drop(t, budget: budget, &s)
            }
        }
    }

    /// Drops one kept snapshot, leaving its resume point where the resume
    /// allowance (as large as the snapshot budget, counted apart) has room.
    private static func drop(_ ticket: UInt64, budget: SnapshotBudget, _ s: inout State) {
        guard let e = s.entries[ticket] else { return }
        forget(ticket, &s)
        guard var h = s.handles[e.fh], let snap = h.snapshot, snap.ticket == ticket else { return }
        h.snapshot = nil
        func fits(_ r: Resume, _ share: Int) -> Bool {
            s.resumeBytes + r.cost <= budget.totalBytes / share
                && (s.containers[e.container]?.resumeBytes ?? 0) + r.cost <= budget.perContainerBytes / share
        }
        // The rest of a long line while the allowance is less than half
        // spent (the line is then finished exactly whatever changed), else
        // its hash (some 70 bytes).
        let exact = resumePoint(snap, container: e.container, longest: longestKeptRemainder)
        if let r = exact.flatMap({ fits($0, 2) ? $0 : nil }) ?? resumePoint(snap, container: e.container), fits(r, 1) {
            s.resumeBytes += r.cost
            s.containers[e.container, default: ContainerUse()].resumeBytes += r.cost
            h.resume = r
        } else {
            h.lost = true
        }
        s.handles[e.fh] = h
        retire(e.container, &s)
    }

    /// Where the reader of `snap` stands, to resume it after a drop;
    /// `nil` when the rest of its line is too long to keep.
    static func resumePoint(_ snap: Snapshot, container: Int, longest: Int = longestRemainder) -> Resume? {
        let local = max(0, min(snap.served - snap.base, snap.bytes.count))
        var newlines = 0
        for b in snap.bytes[..<local] where b == 0x0a { newlines += 1 }
        let line = snap.firstLine + newlines
        let atStart = local == 0 ? snap.startsLine : snap.bytes[local - 1] == 0x0a
        if atStart { return Resume(at: snap.served, nextLine: line, container: container, remainder: []) }
        // The line's beginning up to the reader: from this snapshot's
        // bytes, or, where the snapshot starts inside the line (it was
        // itself resumed there), from what it knows of the line's head.
        var start = local
        while start > 0, snap.bytes[start - 1] != 0x0a { start -= 1 }
        let column: Int
        let prefixHash: UInt64
        if start > 0 || snap.startsLine {
            column = local - start
            prefixHash = Resume.hash(snap.bytes[start..<local])
        } else {
            column = snap.headColumn + local
            prefixHash = Resume.hash(snap.bytes[..<local], from: snap.headHash)
        }
        var end = local
        while end < snap.bytes.count, snap.bytes[end] != 0x0a { end += 1 }
        if end < snap.bytes.count { end += 1 }
        if end - local <= longest {
            return Resume(at: snap.served, nextLine: line + 1, container: container, remainder: snap.bytes[local..<end],
                          column: column, prefixHash: prefixHash)
        }
        // A long line: match its beginning in the new rendering.
        return Resume(at: snap.served, line: line, column: column, prefixHash: prefixHash, container: container)
    }
}
