import CFuse3

/// Every byte the daemon writes to the device is laid out here: replies
/// (`fuse_out_header` and the operation's struct), directory entries and
/// notifications (a header with `unique` 0 and the notification's code in
/// `error`). The functions are pure: bytes out, written by `FUSEConnection`.
public enum FUSEReplyEncoder {
    /// `fuse_out_header` of a reply to `unique` of `payloadSize` bytes, or of an error.
    /// - Parameter error: a positive errno, or 0 for success.
    public static func header(unique: UInt64, error: Int32, payloadSize: Int) -> fuse_out_header {
        var h = fuse_out_header()
        h.unique = unique
        h.error = -error
        h.len = UInt32(MemoryLayout<fuse_out_header>.size + (error == 0 ? payloadSize : 0))
        return h
    }

    /// `fuse_attr` of node `nodeID` (its `ino`).
    public static func attr(_ a: FUSEAttributes, nodeID: UInt64) -> fuse_attr {
        var out = fuse_attr()
        out.ino = nodeID
        out.size = a.size
        out.blocks = a.blocks
        out.atime = a.accessed.seconds
        out.atimensec = a.accessed.nanoseconds
        out.mtime = a.modified.seconds
        out.mtimensec = a.modified.nanoseconds
        out.ctime = a.changed.seconds
        out.ctimensec = a.changed.nanoseconds
        out.mode = a.mode
        out.nlink = a.links
        out.uid = a.uid
        out.gid = a.gid
        out.blksize = a.blockSize
        return out
    }

    /// `fuse_entry_out` of a LOOKUP (node id 0 for a negative entry).
    public static func entry(_ e: FUSEEntry) -> fuse_entry_out {
        var out = fuse_entry_out()
        switch e {
        case .negative(let valid):
            out.entry_valid = valid
        case .node(let id, let attributes, let valid):
            out.nodeid = id
            out.entry_valid = valid
            out.attr_valid = valid
            out.attr = attr(attributes, nodeID: id)
        }
        return out
    }

    /// `fuse_attr_out` of a GETATTR, valid for `validSeconds`.
    public static func attrOut(_ a: FUSEAttributes, nodeID: UInt64, validSeconds: UInt64) -> fuse_attr_out {
        var out = fuse_attr_out()
        out.attr_valid = validSeconds
        out.attr = attr(a, nodeID: nodeID)
        return out
    }

    /// `fuse_open_out` of an OPEN or OPENDIR.
    public static func open(_ file: FUSEOpenedFile) -> fuse_open_out {
        var out = fuse_open_out()
        out.fh = file.handle
        out.open_flags = (file.directIO ? UInt32(FOPEN_DIRECT_IO) : 0) | (file.noFlush ? UInt32(FOPEN_NOFLUSH) : 0)
        return out
    }

    /// `fuse_statfs_out` of a STATFS.
    public static func statfs(_ s: FUSEFilesystemStatistics) -> fuse_statfs_out {
        var out = fuse_statfs_out()
        out.st.bsize = s.blockSize
        out.st.namelen = s.nameLength
        return out
    }

    /// `fuse_poll_out` of a POLL.
    public static func poll(revents: UInt32) -> fuse_poll_out {
        var out = fuse_poll_out()
        out.revents = revents
        return out
    }

    /// `fuse_write_out` of a WRITE that took `count` bytes.
    public static func written(_ count: Int) -> fuse_write_out {
        var out = fuse_write_out()
        out.size = UInt32(truncatingIfNeeded: count)
        return out
    }

    /// Bytes of `fuse_dirent` before the name (ino, off, namelen, type).
    static let direntHeaderSize = 24

    /// Packs `entries` as `fuse_dirent` records (each padded to 8 bytes),
    /// as many as fit whole in `limit` bytes, in order.
    /// - Returns: the bytes of a READDIR reply.
    public static func directoryEntries(_ entries: [FUSEDirectoryEntry], limit: Int) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            let name = Array(entry.name.utf8)
            let size = (direntHeaderSize + name.count + 7) & ~7
            if out.count + size > limit { break }
            var header = (ino: entry.nodeID, off: entry.nextOffset, namelen: UInt32(name.count), type: entry.type)
            withUnsafeBytes(of: &header) { out.append(contentsOf: $0) }
            out.append(contentsOf: name)
            out.append(contentsOf: repeatElement(0, count: size - direntHeaderSize - name.count))
        }
        return out
    }

    /// FUSE_NOTIFY_RESEND (protocol 7.40): a bare header, unique 0.
    public static func notifyResend() -> fuse_out_header {
        var h = fuse_out_header()
        h.len = UInt32(MemoryLayout<fuse_out_header>.size)
        h.error = CFUSE3_NOTIFY_RESEND
        h.unique = 0
        return h
    }

    /// FUSE_NOTIFY_POLL for the kernel's poll handle `kh`: header and payload.
    public static func notifyPoll(kh: UInt64) -> (fuse_out_header, fuse_notify_poll_wakeup_out) {
        var h = fuse_out_header()
        h.len = UInt32(MemoryLayout<fuse_out_header>.size + MemoryLayout<fuse_notify_poll_wakeup_out>.size)
        h.error = Int32(FUSE_NOTIFY_POLL.rawValue)
        h.unique = 0
        var out = fuse_notify_poll_wakeup_out()
        out.kh = kh
        return (h, out)
    }
}
