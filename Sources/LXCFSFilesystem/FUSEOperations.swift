import CFuse3
import Logging
import LXCFSCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One opened file: its bytes, rendered at open for the process that opened
/// it and served from here at any offset. A virtual file read again from
/// offset 0 (a reader that keeps it open and seeks back, as top does with
/// /proc/stat) is rendered again, as lxcfs does. Kept in the FUSE file
/// handle (`fuse_file_info.fh`) until release.
final class OpenFile: Sendable {
    /// The virtual file to render again on a new read from offset 0; `nil`
    /// for a file served as it was read at open.
    let file: VirtualFile?
    /// The snapshot served, and whether it was already read from offset 0.
    let snapshot: Mutex<(bytes: [UInt8], readFromStart: Bool)>

    init(_ bytes: [UInt8], file: VirtualFile? = nil) {
        self.file = file
        self.snapshot = Mutex((bytes, false))
    }

    /// The bytes to serve a read at `offset`: a fresh rendering when the
    /// snapshot was already read from offset 0, else the snapshot.
    func bytes(at offset: Int, render: (VirtualFile) -> [UInt8]) -> [UInt8] {
        if offset == 0, let file, snapshot.withLock({ $0.readFromStart }) {
            let fresh = render(file)
            snapshot.withLock { $0 = (fresh, true) }
            return fresh
        }
        return snapshot.withLock { s in
            if offset == 0 { s.readFromStart = true }
            return s.bytes
        }
    }
}

/// The state FUSE callbacks reach through `fuse_get_context()->private_data`:
/// the tree, the view that renders files, the logger. Callbacks run on
/// libfuse's worker threads; everything here is immutable or internally locked.
public final class ContainerFilesystem: Sendable {
    /// What is served.
    public let tree: FileTree
    /// Renders each file for the calling process.
    public let view: ContainerView
    let logger: Logger
    /// When the daemon started, for file times (seconds since the epoch).
    let startTime: timespec

    /// - Parameters:
    ///   - view: renders each file for the calling process.
    ///   - logger: the daemon's logger.
    public init(view: ContainerView, logger: Logger) {
        self.view = view
        self.logger = logger
        self.tree = FileTree(files: VirtualFile.allCases.filter(view.serves))
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.startTime = now
    }

    /// The filesystem from a callback's FUSE context.
    static var current: ContainerFilesystem {
        Unmanaged<ContainerFilesystem>.fromOpaque(fuse_get_context()!.pointee.private_data).takeUnretainedValue()
    }

    /// The libfuse high-level operation table.
    static func operations() -> fuse_operations {
        var ops = fuse_operations()
        ops.`init` = { _, cfg in
            if let cfg {
                // Directories never change; file contents are rendered per open.
                cfg.pointee.entry_timeout = 300
                cfg.pointee.attr_timeout = 300
                cfg.pointee.negative_timeout = 300
                cfg.pointee.direct_io = 1
                cfg.pointee.kernel_cache = 0
            }
            return fuse_get_context()!.pointee.private_data
        }
        ops.getattr = { path, st, _ in
            guard let path, let st else { return -EINVAL }
            return ContainerFilesystem.current.getattr(String(cString: path), st)
        }
        ops.readdir = { path, buf, filler, _, _, _ in
            guard let path, let filler else { return -EINVAL }
            let pid = fuse_get_context()!.pointee.pid
            guard let names = ContainerFilesystem.current.directoryNames(String(cString: path), pid: pid) else {
                return -ENOENT
            }
            _ = filler(buf, ".", nil, 0, fuse_fill_dir_flags(rawValue: 0))
            _ = filler(buf, "..", nil, 0, fuse_fill_dir_flags(rawValue: 0))
            for name in names { _ = filler(buf, name, nil, 0, fuse_fill_dir_flags(rawValue: 0)) }
            return 0
        }
        ops.open = { path, fi in
            guard let path, let fi else { return -EINVAL }
            return ContainerFilesystem.current.open(String(cString: path), fi)
        }
        ops.read = { _, buf, size, offset, fi in
            guard let buf, let fi, fi.pointee.fh != 0 else { return -EBADF }
            let file = Unmanaged<OpenFile>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(fi.pointee.fh))!).takeUnretainedValue()
            let bytes = file.bytes(at: Int(offset)) {
                ContainerFilesystem.current.render($0, for: fuse_get_context()!.pointee.pid)
            }
            let count = bytes.count
            guard offset >= 0, Int(offset) < count else { return 0 }
            let n = min(size, count - Int(offset))
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawPointer(buf).copyMemory(from: src.baseAddress! + Int(offset), byteCount: n)
            }
            return Int32(n)
        }
        ops.release = { _, fi in
            if let fi, fi.pointee.fh != 0 {
                Unmanaged<OpenFile>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(fi.pointee.fh))!).release()
                fi.pointee.fh = 0
            }
            return 0
        }
        ops.opendir = { path, _ in
            guard let path else { return -EINVAL }
            let pid = fuse_get_context()!.pointee.pid
            guard ContainerFilesystem.current.directoryNames(String(cString: path), pid: pid) != nil else { return -ENOENT }
            return 0
        }
        ops.readlink = { path, buf, size in
            guard let path, let buf else { return -EINVAL }
            return ContainerFilesystem.current.passthroughReadlink(String(cString: path), buf, size)
        }
        // Everything that would change the tree or a file is refused.
        ops.write = { _, _, _, _, _ in -EACCES }
        ops.truncate = { _, _, _ in -EACCES }
        ops.create = { _, _, _ in -EROFS }
        ops.mknod = { _, _, _ in -EROFS }
        ops.mkdir = { _, _ in -EROFS }
        ops.unlink = { _ in -EROFS }
        ops.rmdir = { _ in -EROFS }
        ops.rename = { _, _, _ in -EROFS }
        ops.symlink = { _, _ in -EROFS }
        ops.link = { _, _ in -EROFS }
        ops.chmod = { _, _, _ in -EROFS }
        ops.chown = { _, _, _, _ in -EROFS }
        ops.utimens = { _, _, _ in -EROFS }
        ops.setxattr = { _, _, _, _, _ in -EROFS }
        ops.removexattr = { _, _ in -EROFS }
        return ops
    }

    func getattr(_ path: String, _ st: UnsafeMutablePointer<stat>) -> Int32 {
        guard let node = tree.node(at: path) else {
            return SysCPUTree.isInside(path) ? passthroughGetattr(path, st) : -ENOENT
        }
        st.pointee = stat()
        st.pointee.st_uid = 0
        st.pointee.st_gid = 0
        st.pointee.st_atim = startTime
        st.pointee.st_mtim = startTime
        st.pointee.st_ctim = startTime
        switch node {
        case .directory(let names):
            st.pointee.st_mode = S_IFDIR | 0o555
            st.pointee.st_nlink = 2 + UInt(names.count)
        case .file(let file):
            st.pointee.st_mode = S_IFREG | file.mode
            st.pointee.st_nlink = 1
            // Like procfs, /proc files report size 0; sysfs files report a page.
            st.pointee.st_size = file.rawValue.hasPrefix("/sys/") ? 4096 : 0
        }
        return 0
    }

    /// A virtual file rendered again for a reader that reads it anew from
    /// offset 0 (empty where it can no longer be rendered).
    func render(_ file: VirtualFile, for pid: Int32) -> [UInt8] {
        file.pressureResource != nil ? view.renderPressure(file, for: pid) ?? [] : view.render(file, for: pid)
    }

    func open(_ path: String, _ fi: UnsafeMutablePointer<fuse_file_info>) -> Int32 {
        guard let node = tree.node(at: path) else { return passthroughOpen(path, fi) }
        guard case .file(let file) = node else { return -EISDIR }
        let flags = cfuse3_open_flags(fi)
        if flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0 { return -EACCES }
        let context = fuse_get_context()!.pointee
        let pid = context.pid
        // Like the host's /proc/slabinfo (0400 root), only host uid 0 may read it.
        if file.rootOnly && context.uid != 0 { return -EACCES }
        let bytes: [UInt8]
        if file.pressureResource != nil {
            guard let pressure = view.renderPressure(file, for: pid) else { return -ENOENT }
            bytes = pressure
        } else {
            bytes = view.render(file, for: pid)
        }
        fi.pointee.fh = UInt64(UInt(bitPattern: Unmanaged.passRetained(OpenFile(bytes, file: file)).toOpaque()))
        cfuse3_set_direct_io(fi)
        return 0
    }
}
