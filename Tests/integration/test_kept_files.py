"""The daemon keeps host files and cgroup files open and re-reads them with
one pread at offset 0 (see docs/performance.md). These tests check that what
a reader sees is still generated afresh: a changed limit shows on the next
read, and a cgroup removed and made again under the same name shows its new
limit, although worker threads held the old cgroup's files open."""
import re
import time

from conftest import MIB

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
    assert read_many(cg, path) == {200 * 1024}
    cg.remove()
    again = cgroups("kept-files", memory=100 * MIB)
    assert read_many(again, path) == {100 * 1024}


def test_kept_host_files_are_generated_afresh(start_daemon):
    d = start_daemon()
    first = float(open(d.path("proc/uptime")).read().split()[0])
    time.sleep(1.2)
    second = float(open(d.path("proc/uptime")).read().split()[0])
    assert second - first >= 1.0
    host = float(open("/proc/uptime").read().split()[0])
    assert abs(host - second) < 5
