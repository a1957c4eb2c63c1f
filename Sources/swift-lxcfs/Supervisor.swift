import ArgumentParser
import CLinux
import Logging
import LXCFSCore
import LXCFSFilesystem
import LXCFSMountInfo
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `swift-lxcfs supervise`: holds the FUSE connection's descriptors for a
/// server it runs as its child, and starts the server again when it dies,
/// so that the mount outlives any one server process.
///
/// It speaks systemd's fd-store protocol to the child, exactly as systemd
/// would (sd_notify(3), sd_listen_fds(3)): the child gets `NOTIFY_SOCKET`
/// naming a datagram socket of the supervisor's and sends `FDSTORE=1` +
/// `FDNAME=NAME` with descriptors (SCM_RIGHTS), `FDSTOREREMOVE=1` +
/// `FDNAME=NAME` and `READY=1` there; the next child is started with the
/// stored descriptors at 3, 4, ..., `LISTEN_FDS`, `LISTEN_FDNAMES` and
/// `LISTEN_PID` set to its own pid. Only datagrams from the current child's
/// pid are taken.
///
/// It never parses a FUSE request, reads no cgroup and runs one thread.
///
/// What ends the child, and what the supervisor does then:
/// - killed by a signal or a non-zero exit: started again, after 100 ms;
///   a child that dies within 1 s of its start waits twice as long as the
///   one before (up to 8 s), so a crash loop does not spin;
/// - exit 0 after the supervisor's SIGHUP (it sent the child SIGUSR2, the
///   hand-over stop): started again at once, from the store;
/// - exit 0 with an empty store (the child stopped finally, unmounted and
///   sent FDSTOREREMOVE): the supervisor exits 0;
/// - exit 0 with descriptors still stored, unasked: when the stored `fuse`
///   connection is still alive, it was taken over by `--takeover`: the
///   supervisor closes its copies and waits for SIGTERM or SIGINT, then
///   exits 0 without touching the mount; when the kernel has ended it (the
///   mount was unmounted from outside), the supervisor exits 0. It waits rather than exits because a Kubernetes or Docker
///   restart policy would start a container that exited again, and that
///   container would take the connection back from its successor.
/// SIGTERM or SIGINT to the supervisor is the final stop: SIGTERM to the
/// child, which unmounts; if it does not exit 0 within 20 s (or no child
/// runs), the supervisor detaches the mount itself, so that no dead mount
/// is left behind, and exits 0 (1 if the child had to be killed).
struct Supervisor {
    /// The server's own command line (options and mount point), passed on.
    let serverArguments: [String]
    /// The mount point the child serves (from `serverArguments`).
    let mountPoint: String
    /// Whether the first child gets `--takeover`.
    let takeover: Bool
    /// A file written with the serving child's pid on its READY=1 and
    /// removed when that child ends; `nil`: none.
    let readyFile: String?
    let logger: Logger

    /// One stored descriptor and its `FDNAME`.
    struct Stored {
        let name: String
        let fd: Int32
    }

    /// Most descriptors kept at once; more are closed (systemd's
    /// FileDescriptorStoreMax= plays this part there).
    static let storeMax = 16
    static let stopTimeout = 20.0
    static let firstDelay = 0.1
    static let longestDelay = 8.0
    /// A child that lived at least this long restarts after `firstDelay`.
    static let healthyRun = 1.0

    enum Phase {
        /// A child runs (or is about to be started at `restartAt`).
        case serving
        /// Final stop asked: the child was sent SIGTERM at this time.
        case stopping(since: Double)
        /// The connection went to another process: idle until SIGTERM/SIGINT.
        case handedOver
    }

    /// Runs until the final stop. Returns the process exit status.
    func run() -> Int32 {
        guard let executable = Self.ownExecutable() else {
            printError("cannot find this program's own executable (/proc/self/exe).")
            return 1
        }
        let signals: [Int32] = [SIGCHLD, SIGTERM, SIGINT, SIGHUP]
        let signalFD = signals.withUnsafeBufferPointer { clinux_signalfd($0.baseAddress, Int32($0.count)) }
        guard signalFD >= 0 else {
            printError("cannot watch signals: \(String(cString: strerror(errno))).")
            return 1
        }
        let token = UInt64.random(in: 1...UInt64.max)
        let socketName = "swift-lxcfs/supervise/\(getpid())/\(String(token, radix: 16))"
        var address = [UInt8](repeating: 0, count: 1) + Array(socketName.utf8)
        let notifyFD = address.withUnsafeMutableBufferPointer { raw in
            raw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) {
                clinux_notify_socket($0, raw.count)
            }
        }
        guard notifyFD >= 0 else {
            printError("cannot open the notification socket: \(String(cString: strerror(errno))).")
            return 1
        }
        var loop = Loop(config: self, executable: executable, notifySocket: "@" + socketName,
                        signalFD: signalFD, notifyFD: notifyFD)
        return loop.run()
    }

    /// The path this process was started from, so that a restart runs the
    /// same program (`/proc/self/exe`'s target; a replaced file runs the new one).
    /// `SWIFT_LXCFS_SERVER`, when set, names another server program (the
    /// tests' stand-in that speaks the protocol without FUSE).
    static func ownExecutable() -> String? {
        if let other = getenv("SWIFT_LXCFS_SERVER"), other.pointee != 0 { return String(cString: other) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        var path = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if path.hasSuffix(" (deleted)") { path = "/proc/self/exe" }
        return path
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The event loop's state: one child, the store, the signals.
    struct Loop {
        let config: Supervisor
        let executable: String
        let notifySocket: String
        let signalFD: Int32
        let notifyFD: Int32
        var logger: Logger { config.logger }

        var store: [Stored] = []
        var phase = Phase.serving
        var child: pid_t = 0
        var childStarted = 0.0
        var childReady = false
        var restartAt: Double? = 0
        var delay = Supervisor.firstDelay
        var restartAsked = false
        var firstChild = true
        var exitStatus: Int32 = 0
        /// Whether the last child ended with exit 0 during a final stop.
        var stoppedCleanly = false
        /// The served superblock (`major:minor`), as the last ready server
        /// left it at the mount point.
        var servedDevice: String?

        init(config: Supervisor, executable: String, notifySocket: String, signalFD: Int32, notifyFD: Int32) {
            self.config = config
            self.executable = executable
            self.notifySocket = notifySocket
            self.signalFD = signalFD
            self.notifyFD = notifyFD
        }

        mutating func run() -> Int32 {
            while true {
                if case .serving = phase, child == 0, let at = restartAt, Supervisor.now() >= at {
                    restartAt = nil
                    start()
                }
                if case .stopping(let since) = phase, child != 0, Supervisor.now() - since >= Supervisor.stopTimeout {
                    logger.error("the server did not stop within \(Int(Supervisor.stopTimeout)) s; killing it",
                                 metadata: ["pid": "\(child)"])
                    kill(child, SIGKILL)
                    exitStatus = 1
                    phase = .stopping(since: .infinity)
                }
                if case .stopping = phase, child == 0 {
                    finalCleanup()
                    return exitStatus
                }
                var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: notifyFD, events: Int16(POLLIN), revents: 0)]
                var timeout: Int32 = -1
                if case .serving = phase, child == 0, let at = restartAt {
                    timeout = Int32(max(0, (at - Supervisor.now()) * 1000).rounded(.up))
                } else if case .stopping(let since) = phase, since.isFinite {
                    timeout = Int32(max(0, (since + Supervisor.stopTimeout - Supervisor.now()) * 1000).rounded(.up))
                }
                if poll(&fds, 2, timeout) < 0 && errno != EINTR { return 1 }
                if fds[1].revents != 0 { receiveNotifications() }
                if fds[0].revents != 0 {
                    while true {
                        let signal = clinux_signalfd_read(signalFD)
                        if signal < 0 { break }
                        if let status = handle(signal: signal) { return status }
                    }
                }
            }
        }

        /// Starts the server with the store's descriptors.
        mutating func start() {
            var arguments = config.serverArguments
            if firstChild && config.takeover {
                // Only where a swift-lxcfs serves the mount point: without a
                // takeover socket the first server mounts afresh.
                if TakeoverSocket.hasListener(mountPoint: config.mountPoint) {
                    arguments.insert("--takeover", at: 0)
                } else {
                    logger.info("no takeover socket answers for \(config.mountPoint); mounting afresh")
                }
            }
            firstChild = false
            dropDeadDescriptors()
            var environment: [String] = []
            for (key, value) in Self.environment() where !Self.replaced.contains(key) {
                environment.append("\(key)=\(value)")
            }
            environment.append("NOTIFY_SOCKET=\(notifySocket)")
            let passed = store
            if !passed.isEmpty {
                environment.append("LISTEN_FDS=\(passed.count)")
                environment.append("LISTEN_FDNAMES=\(passed.map(\.name).joined(separator: ":"))")
            }
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            var envp = environment.map { strdup($0) }
            // LISTEN_PID=, with room for the pid the child writes after fork.
            var slot: UnsafeMutablePointer<CChar>?
            if !passed.isEmpty, let entry = calloc(64, 1)?.assumingMemoryBound(to: CChar.self) {
                strcpy(entry, "LISTEN_PID=")
                slot = entry + strlen(entry)
                envp.append(entry)
            }
            envp.append(nil)
            defer {
                argv.forEach { free($0) }
                envp.forEach { free($0) }
            }
            let descriptors = passed.map(\.fd)
            let pid = descriptors.withUnsafeBufferPointer { fds in
                clinux_spawn(executable, argv, envp, fds.baseAddress, Int32(fds.count), slot)
            }
            guard pid > 0 else {
                logger.error("cannot start the server: \(String(cString: strerror(errno)))")
                scheduleRestart(crashed: true)
                return
            }
            child = pid
            childStarted = Supervisor.now()
            childReady = false
            logger.info("started the server", metadata: [
                "pid": "\(pid)", "resumes": "\(passed.map(\.name).joined(separator: ","))",
                "takeover": "\(arguments.first == "--takeover")"])
        }

        /// Closes stored descriptors the kernel reports hung up or in error
        /// (a FUSE connection that was aborted or unmounted), as systemd does.
        mutating func dropDeadDescriptors() {
            var kept: [Stored] = []
            for entry in store {
                var p = pollfd(fd: entry.fd, events: 0, revents: 0)
                if poll(&p, 1, 0) == 1, p.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                    logger.warning("dropping a dead stored descriptor", metadata: ["name": "\(entry.name)"])
                    close(entry.fd)
                } else {
                    kept.append(entry)
                }
            }
            store = kept
        }

        /// Reads every waiting datagram on the notification socket.
        mutating func receiveNotifications() {
            var buffer = [CChar](repeating: 0, count: 4097)
            var fds = [Int32](repeating: -1, count: 16)
            while true {
                var nfds: Int32 = 0
                var pid: pid_t = 0
                var uid: uid_t = 0
                let n = clinux_recv_notify(notifyFD, &buffer, buffer.count - 1, &fds, Int32(fds.count), &nfds, &pid, &uid)
                if n < 0 {
                    if errno == EAGAIN || errno == EWOULDBLOCK { return }
                    logger.warning("a notification was cut or unreadable: \(String(cString: strerror(errno)))")
                    continue
                }
                let received = Array(fds[..<Int(nfds)])
                guard child != 0, pid == child, uid == 0 || uid == getuid() else {
                    received.forEach { close($0) }
                    logger.debug("ignored a notification", metadata: ["from": "\(pid)"])
                    continue
                }
                let text = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                apply(text, descriptors: received)
            }
        }

        /// Applies one datagram of `KEY=VALUE` lines.
        mutating func apply(_ text: String, descriptors: [Int32]) {
            var fields: [Substring: Substring] = [:]
            for line in text.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                fields[line[..<eq]] = line[line.index(after: eq)...]
            }
            let name = fields["FDNAME"].map(String.init) ?? "stored"
            var taken = false
            if fields["FDSTOREREMOVE"] == "1" {
                store.removeAll { entry in
                    guard entry.name == name else { return false }
                    close(entry.fd)
                    return true
                }
                logger.debug("removed from the store", metadata: ["name": "\(name)"])
            }
            if fields["FDSTORE"] == "1", !descriptors.isEmpty,
               name.utf8.count <= 255, !name.contains(":"), name.allSatisfy({ $0.isASCII && !$0.isWhitespace }) {
                store.removeAll { entry in
                    guard entry.name == name else { return false }
                    close(entry.fd)
                    return true
                }
                for fd in descriptors {
                    if store.count < Supervisor.storeMax {
                        store.append(Stored(name: name, fd: fd))
                    } else {
                        close(fd)
                        logger.warning("the store is full; a descriptor was closed", metadata: ["name": "\(name)"])
                    }
                }
                taken = true
                logger.debug("stored", metadata: ["name": "\(name)", "count": "\(descriptors.count)"])
            }
            if !taken { descriptors.forEach { close($0) } }
            if fields["READY"] == "1", !childReady {
                childReady = true
                if let top = MountInfo.top(at: config.mountPoint), top.fsType.hasPrefix("fuse") {
                    servedDevice = top.device
                }
                logger.info("the server is ready", metadata: ["pid": "\(child)"])
                writeReadyFile()
            }
        }

        /// Handles one signal; returns an exit status when the supervisor is done.
        mutating func handle(signal: Int32) -> Int32? {
            switch signal {
            case SIGCHLD:
                reap()
            case SIGTERM, SIGINT:
                switch phase {
                case .handedOver:
                    logger.info("stopping; the connection was handed over, the mount is left as it is")
                    return 0
                case .stopping:
                    break
                case .serving:
                    logger.info("final stop", metadata: ["mountpoint": "\(config.mountPoint)"])
                    phase = .stopping(since: Supervisor.now())
                    if child != 0 { kill(child, SIGTERM) }
                }
            case SIGHUP:
                if case .serving = phase, child != 0, !restartAsked {
                    logger.info("restarting the server (hand-over stop)", metadata: ["pid": "\(child)"])
                    restartAsked = true
                    kill(child, SIGUSR2)
                }
            default:
                break
            }
            return nil
        }

        /// Collects every exited child and decides what comes next.
        mutating func reap() {
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 { return }
                guard pid == child else { continue }
                receiveNotifications()  // what it sent just before it ended
                child = 0
                removeReadyFile()
                let exitedZero = status & 0x7f == 0 && (status >> 8) & 0xff == 0
                let what = status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
                let asked = restartAsked
                restartAsked = false
                switch phase {
                case .stopping:
                    logger.info("the server stopped", metadata: ["pid": "\(pid)", "how": "\(what)"])
                    stoppedCleanly = exitedZero
                    if !exitedZero { exitStatus = 1 }
                case .handedOver:
                    break
                case .serving:
                    if exitedZero && asked {
                        logger.info("the server handed over; starting it again", metadata: ["pid": "\(pid)"])
                        delay = Supervisor.firstDelay
                        restartAt = 0
                    } else if exitedZero && store.isEmpty {
                        logger.info("the server stopped and unmounted; exiting", metadata: ["pid": "\(pid)"])
                        stoppedCleanly = true
                        phase = .stopping(since: .infinity)
                    } else if exitedZero {
                        dropDeadDescriptors()
                        let connectionAlive = store.contains { $0.name == "fuse" }
                        store.forEach { close($0.fd) }
                        store.removeAll()
                        if connectionAlive {
                            logger.info("the server handed the connection over; releasing it and waiting for a stop signal",
                                        metadata: ["pid": "\(pid)"])
                            phase = .handedOver
                        } else {
                            // Unmounted from outside: the kernel ended the connection.
                            logger.info("the server's connection has ended; exiting", metadata: ["pid": "\(pid)"])
                            stoppedCleanly = true
                            phase = .stopping(since: .infinity)
                        }
                    } else {
                        logger.error("the server died; starting it again", metadata: [
                            "pid": "\(pid)", "how": "\(what)", "stored": "\(store.map(\.name).joined(separator: ","))"])
                        scheduleRestart(crashed: true)
                    }
                }
            }
        }

        /// Sets when the next child starts: `firstDelay` after a child that
        /// ran at least `healthyRun`, else twice the last delay (at most `longestDelay`).
        mutating func scheduleRestart(crashed: Bool) {
            let lived = Supervisor.now() - childStarted
            if lived >= Supervisor.healthyRun {
                delay = Supervisor.firstDelay
            } else {
                delay = min(delay * 2, Supervisor.longestDelay)
            }
            restartAt = Supervisor.now() + delay
        }

        /// After the final stop: nothing stored stays open, and no mount
        /// without a server (which would answer ENOTCONN) is left.
        mutating func finalCleanup() {
            // The server unmounts on a final stop that it finishes (exit 0) and
            // removes what it stored; anything else may leave its mount behind.
            let held = !store.isEmpty || !stoppedCleanly
            store.forEach { close($0.fd) }
            store.removeAll()
            removeReadyFile()
            defer { detachInHostNamespace() }
            if held, let type = MountInfo.top(at: config.mountPoint)?.fsType, type.hasPrefix("fuse") {
                logger.warning("the server left its mount; detaching it", metadata: ["mountpoint": "\(config.mountPoint)"])
                if umount2(config.mountPoint, Int32(MNT_DETACH)) != 0 {
                    logger.error("cannot detach \(config.mountPoint): \(String(cString: strerror(errno)))")
                    exitStatus = 1
                }
            }
        }

        /// After a final stop: detaches, in the host's mount namespace,
        /// every FUSE mount of the served superblock still there. A server
        /// in a container unmounts in its own namespace, and that reaches the
        /// host only through mount propagation, which fails when the
        /// container's volume is itself a bind of the FUSE mount (a container
        /// started with its volume on a mount that already served, as after
        /// a takeover): the host would keep a dead mount, and a dead mount at
        /// a hostPath keeps the next pod from starting. The host's namespace
        /// is that of the nearest ancestor process in another mount
        /// namespace (the container runtime's shim, with the host's pids),
        /// else pid 1's; nothing is done where there is none.
        mutating func detachInHostNamespace() {
            guard let device = servedDevice else { return }
            guard let host = Self.hostNamespaceProcess(),
                  let bytes = HostRoot().read("/proc/\(host)/mountinfo", sizeHint: 65536) else {
                logger.debug("no other mount namespace to clean up", metadata: ["device": "\(device)"])
                return
            }
            let targets = MountInfo.entries(bytes[...])
                .filter { $0.device == device && $0.fsType.hasPrefix("fuse") }
                .map(\.mountPoint)
            guard !targets.isEmpty else { return }
            let nsFD = open("/proc/\(host)/ns/mnt", O_RDONLY | O_CLOEXEC)
            guard nsFD >= 0, clinux_setns(nsFD, CLINUX_CLONE_NEWNS) == 0 else {
                logger.error("cannot enter the host's mount namespace to detach \(targets.joined(separator: ", ")): \(String(cString: strerror(errno)))")
                if nsFD >= 0 { close(nsFD) }
                exitStatus = 1
                return
            }
            close(nsFD)
            for target in targets.sorted(by: { $0.count > $1.count }) {
                if umount2(target, Int32(MNT_DETACH)) == 0 {
                    logger.info("detached the mount in the host's mount namespace", metadata: ["mountpoint": "\(target)"])
                } else {
                    logger.error("cannot detach \(target) in the host's mount namespace: \(String(cString: strerror(errno)))")
                    exitStatus = 1
                }
            }
        }

        /// The nearest ancestor whose mount namespace differs from this
        /// process's (and can be read), else pid 1 when its differs; `nil`
        /// when every readable one is this namespace.
        static func hostNamespaceProcess() -> pid_t? {
            guard let own = namespace(of: "self") else { return nil }
            var pid = getppid()
            var steps = 0
            while pid > 1 && steps < 64 {
                if let ns = namespace(of: "\(pid)"), ns != own { return pid }
                guard let stat = HostRoot().read("/proc/\(pid)/stat"),
                      let close = stat.lastIndex(of: UInt8(ascii: ")")) else { break }
                let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
                guard fields.count > 1, let parent = Int32(String(decoding: fields[1], as: UTF8.self)) else { break }
                pid = parent
                steps += 1
            }
            if let ns = namespace(of: "1"), ns != own { return 1 }
            return nil
        }

        /// `/proc/PID/ns/mnt`'s target, such as `mnt:[4026531841]`.
        static func namespace(of pid: String) -> String? {
            var buffer = [CChar](repeating: 0, count: 64)
            let n = readlink("/proc/\(pid)/ns/mnt", &buffer, 63)
            guard n > 0 else { return nil }
            return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        func writeReadyFile() {
            guard let path = config.readyFile else { return }
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                logger.warning("cannot write the ready file \(path): \(String(cString: strerror(errno)))")
                return
            }
            let line = Array("\(child)\n".utf8)
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }

        func removeReadyFile() {
            if let path = config.readyFile { unlink(path) }
        }

        /// Variables the supervisor sets for its child itself, or leaves out:
        /// the child's fd-store protocol is with this supervisor only, and
        /// INVOCATION_ID would tell the server it runs under systemd.
        static let replaced: Set<String> = ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "INVOCATION_ID"]

        static func environment() -> [(String, String)] {
            var out: [(String, String)] = []
            var pointer = environ
            while let entry = pointer.pointee {
                let s = String(cString: entry)
                if let eq = s.firstIndex(of: "=") {
                    out.append((String(s[..<eq]), String(s[s.index(after: eq)...])))
                }
                pointer += 1
            }
            return out
        }
    }
}

/// `swift-lxcfs supervise [--takeover] [--ready-file FILE] [OPTIONS] [MOUNTPOINT]`:
/// runs the server (`swift-lxcfs [OPTIONS] [MOUNTPOINT]`) as a child and
/// holds its FUSE connection across the child's crashes and restarts
/// (see `Supervisor`). The server's options are checked here, then passed on.
struct Supervise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervise",
        abstract: "Run the server and start it again when it dies, holding the FUSE connection meanwhile.",
        usage: "swift-lxcfs supervise [--takeover] [--ready-file FILE] [OPTIONS] [MOUNTPOINT]",
        discussion: """
            Runs 'swift-lxcfs [OPTIONS] [MOUNTPOINT]' and starts it again when it dies, holding \
            the FUSE connection's descriptors meanwhile, so the mount and the bind mounts made \
            from it keep working. OPTIONS are the server's (see 'swift-lxcfs serve --help').

            SIGTERM or SIGINT: final stop (the server unmounts). SIGHUP: restart the server \
            without unmounting. A server that hands the connection over (--takeover from \
            elsewhere) leaves this supervisor idle until SIGTERM; it then exits 0 and leaves \
            the mount to its successor.
            """
    )

    @Flag(name: .customLong("takeover"), help: "The first server takes the connection over from the swift-lxcfs that serves MOUNTPOINT now (a live upgrade).")
    var takeover = false

    @Option(name: .customLong("ready-file"), help: ArgumentHelp("Written with the serving child's pid once it is ready, removed when it stops (for a readiness probe).", valueName: "FILE"))
    var readyFile: String?

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The server's options and mount point, passed on as they are.", valueName: "OPTIONS"))
    var serverArguments: [String] = []

    /// The server's command line, checked as `serve` parses it.
    var server: Serve {
        get throws { try Serve.parse(serverArguments) }
    }

    func validate() throws {
        let parsed: Serve
        do {
            parsed = try server
        } catch {
            throw ValidationError(SwiftLXCFS.sentence(for: error))
        }
        guard parsed.mountpoint.hasPrefix("/") else {
            throw ValidationError("the mount point \(parsed.mountpoint) must be an absolute path")
        }
    }

    func run() throws {
        let parsed = try server
        let logger = makeLogger(debug: parsed.debug)
        let status = Supervisor(serverArguments: serverArguments, mountPoint: parsed.mountpoint, takeover: takeover,
                                readyFile: readyFile, logger: logger).run()
        if status != 0 { throw ExitCode(status) }
    }
}
