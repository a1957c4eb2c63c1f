#!/usr/bin/env python3
"""Benchmark of swift-lxcfs against the FUSE floor, lxcfs and the host's /proc.

Run through scripts/bench.sh (which installs what is missing and builds).
Every read is open, read to EOF, close, done by bench/readbench.c from reader
processes that each sit in their own v1 cgroup with its own limits. For each
served file and reader count the targets are run in turn, several times, and
the medians are compared:

  host    the host's own file (no FUSE at all)
  floor   bench/floorfs.c: constant content, same libfuse API and threading
  lxcfs   lxcfs from the distribution (5.0.3 on Debian bookworm)
  swift   swift-lxcfs from .build/release

Then the per-read cost is measured with 1, 100 and 1000 cgroups existing, and
the daemon's memory after 100k and 1M reads spread over 1000 cgroups.

This is a measurement, not a test: it prints a table and the targets met,
and writes .build/bench/latest.{json,md} (and docs/performance.md's results
section with --update-doc). It cleans up its mounts and cgroups on exit,
Ctrl-C included.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# The served files: one row per file. Extend here when the daemon serves more.
# (lxcfs 5.0.3 serves no /proc/pressure files, so those are left out.)
FILES = [
    "proc/meminfo",
    "proc/cpuinfo",
    "proc/stat",
    "proc/uptime",
    "sys/devices/system/cpu/online",
    "proc/loadavg",
    "proc/swaps",
    "proc/diskstats",
]

# The host files one render reads for a reader in PARENT/cg-0 (v1), for the
# files whose sources are listed here: "C/..." is
# /sys/fs/cgroup/C/PARENT/cg-0/..., "C/^/..." the parent cgroup's file. Reading
# each once (open, read, close) is work no exact view can skip, so their summed
# cost bounds how close to the floor a file can get.
RENDER_READS = {
    # The files a render reads on every open. The host-wide files it also
    # uses (/proc/meminfo, /proc/stat, /proc/cpuinfo, cpu/online) are
    # generated at most once per 10 ms per worker thread, so they are not
    # listed. /proc/self/cgroup stands for the reader's /proc/PID/cgroup.
    # meminfo on a host without swap; with swap also memory.memsw.limit_in_bytes
    # of the cgroup and of its parent and memory.memsw.usage_in_bytes.
    "proc/meminfo": ["/proc/self/cgroup", "memory/memory.stat",
                     "memory/memory.usage_in_bytes", "memory/memory.limit_in_bytes",
                     "memory/^/memory.limit_in_bytes"],
    "proc/cpuinfo": ["/proc/self/cgroup", "cpuset/cpuset.effective_cpus"],
    "proc/stat": ["/proc/self/cgroup", "cpuset/cpuset.effective_cpus", "cpuacct/cpuacct.usage_all"],
    "proc/uptime": ["/proc/uptime"],
    "sys/devices/system/cpu/online": ["/proc/self/cgroup", "cpuset/cpuset.effective_cpus"],
}

TARGETS = ("host", "floor", "floor-ll", "lxcfs", "swift")
# Every target bench.py knows: floor-ll-c (the low-level floor with clone_fd)
# and swift-old (--baseline BINARY, the daemon before a change) only when asked.
ALL_TARGETS = ("host", "floor", "floor-ll", "floor-ll-c", "lxcfs", "swift-old", "swift")
# The high-level floor runs libfuse's loop as swift-lxcfs did before its own
# loop (fuse_loop_mt, clone_fd, 16 idle threads).
FLOOR_LOOP = ["-c", "-i", "16"]
# The low-level floor reads every request from one /dev/fuse descriptor, as
# swift-lxcfs's own loop does (FUSEConnection: no clone_fd, at most 16 threads).
FLOOR_LL_LOOP = ["-L", "-i", "16"]
CGROOT = "/sys/fs/cgroup"
CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset")
CG_PARENT = "swl-bench"          # default parent: every cgroup made here is PARENT/cg-K
MIB = 1024 * 1024

# Targets as ratios (see docs/performance.md).
FLOOR_THROUGHPUT = 0.9           # at 1 and 4 readers
LXCFS_THROUGHPUT = 2.5
FLOOR_P99 = 1.5
SCALE_GROWTH = 0.10              # per-read cost, 1 -> 1000 cgroups
RSS_LIMIT_KIB = 16 * 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Stop(Exception):
    pass


def on_signal(signum, frame):
    raise Stop(f"signal {signum}")


# ---------------------------------------------------------------- cgroups

class Cgroups:
    """Cgroups PARENT/cg-0 .. cg-(N-1) in every controller, each with its
    own memory limit, cpuset and CFS quota. Grown on demand, removed at the end."""

    def __init__(self, parent):
        self.parent = parent
        self.count = 0
        self.cpus = open("/sys/devices/system/cpu/online").read().strip()
        self.mems = open(os.path.join(CGROOT, "cpuset", "cpuset.mems")).read().strip() or "0"
        self.remove_all()  # leftovers of an interrupted run
        for c in CONTROLLERS:
            os.makedirs(os.path.join(CGROOT, c, self.parent), exist_ok=True)
        parent = os.path.join(CGROOT, "cpuset", self.parent)
        self._write(os.path.join(parent, "cpuset.cpus"), self.cpus)
        self._write(os.path.join(parent, "cpuset.mems"), self.mems)
        self.online = self._cpu_numbers(self.cpus)

    @staticmethod
    def _cpu_numbers(text):
        out = []
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
        return out

    @staticmethod
    def _write(path, value):
        with open(path, "w") as f:
            f.write(str(value))

    def ensure(self, n):
        """Makes sure cg-0 .. cg-(n-1) exist."""
        while self.count < n:
            k = self.count
            for c in CONTROLLERS:
                os.mkdir(os.path.join(CGROOT, c, self.parent, f"cg-{k}"))
            d = lambda c: os.path.join(CGROOT, c, self.parent, f"cg-{k}")
            # Each cgroup its own limits: memory 256 MiB + k MiB, a cpuset that
            # cycles through single CPUs and all CPUs, a quota on every other one.
            self._write(os.path.join(d("memory"), "memory.limit_in_bytes"), (256 + k) * MIB)
            cpus = self.cpus if k % (len(self.online) + 1) == 0 else str(self.online[k % len(self.online)])
            self._write(os.path.join(d("cpuset"), "cpuset.cpus"), cpus)
            self._write(os.path.join(d("cpuset"), "cpuset.mems"), self.mems)
            if k % 2:
                self._write(os.path.join(d("cpu"), "cpu.cfs_quota_us"), 50000 + 1000 * (k % 50))
            self.count += 1

    def shrink(self, n):
        """Removes cgroups down to n."""
        while self.count > n:
            self.count -= 1
            for c in CONTROLLERS:
                self._rmdir(os.path.join(CGROOT, c, self.parent, f"cg-{self.count}"))

    @staticmethod
    def _rmdir(path):
        for _ in range(100):
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError:
                # Only readbench children of this run can be inside.
                try:
                    for pid in open(os.path.join(path, "cgroup.procs")).read().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                except FileNotFoundError:
                    return
                time.sleep(0.02)

    def remove_all(self):
        for c in CONTROLLERS:
            parent = os.path.join(CGROOT, c, self.parent)
            if not os.path.isdir(parent):
                continue
            for name in os.listdir(parent):
                if name.startswith("cg-"):
                    self._rmdir(os.path.join(parent, name))
            self._rmdir(parent)
        self.count = 0


# ---------------------------------------------------------------- servers

class Server:
    """A FUSE server process on its own mount point."""

    def __init__(self, name, argv, mountpoint, workdir):
        self.name = name
        self.mountpoint = mountpoint
        self.logpath = os.path.join(workdir, f"{name}.log")
        os.makedirs(mountpoint, exist_ok=True)
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not os.path.ismount(mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not mount {mountpoint}; see {self.logpath}")
            time.sleep(0.05)

    def status(self, field):
        """A number field of /proc/PID/status (VmRSS, VmHWM, RssAnon in kB; Threads)."""
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except FileNotFoundError:
            pass
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.ismount(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], check=False)
        self.log.close()


# ---------------------------------------------------------------- tools

def build_tools(folder):
    """Compiles bench/readbench.c and bench/floorfs.c into `folder` when missing or older."""
    os.makedirs(folder, exist_ok=True)
    cc = os.environ.get("CC") or next((c for c in ("gcc", "cc", "clang", "/opt/swift/usr/bin/clang")
                                        if subprocess.run(["sh", "-c", f"command -v {c}"],
                                                          capture_output=True).returncode == 0), None)
    if not cc:
        raise RuntimeError("no C compiler (gcc, cc or clang) found")
    fuse = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True, text=True,
                          check=True).stdout.split()
    for name, extra in (("readbench", []), ("floorfs", fuse)):
        src = os.path.join(REPO, "bench", name + ".c")
        out = os.path.join(folder, name)
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
            continue
        subprocess.run([cc, "-O2", "-Wall", "-o", out, src] + extra, check=True)


# ---------------------------------------------------------------- runs

def readbench(tools, paths, procs, seconds, cgroups, ncg, maxreads=0, tasks=0, first=0):
    argv = [tools["readbench"], "-n", str(procs), "-t", str(seconds), "-c", f"{cgroups.parent}/cg",
            "-g", str(ncg), "-k", str(first)]
    if maxreads:
        argv += ["-r", str(maxreads)]
    if tasks:
        argv += ["-T", str(tasks)]
    out = subprocess.run(argv + list(paths), capture_output=True, text=True,
                         timeout=max(60, seconds * 3 + 60) if seconds else 900)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"readbench failed: {out.stderr.strip()} {out.stdout.strip()}")
    return json.loads(out.stdout)


def median_of(runs, key):
    values = [r[key] for r in runs]
    return statistics.median(values) if values else None


def measure(tools, servers, files, readers, reps, seconds, cgroups, ncg, results, scale):
    """Runs every (file, target) `reps` times, interleaved so that noise hits
    all targets alike, and stores medians in results[scale][file][readers][target]."""
    for f in files:
        runs = {t: [] for t in servers}
        names = list(servers)
        for rep in range(reps):
            # Rotate the order each time so no target always runs first.
            for t in names[rep % len(names):] + names[:rep % len(names)]:
                root = servers[t]
                path = os.path.join(root, f)
                runs[t].append(readbench(tools, [path], readers, seconds, cgroups, ncg))
        cell = results.setdefault(str(scale), {}).setdefault(f, {}).setdefault(str(readers), {})
        for t, rs in runs.items():
            cell[t] = {
                "reads_per_s": median_of(rs, "reads_per_s"),
                "p50_us": median_of(rs, "p50_us"),
                "p99_us": median_of(rs, "p99_us"),
                "errors": sum(r["errors"] for r in rs),
                "runs": [round(r["reads_per_s"]) for r in rs],
            }
        parts = "  ".join(f"{t} {cell[t]['reads_per_s']:.0f}/s" for t in runs)
        log(f"  cgroups={scale} readers={readers} {f}: {parts}")


def kernel_files(tools, files, seconds, cgroups):
    """The cost of each host file a render reads (1 reader in cg-0), summed per served file."""
    out = {}
    for f in files:
        if f not in RENDER_READS:
            continue
        parts = []
        for rel in RENDER_READS[f]:
            if rel.startswith("/"):
                path = rel
            else:
                ctrl, _, rest = rel.partition("/")
                cg = cgroups.parent if rest.startswith("^/") else f"{cgroups.parent}/cg-0"
                path = os.path.join(CGROOT, ctrl, cg, rest[2:] if rest.startswith("^/") else rest)
            r = readbench(tools, [path], 1, seconds, cgroups, cgroups.count)
            parts.append({"path": path, "p50_us": r["p50_us"], "reads_per_s": r["reads_per_s"]})
        out[f] = {"files": parts, "sum_p50_us": sum(p["p50_us"] for p in parts)}
        log(f"  kernel files of {f}: {len(parts)} files, {out[f]['sum_p50_us']:.1f} µs (sum of p50)")
    return out


def memory_run(tools, swift, files, total_reads, ncg, cgroups):
    """`total_reads` reads over all files in turn, in ten equal steps; each
    step runs one short-lived reader in every one of the `ncg` cgroups
    (reader k in cgroup k, 4 at a time), so every step spreads its reads over
    all cgroups and the RSS after each step shows growth per read, not the
    first sight of a cgroup. The daemon's RSS is taken after each step."""
    per = max(1, total_reads // (10 * ncg))
    paths = [os.path.join(swift.mountpoint, f) for f in files]
    before = swift.status("VmRSS")
    reads = errors = 0
    checkpoints = []
    for k in range(10):
        r = readbench(tools, paths, min(4, ncg), 0, cgroups, ncg, maxreads=per, tasks=ncg)
        reads += r["reads"]
        errors += r["errors"]
        checkpoints.append({"reads": reads, "rss_kib": swift.status("VmRSS"),
                            "anon_kib": swift.status("RssAnon"), "file_kib": swift.status("RssFile"),
                            "threads": swift.status("Threads")})
    return {
        "reads_first": checkpoints[0]["reads"], "reads_total": reads, "errors": errors, "cgroups": ncg,
        "reads_per_reader": per,
        "rss_start_kib": before, "rss_after_first_kib": checkpoints[0]["rss_kib"],
        "rss_after_total_kib": checkpoints[-1]["rss_kib"], "checkpoints": checkpoints,
        "peak_rss_kib": swift.status("VmHWM"), "rss_anon_kib": swift.status("RssAnon"),
    }


def distinct_cgroups(tools, roots, files, ncg, cgroups):
    """Every read from a different cgroup: `ncg` short-lived readers, one
    read each, reader k in cgroup k (4 at a time), so that no rendering of
    one container can serve another's read and the render cache cannot
    help. p50/p99 of open+read+close per target and file."""
    out = {}
    for t, root in roots.items():
        if t == "host":
            continue
        for f in files:
            r = readbench(tools, [os.path.join(root, f)], min(4, ncg), 0, cgroups, ncg, maxreads=1, tasks=ncg)
            out.setdefault(f, {})[t] = {"p50_us": r["p50_us"], "p99_us": r["p99_us"], "errors": r["errors"]}
        log(f"  distinct cgroups {t}: " + "  ".join(f"{f} {out[f][t]['p50_us']}" for f in files))
    return out


# ---------------------------------------------------------------- report

def fmt(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def report(res):
    """The markdown tables and the list of targets."""
    out = []
    main = res["main_scale"]
    cells = res["results"].get(str(main), {})
    out.append(f"### Throughput and latency ({main} cgroups existing; medians of {res['reps']} runs of {res['seconds']} s)")
    out.append("")
    out.append("| file | readers | host r/s | floor r/s | lxcfs r/s | swift r/s | swift/floor | swift/lxcfs "
               "| p50 µs floor / lxcfs / swift | p99 µs floor / lxcfs / swift | p99 swift/floor |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    checks = []
    for f in res["files"]:
        for n in res["readers"]:
            c = cells.get(f, {}).get(str(n))
            if not c:
                continue
            g = lambda t, k: c.get(t, {}).get(k)
            rf = ratio(g("swift", "reads_per_s"), g("floor", "reads_per_s"))
            rl = ratio(g("swift", "reads_per_s"), g("lxcfs", "reads_per_s"))
            rp = ratio(g("swift", "p99_us"), g("floor", "p99_us"))
            out.append(f"| {f} | {n} | {fmt(g('host', 'reads_per_s'))} | {fmt(g('floor', 'reads_per_s'))} "
                       f"| {fmt(g('lxcfs', 'reads_per_s'))} | {fmt(g('swift', 'reads_per_s'))} "
                       f"| {fmt(rf, 2)} | {fmt(rl, 2)} "
                       f"| {fmt(g('floor', 'p50_us'))} / {fmt(g('lxcfs', 'p50_us'))} / {fmt(g('swift', 'p50_us'))} "
                       f"| {fmt(g('floor', 'p99_us'))} / {fmt(g('lxcfs', 'p99_us'))} / {fmt(g('swift', 'p99_us'))} "
                       f"| {fmt(rp, 2)} |")
            if n in (1, 4) and rf is not None:
                checks.append((f"{f}, {n} readers: throughput ≥ {FLOOR_THROUGHPUT}× floor", rf >= FLOOR_THROUGHPUT, f"{rf:.2f}×"))
            if rl is not None:
                checks.append((f"{f}, {n} readers: throughput ≥ {LXCFS_THROUGHPUT}× lxcfs", rl >= LXCFS_THROUGHPUT, f"{rl:.2f}×"))
            if rp is not None:
                checks.append((f"{f}, {n} readers: p99 ≤ {FLOOR_P99}× floor p99", rp <= FLOOR_P99, f"{rp:.2f}×"))
            errs = sum(c.get(t, {}).get("errors", 0) for t in c)
            if errs:
                checks.append((f"{f}, {n} readers: no read errors", False, f"{errs} errors"))
    extra = [t for t in ("floor-ll", "floor-ll-c", "swift-old")
             if any(t in c2 for f2 in cells.values() for c2 in f2.values())]
    if extra:
        out.append("")
        out.append("### Against both floors" + (" and the daemon before the change (swift-old)" if "swift-old" in extra else "")
                   + f" ({main} cgroups existing; reads/s, medians)")
        out.append("")
        cols = ["floor", "floor-ll"] + [t for t in ("floor-ll-c", "lxcfs", "swift-old") if t in extra or t == "lxcfs"] + ["swift"]
        out.append("| file | readers | " + " | ".join(f"{t} r/s" for t in cols) + " | swift/floor | swift/floor-ll"
                   + (" | swift/swift-old" if "swift-old" in extra else "")
                   + (" | floor-ll/floor-ll-c" if "floor-ll-c" in extra else "") + " |")
        out.append("|---|---:|" + "---:|" * (len(cols) + 2 + ("swift-old" in extra) + ("floor-ll-c" in extra)))
        for f in res["files"]:
            for n in res["readers"]:
                c = cells.get(f, {}).get(str(n))
                if not c:
                    continue
                g = lambda t: c.get(t, {}).get("reads_per_s")
                row = f"| {f} | {n} | " + " | ".join(fmt(g(t)) for t in cols)
                row += f" | {fmt(ratio(g('swift'), g('floor')), 2)} | {fmt(ratio(g('swift'), g('floor-ll')), 2)}"
                if "swift-old" in extra:
                    row += f" | {fmt(ratio(g('swift'), g('swift-old')), 2)}"
                if "floor-ll-c" in extra:
                    row += f" | {fmt(ratio(g('floor-ll'), g('floor-ll-c')), 2)}"
                out.append(row + " |")
    scales = [s for s in res["scales"] if str(s) in res["results"]]
    if len(scales) > 1:
        out.append("")
        out.append("### Per-read cost against the number of cgroups (1 reader; p50 latency of open+read+close, µs)")
        out.append("")
        out.append("The p50 is used because a 1 s run's mean on a shared machine moves with whatever else runs; "
                   "the last column divides by the floor measured in the same minutes.")
        out.append("")
        out.append("| file | " + " | ".join(f"floor @{s}" for s in scales) + " | "
                   + " | ".join(f"lxcfs @{s}" for s in scales) + " | "
                   + " | ".join(f"swift @{s}" for s in scales) + f" | swift {scales[0]}→{scales[-1]} | swift/floor {scales[0]}→{scales[-1]} |")
        out.append("|---|" + "---:|" * (3 * len(scales) + 2))
        for f in res["files"]:
            cost = {}
            for t in ("floor", "lxcfs", "swift"):
                cost[t] = [res["results"][str(s)].get(f, {}).get("1", {}).get(t, {}).get("p50_us") for s in scales]
            sw, fl = cost["swift"], cost["floor"]
            growth = ratio(sw[-1], sw[0])
            rel = ratio(ratio(sw[-1], fl[-1]), ratio(sw[0], fl[0]))
            out.append(f"| {f} | " + " | ".join(fmt(v, 1) for v in cost["floor"] + cost["lxcfs"] + sw)
                       + f" | {fmt(None if growth is None else (growth - 1) * 100, 1)} % "
                       + f"| {fmt(None if rel is None else (rel - 1) * 100, 1)} % |")
            if growth is not None:
                checks.append((f"{f}: per-read cost (p50) grows < {SCALE_GROWTH:.0%} from {scales[0]} to {scales[-1]} cgroups",
                               growth - 1 < SCALE_GROWTH,
                               f"{(growth - 1) * 100:+.1f} %" + ("" if rel is None else f"; against the floor {(rel - 1) * 100:+.1f} %")))
    kf = res.get("kernel_files")
    if kf:
        out.append("")
        out.append("### The least an exact view adds: the kernel files each render reads afresh (1 reader, p50 of open+read+close)")
        out.append("")
        out.append("| file | kernel files read per render | their summed p50 µs | floor p50 µs | swift p50 µs "
                   "| best possible swift/floor (1 reader) |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for f in res["files"]:
            k = kf.get(f)
            c = cells.get(f, {}).get("1", {})
            fl, sw = c.get("floor", {}).get("p50_us"), c.get("swift", {}).get("p50_us")
            if not k:
                continue
            bound = fl / (fl + k["sum_p50_us"]) if fl else None
            out.append(f"| {f} | {len(k['files'])} | {fmt(k['sum_p50_us'], 1)} | {fmt(fl, 1)} | {fmt(sw, 1)} "
                       f"| {fmt(bound, 2)} |")
    distinct = res.get("distinct")
    if distinct:
        targets = [t for t in ("floor", "lxcfs", "swift-old", "swift") if any(t in v for v in distinct.values())]
        out.append("")
        out.append(f"### Every read from a different cgroup, out of {res['distinct_cgroups']} "
                   "(one read per short-lived reader; the render cache cannot help; p50 / p99 µs)")
        out.append("")
        out.append("| file | " + " | ".join(targets) + " |")
        out.append("|---|" + "---:|" * len(targets))
        for f, cells in distinct.items():
            out.append(f"| {f} | " + " | ".join(
                f"{fmt(cells[t]['p50_us'])} / {fmt(cells[t]['p99_us'])}" if t in cells else "-" for t in targets) + " |")
    mem = res.get("memory")
    if mem:
        out.append("")
        out.append(f"### swift-lxcfs memory ({mem['reads_total']:,} reads over {mem['cgroups']} cgroups, all files in turn)")
        out.append("")
        if mem.get("reads_per_reader"):
            out.append(f"Ten steps; each runs one reader in every one of the {mem['cgroups']} cgroups, "
                       f"{mem['reads_per_reader']:,} reads each.")
            out.append("")
        out.append("| at start | after first {:,} reads | after {:,} reads | peak (VmHWM) | anonymous (RssAnon) at end |".format(
            mem["reads_first"], mem["reads_total"]))
        out.append("|---:|---:|---:|---:|---:|")
        out.append(f"| {fmt(mem['rss_start_kib'])} KiB | {fmt(mem['rss_after_first_kib'])} KiB | "
                   f"{fmt(mem['rss_after_total_kib'])} KiB | {fmt(mem['peak_rss_kib'])} KiB | {fmt(mem['rss_anon_kib'])} KiB |")
        out.append("")
        out.append("RSS after each tenth: " + ", ".join(
            f"{c['reads'] // 1000:,}k: {fmt(c['rss_kib'])}" for c in mem.get("checkpoints", [])) + " KiB")
        if all(c.get("anon_kib") is not None for c in mem.get("checkpoints", [])):
            out.append("")
            out.append("Of which anonymous (RssAnon) / file-backed (RssFile, the binary's and the shared "
                       "libraries' pages as they are first used): " + ", ".join(
                f"{c['reads'] // 1000:,}k: {fmt(c['anon_kib'])} / {fmt(c['file_kib'])}"
                for c in mem["checkpoints"]) + " KiB")
        checks.append(("peak RSS ≤ 16 MiB", (mem["peak_rss_kib"] or 1 << 30) <= RSS_LIMIT_KIB,
                       f"{fmt(mem['peak_rss_kib'])} KiB"))
        grow = (mem["rss_after_total_kib"] or 0) - (mem["rss_after_first_kib"] or 0)
        checks.append((f"no RSS growth from {mem['reads_first']:,} to {mem['reads_total']:,} reads",
                       grow <= 0, f"{grow:+d} KiB"))
        if mem["errors"]:
            checks.append(("memory run: no read errors", False, f"{mem['errors']} errors"))
    out.append("")
    out.append("### Targets")
    out.append("")
    for name, ok, value in checks:
        out.append(f"- {'met' if ok else '**not met**'}: {name} ({value})")
    return "\n".join(out) + "\n", checks


def update_doc(text, command):
    path = os.path.join(REPO, "docs", "performance.md")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    doc = open(path).read() if os.path.exists(path) else f"# Performance\n\n{begin}\n{end}\n"
    if begin not in doc:
        doc += f"\n{begin}\n{end}\n"
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    body = f"{begin}\nCommand: `{command}`\n\n{text}{end}"
    with open(path, "w") as f:
        f.write(head + body + tail)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs: 0.3 s, 1 run each, 100k memory reads")
    ap.add_argument("--seconds", type=float, help="length of each run (default 1)")
    ap.add_argument("--reps", type=int, help="runs per cell; medians are reported (default 3)")
    ap.add_argument("--files", help="comma-separated subset of: " + ",".join(FILES))
    ap.add_argument("--readers", default="1,4,32", help="reader counts (default 1,4,32)")
    ap.add_argument("--scales", default="1,100,1000", help="cgroups existing (default 1,100,1000)")
    ap.add_argument("--memory-reads", type=int, help="reads of the memory run, 0 to skip (default 1000000)")
    ap.add_argument("--no-kernel-files", action="store_true", help="skip timing the host files each render reads")
    ap.add_argument("--targets", default=",".join(TARGETS), help="subset of " + ",".join(ALL_TARGETS)
                    + " (default: %(default)s, and swift-old with --baseline)")
    ap.add_argument("--binary", default=os.path.join(REPO, ".build", "release", "swift-lxcfs"))
    ap.add_argument("--baseline", help="another swift-lxcfs binary, measured as target swift-old in the same run")
    ap.add_argument("--tools", default=os.path.join(REPO, ".build", "bench", "tools"),
                    help="folder for the compiled readbench and floorfs (built there when missing)")
    ap.add_argument("--cgroup-parent", default=CG_PARENT, help="parent of the cgroups made (default %(default)s)")
    ap.add_argument("--out", default=os.path.join(REPO, ".build", "bench"), help="where latest.json/.md go")
    ap.add_argument("--update-doc", action="store_true", help="write the results into docs/performance.md")
    ap.add_argument("--swift-args", default="",
                    help="more flags for the swift target, e.g. '--container-cpu-budget 0': with the default "
                         "0.1-core budget per container, the one-reader cells measure the budget, not the daemon")
    ap.add_argument("--command", default="scripts/bench.sh", help=argparse.SUPPRESS)
    a = ap.parse_args()

    seconds = a.seconds or (0.3 if a.quick else 1.0)
    reps = a.reps or (1 if a.quick else 3)
    mem_reads = a.memory_reads if a.memory_reads is not None else (100_000 if a.quick else 1_000_000)
    files = a.files.split(",") if a.files else FILES
    readers = [int(x) for x in a.readers.split(",")]
    scales = sorted(int(x) for x in a.scales.split(","))
    targets = [t for t in a.targets.split(",") if t]
    if a.baseline and "swift-old" not in targets:
        targets.append("swift-old")
    tools = {"readbench": os.path.join(a.tools, "readbench"), "floorfs": os.path.join(a.tools, "floorfs")}
    # The main table runs where every reader has its own cgroup.
    main_scale = next((s for s in scales if s >= max(readers)), max(readers))
    if main_scale not in scales:
        scales = sorted(scales + [main_scale])

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    work = tempfile.mkdtemp(prefix=a.cgroup_parent + "-")
    servers, cg = {}, None
    res = {"files": files, "readers": readers, "scales": scales, "reps": reps, "seconds": seconds,
           "main_scale": main_scale, "results": {}, "host": os.uname().nodename,
           "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpus": os.cpu_count()}
    try:
        build_tools(a.tools)
        cg = Cgroups(a.cgroup_parent)
        roots = {}
        if "host" in targets:
            roots["host"] = "/"
        if "floor" in targets:
            srv = Server("floor", [tools["floorfs"]] + FLOOR_LOOP + [os.path.join(work, "floor")] + ["/" + f for f in files],
                         os.path.join(work, "floor"), work)
            servers["floor"] = srv
            roots["floor"] = srv.mountpoint
        for name, loop in (("floor-ll", FLOOR_LL_LOOP), ("floor-ll-c", FLOOR_LL_LOOP + ["-c"])):
            if name in targets:
                mnt = os.path.join(work, name)
                srv = Server(name, [tools["floorfs"]] + loop + [mnt] + ["/" + f for f in files], mnt, work)
                servers[name] = srv
                roots[name] = srv.mountpoint
        if "swift-old" in targets and a.baseline:
            mnt = os.path.join(work, "swift-old")
            srv = Server("swift-old", [a.baseline, "-p", os.path.join(work, "swift-old.pid"), mnt], mnt, work)
            servers["swift-old"] = srv
            roots["swift-old"] = srv.mountpoint
        if "lxcfs" in targets:
            srv = Server("lxcfs", ["lxcfs", "-p", os.path.join(work, "lxcfs.pid"), os.path.join(work, "lxcfs")],
                         os.path.join(work, "lxcfs"), work)
            servers["lxcfs"] = srv
            roots["lxcfs"] = srv.mountpoint
        if "swift" in targets:
            srv = Server("swift", [a.binary, *a.swift_args.split(), "-p", os.path.join(work, "swift.pid"), os.path.join(work, "swift")],
                         os.path.join(work, "swift"), work)
            servers["swift"] = srv
            roots["swift"] = srv.mountpoint
        for t, root in roots.items():
            for f in files:
                if not os.path.exists(os.path.join(root, f)):
                    raise RuntimeError(f"{t} does not serve {f}")
        started = time.monotonic()
        for s in scales:
            cg.ensure(s)
            log(f"{s} cgroups exist")
            counts = readers if s == main_scale else [1]
            for n in counts:
                if n > s:
                    continue
                active = roots if s == main_scale else {t: r for t, r in roots.items() if t != "host"}
                measure(tools, active, files, n, reps, seconds, cg, s, res["results"], s)
            if s == main_scale and not a.no_kernel_files:
                res["kernel_files"] = kernel_files(tools, files, seconds, cg)
        if max(scales) > 1:
            cg.ensure(max(scales))
            log(f"every read from a different cgroup, out of {max(scales)}")
            res["distinct"] = distinct_cgroups(tools, roots, files, max(scales), cg)
            res["distinct_cgroups"] = max(scales)
        if mem_reads and "swift" in servers:
            ncg = max(scales)
            cg.ensure(ncg)
            log(f"memory run: {mem_reads:,} reads over {ncg} cgroups")
            res["memory"] = memory_run(tools, servers["swift"], files, mem_reads, ncg, cg)
        res["elapsed_s"] = round(time.monotonic() - started, 1)
    except Stop as e:
        log(f"stopped ({e}); cleaning up")
        return 130
    finally:
        for srv in servers.values():
            srv.stop()
        if cg:
            cg.remove_all()
        # The servers' logs and mount points go too, once nothing is mounted there.
        if not any(os.path.ismount(srv.mountpoint) for srv in servers.values()):
            shutil.rmtree(work, ignore_errors=True)
    text, checks = report(res)
    header = (f"Run {res['started']} on {res['host']} ({res['cpus']} CPUs), {res['elapsed_s']} s. "
              f"Each cell: median of {reps} interleaved runs of {seconds} s.\n\n")
    print(header + text)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "latest.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write(header + text)
    if a.update_doc:
        update_doc(header + text, a.command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
