import Logging
import SystemPackage
import LXCFSCore
import LXCFSFilesystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's start-up and shut-down: mount point checks, the pidfile
/// lock, then serving until a termination signal.
struct Daemon {
    let mountPoint: String
    let pidfile: String
    let fuseOptions: [String]
    let viewOptions: ViewOptions
    let logger: Logger

    func run() throws {
        try prepareMountPoint()
        let pidfileLock = try lockPidfile()
        defer {
            unlink(pidfile)
            try? pidfileLock.close()
        }
        enterHostCgroupNamespace()
        raiseOpenFileLimit()
        let view = ContainerView(root: HostRoot(), options: viewOptions, logger: logger)
        let filesystem = ContainerFilesystem(view: view, logger: logger)
        let mount = FUSEMount(mountPoint: mountPoint, extraOptions: fuseOptions)
        let notifier = SystemdNotifier.fromEnvironment()
        // With -l, the loadavg sampler runs from the moment the mount is in place.
        _ = try mount.run(filesystem: filesystem, logger: logger, ready: { [logger, mountPoint] in
            view.startLoadavgSampler()
            ReattachAtStart.afterMountAnswers(mountPoint: mountPoint, logger: logger)
            notifier?.announceReadiness(mountPoint: mountPoint) { sentence in
                logger.error("systemd notification: \(sentence)")
            }
        })
        notifier?.send("STOPPING=1")
    }

    /// Raises the soft open-file limit to the hard one (at most 65,536), as
    /// the worker threads keep cgroup and /proc files open between reads
    /// and size how many by the soft limit (systemd's default is 1024).
    func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 65_536)
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = wanted
        if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            logger.debug("open-file limit stays at its soft value")
        }
    }

    /// Joins the host's cgroup namespace (pid 1's, or the outermost visible
    /// ancestor's) so that every reader's cgroup path is absolute; before
    /// any thread starts.
    func enterHostCgroupNamespace() {
        switch CgroupNamespace.enterHostNamespace() {
        case .shared:
            break
        case .entered(let from, let to, let pid):
            logger.info("joined the host cgroup namespace", metadata: ["from": "\(from)", "to": "\(to)", "pid": "\(pid)"])
        case .failed(let why):
            logger.warning("staying in this cgroup namespace: \(why); readers outside it may get host values")
        }
    }

    /// Creates the mount point if missing and refuses one that already has a mount.
    func prepareMountPoint() throws {
        guard mountPoint.hasPrefix("/") else {
            throw Failure("the mount point \(mountPoint) must be an absolute path.")
        }
        detachDeadMountAtMountPoint()
        var st = stat()
        if stat(mountPoint, &st) != 0 {
            if errno == ENOTCONN {
                throw Failure("\(mountPoint) is a dead FUSE mount; clear it with 'fusermount3 -u -z \(mountPoint)'.")
            }
            try makeDirectories(mountPoint)
        } else if st.st_mode & S_IFMT != S_IFDIR {
            throw Failure("the mount point \(mountPoint) is not a directory.")
        }
        // A FUSE filesystem on top (another lxcfs) is refused; a bind mount
        // (a Kubernetes hostPath, a shared mount made for propagation) is
        // what the daemon mounts over.
        if let type = Self.topMountType(mountPoint), type.hasPrefix("fuse") {
            throw Failure("something is already mounted at \(mountPoint) (\(type)).")
        }
    }

    func makeDirectories(_ path: String) throws {
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw Failure("cannot create the mount point \(path): \(String(cString: strerror(errno))).")
            }
        }
    }

    /// The filesystem type of the topmost mount at `path` (mountinfo's
    /// last entry for it, such as `fuse.lxcfs` or `ext4`), or `nil` when
    /// `/proc/self/mountinfo` lists no mount there.
    static func topMountType(_ path: String) -> String? {
        var target = path
        if let resolved = realpath(path, nil) {
            target = String(cString: resolved)
            free(resolved)
        }
        guard let bytes = HostRoot().read("/proc/self/mountinfo", sizeHint: 16384) else { return nil }
        var type: String?
        for line in ByteParser.lines(bytes[...]) {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count > 4, Self.unescape(String(decoding: fields[4], as: UTF8.self)) == target,
                  let dash = fields.firstIndex(where: { $0.elementsEqual("-".utf8) }), dash + 1 < fields.count
            else { continue }
            type = String(decoding: fields[dash + 1], as: UTF8.self)
        }
        return type
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.first {
            if b == UInt8(ascii: "\\"), bytes.count >= 4,
               let v = UInt8(String(decoding: bytes.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                out.append(v)
                bytes = bytes.dropFirst(4)
            } else {
                out.append(b)
                bytes = bytes.dropFirst()
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Opens, locks and writes the pidfile; the lock lives as long as the
    /// returned descriptor.
    /// - Throws: `Failure` when the pidfile cannot be opened or written, or
    ///   another process holds its lock.
    func lockPidfile() throws -> FileDescriptor {
        let dir = pidfile.split(separator: "/").dropLast().joined(separator: "/")
        if !dir.isEmpty { try? makeDirectories("/" + dir) }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(pidfile), .readWrite, options: [.create, .closeOnExec],
                                         permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch let errno as Errno {
            throw Failure("cannot open the pidfile \(pidfile): \(errno.description).")
        }
        guard flock(fd.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            try? fd.close()
            throw Failure("another daemon holds the pidfile \(pidfile); stop it or pass a different -p.")
        }
        do {
            try fd.resize(to: 0)
            _ = try fd.writeAll(toAbsoluteOffset: 0, Array("\(getpid())\n".utf8))
        } catch let errno as Errno {
            try? fd.close()
            throw Failure("cannot write the pidfile \(pidfile): \(errno.description).")
        }
        return fd
    }
}
