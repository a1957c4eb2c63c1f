import CFuse3
import LXCFSCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The host's `/sys/devices/system/cpu` under the mount, read-only, as
/// `SysCPUTree` maps it for each reader. Paths that the file tree serves
/// itself (`online`, `possible`, `present`, `offline`) never reach here.
extension ContainerFilesystem {
    /// The host's CPU folder numbers (`cpuN` folders), ascending.
    func hostCPUFolders() -> [Int] {
        (view.root.entries(of: SysCPUTree.prefix) ?? [])
            .filter(\.isDirectory)
            .compactMap { SysCPUTree.cpuNumber(ofName: $0.name[...]) }
            .sorted()
    }

    /// Attributes of a host entry under the folder, the same for every reader.
    func passthroughGetattr(_ path: String, _ st: UnsafeMutablePointer<stat>) -> Int32 {
        let hostCPUs = hostCPUFolders()
        if let (k, _) = SysCPUTree.cpuComponent(path), !hostCPUs.contains(k) { return -ENOENT }
        var lastError = ENOENT
        for candidate in SysCPUTree.attributeCandidates(path, hostCPUs: hostCPUs) {
            switch view.root.status(candidate) {
            case .success(let host):
                var s = stat()
                s.st_mode = host.st_mode & ~0o222  // read-only: no write bits
                s.st_nlink = host.st_nlink
                s.st_size = host.st_size
                s.st_uid = 0
                s.st_gid = 0
                s.st_atim = host.st_atim
                s.st_mtim = host.st_mtim
                s.st_ctim = host.st_ctim
                st.pointee = s
                return 0
            case .failure(let e):
                lastError = e.code
            }
        }
        return -lastError
    }

    /// The entries a reader sees in a directory: the file tree's own
    /// directories, the CPU folder merged with the host's, host folders below it.
    /// - Returns: the names, or `nil` for ENOENT/ENOTDIR.
    func directoryNames(_ path: String, pid: Int32) -> [String]? {
        if path == SysCPUTree.prefix {
            guard case .directory(let names)? = tree.node(at: path) else { return nil }
            let host = view.root.entries(of: SysCPUTree.prefix) ?? []
            return SysCPUTree.listing(host: host, virtualNames: names, visibleCount: view.visibleCPUs(for: pid).count)
        }
        if case .directory(let names)? = tree.node(at: path) { return names }
        guard SysCPUTree.isInside(path), tree.node(at: path) == nil,
              let host = SysCPUTree.hostPath(path, visible: view.visibleCPUs(for: pid)) else { return nil }
        return view.root.entries(of: host)?.map(\.name)
    }

    /// Opens a host file under the folder for the calling reader: its bytes
    /// are read once, here, and served from the file handle.
    func passthroughOpen(_ path: String, _ fi: UnsafeMutablePointer<fuse_file_info>) -> Int32 {
        guard SysCPUTree.isInside(path) else { return -ENOENT }
        let flags = cfuse3_open_flags(fi)
        if flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0 { return -EACCES }
        let pid = fuse_get_context()!.pointee.pid
        guard let host = SysCPUTree.hostPath(path, visible: view.visibleCPUs(for: pid)) else { return -ENOENT }
        switch view.root.status(host) {
        case .failure(let e): return -e.code
        case .success(let st):
            if st.st_mode & S_IFMT == S_IFDIR { return -EISDIR }
        }
        guard let bytes = view.root.read(host, sizeHint: 4096) else { return -EACCES }
        fi.pointee.fh = UInt64(UInt(bitPattern: Unmanaged.passRetained(OpenFile(bytes)).toOpaque()))
        cfuse3_set_direct_io(fi)
        return 0
    }

    /// The target of a host link under the folder, unchanged (such as
    /// `../../node/node0`, which resolves inside the container's own /sys).
    func passthroughReadlink(_ path: String, _ buf: UnsafeMutablePointer<CChar>, _ size: Int) -> Int32 {
        guard SysCPUTree.isInside(path), size > 0 else { return -ENOENT }
        let pid = fuse_get_context()!.pointee.pid
        guard let host = SysCPUTree.hostPath(path, visible: view.visibleCPUs(for: pid)) else { return -ENOENT }
        switch view.root.linkTarget(host) {
        case .failure(let e): return -e.code
        case .success(let target):
            let bytes = Array(target.utf8.prefix(size - 1))
            for (i, b) in bytes.enumerated() { buf[i] = CChar(bitPattern: b) }
            buf[bytes.count] = 0
            return 0
        }
    }
}
