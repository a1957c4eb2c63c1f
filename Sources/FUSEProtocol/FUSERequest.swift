import CFuse3

// The requests of the FUSE protocol (<linux/fuse.h>), decoded once, here,
// into Swift values: one table row per opcode served, as go-fuse's
// `fuse/opcode.go` and libfuse's `fuse_ll_ops[]` have it. Nothing above
// this file reads a kernel struct of a request.

/// The fields of `fuse_in_header` a request's handler needs.
public struct FUSERequestHeader: Sendable, Equatable {
    /// The kernel's id of the request, echoed in the reply (bit 63 set on
    /// a request queued again by FUSE_NOTIFY_RESEND).
    public var unique: UInt64
    /// The node id the request is about (`FUSE_ROOT_ID`, 1, for the mount's root).
    public var nodeID: UInt64
    /// The caller's uid and gid (in the daemon's user namespace).
    public var uid: UInt32
    public var gid: UInt32
    /// The caller's pid (in the daemon's pid namespace).
    public var pid: Int32
    /// The worker thread's CPU time (CLOCK_THREAD_CPUTIME_ID, nanoseconds)
    /// when it began the read that brought this request; 0 unless the
    /// handler `measuresCPU`, and for a request read before serving started.
    public var cpuAtRead: UInt64

    public init(unique: UInt64, nodeID: UInt64, uid: UInt32 = 0, gid: UInt32 = 0, pid: Int32, cpuAtRead: UInt64 = 0) {
        self.unique = unique
        self.nodeID = nodeID
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.cpuAtRead = cpuAtRead
    }

    /// Whether the kernel sent this request again after a server died
    /// holding it (FUSE_NOTIFY_RESEND).
    public var isResent: Bool { unique & CFUSE3_UNIQUE_RESEND != 0 }
}

/// A request that changes the tree or its files' attributes, refused by a
/// read-only filesystem: its opcode (`enum fuse_opcode`).
public enum FUSEMutation: UInt32, Sendable {
    case mknod = 8, mkdir = 9, unlink = 10, rmdir = 11, rename = 12, link = 13, symlink = 6
    case setxattr = 21, removexattr = 24, create = 35, rename2 = 45, tmpfile = 51
}

/// One request's operation and its typed arguments. The values own their
/// bytes: a request can be held and answered later (`FairShare`).
public enum FUSEOperation: Sendable, Equatable {
    /// FUSE_LOOKUP: `name` in the directory that is the header's node ("" when the name has no NUL).
    case lookup(name: String)
    /// FUSE_GETATTR of the header's node.
    case getattr
    /// FUSE_OPEN: `flags` as open(2) has them (O_ACCMODE, O_TRUNC...).
    case open(flags: Int32)
    /// FUSE_READ: `size` bytes at `offset` of file handle `handle`.
    case read(handle: UInt64, offset: UInt64, size: UInt32)
    /// FUSE_RELEASE of file handle `handle`.
    case release(handle: UInt64)
    /// FUSE_OPENDIR of the header's node.
    case opendir
    /// FUSE_READDIR: entries from index `offset` on, in at most `size` bytes.
    case readdir(handle: UInt64, offset: UInt64, size: UInt32)
    /// FUSE_RELEASEDIR of directory handle `handle`.
    case releasedir(handle: UInt64)
    /// FUSE_READLINK of the header's node.
    case readlink
    /// FUSE_STATFS.
    case statfs
    /// FUSE_POLL on file handle `handle`: `kh` is the kernel's poll handle
    /// to notify, `flags` the `FUSE_POLL_*` flags, `events` the poll(2) events asked for.
    case poll(handle: UInt64, kh: UInt64, flags: UInt32, events: UInt32)
    /// FUSE_SETATTR: `valid` holds the `FATTR_*` bits of what would change.
    case setattr(valid: UInt32)
    /// FUSE_WRITE of `data` at `offset` of file handle `handle`.
    case write(handle: UInt64, offset: UInt64, data: [UInt8])
    /// A request that would change the tree (`FUSEMutation`).
    case mutation(FUSEMutation)
    /// FUSE_DESTROY: the kernel is tearing the connection down.
    case destroy
    /// FUSE_FORGET or FUSE_BATCH_FORGET: never answered.
    case forget
    /// FUSE_INTERRUPT: the caller of request `target` got a signal. Never answered itself.
    case interrupt(target: UInt64)
    /// FUSE_INIT (only the first request of a fresh mount; `FUSEInit`).
    case initialize
    /// A request too short for its opcode's arguments.
    case malformed(opcode: UInt32)
    /// Any other opcode (FLUSH, GETXATTR, ACCESS, STATX, LSEEK, locks...).
    case unknown(opcode: UInt32)
}

/// One decoded request: the header and the operation.
public struct FUSERequest: Sendable, Equatable {
    public var header: FUSERequestHeader
    public var operation: FUSEOperation

    public init(header: FUSERequestHeader, operation: FUSEOperation) {
        self.header = header
        self.operation = operation
    }

    /// The size of `fuse_in_header` in bytes (40): a message shorter than this is no request.
    public static let headerSize = MemoryLayout<fuse_in_header>.size

    /// Decodes one message read from the device.
    /// - Parameter raw: the bytes of one read(2), at least `headerSize` long;
    ///   the header's `len` bounds the argument when it is shorter than `raw`.
    /// - Returns: the request, `.malformed` when the argument is too short for its opcode.
    public static func decode(_ raw: UnsafeRawBufferPointer, cpuAtRead: UInt64 = 0) -> FUSERequest {
        let h = raw.loadUnaligned(as: fuse_in_header.self)
        let end = min(raw.count, max(Int(h.len), headerSize))
        let argument = UnsafeRawBufferPointer(rebasing: raw[headerSize..<end])
        let header = FUSERequestHeader(unique: h.unique, nodeID: h.nodeid, uid: h.uid, gid: h.gid,
                                       pid: Int32(bitPattern: h.pid), cpuAtRead: cpuAtRead)
        return FUSERequest(header: header, operation: operation(h.opcode, argument))
    }

    /// The table: opcode and argument bytes -> operation.
    static func operation(_ opcode: UInt32, _ arg: UnsafeRawBufferPointer) -> FUSEOperation {
        /// The argument as kernel struct `T`, or `nil` when it is shorter.
        func load<T>(_: T.Type) -> T? {
            arg.count >= MemoryLayout<T>.size ? arg.loadUnaligned(as: T.self) : nil
        }
        let malformed = FUSEOperation.malformed(opcode: opcode)
        switch opcode {
        case FUSE_LOOKUP.rawValue:
            guard let end = arg.firstIndex(of: 0) else { return .lookup(name: "") }
            return .lookup(name: String(decoding: UnsafeRawBufferPointer(rebasing: arg[..<end]), as: UTF8.self))
        case FUSE_GETATTR.rawValue: return .getattr
        case FUSE_OPEN.rawValue:
            // A short argument opens read-only, as the daemon always had it.
            return .open(flags: Int32(bitPattern: load(fuse_open_in.self)?.flags ?? 0))
        case FUSE_READ.rawValue:
            guard let a = load(fuse_read_in.self) else { return malformed }
            return .read(handle: a.fh, offset: a.offset, size: a.size)
        case FUSE_RELEASE.rawValue:
            guard let a = load(fuse_release_in.self) else { return malformed }
            return .release(handle: a.fh)
        case FUSE_OPENDIR.rawValue: return .opendir
        case FUSE_READDIR.rawValue:
            guard let a = load(fuse_read_in.self) else { return malformed }
            return .readdir(handle: a.fh, offset: a.offset, size: a.size)
        case FUSE_RELEASEDIR.rawValue:
            return .releasedir(handle: load(fuse_release_in.self)?.fh ?? 0)
        case FUSE_READLINK.rawValue: return .readlink
        case FUSE_STATFS.rawValue: return .statfs
        case FUSE_POLL.rawValue:
            guard let a = load(fuse_poll_in.self) else { return malformed }
            return .poll(handle: a.fh, kh: a.kh, flags: a.flags, events: a.events)
        case FUSE_SETATTR.rawValue:
            guard let a = load(fuse_setattr_in.self) else { return malformed }
            return .setattr(valid: a.valid)
        case FUSE_WRITE.rawValue:
            guard let a = load(fuse_write_in.self) else { return malformed }
            let start = MemoryLayout<fuse_write_in>.size
            let size = max(0, min(Int(a.size), arg.count - start))
            return .write(handle: a.fh, offset: a.offset, data: Array(arg[start..<(start + size)]))
        case FUSE_DESTROY.rawValue: return .destroy
        case FUSE_FORGET.rawValue, FUSE_BATCH_FORGET.rawValue: return .forget
        case FUSE_INTERRUPT.rawValue:
            guard let a = load(fuse_interrupt_in.self) else { return .forget }
            return .interrupt(target: a.unique)
        case FUSE_INIT.rawValue: return .initialize
        default:
            if let mutation = FUSEMutation(rawValue: opcode) { return .mutation(mutation) }
            return .unknown(opcode: opcode)
        }
    }
}

/// The `FATTR_*` bits of a SETATTR's `valid`.
public enum FUSESetattrValid {
    /// FATTR_SIZE: a truncate.
    public static let size = UInt32(FATTR_SIZE)
}

/// The `FUSE_POLL_*` bits of a POLL's `flags`.
public enum FUSEPollFlags {
    /// FUSE_POLL_SCHEDULE_NOTIFY: the kernel wants FUSE_NOTIFY_POLL when the file becomes ready.
    public static let scheduleNotify = UInt32(FUSE_POLL_SCHEDULE_NOTIFY)
}
