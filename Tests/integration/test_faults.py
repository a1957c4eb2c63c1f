"""Faults, black-box: the daemon (and `supervise`) under conditions that
are not its fault. After each one the daemon keeps serving and no read
fails that need not. docs/reliability.md, "Faults", lists what each test
saw.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, MIB, wait_for, terminate

FILES = ("proc/meminfo", "proc/cpuinfo", "proc/stat", "proc/uptime", "proc/loadavg", "proc/diskstats",
         "proc/swaps", "sys/devices/system/cpu/online")


def short_mountpoint():
    """A mount point with a short path, so that its takeover socket is
    /run/swift-lxcfs/tmp-NAME-m.sock (not a hashed name)."""
    d = tempfile.mkdtemp(prefix="swlf", dir="/tmp")
    m = os.path.join(d, "m")
    os.mkdir(m)
    return m


def takeover_socket(mnt):
    """The daemon's takeover socket for `mnt`, named as Takeover.swift
    names it (bytes other than [A-Za-z0-9_.] as _xx)."""
    parts = [p for p in os.path.realpath(mnt).split("/") if p]
    name = "-".join("".join(c if (c.isascii() and (c.isalnum() or c in "_.")) else f"_{ord(c):02x}" for c in p)
                    for p in parts)
    return f"/run/swift-lxcfs/{name}.sock"


def provoke_log_lines(mnt, n):
    """Makes the daemon log `n` warnings: each connection to its takeover
    socket that sends no valid request is logged and refused."""
    path = takeover_socket(mnt)
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(path)
            s.send(b"not a takeover request")
            s.recv(16)
        except OSError:
            pass
        finally:
            s.close()


def read_all(mnt, rounds):
    """Reads every file `rounds` times through the mount; returns the failures."""
    failures = []
    for _ in range(rounds):
        for rel in FILES:
            try:
                with open(os.path.join(mnt, rel), "rb") as f:
                    if not f.read():
                        failures.append((rel, "empty"))
            except OSError as e:
                failures.append((rel, e.errno))
    return failures


def serves(mnt):
    """Whether the mount answers, asked from a child killed after 5 s."""
    try:
        r = subprocess.run(["head", "-c", "9", os.path.join(mnt, "proc", "meminfo")], capture_output=True, timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return r.stdout == b"MemTotal:"


def unmount(mnt):
    if any(line.split()[4] == mnt for line in open("/proc/self/mountinfo")):
        subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)


def children(pid):
    try:
        return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except FileNotFoundError:
        return []


def test_a_closed_log_pipe_does_not_end_the_daemon():
    """`swift-lxcfs -d -p P MNT 2>&1 | head -1`: the reader of the log
    pipe goes away after one line; the daemon then logs hundreds of lines
    (EPIPE each) and serves every read."""
    mnt = short_mountpoint()
    pidfile = os.path.join(os.path.dirname(mnt), "d.pid")
    proc = subprocess.Popen([BIN, "-d", "-p", pidfile, mnt], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        first = proc.stdout.readline()
        assert first, "the daemon printed nothing"
        proc.stdout.close()  # as `head -1` exits
        wait_for(lambda: serves(mnt) or proc.poll() is not None, timeout=30, what="the mount")
        assert proc.poll() is None, f"the daemon ended: status {proc.returncode}"
        for _ in range(5):
            provoke_log_lines(mnt, 40)
            assert read_all(mnt, 20) == []
        assert proc.poll() is None, f"the daemon ended: status {proc.returncode}"
        assert serves(mnt)
    finally:
        terminate(proc)
        unmount(mnt)
    # SIGTERM still ends it cleanly (exit 0), the pipe closed all along.
    assert proc.returncode == 0


def test_a_closed_log_pipe_does_not_end_the_supervisor():
    """`swift-lxcfs supervise -p P MNT 2>&1 | head -1`: with the log pipe
    closed, the server is SIGKILLed three times; the supervisor logs each
    restart (EPIPE), restarts it, and the mount keeps serving."""
    mnt = short_mountpoint()
    pidfile = os.path.join(os.path.dirname(mnt), "d.pid")
    proc = subprocess.Popen([BIN, "supervise", "-p", pidfile, mnt], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        first = proc.stdout.readline()
        assert first, "the supervisor printed nothing"
        proc.stdout.close()
        wait_for(lambda: serves(mnt) or proc.poll() is not None, timeout=30, what="the supervised mount")
        for _ in range(3):
            (child,) = children(proc.pid) or [None]
            assert child, "no server under the supervisor"
            os.kill(child, signal.SIGKILL)
            wait_for(lambda: proc.poll() is not None or ((children(proc.pid) or [child])[0] != child and serves(mnt)),
                     timeout=60, what=f"a new server after killing {child}: children {children(proc.pid)}")
            assert proc.poll() is None, f"the supervisor ended: status {proc.returncode}"
            assert read_all(mnt, 5) == []
        assert proc.poll() is None, f"the supervisor ended: status {proc.returncode}"
    finally:
        terminate(proc, 30)
        unmount(mnt)
    assert proc.returncode == 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def nofile_limits(pid):
    """(soft, hard) RLIMIT_NOFILE of a process, from /proc/PID/limits."""
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no open-file limit")


def memtotal_kb(text):
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return None


HOST_MEMTOTAL_KB = memtotal_kb(open("/proc/meminfo").read())

# A reader in a cgroup: opens FILE through the mount, reads it, prints the
# MemTotal it saw (or "errno N"), SECONDS times at most, every 10 ms.
READER = r"""
import sys, time
path, rounds = sys.argv[1], int(sys.argv[2])
for _ in range(rounds):
    try:
        with open(path) as f:
            t = f.read()
        v = next((l.split()[1] for l in t.splitlines() if l.startswith("MemTotal:")), "none" if t else "empty")
    except OSError as e:
        v = f"errno {e.errno}"
    print(v, flush=True)
"""


def test_open_file_limit_exhausted_then_freed(start_daemon, cgroups):
    """The daemon's RLIMIT_NOFILE is lowered (prlimit) to the descriptors
    it holds, so that every open it makes fails with EMFILE; readers in two
    containers read meminfo. No read shows another container's memory, the
    daemon keeps serving, and once the limit is raised again every reader
    gets its own view. Holding thousands of files open through the mount
    costs the daemon no descriptor."""
    import resource
    import sys
    d = start_daemon()
    pid = d.proc.pid
    a = cgroups("nofile-a", memory=100 * MIB)
    b = cgroups("nofile-b", memory=150 * MIB)
    meminfo = d.path("proc/meminfo")
    # Thousands of open handles through the mount, from this process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 5000), max(hard, 5000)))
    before = fd_count(pid)
    held = [open(meminfo, "rb") for _ in range(3000)]
    try:
        assert all(f.read(9) == b"MemTotal:" for f in held)
        # Its descriptor caches (cgroup files, per worker thread) may grow
        # a little; the 3000 handles cost it none.
        during = fd_count(pid)
        assert during < before + 100, (before, during)
        print(f"\n3000 handles held open: daemon descriptors {before} before, {during} with them open")
    finally:
        for f in held:
            f.close()
    # Exhausted: the soft limit at what the daemon holds now.
    limit = fd_count(pid)
    soft_was, hard_was = nofile_limits(pid)
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={limit}:{hard_was}"], check=True)
    seen = {"own": 0, "host": 0, "errors": 0, "empty": 0}
    for cg, own in ((a, 100 * 1024), (b, 150 * 1024)):
        r = cg.run([sys.executable, "-c", READER, meminfo, "50"], timeout=120)
        assert r.returncode == 0, r.stderr
        for v in r.stdout.split("\n")[:-1]:
            if v.startswith("errno"):
                seen["errors"] += 1
            elif v == "empty":
                seen["empty"] += 1
            else:
                assert int(v) in (own, HOST_MEMTOTAL_KB), (v, own)  # never the other container's
                seen["own" if int(v) == own else "host"] += 1
    assert d.proc.poll() is None
    print(f"\nRLIMIT_NOFILE {limit} (all in use): reads own view {seen['own']}, host view {seen['host']}, "
          f"failed {seen['errors']}, empty {seen['empty']}")
    # Freed: the soft limit raised again.
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={soft_was}:{hard_was}"], check=True)
    for cg, own in ((a, 100 * 1024), (b, 150 * 1024)):
        r = cg.run([sys.executable, "-c", READER, meminfo, "20"], timeout=120)
        assert r.stdout.split() == [str(own)] * 20, r.stdout
    assert d.proc.poll() is None


# Starts a reader that opens FILE and is killed (SIGKILL) at once, before,
# during or after its read, ROUNDS times; one reader per fork.
KILLED_READERS = r"""
import os, signal, sys, time, random
path, rounds = sys.argv[1], int(sys.argv[2])
for i in range(rounds):
    pid = os.fork()
    if pid == 0:
        try:
            with open(path, "rb") as f:
                while True:
                    f.seek(0)
                    f.read()
        except OSError:
            pass
        os._exit(0)
    time.sleep(random.random() * 0.004)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""


def test_readers_exit_during_requests_and_cgroups_vanish(start_daemon, cgroups):
    """Two faults in a loop while a steady container reads every file:
    readers SIGKILLed in the middle of their reads (300), and short-lived
    containers whose cgroup is removed the moment their only process has
    read and exited (100, each racing its own render). The steady reader
    never fails and always sees its own memory; the daemon serves on."""
    import sys
    d = start_daemon()
    steady = cgroups("vanish-steady", memory=120 * MIB)
    control = subprocess.Popen([sys.executable, "-c", READER, d.path("proc/meminfo"), "100000"],
                               preexec_fn=steady.preexec(), stdout=subprocess.PIPE, text=True)
    try:
        killer = cgroups("vanish-killed", memory=90 * MIB)
        r = killer.run([sys.executable, "-c", KILLED_READERS, d.path("proc/meminfo"), "300"], timeout=300)
        assert r.returncode == 0, r.stderr
        for i in range(100):
            cg = cgroups(f"vanish-{i}", memory=(64 + i) * MIB)
            p = subprocess.Popen(["cat", d.path("proc/meminfo"), d.path("proc/stat"), d.path("proc/cpuinfo")],
                                 preexec_fn=cg.preexec(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = p.communicate(timeout=30)
            cg.remove()  # at once: the daemon may still hold its files, or be rendering
            assert p.returncode == 0, err
            assert memtotal_kb(out.decode()) == (64 + i) * 1024
        # A reader that never stops, moved from cgroup to cgroup, each one
        # removed as soon as it has left it: renders race the removal.
        mover = subprocess.Popen([sys.executable, "-c", READER, d.path("proc/meminfo"), "100000"],
                                 preexec_fn=killer.preexec(), stdout=subprocess.PIPE, text=True)
        limits = {str(90 * 1024), str(HOST_MEMTOTAL_KB)}
        first = mover.stdout.readline()  # it reads before the first move
        try:
            previous = killer
            for i in range(100):
                cg = cgroups(f"vanish-move-{i}", memory=(200 + i) * MIB)
                limits.add(str((200 + i) * 1024))
                cg.enter(mover.pid)
                if previous is not killer:
                    previous.remove()
                previous = cg
        finally:
            mover.kill()
            moved, _ = mover.communicate()
        moved = (first + moved).split("\n")[:-1]
        assert moved and not [v for v in moved if v not in limits], [v for v in moved if v not in limits][:5]
        assert d.proc.poll() is None
    finally:
        control.kill()
        out, _ = control.communicate()
    print(f"\nmoved reader: {len(moved)} reads, all succeeded, each its own cgroup's MemTotal or the host's")
    values = out.split()
    assert values and set(values) == {str(120 * 1024)}, set(values)
    print(f"\nsteady reader: {len(values)} reads, all its own MemTotal")


HOSTILE_NAMES = {
    "space": b"ctr name",
    "255 bytes": b"n" * 255,
    "not UTF-8": b"ctr-\xff\xfe-\xc3",
}


def test_a_cgroup_name_with_a_newline_is_refused_by_the_kernel():
    """A newline would cut a /proc/PID/cgroup line in two, so that a reader
    of "ctr\nname" seemed to be in "ctr": the kernel refuses the name."""
    from conftest import CGROOT, PREFIX
    parent = os.path.join(CGROOT, "memory", PREFIX)
    os.makedirs(parent, exist_ok=True)
    with pytest.raises(OSError) as e:
        os.mkdir(os.fsencode(parent) + b"/ctr\nname")
    assert e.value.errno == 22  # EINVAL


class RawCgroup:
    """A v1 cgroup under the test prefix whose name is any bytes, in the
    memory, cpu, cpuacct, cpuset, blkio and pids hierarchies."""

    def __init__(self, name, memory):
        from conftest import CGROOT, PREFIX
        self.dirs = []
        for c in ("memory", "cpu", "cpuacct", "cpuset", "blkio", "pids"):
            base = os.path.join(CGROOT, c)
            if not os.path.isdir(base):
                continue
            parent = os.path.join(base, PREFIX)
            os.makedirs(parent, exist_ok=True)
            d = os.fsencode(parent) + b"/" + name
            os.makedirs(d, exist_ok=True)
            self.dirs.append(d)
            if c == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    for x in (os.fsencode(parent), d):
                        if not open(x + b"/" + f.encode()).read().strip():
                            up = os.path.dirname(x)
                            open(x + b"/" + f.encode(), "w").write(open(up + b"/" + f.encode()).read().strip())
            if c == "memory":
                open(d + b"/memory.limit_in_bytes", "w").write(str(memory))

    def enter(self):
        for d in self.dirs:
            open(d + b"/cgroup.procs", "w").write(str(os.getpid()))

    def remove(self):
        for d in self.dirs:
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


@pytest.mark.parametrize("kind", [
    "space", "255 bytes",
    pytest.param("not UTF-8", marks=pytest.mark.xfail(strict=True, reason=(
        "cgroup paths are decoded as UTF-8 (invalid bytes become U+FFFD), so the path read is not the "
        "cgroup's: the reader gets the host's view, not its own (issue 22, left)"))),
])
def test_hostile_cgroup_names(kind, start_daemon, cgroups):
    """A container cgroup named with a space, 255 bytes or bytes that are
    not UTF-8: its reader gets its own MemTotal, never another cgroup's
    (a decoy "ctr" exists), and every read succeeds."""
    d = start_daemon()
    name = HOSTILE_NAMES[kind]
    decoy = cgroups("ctr", memory=77 * MIB)
    cg = RawCgroup(name, 133 * MIB)
    try:
        r = subprocess.run(["cat", d.path("proc/meminfo"), d.path("proc/stat"), d.path("proc/cpuinfo"),
                            d.path("proc/uptime"), d.path("sys/devices/system/cpu/online")],
                           preexec_fn=cg.enter, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        seen = memtotal_kb(r.stdout.decode())
        assert seen != 77 * 1024, "the decoy's view"
        assert seen in (133 * 1024, HOST_MEMTOTAL_KB), seen
        print(f"\n{kind}: MemTotal {'own' if seen == 133 * 1024 else 'host'}")
        assert d.proc.poll() is None
        assert seen == 133 * 1024
    finally:
        cg.remove()


def test_a_host_file_that_cannot_be_opened_fails_the_read_not_empties_it(start_daemon):
    """With every descriptor of the daemon in use, a file whose host file
    (/proc/stat, /proc/cpuinfo, /proc/uptime) it cannot open fails with EIO,
    never reads as an empty file; once the limit is raised it reads whole."""
    d = start_daemon()
    pid = d.proc.pid
    limit = fd_count(pid)
    soft_was, hard_was = nofile_limits(pid)
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={limit}:{hard_was}"], check=True)
    outcomes = []
    try:
        for _ in range(20):
            for rel in ("proc/stat", "proc/cpuinfo", "proc/uptime", "proc/meminfo"):
                try:
                    data = open(d.path(rel), "rb").read()
                except OSError as e:
                    assert e.errno == 5, (rel, e)  # EIO: what a reader can act on
                    outcomes.append("EIO")
                    continue
                assert data, f"{rel} read as an empty file"
                outcomes.append("read")
    finally:
        subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={soft_was}:{hard_was}"], check=True)
    print(f"\nwith every descriptor in use: {outcomes.count('EIO')} reads failed with EIO, "
          f"{outcomes.count('read')} read whole, none empty")
    for rel in ("proc/stat", "proc/cpuinfo", "proc/uptime", "proc/meminfo"):
        assert open(d.path(rel), "rb").read()
    assert d.proc.poll() is None

