import CFuse3
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a successor needs besides the `/dev/fuse` descriptor to serve a
/// connection: held in a sealed memfd beside it (FDNAME `state`).
///
/// The blob is text, one `key value` per line after a first line
/// `swift-lxcfs-state 1` (the format version):
///
///     swift-lxcfs-state 1
///     mountpoint /var/lib/lxcfs
///     protocol 7.40
///     flags 0x40000009
///     max_write 4096
///     max_readahead 131072
///     options allow_other,fsname=swift-lxcfs,subtype=lxcfs
///     device 0:52
public struct SessionState: Sendable, Equatable {
    /// The format version this build reads and writes.
    public static let version = 1

    /// The mount point, absolute and resolved.
    public var mountPoint: String
    /// What FUSE_INIT agreed.
    public var parameters: FUSEInitParameters
    /// The mount options the mount was made with, comma-separated.
    public var options: String
    /// The mount's superblock device, `major:minor` as mountinfo lists it.
    public var device: String

    public init(mountPoint: String, parameters: FUSEInitParameters, options: String, device: String) {
        self.mountPoint = mountPoint
        self.parameters = parameters
        self.options = options
        self.device = device
    }

    /// The blob.
    public func encoded() -> [UInt8] {
        let p = parameters
        let text = """
            swift-lxcfs-state \(Self.version)
            mountpoint \(mountPoint)
            protocol \(p.major).\(p.minor)
            flags 0x\(String(p.flags, radix: 16))
            max_write \(p.maxWrite)
            max_readahead \(p.maxReadahead)
            options \(options)
            device \(device)

            """
        return Array(text.utf8)
    }

    /// Why a blob was refused, as a sentence fragment.
    public enum DecodeError: Error, CustomStringConvertible {
        case notState
        case version(String)
        case field(String)
        public var description: String {
            switch self {
            case .notState: return "it is not swift-lxcfs state"
            case .version(let v): return "it has format version \(v), and this build reads \(SessionState.version)"
            case .field(let f): return "its field \(f) is missing or malformed"
            }
        }
    }

    /// Parses a blob.
    /// - Throws: `DecodeError` for anything but a complete blob of `version`.
    public init(decoding bytes: [UInt8]) throws {
        guard bytes.count < 65536, let text = String(validating: bytes, as: UTF8.self) else { throw DecodeError.notState }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)[...]
        guard let first = lines.popFirst(), first.hasPrefix("swift-lxcfs-state ") else { throw DecodeError.notState }
        let v = String(first.dropFirst("swift-lxcfs-state ".count))
        guard v == String(Self.version) else { throw DecodeError.version(v) }
        var fields: [String: String] = [:]
        for line in lines {
            guard let space = line.firstIndex(of: " ") else { continue }
            fields[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        func field(_ k: String) throws -> String {
            guard let v = fields[k], !v.isEmpty else { throw DecodeError.field(k) }
            return v
        }
        func number(_ k: String) throws -> UInt32 {
            let s = try field(k)
            let n = s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
            guard let n else { throw DecodeError.field(k) }
            return n
        }
        let proto = try field("protocol").split(separator: ".")
        guard proto.count == 2, let major = UInt32(proto[0]), let minor = UInt32(proto[1]), major == 7 else {
            throw DecodeError.field("protocol")
        }
        mountPoint = try field("mountpoint")
        guard mountPoint.hasPrefix("/") else { throw DecodeError.field("mountpoint") }
        parameters = FUSEInitParameters(major: major, minor: minor, flags: try number("flags"),
                                        maxWrite: try number("max_write"), maxReadahead: try number("max_readahead"))
        options = try field("options")
        device = try field("device")
        guard device.split(separator: ":").count == 2 else { throw DecodeError.field("device") }
    }

    /// A sealed memfd holding the blob.
    /// - Returns: the descriptor (close-on-exec), or -1.
    public func memfd() -> Int32 {
        let fd = cfuse3_memfd("swift-lxcfs-state")
        guard fd >= 0 else { return -1 }
        let bytes = encoded()
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard n == bytes.count else {
            close(fd)
            return -1
        }
        _ = cfuse3_seal(fd)
        return fd
    }

    /// Reads a state descriptor from its start (at most 64 KiB).
    public static func read(fd: Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { return nil }
        return Array(buffer[..<n])
    }
}
