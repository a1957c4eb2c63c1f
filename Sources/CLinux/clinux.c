#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include "clinux.h"

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/* struct mount_attr of <linux/mount.h>, declared here for older headers. */
struct clinux_mount_attr {
    unsigned long long attr_set;
    unsigned long long attr_clr;
    unsigned long long propagation;
    unsigned long long userns_fd;
};

int clinux_setns(int fd, int nstype) { return setns(fd, nstype); }

int clinux_open_tree(int dirfd, const char *path, unsigned int flags) {
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int clinux_move_mount(int from_dirfd, const char *from_path,
                      int to_dirfd, const char *to_path, unsigned int flags) {
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

/* ---- The supervisor's process and socket plumbing ------------------- */


static void clinux_format_pid(char *digits, pid_t pid) {
    char tmp[24];
    int n = 0;
    unsigned long v = (unsigned long)pid;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v && n < (int)sizeof tmp);
    for (int i = 0; i < n; i++) digits[i] = tmp[n - 1 - i];
    digits[n] = 0;
}

pid_t clinux_spawn(const char *path, char *const argv[], char *const envp[],
                   const int *fds, int nfds, char *listen_pid_slot) {
    pid_t pid = fork();
    if (pid != 0) return pid; /* parent: the child's pid, or -1 with errno */
    /* Child: only async-signal-safe calls from here to execve. */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        signal(sig, SIG_DFL);
    }
    if (nfds > 0) {
        int moved[64];
        if (nfds > 64) _exit(127);
        /* First above the target range, so that no source is overwritten. */
        for (int i = 0; i < nfds; i++) {
            moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + nfds);
            if (moved[i] < 0) _exit(127);
        }
        for (int i = 0; i < nfds; i++) {
            if (dup2(moved[i], 3 + i) < 0) _exit(127); /* dup2 clears FD_CLOEXEC */
            close(moved[i]);
        }
    }
    /* Nothing else leaks into the server: descriptors the supervisor was
       started with (not close-on-exec) are closed. */
    if (syscall(SYS_close_range, 3 + nfds, ~0U, 0) != 0) {
        for (int fd = 3 + nfds; fd < 4096; fd++) close(fd);
    }
    if (listen_pid_slot) clinux_format_pid(listen_pid_slot, getpid());
    execve(path, argv, envp);
    _exit(127);
}

int clinux_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int clinux_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n != (ssize_t)sizeof info) return -1;
    return (int)info.ssi_signo;
}

int clinux_notify_socket(const char *name, size_t length) {
    struct sockaddr_un address;
    if (length == 0 || length >= sizeof address.sun_path) { errno = ENAMETOOLONG; return -1; }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) { close(fd); return -1; }
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path, name, length);
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
    if (bind(fd, (struct sockaddr *)&address, size) != 0) { close(fd); return -1; }
    return fd;
}

/* ---- Asking a command (systemctl) from a threaded process ----------- */

#include <poll.h>
#include <spawn.h>
#include <time.h>
#include <sys/wait.h>

extern char **environ;

static long clinux_ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

ssize_t clinux_run_capture(const char *path, char *const argv[], char *out, size_t capacity,
                           int timeout_ms, int *status) {
    int pipefd[2];
    *status = -1;
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int err = posix_spawn(&pid, path, &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(pipefd[1]);
    if (err != 0) { close(pipefd[0]); errno = err; return -1; }
    size_t used = 0;
    long deadline = clinux_ms_now() + timeout_ms;
    int timed_out = 0;
    for (;;) {
        long left = deadline - clinux_ms_now();
        if (left <= 0) { timed_out = 1; break; }
        struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { timed_out = 1; break; }
        ssize_t n = read(pipefd[0], out + used, used < capacity ? capacity - used : 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* end of output (or no room left) */
        used += (size_t)n;
    }
    close(pipefd[0]);
    if (timed_out) kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    if (timed_out) { errno = ETIMEDOUT; return -1; }
    return (ssize_t)used;
}
int clinux_mount_setattr(int dirfd, const char *path, unsigned int flags,
                         unsigned long long attr_set, unsigned long long attr_clr,
                         unsigned long long propagation) {
    struct clinux_mount_attr attr = { attr_set, attr_clr, propagation, 0 };
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}


int clinux_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
