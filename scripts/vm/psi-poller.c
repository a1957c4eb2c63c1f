/* A PSI trigger client for the VM's checks (scripts/vm/init.sh), built
 * statically by scripts/vm-test.sh: the guest is a busybox initramfs.
 *
 *   psi-poller FILE TRIGGER TIMEOUT_MS [RELEASE_FILE]
 *
 * Opens FILE (a /proc/pressure file through the mount) O_RDWR|O_NONBLOCK,
 * writes TRIGGER with its NUL as the kernel's documentation does, writes
 * it a second time (the kernel answers EBUSY: one trigger per open file),
 * then poll()s for POLLPRI for at most TIMEOUT_MS. With RELEASE_FILE, the
 * file stays open until RELEASE_FILE exists (so the caller can look at the
 * daemon meanwhile). Prints one line per step:
 *
 *   write ok | write error EINVAL
 *   second-write error EBUSY
 *   event revents=0x.. after N ms | timeout after N ms
 *   late-event revents=0x.. after N ms (seen by poll's last look at its
 *   timeout: the daemon never woke the poll)
 *   closed
 *
 * Exit status: 0 after an event, 1 after a timeout or a late event, 2 when the first write
 * failed, 3 on a usage or open error. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static const char *errname(int e) {
    switch (e) {
    case EINVAL: return "EINVAL";
    case EBUSY: return "EBUSY";
    case EACCES: return "EACCES";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOENT: return "ENOENT";
    default: return strerror(e);
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s FILE TRIGGER TIMEOUT_MS [RELEASE_FILE]\n", argv[0]);
        return 3;
    }
    int fd = open(argv[1], O_RDWR | O_NONBLOCK);
    if (fd < 0) {
        printf("open error %s\n", errname(errno));
        return 3;
    }
    const char *trigger = argv[2];
    if (write(fd, trigger, strlen(trigger) + 1) < 0) {
        printf("write error %s\n", errname(errno));
        fflush(stdout);
        close(fd);
        return 2;
    }
    printf("write ok\n");
    if (write(fd, trigger, strlen(trigger) + 1) < 0)
        printf("second-write error %s\n", errname(errno));
    else
        printf("second-write ok\n");
    fflush(stdout);
    int status = 1;
    long start = now_ms(), timeout = 0;
    sscanf(argv[3], "%ld", &timeout);
    for (;;) {
        long left = timeout - (now_ms() - start);
        if (left <= 0) {
            printf("timeout after %ld ms\n", now_ms() - start);
            break;
        }
        struct pollfd p = { .fd = fd, .events = POLLPRI };
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            printf("poll error %s\n", errname(errno));
            break;
        }
        if (n > 0) {
            long took = now_ms() - start;
            /* poll(2) looks at the file once more when its time is up: an
               event seen only then was never notified (FUSE_NOTIFY_POLL). */
            int late = took >= timeout - 100;
            printf("%s revents=0x%x after %ld ms\n", late ? "late-event" : "event", p.revents, took);
            status = (p.revents & POLLPRI) && !(p.revents & POLLERR) && !late ? 0 : 1;
            break;
        }
    }
    fflush(stdout);
    if (argc > 4)
        while (access(argv[4], F_OK) != 0) usleep(100000);
    close(fd);
    printf("closed\n");
    return status;
}
