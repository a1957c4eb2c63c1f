#ifndef SWIFT_LXCFS_CLINUX_EPOLL_H
#define SWIFT_LXCFS_CLINUX_EPOLL_H

/* epoll(7) and eventfd(2), which Swift's Glibc module does not declare
   (struct epoll_event is packed on x86-64). Thin wrappers: each returns
   what the kernel returns, -1 with errno set on failure. */

#include <stdint.h>

/* epoll_create1(EPOLL_CLOEXEC). */
int clinux_epoll_create(void);

/* epoll_ctl(EPOLL_CTL_ADD) of `fd` for `events` (EPOLL* bits), with `data`
   handed back by clinux_epoll_wait. */
int clinux_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);

/* epoll_ctl(EPOLL_CTL_DEL). */
int clinux_epoll_del(int epfd, int fd);

/* epoll_wait(2) for at most `max` (<= 64) entries: the data and events of
   each ready entry go to data[i] and events[i]; returns how many. */
int clinux_epoll_wait(int epfd, uint64_t *data, uint32_t *events, int max, int timeout_ms);

/* eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). */
int clinux_eventfd(void);

/* prctl(PR_SET_NAME): names the calling thread (at most 15 bytes retained),
   as /proc/PID/task/TID/comm shows it. */
int clinux_set_thread_name(const char *name);

/* The EPOLL* bits used, from <sys/epoll.h>. */
#define CLINUX_EPOLLIN 0x001U
#define CLINUX_EPOLLPRI 0x002U
#define CLINUX_EPOLLERR 0x008U
#define CLINUX_EPOLLHUP 0x010U

#endif
