"""The rest of the lxcfs file set on a real mount, read by real processes in
real v1 cgroups: swaps, diskstats, loadavg, pressure, slabinfo and the
/sys/devices/system/cpu tree (checked with lscpu, getconf and Python)."""
import errno
import os
import re
import shutil
import stat
import subprocess
import sys
import time

import pytest

from conftest import MIB, host_online_cpus, wait_for

SWAP_LINE = re.compile(r"^none {36}virtual\t\t(\d+)\t(\d+)\t0$")
HEADER = "Filename\t\t\t\tType\t\tSize\tUsed\tPriority"


def meminfo_kb(text, key):
    m = re.search(rf"^{key}:\s+(\d+) kB$", text, re.M)
    assert m, f"{key} missing"
    return int(m.group(1))


def read_in(cg, path):
    r = cg.run(["cat", path])
    assert r.returncode == 0, r.stderr
    return r.stdout


def check_swaps_agree_with_meminfo(swaps, meminfo):
    lines = swaps.splitlines()
    assert lines[0] == HEADER
    total, free = meminfo_kb(meminfo, "SwapTotal"), meminfo_kb(meminfo, "SwapFree")
    if total == 0:
        assert lines == [HEADER]
        return None
    assert len(lines) == 2
    m = SWAP_LINE.match(lines[1])
    assert m, lines[1]
    assert int(m.group(1)) == total and int(m.group(2)) == total - free
    return int(m.group(1))


def test_swaps_with_a_memsw_limit_agrees_with_meminfo(start_daemon, cgroups):
    if not os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        pytest.skip("no swap accounting (memsw) on this kernel")
    d = start_daemon()
    cg = cgroups("swl-files-swap", memory=256 * MIB, memsw=512 * MIB)
    swaps, meminfo = read_in(cg, d.path("proc/swaps")), read_in(cg, d.path("proc/meminfo"))
    size = check_swaps_agree_with_meminfo(swaps, meminfo)
    host_swap = meminfo_kb(open("/proc/meminfo").read(), "SwapTotal")
    # 256 MiB may swap, capped at the host's swap (this test host may have none).
    assert (size or 0) == min(256 * 1024, host_swap)


def test_swaps_when_memsw_equals_memory_is_header_only(start_daemon, cgroups):
    if not os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        pytest.skip("no swap accounting (memsw) on this kernel")
    d = start_daemon()
    cg = cgroups("swl-files-noswap", memory=256 * MIB, memsw=256 * MIB)
    swaps, meminfo = read_in(cg, d.path("proc/swaps")), read_in(cg, d.path("proc/meminfo"))
    assert swaps == HEADER + "\n"
    assert meminfo_kb(meminfo, "SwapTotal") == 0
    check_swaps_agree_with_meminfo(swaps, meminfo)


def test_swaps_with_disable_swap_is_header_only(start_daemon, cgroups):
    d = start_daemon("-u")
    cg = cgroups("swl-files-swapoff", memory=256 * MIB)
    assert read_in(cg, d.path("proc/swaps")) == HEADER + "\n"


def whole_disk(dev):
    """The (major, minor) of the disk holding block device `dev` (a partition's parent)."""
    sysdir = os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if os.path.exists(os.path.join(sysdir, "partition")):
        sysdir = os.path.dirname(sysdir)
    ma, mi = open(os.path.join(sysdir, "dev")).read().split(":")
    return int(ma), int(mi), os.path.basename(sysdir)


def test_diskstats_counts_direct_io_of_the_cgroup_only(start_daemon, cgroups, tmp_path):
    dev = os.stat(tmp_path).st_dev
    if os.major(dev) == 0 or not os.path.exists(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"):
        pytest.skip("the test folder is not on a block device; the fixture unit tests cover diskstats")
    major, minor, name = whole_disk(dev)
    d = start_daemon()
    cg = cgroups("swl-files-io")
    # The v1 throttle policy counts I/O only on devices that have a rule:
    # give one far above anything this test does.
    for f in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
        cg.write("blkio", f, f"{major}:{minor} {1 << 40}")
    assert read_in(cg, d.path("proc/diskstats")) == ""
    target = tmp_path / "swl-files-dd"
    r = cg.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", "count=8", "oflag=direct", "status=none"])
    assert r.returncode == 0, r.stderr
    r = cg.run(["dd", f"if={target}", "of=/dev/null", "bs=1M", "iflag=direct", "status=none"])
    assert r.returncode == 0, r.stderr
    # Renderings are reused for a tick (--render-cache-ms, 20 ms): the
    # empty file read above may still be served right after the I/O.
    time.sleep(0.1)
    lines = read_in(cg, d.path("proc/diskstats")).splitlines()
    assert len(lines) == 1, lines
    assert re.match(rf"^ {{0,3}}{major} {{1,7}}{minor} {name} ", lines[0]) and lines[0][4] == " "
    f = [int(x) for x in lines[0].split()[3:]]
    host_fields = next(len(l.split()) - 3 for l in open("/proc/diskstats") if l.split()[2] == name)
    assert len(f) == host_fields
    served = {k: int(v) for k, v in (l.rsplit(" ", 1) for l in cg.read("blkio", "blkio.throttle.io_service_bytes_recursive").splitlines())}
    assert f[6] == served[f"{major}:{minor} Write"] // 512 and f[6] >= 8 * MIB // 512
    assert f[2] == served[f"{major}:{minor} Read"] // 512 and f[2] >= 8 * MIB // 512
    assert f[0] >= 1 and f[4] >= 1
    # A sibling cgroup this test controls, with the same rules, writes half
    # as much: it sees its own I/O, not the first cgroup's.
    other = cgroups("swl-files-io-other")
    for rule in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
        other.write("blkio", rule, f"{major}:{minor} {1 << 40}")
    assert read_in(other, d.path("proc/diskstats")) == ""
    r = other.run(["dd", "if=/dev/zero", f"of={tmp_path / 'swl-files-dd-other'}", "bs=1M", "count=4",
                   "oflag=direct", "status=none"])
    assert r.returncode == 0, r.stderr
    time.sleep(0.1)
    other_lines = read_in(other, d.path("proc/diskstats")).splitlines()
    assert len(other_lines) == 1, other_lines
    g = [int(x) for x in other_lines[0].split()[3:]]
    other_served = {k: int(v) for k, v in (l.rsplit(" ", 1) for l in
                    other.read("blkio", "blkio.throttle.io_service_bytes_recursive").splitlines())}
    assert g[6] == other_served[f"{major}:{minor} Write"] // 512 and g[6] >= 4 * MIB // 512
    assert g[6] < f[6], (g, f)
    # The first cgroup's view did not take in the sibling's I/O.
    again = [int(x) for x in read_in(cg, d.path("proc/diskstats")).split()[3:]]
    assert again[6] < f[6] + 4 * MIB // 512, (again, f)


def loadavg_fields(text):
    m = re.match(r"^(\d+\.\d\d) (\d+\.\d\d) (\d+\.\d\d) (\d+)/(\d+) (\d+)\n$", text)
    assert m, text
    return [float(m.group(i)) for i in (1, 2, 3)] + [int(m.group(i)) for i in (4, 5, 6)]


def test_loadavg_rises_with_busy_loops_in_the_cgroup(start_daemon, cgroups):
    d = start_daemon("-l")
    cg = cgroups("swl-files-load")
    first = loadavg_fields(read_in(cg, d.path("proc/loadavg")))
    assert first[4] >= 1  # the reader itself
    loops = [subprocess.Popen(["sh", "-c", "while :; do :; done"], preexec_fn=cg.preexec()) for _ in range(3)]
    try:
        seen = []

        def risen():
            f = loadavg_fields(read_in(cg, d.path("proc/loadavg")))
            seen.append(f)
            return f[0] > first[0] + 0.5 and f[1] > first[1]

        wait_for(risen, timeout=90, what=f"the cgroup's load to rise (seen {seen[-3:]})")
        last = seen[-1]
        # The three loops (and the reader, when a sample catches it): a
        # handful of tasks, far fewer than the host's.
        assert 3 <= last[4] <= 10, last
        assert last[3] <= last[4]
        host = loadavg_fields(open("/proc/loadavg").read())
        assert host[4] > last[4]
    finally:
        for p in loops:
            p.kill()
            p.wait()


def test_loadavg_without_l_is_the_hosts(start_daemon, cgroups):
    d = start_daemon()
    cg = cgroups("swl-files-noload")
    served = loadavg_fields(read_in(cg, d.path("proc/loadavg")))
    host = loadavg_fields(open("/proc/loadavg").read())
    # The host's task count, not the cgroup's one or two.
    assert served[4] > 10 and abs(served[4] - host[4]) < max(50, host[4] // 2)


def test_pressure_files_are_the_hosts_on_v1(start_daemon, cgroups):
    d = start_daemon()
    if not os.path.isdir("/proc/pressure"):
        assert not os.path.exists(d.path("proc/pressure"))
        return
    assert sorted(os.listdir(d.path("proc/pressure"))) == sorted(os.listdir("/proc/pressure"))
    cg = cgroups("swl-files-psi")
    for res in os.listdir("/proc/pressure"):
        text = read_in(cg, d.path(f"proc/pressure/{res}"))
        keys = [l.split()[0] for l in text.splitlines()]
        assert keys == [l.split()[0] for l in open(f"/proc/pressure/{res}").read().splitlines()], res
        assert re.match(r"^some avg10=\d+\.\d\d avg60=\d+\.\d\d avg300=\d+\.\d\d total=\d+$", text.splitlines()[0])
    with pytest.raises(FileNotFoundError):
        open(d.path("proc/pressure/nonsense"))


def test_slabinfo_is_root_only(start_daemon):
    d = start_daemon()
    st = os.stat(d.path("proc/slabinfo"))
    assert stat.S_IMODE(st.st_mode) == 0o400
    assert open(d.path("proc/slabinfo")).read().startswith("slabinfo - version:")
    r = subprocess.run(["cat", d.path("proc/slabinfo")], capture_output=True, text=True,
                       preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
    assert r.returncode != 0 and "Permission denied" in r.stderr


def in_container_view(cg, d, script):
    """Runs `script` in cg, in a private mount namespace where the mount's
    cpu tree and cpuinfo are bind-mounted over the host's."""
    cpu, info = d.path("sys/devices/system/cpu"), d.path("proc/cpuinfo")
    wrapped = (f"mount --bind {cpu} /sys/devices/system/cpu && mount --bind {info} /proc/cpuinfo && {script}")
    r = cg.run(["unshare", "-m", "--propagation", "private", "sh", "-c", wrapped])
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("limit", ["cpuset", "cfs"])
def test_lscpu_getconf_and_python_agree_with_cpuinfo_on_one_cpu(start_daemon, cgroups, limit):
    if shutil.which("lscpu") is None or shutil.which("unshare") is None:
        pytest.fail("util-linux (lscpu, unshare) is missing; scripts/install-deps.sh --test installs it")
    if limit == "cpuset":
        d = start_daemon()
        cg = cgroups("swl-files-cpu", cpus="0")
    else:
        # Every host CPU in the cpuset, a CFS quota of one CPU and --enable-cfs.
        d = start_daemon("--enable-cfs")
        cg = cgroups("swl-files-cfs", quota=100000, period=100000)
    out = in_container_view(cg, d, (
        "lscpu; echo getconf=$(getconf _NPROCESSORS_ONLN); "
        f"{sys.executable} -c 'import os; print(\"python=%d\" % os.cpu_count())'; "
        "echo cpuinfo=$(grep -c ^processor /proc/cpuinfo); echo dirs=$(ls -d /sys/devices/system/cpu/cpu[0-9]* | wc -l)"))
    assert re.search(r"^CPU\(s\):\s+1$", out, re.M), out
    assert re.search(r"^On-line CPU\(s\) list:\s+0$", out, re.M), out
    for key in ("getconf", "python", "cpuinfo", "dirs"):
        assert re.search(rf"^{key}=1$", out, re.M), (key, out)


def test_cpu_folders_are_the_readers_visible_cpus_renumbered(start_daemon, cgroups):
    if host_online_cpus() < 2:
        pytest.skip("needs two host CPUs")
    d = start_daemon()
    base = d.path("sys/devices/system/cpu")
    # The test process sees every CPU; a process in a cpuset of host CPU 1 sees one, as cpu0.
    assert {f"cpu{i}" for i in range(host_online_cpus())} <= set(os.listdir(base))
    cg = cgroups("swl-files-cpu1", cpus="1")
    listing = read_in_ls(cg, base)
    assert [n for n in listing if re.fullmatch(r"cpu\d+", n)] == ["cpu0"]
    assert {"kernel_max", "online", "possible", "present"} <= set(listing)
    for name in ("online", "possible", "present"):
        assert read_in(cg, os.path.join(base, name)) == "0\n"
    assert read_in(cg, os.path.join(base, "offline")) == "\n"
    r = cg.run(["cat", os.path.join(base, "cpu1/topology/core_id")])
    assert r.returncode != 0 and "No such file" in r.stderr
    # cpu0 of the reader is host cpu1: find a file that differs between host cpu0 and cpu1.
    host = "/sys/devices/system/cpu"
    for rel in ("topology/core_cpus_list", "topology/thread_siblings_list", "topology/core_id", "cache/index0/shared_cpu_list"):
        a, b = os.path.join(host, "cpu0", rel), os.path.join(host, "cpu1", rel)
        if os.path.exists(a) and os.path.exists(b) and open(a).read() != open(b).read():
            assert read_in(cg, os.path.join(base, "cpu0", rel)) == open(b).read(), rel
            assert open(os.path.join(base, "cpu0", rel)).read() == open(a).read(), rel
            break
    else:
        pytest.skip("host cpu0 and cpu1 look the same")


def read_in_ls(cg, path):
    r = cg.run(["ls", "-1", path])
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_cpu_tree_is_read_only_and_keeps_host_files(start_daemon):
    d = start_daemon()
    base = d.path("sys/devices/system/cpu")
    assert open(os.path.join(base, "kernel_max")).read() == open("/sys/devices/system/cpu/kernel_max").read()
    assert os.readlink(os.path.join(base, "cpu0", "subsystem")) == os.readlink("/sys/devices/system/cpu/cpu0/subsystem")
    st = os.stat(os.path.join(base, "cpu0", "uevent"))
    assert stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222
    with pytest.raises(OSError) as e:
        open(os.path.join(base, "cpu0", "uevent"), "w")
    assert e.value.errno in (errno.EACCES, errno.EROFS)
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(base, "cpu99999"))


def test_uptime_for_a_reader_that_entered_the_namespace_from_outside(start_daemon):
    """Like `docker exec`: the reader's parent (nsenter) is outside the pid
    namespace, so walking up its parents never reaches the namespace's pid 1."""
    if shutil.which("nsenter") is None:
        pytest.fail("util-linux (nsenter) is missing; scripts/install-deps.sh --test installs it")
    d = start_daemon()
    init = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sleep", "600"])
    try:
        def inner_sleep():
            kids = open(f"/proc/{init.pid}/task/{init.pid}/children").read().split()
            return kids[0] if kids else None
        wait_for(lambda: inner_sleep() is not None, what="the namespace's init")
        target = inner_sleep()
        subprocess.run(["sleep", "2"], check=True)
        # The reader starts at least 2 s after the namespace's pid 1.
        r = subprocess.run(["nsenter", "-t", target, "-p", "--", "sh", "-c", f"cat {d.path('proc/uptime')}"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        up = float(r.stdout.split()[0])
        assert up >= 1.9, r.stdout
        assert up < float(open("/proc/uptime").read().split()[0]) - 1
    finally:
        init.kill()
        init.wait()
