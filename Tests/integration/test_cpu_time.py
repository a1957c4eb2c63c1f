"""CPU time in the mounted /proc/stat and /proc/uptime, read by real
processes in real cgroups while a busy loop runs: what top shows under a CFS
quota and on a cpuset, counters that never go down, busy plus idle that add
up to the interval, and an uptime idle field that grows as the stat view's."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import host_online_cpus

TWO_CPUS = pytest.mark.skipif(host_online_cpus() < 2, reason="needs a host with at least 2 online CPUs")

# Reads a file N times, every INTERVAL seconds, and prints one JSON list:
# [[monotonic seconds, text], ...]. With "keep", one descriptor is kept open
# and read again from offset 0 (as top does); otherwise each read opens anew.
READER = r"""
import json, os, sys, time
path, n, interval, mode = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
out = []
fd = os.open(path, os.O_RDONLY) if mode == "keep" else None
for _ in range(n):
    if fd is None:
        with open(path) as f:
            text = f.read()
    else:
        text = os.pread(fd, 1 << 20, 0).decode()
    out.append([time.monotonic(), text])
    time.sleep(interval)
print(json.dumps(out))
"""


def cpu_lines(text):
    """{'cpu': [10 ints], 'cpu0': [...], ...} from a /proc/stat text."""
    lines = {}
    for line in text.splitlines():
        if line.startswith("cpu"):
            name, *fields = line.split()
            lines[name] = [int(f) for f in fields]
    return lines


def busy_loop(cg):
    """A busy loop in cg. The cgroup and its parent get a large CFS weight
    (cpu.shares), so that on a loaded host the loop still gets what its quota
    or cpuset allows; the view is also checked against what it really got."""
    for d in (os.path.dirname(cg.dirs["cpu"]), cg.dirs["cpu"]):
        with open(os.path.join(d, "cpu.shares"), "w") as f:
            f.write("32768")
    return subprocess.Popen(["sh", "-c", "while :; do :; done"], preexec_fn=cg.preexec())


def cpu_seconds(cg):
    return int(cg.read("cpuacct", "cpuacct.usage")) / 1e9


def stop(proc):
    proc.kill()
    proc.wait()


def top_busy_percent(cg, daemon):
    """Runs `top -bn2 -d1` inside cg with the mounted /proc/stat bound over
    /proc/stat in a private mount namespace; returns 100 - idle of the second
    (measured) summary line, and top's whole output."""
    script = f"mount --bind {daemon.path('proc/stat')} /proc/stat && exec top -bn2 -d1"
    used, start = cpu_seconds(cg), time.monotonic()
    r = cg.run(["unshare", "-m", "sh", "-c", script])
    used, elapsed = cpu_seconds(cg) - used, time.monotonic() - start
    assert r.returncode == 0, r.stderr
    summaries = [l for l in r.stdout.splitlines() if l.startswith("%Cpu")]
    assert len(summaries) == 2, r.stdout
    idle = float(re.search(r"([\d.]+)\s*id", summaries[1]).group(1))
    return 100.0 - idle, used / elapsed, r.stdout


def read_series(cg, path, n=25, interval=0.1, mode="open"):
    r = cg.run([sys.executable, "-c", READER, path, str(n), str(interval), mode])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_never_decreases(series):
    previous = None
    for _, text in series:
        lines = cpu_lines(text)
        cpus = [k for k in lines if k != "cpu"]
        # The aggregate line is the sum of the cpuN lines shown.
        assert lines["cpu"] == [sum(lines[c][i] for c in cpus) for i in range(10)], text
        for fields in lines.values():
            assert all(0 <= f < 1 << 62 for f in fields), fields
        if previous is not None:
            assert previous.keys() == lines.keys()
            for name, fields in lines.items():
                assert all(b >= a for a, b in zip(previous[name], fields)), (name, previous[name], fields)
        previous = lines


@TWO_CPUS
def test_top_shows_a_full_cpu_under_a_half_cpu_quota_with_enable_cfs(start_daemon, cgroups):
    d = start_daemon("--enable-cfs")
    cg = cgroups("cfs-half", cpus="0-1", quota=50000)
    loop = busy_loop(cg)
    try:
        busy, share, out = top_busy_percent(cg, d)
    finally:
        stop(loop)
    # One visible CPU whose capacity is the quota: the loop fills it.
    assert busy > 70, (share, out)
    # And what top shows follows what the cgroup really used (about the quota).
    assert abs(busy - min(100, share / 0.5 * 100)) < 30, (share, out)


@TWO_CPUS
def test_top_shows_half_busy_on_two_visible_cpus_without_quota(start_daemon, cgroups):
    d = start_daemon()
    cg = cgroups("two-cpus", cpus="0-1")
    loop = busy_loop(cg)
    try:
        busy, share, out = top_busy_percent(cg, d)
    finally:
        stop(loop)
    assert 30 <= busy <= 70, (share, out)
    assert abs(busy - min(100, share / 2 * 100)) < 25, (share, out)


@TWO_CPUS
@pytest.mark.parametrize("mode", ["open", "keep"])
def test_counters_never_decrease_and_add_up_to_the_interval(start_daemon, cgroups, mode):
    d = start_daemon("--enable-cfs")
    cg = cgroups(f"mono-{mode}", cpus="0-1", quota=150000)
    loops = [busy_loop(cg)]
    try:
        used = cpu_seconds(cg)
        series = read_series(cg, d.path("proc/stat"), mode=mode)
        used = cpu_seconds(cg) - used
    finally:
        for loop in loops:
            stop(loop)
    assert_never_decreases(series)
    first, last = cpu_lines(series[0][1]), cpu_lines(series[-1][1])
    cpus = len(first) - 1
    assert cpus == 2  # quota 1.5 rounded up
    elapsed_ticks = (series[-1][0] - series[0][0]) * 100
    grown = sum(last["cpu"]) - sum(first["cpu"])
    # Busy plus idle over the visible CPUs is about the interval times their number.
    assert 0.75 * elapsed_ticks * cpus <= grown <= 1.25 * elapsed_ticks * cpus + 4, (grown, elapsed_ticks)
    # One loop against a 1.5 CPU quota shown as 2 CPUs: about 2/3 busy, and
    # in any case what the cgroup used, scaled by 2 / 1.5.
    busy = (last["cpu"][0] + last["cpu"][2]) - (first["cpu"][0] + first["cpu"][2])
    assert busy < 0.9 * grown, (busy, grown)
    expected = used * 100 * 2 / 1.5
    assert abs(busy - expected) <= 0.25 * expected + 10, (busy, expected, grown)


def test_a_recreated_cgroup_never_makes_counters_go_back(start_daemon, cgroups):
    d = start_daemon()
    cg = cgroups("reset", cpus="0")
    loop = busy_loop(cg)
    try:
        time.sleep(1.0)
        before = read_series(cg, d.path("proc/stat"), n=2, interval=0.2)
    finally:
        stop(loop)
    cg.remove()
    cg2 = cgroups("reset", cpus="0")
    # The new cgroup's counters start near 0: the view must not follow them down.
    assert int(cg2.read("cpuacct", "cpuacct.usage")) < 500_000_000
    after = read_series(cg2, d.path("proc/stat"), n=3, interval=0.2)
    assert_never_decreases(before + after)


@TWO_CPUS
def test_uptime_idle_grows_as_the_stat_view_idle(start_daemon, cgroups):
    d = start_daemon()
    cg = cgroups("uptime", cpus="0-1")
    loop = busy_loop(cg)
    # A reader in its own pid namespace (the daemon finds its init, the sh),
    # reading /proc/uptime and /proc/stat through the mount twice, 2 s apart.
    script = (f"for i in 1 2; do cat {d.path('proc/uptime')}; cat {d.path('proc/stat')} | head -1; "
              f"if [ $i = 1 ]; then sleep 2; fi; done")
    try:
        r = cg.run(["unshare", "-p", "-f", "sh", "-c", script])
    finally:
        stop(loop)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    (up1, idle1), (up2, idle2) = [map(float, lines[0].split()), map(float, lines[2].split())]
    stat1, stat2 = cpu_lines(lines[1])["cpu"], cpu_lines(lines[3])["cpu"]
    # The container's uptime is young and its idle counts 2 visible CPUs at most.
    assert 0 <= up1 < 60 and idle1 <= 2 * up1 + 0.02 and idle2 <= 2 * up2 + 0.02
    uptime_idle = idle2 - idle1
    stat_idle = (stat2[3] - stat1[3]) / 100
    assert uptime_idle >= 0 and stat_idle >= 0
    # One of two CPUs busy: both views see about one CPU idle over the interval.
    assert abs(uptime_idle - stat_idle) <= 0.35 * max(stat_idle, uptime_idle) + 0.3, (uptime_idle, stat_idle)
    assert uptime_idle < 1.8 * (up2 - up1), (uptime_idle, up2 - up1)
