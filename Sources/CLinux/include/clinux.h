#ifndef SWIFT_LXCFS_CLINUX_H
#define SWIFT_LXCFS_CLINUX_H

/* Linux system calls that Swift's Glibc module does not declare: each one a
   thin wrapper that returns what the kernel returns (-1 with errno set on
   failure), as swift-nio's CNIOLinux does. No policy lives here. */

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

/* The flags of the calls above, from <linux/mount.h> (numeric, so that
   older kernel headers still build). */
#define CLINUX_OPEN_TREE_CLONE 1U
#define CLINUX_OPEN_TREE_CLOEXEC 02000000U
#define CLINUX_AT_EMPTY_PATH 0x1000U
#define CLINUX_AT_RECURSIVE 0x8000U
#define CLINUX_MOVE_MOUNT_F_EMPTY_PATH 0x00000004U
#define CLINUX_MOVE_MOUNT_BENEATH 0x00000200U

/* Namespace types for setns(2), from <linux/sched.h>. */
#define CLINUX_CLONE_NEWNS 0x00020000
#define CLINUX_CLONE_NEWCGROUP 0x02000000
#define CLINUX_CLONE_NEWPID 0x20000000

#endif
