import CLinux

/// Which notifications the agent answers: sysinfo(2) called through the
/// daemon's own architecture, whose `struct sysinfo` it writes
/// (`SysinfoLayout`). Every other call, and every other architecture (a
/// 32-bit or x32 caller), is let through to the kernel.
package enum SyscallTable {
    /// An architecture the agent knows: its AUDIT_ARCH_* value and its sysinfo number.
    package struct Architecture: Sendable, Equatable {
        /// The AUDIT_ARCH_* value that seccomp_data.arch carries.
        package var audit: UInt32
        /// sysinfo's system call number there.
        package var sysinfo: Int32
    }

    /// x86-64: sysinfo is 99 (arch/x86/entry/syscalls/syscall_64.tbl).
    package static let x86_64 = Architecture(audit: CLINUX_AUDIT_ARCH_X86_64, sysinfo: 99)
    /// arm64: sysinfo is 179 (include/uapi/asm-generic/unistd.h).
    package static let aarch64 = Architecture(audit: CLINUX_AUDIT_ARCH_AARCH64, sysinfo: 179)

    /// The daemon's own architecture; `nil` where the agent answers nothing.
    package static var native: Architecture? {
        #if arch(x86_64)
        return x86_64
        #elseif arch(arm64)
        return aarch64
        #else
        return nil
        #endif
    }

    /// Whether a notification of system call `nr` through architecture
    /// `arch` (seccomp_data) is a sysinfo the agent answers for `native`.
    package static func isSysinfo(arch: UInt32, nr: Int32, native: Architecture? = SyscallTable.native) -> Bool {
        guard let native else { return false }
        return arch == native.audit && nr == native.sysinfo
    }
}
