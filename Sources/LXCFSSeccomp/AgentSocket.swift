import CLinux
import Logging
import LXCFSSystem
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The agent's unix stream socket, where OCI runtimes connect
/// (`linux.seccomp.listenerPath`). Its directory is root's alone (0700,
/// created when missing, refused when it is anyone else's or open to
/// others); the socket is 0600 and every peer must be uid 0 (SO_PEERCRED).
package enum AgentSocket {
    /// The default path.
    package static let defaultPath = "/run/swift-lxcfs/seccomp.sock"
    /// The longest message taken: a container process state is a few hundred bytes.
    package static let messageLimit = 65536
    /// How long a peer may take to send its message, in milliseconds.
    static let peerTimeoutMilliseconds: Int32 = 5000

    /// Why the socket cannot be served (one sentence).
    package struct Unusable: Error, CustomStringConvertible {
        package var description: String
        /// Whether another process serves the path (a predecessor handing over).
        package var busy = false
    }

    /// A socket address for `path`; `nil` when it is too long.
    static func address(_ path: String) -> (sockaddr_un, socklen_t)? {
        UnixSocketAddress.make(path)
    }

    /// Whether some process accepts connections on `path` now.
    static func isServed(_ path: String) -> Bool {
        guard let (address, length) = address(path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var a = address
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } } == 0
    }

    /// Checks (or creates, 0700) the directory of `path`.
    /// - Throws: `Unusable` when it is not a directory owned by root with no
    ///   group or other permissions.
    static func prepareDirectory(of path: String) throws(Unusable) {
        guard path.hasPrefix("/"), let slash = path.lastIndex(of: "/") else {
            throw Unusable(description: "\(path) is not an absolute path")
        }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw Unusable(description: "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard lstat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw Unusable(description: "\(directory) is not a directory")
        }
        guard st.st_uid == 0, st.st_mode & 0o077 == 0 else {
            throw Unusable(description: "\(directory) must be root's alone (owner uid 0, mode 0700)")
        }
    }

    /// Listens on `path` (0600), replacing a stale socket file nobody serves.
    /// - Throws: `Unusable` (another process serves `path`, the directory is
    ///   unsafe, or bind/listen failed).
    /// - Returns: the socket and the inode of its file (to tell it from a successor's).
    static func listen(_ path: String) throws(Unusable) -> (FileDescriptor, ino_t) {
        try prepareDirectory(of: path)
        guard let (address, length) = address(path) else { throw Unusable(description: "\(path) is too long for a socket") }
        if isServed(path) { throw Unusable(description: "another process serves \(path)", busy: true) }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Unusable(description: "socket: \(String(cString: strerror(errno)))") }
        let old = umask(0o177)
        var a = address
        let bound = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        umask(old)
        guard bound == 0, chmod(path, 0o600) == 0, Glibc.listen(fd, 64) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw Unusable(description: "cannot listen on \(path): \(why)")
        }
        var st = stat()
        _ = stat(path, &st)
        return (FileDescriptor(rawValue: fd), st.st_ino)
    }

    /// The inode of the file at `path`, or `nil`.
    static func inode(_ path: String) -> ino_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_ino : nil
    }

    /// One peer's message: its bytes (up to `messageLimit`) and descriptors.
    struct Message {
        var bytes: [UInt8]
        var descriptors: [FileDescriptor]
    }

    /// Reads one peer's message: the first receive carries the descriptors
    /// (SCM_RIGHTS), then bytes until `isComplete` says the bytes so far
    /// are a whole message or the peer closes its end. (runc keeps its end
    /// open until it exits, so the end of the message is not its close.)
    /// - Throws: `AgentSocket.Unusable` with the reason (the descriptors are closed).
    static func readMessage(_ client: FileDescriptor, isComplete: ([UInt8]) -> Bool) throws(Unusable) -> Message {
        var bytes: [UInt8] = []
        var descriptors: [FileDescriptor] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        var first = true
        func fail(_ why: String) -> Unusable {
            descriptors.forEach { try? $0.close() }
            return Unusable(description: why)
        }
        while true {
            let received = buffer.withUnsafeMutableBytes { b in
                Result { () throws(Errno) in
                    try DescriptorPassing.receive(client, into: b, maxDescriptors: first ? DescriptorPassing.sendLimit : 0)
                }
            }
            guard case .success(let got) = received else {
                if case .failure(let e) = received { throw fail(e == .wouldBlock ? "timed out" : "\(e)") }
                throw fail("cannot read")
            }
            descriptors += got.descriptors
            first = false
            if got.count == 0 { break }
            bytes += buffer[..<min(got.count, buffer.count)]
            if bytes.count >= messageLimit { throw fail("a message of \(messageLimit) bytes or more") }
            if isComplete(bytes) { break }
        }
        return Message(bytes: bytes, descriptors: descriptors)
    }

    /// The peer's uid and pid (SO_PEERCRED).
    static func peer(_ fd: FileDescriptor) -> (uid: uid_t, pid: pid_t)? {
        var uid: uid_t = 0
        var pid: pid_t = 0
        guard clinux_peer_credentials(fd.rawValue, &uid, &pid) == 0 else { return nil }
        return (uid, pid)
    }
}
