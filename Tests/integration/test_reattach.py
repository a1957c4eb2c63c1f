"""`swift-lxcfs reattach` and the same step at daemon start, without
Docker: lxcfs 5.0.3 (from apt) and swift-lxcfs as real host daemons,
processes in mount namespaces of their own (unshare -m) and real cgroups.

Every namespace is started in a conftest cgroup: the step looks only at
those (SWIFT_LXCFS_REATTACH_CGROUPS, set by conftest), never at other
tests' namespaces on a shared host.
"""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BIN, MIB, Daemon, wait_for
from reattach_support import (LXCFS, LxcfsDaemon, Namespace, detach, device_of, kill_hard, mountinfo, others,
                              reattach, top)

pytestmark = pytest.mark.skipif(not os.path.exists(LXCFS), reason="lxcfs is not installed (scripts/install-deps.sh --test installs it)")

ENOTCONN = 107


def own_container_id():
    """The container this test runs in, named by a 64-hex-digit component
    of its cgroup paths (as the step names it), or None on a host."""
    for line in open("/proc/self/cgroup"):
        m = re.search(r"(?:^|/)(?:docker-|cri-containerd-|crio-|libpod-)?([0-9a-f]{64})(?:\.scope)?(?:/|$)",
                      line.rstrip("\n").split(":", 2)[-1])
        if m:
            return m.group(1)
    return None


# A namespace's header in the step's report names the container its
# process is in: inside Dockerfile.test's container, the test's own.
IN_CONTAINER = f" container {own_container_id()}" if own_container_id() else ""


def memtotal_kb(text):
    m = re.search(r"MemTotal:\s+(\d+) kB", text)
    return int(m.group(1)) if m else None


@pytest.fixture
def daemons():
    """Daemons started by a test; stopped at its end, their mounts (dead or not) detached."""
    started = []

    def track(d):
        started.append(d)
        return d

    yield track
    for d in reversed(started):
        if d.proc.poll() is None:
            d.stop()
        else:
            d.log.close()
        detach(d.mountpoint)


@pytest.fixture
def namespaces():
    made = []

    def track(ns):
        made.append(ns)
        return ns

    yield track
    for ns in made:
        ns.stop()


def mnt(tmp_path, name):
    p = tmp_path / name
    p.mkdir()
    return p


def file_binds(root, names=("proc/meminfo", "proc/cpuinfo", "proc/uptime"), flags=""):
    return [(root / n, "/" + n, flags) for n in names]


@pytest.mark.parametrize("dead", ["lxcfs", "swift-lxcfs"])
def test_black_box_a_process_reads_its_own_memtotal_within_3_s(dead, daemons, namespaces, cgroups, tmp_path):
    """The issue's scenario: lxcfs (or a swift-lxcfs, nothing else holding
    its connection) is SIGKILLed; `swift-lxcfs MOUNTPOINT` is started and,
    within 3 s, the process in its own namespace reads its MemTotal again."""
    m = mnt(tmp_path, "lxcfs")
    old = daemons(LxcfsDaemon(str(m)) if dead == "lxcfs" else Daemon(str(m), ("--no-reattach",)))
    cg = cgroups("reattach-bb", memory=200 * MIB, cpus="0")
    ns = namespaces(Namespace(cg, tmp_path, "bb", file_binds(m), log=True))
    wait_for(lambda: memtotal_kb(ns.last_read()) == 200 * 1024, what="MemTotal through the old daemon")
    kill_hard(old)
    wait_for(lambda: ns.last_read() == f"errno {ENOTCONN}", what="ENOTCONN after the kill")
    if dead == "lxcfs":
        detach(m)  # lxcfs's mount is detached; the swift-lxcfs one is left dead at the mount point
    started = time.monotonic()
    new = daemons(Daemon(str(m)))
    wait_for(lambda: memtotal_kb(ns.last_read()) == 200 * 1024, timeout=max(0.0, started + 3.0 - time.monotonic()),
             what="MemTotal within 3 s of the start")
    # cpuinfo and uptime read through the new daemon too.
    code, cpuinfo = ns.read("/proc/cpuinfo")
    assert code == 0 and cpuinfo.count("processor") == 1, cpuinfo
    code, uptime = ns.read("/proc/uptime")
    assert code == 0 and float(uptime.split()[0]) >= 0, uptime
    wait_for(lambda: "reattach: 1 of 1 mount namespaces had 3 mounts" in new.output(), what="the report in the log")
    assert "3 replaced, 0 left" in new.output()
    if dead == "swift-lxcfs":
        assert "detached a dead fuse.lxcfs mount" in new.output()


def test_no_reattach_leaves_the_dead_binds(daemons, namespaces, cgroups, tmp_path):
    m = mnt(tmp_path, "lxcfs")
    old = daemons(LxcfsDaemon(str(m)))
    cg = cgroups("reattach-off", memory=200 * MIB)
    ns = namespaces(Namespace(cg, tmp_path, "off", file_binds(m, ("proc/meminfo",)), log=True))
    wait_for(lambda: memtotal_kb(ns.last_read()) == 200 * 1024)
    kill_hard(old)
    pause = tmp_path / "pause"
    os.environ["SWIFT_LXCFS_REATTACH_PAUSE"] = str(pause)
    try:
        new = daemons(Daemon(str(m), ("--no-reattach",)))
        wait_for(lambda: os.path.exists(m / "proc" / "meminfo"))
        time.sleep(1.0)  # the step would have paused at its hook by now
    finally:
        del os.environ["SWIFT_LXCFS_REATTACH_PAUSE"]
    assert not pause.exists(), new.output()
    assert ns.read("/proc/meminfo")[0] != 0
    assert "reattach:" not in new.output()


@pytest.mark.parametrize("mode", ["beneath", "detach-first"])
@pytest.mark.parametrize("propagation", ["private", "slave", "shared", "slave-found-first"])
def test_replaces_dead_binds_whatever_the_propagation(mode, propagation, daemons, namespaces, cgroups, tmp_path):
    """Private: one namespace. Slave and shared: a namespace with shared
    mounts and a second one made from it (its slave, or its peer) that
    received the binds by propagation; the slave's namespace also with the
    lower pid, so that it is found and repaired before its master (the
    master's repair then propagates into it: one live bind per path either way). Both ways of putting the clone in
    place (MOVE_MOUNT_BENEATH, or detach first as on kernels before 6.5)."""
    old_mnt, new_mnt = mnt(tmp_path, "old"), mnt(tmp_path, "new")
    old = daemons(LxcfsDaemon(str(old_mnt)))
    daemons(Daemon(str(new_mnt), ("--no-reattach",)))
    dead, live = device_of(old_mnt), device_of(new_mnt)
    cg = cgroups("reattach-prop", memory=300 * MIB)
    binds = file_binds(old_mnt, ("proc/meminfo", "proc/uptime")) + [(old_mnt / "sys/devices/system/cpu", "/sys/devices/system/cpu", "")]
    peer = {"private": None, "slave": "slave", "shared": "unchanged", "slave-found-first": "slave"}[propagation]
    ns = namespaces(Namespace(cg, tmp_path, "prop", binds, peer=peer, handoff=propagation == "slave-found-first"))
    pids = ns.pids()
    assert len(pids) == (1 if peer is None else 2)
    before = {pid: mountinfo(pid) for pid in pids}
    for pid in pids:
        # The binds reached every namespace (by propagation for the second).
        assert top(pid, "/proc/meminfo")[2] == dead
    kill_hard(old)
    assert ns.read("/proc/meminfo")[0] != 0
    r = reattach("--reattach-from", str(old_mnt), str(new_mnt),
                 env={"SWIFT_LXCFS_REATTACH_NO_BENEATH": "1"} if mode == "detach-first" else {})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert f"({mode})" in out, out
    assert out.strip().splitlines()[-1].startswith("reattach: "), out
    # Where propagation already carried one namespace's repair into the
    # other, that counts as replaced there, not as gone.
    assert f"{3 * len(pids)} replaced, 0 left, 0 gone" in out, out
    for pid in pids:
        after = mountinfo(pid)
        assert not [x for x in after if x[2] == dead], (pid, after)
        # Everything that is not lxcfs stays exactly as it was.
        assert others(after, {dead, live}) == others(before[pid], {dead, live})
        for _, target, _ in binds:
            old_top = top_of(before[pid], target)
            new_top = top(pid, target)
            assert new_top[2] == live and new_top[3] == old_top[3] and new_top[5] == old_top[5], (old_top, new_top)
            # One live bind there, not one stacked on another.
            assert len([x for x in after if x[4] == target]) == len([x for x in before[pid] if x[4] == target])
        code, text = ns.read("/proc/meminfo", pid)
        assert code == 0 and memtotal_kb(text) == 300 * 1024, text
        code, listing = ns.read("/sys/devices/system/cpu/online", pid)
        assert code == 0, listing


def top_of(table, path):
    here = [m for m in table if m[4] == path]
    return next(m for m in here if not any(o[1] == m[0] for o in here))


def test_dry_run_lists_and_changes_nothing(daemons, namespaces, cgroups, tmp_path):
    old_mnt, new_mnt = mnt(tmp_path, "old"), mnt(tmp_path, "new")
    old = daemons(LxcfsDaemon(str(old_mnt)))
    daemons(Daemon(str(new_mnt), ("--no-reattach",)))
    cg = cgroups("reattach-dry", memory=200 * MIB)
    ns = namespaces(Namespace(cg, tmp_path, "dry", file_binds(old_mnt)))
    kill_hard(old)
    before = mountinfo(ns.pid)
    r = reattach("--dry-run", "--reattach-from", str(old_mnt), str(new_mnt))
    assert r.returncode == 0, r.stdout + r.stderr
    assert mountinfo(ns.pid) == before
    assert ns.read("/proc/meminfo")[0] != 0
    lines = r.stdout.strip().splitlines()
    assert re.search(rf"^mnt:\[\d+\] pid {ns.pid}{IN_CONTAINER}: 3 mounts of a dead lxcfs connection$", r.stdout, re.M), r.stdout
    for name in ("meminfo", "cpuinfo", "uptime"):
        assert f"  would replace /proc/{name} (/proc/{name} of " in r.stdout
    assert lines[-1].startswith("reattach --dry-run: 1 of 1 mount namespaces have 3 mounts") and "nothing was changed" in lines[-1]
    # The same run without --dry-run repairs what the dry run listed.
    r = reattach("--reattach-from", str(old_mnt), str(new_mnt))
    assert r.returncode == 0 and "3 replaced, 0 left" in r.stdout, r.stdout
    assert memtotal_kb(ns.read("/proc/meminfo")[1]) == 200 * 1024


def test_odd_cases_some_files_read_only_unserved_a_namespace_that_exits_a_mount_point_deleted(daemons, namespaces, cgroups, tmp_path):
    old_mnt, new_mnt = mnt(tmp_path, "old"), mnt(tmp_path, "new")
    old = daemons(LxcfsDaemon(str(old_mnt)))
    daemons(Daemon(str(new_mnt), ("--no-reattach",)))
    dead, live = device_of(old_mnt), device_of(new_mnt)
    cg = cgroups("reattach-odd", memory=220 * MIB)
    emulated = tmp_path / "cgroup-view"
    emulated.mkdir()
    only = namespaces(Namespace(cg, tmp_path, "only", file_binds(old_mnt, ("proc/meminfo",))))
    ro = namespaces(Namespace(cg, tmp_path, "ro", file_binds(old_mnt, ("proc/meminfo", "proc/uptime"), "ro,noexec")))
    # lxcfs's cgroup emulation, which swift-lxcfs does not serve.
    unserved = namespaces(Namespace(cg, tmp_path, "unserved",
                                    file_binds(old_mnt, ("proc/meminfo",)) + [(old_mnt / "cgroup", emulated, "")]))
    doomed = namespaces(Namespace(cg, tmp_path, "doomed", file_binds(old_mnt, ("proc/meminfo",))))
    # The whole tree bound (mountinfo root "/"), as a HostToContainer hostPath of the mount point is.
    tree = tmp_path / "tree"
    tree.mkdir()
    whole = namespaces(Namespace(cg, tmp_path, "whole", [(old_mnt, tree, "")]))
    # A namespace whose first process exits during the step: its second is entered instead.
    survivor = namespaces(Namespace(cg, tmp_path, "survivor", file_binds(old_mnt, ("proc/meminfo",)), second=True))
    # A bind whose mount point (a file of the host) is deleted during the step.
    target = tmp_path / "target-file"
    target.write_text("")
    vanish = namespaces(Namespace(cg, tmp_path, "vanish",
                                  file_binds(old_mnt, ("proc/meminfo",)) + [(old_mnt / "proc/stat", target, "")]))
    ro_before = mountinfo(ro.pid)
    unserved_before = mountinfo(unserved.pid)
    kill_hard(old)
    pause = tmp_path / "pause"
    step = subprocess.Popen([BIN, "reattach", "--reattach-from", str(old_mnt), str(new_mnt)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, SWIFT_LXCFS_REATTACH_PAUSE=str(pause)))
    try:
        # Between the find step and the replacement: the doomed namespace's only process exits.
        wait_for(lambda: pause.exists() or step.poll() is not None, what="the step's pause")
        doomed.stop()
        survivor.proc.kill()
        survivor.proc.wait()
        target.unlink()
        pause.unlink()
        out, _ = step.communicate(timeout=120)
    finally:
        if step.poll() is None:
            step.kill()
    # No crash; the unserved directory is left, so not everything was repaired.
    assert step.returncode == 1, out
    assert out.strip().splitlines()[-1].startswith("reattach: 7 of 7 mount namespaces had 10 mounts"), out
    assert "7 replaced, 1 left, 2 gone" in out, out
    assert f"  replaced {tree} with {new_mnt} (beneath)" in out, out
    assert memtotal_kb(whole.read(f"{tree}/proc/meminfo")[1]) == 220 * 1024
    assert whole.read(f"{tree}/sys/devices/system/cpu/online")[0] == 0
    assert re.search(rf"pid {survivor.pid}{IN_CONTAINER}: 1 mounts of a dead lxcfs connection\n  replaced /proc/meminfo", out), out
    assert memtotal_kb(survivor.read("/proc/meminfo", pid=survivor.second)[1]) == 220 * 1024
    assert f"  gone {target}: no longer mounted" in out, out
    assert f"  left {emulated}: /cgroup is not served at {new_mnt}" in out, out
    assert re.search(rf"pid {doomed.pid}{IN_CONTAINER}: 1 mounts of a dead lxcfs connection\n  gone /proc/meminfo", out), out
    for ns in (only, ro, unserved, vanish):
        assert memtotal_kb(ns.read("/proc/meminfo")[1]) == 220 * 1024
    # Read-only binds stay read-only, with the same per-mount flags.
    for path in ("/proc/meminfo", "/proc/uptime"):
        was, now = top_of(ro_before, path), top(ro.pid, path)
        assert now[2] == live and now[5] == was[5] and now[5].startswith("ro,") and "noexec" in now[5], (was, now)
    w = ro.run(["sh", "-c", "echo x > /proc/meminfo"])
    assert w.returncode != 0 and "Read-only file system" in w.stderr, w.stderr
    # The unserved bind is exactly as it was; only its meminfo changed.
    after = mountinfo(unserved.pid)
    assert [x for x in after if x[4] == str(emulated)] == [x for x in unserved_before if x[4] == str(emulated)]
    assert others(after, {dead, live}) == others(unserved_before, {dead, live})


def test_healthy_binds_and_other_mounts_are_not_touched(daemons, namespaces, cgroups, tmp_path):
    """A namespace without lxcfs binds, one whose binds come from a live
    swift-lxcfs at another mount point, and one with binds of another lxcfs
    that is alive but stopped (SIGSTOP: a probe of it would block): all
    keep identical mountinfo, and the step still repairs the dead one."""
    old_mnt, new_mnt, other_mnt = mnt(tmp_path, "old"), mnt(tmp_path, "new"), mnt(tmp_path, "other")
    old = daemons(LxcfsDaemon(str(old_mnt)))
    other = daemons(LxcfsDaemon(str(other_mnt)))
    healthy_src = mnt(tmp_path, "healthy-src")
    healthy_d = daemons(Daemon(str(healthy_src), ("--no-reattach",)))
    daemons(Daemon(str(new_mnt), ("--no-reattach",)))
    cg = cgroups("reattach-keep", memory=240 * MIB)
    plain = namespaces(Namespace(cg, tmp_path, "plain", []))
    healthy = namespaces(Namespace(cg, tmp_path, "healthy", file_binds(healthy_src)))
    stopped = namespaces(Namespace(cg, tmp_path, "stopped", file_binds(other_mnt, ("proc/meminfo",))))
    broken = namespaces(Namespace(cg, tmp_path, "broken", file_binds(old_mnt)))
    kill_hard(old)
    before = {ns.pid: mountinfo(ns.pid) for ns in (plain, healthy, stopped)}
    other.proc.send_signal(signal.SIGSTOP)
    try:
        r = reattach("--reattach-from", str(old_mnt), str(new_mnt))
    finally:
        other.proc.send_signal(signal.SIGCONT)
    assert r.returncode == 0, r.stdout + r.stderr
    for ns in (plain, healthy, stopped):
        assert mountinfo(ns.pid) == before[ns.pid], ns.pid
    assert "does not answer within 2 s but is held by a server: its" in r.stdout, r.stdout
    assert memtotal_kb(healthy.read("/proc/meminfo")[1]) == 240 * 1024
    assert memtotal_kb(stopped.read("/proc/meminfo")[1]) == 240 * 1024
    assert memtotal_kb(broken.read("/proc/meminfo")[1]) == 240 * 1024
    assert re.search(rf"pid {broken.pid}{IN_CONTAINER}: 3 mounts", r.stdout) and "3 replaced, 0 left" in r.stdout, r.stdout
    assert healthy_d.proc.poll() is None


def test_start_refuses_a_live_fuse_mount_but_mounts_over_a_dead_one(daemons, tmp_path):
    m = mnt(tmp_path, "m")
    lx = daemons(LxcfsDaemon(str(m)))
    r = subprocess.run([BIN, "-p", str(tmp_path / "x.pid"), str(m)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "already mounted" in r.stderr, r.stderr
    kill_hard(lx)
    d = daemons(Daemon(str(m)))  # (returns at once: the dead mount's cached attributes pass ismount)

    def serves():
        try:
            return memtotal_kb(open(m / "proc" / "meminfo").read()) is not None
        except OSError:
            return False

    wait_for(serves, what="the new daemon over the dead mount")
    assert d.proc.poll() is None
    assert "detached a dead fuse.lxcfs mount (lxcfs," in d.output()


def test_reattach_refuses_a_mount_point_without_a_live_daemon(daemons, tmp_path):
    m = mnt(tmp_path, "m")
    r = reattach(str(m))
    assert r.returncode == 1 and r.stderr.strip() == f"swift-lxcfs: no swift-lxcfs is mounted at {m}.", r.stderr
    lx = daemons(LxcfsDaemon(str(m)))
    kill_hard(lx)
    r = reattach(str(m))
    assert r.returncode == 1 and "is dead (ENOTCONN)" in r.stderr, r.stderr
