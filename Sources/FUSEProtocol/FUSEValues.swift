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

/// A time of a file: seconds and nanoseconds since the epoch.
public struct FUSETime: Sendable, Equatable {
    public var seconds: UInt64
    public var nanoseconds: UInt32
    public init(seconds: UInt64, nanoseconds: UInt32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
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
