/// A process or thread id as the host's `/proc` numbers it: what a FUSE
/// request carries and what the daemon reads `/proc/PID/...` with.
public struct HostPID: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    package let rawValue: Int32

    package init(_ rawValue: Int32) { self.rawValue = rawValue }
    public init(integerLiteral value: Int32) { rawValue = value }
    public static func < (a: HostPID, b: HostPID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A process or thread id as a pid namespace numbers it (the last field of
/// `NSpid:` in `/proc/PID/status`): 1 for a container's init, what a reader
/// inside the namespace sees in `/proc/loadavg`'s last field.
package struct NamespacePID: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    package let rawValue: Int32

    package init(_ rawValue: Int32) { self.rawValue = rawValue }
    package init(integerLiteral value: Int32) { rawValue = value }
    package static func < (a: NamespacePID, b: NamespacePID) -> Bool { a.rawValue < b.rawValue }
    package var description: String { String(rawValue) }
}

/// A time in clock ticks (USER_HZ, 100 per second), as `/proc/PID/stat`
/// prints a process's start time after boot and `/proc/stat` its CPU times.
public struct ClockTicks: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral {
    package let rawValue: UInt64

    /// Ticks per second (USER_HZ).
    package static let perSecond: UInt64 = 100

    package init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { rawValue = value }
    public static func < (a: ClockTicks, b: ClockTicks) -> Bool { a.rawValue < b.rawValue }

    /// The time in hundredths of a second, `UInt64.max` where that overflows.
    package var hundredths: UInt64 {
        let (v, overflow) = rawValue.multipliedReportingOverflow(by: 100)
        return overflow ? .max : v / Self.perSecond
    }
}

/// An amount of memory in kB as `/proc/meminfo` and `/proc/swaps` print it
/// (KiB: bytes / 1024, rounded down). Cgroup files give bytes (`UInt64`);
/// `KiB(bytes:)` is the one conversion.
package struct KiB: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    package let rawValue: UInt64

    package init(_ rawValue: UInt64) { self.rawValue = rawValue }
    package init(integerLiteral value: UInt64) { rawValue = value }
    /// `bytes / 1024`, rounded down.
    package init(bytes: UInt64) { rawValue = bytes / 1024 }

    package static let max = KiB(UInt64.max)
    package static func < (a: KiB, b: KiB) -> Bool { a.rawValue < b.rawValue }
    /// The sum, `KiB.max` where it overflows.
    package static func + (a: KiB, b: KiB) -> KiB {
        let (v, overflow) = a.rawValue.addingReportingOverflow(b.rawValue)
        return overflow ? .max : KiB(v)
    }
    /// The difference, 0 where `b` is larger.
    package static func - (a: KiB, b: KiB) -> KiB { a > b ? KiB(a.rawValue - b.rawValue) : 0 }
    package var description: String { "\(rawValue) kB" }
}
