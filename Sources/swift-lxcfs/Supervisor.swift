import ArgumentParser
import CLinux
import Logging
import LXCFSCore
import LXCFSFilesystem
import LXCFSLifecycle
import LXCFSMountInfo
import LXCFSSystem
import SystemPackage
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

    /// Runs until the final stop. Returns the process exit status.
    func run() -> Int32 {
        guard let executable = Self.ownExecutable() else {
            printError("cannot find this program's own executable (/proc/self/exe).")
            return 1
        }
        let signals: [Int32] = [SIGCHLD, SIGTERM, SIGINT, SIGHUP]
        let signalFD: FileDescriptor
        do throws(Errno) {
            signalFD = FileDescriptor(rawValue: try systemCall {
                signals.withUnsafeBufferPointer { clinux_signalfd($0.baseAddress, Int32($0.count)) }
            })
        } catch {
            printError("cannot watch signals: \(String(cString: strerror(error.rawValue))).")
            return 1
        }
        let token = UInt64.random(in: 1...UInt64.max)
        let socketName = "swift-lxcfs/supervise/\(getpid())/\(String(token, radix: 16))"
        var address = [UInt8](repeating: 0, count: 1) + Array(socketName.utf8)
        let notifyFD: FileDescriptor
        do throws(Errno) {
            notifyFD = FileDescriptor(rawValue: try systemCall {
                address.withUnsafeMutableBufferPointer { raw in
                    raw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) {
                        clinux_notify_socket($0, raw.count)
                    }
                }
            })
        } catch {
            printError("cannot open the notification socket: \(String(cString: strerror(error.rawValue))).")
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

    /// The I/O loop around `SupervisorPolicy`: it turns signals, datagrams
    /// and reaped children into events, and carries out the policy's actions.
    struct Loop {
        let config: Supervisor
        let executable: String
        let notifySocket: String
        /// The signalfd of SIGCHLD, SIGTERM, SIGINT and SIGHUP (non-blocking).
        let signalFD: FileDescriptor
        /// The bound notification socket the children's NOTIFY_SOCKET names.
        let notifyFD: FileDescriptor
        let policy: SupervisorPolicy
        var state: SupervisorPolicy.State
        var logger: Logger { config.logger }
        /// Set by `.finalCleanup` or `.exit`: the status to return.
        var finished: Int32?
        /// The served superblock (`major:minor`), as the last ready server
        /// left it at the mount point.
        var servedDevice: String?

        init(config: Supervisor, executable: String, notifySocket: String, signalFD: FileDescriptor, notifyFD: FileDescriptor) {
            self.config = config
            self.executable = executable
            self.notifySocket = notifySocket
            self.signalFD = signalFD
            self.notifyFD = notifyFD
            policy = SupervisorPolicy(mountPoint: config.mountPoint, takeover: config.takeover, ownUID: getuid())
            state = SupervisorPolicy.State(timing: policy.timing)
        }

        mutating func run() -> Int32 {
            while true {
                feed(.tick(now: Supervisor.now(), hungUp: hungUpStored()))
                if let finished { return finished }
                var fds = [pollfd(fd: signalFD.rawValue, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: notifyFD.rawValue, events: Int16(POLLIN), revents: 0)]
                var timeout: Int32 = -1
                if let limit = policy.waitLimit(state, now: Supervisor.now()) {
                    timeout = Int32((limit * 1000).rounded(.up))
                }
                if poll(&fds, 2, timeout) < 0 && errno != EINTR { return 1 }
                if fds[1].revents != 0 { receiveNotifications() }
                if fds[0].revents != 0 {
                    while true {
                        let signal = clinux_signalfd_read(signalFD.rawValue)
                        if signal < 0 { break }
                        switch signal {
                        case SIGCHLD: reap()
                        case SIGTERM, SIGINT: feed(.signal(.terminate, now: Supervisor.now()))
                        case SIGHUP: feed(.signal(.restart, now: Supervisor.now()))
                        default: break
                        }
                        if let finished { return finished }
                    }
                }
            }
        }

        /// Runs one event through the policy and carries out its actions.
        mutating func feed(_ event: SupervisorPolicy.Event) {
            let actions: [SupervisorPolicy.Action]
            (state, actions) = policy.reduce(state, event)
            for action in actions { perform(action) }
        }

        mutating func perform(_ action: SupervisorPolicy.Action) {
            switch action {
            case .start(let resumes, let tryTakeover):
                start(resumes: resumes, tryTakeover: tryTakeover)
            case .signal(let pid, let signal):
                switch signal {
                case .terminate: kill(pid, SIGTERM)
                case .handOver: kill(pid, SIGUSR2)
                case .kill: kill(pid, SIGKILL)
                }
            case .close(let fds):
                fds.forEach { try? $0.close() }
            case .log(let line):
                let metadata = line.metadata.mapValues { Logger.MetadataValue.string($0) }
                switch line.level {
                case .debug: logger.debug("\(line.message)", metadata: metadata)
                case .info: logger.info("\(line.message)", metadata: metadata)
                case .warning: logger.warning("\(line.message)", metadata: metadata)
                case .error: logger.error("\(line.message)", metadata: metadata)
                }
            case .noteServedDevice:
                if let top = MountInfo.top(at: config.mountPoint), top.fsType.hasPrefix("fuse") {
                    servedDevice = top.device
                }
            case .writeReadyFile(let pid):
                writeReadyFile(pid: pid)
            case .removeReadyFile:
                removeReadyFile()
            case .finalCleanup(let detachLeftMount, let status):
                finished = finalCleanup(detachLeftMount: detachLeftMount, status: status)
            case .exit(let status):
                finished = status
            }
        }

        /// The stored descriptors the kernel reports hung up or in error.
        func hungUpStored() -> Set<FileDescriptor> {
            var dead: Set<FileDescriptor> = []
            for entry in state.store {
                var p = pollfd(fd: entry.fd.rawValue, events: 0, revents: 0)
                if poll(&p, 1, 0) == 1, p.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 { dead.insert(entry.fd) }
            }
            return dead
        }

        /// Starts the server with `resumes`; with `--takeover` when asked and
        /// a swift-lxcfs answers on the takeover socket.
        mutating func start(resumes passed: [SupervisorPolicy.Stored], tryTakeover: Bool) {
            var arguments = config.serverArguments
            if tryTakeover {
                // Only where a swift-lxcfs serves the mount point: without a
                // takeover socket the first server mounts anew.
                if TakeoverSocket.hasListener(mountPoint: config.mountPoint) {
                    arguments.insert("--takeover", at: 0)
                } else {
                    logger.info("no takeover socket answers for \(config.mountPoint); mounting afresh")
                }
            }
            var environment: [String] = []
            for (key, value) in Self.environment() where !Self.replaced.contains(key) {
                environment.append("\(key)=\(value)")
            }
            environment.append("NOTIFY_SOCKET=\(notifySocket)")
            if !passed.isEmpty {
                environment.append("LISTEN_FDS=\(passed.count)")
                environment.append("LISTEN_FDNAMES=\(passed.map(\.name).joined(separator: ":"))")
            }
            let pid: pid_t
            do throws(Errno) {
                // The child's own pid goes into LISTEN_PID (see startSettingListenPID).
                pid = passed.isEmpty
                    ? try Spawn.start(executable, arguments: [executable] + arguments, environment: environment,
                                      closingOthers: true)
                    : try Spawn.startSettingListenPID(executable, arguments: [executable] + arguments,
                                                      environment: environment, passing: passed.map(\.fd))
            } catch {
                logger.error("cannot start the server: \(String(cString: strerror(error.rawValue)))")
                feed(.startFailed(now: Supervisor.now()))
                return
            }
            feed(.started(pid: pid, now: Supervisor.now()))
            logger.info("started the server", metadata: [
                "pid": "\(pid)", "resumes": "\(passed.map(\.name).joined(separator: ","))",
                "takeover": "\(arguments.first == "--takeover")"])
        }

        /// Reads every waiting datagram on the notification socket.
        mutating func receiveNotifications() {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let received: DescriptorPassing.Received
                do {
                    received = try buffer.withUnsafeMutableBytes { b in Result { () throws(Errno) in
                        try DescriptorPassing.receive(notifyFD, into: b, maxDescriptors: 16,
                                                      flags: Int32(MSG_DONTWAIT) | Int32(MSG_TRUNC))
                    } }.get()
                } catch {
                    if error == .resourceTemporarilyUnavailable || error == .wouldBlock { return }
                    logger.warning("a notification was cut or unreadable: \(String(cString: strerror(error.rawValue)))")
                    continue
                }
                guard !received.truncated, received.count <= buffer.count else {
                    received.descriptors.forEach { try? $0.close() }
                    logger.warning("a notification was cut or unreadable: \(String(cString: strerror(EMSGSIZE)))")
                    continue
                }
                let text = String(decoding: buffer[..<received.count], as: UTF8.self)
                let sender = received.sender ?? (pid: 0, uid: UInt32.max)
                feed(.notification(NotifyMessage.parse(text), pid: sender.pid, uid: sender.uid,
                                   descriptors: received.descriptors))
            }
        }

        /// Collects every exited child; the policy decides what comes next.
        mutating func reap() {
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 { return }
                guard pid == state.child else { continue }
                receiveNotifications()  // what it sent just before it ended
                feed(.childExited(pid: pid, .init(waitStatus: status), now: Supervisor.now(), hungUp: hungUpStored()))
                if finished != nil { return }
            }
        }

        /// After the final stop: no mount without a server (which would
        /// answer ENOTCONN) is left. Returns the exit status.
        mutating func finalCleanup(detachLeftMount: Bool, status: Int32) -> Int32 {
            var status = status
            if detachLeftMount, let type = MountInfo.top(at: config.mountPoint)?.fsType, type.hasPrefix("fuse") {
                logger.warning("the server left its mount; detaching it", metadata: ["mountpoint": "\(config.mountPoint)"])
                do {
                    try Unmount.detach(config.mountPoint)
                } catch {
                    logger.error("cannot detach \(config.mountPoint): \(String(cString: strerror(error.rawValue)))")
                    status = 1
                }
            }
            if !detachInHostNamespace() { status = 1 }
            return status
        }
    }
}
