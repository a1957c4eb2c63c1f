"""Helpers for the reattach tests: lxcfs 5.0.3 from apt as a host daemon,
processes in mount namespaces of their own that bind its files, and
mountinfo snapshots.

The reattach step looks only at namespaces with a process in this
checkout's test cgroups (conftest sets SWIFT_LXCFS_REATTACH_CGROUPS), so
every namespace here is started inside a conftest Cgroup.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from conftest import BIN, Daemon, wait_for

LXCFS = shutil.which("lxcfs") or "/usr/bin/lxcfs"


class LxcfsDaemon(Daemon):
    """lxcfs 5.0.3 in the foreground on its own mount point and pidfile."""

    def __init__(self, mountpoint):
        super().__init__(mountpoint, ("-f",), binary=LXCFS)


def kill_hard(daemon):
    """SIGKILLs a daemon (lxcfs or swift-lxcfs): its mount stays, dead."""
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)


def detach(path):
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


# Runs in a new mount namespace (unshare -m) inside a test cgroup. With
# "rshared" it makes its mounts shared first and starts a second namespace
# as a copy of its own ("peer": unchanged, i.e. shared peers, or slave);
# then makes the binds (each optionally remounted with extra flags), detaches
# the mounts under the test's folder, writes
# the ready file with the peer's pid, and reads /proc/meminfo every 50 ms
# into the log file (its first line, or "errno N").
NS_SCRIPT = r"""
import json, os, subprocess, sys, time
cfg = json.loads(sys.argv[1])
if cfg.get("rshared"):
    subprocess.run(["mount", "--make-rshared", "/"], check=True)
peer = None
if cfg.get("peer"):
    peer = subprocess.Popen(["unshare", "-m", "--propagation", cfg["peer"], "sleep", "infinity"])
    while os.readlink(f"/proc/{peer.pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
        time.sleep(0.01)
for src, dst, opts in cfg["binds"]:
    subprocess.run(["mount", "--bind", src, dst], check=True)
    if opts:
        subprocess.run(["mount", "-o", "remount,bind," + opts, dst], check=True)
# As a container's pivot_root does: the daemons' own mounts (copies of the
# host's, under the test's folder) leave this namespace; the binds stay.
# So do the other FUSE mounts of the host (other tests' daemons).
targets = {dst for _, dst, _ in cfg["binds"]}
hidden = []
for line in open("/proc/self/mountinfo"):
    f = line.split()
    fstype = f[f.index("-") + 1]
    if f[4] not in targets and (f[4].startswith(cfg["hide"] + "/") or fstype.startswith("fuse")):
        hidden.append(f[4])
for path in sorted(hidden, key=len, reverse=True):
    subprocess.run(["umount", "-l", path], check=False)
keeper = None
if cfg.get("handoff") or cfg.get("second"):
    # This namespace passes to a process started after the peer's, so the
    # peer's namespace has the lower pid (it is found first); this one exits.
    keeper = subprocess.Popen(["sleep", "infinity"])
with open(cfg["ready"] + ".tmp", "w") as f:
    json.dump({"peer": peer.pid if peer else None, "keeper": keeper.pid if keeper else None}, f)
os.rename(cfg["ready"] + ".tmp", cfg["ready"])
if cfg.get("handoff"):
    sys.exit(0)
log = cfg.get("log")
while True:
    if log:
        try:
            with open("/proc/meminfo") as f:
                text = f.readline().strip()
        except OSError as e:
            text = f"errno {e.errno}"
        with open(log + ".tmp", "w") as f:
            f.write(text)
        os.rename(log + ".tmp", log)
    time.sleep(0.05)
"""


class Namespace:
    """A process (and, with a peer, a second one) in a mount namespace of
    its own, in cgroup `cg`, with `binds` [(source, target, extra flags)]."""

    def __init__(self, cg, tmp_path, name, binds, propagation="private", peer=None, log=False, handoff=False,
                 second=False):
        self.ready = str(tmp_path / f"{name}.ready")
        self.log = str(tmp_path / f"{name}.log") if log else None
        cfg = {"binds": [[str(s), str(d), o] for s, d, o in binds], "ready": self.ready, "log": self.log,
               "rshared": peer is not None, "peer": peer, "hide": str(tmp_path), "handoff": handoff,
               "second": second}
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", propagation,
                                      sys.executable, "-c", NS_SCRIPT, json.dumps(cfg)],
                                     preexec_fn=cg.preexec(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: os.path.exists(self.ready) or self.proc.poll() is not None, what=f"namespace {name}")
        if not os.path.exists(self.ready):
            raise AssertionError(f"namespace {name} failed: {self.proc.stderr.read().decode()}")
        ready = json.load(open(self.ready))
        self.peer = ready["peer"]
        # With a second process in the namespace, `pid` stays the first (lowest).
        self.second = ready["keeper"] if second else None
        self.pid = ready["keeper"] if handoff else self.proc.pid
        if handoff:
            self.proc.wait(10)
        self.cg = cg

    def pids(self):
        return [self.pid] + ([self.peer] if self.peer else [])

    def run(self, cmd, pid=None):
        """Runs cmd in the namespace (of the peer with pid=) and in the cgroup."""
        return self.cg.run(["nsenter", "-t", str(pid or self.pid), "-m", "--", *cmd])

    def read(self, path, pid=None):
        r = self.run(["cat", path], pid)
        return r.returncode, r.stdout + r.stderr

    def last_read(self):
        try:
            return open(self.log).read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in (self.peer, self.pid, self.second):
            if pid and pid != self.proc.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def mountinfo(pid):
    """[(id, parent, device, root, mountpoint, options, optional, fstype, source)] of a process."""
    out = []
    for line in open(f"/proc/{pid}/mountinfo"):
        f = line.split()
        dash = f.index("-")
        out.append((int(f[0]), int(f[1]), f[2], f[3], f[4], f[5], " ".join(f[6:dash]), f[dash + 1], f[dash + 2]))
    return out


def device_of(mountpoint):
    """major:minor of the topmost mount at a host path."""
    dev = None
    for m in mountinfo("self"):
        if m[4] == str(mountpoint):
            dev = m[2]
    return dev


def top(pid, path):
    """The topmost mount at path in pid's namespace."""
    table = mountinfo(pid)
    here = [m for m in table if m[4] == path]
    for m in here:
        if not any(o[1] == m[0] for o in here):
            return m
    return None


def others(table, devices):
    """The mounts of a table that are not of the given devices."""
    return [m for m in table if m[2] not in devices]


def reattach(*args, env=None):
    """Runs `swift-lxcfs reattach ARGS` and returns the CompletedProcess."""
    return subprocess.run([BIN, "reattach", *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **(env or {})))
