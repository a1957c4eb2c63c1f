"""The daemon keeps host files and cgroup files open and re-reads them with
one pread at offset 0 (see docs/performance.md). These tests check that what
a reader sees is still generated afresh: a changed limit shows on the next
read, and a cgroup removed and made again under the same name shows its new
limit, although worker threads held the old cgroup's files open."""
import re
import subprocess
import sys
import time

from conftest import MIB

# The render cache's tick (--render-cache-ms, 20 ms by default) and a margin:
# a rendering, and a reader's container, are reused that long (issue 15).
TICK = 0.1

READS = 40


def memtotals(text):
    return {int(v) for v in re.findall(r"^MemTotal:\s+(\d+) kB$", text, re.M)}


def read_many(cg, path):
    r = cg.run(["sh", "-c", f'for i in $(seq {READS}); do cat "{path}"; done'])
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("MemTotal:") == READS
    return memtotals(r.stdout)


def test_changed_limit_and_recreated_cgroup_show_at_once(start_daemon, cgroups):
    d = start_daemon()
    path = d.path("proc/meminfo")
    cg = cgroups("kept-files", memory=300 * MIB)
    # Many reads, so that the worker threads keep this cgroup's files open.
    assert read_many(cg, path) == {300 * 1024}
    cg.write("memory", "memory.limit_in_bytes", 200 * MIB)
    # "At once" is after the render cache's tick (--render-cache-ms, 20 ms).
    time.sleep(TICK)
    assert read_many(cg, path) == {200 * 1024}
    cg.remove()
    again = cgroups("kept-files", memory=100 * MIB)
    time.sleep(TICK)
    assert read_many(again, path) == {100 * 1024}


def test_kept_host_files_are_generated_afresh(start_daemon):
    d = start_daemon()
    first = float(open(d.path("proc/uptime")).read().split()[0])
    time.sleep(1.2)
    second = float(open(d.path("proc/uptime")).read().split()[0])
    assert second - first >= 1.0
    host = float(open("/proc/uptime").read().split()[0])
    assert abs(host - second) < 5


READER = r"""
import sys
path = sys.argv[1]
for line in sys.stdin:
    totals = set()
    for _ in range(int(line)):
        with open(path) as f:
            totals.update(l.split()[1] for l in f if l.startswith("MemTotal:"))
    print(",".join(sorted(totals)), flush=True)
"""


def test_long_lived_reader_moved_to_another_cgroup_sees_it_at_once(start_daemon, cgroups):
    """A process that reads again is served through the /proc/PID/cgroup
    descriptor its worker threads kept open; moved to another cgroup, its
    very next reads show the new cgroup's limit, and after it exits a new
    process (perhaps with its number) sees its own."""
    d = start_daemon()
    a = cgroups("kept-move-a", memory=300 * MIB)
    b = cgroups("kept-move-b", memory=200 * MIB)
    p = subprocess.Popen([sys.executable, "-c", READER, d.path("proc/meminfo")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, preexec_fn=a.preexec())
    try:
        def ask(n):
            p.stdin.write(f"{n}\n")
            p.stdin.flush()
            return p.stdout.readline().strip()
        assert ask(READS) == str(300 * 1024)
        b.enter(p.pid)
        # A reader's container is remembered for the render cache's tick.
        time.sleep(TICK)
        assert ask(READS) == str(200 * 1024)
        a.enter(p.pid)
        time.sleep(TICK)
        assert ask(1) == str(300 * 1024)
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    # Many short-lived readers after it, in the other cgroup: none is taken for it.
    assert read_many(b, d.path("proc/meminfo")) == {200 * 1024}
