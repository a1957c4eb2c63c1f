import LXCFSCore

/// What a read does after looking at its handle.
enum ReadPlan {
    /// Serve these bytes (a slice of a held rendering).
    case serve(ArraySlice<UInt8>)
    /// End of file.
    case endOfFile
    /// Render the file, then `complete` the read with the rendering;
    /// `reuse`: a rendering of the last tick will do (not for a re-read from
    /// offset 0); `first`: the handle's first read.
    case render(file: VirtualFile?, resume: ResumePoint?, reuse: Bool, first: Bool = false)
    /// The handle is not known (issued by an earlier process, or never).
    case unknown
}

/// The handles of this process and the snapshot budget, under one lock:
/// every operation under it is a few dictionary steps (rendering happens
/// outside it), and one lock keeps handle and budget from ever disagreeing.
/// What a reader gets is `ReadDecision`'s; what a dropped reader keeps is
/// `ResumePoint`'s, within `ResumeAllowance`.
final class HandleStore: Sendable {
    struct State {
        var handles: HandleSlots
        var ledger = BudgetLedger()
    }

    let budget: SnapshotBudget
    private let state: AdaptiveMutex<State>
    /// Bookkeeping bytes counted for each held rendering (its object, its
    /// array's header, its budget entry and queue slots, malloc's headers).
    static let overhead = 192
    /// The longest rest of a line always held for a dropped rendering;
    /// longer ones up to `longestHeldRemainder` are held while the resume
    /// allowance has room, else matched by hash.
    static let longestRemainder = 64
    static let longestHeldRemainder = 8192

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

    /// Holds state for a handle another process issued.
    func adopt(_ fh: UInt64, file: VirtualFile?) {
        state.withLock { s in
            if s.handles[fh] == nil { s.handles[fh] = HandleState(file: file) }
        }
    }

    /// Whether `fh` is open in this process.
    func contains(_ fh: UInt64) -> Bool {
        state.withLock { $0.handles[fh] != nil }
    }

    /// Forgets `fh`, its held rendering and its resume point.
    func release(_ fh: UInt64) {
        state.withLock { s in
            guard let h = s.handles[fh] else { return }
            s.handles[fh] = nil
            if let t = h.snapshot?.ticket { s.ledger.forget(t) }
            if let r = h.resume { s.ledger.release(r) }
        }
    }

    /// How many handles are open, and the bytes counted for their held
    /// renderings and resume points (for tests and logs).
    var usage: (handles: Int, bytes: Int, resumeBytes: Int) {
        state.withLock { ($0.handles.count, $0.ledger.bytes, $0.ledger.resumeBytes) }
    }

    // MARK: Reads

    /// Looks at the handle for a read of `size` bytes at `offset`.
    func plan(_ fh: UInt64, offset: Int, size: Int) -> ReadPlan {
        state.withLock { s -> ReadPlan in
            guard var h = s.handles[fh] else { return .unknown }
            let decision = ReadDecision.decide(h.facts, offset: offset, size: size)
            h.read = true
            defer { s.handles[fh] = h }
            switch decision {
            case .render(let reuse, let first):
                return .render(file: h.file, resume: nil, reuse: reuse, first: first)
            case .renderResuming:
                return .render(file: h.file, resume: h.resume, reuse: true)
            case .endOfFile:
                return .endOfFile
            case .serveHeld(let range, let releases):
                let held = h.snapshot!
                held.served = held.base + range.upperBound
                if releases {
                    h.end = held.base + held.bytes.count
                    h.snapshot = nil
                    s.ledger.forget(held.ticket)
                }
                return .serve(held.bytes[range])
            }
        }
    }

    /// Serves a read with a new rendering: holds it for the handle when the
    /// read does not reach its end (under the budget of `container`), and
    /// returns the bytes to serve.
    /// - Parameter resume: the resume point the plan rendered for, if any.
    func complete(_ fh: UInt64, offset: Int, size: Int, rendering: [UInt8], resume: ResumePoint?,
                  container: CgroupMembership?) -> ArraySlice<UInt8> {
        let held = resume?.held(from: rendering) ?? HeldRendering(bytes: rendering, base: 0, firstLine: 0, startsLine: true)
        let decision = CompletionDecision.decide(base: held.base, count: held.bytes.count, offset: offset, size: size)
        return state.withLock { s -> ArraySlice<UInt8> in
            // Released meanwhile: serve the read, hold nothing.
            guard var h = s.handles[fh] else {
                switch decision {
                case .nothing: return []
                case .serveAndHold(let range), .serveToEnd(let range, _): return held.bytes[range]
                }
            }
            if let t = h.snapshot?.ticket { s.ledger.forget(t) }
            if let r = h.resume { s.ledger.release(r) }
            h.snapshot = nil
            h.resume = nil
            h.lost = false
            switch decision {
            case .nothing(let end):
                h.end = end
                s.handles[fh] = h
                return []
            case .serveToEnd(let range, let end):
                held.served = held.base + range.upperBound
                h.end = end
                s.handles[fh] = h
                return held.bytes[range]
            case .serveAndHold(let range):
                held.served = held.base + range.upperBound
                h.end = -1
                h.snapshot = held
                s.handles[fh] = h
                held.ticket = s.ledger.admit(fh, cost: held.bytes.count + Self.overhead, container: container)
                Self.enforce(budget, &s)
                return held.bytes[range]
            }
        }
    }

    // MARK: Budget

    /// The byte index where line `line` (0-based) of `bytes` starts; the end when it has fewer lines.
    static func startOfLine(_ line: Int, in bytes: [UInt8]) -> Int {
        HeldRendering.startOfLine(line, in: bytes)
    }

    /// Drops the oldest held renderings while the total or a container is past its budget.
    private static func enforce(_ budget: SnapshotBudget, _ s: inout State) {
        while let t = s.ledger.oldestPastTotal(budget) {
            drop(t, budget: budget, &s)
        }
        for id in s.ledger.containersPast(budget) {
            while let t = s.ledger.oldest(of: id, past: budget) {
                drop(t, budget: budget, &s)
            }
        }
    }

    /// Drops one held rendering, leaving its resume point where the resume
    /// allowance (as large as the snapshot budget, counted apart) has room.
    private static func drop(_ ticket: UInt64, budget: SnapshotBudget, _ s: inout State) {
        guard let e = s.ledger.forget(ticket) else { return }
        guard var h = s.handles[e.fh], let held = h.snapshot, held.ticket == ticket else { return }
        h.snapshot = nil
        // The rest of a long line while the allowance is less than half
        // spent (the line is then finished exactly whatever changed), else
        // a short rest or its hash (some 70 bytes).
        let allowance = s.ledger.allowance(budget, container: e.container)
        let exact = ResumePoint(readerOf: held, container: e.container, longest: longestHeldRemainder)
        if let r = allowance.choose(exact: exact, fallback: {
            ResumePoint(readerOf: held, container: e.container, longest: longestRemainder)
        }) {
            s.ledger.charge(r)
            h.resume = r
        } else {
            h.lost = true
        }
        s.handles[e.fh] = h
        s.ledger.retire(e.container)
    }

    /// Where the reader of `held` stands, to resume it after a drop.
    static func resumePoint(_ held: HeldRendering, container: Int, longest: Int = longestRemainder) -> ResumePoint? {
        ResumePoint(readerOf: held, container: container, longest: longest)
    }
}
