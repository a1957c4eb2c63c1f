import CLinux
import LXCFSSystem
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A seccomp filter's listener descriptor (seccomp_unotify(2)): the
/// notifications of the filter's tasks come out of it, answers go in.
package struct SeccompListener: Sendable {
    package let fd: FileDescriptor

    package init(_ fd: FileDescriptor) { self.fd = fd }

    /// One notification: a task of the filter waits in a system call.
    package struct Notification: Sendable {
        /// The cookie every answer and validity check names.
        package var id: UInt64
        /// The calling thread's id in the daemon's pid namespace.
        package var pid: Int32
        /// The system call number (for `arch`).
        package var nr: Int32
        /// The AUDIT_ARCH_* value of the call.
        package var arch: UInt32
        /// The call's six arguments as the caller passed them.
        package var args: [UInt64]
    }

    /// Whether `fd` is a seccomp listener (`anon_inode:seccomp notify` in
    /// /proc/self/fd), not a pipe, socket or file.
    package static func isListener(_ fd: FileDescriptor) -> Bool {
        var buffer = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/self/fd/\(fd.rawValue)", &buffer, buffer.count - 1)
        guard n > 0 else { return false }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == "anon_inode:seccomp notify"
    }

    /// SECCOMP_IOCTL_NOTIF_RECV (blocks until one is pending).
    /// - Throws: `Errno` (ENOENT: the caller went away before it was received).
    package func receive() throws(Errno) -> Notification {
        var n = clinux_seccomp_notification()
        _ = try systemCall { clinux_seccomp_notif_recv(fd.rawValue, &n) }
        let args = withUnsafeBytes(of: n.args) { Array($0.bindMemory(to: UInt64.self)) }
        return Notification(id: n.id, pid: Int32(bitPattern: n.pid), nr: n.nr, arch: n.arch, args: args)
    }

    /// SECCOMP_IOCTL_NOTIF_ID_VALID: whether notification `id`'s caller
    /// still waits (so its pid is still the caller's).
    package func isPending(_ id: UInt64) -> Bool {
        clinux_seccomp_notif_id_valid(fd.rawValue, id) == 0
    }

    /// Answers `id` with return value `value` (error 0).
    /// - Throws: `Errno` (ENOENT: the caller is gone).
    package func answer(_ id: UInt64, value: Int64) throws(Errno) {
        _ = try systemCall { clinux_seccomp_notif_send(fd.rawValue, id, value, 0, 0) }
    }

    /// Lets `id`'s call go on to the kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    /// - Throws: `Errno` (ENOENT: the caller is gone).
    package func letThrough(_ id: UInt64) throws(Errno) {
        _ = try systemCall { clinux_seccomp_notif_send(fd.rawValue, id, 0, 0, CLINUX_SECCOMP_USER_NOTIF_FLAG_CONTINUE) }
    }
}

/// Writes into another process's memory (process_vm_writev(2)), which
/// fails cleanly (EFAULT) on an address the process has not mapped writable.
package enum CallerMemory {
    /// Writes all of `bytes` at `address` of thread `pid`.
    /// - Returns: whether every byte was written.
    package static func write(_ bytes: [UInt8], to address: UInt64, of pid: Int32) -> Bool {
        guard address != 0 else { return false }
        let written = bytes.withUnsafeBytes { clinux_process_vm_write(pid, $0.baseAddress, $0.count, address) }
        return written == bytes.count
    }
}
