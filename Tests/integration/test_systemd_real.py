"""systemd/swift-lxcfs.service under a real systemd: Debian bookworm's
systemd 252 as PID 1 in a container of the tests' private Docker engine
(scripts/make-rootfs.sh systemd; --cgroupns=host, /sys/fs/cgroup bound, a
tmpfs on /run, /dev/fuse), with the built binary and the unit copied in.

Readers in another mount namespace of that container (unshare -m, the
served files bound over /proc and /sys as a container has them) read in
loops (load_support.py) while:
- `systemctl kill -s KILL swift-lxcfs` ends the daemon (Restart=always brings
  it back, resuming from the fd store): 0 failed reads;
- `systemctl restart swift-lxcfs`: 0 failed reads;
- `systemctl stop swift-lxcfs` unmounts and empties the store.
"""
import os
import shutil
import subprocess
import time

import pytest

from conftest import BIN, wait_for
from deploy_support import (REPO, DockerEngine, docker_tests_skipped, make_rootfs, privileged_flags)
from load_support import LOAD_FILES, assert_clean, parse_result, reader_command

pytestmark = [
    pytest.mark.skipif(docker_tests_skipped(), reason="SWIFT_LXCFS_SKIP_DOCKER=1 (inside Dockerfile.test)"),
    pytest.mark.skipif(shutil.which("dockerd") is None or shutil.which("debootstrap") is None,
                       reason="needs dockerd and debootstrap (scripts/install-deps.sh --test)"),
]

SYSTEMD_IMAGE = "swl-deploy/bookworm-systemd"
UNIT = "swift-lxcfs.service"
MNT = "/var/lib/lxcfs"
HERE = os.path.dirname(os.path.abspath(__file__))
# The reader's limits: the container's own (a reader run with docker exec
# stays in the container's cgroup).
MEMORY_MIB = 384


@pytest.fixture(scope="module")
def engine():
    e = DockerEngine()
    try:
        e.import_rootfs(make_rootfs("systemd"), SYSTEMD_IMAGE)
        yield e
    finally:
        e.stop()


class Machine:
    """The systemd container: `sh(...)` runs a shell command in it."""

    def __init__(self, engine, name):
        self.engine, self.name = engine, name

    def sh(self, command, check=True, timeout=120):
        return self.engine.docker("exec", self.name, "sh", "-c", command, check=check, timeout=timeout)

    def show(self, prop):
        return self.sh(f"systemctl show --value -p {prop} {UNIT}").stdout.strip()

    def fuse_mounted(self):
        r = self.sh(f"findmnt -n -o FSTYPE --mountpoint {MNT} | tail -n 1", check=False)
        return r.stdout.strip().startswith("fuse")

    def serves(self):
        return self.sh(f"head -c 9 {MNT}/proc/meminfo", check=False).stdout == "MemTotal:"

    def wait_active(self, other_than=None):
        def up():
            if self.show("ActiveState") != "active":
                return False
            pid = self.show("MainPID")
            return pid not in ("0", other_than) and self.serves()
        wait_for(up, timeout=60, what=f"{UNIT} active again:\n{self.journal()}")
        return self.show("MainPID")

    def journal(self):
        return self.sh(f"journalctl -u {UNIT} --no-pager | tail -n 40", check=False).stdout

    def readers(self, n, stop_file):
        """n readers, each in a mount namespace of its own with the served
        files bound over /proc and /sys, until `stop_file` exists."""
        dev = int(self.sh(f"stat -c %d {MNT}/proc").stdout)
        binds = "; ".join(f"mount --bind {MNT}/{rel} /{rel}" for rel in LOAD_FILES)
        argv = reader_command("/", 600, stop_file=stop_file, expect_mem_kb=MEMORY_MIB * 1024, expect_cpus=1,
                              expect_dev=dev, script="/load_support.py")
        script = f"set -e; {binds}; exec {' '.join(argv)}"
        procs = [subprocess.Popen([self.engine.client, "exec", self.name, "unshare", "-m", "sh", "-c", script],
                                  env=self.engine.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(n)]
        time.sleep(1.0)
        for p in procs:
            assert p.poll() is None, p.communicate()[0]
        return procs

    def collect(self, procs, stop_file):
        self.sh(f"touch {stop_file}")
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=120)
            results.append(parse_result(out))
        self.sh(f"rm -f {stop_file}")
        return results


@pytest.fixture(scope="module")
def machine(engine):
    name = f"swl-deploy-systemd-{os.getpid()}"
    engine.docker("create", "--name", name, "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
                  "--tmpfs", "/run", "--tmpfs", "/run/lock", "-m", f"{MEMORY_MIB}m", "--cpuset-cpus", "0",
                  *privileged_flags(), SYSTEMD_IMAGE, "/sbin/init")
    try:
        engine.docker("cp", BIN, f"{name}:/usr/local/bin/swift-lxcfs")
        engine.docker("cp", os.path.join(REPO, "systemd", UNIT), f"{name}:/etc/systemd/system/{UNIT}")
        engine.docker("cp", os.path.join(HERE, "load_support.py"), f"{name}:/load_support.py")
        engine.docker("start", name)
        m = Machine(engine, name)

        def booted():
            state = m.sh("systemctl is-system-running", check=False).stdout.strip()
            return state in ("running", "degraded")
        wait_for(booted, timeout=120, what="systemd in the container")
        assert m.sh("systemctl --version").stdout.startswith("systemd 252")
        m.sh(f"systemctl daemon-reload && systemctl enable --now {UNIT}")
        m.wait_active()
        yield m
    finally:
        engine.docker("rm", "-f", name, check=False)


def test_kill_with_restart_always_fails_no_read(machine):
    dev = machine.sh(f"stat -c %d {MNT}/proc").stdout
    assert machine.show("NFileDescriptorStore") == "2"
    procs = machine.readers(4, "/run/stop-readers")
    pid = machine.show("MainPID")
    for _ in range(3):
        machine.sh(f"systemctl kill -s KILL {UNIT}")
        pid = machine.wait_active(other_than=pid)
        time.sleep(1.5)
    results = machine.collect(procs, "/run/stop-readers")
    print(assert_clean(results, machine.journal()))
    assert int(machine.show("NRestarts")) >= 3
    assert machine.sh(f"stat -c %d {MNT}/proc").stdout == dev
    assert machine.show("NFileDescriptorStore") == "2"


def test_restart_fails_no_read(machine):
    dev = machine.sh(f"stat -c %d {MNT}/proc").stdout
    procs = machine.readers(4, "/run/stop-readers")
    pid = machine.show("MainPID")
    for _ in range(3):
        machine.sh(f"systemctl restart {UNIT}")
        pid = machine.wait_active(other_than=pid)
        time.sleep(1.5)
    results = machine.collect(procs, "/run/stop-readers")
    print(assert_clean(results, machine.journal()))
    # The same mount all along, and each restart a resume: no new mount.
    assert machine.sh(f"stat -c %d {MNT}/proc").stdout == dev
    mounts = machine.sh(f"grep -c ' {MNT} .* - fuse' /proc/1/mountinfo", check=False).stdout.strip()
    assert mounts == "1", machine.sh("cat /proc/1/mountinfo").stdout


def test_stop_unmounts_and_empties_the_store(machine):
    assert machine.fuse_mounted()
    machine.sh(f"systemctl stop {UNIT}")
    assert machine.show("ActiveState") == "inactive"
    assert not machine.fuse_mounted(), machine.journal()
    assert machine.show("NFileDescriptorStore") == "0"
    # And a start after it mounts afresh.
    machine.sh(f"systemctl start {UNIT}")
    machine.wait_active()
    assert machine.fuse_mounted()
