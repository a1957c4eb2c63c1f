"""Shared helpers for the integration tests: a real swift-lxcfs mount, real
cgroup v1 groups on this host, and processes started inside them.

Every test here runs as root on a host whose cgroup v1 controllers are
mounted at /sys/fs/cgroup/<controller>.
"""
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

BIN = os.environ.get("SWIFT_LXCFS_BIN") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "swift-lxcfs"))
CGROOT = "/sys/fs/cgroup"
PREFIX = os.environ.get("SWIFT_LXCFS_CGROUP_PREFIX", "swift-lxcfs-test")
MIB = 1024 * 1024
# Every daemon start runs the reattach step, which looks at every mount
# namespace on the host: in the tests, only at those with a process in this
# checkout's test cgroups (or its Docker engine's), so that tests running at
# the same time on a shared host keep their own dead mounts.
os.environ.setdefault("SWIFT_LXCFS_REATTACH_CGROUPS", ",".join(
    [f"/{PREFIX}/", f"/{os.environ.get('SWIFT_LXCFS_DOCKER_CGROUP_PARENT', 'swl-deploy-docker')}/"]))


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def terminate(proc, timeout=10):
    """Sends SIGTERM to a running process, waits up to `timeout` seconds,
    then SIGKILLs it; returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Daemon:
    """A swift-lxcfs process serving a mount point until stopped."""

    def __init__(self, mountpoint, args=(), binary=BIN):
        self.mountpoint = mountpoint
        state = tempfile.mkdtemp(prefix="swift-lxcfs-daemon-")
        self.pidfile = os.path.join(state, "daemon.pid")
        self.log = open(os.path.join(state, "daemon.log"), "w+")
        self.proc = subprocess.Popen([binary, "-p", self.pidfile, *args, mountpoint],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.ismount(mountpoint) or self.proc.poll() is not None,
                 what=f"mount at {mountpoint}")
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited: {self.output()}")

    def path(self, rel):
        return os.path.join(self.mountpoint, rel.lstrip("/"))

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        terminate(self.proc)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], check=False)
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def start_daemon(tmp_path):
    """Starts daemons on mount points under tmp_path; stops them at the end."""
    started = []

    def start(*args, name="mnt"):
        mnt = tmp_path / name
        mnt.mkdir(exist_ok=True)
        d = Daemon(str(mnt), args)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


class Cgroup:
    """One cgroup, created in every v1 hierarchy the test uses."""

    CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "blkio", "pids")

    def __init__(self, name, memory=None, memsw=None, cpus=None, quota=None, period=100000):
        self.name = f"{PREFIX}/{name}"
        self.dirs = {}
        for c in self.CONTROLLERS:
            base = os.path.join(CGROOT, c)
            if not os.path.isdir(base):
                continue
            parent = os.path.join(base, PREFIX)
            os.makedirs(parent, exist_ok=True)
            d = os.path.join(base, self.name)
            os.makedirs(d, exist_ok=True)
            self.dirs[c] = d
        cs = self.dirs.get("cpuset")
        if cs:
            for f in ("cpuset.mems", "cpuset.cpus"):
                for d in (os.path.dirname(cs), cs):
                    if not open(os.path.join(d, f)).read().strip():
                        src = os.path.join(os.path.dirname(d), f)
                        self._write(os.path.join(d, f), open(src).read().strip())
        if memory is not None:
            self.write("memory", "memory.limit_in_bytes", memory)
        if memsw is not None:
            self.write("memory", "memory.memsw.limit_in_bytes", memsw)
        if cpus is not None:
            self.write("cpuset", "cpuset.cpus", cpus)
        if quota is not None:
            self.write("cpu", "cpu.cfs_period_us", period)
            self.write("cpu", "cpu.cfs_quota_us", quota)

    @staticmethod
    def _write(path, value):
        with open(path, "w") as f:
            f.write(str(value))

    def write(self, controller, file, value):
        self._write(os.path.join(self.dirs[controller], file), value)

    def read(self, controller, file):
        return open(os.path.join(self.dirs[controller], file)).read()

    def enter(self, pid=None):
        """Moves a process (default: the caller) into this cgroup everywhere."""
        pid = pid or os.getpid()
        for d in self.dirs.values():
            self._write(os.path.join(d, "cgroup.procs"), pid)

    def preexec(self):
        """A preexec_fn for subprocess that starts the child inside this cgroup."""
        return lambda: self.enter(os.getpid())

    def run(self, cmd, **kw):
        """Runs cmd inside this cgroup and returns the CompletedProcess."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(cmd, preexec_fn=self.preexec(), **kw)

    def remove(self):
        for c, d in self.dirs.items():
            for _ in range(50):
                try:
                    pids = open(os.path.join(d, "cgroup.procs")).read().split()
                except FileNotFoundError:
                    break
                for p in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(p), signal.SIGKILL)
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


@pytest.fixture
def cgroups():
    """Creates cgroups with `cgroups(name, memory=..., cpus=..., quota=...)`;
    removes them (and kills what is left in them) at the end."""
    made = []

    def make(name, **limits):
        cg = Cgroup(name, **limits)
        made.append(cg)
        return cg

    yield make
    for cg in made:
        cg.remove()
    for c in Cgroup.CONTROLLERS:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(CGROOT, c, PREFIX))


def host_online_cpus():
    text = open("/sys/devices/system/cpu/online").read().strip()
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n += (int(hi) if hi else int(lo)) - int(lo) + 1
    return n
