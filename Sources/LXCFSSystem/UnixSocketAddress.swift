#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An AF_UNIX socket address (unix(7)), built in one place for every socket
/// the daemon binds, connects to or sends to: the takeover socket, the
/// seccomp agent's socket and systemd's `NOTIFY_SOCKET`.
package enum UnixSocketAddress {
    /// The address of `name` and its length in bytes.
    ///
    /// A name starting with `@` is an abstract socket: the `@` becomes the
    /// leading NUL and the length counts the name's bytes only. Any other
    /// name is a path, and its length counts the terminating NUL.
    /// - Returns: `nil` when the name is empty, `@` alone, or does not fit
    ///   `sun_path` (108 bytes with its NUL).
    package static func make(_ name: String) -> (sockaddr_un, socklen_t)? {
        var bytes = Array(name.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard !bytes.isEmpty, !(abstract && bytes.count == 1),
              bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1)
        return (address, socklen_t(length))
    }
}
