"""The render cache never mixes containers up (issue 15).

A rendering is reused for one short tick (`--render-cache-ms`, 20 ms by
default) for the readers of the same container, file and pid namespace.
50 containers with 50 memory limits read proc/meminfo in tight loops at
once, and none ever sees another's MemTotal; a limit written to
memory.limit_in_bytes shows on a read after the tick; readers of one cgroup
in two pid namespaces get their own uptimes.
"""
import subprocess
import sys
import time

from conftest import MIB, wait_for

CONTAINERS = 50

# Reads FILE in a loop (open, read, close) for SECONDS, checking that the
# first line is EXPECTED; prints reads, wrong reads, wrong reads after a
# right one (the old value coming back), whether the last read was right,
# and the wrong first lines seen.
LOOP = r"""
import sys, time
path, expected, seconds = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
# A file made after the first read, when a fifth argument names it.
started = sys.argv[4] if len(sys.argv) > 4 else None
reads = wrong = back = 0
right = False
seen = set()
end = time.monotonic() + seconds
while time.monotonic() < end:
    with open(path, "rb") as f:
        first = f.read().split(b"\n")[0]
    reads += 1
    if started and reads == 1:
        open(started, "w").close()
    if b" ".join(first.split()) != expected:
        wrong += 1
        back += right
        right = False
        seen.add(first)
    else:
        right = True
print(reads, wrong, back, int(right), sorted(seen)[:3], flush=True)
"""


def memtotal_line(mib):
    return f"MemTotal: {mib * 1024} kB"


def test_fifty_containers_in_loops_each_see_only_their_own_limit(start_daemon, cgroups):
    d = start_daemon()
    groups = [cgroups(f"swl-cache-{i}", memory=(100 + i) * MIB) for i in range(CONTAINERS)]
    readers = [subprocess.Popen([sys.executable, "-c", LOOP, d.path("proc/meminfo"), memtotal_line(100 + i), "4"],
                                stdout=subprocess.PIPE, text=True, preexec_fn=cg.preexec())
               for i, cg in enumerate(groups)]
    results = [r.communicate(timeout=120)[0].split(" ", 4) for r in readers]
    total = sum(int(r[0]) for r in results)
    wrong = [(i, r) for i, r in enumerate(results) if int(r[1]) != 0]
    assert not wrong, wrong[:5]
    assert all(int(r[0]) > 0 for r in results)
    print(f"{total} reads by {CONTAINERS} containers, none wrong")


def test_a_changed_limit_shows_after_the_tick(start_daemon, cgroups, tmp_path):
    d = start_daemon()
    cg = cgroups("swl-cache-limit", memory=300 * MIB)

    def first_line():
        out = cg.run(["head", "-n1", d.path("proc/meminfo")]).stdout
        return " ".join(out.split())

    assert first_line() == memtotal_line(300)
    cg.write("memory", "memory.limit_in_bytes", 200 * MIB)
    # Within the tick a reader may still get the old rendering; after it, never.
    time.sleep(0.25)
    assert first_line() == memtotal_line(200)
    # The same through a loop that keeps the cache warm all along.
    started = tmp_path / "started"
    loop = subprocess.Popen([sys.executable, "-c", LOOP, d.path("proc/meminfo"), memtotal_line(150), "3", str(started)],
                            stdout=subprocess.PIPE, text=True, preexec_fn=cg.preexec())
    # A read of 200 MiB before the write, however slowly Python starts.
    wait_for(started.exists, timeout=30, what="the loop's first read")
    cg.write("memory", "memory.limit_in_bytes", 150 * MIB)
    out = loop.communicate(timeout=60)[0]
    reads, wrong, back, last_right = map(int, out.split(" ", 4)[:4])
    # The reads before the write were of 200 MiB, a tick's worth after it may
    # be; once a read shows 150 MiB no later one shows 200 (the cache always
    # holds the latest rendering), and the last read shows 150.
    assert wrong > 0 and back == 0 and last_right == 1, out
    assert wrong < reads, out
    wait_for(lambda: first_line() == memtotal_line(150), timeout=2, what="the new limit")


def test_readers_of_one_cgroup_in_two_pid_namespaces_get_their_own_uptime(start_daemon, cgroups):
    d = start_daemon()
    cg = cgroups("swl-cache-pidns")
    host_uptime = float(open("/proc/uptime").read().split()[0])
    if host_uptime < 60:
        return  # a just-booted host cannot tell the two apart
    script = ("import time\n"
              "vals = []\n"
              "for _ in range(200):\n"
              f"    vals.append(float(open('{d.path('proc/uptime')}').read().split()[0]))\n"
              "print(min(vals), max(vals))\n")
    # One reader in the host's pid namespace, one in a new one (its uptime
    # starts at its init), at the same time in the same cgroup.
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            preexec_fn=cg.preexec())
    fresh = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", script],
                             stdout=subprocess.PIPE, text=True, preexec_fn=cg.preexec())
    host_min, host_max = map(float, host.communicate(timeout=60)[0].split())
    fresh_min, fresh_max = map(float, fresh.communicate(timeout=60)[0].split())
    assert host_min > 50, (host_min, host_max)
    assert fresh_max < 30, (fresh_min, fresh_max)
