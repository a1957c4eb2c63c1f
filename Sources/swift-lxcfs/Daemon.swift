import Logging
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
        let pidfd = try lockPidfile()
        defer {
            unlink(pidfile)
            close(pidfd)
        }
        enterHostCgroupNamespace()
        let view = ContainerView(root: HostRoot(), options: viewOptions, logger: logger)
        let filesystem = ContainerFilesystem(view: view, logger: logger)
        let mount = FUSEMount(mountPoint: mountPoint, extraOptions: fuseOptions)
        let notifier = SystemdNotifier.fromEnvironment()
        _ = try mount.run(filesystem: filesystem, logger: logger, ready: { [logger, mountPoint] in
            notifier?.announceReadiness(mountPoint: mountPoint) { sentence in
                logger.error("systemd notification: \(sentence)")
            }
        })
        notifier?.send("STOPPING=1")
    }

    /// Joins the host's cgroup namespace (pid 1's, or the outermost visible
    /// ancestor's) so that every
    /// reader's cgroup path is absolute; before any thread starts.
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
        var st = stat()
        if stat(mountPoint, &st) != 0 {
            if errno == ENOTCONN {
                throw Failure("\(mountPoint) is a dead FUSE mount; clear it with 'fusermount3 -u -z \(mountPoint)'.")
            }
            try makeDirectories(mountPoint)
        } else if st.st_mode & S_IFMT != S_IFDIR {
            throw Failure("the mount point \(mountPoint) is not a directory.")
        }
        if Self.isMountPoint(mountPoint) {
            throw Failure("something is already mounted at \(mountPoint).")
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

    /// True when `/proc/self/mountinfo` lists `path` as a mount point.
    static func isMountPoint(_ path: String) -> Bool {
        var target = path
        if let resolved = realpath(path, nil) {
            target = String(cString: resolved)
            free(resolved)
        }
        guard let bytes = HostRoot().read("/proc/self/mountinfo", sizeHint: 16384) else { return false }
        for line in ByteParser.lines(bytes[...]) {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count > 4 else { continue }
            if Self.unescape(String(decoding: fields[4], as: UTF8.self)) == target { return true }
        }
        return false
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
    func lockPidfile() throws -> Int32 {
        let dir = pidfile.split(separator: "/").dropLast().joined(separator: "/")
        if !dir.isEmpty { try? makeDirectories("/" + dir) }
        let fd = open(pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw Failure("cannot open the pidfile \(pidfile): \(String(cString: strerror(errno))).")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Failure("another daemon holds the pidfile \(pidfile); stop it or pass a different -p.")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return fd
    }
}
