#ifndef SWIFT_LXCFS_CFUSE3_SHIM_H
#define SWIFT_LXCFS_CFUSE3_SHIM_H

/* API level 3.5: available from libfuse 3.10 through 3.17. */
#define FUSE_USE_VERSION 35

#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>
#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* fuse_new is a macro over versioned symbols; wrap it so Swift can call it. */
static inline struct fuse *cfuse3_new(struct fuse_args *args,
                                      const struct fuse_operations *ops,
                                      void *private_data) {
    return fuse_new(args, ops, sizeof(*ops), private_data);
}

/* fuse_loop_mt's signature depends on FUSE_USE_VERSION and the library version. */
static inline int cfuse3_loop_mt(struct fuse *f, int clone_fd,
                                 unsigned int max_idle_threads) {
    struct fuse_loop_config config;
    config.clone_fd = clone_fd;
    config.max_idle_threads = max_idle_threads;
    return fuse_loop_mt(f, &config);
}

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

/* fuse_file_info bitfields, set from Swift without relying on bitfield import. */
static inline void cfuse3_set_direct_io(struct fuse_file_info *fi) {
    fi->direct_io = 1;
    fi->keep_cache = 0;
    fi->nonseekable = 0;
}

static inline int cfuse3_open_flags(const struct fuse_file_info *fi) {
    return fi->flags;
}

#endif
