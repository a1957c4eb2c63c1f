#ifndef SWIFT_LXCFS_CLINUX_SECCOMP_H
#define SWIFT_LXCFS_CLINUX_SECCOMP_H

/* seccomp user notification (seccomp_unotify(2)) and the calls the agent
   answers with. Thin wrappers: each returns what the kernel returns, -1
   with errno set on failure. No policy lives here. */

#include <stdint.h>
#include <sys/sysinfo.h>
#include <sys/types.h>

/* struct sysinfo comes from <sys/sysinfo.h> (the tests check the agent's
   byte layout, SysinfoLayout, against it). */

/* One notification as SECCOMP_IOCTL_NOTIF_RECV fills struct seccomp_notif:
   the cookie, the calling thread's id in the receiver's pid namespace, and
   struct seccomp_data (syscall number, AUDIT_ARCH_* value, arguments). */
struct clinux_seccomp_notification {
    uint64_t id;
    uint32_t pid;
    int32_t nr;
    uint32_t arch;
    uint64_t args[6];
};

/* SECCOMP_IOCTL_NOTIF_RECV on listener `fd` (blocks until a notification
   is pending unless `fd` is non-blocking). The buffer is sized by
   SECCOMP_GET_NOTIF_SIZES, so a newer kernel's larger struct fits. */
int clinux_seccomp_notif_recv(int fd, struct clinux_seccomp_notification *out);

/* SECCOMP_IOCTL_NOTIF_SEND: answers notification `id` with return value
   `val` and `error` (a negative errno, or 0), or with
   CLINUX_SECCOMP_USER_NOTIF_FLAG_CONTINUE in `flags` (then val and error are 0). */
int clinux_seccomp_notif_send(int fd, uint64_t id, int64_t val, int32_t error, uint32_t flags);

/* SECCOMP_IOCTL_NOTIF_ID_VALID: 0 while notification `id` is still pending
   (its caller alive and waiting), -1 with ENOENT once it is not. */
int clinux_seccomp_notif_id_valid(int fd, uint64_t id);

/* process_vm_writev(2) of the `length` bytes at `local` to address `remote`
   of process `pid`, in one local and one remote iovec: the bytes written. */
ssize_t clinux_process_vm_write(pid_t pid, const void *local, size_t length, uint64_t remote);

/* The peer of a connected unix socket (SO_PEERCRED): 0 with its uid and pid, or -1. */
int clinux_peer_credentials(int sock, uid_t *uid, pid_t *pid);

/* Send and receive timeouts (SO_SNDTIMEO, SO_RCVTIMEO) of a socket, in milliseconds. */
int clinux_socket_timeout(int sock, int ms);

/* SECCOMP_USER_NOTIF_FLAG_CONTINUE, from <linux/seccomp.h>. */
#define CLINUX_SECCOMP_USER_NOTIF_FLAG_CONTINUE 1U

/* The AUDIT_ARCH_* values of <linux/audit.h> the agent knows. */
#define CLINUX_AUDIT_ARCH_X86_64 0xC000003EU
#define CLINUX_AUDIT_ARCH_AARCH64 0xC00000B7U

#endif
