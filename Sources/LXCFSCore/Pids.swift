/// A process or thread id as the host's `/proc` numbers it: what a FUSE
/// request carries and what the daemon reads `/proc/PID/...` with.
public struct HostPID: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public let rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public init(integerLiteral value: Int32) { rawValue = value }
    public static func < (a: HostPID, b: HostPID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A process or thread id as a pid namespace numbers it (the last field of
/// `NSpid:` in `/proc/PID/status`): 1 for a container's init, what a reader
/// inside the namespace sees in `/proc/loadavg`'s last field.
public struct NamespacePID: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public let rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public init(integerLiteral value: Int32) { rawValue = value }
    public static func < (a: NamespacePID, b: NamespacePID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A time in clock ticks (USER_HZ, 100 per second), as `/proc/PID/stat`
/// prints a process's start time after boot and `/proc/stat` its CPU times.
public struct ClockTicks: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral {
    public let rawValue: UInt64

    /// Ticks per second (USER_HZ).
    public static let perSecond: UInt64 = 100

    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { rawValue = value }
    public static func < (a: ClockTicks, b: ClockTicks) -> Bool { a.rawValue < b.rawValue }

    /// The time in hundredths of a second, `UInt64.max` where that overflows.
    public var hundredths: UInt64 {
        let (v, overflow) = rawValue.multipliedReportingOverflow(by: 100)
        return overflow ? .max : v / Self.perSecond
    }
}

/// An amount of memory in kB as `/proc/meminfo` and `/proc/swaps` print it
/// (KiB: bytes / 1024, rounded down). Cgroup files give bytes (`UInt64`);
/// `KiB(bytes:)` is the one conversion.
public struct KiB: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { rawValue = value }
    /// `bytes / 1024`, rounded down.
    public init(bytes: UInt64) { rawValue = bytes / 1024 }

    public static let max = KiB(UInt64.max)
    public static func < (a: KiB, b: KiB) -> Bool { a.rawValue < b.rawValue }
    /// The sum, `KiB.max` where it overflows.
    public static func + (a: KiB, b: KiB) -> KiB {
        let (v, overflow) = a.rawValue.addingReportingOverflow(b.rawValue)
        return overflow ? .max : KiB(v)
    }
    /// The difference, 0 where `b` is larger.
    public static func - (a: KiB, b: KiB) -> KiB { a > b ? KiB(a.rawValue - b.rawValue) : 0 }
    public var description: String { "\(rawValue) kB" }
}
