import LXCFSSystem
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The datagram half of systemd's notification protocol (sd_notify(3),
/// sd_pid_notify_with_fds(3)) without libsystemd: one datagram of
/// `KEY=VALUE` lines to the AF_UNIX socket `NOTIFY_SOCKET` names, with
/// descriptors as SCM_RIGHTS (FDSTORE=1). A name starting with `@` is an
/// abstract socket.
public enum NotifySocket {
    /// Sends `state` (and `fds`, as SCM_RIGHTS) to `socketName`.
    /// - Returns: an error sentence, or `nil` when the datagram was sent.
    public static func send(to socketName: String, _ state: String, fds: [FileDescriptor] = []) -> String? {
        guard let (address, length) = UnixSocketAddress.make(socketName) else {
            return "NOTIFY_SOCKET \(socketName) is not a usable socket name."
        }
        let fd: FileDescriptor
        do throws(Errno) {
            fd = FileDescriptor(rawValue: try systemCall {
                socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            })
        } catch {
            return "cannot open a socket for NOTIFY_SOCKET: \(String(cString: strerror(error.rawValue)))."
        }
        defer { try? fd.close() }
        let bytes = Array(state.utf8)
        do {
            let sent = try DescriptorPassing.send(fd, bytes, descriptors: fds, to: (address, length))
            guard sent == bytes.count else { return "cannot notify \(socketName): \(String(cString: strerror(EMSGSIZE)))." }
        } catch {
            return "cannot notify \(socketName): \(String(cString: strerror(error.rawValue)))."
        }
        return nil
    }
}
