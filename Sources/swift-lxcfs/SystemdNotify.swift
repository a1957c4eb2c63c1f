import Dispatch
import LXCFSFilesystem
import LXCFSLifecycle
import SystemPackage
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

    /// Sends one datagram (`message.encoded`), with `fds` as SCM_RIGHTS.
    /// - Returns: an error sentence, or `nil` when the datagram was sent.
    @discardableResult
    func send(_ message: NotifyMessage, fds: [Int32] = []) -> String? {
        NotifySocket.send(to: socketName, message.encoded, fds: fds.map(FileDescriptor.init(rawValue:)))
    }

    /// Keeps the connection in the fd store (`FDSTORE=1`): the `/dev/fuse`
    /// descriptor as `fuse`, the state memfd as `state`.
    /// - Returns: an error sentence, or `nil`.
    func storeDescriptors(fuseFD: Int32, stateFD: Int32) -> String? {
        send(.store("fuse"), fds: [fuseFD]) ?? send(.store("state"), fds: [stateFD])
    }

    /// Empties the fd store of both (`FDSTOREREMOVE=1`), on a final stop.
    func removeDescriptors() {
        send(.remove("fuse"))
        send(.remove("state"))
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
                    if let error = send(NotifyMessage(ready: true, status: "Serving \(mountPoint)", mainPID: getpid())) { onFailure(error) }
                    return
                }
                usleep(10_000)
            }
            send(NotifyMessage(status: "The mount at \(mountPoint) does not answer"))
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
