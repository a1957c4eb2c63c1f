"""The seccomp agent: real runc (apt) containers whose profile sends
sysinfo(2) to the daemon's socket (linux.seccomp.listenerPath), with a
busybox-static rootfs, in real v1 cgroups with a memory limit and a cpuset.

Every figure a caller gets is compared with what the daemon's mount renders
for the same container: the container reads the mount itself (bound at
/lxcfs), and the daemon runs with --render-cache-ms 10000, so that the
file read and the system call within the same second get the same rendering.
"""
import array
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import BIN, CGROOT, MIB, PREFIX, Daemon, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SOCK_DIR = f"/run/{PREFIX}-seccomp"
SOCK = f"{SOCK_DIR}/seccomp.sock"
RUNC_ROOT = f"/run/{PREFIX}-runc"
LIMIT = 300 * MIB

pytestmark = pytest.mark.skipif(shutil.which("runc") is None or not os.path.exists("/usr/bin/busybox")
                                or shutil.which("gcc") is None,
                                reason="needs runc, busybox-static and gcc (scripts/install-deps.sh --test)")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    """A busybox-static rootfs with the static sysinfo probe at /bin/probe."""
    top = tmp_path_factory.mktemp("seccomp")
    root = top / "rootfs"
    (root / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "lxcfs", "shared", "tmp"):
        (root / d).mkdir()
    shutil.copy("/usr/bin/busybox", root / "bin" / "busybox")
    for applet in ("sh", "free", "uptime", "head", "sleep", "echo"):
        os.symlink("busybox", root / "bin" / applet)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(root / "bin" / "probe"),
                    os.path.join(HERE, "seccomp", "sysinfo_probe.c")], check=True)
    spec = top / "spec"
    spec.mkdir()
    subprocess.run(["runc", "spec"], cwd=spec, check=True)
    return str(root), json.loads((spec / "config.json").read_text())


def profile(socket_path=SOCK):
    """The minimal profile from `swift-lxcfs seccomp-profile`, as the OCI config's linux.seccomp."""
    out = subprocess.run([BIN, "seccomp-profile", "--socket", socket_path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


class Runc:
    """runc containers of this test run (their own --root), deleted at the end."""

    def __init__(self, rootfs, tmp_path):
        self.root, self.spec = rootfs
        self.tmp = tmp_path
        self.names = []
        self.made = 0

    def bundle(self, name, script, mount, shared=None, seccomp=None):
        """An OCI bundle; `mount` (the daemon's mount point) is bound at /lxcfs
        and its proc/meminfo at /proc/meminfo, unless it is None."""
        self.made += 1
        b = self.tmp / f"bundle-{name}-{self.made}"
        b.mkdir()
        c = json.loads(json.dumps(self.spec))
        c["root"] = {"path": self.root, "readonly": True}
        c["process"]["terminal"] = False
        c["process"]["args"] = ["/bin/sh", "-c", script]
        c["hostname"] = name
        if mount:
            c["mounts"].append({"destination": "/lxcfs", "type": "bind", "source": mount, "options": ["rbind", "ro"]})
            # As lxcfs is used: the container's /proc/meminfo is the mount's (busybox free reads Cached there).
            c["mounts"].append({"destination": "/proc/meminfo", "type": "bind",
                                "source": os.path.join(mount, "proc/meminfo"), "options": ["bind", "ro"]})
        if shared:
            c["mounts"].append({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]})
        c["linux"]["cgroupsPath"] = f"/{PREFIX}/{name}"
        c["linux"]["resources"] = {"memory": {"limit": LIMIT}, "cpu": {"cpus": "0", "mems": "0"}}
        c["linux"]["seccomp"] = seccomp or profile()
        (b / "config.json").write_text(json.dumps(c))
        return str(b)

    def popen(self, name, script, mount, **kw):
        bundle = self.bundle(name, script, mount, **kw)
        full = f"{PREFIX}-{name}"
        self.names.append(full)
        return subprocess.Popen(["runc", "--root", RUNC_ROOT, "run", "--bundle", bundle, full],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, name, script, mount, timeout=60, **kw):
        p = self.popen(name, script, mount, **kw)
        out, err = p.communicate(timeout=timeout)
        self.delete(f"{PREFIX}-{name}")
        return p.returncode, out, err

    def delete(self, full):
        subprocess.run(["runc", "--root", RUNC_ROOT, "delete", "-f", full], capture_output=True)

    def cleanup(self):
        for n in self.names:
            self.delete(n)
        for c in os.listdir(CGROOT):
            base = os.path.join(CGROOT, c, PREFIX)
            if os.path.isdir(base) and not os.path.islink(os.path.join(CGROOT, c)):
                for sub in os.listdir(base):
                    if os.path.isdir(os.path.join(base, sub)):
                        with contextlib.suppress(OSError):
                            os.rmdir(os.path.join(base, sub))
                with contextlib.suppress(OSError):
                    os.rmdir(base)
        with contextlib.suppress(OSError):
            os.rmdir(RUNC_ROOT)


@pytest.fixture
def runc(rootfs, tmp_path):
    r = Runc(rootfs, tmp_path)
    yield r
    r.cleanup()


@pytest.fixture
def agent(tmp_path):
    """A daemon serving the agent on SOCK, with per-container loads and a 10 s render cache."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    started = []

    def start(*extra):
        d = Daemon(str(mnt), ["--seccomp-socket", SOCK, "--render-cache-ms", "10000", "--no-reattach", *extra])
        started.append(d)
        wait_for(lambda: os.path.exists(SOCK) or d.proc.poll() is not None, what="the agent's socket")
        return d

    yield start
    for d in started:
        if not d.log.closed:
            d.stop()
    with contextlib.suppress(OSError):
        os.unlink(SOCK)
    with contextlib.suppress(OSError):
        os.rmdir(SOCK_DIR)


def probe_values(line):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", line)}


def meminfo_kb(text, key):
    m = re.search(rf"^{re.escape(key)}:\s+(\d+) kB$", text, re.M)
    assert m, f"no {key} in {text[:300]!r}"
    return int(m.group(1))


def sections(out):
    """Splits the container's output at lines `== NAME`."""
    parts, name = {}, None
    for line in out.splitlines(keepends=True):
        if line.startswith("== "):
            name = line[3:].strip()
            parts[name] = ""
        elif name:
            parts[name] += line
    return parts


# busybox cat copies with sendfile(2), which reads nothing from the mount's
# files (their size is 0): head reads them with read(2).
SCRIPT = ("echo == meminfo; head -n 1000 /lxcfs/proc/meminfo; echo == uptime; head -n 1 /lxcfs/proc/uptime; "
          "echo == loadavg; head -n 1 /lxcfs/proc/loadavg; echo == probe; /bin/probe; echo == free; free; "
          "echo == busybox-uptime; uptime; echo == bad; /bin/probe bad")


def hundredths(word):
    whole, _, frac = word.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def check_container_view(parts, expect_host_loads=None):
    meminfo = parts["meminfo"]
    p = probe_values(parts["probe"])
    assert p["rc"] == 0, parts["probe"]
    unit = p["mem_unit"]
    assert unit == 1
    # The probe's figures are those the mount rendered for the same container.
    assert meminfo_kb(meminfo, "MemTotal") == LIMIT // 1024 == p["totalram"] // 1024
    assert p["freeram"] // 1024 == meminfo_kb(meminfo, "MemFree")
    assert p["sharedram"] // 1024 == meminfo_kb(meminfo, "Shmem")
    assert p["bufferram"] // 1024 == meminfo_kb(meminfo, "Buffers") == 0
    assert p["totalswap"] // 1024 == meminfo_kb(meminfo, "SwapTotal")
    assert p["freeswap"] // 1024 == meminfo_kb(meminfo, "SwapFree")
    assert p["totalhigh"] == p["freehigh"] == 0
    assert p["uptime"] == int(float(parts["uptime"].split()[0]))
    # Just started: seconds, not the host's hours.
    assert p["uptime"] < 120
    # The shell and the probe.
    assert p["procs"] == 2
    loads = parts["loadavg"].split()[:3]
    got = [(p[k] * 100) >> 16 for k in ("load1", "load5", "load15")]
    if expect_host_loads is None:
        assert got == [hundredths(w) for w in loads]
    else:
        assert got in expect_host_loads
    # busybox free: total and free in kB from the same call.
    mem = next(l for l in parts["free"].splitlines() if l.startswith("Mem:")).split()
    assert int(mem[1]) == meminfo_kb(meminfo, "MemTotal")
    # busybox uptime: "up N min" and the load averages, from sysinfo.
    up = parts["busybox-uptime"]
    minutes = int(float(parts["uptime"].split()[0])) // 60
    assert f"up {minutes} min" in up, up
    shown = re.search(r"load average: ([\d.]+), ([\d.]+), ([\d.]+)", up).groups()
    assert [hundredths(w) for w in shown] == got
    # A bad pointer: EFAULT, as from the kernel.
    assert probe_values(parts["bad"]) == {"rc": -1, "errno": 14}


def test_free_uptime_and_a_c_caller_see_the_containers_view(agent, runc):
    d = agent("-l")
    code, out, err = runc.run("view", SCRIPT, d.mountpoint)
    assert code == 0, err
    parts = sections(out)
    check_container_view(parts)
    # Per container with -l: an idle container's own load, not the host's.
    assert parts["loadavg"].split()[:3] == ["0.00", "0.00", "0.00"]
    assert "answering for" in d.output()


def test_without_l_the_loads_are_the_hosts(agent, runc):
    d = agent()
    before = open("/proc/loadavg").read().split()[:3]
    code, out, err = runc.run("hostload", SCRIPT, d.mountpoint)
    after = open("/proc/loadavg").read().split()[:3]
    assert code == 0, err
    parts = sections(out)
    check_container_view(parts, expect_host_loads=[[hundredths(w) for w in before], [hundredths(w) for w in after]])


def test_swap_off_with_u(agent, runc):
    d = agent("-u")
    code, out, err = runc.run("noswap", "/bin/probe; head -n 1000 /lxcfs/proc/meminfo", d.mountpoint)
    assert code == 0, err
    p = probe_values(out.splitlines()[0])
    assert p["totalswap"] == p["freeswap"] == 0
    assert meminfo_kb(out, "SwapTotal") == 0


def fd_kinds(pid):
    """The daemon's descriptors by kind. `cached` are the /proc/PID/cgroup
    descriptors the file reader keeps per thread for callers that may come
    again (CachedDescriptorReader: at most 64 per thread, least recent evicted)."""
    kinds = {"listener": 0, "socket": 0, "pipe": 0, "cached": 0, "other": 0}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if re.fullmatch(r"/proc/\d+/cgroup", target):
                kinds["cached"] += 1
            elif target == "anon_inode:seccomp notify":
                kinds["listener"] += 1
            elif target.startswith("socket:"):
                kinds["socket"] += 1
            elif target.startswith("pipe:"):
                kinds["pipe"] += 1
            else:
                kinds["other"] += 1
    return kinds


def without_cache(kinds):
    return {k: v for k, v in kinds.items() if k != "cached"}


def send_raw(payload, fds=(), uid=None):
    """Connects to the agent's socket and sends one message; returns when the agent has closed it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(SOCK)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    s.sendmsg([payload], anc)
    s.shutdown(socket.SHUT_WR)
    with contextlib.suppress(ConnectionResetError):
        s.recv(1)  # the agent closes its end once it has judged the message
    s.close()


def test_bad_input_on_the_socket_is_refused_and_the_agent_serves_on(agent, runc):
    d = agent()
    runc.run("warm", "/bin/probe", d.mountpoint)
    wait_for(lambda: fd_kinds(d.proc.pid)["listener"] == 0, what="the warm-up listener closed")
    before = fd_kinds(d.proc.pid)
    r, w = os.pipe()
    state = json.dumps({"ociVersion": "1.0.2", "fds": ["seccompFd"], "pid": 1, "state": {"id": "fake"}}).encode()
    send_raw(b"this is not json", fds=[r])
    send_raw(state)  # no descriptor
    send_raw(state, fds=[r])  # a pipe, not a listener
    send_raw(os.urandom(65536), fds=[w])
    os.close(r)
    os.close(w)
    # A peer that is not root (it may reach the socket: CAP_DAC_OVERRIDE kept).
    code = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "--inh-caps=+dac_override", "--ambient-caps=+dac_override", "python3", "-c",
                           "import contextlib, socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('%s')\n"
                           "with contextlib.suppress(BrokenPipeError, ConnectionResetError):\n"
                           "    s.sendall(b'{}')\n    s.shutdown(socket.SHUT_WR)\n    s.recv(1)\n" % SOCK],
                          capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    wait_for(lambda: "uid 65534 is not root" in d.output(), what="the non-root refusal")
    log = d.output()
    assert "not a container process state" in log
    assert "0 descriptor(s) for fds" in log
    assert "is not a seccomp listener" in log
    assert "a message of 65536 bytes or more" in log
    assert d.proc.poll() is None
    assert without_cache(fd_kinds(d.proc.pid)) == without_cache(before)
    # And it answers the next container.
    code, out, err = runc.run("after", SCRIPT, d.mountpoint)
    assert code == 0, err
    p = probe_values(sections(out)["probe"])
    assert p["totalram"] == LIMIT


def test_containers_that_come_and_go_leave_no_descriptor(agent, runc):
    d = agent()
    # 80 containers in all: more callers than the reader caches per thread.
    batch, rounds = 10, 7

    def one_round(r):
        procs = [runc.popen(f"churn{i}", "/bin/probe", d.mountpoint) for i in range(batch)]
        outs = []
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outs.append(out)
            runc.delete(f"{PREFIX}-churn{i}")
        runc.names.clear()
        return outs

    for out in one_round(0):
        assert probe_values(out)["totalram"] == LIMIT
    wait_for(lambda: fd_kinds(d.proc.pid)["listener"] == 0, what="the first round's listeners closed")
    # The test's own reads below are served by a FUSE worker that caches this
    # process's cgroup files: read once before the count is taken.
    assert "MemTotal" in open(d.path("proc/meminfo")).read()
    baseline = fd_kinds(d.proc.pid)
    for r in range(1, rounds + 1):
        for out in one_round(r):
            assert probe_values(out)["totalram"] == LIMIT, out
        # The mount serves throughout.
        assert "MemTotal" in open(d.path("proc/meminfo")).read()
    wait_for(lambda: without_cache(fd_kinds(d.proc.pid)) == without_cache(baseline), timeout=20,
             what=f"the daemon's descriptors back at {baseline} (now {fd_kinds(d.proc.pid)})")
    # The reader's cache stays within its bound: 64 for the agent's thread,
    # one for each FUSE worker that served the test's reads (at most 16).
    assert fd_kinds(d.proc.pid)["cached"] <= 64 + 16
    assert d.proc.poll() is None


def test_a_caller_after_the_daemon_stopped_for_good(agent, runc, tmp_path):
    """Measured: with the listener gone the kernel answers ENOSYS."""
    d = agent()
    shared = tmp_path / "shared"
    shared.mkdir()
    script = "/bin/probe; while [ ! -e /shared/go ]; do sleep 0.05; done; /bin/probe; free"
    p = runc.popen("stopped", script, d.mountpoint, shared=str(shared))
    wait_for(lambda: fd_kinds(d.proc.pid)["listener"] == 1, what="the container's listener")
    d.stop()
    (shared / "go").write_text("")
    out, err = p.communicate(timeout=60)
    lines = out.splitlines()
    assert probe_values(lines[0])["totalram"] == LIMIT
    assert probe_values(lines[1]) == {"rc": -1, "errno": 38}
    # A new container cannot start: runc cannot reach listenerPath.
    code, out, err = runc.run("nostart", "/bin/probe", None)
    assert code != 0
    assert SOCK in err or "connect" in err, err


def test_seccomp_profile_adds_one_rule_to_a_base(tmp_path):
    base = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [{"names": ["read", "write", "sysinfo"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    f = tmp_path / "base.json"
    f.write_text(json.dumps(base))
    out = subprocess.run([BIN, "seccomp-profile", "--base", str(f), "--socket", "/run/x.sock"],
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    notify = {"names": ["sysinfo"], "action": "SCMP_ACT_NOTIFY"}
    assert got["syscalls"][-1] == notify
    assert got["listenerPath"] == "/run/x.sock"
    # The base, with sysinfo moved from the allow rule to the one new rule.
    want = json.loads(json.dumps(base))
    want["syscalls"][0]["names"].remove("sysinfo")
    want["syscalls"].append(notify)
    want["listenerPath"] = "/run/x.sock"
    assert got == want
    help = subprocess.run([BIN, "seccomp-profile", "--help"], capture_output=True, text=True).stdout
    assert "WEAKER" in help
    bad = subprocess.run([BIN, "seccomp-profile", "--base", "/nonexistent.json"], capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1, bad.stderr


def test_no_seccomp_agent_serves_no_socket(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    sock = f"{SOCK_DIR}/off.sock"
    d = Daemon(str(mnt), ["--seccomp-socket", sock, "--no-seccomp-agent", "--no-reattach"])
    try:
        assert "MemTotal" in open(d.path("proc/meminfo")).read()
        assert not os.path.exists(sock)
        assert "seccomp agent" not in d.output()
    finally:
        d.stop()


def test_a_takeover_successor_serves_the_socket(agent, runc, tmp_path):
    """The successor waits for its predecessor to let the socket go, then answers new containers."""
    old = agent()
    new = Daemon(old.mountpoint, ["--seccomp-socket", SOCK, "--render-cache-ms", "10000", "--no-reattach", "--takeover"])
    try:
        assert old.proc.wait(30) == 0
        wait_for(lambda: "seccomp agent listening" in new.output(), timeout=20, what="the successor's agent")
        code, out, err = runc.run("successor", "/bin/probe", new.mountpoint)
        assert code == 0, err
        assert probe_values(out)["totalram"] == LIMIT
        assert "answering for" in new.output()
    finally:
        new.stop()


@pytest.mark.skipif(not os.path.exists("/usr/share/containers/seccomp.json"),
                    reason="needs containers-common's seccomp.json")
def test_runc_starts_a_container_with_containers_commons_profile_plus_the_rule(agent, runc):
    d = agent()
    out = subprocess.run([BIN, "seccomp-profile", "--base", "/usr/share/containers/seccomp.json", "--socket", SOCK],
                         capture_output=True, text=True, check=True)
    seccomp = json.loads(out.stdout)
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    code, out, err = runc.run("base", "/bin/probe", d.mountpoint, seccomp=seccomp)
    assert code == 0, err
    assert probe_values(out)["totalram"] == LIMIT


def test_callers_killed_in_their_calls_leave_the_agent_unharmed(agent, runc):
    d = agent()
    for round in range(3):
        # Four callers in tight loops keep the agent busy: the kill catches
        # calls between their receipt and their answer.
        p = runc.popen(f"killed{round}", "for i in 1 2 3 4; do /bin/probe loop & done; wait", d.mountpoint)
        for _ in range(4):
            line = p.stdout.readline()
            assert probe_values(line)["totalram"] == LIMIT, line
        time.sleep(0.5)
        subprocess.run(["runc", "--root", RUNC_ROOT, "kill", f"{PREFIX}-killed{round}", "KILL"], check=True)
        p.communicate(timeout=60)
        runc.delete(f"{PREFIX}-killed{round}")
    wait_for(lambda: fd_kinds(d.proc.pid)["listener"] == 0, what="the killed containers' listeners closed")
    assert d.proc.poll() is None
    code, out, err = runc.run("afterkill", "/bin/probe", d.mountpoint)
    assert code == 0, err
    assert probe_values(out)["totalram"] == LIMIT
