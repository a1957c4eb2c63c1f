/// Answers one request: the typed replies a handler may give, each
/// encoded by `FUSEReplyEncoder` and written by the connection. Call
/// exactly one method, once, now or later from any thread.
public struct FUSEResponder: Sendable {
    /// The request answered.
    public let unique: UInt64
    /// The connection the request came on (also where notifications go).
    public let connection: FUSEConnection

    public init(unique: UInt64, connection: FUSEConnection) {
        self.unique = unique
        self.connection = connection
    }

    /// Fails the request with `error`.
    public func error(_ error: FUSEErrno) { connection.reply(unique, error: error.code) }

    /// Success without data (RELEASE, RELEASEDIR, DESTROY).
    public func ok() { connection.reply(unique, error: 0) }

    /// A LOOKUP's entry (`fuse_entry_out`).
    public func entry(_ entry: FUSEEntry) { connection.reply(unique, value: FUSEReplyEncoder.entry(entry)) }

    /// A GETATTR's attributes of node `nodeID` (`fuse_attr_out`), valid for `validSeconds`.
    public func attributes(_ attributes: FUSEAttributes, nodeID: UInt64, validSeconds: UInt64) {
        connection.reply(unique, value: FUSEReplyEncoder.attrOut(attributes, nodeID: nodeID, validSeconds: validSeconds))
    }

    /// An OPEN's or OPENDIR's handle (`fuse_open_out`).
    public func opened(_ file: FUSEOpenedFile) { connection.reply(unique, value: FUSEReplyEncoder.open(file)) }

    /// A READ's or READLINK's bytes, as they are.
    public func data(_ bytes: UnsafeRawBufferPointer) { connection.reply(unique, payload: bytes) }

    /// A READ's or READLINK's bytes, as they are.
    public func data(_ bytes: ArraySlice<UInt8>) { bytes.withUnsafeBytes { data($0) } }

    /// A READDIR's entries, as many as fit whole in `limit` bytes.
    public func directoryEntries(_ entries: [FUSEDirectoryEntry], limit: Int) {
        data(FUSEReplyEncoder.directoryEntries(entries, limit: limit)[...])
    }

    /// A STATFS's figures (`fuse_statfs_out`).
    public func statistics(_ s: FUSEFilesystemStatistics) { connection.reply(unique, value: FUSEReplyEncoder.statfs(s)) }

    /// A POLL's events (`fuse_poll_out`).
    public func pollEvents(_ revents: UInt32) { connection.reply(unique, value: FUSEReplyEncoder.poll(revents: revents)) }

    /// A WRITE's count of bytes taken (`fuse_write_out`).
    public func written(_ count: Int) { connection.reply(unique, value: FUSEReplyEncoder.written(count)) }
}

/// Where a filesystem sends FUSE_NOTIFY_POLL when a polled file becomes ready.
public protocol FUSEPollNotifier: AnyObject, Sendable {
    /// Wakes the processes polling the open file of the kernel's poll handle `kh`.
    func notifyPoll(kh: UInt64)
}

extension FUSEConnection: FUSEPollNotifier {}
