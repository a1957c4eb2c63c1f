"""swaps, loadavg, slabinfo and the /sys/devices/system/cpu tree side by side
with lxcfs 5.0.3 (from apt), each mount read by the same process in the same
real cgroup. Where swift-lxcfs differs on purpose (README, "Served files")
the files are not compared."""
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import MIB, host_online_cpus, wait_for

LXCFS = shutil.which("lxcfs")


@pytest.fixture
def lxcfs_mount(tmp_path):
    """Starts the real lxcfs on a mount point under tmp_path with the given flags."""
    started = []

    def start(*args):
        if LXCFS is None:
            pytest.fail("lxcfs is missing; scripts/install-deps.sh --test installs it")
        mnt = tmp_path / f"lxcfs{len(started)}"
        mnt.mkdir()
        log = open(tmp_path / f"lxcfs{len(started)}.log", "w+")
        proc = subprocess.Popen([LXCFS, "-p", str(tmp_path / f"lxcfs{len(started)}.pid"), *args, str(mnt)],
                                stdout=log, stderr=subprocess.STDOUT)
        started.append((proc, mnt, log))
        wait_for(lambda: os.path.ismount(mnt) or proc.poll() is not None, what="the lxcfs mount")
        assert proc.poll() is None, open(log.name).read()
        return str(mnt)

    yield start
    for proc, mnt, log in started:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if os.path.ismount(mnt):
            subprocess.run([shutil.which("fusermount3") or "fusermount", "-u", "-z", str(mnt)], check=False)
        log.close()


def read_both(cg, ours, theirs, rel):
    r = cg.run(["sh", "-c", f'cat "{ours}/{rel}"; echo =====; cat "{theirs}/{rel}"'])
    assert r.returncode == 0, r.stderr
    a, _, b = r.stdout.partition("=====\n")
    return a, b


@pytest.mark.parametrize("flags", [(), ("-u",)])
def test_swaps_match_lxcfs_when_the_cgroup_may_not_swap(start_daemon, lxcfs_mount, cgroups, flags):
    if not os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        pytest.skip("no swap accounting (memsw) on this kernel")
    ours, theirs = start_daemon(*flags).mountpoint, lxcfs_mount(*flags)
    cg = cgroups("swl-files-pswap", memory=128 * MIB, memsw=128 * MIB)
    a, b = read_both(cg, ours, theirs, "proc/swaps")
    assert a == b == "Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"


def test_loadavg_has_lxcfs_layout(start_daemon, lxcfs_mount, cgroups):
    ours, theirs = start_daemon("-l").mountpoint, lxcfs_mount("-l")
    cg = cgroups("swl-files-pload")
    a, b = read_both(cg, ours, theirs, "proc/loadavg")
    layout = r"^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n$"
    assert re.match(layout, a) and re.match(layout, b), (a, b)


def test_slabinfo_matches_lxcfs_header(start_daemon, lxcfs_mount, cgroups):
    ours, theirs = start_daemon().mountpoint, lxcfs_mount()
    cg = cgroups("swl-files-pslab")
    a, b = read_both(cg, ours, theirs, "proc/slabinfo")
    assert a.splitlines()[:2] == b.splitlines()[:2]
    assert a.splitlines()[0].startswith("slabinfo - version:")
    names = lambda t: {l.split()[0] for l in t.splitlines()[2:]}
    assert names(a) == names(b)


@pytest.mark.parametrize("cpus", ["0", "all"])
def test_cpu_tree_matches_lxcfs_for_cpusets_starting_at_cpu0(start_daemon, lxcfs_mount, cgroups, cpus):
    n = host_online_cpus()
    ours, theirs = start_daemon().mountpoint, lxcfs_mount()
    cg = cgroups("swl-files-pcpu", cpus=("0" if cpus == "0" else f"0-{n - 1}"))
    base = "sys/devices/system/cpu"
    r = cg.run(["sh", "-c", f'ls -1 "{ours}/{base}"; echo =====; ls -1 "{theirs}/{base}"'])
    a, _, b = r.stdout.partition("=====\n")
    # lxcfs lists some entries twice, and every host cpuN whatever the
    # cpuset; the other entries agree, and ours lists the visible CPUs only.
    cpu_dir = re.compile(r"^cpu\d+$")
    others = lambda names: {x for x in names if not cpu_dir.match(x)}
    assert others(a.split()) == others(b.split())
    assert len(a.split()) == len(set(a.split()))
    assert sorted(x for x in a.split() if cpu_dir.match(x)) == sorted(f"cpu{i}" for i in range(1 if cpus == "0" else n))
    for rel in ("online", "possible", "present", "kernel_max", "cpu0/topology/core_id"):
        x, y = read_both(cg, ours, f"{theirs}", f"{base}/{rel}")
        if rel in ("possible", "present") and cpus == "0":
            # lxcfs serves the host's possible/present; ours agree with online and cpuinfo.
            assert x == "0\n"
            continue
        assert x == y, rel
