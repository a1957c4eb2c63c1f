#define _GNU_SOURCE
#include "clinux_seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

/* The kernel's sizeof(struct seccomp_notif), at least the headers'. */
static size_t notif_size(void) {
    static size_t size;
    if (size == 0) {
        struct seccomp_notif_sizes sizes = {0};
        size_t s = sizeof(struct seccomp_notif);
        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0 && sizes.seccomp_notif > s)
            s = sizes.seccomp_notif;
        size = s;
    }
    return size;
}

int clinux_seccomp_notif_recv(int fd, struct clinux_seccomp_notification *out) {
    size_t size = notif_size();
    struct seccomp_notif *n = calloc(1, size);
    if (!n) return -1;
    int rc = ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, n);
    if (rc == 0) {
        out->id = n->id;
        out->pid = n->pid;
        out->nr = n->data.nr;
        out->arch = n->data.arch;
        for (int i = 0; i < 6; i++) out->args[i] = n->data.args[i];
    }
    int saved = errno;
    free(n);
    errno = saved;
    return rc;
}

int clinux_seccomp_notif_send(int fd, uint64_t id, int64_t val, int32_t error, uint32_t flags) {
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = id;
    resp.val = val;
    resp.error = error;
    resp.flags = flags;
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

int clinux_seccomp_notif_id_valid(int fd, uint64_t id) {
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
}

ssize_t clinux_process_vm_write(pid_t pid, const void *local, size_t length, uint64_t remote) {
    struct iovec l = { (void *)local, length };
    struct iovec r = { (void *)(uintptr_t)remote, length };
    return process_vm_writev(pid, &l, 1, &r, 1, 0);
}

int clinux_peer_credentials(int sock, uid_t *uid, pid_t *pid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *uid = cred.uid;
    *pid = cred.pid;
    return 0;
}

int clinux_socket_timeout(int sock, int ms) {
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return -1;
    return setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}
