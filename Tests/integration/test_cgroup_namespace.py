"""A daemon started in its own cgroup namespace (unshare --cgroup), as in a
pod that has one: it joins the host's namespace through /proc/1/ns/cgroup at
start, so readers below and beside its own cgroup get their own limits.

Without that, a reader below the daemon's cgroup shows up as `/reader` and
one beside it as `/../other`, relative to the daemon's namespace root.
"""
import os
import shutil
import signal
import subprocess

import pytest

from conftest import BIN, MIB, Cgroup, wait_for

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")


def memtotal_kb(text):
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    raise AssertionError("no MemTotal line:\n" + text)


@pytest.fixture
def nested_cgroups():
    """swl-deploy-ns (the daemon's), swl-deploy-ns/reader (256 MiB, CPU 0)
    and swl-deploy-beside (320 MiB); removed innermost first."""
    made = []
    try:
        made.append(Cgroup("swl-deploy-ns"))
        made.append(Cgroup("swl-deploy-ns/reader", memory=256 * MIB, cpus="0"))
        made.append(Cgroup("swl-deploy-beside", memory=320 * MIB))
        yield made
    finally:
        for cg in reversed(made):
            cg.remove()
        for c in Cgroup.CONTROLLERS:
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", c, "swift-lxcfs-test"))
            except OSError:
                pass


def test_daemon_in_its_own_cgroup_namespace_serves_readers_their_limits(nested_cgroups, tmp_path):
    ns_cgroup, reader, beside = nested_cgroups
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    log = open(tmp_path / "daemon.log", "w+")
    daemon = subprocess.Popen(["unshare", "--cgroup", BIN, "-p", str(tmp_path / "d.pid"), str(mnt)],
                              stdout=log, stderr=subprocess.STDOUT, preexec_fn=ns_cgroup.preexec())
    try:
        wait_for(lambda: os.path.ismount(mnt) or daemon.poll() is not None, what="mount")
        assert daemon.poll() is None, open(tmp_path / "daemon.log").read()
        # unshare --cgroup really makes a namespace of its own; the daemon
        # left it for this host's (that of its launcher) before serving.
        fresh = subprocess.run(["unshare", "--cgroup", "readlink", "/proc/self/ns/cgroup"],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert fresh != os.readlink("/proc/self/ns/cgroup")
        assert os.readlink(f"/proc/{daemon.pid}/task/{daemon.pid}/ns/cgroup") == os.readlink("/proc/self/ns/cgroup")
        inside = reader.run(["cat", str(mnt / "proc/meminfo")])
        assert inside.returncode == 0, inside.stderr
        assert memtotal_kb(inside.stdout) == 256 * 1024
        cpus = reader.run(["grep", "-c", "^processor", str(mnt / "proc/cpuinfo")])
        assert cpus.stdout.strip() == "1"
        besides = beside.run(["cat", str(mnt / "proc/meminfo")])
        assert memtotal_kb(besides.stdout) == 320 * 1024
        log.seek(0)
        assert "joined the host cgroup namespace" in log.read()
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
        log.close()
