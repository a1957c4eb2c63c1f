#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small parsers over the bytes of kernel text files. Each takes a slice and
/// never allocates more than its result.
package enum ByteParser {
    static let newline = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")
    static let minus = UInt8(ascii: "-")
    static let comma = UInt8(ascii: ",")

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == space || b == tab || b == newline || b == 13 }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// The lines of a text, without their newlines.
    package static func lines(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        out.reserveCapacity(bytes.count / 32 + 2)
        forEachLine(bytes) { out.append($0) }
        return out
    }

    /// The whitespace-separated words of a text.
    package static func words(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        out.reserveCapacity(16)
        var i = bytes.startIndex
        while let w = nextWord(bytes, from: &i) { out.append(w) }
        return out
    }

    /// A signed decimal integer that makes up the whole of `word`.
    /// - Returns: the value, or `nil` for anything else (`max`, empty, overflow).
    package static func integer(_ word: ArraySlice<UInt8>) -> Int64? {
        var i = word.startIndex
        var negative = false
        if i < word.endIndex, word[i] == minus { negative = true; i += 1 }
        guard i < word.endIndex else { return nil }
        var value: Int64 = 0
        while i < word.endIndex {
            let b = word[i]
            guard isDigit(b) else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(b - 48))
            if o1 || o2 { return nil }
            value = a
            i += 1
        }
        return negative ? -value : value
    }

    /// An unsigned decimal integer that makes up the whole of `word`; values
    /// above `Int64.max` (such as the v1 "unlimited" 9223372036854771712 on
    /// some page sizes) are clamped to `UInt64`.
    package static func unsigned(_ word: ArraySlice<UInt8>) -> UInt64? {
        guard !word.isEmpty else { return nil }
        return word.withUnsafeBufferPointer { buf -> UInt64? in
            var value: UInt64 = 0
            for b in buf {
                guard isDigit(b) else { return nil }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(b - 48))
                if o1 || o2 { return UInt64.max }
                value = a
            }
            return value
        }
    }

    /// The first whitespace-separated word of a text as an integer.
    package static func firstInteger(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard let w = firstWord(bytes) else { return nil }
        return integer(w)
    }

    /// The first whitespace-separated word of a text, without allocating.
    /// - Returns: the word, or `nil` when the text is only whitespace.
    @inline(__always)
    package static func firstWord(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var i = bytes.startIndex
        return nextWord(bytes, from: &i)
    }

    /// The next whitespace-separated word at or after `index`, without
    /// allocating; moves `index` past it.
    /// - Returns: the word, or `nil` when only whitespace is left.
    @inline(__always)
    package static func nextWord(_ bytes: ArraySlice<UInt8>, from index: inout Int) -> ArraySlice<UInt8>? {
        let base = bytes.startIndex
        let end = bytes.endIndex
        guard index < end else { index = end; return nil }
        let (start, stop) = bytes.withUnsafeBufferPointer { buf -> (Int, Int) in
            var i = index - base
            let n = buf.count
            while i < n, isSpace(buf[i]) { i += 1 }
            let start = i
            while i < n, !isSpace(buf[i]) { i += 1 }
            return (start, i)
        }
        index = base + stop
        return start < stop ? bytes[(base + start)..<(base + stop)] : nil
    }

    /// The index of the first `byte` in `bytes` (`memchr(3)`).
    @inline(__always)
    package static func firstIndex(of byte: UInt8, in bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        return bytes.withUnsafeBufferPointer { buf -> Int? in
            guard let hit = memchr(buf.baseAddress!, Int32(byte), buf.count) else { return nil }
            return bytes.startIndex + (UnsafeRawPointer(hit) - UnsafeRawPointer(buf.baseAddress!))
        }
    }

    /// Calls `body` with each line of a text, without its newline and
    /// without allocating; a final newline does not start an empty line.
    @inline(__always)
    package static func forEachLine(_ bytes: ArraySlice<UInt8>, _ body: (ArraySlice<UInt8>) -> Void) {
        forEachLine(while: bytes) { line in
            body(line)
            return true
        }
    }

    /// Calls `body` with each line of a text (without its newline) as a
    /// buffer: no slice, so no reference counting per line.
    @inline(__always)
    package static func forEachLineBuffer(_ bytes: ArraySlice<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        let n = bytes.count
        guard n > 0 else { return }
        bytes.withUnsafeBufferPointer { buf in
            let p = buf.baseAddress!
            var start = 0
            while start < n {
                var end = n
                if let hit = memchr(p + start, Int32(newline), n - start) {
                    end = UnsafeRawPointer(hit) - UnsafeRawPointer(p)
                }
                body(UnsafeBufferPointer(start: p + start, count: end - start))
                start = end + 1
            }
        }
    }

    /// Calls `body` with each line of a text until it returns false.
    @inline(__always)
    package static func forEachLine(while bytes: ArraySlice<UInt8>, _ body: (ArraySlice<UInt8>) -> Bool) {
        let n = bytes.count
        guard n > 0 else { return }
        let base = bytes.startIndex
        bytes.withUnsafeBufferPointer { buf in
            let p = UnsafeRawPointer(buf.baseAddress!)
            var start = 0
            while start < n {
                var end = n
                if let hit = memchr(p + start, Int32(newline), n - start) { end = UnsafeRawPointer(hit) - p }
                if !body(bytes[(base + start)..<(base + end)]) { return }
                start = end + 1
            }
        }
    }

    /// Parses `key value` lines (cgroup `memory.stat`, `cpu.stat`) and calls
    /// `body` for each line whose value is an unsigned integer.
    package static func forEachKeyValue(_ bytes: ArraySlice<UInt8>, _ body: (ArraySlice<UInt8>, UInt64) -> Void) {
        forEachLine(bytes) { line in
            var i = line.startIndex
            guard let key = nextWord(line, from: &i), let word = nextWord(line, from: &i),
                  let v = unsigned(word) else { return }
            body(key, v)
        }
    }

    /// Compares a byte slice with ASCII text.
    @inline(__always)
    package static func equals(_ bytes: ArraySlice<UInt8>, _ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard bytes.count == n else { return false }
        return n == 0 || bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, text.utf8Start, n) == 0 }
    }

    /// True when the bytes at `bytes` are exactly the ASCII text `text`.
    @inline(__always)
    package static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        return bytes.count == n && (n == 0 || memcmp(bytes.baseAddress!, text.utf8Start, n) == 0)
    }

    /// True when `bytes` starts with the ASCII text `prefix`.
    @inline(__always)
    package static func hasPrefix(_ bytes: ArraySlice<UInt8>, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        return n == 0 || bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, prefix.utf8Start, n) == 0 }
    }
}

/// Appends text and numbers to a byte buffer without going through `String`
/// formatting.
package struct TextBuffer: Sendable {
    /// The bytes written so far.
    package var bytes: [UInt8]

    /// - Parameter capacity: bytes to reserve up front.
    package init(capacity: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    package mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    @inline(__always)
    package mutating func append(_ slice: ArraySlice<UInt8>) { bytes.append(contentsOf: slice) }

    @inline(__always)
    package mutating func append(_ buffer: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: buffer) }

    @inline(__always)
    package mutating func append(byte: UInt8) { bytes.append(byte) }

    /// Appends an unsigned decimal number.
    package mutating func append(_ value: UInt64) {
        if value == 0 { bytes.append(48); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 {
                d[n] = UInt8(v % 10) + 48
                v /= 10
                n += 1
            }
            while n > 0 {
                n -= 1
                bytes.append(d[n])
            }
        }
    }

    /// Appends `value` right-aligned in a field of `width` characters.
    package mutating func append(_ value: UInt64, width: Int) {
        var digits = 1
        var v = value
        while v >= 10 { v /= 10; digits += 1 }
        var pad = width - digits
        while pad > 0 { bytes.append(ByteParser.space); pad -= 1 }
        append(value)
    }

    /// Appends a non-negative number of hundredths as `N.NN`.
    package mutating func appendHundredths(_ hundredths: UInt64) {
        append(hundredths / 100)
        bytes.append(UInt8(ascii: "."))
        let frac = hundredths % 100
        bytes.append(UInt8(frac / 10) + 48)
        bytes.append(UInt8(frac % 10) + 48)
    }
}
