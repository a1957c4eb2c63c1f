"""`swift-lxcfs render --root` on a fixture root captured from a real cgroup
v2 kernel (Linux 6.1 in the VM of scripts/vm-test.sh, refreshed with
`scripts/vm-test.sh --save-fixture`), so that no hand-written file encodes
a misunderstanding of v2: the mountinfo, the /proc files, the process
entries and every cgroup file are as the kernel wrote them.

Nested cgroups (see root/README): swl-vm-parent has memory.max 512M,
memory.swap.max 64M and cpu.max "150000 100000"; its child has memory.max
max, cpu.max "max 100000" and cpuset.cpus 0-2. The readers are a process in
the child (host pid namespace) and the child of a pid namespace's init.

Expected values are worked out here from the captured files with the rules
of ../shared/cases/README.md, not taken from the daemon.
"""
import os
import re
import subprocess

import pytest

from conftest import BIN

FIXTURE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "LXCFSCoreTests", "Fixtures", "v2-kernel"))
ROOT = os.path.join(FIXTURE, "root")
CHILD = "/sys/fs/cgroup/swl-vm-parent/child"
PARENT = "/sys/fs/cgroup/swl-vm-parent"


def readers():
    text = open(os.path.join(FIXTURE, "readers")).read()
    plain, in_ns = re.search(r"readers=(\d+),(\d+)", text).groups()
    ns_init = re.search(r"ns_init=(\d+)", text).group(1)
    return int(plain), int(in_ns), int(ns_init)


PLAIN, IN_NS, NS_INIT = readers()


def host(path):
    return open(ROOT + path).read()


def keyed(path):
    """A `key value` (or `Key: value kB`) file as a dict of integers."""
    out = {}
    for line in host(path).splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def render(pid, file, *args):
    r = subprocess.run([BIN, "render", "--root", ROOT, "--pid", str(pid), *args, file],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def meminfo(text):
    return {k: int(v) for k, v in re.findall(r"^([^:]+):\s+(\d+) kB$", text, re.M)}


def test_the_fixture_is_a_real_pure_v2_capture():
    mountinfo = host("/proc/self/mountinfo")
    assert " - cgroup2 " in mountinfo and " - cgroup " not in mountinfo
    assert host(f"/proc/{PLAIN}/cgroup") == "0::/swl-vm-parent/child\n"
    assert host(f"{PARENT}/memory.max") == "536870912\n"
    assert host(f"{CHILD}/cpuset.cpus.effective") == "0-2\n"
    assert re.search(r"^NSpid:\s+\d+\s+1$", host(f"/proc/{NS_INIT}/status"), re.M)


def test_meminfo_limits_headroom_and_stat_lines():
    got = meminfo(render(PLAIN, "/proc/meminfo"))
    hostmem = keyed("/proc/meminfo")
    stat = keyed(f"{CHILD}/memory.stat")
    total = min(536870912 // 1024, hostmem["MemTotal"])
    # The child has no memory.max; the parent's headroom is what is free.
    free = min((536870912 - int(host(f"{PARENT}/memory.current"))) // 1024, hostmem["MemFree"], total)
    available = min(free + stat["active_file"] // 1024 + stat["inactive_file"] // 1024
                    + stat["slab_reclaimable"] // 1024, total)
    swap_total = min(67108864 // 1024, hostmem["SwapTotal"])
    swap_free = swap_total - int(host(f"{CHILD}/memory.swap.current")) // 1024
    assert (got["MemTotal"], got["MemFree"], got["MemAvailable"]) == (total, free, available)
    assert (got["SwapTotal"], got["SwapFree"]) == (swap_total, swap_free)
    assert got["Cached"] == stat["file"] // 1024
    assert got["Shmem"] == stat["shmem"] // 1024
    assert got["AnonPages"] == stat["anon"] // 1024
    assert got["Mapped"] == stat["file_mapped"] // 1024
    assert got["Active(anon)"] == stat["active_anon"] // 1024
    assert got["Inactive(file)"] == stat["inactive_file"] // 1024
    assert (got["Slab"], got["SReclaimable"], got["SUnreclaim"]) == (
        stat["slab"] // 1024, stat["slab_reclaimable"] // 1024, stat["slab_unreclaimable"] // 1024)
    assert got["Buffers"] == 0


def test_meminfo_of_the_root_cgroup_is_the_hosts_totals():
    got = meminfo(render(1, "/proc/meminfo"))
    hostmem = keyed("/proc/meminfo")
    assert (got["MemTotal"], got["SwapTotal"]) == (hostmem["MemTotal"], hostmem["SwapTotal"])


@pytest.mark.parametrize("args,cpus", [((), 3), (("--enable-cfs",), 2)])
def test_cpu_views_agree(args, cpus):
    cpuinfo = render(PLAIN, "/proc/cpuinfo", *args)
    assert re.findall(r"^processor\s*: (\d+)$", cpuinfo, re.M) == [str(i) for i in range(cpus)]
    assert render(PLAIN, "/sys/devices/system/cpu/online", *args) == f"0-{cpus - 1}\n"
    stat = render(PLAIN, "/proc/stat", *args)
    rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in stat.splitlines() if line.startswith("cpu")}
    assert sorted(rows) == ["cpu"] + [f"cpu{i}" for i in range(cpus)]
    usage = keyed(f"{CHILD}/cpu.stat")
    assert rows["cpu"][0] == usage["user_usec"] // 10000
    assert rows["cpu"][2] == usage["system_usec"] // 10000
    assert [sum(col) for col in zip(*(rows[f"cpu{i}"] for i in range(cpus)))] == rows["cpu"]
    assert stat.startswith("cpu  ")
    for f in ("possible", "present"):
        assert render(PLAIN, f"/sys/devices/system/cpu/{f}", *args) == f"0-{cpus - 1}\n"
    # The other lines are the host's.
    assert [l for l in stat.splitlines() if not l.startswith("cpu")] == \
        [l for l in host("/proc/stat").splitlines() if not l.startswith("cpu")]


def test_uptime_of_a_pid_namespace_and_of_the_host():
    now = float(host("/proc/uptime").split()[0])
    start = int(host(f"/proc/{NS_INIT}/stat").rsplit(")", 1)[1].split()[19])
    assert float(render(IN_NS, "/proc/uptime").split()[0]) == pytest.approx(max(now - start / 100, 0), abs=0.006)
    assert float(render(PLAIN, "/proc/uptime").split()[0]) == now


def test_swaps_show_the_swap_allowance():
    hostmem = keyed("/proc/meminfo")
    lines = render(PLAIN, "/proc/swaps").splitlines()
    assert lines[0].startswith("Filename")
    size = min(67108864 // 1024, hostmem["SwapTotal"])
    used = int(host(f"{CHILD}/memory.swap.current")) // 1024
    assert [l.split()[2:4] for l in lines[1:]] == [[str(size), str(used)]]
