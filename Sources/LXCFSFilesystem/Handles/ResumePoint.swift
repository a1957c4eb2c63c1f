import LXCFSCore

/// Where a reader stood in a held rendering that was dropped before its
/// end was served: its offset, and how to go on from there with a new rendering:
/// - at the start of a line: that line's number;
/// - in the middle of a short line (up to `HandleStore.longestRemainder`
///   bytes left): the rest of that line as the reader's rendering had it,
///   then the new rendering from the next line on;
/// - in the middle of a longer line (the `intr` line of /proc/stat, the
///   `flags` of cpuinfo): its rest too while the resume allowance is less
///   than half spent; past that the column and a hash of the line up to
///   it: the new rendering's same line goes on from that column if it has
///   the same beginning, else the reader gets end of file.
/// Packed in one array (one allocation of some 64 bytes): tens of
/// thousands of handles may hold one.
struct ResumePoint: Sendable {
    /// at, line, container id (UInt32 each, little-endian), kind (0: column
    /// UInt32, hash UInt64 and the rest of the line follow; 1: column UInt32
    /// and hash UInt64 follow).
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
         prefixHash: UInt64 = ResumePoint.emptyHash) {
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
    /// The reader's offset.
    var at: Int { Int(field(0)) }
    /// The line to go on with (0-based).
    var line: Int { Int(field(4)) }
    /// The container id in the budget's books.
    var container: Int { Int(field(8)) }
    /// Whether the reader goes on at a column matched by hash (kind 1).
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
    static let emptyHash: UInt64 = FNV1a.offsetBasis

    /// FNV-1a (64-bit) of `bytes`, going on from `seed` (the hash of what came before).
    static func hash(_ bytes: ArraySlice<UInt8>, from seed: UInt64 = emptyHash) -> UInt64 {
        var fnv = FNV1a(continuingFrom: seed)
        fnv.combine(bytes)
        return fnv.value
    }

    /// Where the reader of `held` stands, to resume it after a drop: the
    /// rest of its line when it is at most `longest` bytes, else a column
    /// point matched by hash.
    /// - Parameter container: the container id in the budget's books.
    init(readerOf held: HeldRendering, container: Int, longest: Int) {
        let local = max(0, min(held.served - held.base, held.bytes.count))
        var newlines = 0
        for b in held.bytes[..<local] where b == 0x0a { newlines += 1 }
        let line = held.firstLine + newlines
        let atStart = local == 0 ? held.startsLine : held.bytes[local - 1] == 0x0a
        if atStart {
            self.init(at: held.served, nextLine: line, container: container, remainder: [])
            return
        }
        // The line's beginning up to the reader: from this rendering's
        // bytes, or, where it starts inside the line (it was itself
        // resumed there), from what it knows of the line's head.
        var start = local
        while start > 0, held.bytes[start - 1] != 0x0a { start -= 1 }
        let column: Int
        let prefixHash: UInt64
        if start > 0 || held.startsLine {
            column = local - start
            prefixHash = Self.hash(held.bytes[start..<local])
        } else {
            column = held.headColumn + local
            prefixHash = Self.hash(held.bytes[..<local], from: held.headHash)
        }
        var end = local
        while end < held.bytes.count, held.bytes[end] != 0x0a { end += 1 }
        if end < held.bytes.count { end += 1 }
        if end - local <= longest {
            self.init(at: held.served, nextLine: line + 1, container: container, remainder: held.bytes[local..<end],
                      column: column, prefixHash: prefixHash)
        } else {
            // A long line: match its beginning in the new rendering.
            self.init(at: held.served, line: line, column: column, prefixHash: prefixHash, container: container)
        }
    }

    /// The rendering a resumed reader is served from: its remainder and
    /// `rendering` from the next line on, or (a column point) the whole
    /// rendering placed so that the reader's offset lands on the column
    /// when that line begins the same, else nothing (end of file).
    func held(from rendering: [UInt8]) -> HeldRendering {
        if isColumn {
            let start = HeldRendering.startOfLine(line, in: rendering)
            var end = start
            while end < rendering.count, rendering[end] != 0x0a { end += 1 }
            if end - start >= column, Self.hash(rendering[start..<start + column]) == prefixHash {
                // A later drop in the same long line then finds the line's start to match again.
                return HeldRendering(bytes: rendering, base: at - (start + column), from: at,
                                     firstLine: 0, startsLine: true)
            }
            return HeldRendering(bytes: [], base: at, firstLine: line, startsLine: false)
        }
        let start = HeldRendering.startOfLine(line, in: rendering)
        let rest = remainder
        return HeldRendering(bytes: Array(rest) + rendering[start...], base: at,
                             firstLine: rest.isEmpty ? line : line - 1, startsLine: rest.isEmpty,
                             headColumn: rest.isEmpty ? 0 : column,
                             headHash: rest.isEmpty ? Self.emptyHash : prefixHash)
    }
}

/// The former name of `ResumePoint`.
typealias Resume = ResumePoint
