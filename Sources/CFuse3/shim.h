#ifndef SWIFT_LXCFS_CFUSE3_SHIM_H
#define SWIFT_LXCFS_CFUSE3_SHIM_H

/* libfuse3 mounts (option parsing, fusermount3 when not root); swift-lxcfs
   serves the kernel's FUSE protocol itself (the FUSEProtocol target).
   API level 3.5: available from libfuse 3.10 through 3.17. */
#define FUSE_USE_VERSION 35

#include <fuse3/fuse_lowlevel.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/sysmacros.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* ---- What protocol minors after the installed header (7.38 on bookworm)
   added and the loop uses. ---- */
/* 7.40 (Linux 6.9): FUSE_NOTIFY_RESEND, requests read but not answered are queued again. */
#define CFUSE3_NOTIFY_RESEND 7
/* Bit 63 of `unique` marks a request queued again by FUSE_NOTIFY_RESEND. */
#define CFUSE3_UNIQUE_RESEND (1ULL << 63)
/* The highest `minor` the loop speaks: 7.40, the first with FUSE_NOTIFY_RESEND. */
#define CFUSE3_PROTOCOL_MINOR 40
/* The /dev/fuse misc character device: makedev(10, 229). */
#define CFUSE3_DEV_FUSE_MAJOR 10
#define CFUSE3_DEV_FUSE_MINOR 229

static inline unsigned int cfuse3_dev_major(dev_t d) { return major(d); }
static inline unsigned int cfuse3_dev_minor(dev_t d) { return minor(d); }

/* glibc: one malloc arena shared by all threads, so that each worker
   thread does not keep an arena of its own resident. Returns 1 on
   success, 0 where there is nothing to set. */
static inline int cfuse3_single_malloc_arena(void) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    return mallopt(M_ARENA_MAX, 1);
#else
    return 0;
#endif
}

/* Mounts with a low-level session that has no operations (libfuse parses
   the options and mounts; it never reads a request). Returns the session,
   or NULL when the options are rejected; *mounted is 0 when the mount failed. */
static inline struct fuse_session *cfuse3_mount_session(struct fuse_args *args, const char *mountpoint, int *mounted) {
    static const struct fuse_lowlevel_ops none;
    *mounted = 0;
    struct fuse_session *se = fuse_session_new(args, &none, sizeof none, NULL);
    if (!se) return NULL;
    if (fuse_session_mount(se, mountpoint) == 0) *mounted = 1;
    return se;
}

/* The peer of a connected unix socket (SO_PEERCRED): 0 with its uid and pid, or -1. */
static inline int cfuse3_peer_credentials(int sock, uid_t *uid, pid_t *pid) {
    struct { pid_t pid; uid_t uid; gid_t gid; } cred; /* struct ucred, which needs _GNU_SOURCE */
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *uid = cred.uid;
    *pid = cred.pid;
    return 0;
}

/* Send and receive timeouts of a socket, in milliseconds. */
static inline int cfuse3_socket_timeout(int sock, int ms) {
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return -1;
    return setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* getrandom(2) of `len` bytes (0 on success). */
static inline int cfuse3_random(void *buf, size_t len) {
    return syscall(SYS_getrandom, buf, len, 0) == (long)len ? 0 : -1;
}

/* memfd_create(2) with MFD_CLOEXEC | MFD_ALLOW_SEALING. */
static inline int cfuse3_memfd(const char *name) {
    return (int)syscall(SYS_memfd_create, name, 0x0001U | 0x0002U);
}

/* Seals a memfd against any change (F_SEAL_SEAL | SHRINK | GROW | WRITE). */
static inline int cfuse3_seal(int fd) {
    return fcntl(fd, 1033 /* F_ADD_SEALS */, 0x0001 | 0x0002 | 0x0004 | 0x0008);
}

/* A handler that does nothing, installed without SA_RESTART, so that a
   worker thread blocked in read(2) on /dev/fuse returns EINTR. */
static void cfuse3_wake_handler(int sig) { (void)sig; }
static inline int cfuse3_install_wake_handler(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cfuse3_wake_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    return sigaction(sig, &sa, NULL);
}

/* Blocks (how = SIG_BLOCK) or unblocks (SIG_UNBLOCK) `sigs` in the calling thread. */
static inline int cfuse3_thread_sigmask(int how, const int *sigs, int n) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < n; i++) sigaddset(&set, sigs[i]);
    return pthread_sigmask(how, &set, NULL);
}

/* Waits for one of `sigs` (blocked in every thread) and returns it, or -1. */
static inline int cfuse3_sigwait(const int *sigs, int n) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < n; i++) sigaddset(&set, sigs[i]);
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return -1;
    return sig;
}

static inline int cfuse3_sig_block(void) { return SIG_BLOCK; }
static inline int cfuse3_sig_unblock(void) { return SIG_UNBLOCK; }

#endif
