#ifndef SWIFT_LXCFS_CLINUX_H
#define SWIFT_LXCFS_CLINUX_H

/* Linux system calls that Swift's Glibc module does not declare: each one a
   thin wrapper that returns what the kernel returns (-1 with errno set on
   failure), as swift-nio's CNIOLinux does. No policy lives here. */

#include <spawn.h>
#include <sys/types.h>

/* setns(2): moves the calling thread into the namespace of `fd`
   (`nstype` one of CLONE_NEW*, or 0 for any). */
int clinux_setns(int fd, int nstype);

/* open_tree(2): a descriptor of the mount at `path` (relative to `dirfd`);
   with CLINUX_OPEN_TREE_CLONE a detached copy of it. */
int clinux_open_tree(int dirfd, const char *path, unsigned int flags);

/* move_mount(2): attaches the mount `from_dirfd`/`from_path` at
   `to_dirfd`/`to_path`. */
int clinux_move_mount(int from_dirfd, const char *from_path,
                      int to_dirfd, const char *to_path, unsigned int flags);

/* ---- The supervisor's plumbing (swift-lxcfs supervise) ---- */

/* Blocks the `count` signals and returns a non-blocking, close-on-exec
   signalfd(2) for them, or -1 with errno set. */
int clinux_signalfd(const int *signals, int count);

/* One pending signal's number from a signalfd, or -1 (none: EAGAIN). */
int clinux_signalfd_read(int fd);

/* A non-blocking, close-on-exec AF_UNIX datagram socket bound to the
   `length` bytes of `name` (a leading NUL byte makes it abstract), with
   SO_PASSCRED so that every datagram carries its sender's pid and uid.
   -1 with errno set on failure. */
int clinux_notify_socket(const char *name, size_t length);


/* posix_spawn_file_actions_addclosefrom_np(3) (glibc 2.34): the child
   closes every descriptor from `from` up. Returns 0 or an error number
   (ENOSYS without it). */
int clinux_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/* mount_setattr(2): changes the per-mount flags (`attr_set`, `attr_clr`,
   CLINUX_MOUNT_ATTR_*) and propagation (`propagation`, 0 or MS_PRIVATE and
   the like) of the mount at `dirfd`/`path`; with CLINUX_AT_RECURSIVE of
   every mount below it too. */
int clinux_mount_setattr(int dirfd, const char *path, unsigned int flags,
                         unsigned long long attr_set, unsigned long long attr_clr,
                         unsigned long long propagation);


/* pipe2(2), which glibc declares only with _GNU_SOURCE. */
int clinux_pipe2(int fds[2], int flags);

/* open(2)'s O_PATH, likewise. */
#define CLINUX_O_PATH 010000000

/* The flags of the calls above, from <linux/mount.h> (numeric, so that
   older kernel headers still build). */
#define CLINUX_OPEN_TREE_CLONE 1U
#define CLINUX_OPEN_TREE_CLOEXEC 02000000U
#define CLINUX_AT_EMPTY_PATH 0x1000U
#define CLINUX_AT_RECURSIVE 0x8000U
#define CLINUX_MOVE_MOUNT_F_EMPTY_PATH 0x00000004U
#define CLINUX_MOVE_MOUNT_BENEATH 0x00000200U
#define CLINUX_MOUNT_ATTR_RDONLY 0x00000001ULL
#define CLINUX_MOUNT_ATTR_NOSUID 0x00000002ULL
#define CLINUX_MOUNT_ATTR_NODEV 0x00000004ULL
#define CLINUX_MOUNT_ATTR_NOEXEC 0x00000008ULL
#define CLINUX_MOUNT_ATTR__ATIME 0x00000070ULL
#define CLINUX_MOUNT_ATTR_RELATIME 0x00000000ULL
#define CLINUX_MOUNT_ATTR_NOATIME 0x00000010ULL
#define CLINUX_MOUNT_ATTR_STRICTATIME 0x00000020ULL
#define CLINUX_MOUNT_ATTR_NODIRATIME 0x00000080ULL
#define CLINUX_MS_PRIVATE (1ULL << 18)
#define CLINUX_MNT_DETACH 2

/* Namespace types for setns(2), from <linux/sched.h>. */
#define CLINUX_CLONE_NEWNS 0x00020000
#define CLINUX_CLONE_NEWCGROUP 0x02000000
#define CLINUX_CLONE_NEWPID 0x20000000

#endif
