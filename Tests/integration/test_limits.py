"""Real processes in real v1 cgroups read their own limits through the mount."""
import os
import re
import subprocess
import sys
import textwrap

from conftest import MIB, host_online_cpus

FILES = {
    "proc/meminfo": "/proc/meminfo",
    "proc/cpuinfo": "/proc/cpuinfo",
    "proc/stat": "/proc/stat",
    "proc/uptime": "/proc/uptime",
    "sys/devices/system/cpu/online": "/sys/devices/system/cpu/online",
}


def meminfo_kb(text, key):
    m = re.search(rf"^{re.escape(key)}:\s+(\d+) kB$", text, re.M)
    assert m, f"no {key} in {text[:200]!r}"
    return int(m.group(1))


def test_memory_limit_and_one_cpu_cpuset(start_daemon, cgroups):
    d = start_daemon()
    cg = cgroups("limits", memory=256 * MIB, cpus=str(host_online_cpus() - 1))
    r = cg.run(["cat", d.path("proc/meminfo"), d.path("proc/cpuinfo"), d.path("proc/stat"),
                d.path("sys/devices/system/cpu/online")])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert meminfo_kb(out, "MemTotal") == 262144
    assert 0 < meminfo_kb(out, "MemFree") <= 262144
    assert len(re.findall(r"^processor\s*:", out, re.M)) == 1
    assert re.search(r"^processor\s*:\s*0$", out, re.M)
    assert len(re.findall(r"^cpu\d+ ", out, re.M)) == 1
    assert re.search(r"^cpu0 ", out, re.M) and len(re.findall(r"^cpu  ", out, re.M)) == 1
    assert out.endswith("\n0\n")


def test_the_host_still_sees_the_host(start_daemon):
    d = start_daemon()
    host_total = meminfo_kb(open("/proc/meminfo").read(), "MemTotal")
    assert meminfo_kb(open(d.path("proc/meminfo")).read(), "MemTotal") <= host_total
    assert open(d.path("sys/devices/system/cpu/online")).read() == open("/sys/devices/system/cpu/online").read()


def test_cfs_quota_with_enable_cfs(start_daemon, cgroups):
    cg = cgroups("cfs", quota=50000, period=100000)
    plain = start_daemon(name="plain")
    cfs = start_daemon("--enable-cfs", name="cfs")
    r = cg.run(["cat", cfs.path("proc/cpuinfo"), cfs.path("sys/devices/system/cpu/online"), cfs.path("proc/stat")])
    assert len(re.findall(r"^processor\s*:", r.stdout, re.M)) == 1
    assert "\n0\n" in r.stdout
    assert len(re.findall(r"^cpu\d+ ", r.stdout, re.M)) == 1
    r = cg.run(["cat", plain.path("sys/devices/system/cpu/online")])
    n = host_online_cpus()
    assert r.stdout == ("0\n" if n == 1 else f"0-{n - 1}\n")


def test_uptime_in_a_new_pid_namespace(start_daemon):
    d = start_daemon()
    host_uptime = float(open("/proc/uptime").read().split()[0])
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                        f"sleep 1; cat {d.path('proc/uptime')}"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    up, idle = (float(x) for x in r.stdout.split())
    assert 0.5 <= up < 60, r.stdout
    assert up < host_uptime - 5
    assert idle >= 0
    # Outside the namespace, the host's uptime.
    assert float(open(d.path("proc/uptime")).read().split()[0]) >= host_uptime


def in_mount_namespace(cg, daemon, script):
    """Runs script inside cg in a private mount namespace where the served
    files are bind-mounted over /proc and /sys."""
    binds = "\n".join(f"mount --bind {daemon.path(src)} {dst}" for src, dst in FILES.items())
    full = f"set -e\n{binds}\n{script}"
    return cg.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", full])


def test_real_tools_through_bind_mounts(start_daemon, cgroups):
    d = start_daemon("--enable-cfs")
    cg = cgroups("tools", memory=256 * MIB, quota=50000, period=100000)
    r = in_mount_namespace(cg, d, textwrap.dedent("""
        echo '== free'; free -k
        echo '== top'; top -bn1 | head -5
        echo '== python'; python3 -c 'import os; print(os.cpu_count())'
        echo '== nproc'; getconf _NPROCESSORS_ONLN
        """))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    free_mem = re.search(r"^Mem:\s+(\d+)", out, re.M)
    assert free_mem and int(free_mem.group(1)) == 262144, out
    top_mem = re.search(r"^MiB Mem :\s+([\d.]+) total", out, re.M)
    assert top_mem and float(top_mem.group(1)) == 256.0, out
    assert re.search(r"== python\n1\n", out), out
    assert re.search(r"== nproc\n1\n", out), out


READER = textwrap.dedent("""
    import re, sys, time
    path, online_path, want_kb, want_online = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    reads = bad = errors = 0
    end = time.monotonic() + float(sys.argv[5])
    while time.monotonic() < end:
        try:
            text = open(path).read()
            m = re.search(r"^MemTotal:\\s+(\\d+) kB$", text, re.M)
            if not m or int(m.group(1)) != want_kb:
                bad += 1
            if open(online_path).read() != want_online:
                bad += 1
            reads += 1
        except OSError:
            errors += 1
    print(reads, bad, errors)
    """)


def test_isolation_under_load(start_daemon, cgroups):
    d = start_daemon()
    n_cpus = host_online_cpus()
    procs = []
    for i in range(16):
        limit_mib = 100 + 10 * i
        cpus = str(i % n_cpus)
        cg = cgroups(f"load{i}", memory=limit_mib * MIB, cpus=cpus)
        p = subprocess.Popen([sys.executable, "-c", READER, d.path("proc/meminfo"),
                              d.path("sys/devices/system/cpu/online"), str(limit_mib * 1024), "0\n", "10"],
                             stdout=subprocess.PIPE, text=True, preexec_fn=cg.preexec())
        procs.append(p)
    total = 0
    for p in procs:
        out, _ = p.communicate(timeout=60)
        reads, bad, errors = (int(x) for x in out.split())
        assert bad == 0 and errors == 0, out
        assert reads > 0
        total += reads
    print(f"isolation: {total} reads by 16 readers in 16 cgroups, 0 wrong, 0 errors")
    assert d.proc.poll() is None
