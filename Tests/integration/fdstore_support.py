"""The test acting as systemd's file descriptor store, and readers under load.

FDStore is a unix datagram socket given to the daemon as NOTIFY_SOCKET. It
takes sd_notify datagrams as systemd does: FDSTORE=1 with FDNAME=... and
the descriptors as SCM_RIGHTS, FDSTOREREMOVE=1, READY=1. start_server()
starts the daemon with what the store holds at descriptors 3.. and
LISTEN_PID (the child's own pid, through `bash -c 'exec ...'`), LISTEN_FDS
and LISTEN_FDNAMES, as systemd starts a unit whose store is not empty.
"""
import array
import os
import random
import socket
import subprocess
import tempfile
import threading
import time

from conftest import BIN, Cgroup, MIB

# Every file the daemon serves that a reader can check by its content.
LOAD_FILES = ["proc/meminfo", "proc/cpuinfo", "proc/stat", "proc/uptime", "proc/loadavg", "proc/swaps",
              "proc/diskstats", "sys/devices/system/cpu/online", "sys/devices/system/cpu/possible",
              "sys/devices/system/cpu/present"]


class FDStore:
    """systemd's fd store, as far as a Type=notify service sees it."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.fds = {}          # FDNAME -> descriptor held by the test
        self.messages = []     # every datagram's text
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
            except OSError:
                return
            fds = []
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(payload[:len(payload) - len(payload) % a.itemsize])
                    fds.extend(a)
            text = data.decode(errors="replace")
            fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
            with self.lock:
                self.messages.append(text)
                name = fields.get("FDNAME", "stored")
                if fields.get("FDSTORE") == "1" and fds:
                    if name in self.fds:
                        os.close(self.fds[name])
                    self.fds[name] = fds[0]
                    for extra in fds[1:]:
                        os.close(extra)
                elif fields.get("FDSTOREREMOVE") == "1":
                    if name in self.fds:
                        os.close(self.fds.pop(name))
                else:
                    for fd in fds:
                        os.close(fd)

    def has(self, *names):
        with self.lock:
            return all(n in self.fds for n in names)

    def count(self, prefix):
        with self.lock:
            return sum(1 for m in self.messages if m.startswith(prefix) or ("\n" + prefix) in m)

    def take(self, name):
        """Forgets (and returns) a stored descriptor without closing it."""
        with self.lock:
            return self.fds.pop(name)

    def close(self):
        self.stopped = True
        self.sock.close()
        with self.lock:
            for fd in self.fds.values():
                os.close(fd)
            self.fds.clear()


def start_server(mountpoint, store, log, args=(), fds=None, names=("fuse", "state")):
    """Starts the daemon with NOTIFY_SOCKET=store and, when `fds` (a list
    of descriptors, default: the store's `names`) is not empty, those at
    3.. with LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES."""
    env = dict(os.environ, NOTIFY_SOCKET=store.path)
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(k, None)
    if fds is None:
        with store.lock:
            fds = [store.fds[n] for n in names] if all(n in store.fds for n in names) else []
    high = []
    for i, fd in enumerate(fds):
        h = 200 + i
        os.dup2(fd, h, inheritable=True)
        high.append(h)
    pidfile = os.path.join(os.path.dirname(log.name), "daemon.pid")
    cmd = [BIN, "-p", pidfile, *args, mountpoint]
    if high:
        moves = " ".join(f"{3 + i}<&{h} {h}<&-" for i, h in enumerate(high))
        env.update(LISTEN_FDS=str(len(high)), LISTEN_FDNAMES=":".join(names[:len(high)]))
        cmd = ["bash", "-c", f'exec {moves}; LISTEN_PID=$$ exec "$0" "$@"', *cmd]
    try:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=high)
    finally:
        for h in high:
            os.close(h)


class Readers:
    """64 readers in 8 v1 cgroups with different memory limits, each
    opening, reading to EOF, closing and checking every served file in a
    loop. Failures are collected, not raised."""

    def __init__(self, mountpoint, cgroups, processes=64, groups=8):
        self.mountpoint = mountpoint
        self.limits = [(256 + 64 * g) * MIB for g in range(groups)]
        self.cgs = [cgroups(f"load-{g}", memory=self.limits[g]) for g in range(groups)]
        self.procs = []
        self.processes = processes
        self.out = tempfile.mkdtemp(prefix="swift-lxcfs-readers-")

    def start(self):
        for i in range(self.processes):
            g = i % len(self.cgs)
            path = os.path.join(self.out, f"r{i}.log")
            self.procs.append(subprocess.Popen(
                ["python3", "-c", READER, self.mountpoint, str(self.limits[g] // 1024), path, ",".join(LOAD_FILES)],
                preexec_fn=self.cgs[g].preexec()))
        # Every reader has read every file once before the test goes on.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(os.path.exists(os.path.join(self.out, f"r{i}.log.ready")) for i in range(self.processes)):
                return
            time.sleep(0.1)
        raise AssertionError("the readers did not start")

    def stop(self):
        """Stops the readers; returns (reads, failures, slowest read in s)."""
        open(os.path.join(self.out, "stop"), "w").close()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        reads, failures, slowest = 0, [], 0.0
        for i in range(self.processes):
            path = os.path.join(self.out, f"r{i}.log")
            try:
                lines = open(path).read().splitlines()
            except FileNotFoundError:
                failures.append(f"reader {i} wrote no log")
                continue
            if not lines or not lines[-1].startswith("done "):
                failures.append(f"reader {i} did not finish: {lines[-3:]}")
                continue
            _, n, slow = lines[-1].split()
            reads += int(n)
            slowest = max(slowest, float(slow))
            failures.extend(f"reader {i}: {line}" for line in lines[:-1])
        return reads, failures, slowest


# One reader: argv = mountpoint, its MemTotal in kB, log path, files.
READER = r'''
import os, sys, time
mnt, memtotal, log, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
stop = os.path.join(os.path.dirname(log), "stop")
out = open(log, "w")
reads, slowest, failures = 0, 0.0, 0
def check(rel, data):
    if not data and rel == "proc/diskstats":
        return None
    if not data:
        return "empty"
    if not data.endswith(b"\n"):
        return "cut off (no final newline)"
    text = data.decode()
    if rel == "proc/meminfo":
        lines = text.splitlines()
        if not lines[0].startswith("MemTotal:") or int(lines[0].split()[1]) != memtotal:
            return "MemTotal is %r, not %d kB" % (lines[0], memtotal)
        if not any(l.startswith("SwapFree:") for l in lines) or len(lines[-1].split()) < 2:
            return "incomplete meminfo"
    elif rel == "proc/stat":
        if not text.startswith("cpu ") or "btime" not in text:
            return "incomplete stat"
    elif rel == "proc/cpuinfo":
        if "processor" not in text or not text.endswith("\n\n"):
            return "incomplete cpuinfo"
    elif rel == "proc/uptime" or rel == "proc/loadavg":
        if len(text.split()) < 2:
            return "incomplete " + rel
    elif rel.startswith("sys/"):
        if not text.strip()[0].isdigit():
            return "bad " + rel
    return None
first = True
while not os.path.exists(stop):
    for rel in files:
        t0 = time.monotonic()
        try:
            fd = os.open(os.path.join(mnt, rel), os.O_RDONLY)
            try:
                data = b""
                while True:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    data += chunk
            finally:
                os.close(fd)
            why = check(rel, data)
        except OSError as e:
            why = "%s: %s" % (type(e).__name__, e)
        took = time.monotonic() - t0
        slowest = max(slowest, took)
        reads += 1
        if why:
            failures += 1
            if failures <= 20:
                out.write("%s: %s (%.3f s)\n" % (rel, why, took))
                out.flush()
        if took >= 2.0 and not why:
            out.write("%s: blocked %.3f s\n" % (rel, took))
            out.flush()
    if first:
        open(log + ".ready", "w").close()
        first = False
out.write("done %d %.3f\n" % (reads, slowest))
out.close()
'''


def random_pause(rng, lo, hi):
    time.sleep(rng.uniform(lo, hi))
