"""The reattach step takes only what is its own: binds of the dead
connection this daemon replaces (at its own mount point, or at a path
named by --reattach-from), never another instance's mount point or its
binds. Namespaces are started in conftest cgroups (the step looks only at
those), so this file counts nothing host-wide.
"""
import os
import re

import pytest

from conftest import MIB, Daemon, wait_for
from reattach_support import Namespace, detach, device_of, kill_hard, mountinfo, reattach, top

ENOTCONN = 107


def memtotal_kb(text):
    m = re.search(r"MemTotal:\s+(\d+) kB", text)
    return int(m.group(1)) if m else None


@pytest.fixture
def stack(tmp_path):
    """Daemons and namespaces a test starts; stopped and detached at its end."""
    made = []
    yield made
    for x in reversed(made):
        if isinstance(x, Namespace):
            x.stop()
        else:
            if x.proc.poll() is None:
                x.stop()
            else:
                x.log.close()
            detach(x.mountpoint)


def test_start_leaves_another_instances_dead_mount_and_its_binds(stack, cgroups, tmp_path):
    """Two instances, at `mine` and `other`, each with a container binding
    its proc/meminfo; both are SIGKILLed. A new daemon at `mine` repairs
    its own container and leaves the other instance's dead mount point and
    its container's dead bind exactly as they were; `reattach
    --reattach-from OTHER` then takes the other over when asked to."""
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.mkdir()
    other.mkdir()
    old_mine = Daemon(str(mine), ("--no-reattach",))
    stack.append(old_mine)
    old_other = Daemon(str(other), ("--no-reattach",))
    stack.append(old_other)
    dead_other = device_of(other)
    cg = cgroups("reattach-owner", memory=210 * MIB)
    ns_mine = Namespace(cg, tmp_path, "mine", [(mine / "proc/meminfo", "/proc/meminfo", "")], log=True)
    stack.append(ns_mine)
    ns_other = Namespace(cg, tmp_path, "other", [(other / "proc/meminfo", "/proc/meminfo", "")], log=True)
    stack.append(ns_other)
    for ns in (ns_mine, ns_other):
        wait_for(lambda: memtotal_kb(ns.last_read()) == 210 * 1024, what="MemTotal through the old daemons")
    kill_hard(old_mine)
    kill_hard(old_other)
    for ns in (ns_mine, ns_other):
        wait_for(lambda: ns.last_read() == f"errno {ENOTCONN}", what="ENOTCONN after the kills")
    other_ns_before = mountinfo(ns_other.pid)
    host_other_before = [m for m in mountinfo("self") if m[4] == str(other)]
    assert host_other_before and host_other_before[-1][2] == dead_other

    new = Daemon(str(mine))  # reattach runs at start, with the default --reattach-from
    stack.append(new)
    wait_for(lambda: memtotal_kb(ns_mine.last_read()) == 210 * 1024, timeout=15, what="its own container repaired")
    wait_for(lambda: "reattach: " in new.output(), what="the report in the log")
    out = new.output()
    assert re.search(rf"is dead and belongs to another instance at {re.escape(str(other))} .*: its 1 mounts are left alone",
                     out), out
    assert "1 replaced, 0 left" in out, out
    # The other instance's container: its bind untouched, still dead.
    assert mountinfo(ns_other.pid) == other_ns_before
    assert top(ns_other.pid, "/proc/meminfo")[2] == dead_other
    assert ns_other.read("/proc/meminfo")[0] != 0
    # Its mount point on the host: the same dead mount.
    assert [m for m in mountinfo("self") if m[4] == str(other)] == host_other_before

    # Named by --reattach-from, the other instance's binds are taken over.
    r = reattach("--reattach-from", str(other), str(mine))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 replaced, 0 left" in r.stdout, r.stdout
    assert top(ns_other.pid, "/proc/meminfo")[2] == device_of(mine)
    code, text = ns_other.read("/proc/meminfo")
    assert code == 0 and memtotal_kb(text) == 210 * 1024, text


def test_reattach_from_rejects_a_relative_path(tmp_path):
    r = reattach("--reattach-from", "var/lib/lxcfs", str(tmp_path))
    assert r.returncode != 0
    assert "--reattach-from var/lib/lxcfs must be an absolute path" in r.stderr, r.stderr
