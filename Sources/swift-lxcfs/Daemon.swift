import Dispatch
import Logging
import Synchronization
import SystemPackage
import LXCFSCore
import LXCFSMountInfo
import LXCFSSystem
import LXCFSFilesystem
import LXCFSLifecycle
import LXCFSSeccomp
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's start-up and shut-down: resume a connection a predecessor
/// left (LISTEN_FDS, or `--takeover`), else check the mount point, lock the
/// pidfile and mount; then serve until a stop signal or a hand-over.
struct Daemon {
    let mountPoint: String
    let pidfile: String
    let fuseOptions: [String]
    let viewOptions: ViewOptions
    let takeover: Bool
    let logger: Logger
    /// `--enable-psi-poll`: pressure files opened for writing take PSI triggers.
    var enablePSIPoll = false
    /// `--snapshot-budget`, `--container-snapshot-budget`.
    var budget = SnapshotBudget()
    /// `--render-cache-ms`, in nanoseconds.
    var renderCacheTick: UInt64 = 0
    /// `--container-cpu-budget`.
    var cpuBudget = ContainerCPUBudget(cores: 0)
    /// Whether the reattach step runs once the mount answers (false with `--no-reattach`).
    var reattach = true
    /// The seccomp agent's socket (`--seccomp-socket`); `nil` with `--no-seccomp-agent`.
    var seccompSocket: String? = AgentSocket.defaultPath
    /// `--reattach-from` as given (none: the step's default), passed on to the reattach step.
    var reattachFrom: [String] = []

    func run() throws {
        // Before any thread: only the serving thread takes the stop signals.
        FUSEService.prepareSignals()
        guard mountPoint.hasPrefix("/") else {
            throw Failure("the mount point \(mountPoint) must be an absolute path.")
        }
        enterHostCgroupNamespace()
        raiseOpenFileLimit()
        let view = ContainerView(root: HostRoot(), options: viewOptions, logger: logger, renderCacheTick: renderCacheTick)
        let filesystem = ContainerFilesystem(view: view, logger: logger, psiPoll: enablePSIPoll, budget: budget,
                                             cpuBudget: cpuBudget)
        let mount = FUSEMount(mountPoint: mountPoint, extraOptions: fuseOptions)
        let notifier = SystemdNotifier.fromEnvironment()

        var pidfileLock: FileDescriptor?
        let lateLock = LatePidfileLock()
        guard let (service, source) = try connect(mount: mount, filesystem: filesystem,
                                                 pidfileLock: &pidfileLock, lateLock: lateLock) else { return }
        if StartupPlan.storesDescriptors(servedFrom: source), let notifier,
           let error = notifier.storeDescriptors(fuseFD: service.fuseFD, stateFD: service.stateFD) {
            logger.error("systemd fd store: \(error)")
        }
        let listener = TakeoverListener.listen(mountPoint: service.mountPoint, logger: logger)
        let agent = seccompSocket.map { BackgroundSeccompAgent.start(path: $0, view: view, logger: logger) }
        logger.info(service.resumed ? "resumed serving" : "serving",
                    metadata: ["mountpoint": "\(service.mountPoint)", "options": "\(service.state.options)",
                               "protocol": "7.\(service.state.parameters.minor)"])
        // With -l, the loadavg sampler runs from the moment the mount is served.
        let kind = service.serve(listener: listener, ready: { [logger, mountPoint, reattach, reattachFrom] in
            view.startLoadavgSampler()
            if reattach { ReattachAtStart.afterMountAnswers(mountPoint: mountPoint, reattachFrom: reattachFrom, logger: logger) }
            notifier?.announceReadiness(mountPoint: mountPoint) { sentence in
                logger.error("systemd notification: \(sentence)")
            }
        })
        notifier?.send(NotifyMessage(stopping: true))
        listener?.close()
        agent?.stop(removeSocket: kind == .final)
        switch kind {
        case .final:
            logger.info("unmounting", metadata: ["mountpoint": "\(service.mountPoint)"])
            service.unmount()
            notifier?.removeDescriptors()
            unlink(pidfile)
        case .handover:
            // The pidfile is the successor's now (or will be).
            logger.info("handed over; the mount stays", metadata: ["mountpoint": "\(service.mountPoint)"])
        }
        try? pidfileLock?.close()
        lateLock.close()
    }

    /// Gets the FUSE connection by the start-up plan (`StartupPlan`, chosen
    /// from LISTEN_FDS and `--takeover` before anything is touched): resume
    /// from the fd store, take over from the serving process, else mount anew.
    /// The pidfile lock is taken as each path needs it (`pidfileLock`, or
    /// later into `lateLock`).
    /// - Returns: the service and where its connection came from.
    /// - Throws: `Failure` when a takeover failed while the old process
    ///   still serves, or the fresh mount is refused; `MountError`.
    func connect(mount: FUSEMount, filesystem: ContainerFilesystem, pidfileLock: inout FileDescriptor?,
                 lateLock: LatePidfileLock) throws -> (FUSEService, ConnectionSource)? {
        let environment = InheritedDescriptors.fromEnvironment()
        var plan: StartupPlan
        switch environment {
        case .failure(let why):
            logger.error("cannot resume from LISTEN_FDS: \(why); mounting afresh.")
            plan = StartupPlan(inherited: .unusable("\(why)"), takeover: takeover)
        case .success(let inherited):
            plan = StartupPlan(inherited: inherited == nil ? .none : .present, takeover: takeover)
        }
        var source = plan.sources.first
        while let current = source {
            switch current {
            case .fdStore:
                guard case .success(let inherited?) = environment else { return nil }
                // A predecessor SIGKILLed while one of its own threads waited on
                // its own mount keeps its pidfile lock until a server answers that
                // request (the kernel makes it wait it out): serve first, take the
                // lock when it is free.
                pidfileLock = try? lockPidfile()
                if pidfileLock == nil { lockPidfileLater(into: lateLock) }
                switch FUSEService.resume(inherited, mountPoint: mountPoint, options: mount.options, filesystem: filesystem, logger: logger) {
                case .success(let resumed):
                    return (resumed, current)
                case .failure(let why):
                    logger.error("cannot resume from LISTEN_FDS: \(why); mounting afresh.")
                    source = plan.next(after: current, .failed)
                }
            case .takeover:
                switch TakeoverClient.request(mountPoint: mountPoint) {
                case .nobody(let why):
                    logger.info("\(why); mounting afresh")
                    source = plan.next(after: current, .nobody)
                case .failed(let why):
                    logger.error("takeover failed: \(why).")
                    if let top = MountInfo.top(at: mountPoint), top.fsType.hasPrefix("fuse") {
                        throw Failure("\(mountPoint) is still served and the takeover failed: \(why).")
                    }
                    source = plan.next(after: current, .failed)
                case .received(let handle):
                    let inherited = InheritedDescriptors(fuseFD: handle.fuseFD, stateFD: handle.stateFD)
                    switch FUSEService.resume(inherited, mountPoint: mountPoint, options: mount.options, filesystem: filesystem, logger: logger) {
                    case .failure(let why):
                        handle.abort()
                        throw Failure("cannot take over \(mountPoint): \(why); pid \(handle.peerPID) serves on.")
                    case .success(let resumed):
                        guard handle.commit() else {
                            close(resumed.fuseFD)
                            close(resumed.stateFD)
                            throw Failure("pid \(handle.peerPID) did not let go of \(mountPoint) and serves on.")
                        }
                        logger.info("took the connection over", metadata: ["from": "\(handle.peerPID)"])
                        // The old process exits now; its pidfile lock goes with it.
                        pidfileLock = try? lockPidfile()
                        if pidfileLock == nil { lockPidfileLater(into: lateLock) }
                        return (resumed, current)
                    }
                }
            case .freshMount:
                try prepareMountPoint(fellBack: plan.fallBack)
                if StartupPlan.pidfileLockRequired(servedFrom: current), pidfileLock == nil { pidfileLock = try lockPidfile() }
                return (try FUSEService.mountFresh(mount, filesystem: filesystem, logger: logger), current)
            }
        }
        return nil
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

    /// Creates the mount point if missing and refuses one that already has
    /// a FUSE mount. After inherited descriptors proved unusable
    /// (`fellBack`), a dead swift-lxcfs mount there (its connection gone)
    /// is detached first, and a FUSE mount that still answers or is held
    /// silent elsewhere is refused without waiting on it.
    func prepareMountPoint(fellBack: Bool) throws {
        if fellBack, let top = MountInfo.top(at: mountPoint), top.fsType.hasPrefix("fuse") {
            switch Self.probeMount(mountPoint) {
            case .dead:
                logger.warning("detaching the dead FUSE mount at \(mountPoint)")
                FUSEMount.unmount(mountPoint)
            case .answers:
                throw Failure("something is already mounted at \(mountPoint) (\(top.fsType)) and answers\(Self.takeoverHint(mountPoint)).")
            case .silent:
                throw Failure("a FUSE mount at \(mountPoint) does not answer; another process holds its connection.")
            }
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
        if let type = MountInfo.top(at: mountPoint)?.fsType, type.hasPrefix("fuse") {
            throw Failure("something is already mounted at \(mountPoint) (\(type))\(Self.takeoverHint(mountPoint)).")
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

    /// ", served by a swift-lxcfs: pass --takeover to replace it" when one
    /// listens on the mount point's takeover socket, else "".
    static func takeoverHint(_ mountPoint: String) -> String {
        TakeoverSocket.hasListener(mountPoint: mountPoint) ? ", served by a swift-lxcfs: pass --takeover to replace it" : ""
    }

    enum MountState { case dead, answers, silent }

    /// statvfs(3) (statfs(2)) on the mount point from another thread, which a FUSE
    /// server must answer (the kernel caches no answer): ENOTCONN means
    /// the connection is gone; no answer within 2 s means someone holds the
    /// connection without serving it.
    static func probeMount(_ mountPoint: String) -> MountState {
        let result = Mutex<Int32?>(nil)
        let done = DispatchSemaphore(value: 0)
        let path = mountPoint
        Threads.startDetached {
            var fs = statvfs()
            let rc = statvfs(path, &fs) == 0 ? 0 : errno
            result.withLock { $0 = rc }
            done.signal()
        }
        if done.wait(timeout: .now() + 2) == .timedOut { return .silent }
        return result.withLock { $0 } == ENOTCONN ? .dead : .answers
    }

    /// Opens, locks and writes the pidfile; the lock lives as long as the
    /// returned descriptor.
    /// - Throws: `Failure` when the pidfile cannot be opened or written, or
    ///   another process holds its lock.
    /// `lockPidfile()`, retried for up to `seconds` while another process
    /// (the one handing over) still holds the lock; `nil` (logged) when it
    /// never comes free.
    /// Takes the pidfile lock on a background thread once the process
    /// holding it (a predecessor that is still exiting) lets go, trying
    /// every 50 ms for up to 60 s; serving does not wait for it.
    func lockPidfileLater(into holder: LatePidfileLock) {
        DispatchQueue.global().async { [self] in
            for _ in 0..<1200 {
                if holder.isClosed { return }
                if let fd = try? lockPidfile() {
                    holder.keep(fd)
                    return
                }
                usleep(50_000)
            }
            logger.warning("serving without the pidfile \(pidfile): another process still holds it")
        }
    }

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

/// The pidfile lock taken after serving started (`lockPidfileLater`), closed
/// at exit.
final class LatePidfileLock: Sendable {
    private let state = Mutex<(fd: FileDescriptor?, closed: Bool)>((nil, false))

    /// Whether the daemon is exiting (no lock is to be taken any more).
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Keeps `fd`, or closes it at once when the daemon is already exiting.
    func keep(_ fd: FileDescriptor) {
        let late = state.withLock { s -> Bool in
            if s.closed { return true }
            s.fd = fd
            return false
        }
        if late { try? fd.close() }
    }

    /// Closes the lock (if taken) and stops further attempts.
    func close() {
        let fd = state.withLock { s -> FileDescriptor? in
            s.closed = true
            defer { s.fd = nil }
            return s.fd
        }
        try? fd?.close()
    }
}
