/// Where a held rendering lies in the reader's file: `count` bytes from
/// offset `base`, served from offset `from` on (`base`, or where a resumed
/// reader went on inside a whole new rendering).
struct HeldSpan: Equatable, Sendable {
    var base: Int
    var from: Int
    var count: Int
}

/// What the read decision sees of a handle.
struct HandleFacts: Equatable, Sendable {
    /// The handle was read before.
    var readBefore = false
    /// The rendering it holds, if any.
    var held: HeldSpan?
    /// The reader's offset at the end of the last rendering whose end was served.
    var end: Int?
    /// The offset of the resume point a dropped rendering left, if any.
    var resumeAt: Int?
    /// A dropped rendering left no resume point.
    var lost = false

    init(readBefore: Bool = false, held: HeldSpan? = nil, end: Int? = nil, resumeAt: Int? = nil, lost: Bool = false) {
        self.readBefore = readBefore
        self.held = held
        self.end = end
        self.resumeAt = resumeAt
        self.lost = lost
    }
}

/// What a read of a handle does, decided from the handle's facts, the
/// offset and the size alone (`decide`), before any rendering:
/// - a read at offset 0 renders anew (as lxcfs does; `top` re-reads so),
///   reusing the render cache's rendering only on the handle's first read;
/// - a read past 0 is served from the held rendering; the read that serves
///   its end releases it, and later reads at or past that end get end of file;
/// - a read past 0 on a handle never read renders and serves from there;
/// - a read past 0 where a dropped rendering left off renders anew and
///   goes on from the resume point (whole, well-formed lines, values of
///   two moments: documented in the README);
/// - where even that resume point was dropped, end of file (a clean, short
///   file) until the reader reads from 0 again.
enum ReadDecision: Equatable, Sendable {
    /// Render without a resume point; `reuse`: a rendering of the last tick
    /// will do; `first`: the handle's first read.
    case render(reuse: Bool, first: Bool)
    /// Render and go on from the handle's resume point.
    case renderResuming
    /// Serve `range` of the held rendering's bytes; `releases`: that
    /// reaches its end, so the handle gives it up.
    case serveHeld(Range<Int>, releases: Bool)
    /// End of file: serve nothing.
    case endOfFile

    /// The decision for a read of `size` bytes at reader offset `offset` (both ≥ 0).
    static func decide(_ h: HandleFacts, offset: Int, size: Int) -> ReadDecision {
        if offset == 0 { return .render(reuse: !h.readBefore, first: !h.readBefore) }
        if let held = h.held {
            guard offset >= held.from else { return .render(reuse: true, first: false) }
            let local = offset - held.base
            if local >= held.count { return .endOfFile }
            let n = min(size, held.count - local)
            return .serveHeld(local..<local + n, releases: local + n >= held.count)
        }
        if let end = h.end, offset >= end { return .endOfFile }
        if let at = h.resumeAt, at == offset { return .renderResuming }
        if h.lost { return .endOfFile }
        return .render(reuse: true, first: false)
    }
}

/// What a read does with a rendering it made: decided from where the
/// rendering lies (`base`, `count` bytes), the offset and the size alone.
enum CompletionDecision: Equatable, Sendable {
    /// The offset is outside the rendering: serve nothing; the reader's
    /// end of file is at `end`.
    case nothing(end: Int)
    /// Serve `range` of the rendering's bytes and hold the rendering for the next read.
    case serveAndHold(Range<Int>)
    /// Serve `range`, which reaches the end, at reader offset `end`.
    case serveToEnd(Range<Int>, end: Int)

    /// The decision for a read of `size` bytes at `offset` served from a
    /// rendering of `count` bytes placed at reader offset `base`.
    static func decide(base: Int, count: Int, offset: Int, size: Int) -> CompletionDecision {
        let local = offset - base
        guard local >= 0, local < count else { return .nothing(end: base + count) }
        let n = min(size, count - local)
        if local + n >= count { return .serveToEnd(local..<local + n, end: base + count) }
        return .serveAndHold(local..<local + n)
    }
}
