#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The Swift values a filesystem answers with; `FUSEReplyEncoder` turns
// them into the kernel's structs.

/// A failed operation's errno value (positive, such as `ENOENT`), sent
/// negated in `fuse_out_header.error`.
public struct FUSEErrno: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The errno value, positive.
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
    public var description: String { String(cString: strerror(code)) }
}

extension FUSEErrno {
    /// ENOENT: no such file or directory.
    public static let noSuchFileOrDirectory = FUSEErrno(ENOENT)
    /// EACCES: permission denied (writing, truncating, a root-only file).
    public static let permissionDenied = FUSEErrno(EACCES)
    /// EISDIR: the node is a directory.
    public static let isDirectory = FUSEErrno(EISDIR)
    /// ESTALE: a node id the filesystem cannot resolve.
    public static let staleHandle = FUSEErrno(ESTALE)
    /// EROFS: a change to a read-only filesystem.
    public static let readOnlyFileSystem = FUSEErrno(EROFS)
    /// EOPNOTSUPP: the operation is not supported here (such as a PSI trigger where PSI is off).
    public static let notSupported = FUSEErrno(EOPNOTSUPP)
    /// EINVAL: an invalid argument.
    public static let invalidArgument = FUSEErrno(EINVAL)
    /// ENOSYS: the operation is not implemented.
    public static let notImplemented = FUSEErrno(ENOSYS)
    /// EPROTO: a protocol error.
    public static let protocolError = FUSEErrno(EPROTO)
    /// EIO: the file could not be made (a host file it starts from could not be read).
    public static let inputOutput = FUSEErrno(EIO)
}

/// The open(2) flags of an OPEN (`fuse_open_in.flags`), as the filesystem asks about them.
public struct FUSEOpenFlags: RawRepresentable, Sendable, Equatable {
    /// The flags as open(2) has them (`O_ACCMODE` bits, `O_TRUNC`...).
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// `O_RDONLY` and nothing else.
    public static let readOnly = FUSEOpenFlags(rawValue: O_RDONLY)
    /// Whether the access mode (`O_ACCMODE`) is `O_RDONLY`.
    public var isReadOnly: Bool { rawValue & O_ACCMODE == O_RDONLY }
    /// Whether `O_TRUNC` is set.
    public var truncates: Bool { rawValue & O_TRUNC != 0 }
}

/// The type of a node, the `S_IFMT` bits of `FUSEAttributes.mode`.
public enum FUSEFileType: Sendable {
    case directory
    case regular

    /// `st_mode` of a node of this type with `permissions` (such as `0o444`).
    public func mode(permissions: UInt32) -> UInt32 {
        switch self {
        case .directory: return UInt32(S_IFDIR) | permissions
        case .regular: return UInt32(S_IFREG) | permissions
        }
    }
}

/// The poll(2) event bits a POLL reply carries.
public enum FUSEPollEvents {
    /// POLLIN | POLLRDNORM: readable, what a regular file always is.
    public static let readable = UInt32(POLLIN | POLLRDNORM)
    /// POLLERR | POLLPRI: what the kernel reports for a pressure file without a trigger.
    public static let errorPriority = UInt32(POLLERR | POLLPRI)
}

/// A time of a file: seconds and nanoseconds since the epoch.
public struct FUSETime: Sendable, Equatable {
    public var seconds: UInt64
    public var nanoseconds: UInt32
    public init(seconds: UInt64, nanoseconds: UInt32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
    /// Now, by CLOCK_REALTIME (as stat(2) reports file times).
    public static func now() -> FUSETime {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return FUSETime(t)
    }
    /// A `timespec` (CLOCK_REALTIME, as stat(2) reports it).
    public init(_ t: timespec) {
        self.init(seconds: UInt64(truncatingIfNeeded: t.tv_sec), nanoseconds: UInt32(truncatingIfNeeded: t.tv_nsec))
    }
}

/// The attributes of a node, as `fuse_attr` carries them (its `ino` is the node id the reply is for).
public struct FUSEAttributes: Sendable, Equatable {
    /// Bytes.
    public var size: UInt64 = 0
    /// 512-byte blocks.
    public var blocks: UInt64 = 0
    public var accessed = FUSETime(seconds: 0, nanoseconds: 0)
    public var modified = FUSETime(seconds: 0, nanoseconds: 0)
    public var changed = FUSETime(seconds: 0, nanoseconds: 0)
    /// The file type and permission bits (`S_IFREG | 0o444`).
    public var mode: UInt32 = 0
    public var links: UInt32 = 0
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    /// The preferred I/O size in bytes.
    public var blockSize: UInt32 = 4096

    public init(size: UInt64 = 0, blocks: UInt64 = 0, accessed: FUSETime = FUSETime(seconds: 0, nanoseconds: 0),
                modified: FUSETime = FUSETime(seconds: 0, nanoseconds: 0),
                changed: FUSETime = FUSETime(seconds: 0, nanoseconds: 0),
                mode: UInt32, links: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, blockSize: UInt32 = 4096) {
        self.size = size
        self.blocks = blocks
        self.accessed = accessed
        self.modified = modified
        self.changed = changed
        self.mode = mode
        self.links = links
        self.uid = uid
        self.gid = gid
        self.blockSize = blockSize
    }
}

/// The answer to a LOOKUP: a node, or a negative entry (the name does not
/// exist, and the kernel may remember that for `validSeconds`).
public enum FUSEEntry: Sendable, Equatable {
    /// The name is node `nodeID` with `attributes`; the kernel keeps the
    /// name and the attributes for `validSeconds`.
    case node(nodeID: UInt64, attributes: FUSEAttributes, validSeconds: UInt64)
    /// No such name, remembered for `validSeconds`.
    case negative(validSeconds: UInt64)
}

/// What an OPEN gives the kernel: the file handle and `FOPEN_*` behaviour.
public struct FUSEOpenedFile: Sendable, Equatable {
    /// The file handle every later request on the open file carries.
    public var handle: UInt64
    /// FOPEN_DIRECT_IO: no page cache, every read(2) reaches the server.
    public var directIO: Bool
    /// FOPEN_NOFLUSH: close(2) sends no FLUSH.
    public var noFlush: Bool
    public init(handle: UInt64, directIO: Bool = false, noFlush: Bool = false) {
        self.handle = handle
        self.directIO = directIO
        self.noFlush = noFlush
    }
}

/// One directory entry of a READDIR reply (`fuse_dirent`).
public struct FUSEDirectoryEntry: Sendable, Equatable {
    /// The entry's node id (`ino`).
    public var nodeID: UInt64
    /// The offset of the entry after this one (what a later READDIR passes to continue).
    public var nextOffset: UInt64
    public var name: String
    /// The `DT_*` type; 0 (DT_UNKNOWN) makes the kernel ask with LOOKUP.
    public var type: UInt32
    public init(nodeID: UInt64, nextOffset: UInt64, name: String, type: UInt32 = 0) {
        self.nodeID = nodeID
        self.nextOffset = nextOffset
        self.name = name
        self.type = type
    }
}

/// The figures of a STATFS reply (`fuse_kstatfs`); zero where not given.
public struct FUSEFilesystemStatistics: Sendable, Equatable {
    /// Bytes of a block.
    public var blockSize: UInt32
    /// The longest name in bytes.
    public var nameLength: UInt32
    public init(blockSize: UInt32, nameLength: UInt32) {
        self.blockSize = blockSize
        self.nameLength = nameLength
    }
}
