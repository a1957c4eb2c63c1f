#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import LXCFSMountInfo

/// Questions about one mount table (the entries of one mountinfo file,
/// parsed by `MountInfo.entries`).
public enum MountTable {
    /// The mount that a path lookup of `path` ends on: of the mounts at
    /// `path`, the one no other mount at `path` sits on.
    public static func topmost(at path: String, in table: [MountInfo.Entry]) -> MountInfo.Entry? {
        let here = table.filter { $0.mountPoint == path }
        return here.first { m in !here.contains { $0.parentID == m.id && $0.id != m.id } }
    }

    /// True when another mount sits directly on `mount` at its own mount point.
    public static func isCovered(_ mount: MountInfo.Entry, in table: [MountInfo.Entry]) -> Bool {
        table.contains { $0.parentID == mount.id && $0.mountPoint == mount.mountPoint && $0.id != mount.id }
    }

    /// The mounts on paths inside `mount` (its children at other mount points).
    public static func mounts(inside mount: MountInfo.Entry, in table: [MountInfo.Entry]) -> [MountInfo.Entry] {
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
