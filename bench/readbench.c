// readbench: the load generator of scripts/bench.sh.
//
// Starts reader processes; each joins its own v1 cgroup (in every controller
// given with -C) and then, over and over, opens one of the given files,
// reads it to EOF through a reused buffer and closes it. Prints one JSON
// object: reads, reads per second, errors, p50/p99 latency in microseconds.
//
// usage: readbench [-n PROCS] [-t SECONDS] [-r MAXREADS] [-T TASKS]
//                  [-c CGPREFIX] [-g NCGROUPS] [-k FIRST] [-C ctrl,ctrl,...] PATH...
//   -n PROCS     reader processes running at once (default 1)
//   -t SECONDS   stop after this long (default 1; 0 = no time bound)
//   -r MAXREADS  each reader stops after this many reads (default: no bound)
//   -T TASKS     run TASKS short-lived readers in total, PROCS at a time,
//                reader k joining cgroup k % NCGROUPS (default: PROCS)
//   -c CGPREFIX  reader k joins /sys/fs/cgroup/CTRL/CGPREFIX-(k % NCGROUPS);
//                the cgroups must exist (the driver creates them with limits)
//   -g NCGROUPS  number of cgroups to spread readers over (default: PROCS)
//   -k FIRST     number the readers from FIRST instead of 0 (for runs that
//                continue over further cgroups)
//   -C CTRLS     controllers to join (default memory,cpu,cpuacct,cpuset)
//   PATH...      files read in turn, one per open/read/close
//
// Latencies are kept for up to MAXSAMPLES reads per reader; every read counts
// in the throughput. A read that fails to open, fails, or returns no bytes
// counts as an error.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXSAMPLES 100000
#define MAXPATHS 64

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

struct slot {            /* one per reader slot, in shared memory */
    uint64_t reads;
    uint64_t errors;
    uint64_t samples;
};

static int join_cgroups(const char *prefix, long index, const char *ctrls) {
    char list[256], dir[512], buf[32];
    snprintf(list, sizeof list, "%s", ctrls);
    int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    for (char *save = NULL, *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s/%s-%ld/cgroup.procs", c, prefix, index);
        int fd = open(dir, O_WRONLY);
        if (fd < 0) { fprintf(stderr, "readbench: cannot open %s: %s\n", dir, strerror(errno)); return -1; }
        if (write(fd, buf, len) != len) { fprintf(stderr, "readbench: cannot join %s: %s\n", dir, strerror(errno)); close(fd); return -1; }
        close(fd);
    }
    return 0;
}

static void reader(struct slot *s, uint32_t *lat, char **paths, int npaths,
                   uint64_t deadline, uint64_t maxreads) {
    static char buf[1 << 16];
    uint64_t reads = 0, errors = 0, samples = 0;
    int p = 0;
    for (;;) {
        if (maxreads && reads >= maxreads) break;
        uint64_t t0 = now_ns();
        if (deadline && t0 >= deadline) break;
        int fd = open(paths[p], O_RDONLY | O_CLOEXEC);
        if (++p == npaths) p = 0;
        ssize_t n, total = 0;
        if (fd < 0) { errors++; reads++; continue; }
        while ((n = read(fd, buf, sizeof buf)) > 0) total += n;
        if (n < 0 || total == 0) errors++;
        close(fd);
        uint64_t dt = now_ns() - t0;
        if (samples < MAXSAMPLES) lat[samples++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
        reads++;
    }
    s->reads += reads;
    s->errors += errors;
    s->samples = samples;
}

int main(int argc, char **argv) {
    long procs = 1, tasks = 0, ncg = 0, first = 0;
    double seconds = 1;
    uint64_t maxreads = 0;
    const char *prefix = NULL, *ctrls = "memory,cpu,cpuacct,cpuset";
    int opt;
    while ((opt = getopt(argc, argv, "n:t:r:T:c:g:k:C:")) != -1) {
        switch (opt) {
        case 'n': procs = atol(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'r': maxreads = strtoull(optarg, NULL, 10); break;
        case 'T': tasks = atol(optarg); break;
        case 'c': prefix = optarg; break;
        case 'g': ncg = atol(optarg); break;
        case 'k': first = atol(optarg); break;
        case 'C': ctrls = optarg; break;
        default: fprintf(stderr, "usage: %s [-n PROCS] [-t SECONDS] [-r MAXREADS] [-T TASKS] [-c CGPREFIX] [-g NCGROUPS] [-k FIRST] [-C CTRLS] PATH...\n", argv[0]); return 2;
        }
    }
    int npaths = argc - optind;
    if (npaths < 1 || npaths > MAXPATHS || procs < 1 || (seconds <= 0 && !maxreads)) {
        fprintf(stderr, "readbench: give 1 to %d paths, PROCS >= 1 and a time or read bound\n", MAXPATHS);
        return 2;
    }
    char **paths = argv + optind;
    if (tasks < procs) tasks = procs;
    if (ncg < 1) ncg = procs;

    /* Latencies in nanoseconds (u32), MAXSAMPLES per task, shared with the children. */
    size_t latbytes = sizeof(uint32_t) * MAXSAMPLES * (size_t)tasks;
    uint32_t *lat = mmap(NULL, latbytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    struct slot *slots = mmap(NULL, sizeof(struct slot) * tasks, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (lat == MAP_FAILED || slots == MAP_FAILED) { perror("readbench: mmap"); return 1; }
    memset(slots, 0, sizeof(struct slot) * tasks);

    uint64_t start = now_ns();
    uint64_t deadline = seconds > 0 ? start + (uint64_t)(seconds * 1e9) : 0;
    long started = 0, running = 0, failed = 0;
    while (started < tasks || running > 0) {
        while (started < tasks && running < procs && !(deadline && now_ns() >= deadline)) {
            long k = started++;
            pid_t pid = fork();
            if (pid < 0) { perror("readbench: fork"); failed++; continue; }
            if (pid == 0) {
                if (prefix && join_cgroups(prefix, (first + k) % ncg, ctrls) != 0) _exit(3);
                reader(&slots[k], lat + (size_t)k * MAXSAMPLES, paths, npaths, deadline, maxreads);
                _exit(0);
            }
            running++;
        }
        if (running == 0) break;
        int status;
        if (wait(&status) > 0) {
            running--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
        }
    }
    double elapsed = (now_ns() - start) / 1e9;

    uint64_t reads = 0, errors = 0, nsamples = 0;
    for (long k = 0; k < tasks; k++) { reads += slots[k].reads; errors += slots[k].errors; nsamples += slots[k].samples; }
    uint32_t *all = malloc(sizeof(uint32_t) * (nsamples ? nsamples : 1));
    uint64_t m = 0;
    for (long k = 0; k < tasks; k++)
        for (uint64_t j = 0; j < slots[k].samples; j++) all[m++] = lat[(size_t)k * MAXSAMPLES + j];
    qsort(all, m, sizeof(uint32_t), cmp_u32);
    double p50 = m ? all[m / 2] / 1e3 : 0, p99 = m ? all[(uint64_t)((m - 1) * 0.99)] / 1e3 : 0;
    printf("{\"reads\": %llu, \"errors\": %llu, \"failed_readers\": %ld, \"seconds\": %.3f, "
           "\"reads_per_s\": %.1f, \"p50_us\": %.2f, \"p99_us\": %.2f}\n",
           (unsigned long long)reads, (unsigned long long)errors, failed, elapsed,
           elapsed > 0 ? reads / elapsed : 0, p50, p99);
    return failed ? 1 : 0;
}
