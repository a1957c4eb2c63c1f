#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One line of `/proc/PID/mountinfo` (proc(5)), with its paths unescaped.
public struct MountEntry: Sendable, Equatable {
    /// The mount ID (field 1), unique on the host while the mount exists.
    public let id: Int
    /// The parent's mount ID (field 2).
    public let parentID: Int
    /// `major:minor` of the filesystem (field 3): for FUSE, one value per connection.
    public let device: String
    /// The path inside the filesystem that is this mount's root (field 4),
    /// such as `/proc/meminfo` for a bind of one lxcfs file.
    public let root: String
    /// Where it is mounted (field 5), relative to the reading process's root.
    public let mountPoint: String
    /// The per-mount options (field 6), such as `ro`, `nosuid`, `relatime`.
    public let options: [String]
    /// The optional fields (`shared:N`, `master:N`, `propagate_from:N`).
    public let optionalFields: [String]
    /// The filesystem type after the separator, such as `fuse.lxcfs`.
    public let fsType: String
    /// The mount source, such as `lxcfs` or `swift-lxcfs`.
    public let source: String

    /// True for the type both lxcfs and swift-lxcfs mount (`fuse.lxcfs`).
    public var isLXCFSType: Bool { fsType == "fuse.lxcfs" }
}

/// Parsing of mountinfo text and questions about one mount table.
public enum MountTable {
    /// Every well-formed line of `text` (the contents of a mountinfo file);
    /// malformed lines are skipped.
    public static func parse(_ text: String) -> [MountEntry] {
        var entries: [MountEntry] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 10, let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 2 < fields.count,
                  let id = Int(fields[0]), let parent = Int(fields[1])
            else { continue }
            entries.append(MountEntry(
                id: id, parentID: parent, device: fields[2],
                root: unescape(fields[3]), mountPoint: unescape(fields[4]),
                options: fields[5].split(separator: ",").map(String.init),
                optionalFields: Array(fields[6..<dash]),
                fsType: fields[dash + 1], source: unescape(fields[dash + 2])))
        }
        return entries
    }

    /// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
    public static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The mount that a path lookup of `path` ends on: of the mounts at
    /// `path`, the one no other mount at `path` sits on.
    public static func topmost(at path: String, in table: [MountEntry]) -> MountEntry? {
        let here = table.filter { $0.mountPoint == path }
        return here.first { m in !here.contains { $0.parentID == m.id && $0.id != m.id } }
    }

    /// True when another mount sits directly on `mount` at its own mount point.
    public static func isCovered(_ mount: MountEntry, in table: [MountEntry]) -> Bool {
        table.contains { $0.parentID == mount.id && $0.mountPoint == mount.mountPoint && $0.id != mount.id }
    }

    /// The mounts on paths inside `mount` (its children at other mount points).
    public static func mounts(inside mount: MountEntry, in table: [MountEntry]) -> [MountEntry] {
        table.filter { $0.parentID == mount.id && $0.mountPoint != mount.mountPoint && $0.id != mount.id }
    }
}

/// Reads a whole file (a /proc file has no useful size), or `nil` when it
/// cannot be opened or read.
func readWholeFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return readAll(fd)
}

/// Reads `fd` from its current offset to the end.
func readAll(_ fd: Int32) -> String? {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if n == 0 { break }
        out.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The error text for an errno value, such as "Transport endpoint is not connected".
func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }
