"""Replacing lxcfs under running Docker containers, for real: lxcfs 5.0.3
(from apt) on the host at a temporary mount point, containers of a private
Docker engine (deploy_support) binding its files with different limits;
lxcfs (or a swift-lxcfs with nothing holding its connection) is SIGKILLed,
swift-lxcfs starts at the same mount point, and without a restart every
container sees its own limits and uptime again. Containers without lxcfs
binds, and one whose binds come from a live swift-lxcfs elsewhere, keep
identical mountinfo.
"""
import os
import re
import shutil

import pytest

from conftest import Daemon, wait_for
from deploy_support import (MINBASE_IMAGE, DockerEngine, bind_flags, docker_tests_skipped, host_uptime, inspect,
                            make_rootfs)
from reattach_support import LXCFS, LxcfsDaemon, detach, kill_hard, mountinfo

pytestmark = [
    pytest.mark.skipif(docker_tests_skipped(), reason="SWIFT_LXCFS_SKIP_DOCKER=1 (inside Dockerfile.test)"),
    pytest.mark.skipif(shutil.which("dockerd") is None or shutil.which("debootstrap") is None,
                       reason="needs dockerd and debootstrap (scripts/install-deps.sh --test)"),
    pytest.mark.skipif(not os.path.exists(LXCFS), reason="lxcfs is not installed (scripts/install-deps.sh --test)"),
]


@pytest.fixture(scope="module")
def engine():
    e = DockerEngine()
    try:
        e.import_rootfs(make_rootfs("minbase"), MINBASE_IMAGE)
        yield e
    finally:
        e.stop()


def mem_total_kb(engine, name):
    r = engine.docker("exec", name, "free", "-k", check=False)
    if r.returncode != 0:
        return None
    m = re.search(r"^Mem:\s+(\d+)", r.stdout, re.M)
    return int(m.group(1)) if m else None


def view(engine, name):
    return {
        "mem": mem_total_kb(engine, name),
        "nproc": int(engine.docker("exec", name, "nproc").stdout),
        "processors": int(engine.docker("exec", name, "grep", "-c", "^processor", "/proc/cpuinfo").stdout),
        "uptime": float(engine.docker("exec", name, "cat", "/proc/uptime").stdout.split()[0]),
    }


@pytest.mark.parametrize("dead", ["lxcfs", "swift-lxcfs"])
def test_containers_see_their_limits_again_without_a_restart(dead, engine, tmp_path):
    mnt, other = tmp_path / "lxcfs", tmp_path / "other"
    mnt.mkdir()
    other.mkdir()
    old = LxcfsDaemon(str(mnt)) if dead == "lxcfs" else Daemon(str(mnt), ("--no-reattach",))
    healthy_daemon = Daemon(str(other), ("--no-reattach",))
    new = None
    names = {k: f"swl-reattach-{k}-{dead}-{os.getpid()}" for k in ("small", "large", "plain", "healthy")}
    try:
        started_at = host_uptime()
        engine.docker("run", "-d", "--name", names["small"], "-m", "256m", "--cpus", "0.5", "--cpuset-cpus", "0",
                      *bind_flags(str(mnt)), MINBASE_IMAGE, "sleep", "infinity")
        engine.docker("run", "-d", "--name", names["large"], "-m", "512m", "--cpuset-cpus", "0-1",
                      *bind_flags(str(mnt)), MINBASE_IMAGE, "sleep", "infinity")
        engine.docker("run", "-d", "--name", names["plain"], "-m", "128m", MINBASE_IMAGE, "sleep", "infinity")
        engine.docker("run", "-d", "--name", names["healthy"], "-m", "192m", *bind_flags(str(other)),
                      MINBASE_IMAGE, "sleep", "infinity")
        state = {k: inspect(engine, n)["State"] for k, n in names.items()}
        pids = {k: s["Pid"] for k, s in state.items()}
        assert mem_total_kb(engine, names["small"]) == 256 * 1024
        assert mem_total_kb(engine, names["healthy"]) == 192 * 1024
        untouched = {k: mountinfo(pids[k]) for k in ("plain", "healthy")}

        kill_hard(old)
        assert mem_total_kb(engine, names["small"]) is None  # free fails: ENOTCONN
        assert engine.docker("exec", names["large"], "free", "-k", check=False).returncode != 0

        new = Daemon(str(mnt))  # over the dead mount; reattach runs at start
        wait_for(lambda: mem_total_kb(engine, names["small"]) is not None and mem_total_kb(engine, names["large"]) is not None,
                 timeout=30, what="free in both containers")
        now = host_uptime()
        small, large = view(engine, names["small"]), view(engine, names["large"])
        assert small["mem"] == 256 * 1024 and small["nproc"] == 1 and small["processors"] == 1, small
        cpus = min(2, os.cpu_count())
        assert large["mem"] == 512 * 1024 and large["nproc"] == cpus and large["processors"] == cpus, large
        for v in (small, large):
            # Each container's own uptime (from its start), not the host's.
            assert 0 <= v["uptime"] <= now - started_at + 1.0 and v["uptime"] < now - 1.0, (v, now, started_at)
        # No container was restarted.
        for k, n in names.items():
            s = inspect(engine, n)["State"]
            assert s["Running"] and s["Pid"] == pids[k] and s["StartedAt"] == state[k]["StartedAt"], k
        # The containers that had nothing to repair are exactly as they were.
        for k in ("plain", "healthy"):
            assert mountinfo(pids[k]) == untouched[k], k
        assert mem_total_kb(engine, names["healthy"]) == 192 * 1024
        # The log names each repaired container by its id, and sums up.
        wait_for(lambda: "reattach: " in new.output(), what="the summary in the daemon's log")
        log = new.output()
        for k in ("small", "large"):
            cid = inspect(engine, names[k])["Id"]
            assert re.search(rf"pid {pids[k]} container {cid}: {len(bind_flags(str(mnt))) // 2} mounts of a dead lxcfs connection", log), log
        assert re.search(r"reattach: 2 of \d+ mount namespaces had 18 mounts of dead lxcfs connections; 18 replaced, 0 left, 0 gone", log), log
    finally:
        engine.docker("rm", "-f", *names.values(), check=False)
        for d in (new, healthy_daemon, old):
            if d is not None:
                if d.proc.poll() is None:
                    d.stop()
        detach(mnt)
        detach(other)
