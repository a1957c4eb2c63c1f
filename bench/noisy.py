#!/usr/bin/env python3
"""Noisy neighbour: what one container's tight loops cost the daemon and the
other containers (issue 15). Not a test; run as root through
`scripts/bench.sh --noisy` (or directly, after building).

For each daemon (swift-lxcfs with its defaults, swift-lxcfs with
`--container-cpu-budget 0 --render-cache-ms 0`, that is as before issue 15,
and lxcfs from the distribution), on its own mount:

  1. a quiet container reads proc/meminfo every 10 ms for QUIET_SECONDS:
     the unloaded p50 and p99 of its open+read+close;
  2. a noisy container of 16 tight-loop readers of proc/meminfo, under a
     0.5-CPU CFS quota (cpu.cfs_quota_us 50000 of 100000), starts; after a
     second the quiet reader runs again (loaded p50/p99) while the daemon's
     CPU time (utime+stime of /proc/PID/stat) is sampled: cores spent while
     the noisy container runs.

Readers are Python processes (the figures include Python's own overhead,
as the issue's did), each container a v1 cgroup under CG_PARENT.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "blkio", "pids")
NOISY_READERS = 16

NOISY = r"""
import os, sys
path = sys.argv[1]
while True:
    fd = os.open(path, os.O_RDONLY)
    while os.read(fd, 65536):
        pass
    os.close(fd)
"""

QUIET = r"""
import json, os, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
lat = []
end = time.monotonic() + seconds
while time.monotonic() < end:
    t = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    while os.read(fd, 65536):
        pass
    os.close(fd)
    lat.append((time.perf_counter() - t) * 1e6)
    time.sleep(0.01)
print(json.dumps(lat))
"""


def cgroup(parent, name, quota=None):
    dirs = []
    for c in CONTROLLERS:
        base = f"/sys/fs/cgroup/{c}"
        if not os.path.isdir(base):
            continue
        d = os.path.join(base, parent, name)
        os.makedirs(d, exist_ok=True)
        dirs.append(d)
        if c == "cpuset":
            for f in ("cpuset.cpus", "cpuset.mems"):
                for level in (os.path.dirname(d), d):
                    p = os.path.join(level, f)
                    if not open(p).read().strip():
                        open(p, "w").write(open(os.path.join(os.path.dirname(level), f)).read().strip())
        if c == "cpu" and quota:
            open(os.path.join(d, "cpu.cfs_period_us"), "w").write("100000")
            open(os.path.join(d, "cpu.cfs_quota_us"), "w").write(str(quota))
    return dirs


def enter(dirs):
    return lambda: [open(os.path.join(d, "cgroup.procs"), "w").write(str(os.getpid())) for d in dirs]


def remove(dirs):
    for d in dirs:
        for _ in range(100):
            try:
                for p in open(os.path.join(d, "cgroup.procs")).read().split():
                    try:
                        os.kill(int(p), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quiet_run(path, dirs, seconds):
    out = subprocess.run([sys.executable, "-c", QUIET, path, str(seconds)], capture_output=True, text=True,
                         preexec_fn=enter(dirs), timeout=seconds * 10 + 60)
    # The first reads warm up (the reader's first lookups, the daemon's first sight of the cgroup).
    lat = sorted(json.loads(out.stdout)[10:])
    return {"p50_us": statistics.median(lat), "p99_us": lat[int(len(lat) * 0.99) - 1], "reads": len(lat)}


def one(name, argv, mnt, parent, seconds):
    os.makedirs(mnt, exist_ok=True)
    log = open(mnt + ".log", "w")
    daemon = subprocess.Popen(argv + [mnt], stdout=log, stderr=subprocess.STDOUT)
    path = os.path.join(mnt, "proc/meminfo")
    quiet = cgroup(parent, f"{name}-quiet")
    noisy = cgroup(parent, f"{name}-noisy", quota=50000)
    loops = []
    try:
        for _ in range(200):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        unloaded = quiet_run(path, quiet, seconds)
        loops = [subprocess.Popen([sys.executable, "-c", NOISY, path], preexec_fn=enter(noisy))
                 for _ in range(NOISY_READERS)]
        time.sleep(1)
        c0, t0 = cpu_seconds(daemon.pid), time.monotonic()
        loaded = quiet_run(path, quiet, seconds)
        cores = (cpu_seconds(daemon.pid) - c0) / (time.monotonic() - t0)
        return {"unloaded": unloaded, "loaded": loaded, "daemon_cores": cores}
    finally:
        for p in loops:
            p.kill()
            p.wait()
        remove(noisy + quiet)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def report(res, seconds):
    out = [f"### Noisy neighbour (16 tight-loop readers under a 0.5-CPU quota; quiet reader every 10 ms for {seconds:g} s)",
           "",
           "| daemon | daemon CPU during the noise (cores) | quiet p50 unloaded / loaded (µs) | quiet p99 unloaded / loaded (µs) | p99 loaded/unloaded |",
           "|---|---:|---:|---:|---:|"]
    for name, r in res.items():
        u, l = r["unloaded"], r["loaded"]
        out.append(f"| {name} | {r['daemon_cores']:.2f} | {u['p50_us']:.0f} / {l['p50_us']:.0f} | "
                   f"{u['p99_us']:.0f} / {l['p99_us']:.0f} | {l['p99_us'] / u['p99_us']:.2f} |")
    checks = []
    if "swift" in res:
        r = res["swift"]
        checks.append(("daemon ≤ 0.25 cores on the noisy container", r["daemon_cores"] <= 0.25,
                       f"{r['daemon_cores']:.2f}"))
        ratio = r["loaded"]["p99_us"] / r["unloaded"]["p99_us"]
        checks.append(("quiet p99 ≤ 1.5× unloaded", ratio <= 1.5, f"{ratio:.2f}×"))
    out.append("")
    for what, ok, value in checks:
        out.append(f"- {'met' if ok else '**not met**'}: {what} ({value})")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(REPO, ".build", "release", "swift-lxcfs"))
    ap.add_argument("--seconds", type=float, default=5, help="length of each quiet run (default 5)")
    ap.add_argument("--targets", default="swift,swift-unbudgeted,lxcfs")
    ap.add_argument("--cgroup-parent", default=os.environ.get("SWIFT_LXCFS_CGROUP_PREFIX", "swl-bench") + "-noisy")
    ap.add_argument("--out", default=os.path.join(REPO, ".build", "bench"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="swl-noisy-")
    argvs = {
        "swift": [a.binary, "--no-reattach", "-p", os.path.join(work, "swift.pid")],
        "swift-unbudgeted": [a.binary, "--no-reattach", "--container-cpu-budget", "0", "--render-cache-ms", "0",
                             "-p", os.path.join(work, "swift0.pid")],
        "lxcfs": ["lxcfs", "-p", os.path.join(work, "lxcfs.pid")],
    }
    res = {}
    for t in a.targets.split(","):
        print(f"noisy neighbour: {t}", file=sys.stderr, flush=True)
        res[t] = one(t, argvs[t], os.path.join(work, t), a.cgroup_parent, a.seconds)
    for c in CONTROLLERS:
        try:
            os.rmdir(f"/sys/fs/cgroup/{c}/{a.cgroup_parent}")
        except OSError:
            pass
    text = report(res, a.seconds)
    print(text)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "noisy.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(a.out, "noisy.md"), "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
