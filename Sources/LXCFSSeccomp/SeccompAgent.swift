import CLinux
import Logging
import LXCFSCore
import LXCFSSystem
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The seccomp agent: answers sysinfo(2) for containers whose seccomp
/// profile sends it to `SCMP_ACT_NOTIFY` with `listenerPath` set to the
/// agent's socket, with the figures the mount's files show the caller
/// (`ContainerView.systemInfo(for:)`).
///
/// Two threads of its own, never a FUSE worker's: one accepts runtimes on
/// the socket (`AgentSocket`) and keeps each listener descriptor they pass;
/// one waits on all listeners (epoll) and answers. A listener is closed
/// when the kernel reports POLLHUP on it: no task uses its filter any more
/// (the container is gone). Any failure on a call is answered with
/// SECCOMP_USER_NOTIF_FLAG_CONTINUE, so the caller gets the kernel's own
/// answer (host values, or EFAULT for a bad pointer).
package final class SeccompAgent: Sendable {
    /// The socket path.
    package let path: String
    let view: ContainerView
    let logger: Logger
    let socket: FileDescriptor
    /// The inode of the socket file this agent made.
    let socketInode: ino_t
    let epoll: Int32
    /// The listeners held, by the key epoll hands back.
    let listeners = Mutex<(next: UInt64, byKey: [UInt64: Held])>((1, [:]))
    /// Whether `stop` was called.
    let stopped = Atomic<Bool>(false)

    /// One listener and the container it came for.
    struct Held: Sendable {
        var listener: SeccompListener
        var container: String
    }

    init(path: String, view: ContainerView, logger: Logger, socket: FileDescriptor, socketInode: ino_t, epoll: Int32) {
        self.path = path
        self.view = view
        self.logger = logger
        self.socket = socket
        self.socketInode = socketInode
        self.epoll = epoll
    }

    /// Listens on `path` and starts the agent's two threads.
    /// - Parameter waitSeconds: how long to wait while another process
    ///   serves `path` (a predecessor that is handing over), polled every 100 ms.
    /// - Returns: the agent, or `nil` (one log line says why) when it cannot serve.
    package static func start(path: String, view: ContainerView, logger: Logger, waitSeconds: Int = 0) -> SeccompAgent? {
        let socket: FileDescriptor
        let inode: ino_t
        var attempts = 0
        while true {
            do throws(AgentSocket.Unusable) {
                (socket, inode) = try AgentSocket.listen(path)
                break
            } catch {
                if error.busy, attempts < waitSeconds * 10 {
                    attempts += 1
                    usleep(100_000)
                    continue
                }
                logger.warning("seccomp agent off: \(error)")
                return nil
            }
        }
        let epoll = clinux_epoll_create()
        guard epoll >= 0 else {
            logger.warning("seccomp agent off: epoll: \(String(cString: strerror(errno)))")
            try? socket.close()
            return nil
        }
        let agent = SeccompAgent(path: path, view: view, logger: logger, socket: socket, socketInode: inode, epoll: epoll)
        guard Threads.startDetached({ agent.acceptLoop() }), Threads.startDetached({ agent.answerLoop() }) else {
            logger.warning("seccomp agent off: cannot start its threads")
            try? socket.close()
            return nil
        }
        logger.info("seccomp agent listening", metadata: ["socket": "\(path)"])
        return agent
    }

    /// How many listener descriptors the agent holds (one per live filter).
    package var listenerCount: Int { listeners.withLock { $0.byKey.count } }

    /// Stops accepting runtimes and removes the socket file (when `removeSocket`
    /// and it is still this agent's). The held listeners stay open until
    /// the process exits.
    package func stop(removeSocket: Bool) {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(socket.rawValue, Int32(SHUT_RDWR))
        if removeSocket, AgentSocket.inode(path) == socketInode { unlink(path) }
    }

    // MARK: - Runtimes on the socket

    func acceptLoop() {
        _ = clinux_set_thread_name("seccomp-accept")
        while !stopped.load(ordering: .acquiring) {
            let accepted = accept(socket.rawValue, nil, nil)
            if accepted < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                    if errno == EMFILE || errno == ENFILE { usleep(100_000) }
                    continue
                }
                break
            }
            let client = FileDescriptor(rawValue: accepted)
            _ = fcntl(accepted, F_SETFD, FD_CLOEXEC)
            take(client)
            try? client.close()
        }
        try? socket.close()
    }

    /// Takes one runtime's message: a listener is kept, anything else is
    /// refused with one log line.
    func take(_ client: FileDescriptor) {
        _ = clinux_socket_timeout(client.rawValue, AgentSocket.peerTimeoutMilliseconds)
        guard let peer = AgentSocket.peer(client) else { return }
        guard peer.uid == 0 else {
            logger.warning("seccomp agent: refused pid \(peer.pid): uid \(peer.uid) is not root")
            return
        }
        let message: AgentSocket.Message
        do {
            message = try AgentSocket.readMessage(client) { ContainerProcessState.isWhole($0) }
        } catch {
            logger.warning("seccomp agent: refused pid \(peer.pid): \(error)")
            return
        }
        // A connection closed without a byte: a probe of the socket (a successor's).
        if message.bytes.isEmpty && message.descriptors.isEmpty { return }
        var kept: FileDescriptor?
        defer {
            for fd in message.descriptors where fd != kept { try? fd.close() }
        }
        let state: ContainerProcessState
        let index: Int
        do {
            (state, index) = try ContainerProcessState.decode(message.bytes, descriptorCount: message.descriptors.count)
        } catch {
            logger.warning("seccomp agent: refused pid \(peer.pid): \(error)")
            return
        }
        let fd = message.descriptors[index]
        guard SeccompListener.isListener(fd) else {
            logger.warning("seccomp agent: refused pid \(peer.pid): \(ContainerProcessState.listenerName) is not a seccomp listener")
            return
        }
        let container = state.state?.id ?? "pid \(state.pid)"
        let added = listeners.withLock { table -> Bool in
            let key = table.next
            guard clinux_epoll_add(epoll, fd.rawValue, CLINUX_EPOLLIN, key) == 0 else { return false }
            table.next += 1
            table.byKey[key] = Held(listener: SeccompListener(fd), container: container)
            return true
        }
        guard added else {
            logger.warning("seccomp agent: cannot watch the listener of \(container): \(String(cString: strerror(errno)))")
            return
        }
        kept = fd
        logger.info("seccomp agent: answering for \(container)", metadata: ["pid": "\(state.pid)"])
    }

    // MARK: - Notifications

    func answerLoop() {
        _ = clinux_set_thread_name("seccomp-answer")
        var keys = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while true {
            let n = clinux_epoll_wait(epoll, &keys, &events, 64, -1)
            if n < 0 {
                if errno == EINTR { continue }
                logger.error("seccomp agent: epoll_wait: \(String(cString: strerror(errno))); no more answers")
                return
            }
            for i in 0..<Int(n) {
                guard let held = listeners.withLock({ $0.byKey[keys[i]] }) else { continue }
                if events[i] & CLINUX_EPOLLIN != 0 {
                    serve(held.listener)
                } else if events[i] & (CLINUX_EPOLLHUP | CLINUX_EPOLLERR) != 0 {
                    release(keys[i])
                }
            }
        }
    }

    /// Closes the listener of a filter no task uses any more.
    func release(_ key: UInt64) {
        listeners.withLock { table in
            guard let held = table.byKey.removeValue(forKey: key) else { return }
            _ = clinux_epoll_del(epoll, held.listener.fd.rawValue)
            try? held.listener.fd.close()
            logger.debug("seccomp agent: \(held.container) is gone; listener closed")
        }
    }

    /// Receives one notification and answers it.
    func serve(_ listener: SeccompListener) {
        // ENOENT: the caller went away between the wake-up and the receive.
        guard let call = try? listener.receive() else { return }
        if let answered = answer(call, listener), answered { return }
        try? listener.letThrough(call.id)
    }

    /// Answers `call` when it is a sysinfo of the native architecture.
    /// - Returns: `true` when answered; `false` or `nil` when it must go on
    ///   to the kernel.
    func answer(_ call: SeccompListener.Notification, _ listener: SeccompListener) -> Bool? {
        guard SyscallTable.isSysinfo(arch: call.arch, nr: call.nr) else { return false }
        // The caller is resolved by its pid: only while the call is pending
        // is the pid the caller's, before and after the figures are read.
        guard listener.isPending(call.id) else { return nil }
        guard let figures = view.systemInfo(for: call.pid) else {
            logger.debug("seccomp agent: no view for pid \(call.pid); the kernel answers")
            return false
        }
        guard listener.isPending(call.id) else { return nil }
        guard CallerMemory.write(SysinfoLayout.encode(figures), to: call.args[0], of: call.pid) else {
            logger.debug("seccomp agent: cannot write pid \(call.pid)'s struct sysinfo; the kernel answers")
            return false
        }
        do {
            try listener.answer(call.id, value: 0)
        } catch {
            logger.debug("seccomp agent: pid \(call.pid) went away before its answer: \(error)")
        }
        return true
    }
}

/// The agent started on a thread of its own, so that a daemon that takes
/// over from a predecessor serves its mount at once while it waits for the
/// predecessor's socket to be let go (`SeccompAgent.start`'s `waitSeconds`).
package final class BackgroundSeccompAgent: Sendable {
    let state = Mutex<(agent: SeccompAgent?, stop: Bool?)>((nil, nil))

    /// Starts the agent on `path` on a thread of its own.
    package static func start(path: String, view: ContainerView, logger: Logger, waitSeconds: Int = 10) -> BackgroundSeccompAgent {
        let box = BackgroundSeccompAgent()
        Threads.startDetached {
            guard let agent = SeccompAgent.start(path: path, view: view, logger: logger, waitSeconds: waitSeconds) else { return }
            let removeSocket = box.state.withLock { s -> Bool? in
                s.agent = agent
                return s.stop
            }
            if let removeSocket { agent.stop(removeSocket: removeSocket) }
        }
        return box
    }

    /// The agent, once it listens.
    package var agent: SeccompAgent? { state.withLock { $0.agent } }

    /// Stops the agent (`SeccompAgent.stop`), now or as soon as it listens.
    package func stop(removeSocket: Bool) {
        let agent = state.withLock { s -> SeccompAgent? in
            s.stop = removeSocket
            return s.agent
        }
        agent?.stop(removeSocket: removeSocket)
    }
}
