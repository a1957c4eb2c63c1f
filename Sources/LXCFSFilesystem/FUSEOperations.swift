import FUSEProtocol
import Logging
import LXCFSCore
import Synchronization

/// A failed operation's errno value (positive, such as `ENOENT`).
typealias FSErrno = FUSEErrno

/// What an open found: the file (`nil` for a host file of the CPU tree)
/// and the length of its rendering at open, which the handle carries for a
/// successor (`HandleTable`). No bytes are held: the first read renders.
struct OpenedFile {
    let file: VirtualFile?
    let length: Int
}

/// The FUSE operations of the mount: node ids resolved to paths
/// (`NodeTable`), paths to the renderers of `ContainerView` or the host's
/// CPU tree, and refusals for anything that would change the tree.
/// Everything here is immutable or internally locked; requests arrive on
/// the connection's worker threads (and the fair share's dispatcher).
/// The wire is `FUSEProtocol`'s: this type sees Swift values only.
public final class ContainerFilesystem: FUSEFilesystem {
    /// What is served.
    public let tree: FileTree
    /// Renders each file for the calling process.
    public let view: ContainerView
    let logger: Logger
    /// When the daemon started, for file times.
    let startTime: FUSETime
    /// Node id <-> path.
    public let nodes: NodeTable
    let handles: HandleTable
    /// PSI triggers on pressure files opened for writing (`--enable-psi-poll`).
    let triggers: PressureTriggers
    /// Each container's share of the daemon (`--container-cpu-budget`); `nil` when off.
    var shares: FairShare? { sharesBox.value }
    private let sharesBox: SharesBox
    // Unchecked: `value` is set once in `init`, before the filesystem is shared, and only read afterwards.
    final class SharesBox: @unchecked Sendable { var value: FairShare? }

    /// Seconds the kernel holds names and attributes (directories never
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
        self.startTime = FUSETime.now()
        self.nodes = NodeTable(fixed: tree.nodes.keys)
        if cpuBudget.cores > 0 {
            sharesBox.value = FairShare(budget: cpuBudget) { [unowned self] r, reply in self.serve(r, reply: reply) }
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
    public func handle(_ r: FUSERequest, reply: FUSEResponder) {
        guard let shares, FairShare.isBudgeted(r.operation) else { return serve(r, reply: reply) }
        // A request read before serving started (held by the probe) carries
        // no read time: it is charged from here.
        let since = r.header.cpuAtRead != 0 ? r.header.cpuAtRead : threadCPUNanoseconds()
        let container = view.container(of: r.header.pid)
        if shares.admits(container) {
            serve(r, reply: reply)
        } else {
            shares.postpone(r, container: container, reply: reply)
        }
        // From the worker's read(2) of the request: reading, classifying and
        // serving (or queuing) it are all done for this container.
        shares.charge(container, threadCPUNanoseconds() &- since)
    }

    /// The path of a node id, walking the host's CPU tree again when the
    /// id was issued by an earlier process for a path not looked up here.
    func resolve(_ id: UInt64) -> String? {
        nodes.resolve(id) { allPassthroughPaths() }
    }

    /// The path of the request's node, or ESTALE for an id no path of the tree has.
    func path(_ h: FUSERequestHeader) -> Result<String, FSErrno> {
        resolve(h.nodeID).map { .success($0) } ?? .failure(FSErrno.staleHandle)
    }

    public func lookup(_ h: FUSERequestHeader, name: String) -> Result<FUSEEntry, FUSEErrno> {
        guard !name.isEmpty, name != ".", name != ".." else { return .failure(FSErrno.noSuchFileOrDirectory) }
        guard let parent = resolve(h.nodeID) else { return .failure(FSErrno.staleHandle) }
        let path = parent == "/" ? "/" + name : parent + "/" + name
        switch attributes(path) {
        case .failure(let e) where e == .noSuchFileOrDirectory:
            // A negative entry, cached like the names.
            return .success(.negative(validSeconds: Self.cacheSeconds))
        case .failure(let e):
            return .failure(e)
        case .success(let attributes):
            return .success(.node(nodeID: nodes.enter(path), attributes: attributes, validSeconds: Self.cacheSeconds))
        }
    }

    public func getattr(_ h: FUSERequestHeader) -> Result<(FUSEAttributes, validSeconds: UInt64), FUSEErrno> {
        path(h).flatMap(attributes).map { ($0, Self.cacheSeconds) }
    }

    public func open(_ h: FUSERequestHeader, flags: FUSEOpenFlags) -> Result<FUSEOpenedFile, FUSEErrno> {
        path(h).flatMap { path in
            switch pressureTriggerOpen(path, flags: flags, pid: h.pid) {
            case .failure(let e)?: return .failure(e)
            case .success(let target)?: return openPressureTrigger(h, path: path, target: target)
            case nil: break
            }
            // Direct I/O: no reader ever gets another's page cache. No
            // flush: close(2) never waits on the server, so a process
            // closing a file while the server restarts is not held up.
            return open(path, flags: flags, uid: h.uid, pid: h.pid).map {
                FUSEOpenedFile(handle: handles.insert($0.file, length: $0.length), directIO: true, noFlush: true)
            }
        }
    }

    public func release(_ h: FUSERequestHeader, handle: UInt64) {
        handles.remove(handle)
        triggers.release(handle)
    }

    public func opendir(_ h: FUSERequestHeader) -> Result<FUSEOpenedFile, FUSEErrno> {
        path(h).flatMap { path in
            directoryNames(path, pid: h.pid) == nil ? .failure(FSErrno.noSuchFileOrDirectory) : .success(FUSEOpenedFile(handle: 0))
        }
    }

    public func readdir(_ h: FUSERequestHeader, handle: UInt64, offset: UInt64) -> Result<[FUSEDirectoryEntry], FUSEErrno> {
        path(h).flatMap { path in
            guard let names = directoryNames(path, pid: h.pid) else { return .failure(FSErrno.noSuchFileOrDirectory) }
            let all = [".", ".."] + names
            var entries: [FUSEDirectoryEntry] = []
            for index in min(Int(clamping: offset), all.count)..<all.count {
                let child: String
                switch index {
                case 0: child = path
                case 1: child = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "/"
                default: child = path == "/" ? "/" + all[index] : path + "/" + all[index]
                }
                entries.append(FUSEDirectoryEntry(nodeID: NodeTable.id(of: child), nextOffset: UInt64(index + 1),
                                                  name: all[index]))
            }
            return .success(entries)
        }
    }

    public func readlink(_ h: FUSERequestHeader) -> Result<String, FUSEErrno> {
        path(h).flatMap { passthroughReadlink($0, pid: h.pid) }
    }

    public func statfs(_ h: FUSERequestHeader) -> FUSEFilesystemStatistics {
        FUSEFilesystemStatistics(blockSize: 512, nameLength: 255)
    }

    public func setattr(_ h: FUSERequestHeader, valid: UInt32) -> FUSEErrno {
        // Truncating is refused as opening with O_TRUNC is; any other change: a read-only filesystem.
        valid & FUSESetattrValid.size != 0 ? .permissionDenied : .readOnlyFileSystem
    }

    public func refuse(_ h: FUSERequestHeader, _ mutation: FUSEMutation) -> FUSEErrno {
        FSErrno.readOnlyFileSystem
    }

    // MARK: Paths

    /// Attributes of a path of the mount.
    func attributes(_ path: String) -> Result<FUSEAttributes, FSErrno> {
        guard let node = tree.node(at: path) else {
            return SysCPUTree.isInside(path) ? passthroughAttributes(path) : .failure(FSErrno.noSuchFileOrDirectory)
        }
        switch node {
        case .directory(let names):
            return .success(FUSEAttributes(accessed: startTime, modified: startTime, changed: startTime,
                                           mode: FUSEFileType.directory.mode(permissions: 0o555), links: 2 + UInt32(names.count)))
        case .file(let file):
            // Like procfs, /proc files report size 0; sysfs files report a page.
            return .success(FUSEAttributes(size: file.rawValue.hasPrefix("/sys/") ? 4096 : 0,
                                           accessed: startTime, modified: startTime, changed: startTime,
                                           mode: FUSEFileType.regular.mode(permissions: file.mode), links: 1))
        }
    }

    /// Opens a path for the calling process: checks that it may be read
    /// and renders it once for its length (what the handle carries for a
    /// successor); the bytes are not held.
    /// - Returns: the file and the length, or EACCES (writing, O_TRUNC,
    ///   slabinfo for a uid other than 0), EISDIR, ENOENT, EIO (a host file
    ///   the rendering starts from cannot be read).
    func open(_ path: String, flags: FUSEOpenFlags, uid: UInt32, pid: Int32) -> Result<OpenedFile, FSErrno> {
        guard let node = tree.node(at: path) else {
            return passthroughOpen(path, flags: flags, pid: pid).map { OpenedFile(file: nil, length: $0.count) }
        }
        guard case .file(let file) = node else { return .failure(FSErrno.isDirectory) }
        if !flags.isReadOnly || flags.truncates { return .failure(FSErrno.permissionDenied) }
        // Like the host's /proc/slabinfo (0400 root), only host uid 0 may read it.
        if file.rootOnly && uid != 0 { return .failure(FSErrno.permissionDenied) }
        let rendering = view.rendering(file, for: pid)
        let bytes = rendering.bytes
        // A host file it starts from cannot be read (the daemon out of
        // descriptors): EIO, not an empty file.
        if rendering.failed { return .failure(FSErrno.inputOutput) }
        // A pressure file can be absent (no PSI for this reader): ENOENT.
        if bytes == nil && file.pressureResource != nil { return .failure(FSErrno.noSuchFileOrDirectory) }
        return .success(OpenedFile(file: file, length: bytes?.count ?? 0))
    }
}
