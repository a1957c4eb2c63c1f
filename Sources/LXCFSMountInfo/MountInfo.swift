/// The mounts of `/proc/PID/mountinfo`, parsed in one place for every
/// module: the cgroup layout (LXCFSCore), the daemon's mount-point checks
/// (LXCFSFilesystem, the supervisor) and the reattach step (LXCFSReattach).
///
/// A line is, in proc(5)'s words,
/// `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`:
/// fields are separated by one space, the kernel writes a space, tab,
/// newline or backslash inside a field as a three-digit octal escape
/// (`\040`, `\011`, `\012`, `\134`), there are zero or more optional
/// fields (`shared:N`, `master:N`, `propagate_from:N`, `unbindable`), and
/// a lone `-` ends them.
public enum MountInfo {
    /// One mount, one line of mountinfo.
    public struct Entry: Sendable, Hashable {
        /// The mount ID (field 1), unique on the host while the mount exists.
        public let id: Int
        /// The parent's mount ID (field 2); the root mount of a namespace
        /// names a mount outside it, or itself.
        public let parentID: Int
        /// `major:minor` of the superblock (field 3), what stat(2) reports
        /// as `st_dev` for files on it; for FUSE, one value per connection.
        public let device: String
        /// The path inside the filesystem that is this mount's root (field
        /// 4), escapes undone, such as `/proc/meminfo` for a bind of one
        /// lxcfs file or `/kubepods` for a cgroup namespace's view.
        public let root: String
        /// Where it is mounted (field 5), relative to the reading process's
        /// root, escapes undone.
        public let mountPoint: String
        /// The per-mount options (field 6), such as `ro`, `nosuid`, `relatime`.
        public let options: [String]
        /// The optional fields, in order (`shared:5`, `master:7`...); empty
        /// when there are none.
        public let optionalFields: [String]
        /// The filesystem type after the separator, such as `cgroup2` or
        /// `fuse.lxcfs`.
        public let fsType: String
        /// The mount source, escapes undone, such as `lxcfs`, `swift-lxcfs`
        /// or `/dev/vda1`; empty when the kernel printed none.
        public let source: String
        /// The superblock options (the last field), such as `rw`, `cpu`,
        /// `cpuacct`; empty when the line has none.
        public let superOptions: [String]

        public init(id: Int, parentID: Int, device: String, root: String, mountPoint: String, options: [String],
                    optionalFields: [String], fsType: String, source: String, superOptions: [String]) {
            self.id = id
            self.parentID = parentID
            self.device = device
            self.root = root
            self.mountPoint = mountPoint
            self.options = options
            self.optionalFields = optionalFields
            self.fsType = fsType
            self.source = source
            self.superOptions = superOptions
        }

        /// True for the type both lxcfs and swift-lxcfs mount (`fuse.lxcfs`).
        public var isLXCFSType: Bool { fsType == "fuse.lxcfs" }
    }

    /// The mounts of mountinfo text, in file order.
    ///
    /// A line is skipped when it is not one mount: fewer than six fields
    /// before the separator, no separator, no filesystem type after it, or
    /// an ID or parent ID that is not a number. A line without source or
    /// super options gets empty ones.
    public static func entries(_ bytes: ArraySlice<UInt8>) -> [Entry] {
        var out: [Entry] = []
        var rest = bytes[...]
        while !rest.isEmpty {
            let end = rest.firstIndex(of: newline) ?? rest.endIndex
            if let entry = entry(rest[rest.startIndex..<end]) { out.append(entry) }
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
        }
        return out
    }

    /// The mounts of mountinfo text (see `entries(_:)` for bytes).
    public static func entries(_ text: String) -> [Entry] {
        entries(Array(text.utf8)[...])
    }

    /// One line, without its newline, or `nil` when it is not one mount.
    public static func entry(_ line: ArraySlice<UInt8>) -> Entry? {
        // One space separates fields: an empty field (a source the kernel
        // printed as nothing) stays a field.
        let fields = line.split(separator: space, omittingEmptySubsequences: false)
        guard fields.count >= 7,
              let dash = fields[6...].firstIndex(where: { $0.count == 1 && $0.first == UInt8(ascii: "-") }),
              dash + 1 < fields.count, !fields[dash + 1].isEmpty,
              let id = Int(text(fields[0])), let parentID = Int(text(fields[1]))
        else { return nil }
        return Entry(id: id, parentID: parentID, device: text(fields[2]),
                     root: unescape(fields[3]), mountPoint: unescape(fields[4]),
                     options: list(fields[5]),
                     optionalFields: fields[6..<dash].filter { !$0.isEmpty }.map(text),
                     fsType: unescape(fields[dash + 1]),
                     source: dash + 2 < fields.count ? unescape(fields[dash + 2]) : "",
                     superOptions: dash + 3 < fields.count ? list(fields[dash + 3]) : [])
    }

    /// Undoes mountinfo's octal escapes: a backslash and three octal digits
    /// (`\040` a space, `\011` a tab, `\012` a newline, `\134` a
    /// backslash) become that byte; any other backslash stays as it is.
    public static func unescape(_ field: ArraySlice<UInt8>) -> String {
        guard field.contains(backslash) else { return text(field) }
        var out: [UInt8] = []
        out.reserveCapacity(field.count)
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == backslash, field.endIndex - i >= 4,
               (48...51).contains(field[i + 1]), (48...55).contains(field[i + 2]), (48...55).contains(field[i + 3]) {
                out.append((field[i + 1] - 48) << 6 | (field[i + 2] - 48) << 3 | (field[i + 3] - 48))
                i += 4
            } else {
                out.append(field[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `unescape` of a path or name as a `String`.
    public static func unescape(_ field: String) -> String {
        unescape(Array(field.utf8)[...])
    }

    static let newline = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let backslash = UInt8(ascii: "\\")

    static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// A comma-separated field, each item unescaped.
    static func list(_ field: ArraySlice<UInt8>) -> [String] {
        field.split(separator: UInt8(ascii: ",")).map(unescape)
    }
}
