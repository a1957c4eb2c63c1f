/// The bits of a file handle (`fh`), laid out so that a successor can
/// serve one without the memory of the process that issued it:
///
///     bits 48-63  the issuing process's generation (random, never 0)
///     bit  47     opened for writing (a pressure file that may hold a PSI trigger)
///     bits 32-46  the length in bytes of the file's rendering at open,
///                 `lengthUnknown` when it is 32767 or more
///     bits 24-31  a tag, bumped each time the slot is reused
///     bits 0-23   the handle's slot in `HandleSlots`
///
/// Pure functions of the 64 bits: no state, no lock.
enum HandleLayout {
    /// Bit 47: the file was opened for writing.
    static let writerBit: UInt64 = 1 << 47

    /// The length field's value for a rendering of 32767 bytes or more.
    static let lengthUnknown: UInt64 = 0x7fff

    /// The slot index meaning "not tracked" (past 2^24 - 1 handles open at once).
    static let untrackedSlot: UInt32 = 0xff_ffff

    /// The generation of the process that issued `fh` (bits 48-63).
    @inline(__always)
    static func generation(of fh: UInt64) -> UInt64 { fh >> 48 }

    /// The slot index of `fh` (bits 0-23).
    @inline(__always)
    static func slotIndex(of fh: UInt64) -> Int { Int(fh & 0xff_ffff) }

    /// The tag of `fh` (bits 24-31).
    @inline(__always)
    static func tag(of fh: UInt64) -> UInt8 { UInt8(fh >> 24 & 0xff) }

    /// Bits 0-31 of a handle in slot `index` with `tag`.
    static func slotBits(index: UInt32, tag: UInt8) -> UInt64 { UInt64(tag) << 24 | UInt64(index) }

    /// The rendering length in bytes that `fh` carries, `nil` when unknown.
    static func length(of fh: UInt64) -> Int? {
        let length = fh >> 32 & lengthUnknown
        return length == lengthUnknown ? nil : Int(length)
    }

    /// Bits 32-47 of a handle for a rendering of `length` bytes (clamped
    /// to 0...`lengthUnknown`), with the writer bit for `writer`.
    static func lengthAndWriterBits(length: Int, writer: Bool) -> UInt64 {
        let length = UInt64(min(max(0, length), Int(lengthUnknown)))
        return (writer ? writerBit : 0) | length << 32
    }

    /// Whether `fh` was issued for a file opened for writing (by any process).
    static func isWriter(_ fh: UInt64) -> Bool { fh & writerBit != 0 }
}
