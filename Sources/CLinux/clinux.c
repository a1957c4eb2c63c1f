#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include "clinux.h"

#ifndef SYS_open_tree
#define SYS_open_tree 428
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

int clinux_mount_setattr(int dirfd, const char *path, unsigned int flags,
                         unsigned long long attr_set, unsigned long long attr_clr,
                         unsigned long long propagation) {
    struct clinux_mount_attr attr = { attr_set, attr_clr, propagation, 0 };
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}

int clinux_umount2(const char *path, int flags) { return umount2(path, flags); }

int clinux_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
