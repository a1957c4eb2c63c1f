/// One rendering held for a handle between the read that made it and the
/// read that serves its end. Mutated only under `HandleStore`'s lock.
// Unchecked: `served` and `ticket` change only under `HandleStore`'s lock, which the compiler cannot see.
final class HeldRendering: @unchecked Sendable {
    /// The bytes; `bytes[0]` is at the reader's offset `base`.
    let bytes: [UInt8]
    /// The reader's file offset of `bytes[0]` (0, or where a dropped rendering was resumed).
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
    /// Its entry in the budget (`BudgetLedger`), 0 while not counted.
    var ticket: UInt64 = 0

    /// The smallest reader offset served from it (`base`, or where a
    /// resumed reader went on when `bytes` is a whole new rendering).
    let from: Int

    init(bytes: [UInt8], base: Int, from: Int? = nil, firstLine: Int, startsLine: Bool, headColumn: Int = 0,
         headHash: UInt64 = ResumePoint.emptyHash) {
        self.bytes = bytes
        self.base = base
        self.from = from ?? base
        self.headColumn = headColumn
        self.headHash = headHash
        self.firstLine = firstLine
        self.startsLine = startsLine
        self.served = base
    }

    /// What the read decision needs to know of it.
    var span: HeldSpan { HeldSpan(base: base, from: from, count: bytes.count) }

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
}

/// The former name of `HeldRendering`.
typealias Snapshot = HeldRendering
