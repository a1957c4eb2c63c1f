import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The systemd readiness protocol (sd_notify(3)) without libsystemd: one
/// datagram of `KEY=VALUE` lines sent to the AF_UNIX socket named by
/// `NOTIFY_SOCKET`. A name starting with `@` is an abstract socket.
struct SystemdNotifier: Sendable {
    /// The socket address as `NOTIFY_SOCKET` gives it: a path, or `@name`.
    let socketName: String

    /// The notifier for this process, or `nil` when `NOTIFY_SOCKET` is unset
    /// or empty (not started by systemd with `Type=notify`).
    static func fromEnvironment() -> SystemdNotifier? {
        guard let raw = getenv("NOTIFY_SOCKET") else { return nil }
        let name = String(cString: raw)
        return name.isEmpty ? nil : SystemdNotifier(socketName: name)
    }

    /// Sends one datagram of state lines, such as `READY=1`.
    /// - Returns: an error sentence, or `nil` when the datagram was sent.
    @discardableResult
    func send(_ state: String) -> String? {
        var path = Array(socketName.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity, socketName.count > 1 || path.first != 0 else {
            return "NOTIFY_SOCKET \(socketName) is not a usable socket name."
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "cannot open a socket for NOTIFY_SOCKET: \(String(cString: strerror(errno)))." }
        defer { close(fd) }
        let bytes = Array(state.utf8)
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), sa, length)
                }
            }
        }
        guard sent == bytes.count else {
            return "cannot notify \(socketName): \(String(cString: strerror(errno)))."
        }
        return nil
    }

    /// Waits on another thread until the mount answers, then sends `READY=1`.
    ///
    /// "Answers" means a process (this one) opens and reads
    /// `MOUNTPOINT/proc/meminfo` through the kernel, which only works once
    /// libfuse serves requests; so it must be called once the mount exists
    /// and before the request loop blocks the calling thread.
    /// - Parameters:
    ///   - mountPoint: the mount point, absolute.
    ///   - onFailure: called with a sentence when the mount never answers
    ///     (after about 30 s) or the datagram cannot be sent.
    func announceReadiness(mountPoint: String, onFailure: @escaping @Sendable (String) -> Void) {
        let probe = mountPoint + "/proc/meminfo"
        DispatchQueue.global().async {
            for _ in 0..<3000 {
                if Self.answers(probe) {
                    if let error = send("READY=1\nSTATUS=Serving \(mountPoint)\nMAINPID=\(getpid())") { onFailure(error) }
                    return
                }
                usleep(10_000)
            }
            send("STATUS=The mount at \(mountPoint) does not answer")
            onFailure("the mount at \(mountPoint) does not answer; READY=1 was not sent.")
        }
    }

    /// True when `path` opens and reads at least one byte.
    static func answers(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 1
    }
}
