import FUSEProtocol
import LXCFSCore

/// The host's `/sys/devices/system/cpu` under the mount, read-only, as
/// `SysCPUTree` maps it for each reader. Paths that the file tree serves
/// itself (`online`, `possible`, `present`, `offline`) never reach here.
extension FUSETime {
    /// A host file's time (`lstat(2)`'s `st_atim`, `st_mtim`, `st_ctim`).
    init(_ t: HostFileStatus.Time) {
        self.init(seconds: UInt64(truncatingIfNeeded: t.seconds), nanoseconds: UInt32(truncatingIfNeeded: t.nanoseconds))
    }
}

extension ContainerFilesystem {
    /// The host's CPU folder numbers (`cpuN` folders), ascending.
    func hostCPUFolders() -> [Int] {
        (view.root.entries(of: SysCPUTree.prefix) ?? [])
            .filter(\.isDirectory)
            .compactMap { SysCPUTree.cpuNumber(ofName: $0.name[...]) }
            .sorted()
    }

    /// Attributes of a host entry under the folder, the same for every reader.
    func passthroughAttributes(_ path: String) -> Result<FUSEAttributes, FSErrno> {
        let hostCPUs = hostCPUFolders()
        if let (k, _) = SysCPUTree.cpuComponent(path), !hostCPUs.contains(k) { return .failure(FSErrno.noSuchFileOrDirectory) }
        var lastError = FSErrno.noSuchFileOrDirectory
        for candidate in SysCPUTree.attributeCandidates(path, hostCPUs: hostCPUs) {
            switch view.root.status(candidate) {
            case .success(let host):
                // Read-only: no write bits; owned by root.
                return .success(FUSEAttributes(size: UInt64(host.size), accessed: FUSETime(host.accessed),
                                               modified: FUSETime(host.modified), changed: FUSETime(host.changed),
                                               mode: host.mode & ~0o222, links: UInt32(host.links)))
            case .failure(let e):
                lastError = FSErrno(e.code)
            }
        }
        return .failure(lastError)
    }

    /// Every path a reader can reach under the folder, for node ids issued
    /// by an earlier process: the host's entries outside the `cpuN` folders
    /// as they are, and inside, the union of what any `cpuN` folder holds
    /// under each host CPU number (a reader's `cpuK` is some host CPU's folder).
    func allPassthroughPaths() -> [String] {
        var paths: [String] = []
        var insideCPU = Set<String>()
        let root = view.root
        func walk(_ host: String, _ virtual: String, depth: Int, into: (String) -> Void) {
            guard depth < 8, let entries = root.entries(of: host) else { return }
            for e in entries {
                into(virtual + "/" + e.name)
                if e.isDirectory { walk(host + "/" + e.name, virtual + "/" + e.name, depth: depth + 1, into: into) }
            }
        }
        let cpus = hostCPUFolders()
        for e in root.entries(of: SysCPUTree.prefix) ?? [] {
            let path = SysCPUTree.prefix + "/" + e.name
            if e.isDirectory, SysCPUTree.cpuNumber(ofName: e.name[...]) != nil {
                walk(path, "", depth: 1) { insideCPU.insert($0) }
                continue
            }
            paths.append(path)
            if e.isDirectory { walk(path, path, depth: 1) { paths.append($0) } }
        }
        for k in cpus {
            let folder = SysCPUTree.prefix + "/cpu\(k)"
            paths.append(folder)
            for rel in insideCPU { paths.append(folder + rel) }
        }
        return paths
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
    func passthroughOpen(_ path: String, flags: FUSEOpenFlags, pid: Int32) -> Result<[UInt8], FSErrno> {
        guard SysCPUTree.isInside(path) else { return .failure(FSErrno.noSuchFileOrDirectory) }
        if !flags.isReadOnly || flags.truncates { return .failure(FSErrno.permissionDenied) }
        guard let host = SysCPUTree.hostPath(path, visible: view.visibleCPUs(for: pid)) else { return .failure(FSErrno.noSuchFileOrDirectory) }
        switch view.root.status(host) {
        case .failure(let e): return .failure(FSErrno(e.code))
        case .success(let st):
            if st.isDirectory { return .failure(FSErrno.isDirectory) }
        }
        guard let bytes = view.root.read(host, sizeHint: 4096) else { return .failure(FSErrno.permissionDenied) }
        return .success(bytes)
    }

    /// A host file of the folder read again for a read of its handle.
    func passthroughBytes(_ path: String, pid: Int32) -> Result<[UInt8], FSErrno> {
        passthroughOpen(path, flags: .readOnly, pid: pid)
    }

    /// The target of a host link under the folder, unchanged (such as
    /// `../../node/node0`, which resolves inside the container's own /sys).
    func passthroughReadlink(_ path: String, pid: Int32) -> Result<String, FSErrno> {
        guard SysCPUTree.isInside(path) else { return .failure(FSErrno.noSuchFileOrDirectory) }
        guard let host = SysCPUTree.hostPath(path, visible: view.visibleCPUs(for: pid)) else { return .failure(FSErrno.noSuchFileOrDirectory) }
        switch view.root.linkTarget(host) {
        case .failure(let e): return .failure(FSErrno(e.code))
        case .success(let target): return .success(target)
        }
    }
}
