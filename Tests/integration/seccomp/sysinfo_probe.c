/* The seccomp tests' caller: prints what sysinfo(2) returned, one line of
   key=value pairs. `sysinfo_probe bad` passes an unmapped pointer and
   prints the raw call's result and errno; `sysinfo_probe loop` calls it
   until killed, printing one line after the first answer. Built with gcc -static so that
   it runs in a busybox rootfs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "bad") == 0) {
        long rc = syscall(SYS_sysinfo, (void *)16);
        printf("rc=%ld errno=%d\n", rc, rc < 0 ? errno : 0);
        return 0;
    }
    struct sysinfo si;
    if (argc > 1 && strcmp(argv[1], "loop") == 0) {
        syscall(SYS_sysinfo, &si);
        printf("looping totalram=%lu\n", si.totalram);
        fflush(stdout);
        for (;;) syscall(SYS_sysinfo, &si);
    }
    memset(&si, 0xab, sizeof si);
    long rc = syscall(SYS_sysinfo, &si);
    if (rc != 0) {
        printf("rc=%ld errno=%d\n", rc, errno);
        return 0;
    }
    printf("rc=0 uptime=%ld load1=%lu load5=%lu load15=%lu totalram=%lu freeram=%lu sharedram=%lu "
           "bufferram=%lu totalswap=%lu freeswap=%lu procs=%u totalhigh=%lu freehigh=%lu mem_unit=%u\n",
           si.uptime, si.loads[0], si.loads[1], si.loads[2], si.totalram, si.freeram, si.sharedram,
           si.bufferram, si.totalswap, si.freeswap, (unsigned)si.procs, si.totalhigh, si.freehigh,
           si.mem_unit);
    return 0;
}
