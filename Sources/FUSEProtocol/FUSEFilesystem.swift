#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A filesystem in Swift types: one method per FUSE operation, called with
/// the request's header (node id, caller) and the operation's decoded
/// arguments; it never sees a kernel struct. `serve` is the table from
/// operation to method and from result to reply.
///
/// Errors are `FUSEErrno`s; ESTALE is the answer for a node id the
/// filesystem cannot resolve.
public protocol FUSEFilesystem: FUSERequestHandler {
    /// LOOKUP of `name` in the directory that is `request.nodeID`.
    func lookup(_ request: FUSERequestHeader, name: String) -> Result<FUSEEntry, FUSEErrno>
    /// GETATTR of `request.nodeID`: its attributes and for how many seconds the kernel may keep them.
    func getattr(_ request: FUSERequestHeader) -> Result<(FUSEAttributes, validSeconds: UInt64), FUSEErrno>
    /// OPEN of `request.nodeID` with open(2) `flags`.
    func open(_ request: FUSERequestHeader, flags: FUSEOpenFlags) -> Result<FUSEOpenedFile, FUSEErrno>
    /// READ of at most `size` bytes at `offset` of file handle `handle`.
    func read(_ request: FUSERequestHeader, handle: UInt64, offset: UInt64, size: UInt32) -> Result<ArraySlice<UInt8>, FUSEErrno>
    /// RELEASE of file handle `handle` (always succeeds).
    func release(_ request: FUSERequestHeader, handle: UInt64)
    /// OPENDIR of `request.nodeID`.
    func opendir(_ request: FUSERequestHeader) -> Result<FUSEOpenedFile, FUSEErrno>
    /// READDIR of `request.nodeID`: its entries from index `offset` on
    /// (`.` and `..` first); the reply holds as many as fit.
    func readdir(_ request: FUSERequestHeader, handle: UInt64, offset: UInt64) -> Result<[FUSEDirectoryEntry], FUSEErrno>
    /// READLINK of `request.nodeID`: the link's target.
    func readlink(_ request: FUSERequestHeader) -> Result<String, FUSEErrno>
    /// STATFS.
    func statfs(_ request: FUSERequestHeader) -> FUSEFilesystemStatistics
    /// POLL of file handle `handle`: the revents; with `FUSE_POLL_SCHEDULE_NOTIFY`
    /// in `flags`, `notifier` is told `kh` when the file becomes ready.
    func poll(_ request: FUSERequestHeader, handle: UInt64, kh: UInt64, flags: UInt32, events: UInt32,
              notifier: FUSEPollNotifier) -> UInt32
    /// SETATTR with the `FATTR_*` bits `valid`.
    func setattr(_ request: FUSERequestHeader, valid: UInt32) -> FUSEErrno
    /// WRITE of `data` at `offset` of file handle `handle`: the bytes taken.
    func write(_ request: FUSERequestHeader, handle: UInt64, offset: UInt64, data: [UInt8]) -> Result<Int, FUSEErrno>
    /// A request that would change the tree: the error to answer (EROFS for a read-only filesystem).
    func refuse(_ request: FUSERequestHeader, _ mutation: FUSEMutation) -> FUSEErrno
}

extension FUSEFilesystem {
    /// Answers `request` by calling the operation's method and encoding its result.
    public func serve(_ request: FUSERequest, reply: FUSEResponder) {
        let h = request.header
        switch request.operation {
        case .lookup(let name): reply.answer(lookup(h, name: name), reply.entry)
        case .getattr:
            switch getattr(h) {
            case .failure(let e): reply.error(e)
            case .success(let (attributes, valid)): reply.attributes(attributes, nodeID: h.nodeID, validSeconds: valid)
            }
        case .open(let flags): reply.answer(open(h, flags: FUSEOpenFlags(rawValue: flags)), reply.opened)
        case .read(let handle, let offset, let size): reply.answer(read(h, handle: handle, offset: offset, size: size), reply.data)
        case .release(let handle):
            release(h, handle: handle)
            reply.ok()
        case .opendir: reply.answer(opendir(h), reply.opened)
        case .readdir(let handle, let offset, let size):
            reply.answer(readdir(h, handle: handle, offset: offset)) { reply.directoryEntries($0, limit: Int(size)) }
        case .releasedir, .destroy: reply.ok()
        case .readlink: reply.answer(readlink(h)) { reply.data(Array($0.utf8)[...]) }
        case .statfs: reply.statistics(statfs(h))
        case .poll(let handle, let kh, let flags, let events):
            reply.pollEvents(poll(h, handle: handle, kh: kh, flags: flags, events: events, notifier: reply.connection))
        case .setattr(let valid): reply.error(setattr(h, valid: valid))
        case .write(let handle, let offset, let data): reply.answer(write(h, handle: handle, offset: offset, data: data), reply.written)
        case .mutation(let m): reply.error(refuse(h, m))
        case .malformed: reply.error(FUSEErrno(EINVAL))
        case .unknown:
            // FLUSH (kernels before FOPEN_NOFLUSH), GETXATTR, LISTXATTR,
            // ACCESS, STATX, LSEEK, FSYNC, locks, ioctl...: ENOSYS, and the
            // kernel falls back to its own behaviour and stops asking.
            reply.error(FUSEErrno(ENOSYS))
        case .initialize: reply.error(FUSEErrno(EPROTO))  // the connection answers INIT itself
        case .forget, .interrupt: return  // never answered (the connection handles them)
        }
    }
}

extension FUSEResponder {
    /// Sends `result`'s value with `success`, or its error.
    @inline(__always)
    func answer<T>(_ result: Result<T, FUSEErrno>, _ success: (T) -> Void) {
        switch result {
        case .success(let value): success(value)
        case .failure(let e): error(e)
        }
    }
}
