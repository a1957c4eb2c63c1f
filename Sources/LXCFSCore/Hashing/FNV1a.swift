/// The 64-bit FNV-1a hash (Fowler, Noll, Vo; draft-eastlake-fnv), the one
/// implementation in the package: node ids of virtual paths, the takeover
/// socket name of a long mount point, and the line hash of a resume point.
///
/// The value is a fixed function of the bytes, the same in every process and
/// every build (unlike Swift's `Hasher`, which is seeded per process), so it
/// may be handed from one daemon to its successor.
///
/// Each byte is XORed into the low octet, then the state is multiplied by the
/// 64-bit FNV prime modulo 2^64:
///
///     var fnv = FNV1a()
///     fnv.combine("/proc/".utf8)
///     fnv.combine("meminfo".utf8)
///     fnv.value == FNV1a.hash("/proc/meminfo".utf8)   // 0x8918_b20a_e6ad_5038
///
/// Hashing in pieces gives the value of the whole, so a hash may be carried
/// on from a stored `value` with `init(continuingFrom:)`.
package struct FNV1a: Hashable, Sendable {
    /// The 64-bit offset basis: the hash of no bytes.
    package static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The 64-bit FNV prime, 2^40 + 2^8 + 0xb3.
    package static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The hash of the bytes combined so far (settable so that `@inlinable`
    /// code in other modules may update it; set it only to a hash taken earlier).
    package var value: UInt64

    /// A hasher of no bytes yet (`value` is `offsetBasis`).
    @inlinable
    package init() { value = Self.offsetBasis }

    /// A hasher going on from `value`, the hash of the bytes before.
    @inlinable
    package init(continuingFrom value: UInt64) { self.value = value }

    /// Combines `bytes`, in order, into the hash.
    @inlinable
    package mutating func combine<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        var h = value
        for byte in bytes { h = (h ^ UInt64(byte)) &* Self.prime }
        value = h
    }

    /// Combines one byte into the hash.
    @inlinable
    package mutating func combine(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* Self.prime
    }

    /// The 64-bit FNV-1a hash of `bytes`.
    @inlinable
    package static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var fnv = FNV1a()
        fnv.combine(bytes)
        return fnv.value
    }
}
