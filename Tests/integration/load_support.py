#!/usr/bin/env python3
"""Readers under load, shared by the tests that stop, kill, restart or hand
over the serving process while containers read (the supervisor's and the
fd-store crash tests, the takeover test, the systemd and DaemonSet tests).

A reader is a process of its own (`python3 load_support.py read ...`, so it
also runs inside a container with python3-minimal: no json here) that reads
every given file in a loop until a deadline or a stop file, and checks each
read:

- no error (ENOTCONN, EIO, ECONNABORTED...), nothing empty where the file
  is never empty, nothing cut off (every file ends with a newline and keeps
  its shape: meminfo its set of lines, stat one cpu line per visible CPU);
- its own limits every time: MemTotal equal to its cgroup's memory limit,
  as many processors, cpu lines and online CPUs as its cpuset;
- the st_dev of every file it opens equal to the mount's (the same
  superblock, so the bind mounts containers hold stay valid);
- no read is blocked for 2 s or more: the time a read spends asleep,
  waiting for the server's answer, counts; the time the reader waits for a
  CPU does not (with 64 readers looping on 2 cores, a reader sits runnable
  on a run queue for seconds whatever serves the files: measured up to
  9 s through a mount served with no restart at all, 0.4 s on the host's
  own files). Time asleep is the wall time less the growth of the first two
  fields of /proc/self/schedstat (ns on a CPU, ns waiting on a run queue);
  where that file is missing, the wall time counts;
- a file opened once and read again from offset 0, as top keeps
  /proc/stat, gives a correct next frame each time.

It prints one line at the end: a Python literal (dict) with its counts and
the first problems. `ReaderGroup` starts 8 readers in each of 8 v1 cgroups
with different limits (conftest's Cgroup, so under PREFIX) and collects
their results; `assert_clean` fails on any problem.
"""
import ast
import os
import re
import subprocess
import sys
import time

# What the readers read, relative to the mount point.
LOAD_FILES = [
    "proc/cpuinfo", "proc/diskstats", "proc/loadavg", "proc/meminfo", "proc/slabinfo",
    "proc/stat", "proc/swaps", "proc/uptime",
    "sys/devices/system/cpu/online", "sys/devices/system/cpu/possible", "sys/devices/system/cpu/present",
]
if os.path.exists("/proc/pressure/cpu"):
    LOAD_FILES += ["proc/pressure/cpu", "proc/pressure/io", "proc/pressure/memory"]

BLOCKED_SECONDS = 2.0
HERE = os.path.abspath(__file__)


class RunClock:
    """Seconds this process has spent on a CPU or runnable on a run queue,
    from /proc/self/schedstat (its first two fields, in ns); `None` from
    `seconds()` where the kernel has no schedstat."""

    def __init__(self):
        try:
            self.fd = os.open("/proc/self/schedstat", os.O_RDONLY)
        except OSError:
            self.fd = None

    def seconds(self):
        if self.fd is None:
            return None
        fields = os.pread(self.fd, 128, 0).split()
        return (int(fields[0]) + int(fields[1])) / 1e9


def asleep(wall_seconds, run_before, run_after):
    """The part of `wall_seconds` the process slept (was neither on a CPU
    nor runnable): all of it when there is no schedstat."""
    if run_before is None or run_after is None:
        return wall_seconds
    return max(0.0, wall_seconds - (run_after - run_before))


def cpu_range(n):
    return "0" if n == 1 else f"0-{n - 1}"


def check(rel, data, expect_mem_kb, expect_cpus, shapes):
    """A problem sentence for one read of `rel`, or None."""
    if not data:
        return None if rel == "proc/diskstats" else "empty"
    if not data.endswith(b"\n"):
        return "cut off (no final newline)"
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()
    if rel == "proc/meminfo":
        keys = tuple(line.split(":", 1)[0] for line in lines)
        if shapes.setdefault(rel, keys) != keys:
            return f"lines changed: {len(keys)} keys"
        m = re.search(r"^MemTotal:\s+(\d+) kB$", text, re.M)
        if not m:
            return "no MemTotal"
        if expect_mem_kb is not None and int(m.group(1)) != expect_mem_kb:
            return f"MemTotal {m.group(1)} kB, not {expect_mem_kb}"
    elif rel == "proc/cpuinfo":
        n = sum(1 for line in lines if line.startswith("processor"))
        if expect_cpus is not None and n != expect_cpus:
            return f"{n} processors, not {expect_cpus}"
    elif rel == "proc/stat":
        n = sum(1 for line in lines if re.match(r"cpu\d+ ", line))
        if not lines[0].startswith("cpu ") or "btime" not in text or not lines[-1].startswith("softirq"):
            return "stat incomplete"
        if expect_cpus is not None and n != expect_cpus:
            return f"{n} cpu lines, not {expect_cpus}"
    elif rel == "proc/uptime":
        if not re.fullmatch(r"\d+\.\d\d \d+\.\d\d\n", text):
            return f"uptime {text!r}"
    elif rel == "proc/loadavg":
        if not re.fullmatch(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n", text):
            return f"loadavg {text!r}"
    elif rel == "proc/swaps":
        if not lines[0].startswith("Filename"):
            return "swaps header"
    elif rel == "proc/diskstats":
        if any(len(line.split()) < 14 for line in lines):
            return "diskstats line cut"
    elif rel == "proc/slabinfo":
        if not lines[0].startswith("slabinfo - version"):
            return "slabinfo header"
    elif rel.startswith("proc/pressure/"):
        if not lines[0].startswith("some avg10="):
            return "pressure"
    elif rel.startswith("sys/devices/system/cpu/"):
        if expect_cpus is not None and text != cpu_range(expect_cpus) + "\n":
            return f"{rel.rsplit('/', 1)[1]} {text.strip()!r}, not {cpu_range(expect_cpus)!r}"
    return None


def read_all(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks), os.fstat(fd).st_dev
    finally:
        os.close(fd)


def reader(root, files, seconds, stop_file, expect_mem_kb, expect_cpus, expect_dev):
    """The reader loop; returns its result dict."""
    deadline = time.monotonic() + seconds
    shapes = {}
    result = {"pid": os.getpid(), "reads": 0, "nproblems": 0, "problems": [], "max_seconds": 0.0,
              "max_blocked": 0.0}

    def problem(rel, what):
        result["nproblems"] += 1
        if len(result["problems"]) < 20:
            result["problems"].append(f"{time.strftime('%H:%M:%S')} {rel}: {what}")

    held_rel = "proc/stat"
    held = None
    clock = RunClock()

    def timed(rel, t0, r0):
        dt = time.monotonic() - t0
        blocked = asleep(dt, r0, clock.seconds())
        result["max_seconds"] = max(result["max_seconds"], dt)
        result["max_blocked"] = max(result["max_blocked"], blocked)
        if blocked >= BLOCKED_SECONDS:
            problem(rel, f"blocked {blocked:.2f} s (of {dt:.2f} s)")

    while time.monotonic() < deadline and not (stop_file and os.path.exists(stop_file)):
        for rel in files:
            path = os.path.join(root, rel)
            t0, r0 = time.monotonic(), clock.seconds()
            try:
                data, dev = read_all(path)
            except OSError as e:
                problem(rel, f"{type(e).__name__} errno {e.errno} ({os.strerror(e.errno or 0)})")
                continue
            finally:
                timed(rel, t0, r0)
            result["reads"] += 1
            if expect_dev is not None and dev != expect_dev:
                problem(rel, f"st_dev {dev}, not {expect_dev}")
            why = check(rel, data, expect_mem_kb, expect_cpus, shapes)
            if why:
                problem(rel, why)
        # top's way: one open file of /proc/stat, read again from offset 0.
        t0, r0 = time.monotonic(), clock.seconds()
        try:
            if held is None:
                held = os.open(os.path.join(root, held_rel), os.O_RDONLY)
            data = os.pread(held, 1 << 20, 0)
            result["reads"] += 1
            why = check(held_rel, data, expect_mem_kb, expect_cpus, shapes)
            if why:
                problem(held_rel + " (kept open)", why)
        except OSError as e:
            problem(held_rel + " (kept open)", f"{type(e).__name__} errno {e.errno} ({os.strerror(e.errno or 0)})")
        timed(held_rel + " (kept open)", t0, r0)
    return result


def reader_command(root, seconds, stop_file=None, files=None, expect_mem_kb=None, expect_cpus=None,
                   expect_dev=None, python="python3", script=HERE):
    """The argv of one reader process."""
    argv = [python, script, "read", "--root", root, "--seconds", str(seconds),
            "--files", ",".join(files or LOAD_FILES)]
    if stop_file:
        argv += ["--stop-file", stop_file]
    if expect_mem_kb is not None:
        argv += ["--mem-kb", str(expect_mem_kb)]
    if expect_cpus is not None:
        argv += ["--cpus", str(expect_cpus)]
    if expect_dev is not None:
        argv += ["--dev", str(expect_dev)]
    return argv


def parse_result(stdout):
    """The result dict a reader printed (its last line)."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"a reader printed no result: {stdout[-2000:]!r}"
    return ast.literal_eval(lines[-1])


class ReaderGroup:
    """`per_group` readers in each of `groups` v1 cgroups with different
    memory limits and cpusets, reading through `root` for `seconds`, or
    until `stop()` when `stop_file` is given."""

    def __init__(self, make_cgroup, root, seconds, groups=8, per_group=8, expect_dev=None, files=None,
                 stop_file=None):
        host_cpus = os.cpu_count()
        self.procs = []
        self.stop_file = stop_file
        for g in range(groups):
            mem = (192 + 32 * g) * 1024 * 1024
            ncpu = 1 if g % 2 == 0 or host_cpus == 1 else min(2, host_cpus)
            cpus = str(g % host_cpus) if ncpu == 1 else cpu_range(ncpu)
            cg = make_cgroup(f"load{g}", memory=mem, cpus=cpus)
            argv = reader_command(root, seconds, stop_file=stop_file, files=files, expect_mem_kb=mem // 1024,
                                  expect_cpus=ncpu, expect_dev=expect_dev, python=sys.executable)
            for _ in range(per_group):
                self.procs.append(subprocess.Popen(argv, preexec_fn=cg.preexec(), stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT, text=True))

    def results(self, timeout):
        out = []
        for p in self.procs:
            stdout, _ = p.communicate(timeout=timeout)
            out.append(parse_result(stdout))
        return out

    def stop(self, timeout=60):
        """Makes every reader end its loop (the stop file) and returns their results."""
        open(self.stop_file, "w").close()
        return self.results(timeout)

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def assert_clean(results, context=""):
    """Every reader read, and none saw a problem."""
    assert results, "no readers"
    bad = [r for r in results if r["nproblems"]]
    total = sum(r["reads"] for r in results)
    slowest = max(r["max_seconds"] for r in results)
    blocked = max(r.get("max_blocked", 0.0) for r in results)
    summary = f"{len(results)} readers, {total} reads, slowest {slowest:.3f} s, longest blocked {blocked:.3f} s"
    assert not bad, (f"{summary}; {sum(r['nproblems'] for r in bad)} problems in {len(bad)} readers, "
                     f"first: {bad[0]['problems'][:5]}\n{context}")
    assert all(r["reads"] > 0 for r in results), summary
    return summary


def main(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["read"])
    ap.add_argument("--root", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--files", required=True)
    ap.add_argument("--stop-file")
    ap.add_argument("--mem-kb", type=int)
    ap.add_argument("--cpus", type=int)
    ap.add_argument("--dev", type=int)
    a = ap.parse_args(argv)
    r = reader(a.root, a.files.split(","), a.seconds, a.stop_file, a.mem_kb, a.cpus, a.dev)
    print(repr(r), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
