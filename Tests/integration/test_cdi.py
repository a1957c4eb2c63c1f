"""`swift-lxcfs cdi-spec`, for real: podman from apt (4.3 on Debian 12) runs a
container from the debootstrap minbase image with
`--device swift-lxcfs.io/view=all` and the spec that `swift-lxcfs cdi-spec
--mountpoint M` prints, against a daemon started here at M; inside, free,
nproc, lscpu and /proc/cpuinfo show the container's limits.

podman keeps its images and containers under a temporary --root/--runroot
and its cgroups under conftest's PREFIX; podman 4.3 has no --cdi-spec-dir,
so the spec goes to /var/run/cdi under a name of this run, removed at the end.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, PREFIX, Daemon
from deploy_support import LXCFS_DIRECTORIES, LXCFS_FILES, docker_tests_skipped, make_rootfs, remove_cgroups

pytestmark = pytest.mark.skipif(docker_tests_skipped(), reason="SWIFT_LXCFS_SKIP_DOCKER=1 (inside Dockerfile.test)")

CDI_DIR = "/var/run/cdi"
IMAGE = "localhost/swl-cdi/bookworm-minbase"
CGROUP_PARENT = f"{PREFIX}-podman"


class Podman:
    def __init__(self, state):
        self.binary = shutil.which("podman")
        assert self.binary, "podman is not installed (scripts/install-deps.sh --test installs it from apt)"
        self.base = [self.binary, "--root", os.path.join(state, "root"), "--runroot", os.path.join(state, "run"),
                     "--tmpdir", os.path.join(state, "tmp"), "--cgroup-manager", "cgroupfs",
                     "--events-backend", "file"]

    def __call__(self, *args, timeout=600, check=True, **kw):
        r = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=timeout, **kw)
        if check:
            assert r.returncode == 0, f"podman {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r


@pytest.fixture(scope="module")
def podman():
    state = tempfile.mkdtemp(prefix="swl-podman-", dir="/var/tmp")
    os.makedirs(os.path.join(state, "tmp"))
    p = Podman(state)
    try:
        with open(make_rootfs("minbase"), "rb") as tarball:
            p("import", "-", IMAGE, stdin=tarball, timeout=1200)
        yield p
    finally:
        p("rm", "-a", "-f", check=False)
        p("rmi", "-a", "-f", check=False, timeout=300)
        # Whatever podman left mounted under its state goes before the state.
        mounts = [line.split()[4] for line in open("/proc/self/mountinfo") if line.split()[4].startswith(state + "/")]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], check=False, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
        remove_cgroups(CGROUP_PARENT)


@pytest.fixture
def cdi_spec(tmp_path):
    """Writes `swift-lxcfs cdi-spec --mountpoint M` into /var/run/cdi for one test."""
    made_dir = not os.path.isdir(CDI_DIR)
    os.makedirs(CDI_DIR, exist_ok=True)
    others = [f for f in os.listdir(CDI_DIR) if "swift-lxcfs" in open(os.path.join(CDI_DIR, f)).read()]
    assert not others, f"another swift-lxcfs CDI spec in {CDI_DIR} would conflict: {others}"
    path = os.path.join(CDI_DIR, f"swift-lxcfs-test-{os.getpid()}.json")

    def write(mountpoint):
        r = subprocess.run([BIN, "cdi-spec", "--mountpoint", mountpoint], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        with open(path, "w") as f:
            f.write(r.stdout)
        return json.loads(r.stdout)

    yield write
    if os.path.exists(path):
        os.remove(path)
    if made_dir:
        try:
            os.rmdir(CDI_DIR)
        except OSError:
            pass


def test_cdi_spec_lists_every_file_and_the_cpu_tree(tmp_path):
    r = subprocess.run([BIN, "cdi-spec", "--mountpoint", "/srv/lxcfs/"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    spec = json.loads(r.stdout)
    # podman 4.3 (Debian 12) reads cdiVersion up to 0.5.0 and rejects 0.6.0 and later.
    assert spec["cdiVersion"] == "0.5.0" and spec["kind"] == "swift-lxcfs.io/view"
    (device,) = spec["devices"]
    assert device["name"] == "all"
    mounts = device["containerEdits"]["mounts"]
    assert [m["containerPath"] for m in mounts] == ["/" + rel for rel in LXCFS_FILES]
    assert all(m["hostPath"] == "/srv/lxcfs" + m["containerPath"] for m in mounts), mounts
    assert all("bind" in m["options"] and "ro" in m["options"] for m in mounts), mounts
    assert any(m["containerPath"] == "/" + rel for m in mounts for rel in LXCFS_DIRECTORIES)
    r = subprocess.run([BIN, "cdi-spec", "--cdi-version", "1.0.0"], capture_output=True, text=True, timeout=30)
    assert json.loads(r.stdout)["cdiVersion"] == "1.0.0"
    assert json.loads(r.stdout)["devices"][0]["containerEdits"]["mounts"][0]["hostPath"] == "/var/lib/lxcfs/proc/cpuinfo"
    for bad in (["--mountpoint", "relative"], ["--cdi-version", "one"], ["--nope"]):
        r = subprocess.run([BIN, "cdi-spec", *bad], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and len(r.stderr.splitlines()) == 1 and r.stderr.startswith("swift-lxcfs: "), r.stderr


def field(text, pattern):
    m = re.search(pattern, text, re.M)
    assert m, f"{pattern!r} not in:\n{text}"
    return m.group(1)


def test_podman_with_the_cdi_device_sees_its_limits(podman, cdi_spec, tmp_path):
    mnt = tmp_path / "lxcfs"
    mnt.mkdir()
    daemon = Daemon(str(mnt))
    try:
        cdi_spec(str(mnt))
        script = ("free -k; echo nproc $(nproc); lscpu; echo processors $(grep -c ^processor /proc/cpuinfo); "
                  "echo online $(cat /sys/devices/system/cpu/online); echo cpus $(ls -d /sys/devices/system/cpu/cpu[0-9]*); "
                  "grep -E ' /proc/meminfo | /sys/devices/system/cpu ' /proc/self/mountinfo; "
                  "(echo x >/proc/meminfo) 2>&1 || echo write refused")
        # This host's bounding set lacks CAP_SYS_RESOURCE: podman cannot raise
        # RLIMIT_NOFILE or RLIMIT_NPROC above what it has, so both are given.
        r = podman("run", "--rm", "--network", "none", "--cgroup-parent", f"/{CGROUP_PARENT}",
                   "--device", "swift-lxcfs.io/view=all", "-m", "300m", "--cpus", "1", "--cpuset-cpus", "0",
                   "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", IMAGE, "sh", "-c", script)
        out = r.stdout
        assert int(field(out, r"^Mem:\s+(\d+)")) == 300 * 1024, out
        assert field(out, r"^nproc (\d+)") == "1", out
        assert field(out, r"^CPU\(s\):\s+(\d+)") == "1", out
        assert field(out, r"^On-line CPU\(s\) list:\s+(\S+)") == "0", out
        assert field(out, r"^processors (\d+)") == "1", out
        assert field(out, r"^online (\S+)") == "0", out
        assert field(out, r"^cpus (.*)$") == "/sys/devices/system/cpu/cpu0", out
        # The files come from the daemon's mount (fstype fuse.lxcfs), bound read-only.
        for target in ("/proc/meminfo", "/sys/devices/system/cpu"):
            line = next(line for line in out.splitlines() if f" {target} " in line and "fuse.lxcfs" in line)
            assert line.split()[5].split(",")[0] == "ro", line
        assert "write refused" in out and "Read-only file system" in out + r.stderr, out + r.stderr
        # Without the device the same container sees the host.
        plain = podman("run", "--rm", "--network", "none", "--cgroup-parent", f"/{CGROUP_PARENT}", "-m", "300m",
                       "--cpuset-cpus", "0", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
                       IMAGE, "free", "-k").stdout
        assert int(field(plain, r"^Mem:\s+(\d+)")) > 300 * 1024
    finally:
        daemon.stop()
