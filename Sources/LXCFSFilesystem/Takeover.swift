import CFuse3
import LXCFSLifecycle
import LXCFSSystem
import SystemPackage
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The live-upgrade socket: every serving process listens on a unix
/// socket (SOCK_SEQPACKET) whose path is derived from the mount point, and
/// `swift-lxcfs --takeover` asks there for the connection.
///
/// The exchange, one message each:
///
///     new -> old   swift-lxcfs takeover 1
///     old -> new   swift-lxcfs handover 1      + SCM_RIGHTS [fuse, state]
///                  (the old one has stopped reading requests and answered
///                  those in flight)
///     new -> old   ok        (the descriptors serve the mount point) | abort
///     old -> new   bye       (the old one has closed its socket and exits 0)
///
/// The old process commits only on `ok`, the new one only on `bye` (or
/// when the old one is gone), so two processes never serve one
/// connection. On `abort`, a timeout or a closed socket the old process
/// queues its requests again (FUSE_NOTIFY_RESEND) and serves on.
/// Only root (SO_PEERCRED uid 0) may use it, on either side; the directory
/// is 0700, the socket 0600.
public enum TakeoverSocket {
    /// The directory of the sockets (a hostPath in the DaemonSet).
    public static let directory = "/run/swift-lxcfs"

    /// The socket path of a mount point: `/run/swift-lxcfs/` and the
    /// path (`resolvedMountPoint`) with `/` as `-` (as systemd escapes paths; other bytes
    /// than `[A-Za-z0-9_.]` as `_xx` hex), `.sock`; a path too long for a
    /// socket address as `h-` and its 64-bit FNV-1a hash in hex.
    /// `/var/lib/lxcfs` is `/run/swift-lxcfs/var-lib-lxcfs.sock`.
    public static func path(forMountPoint mountPoint: String) -> String {
        let resolved = resolvedMountPoint(mountPoint)
        let trimmed = resolved.utf8.split(separator: UInt8(ascii: "/"))
        var name = ""
        for (i, part) in trimmed.enumerated() {
            if i > 0 { name += "-" }
            for b in part {
                switch b {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."):
                    name.unicodeScalars.append(UnicodeScalar(b))
                default:
                    name += "_" + (b < 16 ? "0" : "") + String(b, radix: 16)
                }
            }
        }
        if name.isEmpty { name = "-" }
        let full = directory + "/" + name + ".sock"
        if full.utf8.count < 100 { return full }
        return directory + "/h-" + String(NodeTable.id(of: resolved), radix: 16) + ".sock"
    }

    /// A socket address for `path`.
    static func address(_ path: String) -> (sockaddr_un, socklen_t)? {
        UnixSocketAddress.make(path)
    }

    /// Connects to `path`; returns the socket or the errno.
    static func connect(_ path: String) -> Result<FileDescriptor, FSErrno> {
        guard let (address, length) = address(path) else { return .failure(FSErrno(ENAMETOOLONG)) }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(FSErrno(errno)) }
        var a = address
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) } }
        if rc != 0 {
            let e = errno
            close(fd)
            return .failure(FSErrno(e))
        }
        return .success(FileDescriptor(rawValue: fd))
    }

    /// Whether a process listens on the socket of `mountPoint`: connects
    /// and closes without sending anything, which the listener logs at
    /// debug level only.
    public static func hasListener(mountPoint: String) -> Bool {
        guard case .success(let fd) = connect(path(forMountPoint: mountPoint)) else { return false }
        try? fd.close()
        return true
    }

    /// Sends one message (one packet) with `fds` as SCM_RIGHTS.
    static func send(_ fd: FileDescriptor, _ message: TakeoverMessage, fds: [FileDescriptor] = []) -> Bool {
        let bytes = message.bytes
        let sent = try? DescriptorPassing.send(fd, bytes, descriptors: fds)
        return sent == bytes.count
    }

    /// One packet and up to 4 descriptors; `nil` on error, timeout or end.
    /// `message` is `nil` when the packet is no `TakeoverMessage`; `text` is its bytes as UTF-8.
    static func receive(_ fd: FileDescriptor) -> (message: TakeoverMessage?, text: String, fds: [FileDescriptor])? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let received = buffer.withUnsafeMutableBytes { b in
            try? DescriptorPassing.receive(fd, into: b, maxDescriptors: 4)
        }
        guard let received else { return nil }
        let got = received.descriptors
        let n = min(received.count, buffer.count)
        guard n > 0 else {
            got.forEach { try? $0.close() }
            return nil
        }
        return (TakeoverMessage(packet: buffer[..<n]), String(decoding: buffer[..<n], as: UTF8.self), got)
    }

    /// The peer's uid and pid.
    static func peer(_ fd: FileDescriptor) -> (uid: uid_t, pid: pid_t)? {
        var uid: uid_t = 0
        var pid: pid_t = 0
        guard cfuse3_peer_credentials(fd.rawValue, &uid, &pid) == 0 else { return nil }
        return (uid, pid)
    }
}

/// The serving side of the takeover socket: a thread that accepts one
/// request at a time, checks it and hands it to the serving thread.
public final class TakeoverListener: @unchecked Sendable {
    /// The socket path.
    public let path: String
    /// The listening socket.
    let fd: FileDescriptor
    let logger: Logger
    /// The client socket of a valid request not yet taken.
    private let pending = Mutex<FileDescriptor?>(nil)

    private init(path: String, fd: FileDescriptor, logger: Logger) {
        self.path = path
        self.fd = fd
        self.logger = logger
    }

    /// Creates the directory (0700) and listens on the socket of
    /// `mountPoint` (0600), replacing a stale socket file nobody listens on.
    /// - Returns: the listener, or `nil` (logged) when it cannot listen.
    public static func listen(mountPoint: String, logger: Logger) -> TakeoverListener? {
        let path = TakeoverSocket.path(forMountPoint: mountPoint)
        if mkdir(TakeoverSocket.directory, 0o700) != 0 && errno != EEXIST {
            logger.warning("no takeover socket: cannot create \(TakeoverSocket.directory): \(String(cString: strerror(errno)))")
            return nil
        }
        chmod(TakeoverSocket.directory, 0o700)
        switch TakeoverSocket.connect(path) {
        case .success(let other):
            try? other.close()
            logger.warning("no takeover socket: another process listens on \(path)")
            return nil
        case .failure:
            unlink(path)
        }
        guard let (address, length) = TakeoverSocket.address(path) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let old = umask(0o177)
        var a = address
        let bound = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        umask(old)
        guard bound == 0, chmod(path, 0o600) == 0, Glibc.listen(fd, 4) == 0 else {
            logger.warning("no takeover socket: cannot listen on \(path): \(String(cString: strerror(errno)))")
            Glibc.close(fd)
            return nil
        }
        return TakeoverListener(path: path, fd: FileDescriptor(rawValue: fd), logger: logger)
    }

    /// Accepts requests on a thread of its own; a valid one is held for
    /// `takePending()` and `notify` (which wakes the serving thread) is called.
    public func start(notify: @escaping @Sendable () -> Void) {
        Threads.startDetached { [self] in
            while true {
                let accepted = accept(fd.rawValue, nil, nil)
                if accepted < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                let client = FileDescriptor(rawValue: accepted)
                _ = fcntl(client.rawValue, F_SETFD, FD_CLOEXEC)
                _ = cfuse3_socket_timeout(client.rawValue, 5000)
                guard let peer = TakeoverSocket.peer(client), peer.uid == 0 else {
                    logger.warning("takeover refused: the process on \(path) is not root")
                    try? client.close()
                    continue
                }
                guard let message = TakeoverSocket.receive(client) else {
                    // Connected and left without a word (or silent for 5 s): a new
                    // supervisor or daemon checking that someone serves here
                    // (`TakeoverSocket.hasListener`), not a request to refuse.
                    logger.debug("pid \(peer.pid) checked the takeover socket \(path) without a request")
                    try? client.close()
                    continue
                }
                guard message.message == .request else {
                    logger.warning("takeover refused: pid \(peer.pid) sent no valid request on \(path)")
                    message.fds.forEach { try? $0.close() }
                    try? client.close()
                    continue
                }
                let previous = pending.withLock { p -> FileDescriptor? in
                    let previous = p
                    p = client
                    return previous
                }
                if let previous { try? previous.close() }
                notify()
            }
        }
    }

    /// The client socket of a valid request, if one is waiting.
    public func takePending() -> FileDescriptor? {
        pending.withLock { p in
            let c = p
            p = nil
            return c
        }
    }

    /// Sends the descriptors to a client and waits (up to 15 s) for its
    /// verdict; on `ok`, removes the socket and says `bye`.
    /// - Returns: whether the client took the connection (then this process must exit).
    public func handOver(to client: FileDescriptor, fuseFD: Int32, stateFD: Int32) -> Bool {
        defer { try? client.close() }
        _ = cfuse3_socket_timeout(client.rawValue, 15000)
        let pid = TakeoverSocket.peer(client)?.pid ?? 0
        guard TakeoverSocket.send(client, .handover, fds: [FileDescriptor(rawValue: fuseFD), FileDescriptor(rawValue: stateFD)]) else {
            logger.warning("takeover by pid \(pid) failed: cannot send the descriptors")
            return false
        }
        guard let answer = TakeoverSocket.receive(client) else {
            logger.warning("takeover by pid \(pid) failed: it did not confirm; serving on")
            return false
        }
        answer.fds.forEach { try? $0.close() }
        guard answer.message == .ok else {
            logger.warning("takeover by pid \(pid) failed: it answered \(answer.text); serving on")
            return false
        }
        close()
        _ = TakeoverSocket.send(client, .bye)
        logger.info("handed the connection over", metadata: ["pid": "\(pid)"])
        return true
    }

    private let closed = Atomic<Bool>(false)

    /// Stops listening and removes the socket file (once).
    public func close() {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        unlink(path)
        shutdown(fd.rawValue, Int32(SHUT_RDWR))
        try? fd.close()
    }
}

/// The side of `--takeover`: asks the serving process for its connection.
public enum TakeoverClient {
    /// What asking gave.
    public enum Outcome {
        /// Nobody listens on the socket (the sentence says so).
        case nobody(String)
        /// Something listens but the exchange failed (the sentence says how).
        case failed(String)
        /// The descriptors, and the exchange to finish with `commit` or `abort`.
        case received(TakeoverHandle)
    }

    /// Connects to the socket of `mountPoint` and asks for the connection
    /// (up to 15 s for the answer).
    public static func request(mountPoint: String) -> Outcome {
        let path = TakeoverSocket.path(forMountPoint: mountPoint)
        let fd: FileDescriptor
        switch TakeoverSocket.connect(path) {
        case .failure(let e):
            return .nobody("no swift-lxcfs serving \(mountPoint) answers on \(path) (\(String(cString: strerror(e.code))))")
        case .success(let s):
            fd = s
        }
        _ = cfuse3_socket_timeout(fd.rawValue, 15000)
        guard let peer = TakeoverSocket.peer(fd), peer.uid == 0 else {
            try? fd.close()
            return .failed("the process listening on \(path) is not root")
        }
        guard TakeoverSocket.send(fd, .request) else {
            try? fd.close()
            return .failed("the takeover socket \(path) did not take the request")
        }
        guard let answer = TakeoverSocket.receive(fd) else {
            try? fd.close()
            return .failed("the takeover socket \(path) answered nothing")
        }
        guard answer.message == .handover, answer.fds.count == 2 else {
            answer.fds.forEach { try? $0.close() }
            try? fd.close()
            return .failed("the takeover socket \(path) answered garbage")
        }
        return .received(TakeoverHandle(socket: fd, peerPID: peer.pid, fuseFD: answer.fds[0].rawValue,
                                        stateFD: answer.fds[1].rawValue))
    }
}

/// The descriptors handed over, and the socket to confirm on.
public final class TakeoverHandle {
    /// The takeover socket, to confirm on.
    let socket: FileDescriptor
    /// The pid of the process that handed over.
    public let peerPID: pid_t
    /// The `/dev/fuse` and state descriptors received (close-on-exec).
    public let fuseFD: Int32
    public let stateFD: Int32

    init(socket: FileDescriptor, peerPID: pid_t, fuseFD: Int32, stateFD: Int32) {
        self.socket = socket
        self.peerPID = peerPID
        self.fuseFD = fuseFD
        self.stateFD = stateFD
    }

    /// Says `ok` and waits for `bye`. Also true when the old process is
    /// gone without saying it (nobody else can serve then).
    public func commit() -> Bool {
        defer { try? socket.close() }
        guard TakeoverSocket.send(socket, .ok) else { return kill(peerPID, 0) != 0 && errno == ESRCH }
        if let answer = TakeoverSocket.receive(socket), answer.message == .bye { return true }
        // No bye: the old process either resumed (alive) or died.
        for _ in 0..<100 {
            if kill(peerPID, 0) != 0 && errno == ESRCH { return true }
            usleep(20_000)
        }
        return false
    }

    /// Says `abort`: the old process serves on.
    public func abort() {
        _ = TakeoverSocket.send(socket, .abort)
        try? socket.close()
    }
}
