// floorfs: the FUSE floor for scripts/bench.sh.
//
// The cheapest server of the same files on the same libfuse API and threading
// as swift-lxcfs: libfuse3's high-level API (FUSE_USE_VERSION 35), fuse_new +
// fuse_mount + fuse_loop_mt with the same loop configuration, the same cache
// timeouts and direct I/O. Each file's content is a constant: a snapshot of
// the host file of the same path taken at start, so it has the same size as
// what swift-lxcfs serves. Nothing is rendered per open.
//
// With -L the same files are served on libfuse's low-level API instead
// (fuse_session_new + fuse_session_mount + fuse_session_loop_mt; node ids
// are table indexes), the floor for swift-lxcfs's own request loop, which
// reads every request from one /dev/fuse descriptor (no clone_fd, so that
// requests in flight survive a crash of the server; see docs/performance.md).
//
// usage: floorfs [-L] [-c] [-i MAXIDLE] [-o OPTS] MOUNTPOINT FILE...
//   -L          low-level API
//   -c          clone_fd = 1 in the loop configuration
//   -i MAXIDLE  max_idle_threads (default 16, as swift-lxcfs)
//   -o OPTS     mount options (default allow_other)
//   FILE        an absolute host path such as /proc/meminfo, served at the
//               same path under MOUNTPOINT
// Runs in the foreground until SIGTERM/SIGINT, then unmounts.
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXNODES 128

struct node {
    char path[256];
    int is_dir;
    char *data;
    size_t size;
};
static struct node nodes[MAXNODES];
static int nnodes;

static struct node *lookup(const char *path) {
    for (int i = 0; i < nnodes; i++)
        if (strcmp(nodes[i].path, path) == 0) return &nodes[i];
    return NULL;
}

static void add_dir(const char *path) {
    if (lookup(path) || nnodes >= MAXNODES) return;
    snprintf(nodes[nnodes].path, sizeof nodes[nnodes].path, "%s", path);
    nodes[nnodes++].is_dir = 1;
}

static int add_file(const char *path) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0; add_dir(dir); *s = '/';
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0 || nnodes >= MAXNODES) { fprintf(stderr, "floorfs: cannot read %s\n", path); return -1; }
    size_t cap = 1 << 16, len = 0;
    char *data = malloc(cap);
    ssize_t n;
    while ((n = read(fd, data + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len == cap) data = realloc(data, cap *= 2);
    }
    close(fd);
    struct node *f = &nodes[nnodes++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->data = data;
    f->size = len;
    return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->entry_timeout = 300;
    cfg->attr_timeout = 300;
    cfg->negative_timeout = 300;
    cfg->direct_io = 1;
    cfg->kernel_cache = 0;
    return NULL;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    (void)fi;
    memset(st, 0, sizeof *st);
    if (strcmp(path, "/") == 0) { st->st_mode = S_IFDIR | 0555; st->st_nlink = 2; return 0; }
    struct node *n = lookup(path);
    if (!n) return -ENOENT;
    st->st_mode = n->is_dir ? (S_IFDIR | 0555) : (S_IFREG | 0444);
    st->st_nlink = n->is_dir ? 2 : 1;
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi) {
    struct node *n = lookup(path);
    if (!n) return -ENOENT;
    if (n->is_dir) return -EISDIR;
    fi->fh = (uint64_t)(uintptr_t)n;
    fi->direct_io = 1;
    return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)path;
    struct node *n = (struct node *)(uintptr_t)fi->fh;
    if (off < 0 || (size_t)off >= n->size) return 0;
    if (size > n->size - (size_t)off) size = n->size - (size_t)off;
    memcpy(buf, n->data + off, size);
    return (int)size;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    (void)off; (void)fi; (void)flags;
    size_t len = strcmp(path, "/") == 0 ? 0 : strlen(path);
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    for (int i = 0; i < nnodes; i++) {
        const char *p = nodes[i].path;
        if (strncmp(p, path, len) == 0 && p[len] == '/' && !strchr(p + len + 1, '/'))
            fill(buf, p + len + 1, NULL, 0, 0);
    }
    return 0;
}

static const struct fuse_operations ops = {
    .init = fs_init, .getattr = fs_getattr, .open = fs_open, .read = fs_read, .readdir = fs_readdir,
};

/* ---- the low-level floor: node id = index in nodes[] + 2, root = 1 ---- */

static struct node *ll_node(fuse_ino_t ino) {
    return ino >= 2 && ino - 2 < (fuse_ino_t)nnodes ? &nodes[ino - 2] : NULL;
}

static const char *ll_path(fuse_ino_t ino) {
    if (ino == FUSE_ROOT_ID) return "";
    struct node *n = ll_node(ino);
    return n ? n->path : NULL;
}

static void ll_stat(fuse_ino_t ino, struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    struct node *n = ll_node(ino);
    int dir = ino == FUSE_ROOT_ID || (n && n->is_dir);
    st->st_mode = dir ? (S_IFDIR | 0555) : (S_IFREG | 0444);
    st->st_nlink = dir ? 2 : 1;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
    const char *dir = ll_path(parent);
    if (!dir) { fuse_reply_err(req, ENOENT); return; }
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.entry_timeout = e.attr_timeout = 300;
    for (int i = 0; i < nnodes; i++) {
        if (strcmp(nodes[i].path, path) == 0) {
            e.ino = (fuse_ino_t)i + 2;
            ll_stat(e.ino, &e.attr);
            fuse_reply_entry(req, &e);
            return;
        }
    }
    fuse_reply_entry(req, &e); /* negative, cached */
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    (void)fi;
    if (!ll_path(ino)) { fuse_reply_err(req, ENOENT); return; }
    struct stat st;
    ll_stat(ino, &st);
    fuse_reply_attr(req, &st, 300);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    struct node *n = ll_node(ino);
    if (!n) { fuse_reply_err(req, ENOENT); return; }
    if (n->is_dir) { fuse_reply_err(req, EISDIR); return; }
    fi->fh = (uint64_t)(uintptr_t)n;
    fi->direct_io = 1;
    fuse_reply_open(req, fi);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)ino;
    struct node *n = (struct node *)(uintptr_t)fi->fh;
    if (off < 0 || (size_t)off >= n->size) { fuse_reply_buf(req, NULL, 0); return; }
    if (size > n->size - (size_t)off) size = n->size - (size_t)off;
    fuse_reply_buf(req, n->data + off, size);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)fi;
    const char *dir = ll_path(ino);
    if (!dir) { fuse_reply_err(req, ENOENT); return; }
    size_t len = strlen(dir);
    char buf[8192];
    size_t used = 0;
    off_t k = 0;
    struct stat st;
    memset(&st, 0, sizeof st);
    for (int i = -2; i < nnodes; i++) {
        const char *name;
        if (i == -2) name = ".";
        else if (i == -1) name = "..";
        else {
            const char *p = nodes[i].path;
            if (strncmp(p, dir, len) != 0 || p[len] != '/' || strchr(p + len + 1, '/')) continue;
            name = p + len + 1;
        }
        if (k++ < off) continue;
        st.st_ino = i < 0 ? ino : (fuse_ino_t)i + 2; /* readdir(3) skips d_ino 0 */
        size_t need = fuse_add_direntry(req, buf + used, sizeof buf - used, name, &st, k);
        if (used + need > size || used + need > sizeof buf) break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
}

static const struct fuse_lowlevel_ops llops = {
    .lookup = ll_lookup, .getattr = ll_getattr, .open = ll_open, .read = ll_read, .readdir = ll_readdir,
};

static int run_lowlevel(struct fuse_args *args, const char *mnt, int clone_fd, unsigned max_idle) {
    struct fuse_session *se = fuse_session_new(args, &llops, sizeof llops, NULL);
    if (!se) return 1;
    if (fuse_session_mount(se, mnt) != 0) { fuse_session_destroy(se); return 1; }
    fuse_set_signal_handlers(se);
    struct fuse_loop_config config = { .clone_fd = clone_fd, .max_idle_threads = max_idle };
    int rc = fuse_session_loop_mt(se, &config);
    fuse_remove_signal_handlers(se);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    int clone_fd = 0, lowlevel = 0, opt;
    unsigned max_idle = 16;
    const char *mopts = "allow_other";
    while ((opt = getopt(argc, argv, "Lci:o:")) != -1) {
        switch (opt) {
        case 'L': lowlevel = 1; break;
        case 'c': clone_fd = 1; break;
        case 'i': max_idle = (unsigned)atoi(optarg); break;
        case 'o': mopts = optarg; break;
        default: fprintf(stderr, "usage: %s [-L] [-c] [-i MAXIDLE] [-o OPTS] MOUNTPOINT FILE...\n", argv[0]); return 2;
        }
    }
    if (argc - optind < 2) { fprintf(stderr, "usage: %s [-L] [-c] [-i MAXIDLE] [-o OPTS] MOUNTPOINT FILE...\n", argv[0]); return 2; }
    const char *mnt = argv[optind];
    for (int i = optind + 1; i < argc; i++)
        if (add_file(argv[i]) != 0) return 1;

    char *fargv[] = {"floorfs", "-o", (char *)mopts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    if (lowlevel) return run_lowlevel(&args, mnt, clone_fd, max_idle);
    struct fuse *fuse = fuse_new(&args, &ops, sizeof ops, NULL);
    if (!fuse) return 1;
    if (fuse_mount(fuse, mnt) != 0) { fuse_destroy(fuse); return 1; }
    struct fuse_session *se = fuse_get_session(fuse);
    fuse_set_signal_handlers(se);
    struct fuse_loop_config config = { .clone_fd = clone_fd, .max_idle_threads = max_idle };
    int rc = fuse_loop_mt(fuse, &config);
    fuse_remove_signal_handlers(se);
    fuse_unmount(fuse);
    fuse_destroy(fuse);
    return rc ? 1 : 0;
}
