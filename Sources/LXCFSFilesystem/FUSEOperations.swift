import CFuse3
import Logging
import LXCFSCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed operation's errno value (positive, such as `ENOENT`).
struct FSErrno: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}

/// What an open found: the file (`nil` for a host file of the CPU tree)
/// and the length of its rendering at open, which the handle carries for a
/// successor (`HandleTable`). No bytes are kept: the first read renders.
struct OpenedFile {
    let file: VirtualFile?
    let length: Int
}

/// The FUSE requests of the mount: node ids resolved to paths
/// (`NodeTable`), paths to the renderers of `ContainerView` or the host's
/// CPU tree, and refusals for anything that would change the tree.
/// Everything here is immutable or internally locked; requests arrive on
/// the connection's worker threads.
public final class ContainerFilesystem: FUSERequestHandler {
    /// What is served.
    public let tree: FileTree
    /// Renders each file for the calling process.
    public let view: ContainerView
    let logger: Logger
    /// When the daemon started, for file times (seconds since the epoch).
    let startTime: timespec
    /// Node id <-> path.
    public let nodes: NodeTable
    let handles: HandleTable
    /// PSI triggers on pressure files opened for writing (`--enable-psi-poll`).
    let triggers: PressureTriggers
    /// Each container's share of the daemon (`--container-cpu-budget`); `nil` when off.
    var shares: FairShare? { sharesBox.value }
    private let sharesBox: SharesBox
    final class SharesBox: @unchecked Sendable { var value: FairShare? }

    /// Seconds the kernel keeps names and attributes (directories never
    /// change; file contents are rendered per open and served with direct I/O).
    static let cacheSeconds: UInt64 = 300

    /// - Parameters:
    ///   - view: renders each file for the calling process.
    ///   - logger: the daemon's logger.
    ///   - psiPoll: `--enable-psi-poll`: pressure files opened for writing take PSI triggers.
    ///   - budget: the snapshot budget (`--snapshot-budget`, `--container-snapshot-budget`).
    ///   - cpuBudget: each container's share of the daemon's CPU (`--container-cpu-budget`); 0 cores: no budget.
    public init(view: ContainerView, logger: Logger, psiPoll: Bool = false, budget: SnapshotBudget = SnapshotBudget(),
                cpuBudget: ContainerCPUBudget = ContainerCPUBudget(cores: 0)) {
        self.view = view
        self.sharesBox = SharesBox()
        self.handles = HandleTable(budget: budget)
        self.logger = logger
        self.triggers = PressureTriggers(enabled: psiPoll, logger: logger)
        let tree = FileTree(files: VirtualFile.allCases.filter(view.serves))
        self.tree = tree
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.startTime = now
        self.nodes = NodeTable(fixed: tree.nodes.keys)
        if cpuBudget.cores > 0 {
            sharesBox.value = FairShare(budget: cpuBudget) { [unowned self] r, c in self.serve(r, c) }
        }
    }

    public var measuresCPU: Bool { shares != nil }

    public func connectionStopped(_ connection: FUSEConnection) {
        shares?.drain()
    }

    // MARK: Requests

    /// Classifies OPEN and READ by the reader's container and serves them
    /// now or, past the container's budget, later (`FairShare`); serves
    /// everything else now.
    public func handle(_ r: FUSERequest, on c: FUSEConnection) {
        guard let shares, r.opcode == FUSE_READ.rawValue || r.opcode == FUSE_OPEN.rawValue else {
            return serve(r, c)
        }
        // A request read before serving started (held by the probe) carries
        // no read time: it is charged from here.
        let since = r.cpuAtRead != 0 ? r.cpuAtRead : threadCPUNanoseconds()
        let container = view.container(of: r.pid)
        if shares.admits(container) {
            serve(r, c)
        } else {
            shares.postpone(r, container: container, on: c)
        }
        // From the worker's read(2) of the request: reading, classifying and
        // serving (or queuing) it are all done for this container.
        shares.charge(container, threadCPUNanoseconds() &- since)
    }

    /// Answers one request.
    func serve(_ r: FUSERequest, _ c: FUSEConnection) {
        switch r.opcode {
        case FUSE_LOOKUP.rawValue: lookup(r, c)
        case FUSE_GETATTR.rawValue: withPath(r, c) { path in
            switch self.attributes(path) {
            case .failure(let e): c.reply(r.unique, error: e.code)
            case .success(let st):
                var out = fuse_attr_out()
                out.attr_valid = Self.cacheSeconds
                out.attr = Self.attr(st, id: r.nodeID)
                c.reply(r.unique, value: out)
            }
        }
        case FUSE_OPEN.rawValue: withPath(r, c) { path in
            let flags = Int32(bitPattern: r.argument(as: fuse_open_in.self)?.flags ?? 0)
            switch self.pressureTriggerOpen(path, flags: flags, pid: r.pid) {
            case .failure(let e)?: return c.reply(r.unique, error: e.code)
            case .success(let target)?: return self.openPressureTrigger(r, c, path: path, target: target)
            case nil: break
            }
            switch self.open(path, flags: flags, uid: r.uid, pid: r.pid) {
            case .failure(let e): c.reply(r.unique, error: e.code)
            case .success(let file):
                var out = fuse_open_out()
                out.fh = self.handles.insert(file.file, length: file.length)
                // Direct I/O: no reader ever gets another's page cache. No
                // flush: close(2) never waits on the server, so a process
                // closing a file while the server restarts is not held up.
                out.open_flags = UInt32(FOPEN_DIRECT_IO) | UInt32(FOPEN_NOFLUSH)
                c.reply(r.unique, value: out)
            }
        }
        case FUSE_READ.rawValue: read(r, c)
        case FUSE_RELEASE.rawValue:
            if let arg = r.argument(as: fuse_release_in.self) {
                handles.remove(arg.fh)
                triggers.release(arg.fh)
            }
            c.reply(r.unique, error: 0)
        case FUSE_OPENDIR.rawValue: withPath(r, c) { path in
            guard self.directoryNames(path, pid: r.pid) != nil else { return c.reply(r.unique, error: ENOENT) }
            c.reply(r.unique, value: fuse_open_out())
        }
        case FUSE_READDIR.rawValue: withPath(r, c) { path in self.readdir(path, r, c) }
        case FUSE_RELEASEDIR.rawValue, FUSE_DESTROY.rawValue:
            c.reply(r.unique, error: 0)
        case FUSE_READLINK.rawValue: withPath(r, c) { path in
            switch self.passthroughReadlink(path, pid: r.pid) {
            case .failure(let e): c.reply(r.unique, error: e.code)
            case .success(let target):
                var bytes = Array(target.utf8)
                bytes.withUnsafeMutableBytes { c.reply(r.unique, bytes: UnsafeRawBufferPointer($0)) }
            }
        }
        case FUSE_STATFS.rawValue:
            var out = fuse_statfs_out()
            out.st.namelen = 255
            out.st.bsize = 512
            c.reply(r.unique, value: out)
        case FUSE_POLL.rawValue:
            // Rendered files are always readable; a pressure file opened
            // for writing reports its PSI trigger. Never ENOSYS, which would
            // make the kernel stop sending polls for the whole connection (lxc/lxcfs #726).
            pollPressureTrigger(r, c)
        case FUSE_SETATTR.rawValue:
            let valid = r.argument(as: fuse_setattr_in.self)?.valid ?? 0
            c.reply(r.unique, error: valid & UInt32(FATTR_SIZE) != 0 ? EACCES : EROFS)
        case FUSE_WRITE.rawValue:
            // A PSI trigger on a pressure file opened for writing; EACCES otherwise.
            writePressureTrigger(r, c)
        case FUSE_MKNOD.rawValue, FUSE_MKDIR.rawValue, FUSE_UNLINK.rawValue, FUSE_RMDIR.rawValue,
             FUSE_RENAME.rawValue, FUSE_RENAME2.rawValue, FUSE_LINK.rawValue, FUSE_SYMLINK.rawValue,
             FUSE_CREATE.rawValue, FUSE_SETXATTR.rawValue, FUSE_REMOVEXATTR.rawValue, FUSE_TMPFILE.rawValue:
            c.reply(r.unique, error: EROFS)
        default:
            // FLUSH (kernels before FOPEN_NOFLUSH), GETXATTR, LISTXATTR,
            // ACCESS, STATX, LSEEK, FSYNC, locks, ioctl...:
            // the kernel falls back to its own behaviour and stops asking.
            c.reply(r.unique, error: ENOSYS)
        }
    }

    /// Runs `body` with the path of the request's node, or answers ESTALE
    /// for an id no path of the tree has.
    func withPath(_ r: FUSERequest, _ c: FUSEConnection, _ body: (String) -> Void) {
        guard let path = resolve(r.nodeID) else {
            return c.reply(r.unique, error: ESTALE)
        }
        body(path)
    }

    /// The path of a node id, walking the host's CPU tree again when the
    /// id was issued by an earlier process for a path not looked up here.
    func resolve(_ id: UInt64) -> String? {
        nodes.resolve(id) { allPassthroughPaths() }
    }

    func lookup(_ r: FUSERequest, _ c: FUSEConnection) {
        guard let name = r.name(), !name.isEmpty, name != ".", name != ".." else {
            return c.reply(r.unique, error: ENOENT)
        }
        guard let parent = resolve(r.nodeID) else { return c.reply(r.unique, error: ESTALE) }
        let path = parent == "/" ? "/" + name : parent + "/" + name
        var out = fuse_entry_out()
        out.entry_valid = Self.cacheSeconds
        switch attributes(path) {
        case .failure(let e) where e.code == ENOENT:
            // A negative entry, cached like the names.
            c.reply(r.unique, value: out)
        case .failure(let e):
            c.reply(r.unique, error: e.code)
        case .success(let st):
            let id = nodes.enter(path)
            out.nodeid = id
            out.attr_valid = Self.cacheSeconds
            out.attr = Self.attr(st, id: id)
            c.reply(r.unique, value: out)
        }
    }

    func read(_ r: FUSERequest, _ c: FUSEConnection) {
        guard let arg = r.argument(as: fuse_read_in.self) else { return c.reply(r.unique, error: EINVAL) }
        let offset = Int(clamping: arg.offset)
        let size = Int(arg.size)
        guard offset >= 0 else { return c.reply(r.unique, error: EINVAL) }
        let store = handles.store
        var plan = store.plan(arg.fh, offset: offset, size: size)
        if case .unknown = plan {
            if offset > 0, HandleTable.snapshotLength(arg.fh) != nil {
                // A handle from an earlier process, read past 0, of a file
                // under 32 KiB: its reader read it at once and has all of
                // the rendering it got (whose length may differ from the
                // open's by the moment between them), or, rarely, reads it in
                // small pieces: end of file, never the tail of a new
                // rendering spliced on. A larger file's reader (cpuinfo of a
                // big host) reads in pieces: it gets the rest of a new rendering.
                return c.reply(r.unique, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            }
            // A handle from an earlier process (or one this process never
            // issued): render afresh for the caller from here on.
            guard let path = resolve(r.nodeID) else { return c.reply(r.unique, error: ESTALE) }
            let file: VirtualFile?
            switch tree.node(at: path) {
            case .file(let f)?: file = f
            case .directory?: return c.reply(r.unique, error: EISDIR)
            case nil: file = nil
            }
            handles.adopt(arg.fh, file: file)
            plan = .render(file: file, resume: nil, reuse: true)
        }
        switch plan {
        case .serve(let bytes):
            bytes.withUnsafeBytes { c.reply(r.unique, bytes: $0) }
        case .endOfFile, .unknown:
            c.reply(r.unique, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        case .render(let file, let resume, let reuse, let first):
            let rendering: ContainerView.Rendering
            if let file {
                // A first read takes the open's rendering when the cache still
                // has one of that length (the length the handle carries).
                rendering = view.rendering(file, for: r.pid, reuse: reuse,
                                           length: first ? HandleTable.snapshotLength(arg.fh) : nil)
            } else {
                guard let path = resolve(r.nodeID) else { return c.reply(r.unique, error: ESTALE) }
                switch passthroughBytes(path, pid: r.pid) {
                case .failure(let e): return c.reply(r.unique, error: e.code)
                case .success(let bytes): rendering = .init(bytes: bytes, container: nil)
                }
            }
            // The container is needed only when a snapshot is kept (the read
            // does not reach the end), for its budget.
            let rendered = rendering.bytes ?? []
            var container = rendering.container
            if container == nil, resume != nil || offset + size < rendered.count {
                container = view.membership(of: r.pid)
            }
            let bytes = store.complete(arg.fh, offset: offset, size: size, rendering: rendered,
                                       resume: resume, container: container)
            bytes.withUnsafeBytes { c.reply(r.unique, bytes: $0) }
        }
    }

    func readdir(_ path: String, _ r: FUSERequest, _ c: FUSEConnection) {
        guard let arg = r.argument(as: fuse_read_in.self) else { return c.reply(r.unique, error: EINVAL) }
        guard let names = directoryNames(path, pid: r.pid) else { return c.reply(r.unique, error: ENOENT) }
        let all = [".", ".."] + names
        var out: [UInt8] = []
        var index = Int(clamping: arg.offset)
        let limit = Int(arg.size)
        while index < all.count {
            let name = Array(all[index].utf8)
            let entrySize = (24 + name.count + 7) & ~7
            if out.count + entrySize > limit { break }
            let child: String
            switch index {
            case 0: child = path
            case 1: child = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "/"
            default: child = path == "/" ? "/" + all[index] : path + "/" + all[index]
            }
            var header = (ino: NodeTable.id(of: child), off: UInt64(index + 1),
                          namelen: UInt32(name.count), type: UInt32(0))
            withUnsafeBytes(of: &header) { out.append(contentsOf: $0) }
            out.append(contentsOf: name)
            out.append(contentsOf: repeatElement(0, count: entrySize - 24 - name.count))
            index += 1
        }
        out.withUnsafeBytes { c.reply(r.unique, bytes: $0) }
    }

    // MARK: Paths

    static func attr(_ st: stat, id: UInt64) -> fuse_attr {
        var a = fuse_attr()
        a.ino = id
        a.size = UInt64(st.st_size)
        a.blocks = UInt64(st.st_blocks)
        a.atime = UInt64(st.st_atim.tv_sec)
        a.atimensec = UInt32(st.st_atim.tv_nsec)
        a.mtime = UInt64(st.st_mtim.tv_sec)
        a.mtimensec = UInt32(st.st_mtim.tv_nsec)
        a.ctime = UInt64(st.st_ctim.tv_sec)
        a.ctimensec = UInt32(st.st_ctim.tv_nsec)
        a.mode = st.st_mode
        a.nlink = UInt32(st.st_nlink)
        a.uid = st.st_uid
        a.gid = st.st_gid
        a.blksize = 4096
        return a
    }

    /// Attributes of a path of the mount.
    func attributes(_ path: String) -> Result<stat, FSErrno> {
        guard let node = tree.node(at: path) else {
            return SysCPUTree.isInside(path) ? passthroughAttributes(path) : .failure(FSErrno( ENOENT))
        }
        var st = stat()
        st.st_uid = 0
        st.st_gid = 0
        st.st_atim = startTime
        st.st_mtim = startTime
        st.st_ctim = startTime
        switch node {
        case .directory(let names):
            st.st_mode = S_IFDIR | 0o555
            st.st_nlink = 2 + UInt(names.count)
        case .file(let file):
            st.st_mode = S_IFREG | file.mode
            st.st_nlink = 1
            // Like procfs, /proc files report size 0; sysfs files report a page.
            st.st_size = file.rawValue.hasPrefix("/sys/") ? 4096 : 0
        }
        return .success(st)
    }

    /// Opens a path for the calling process: checks that it may be read
    /// and renders it once for its length (what the handle carries for a
    /// successor); the bytes are not kept.
    /// - Returns: the file and the length, or EACCES (writing, O_TRUNC,
    ///   slabinfo for a uid other than 0), EISDIR, ENOENT.
    func open(_ path: String, flags: Int32, uid: UInt32, pid: Int32) -> Result<OpenedFile, FSErrno> {
        guard let node = tree.node(at: path) else {
            return passthroughOpen(path, flags: flags, pid: pid).map { OpenedFile(file: nil, length: $0.count) }
        }
        guard case .file(let file) = node else { return .failure(FSErrno( EISDIR)) }
        if flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0 { return .failure(FSErrno( EACCES)) }
        // Like the host's /proc/slabinfo (0400 root), only host uid 0 may read it.
        if file.rootOnly && uid != 0 { return .failure(FSErrno( EACCES)) }
        let bytes = view.rendering(file, for: pid).bytes
        // A pressure file can be absent (no PSI for this reader): ENOENT;
        // any other file renders empty where it cannot be rendered.
        if bytes == nil && file.pressureResource != nil { return .failure(FSErrno( ENOENT)) }
        return .success(OpenedFile(file: file, length: bytes?.count ?? 0))
    }
}
