"""The mount outlives the daemon (issue 10, server side): a SIGKILLed
daemon restarted with the descriptors it stored (the test acting as
systemd's fd store), live upgrades with --takeover, open files across a
restart, and bad input at every step of a resume.
"""
import os
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BIN, MIB, wait_for
from fdstore_support import FDStore, start_server
from load_support import ReaderGroup, assert_clean

LOAD_SECONDS = float(os.environ.get("SWIFT_LXCFS_RESTART_SECONDS", "60"))
KILLS = int(os.environ.get("SWIFT_LXCFS_RESTART_KILLS", "20"))


def mounts_at(path):
    # The mount point itself is not resolved: stat of a FUSE root waits
    # for a server, and a test may look while none serves.
    real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    return [line for line in open("/proc/self/mountinfo") if line.split()[4] == real]


def socket_path(mountpoint):
    """The takeover socket's path, as TakeoverSocket.path(forMountPoint:) derives it."""
    real = os.path.join(os.path.realpath(os.path.dirname(mountpoint)), os.path.basename(mountpoint))
    name = "-".join("".join(c if c.isalnum() or c in "_." else "_%02x" % ord(c) for c in part)
                    for part in real.strip("/").split("/")) or "-"
    return "/run/swift-lxcfs/" + name + ".sock"


class Served:
    """A mount point, the test's fd store and the daemon processes serving it."""

    def __init__(self, tmp_path, args=()):
        self.dir = tempfile.mkdtemp(prefix="swift-lxcfs-restart-")
        self.mnt = str(tmp_path / "mnt")
        os.makedirs(self.mnt, exist_ok=True)
        self.store = FDStore(self.dir)
        self.log = open(os.path.join(self.dir, "daemon.log"), "w+")
        self.args = list(args)
        self.proc = None
        self.exits = []

    def start(self, fds=None, names=("fuse", "state"), extra=()):
        before = self.store.count("READY=1")
        self.proc = start_server(self.mnt, self.store, self.log, args=self.args + list(extra), fds=fds, names=names)
        return before

    def wait_ready(self, before, timeout=20):
        wait_for(lambda: self.store.count("READY=1") > before or self.proc.poll() is not None,
                 timeout=timeout, what="READY=1")
        assert self.proc.poll() is None, self.output()

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.store.close()
        for _ in range(5):
            if not mounts_at(self.mnt):
                break
            subprocess.run(["umount", "-l", self.mnt], check=False)
        self.log.close()
        return self.proc.returncode if self.proc else None


@pytest.fixture
def served(tmp_path):
    made = []

    def make(args=()):
        s = Served(tmp_path, args)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
        for leftover in (socket_path(s.mnt), socket_path(s.mnt) + ".real"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def fresh(served, args=()):
    s = served(args)
    before = s.start()
    s.wait_ready(before)
    wait_for(lambda: s.store.has("fuse", "state"), what="FDSTORE of fuse and state")
    return s


def test_fresh_mount_stores_its_connection_and_a_final_stop_clears_it(served):
    s = fresh(served)
    assert len(mounts_at(s.mnt)) == 1 and "fuse.lxcfs" in mounts_at(s.mnt)[0]
    state = os.pread(s.store.fds["state"], 4096, 0).decode()
    assert state.startswith("swift-lxcfs-state 1\n") and f"mountpoint {os.path.realpath(s.mnt)}\n" in state
    assert os.path.exists(socket_path(s.mnt))
    assert oct(os.stat("/run/swift-lxcfs").st_mode & 0o777) == "0o700"
    assert oct(os.stat(socket_path(s.mnt)).st_mode & 0o777) == "0o600"
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(20) == 0
    assert not mounts_at(s.mnt)
    wait_for(lambda: not s.store.has("fuse") and not s.store.has("state"), what="FDSTOREREMOVE")
    assert not os.path.exists(socket_path(s.mnt))


def test_sigusr2_leaves_the_mount_to_the_store(served):
    s = fresh(served)
    dev = os.stat(s.mnt).st_dev
    s.proc.send_signal(signal.SIGUSR2)
    assert s.proc.wait(20) == 0
    assert len(mounts_at(s.mnt)) == 1 and s.store.has("fuse", "state")
    before = s.start()
    s.wait_ready(before)
    assert open(os.path.join(s.mnt, "proc/meminfo")).readline().startswith("MemTotal:")
    assert os.stat(s.mnt).st_dev == dev
    assert "resumed serving" in s.output()


def test_crash_under_load_with_the_test_as_fd_store(served, cgroups):
    s = fresh(served)
    dev = os.stat(s.mnt).st_dev
    readers = ReaderGroup(cgroups, s.mnt, LOAD_SECONDS + 120, expect_dev=dev, stop_file=os.path.join(s.dir, "stop"))
    rng = random.Random(10)
    t0 = time.monotonic()
    kills = 0
    try:
        while kills < KILLS:
            time.sleep(rng.uniform(0.3, 2 * LOAD_SECONDS / KILLS - 0.3))
            s.kill()
            kills += 1
            assert s.store.has("fuse", "state")
            s.start()
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - t0)))
        results = readers.stop()
    finally:
        readers.kill()
    assert kills == KILLS
    summary = assert_clean(results, s.output()[-3000:])
    print(summary)
    assert sum(r["reads"] for r in results) > 1000
    assert os.stat(s.mnt).st_dev == dev and len(mounts_at(s.mnt)) == 1
    out = s.output()
    assert out.count("resumed serving") == KILLS, out[-3000:]
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(20) == 0 and not mounts_at(s.mnt)


def test_takeover_five_times_under_load(served, cgroups):
    s = fresh(served)
    dev = os.stat(s.mnt).st_dev
    readers = ReaderGroup(cgroups, s.mnt, 180, expect_dev=dev, stop_file=os.path.join(s.dir, "stop"))
    codes = []
    try:
        for i in range(5):
            time.sleep(2)
            old = s.proc
            before = s.start(fds=[], extra=["--takeover"])
            codes.append(old.wait(30))
            s.wait_ready(before)
            # The new process stored the connection in its (new) store.
            assert s.store.count("FDNAME=fuse") >= i + 2
        time.sleep(2)
        results = readers.stop()
    finally:
        readers.kill()
    assert codes == [0] * 5, s.output()[-3000:]
    print(assert_clean(results, s.output()[-3000:]))
    assert os.stat(s.mnt).st_dev == dev and len(mounts_at(s.mnt)) == 1
    assert s.output().count("took the connection over") == 5


TOP_LIKE = r'''
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
def frame():
    data = os.pread(fd, 65536, 0)
    lines = data.decode().splitlines()
    cpus = [l for l in lines if l.startswith("cpu") and not l.startswith("cpu ")]
    total = [int(x) for x in lines[0].split()[1:]]
    return len(cpus), total, data.endswith(b"\n") and "btime" in data.decode()
print(repr(frame()), flush=True)
sys.stdin.readline()
print(repr(frame()), flush=True)
'''


@pytest.mark.parametrize("how", ["kill", "takeover"])
def test_an_open_file_gives_a_correct_next_frame_across_a_restart(served, cgroups, how):
    s = fresh(served)
    cg = cgroups("open-across", memory=300 * MIB, cpus="0")
    reader = subprocess.Popen(["python3", "-c", TOP_LIKE, os.path.join(s.mnt, "proc/stat")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=cg.preexec())
    line = reader.stdout.readline()
    assert line.strip(), "the reader failed before its first frame"
    first = eval(line)
    assert first[0] == 1 and first[2]
    if how == "kill":
        s.kill()
        before = s.start()
    else:
        old = s.proc
        before = s.start(fds=[], extra=["--takeover"])
        assert old.wait(30) == 0
    s.wait_ready(before)
    reader.stdin.write("\n")
    reader.stdin.flush()
    line = reader.stdout.readline()
    assert line.strip(), "the reader failed to read its next frame"
    second = eval(line)
    reader.wait(10)
    assert second[0] == 1 and second[2], second
    assert all(b >= a for a, b in zip(first[1], second[1])), (first, second)


WHOLE_THEN_PAST_THE_END = r'''
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
data = os.pread(fd, 65536, 0)
print(len(data), flush=True)
sys.stdin.readline()
print(repr(os.pread(fd, 65536, len(data))), flush=True)
'''


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to grow cpuinfo")
def test_a_reader_that_has_the_whole_snapshot_gets_end_of_file_after_a_restart(served, cgroups):
    """A reader read all of a file, the server died, and the file would now
    render longer (a second CPU in the cpuset): its next read, at the end of
    what it has, is end of file, never the tail of the new rendering."""
    s = fresh(served)
    cg = cgroups("eof-across", cpus="0")
    reader = subprocess.Popen(["python3", "-c", WHOLE_THEN_PAST_THE_END, os.path.join(s.mnt, "proc/cpuinfo")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=cg.preexec())
    length = int(reader.stdout.readline())
    assert length > 0
    s.kill()
    cg.write("cpuset", "cpuset.cpus", "0-1")
    before = s.start()
    s.wait_ready(before)
    reader.stdin.write("\n")
    reader.stdin.flush()
    tail = eval(reader.stdout.readline())
    reader.wait(10)
    assert tail == b"", f"{len(tail)} bytes of a later rendering after the {length} bytes already read"


def test_a_descriptor_that_is_not_fuse_falls_back_to_a_fresh_mount(served):
    s = fresh(served)
    s.kill()
    # The store lost the connection: it passes /dev/null as fuse.
    os.close(s.store.take("fuse"))
    null = os.open("/dev/null", os.O_RDWR)
    try:
        before = s.start(fds=[null, s.store.fds["state"]])
    finally:
        os.close(null)
    s.wait_ready(before)
    out = s.output()
    assert out.count("cannot resume from LISTEN_FDS: the descriptor named fuse is not /dev/fuse; mounting afresh.") == 1, out
    # The dead mount was detached, a fresh one made (device and mount ids are reused).
    assert "detaching the dead FUSE mount" in out
    assert len(mounts_at(s.mnt)) == 1
    assert open(os.path.join(s.mnt, "proc/meminfo")).readline().startswith("MemTotal:")


def test_garbage_state_falls_back_to_a_fresh_mount(served):
    s = fresh(served)
    s.kill()
    os.close(s.store.take("fuse"))
    garbage = os.memfd_create("garbage")
    os.write(garbage, b"swift-lxcfs-state 99\nwhatever\n")
    fuse = os.open("/dev/fuse", os.O_RDWR)
    try:
        before = s.start(fds=[fuse, garbage])
    finally:
        os.close(garbage)
        os.close(fuse)
    s.wait_ready(before)
    out = s.output()
    assert "the saved state is unusable: it has format version 99" in out, out
    assert len(mounts_at(s.mnt)) == 1
    assert open(os.path.join(s.mnt, "proc/meminfo")).readline().startswith("MemTotal:")


def test_a_live_connection_with_a_bad_state_is_refused_in_one_sentence(served):
    s = fresh(served)
    s.kill()
    # The store still holds the real connection, but the state is garbage:
    # the mount is held by another process, so no fresh mount goes on top.
    garbage = os.memfd_create("garbage")
    os.write(garbage, b"\x00\x01 not state")
    try:
        before = s.start(fds=[s.store.fds["fuse"], garbage])
    finally:
        os.close(garbage)
    assert s.proc.wait(30) != 0
    out = s.output()
    assert "the saved state is unusable: it is not swift-lxcfs state" in out
    assert out.strip().splitlines()[-1].startswith("swift-lxcfs: a FUSE mount at ")
    assert len(mounts_at(s.mnt)) == 1
    # The good descriptors still resume it.
    before = s.start()
    s.wait_ready(before)
    assert open(os.path.join(s.mnt, "proc/meminfo")).readline().startswith("MemTotal:")


def garbage_server(path, answer):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(4)

    def run():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.recv(512)
            if answer is not None:
                c.send(answer)
            time.sleep(0.5)
            c.close()
    threading.Thread(target=run, daemon=True).start()

    class Closer:
        def close(self):
            srv.close()
            if os.path.exists(path):
                os.unlink(path)
    return Closer()


@pytest.mark.parametrize("answer,said", [(b"hello?", "answered garbage"), (None, "answered nothing")],
                         ids=["garbage", "nothing"])
def test_a_takeover_socket_that_answers_garbage_with_nothing_mounted_mounts_afresh(served, answer, said):
    s = served()
    # `None`: the socket takes the request and hangs up without a word.
    srv = garbage_server(socket_path(s.mnt), answer)
    try:
        before = s.start(fds=[], extra=["--takeover"])
        s.wait_ready(before)
    finally:
        srv.close()
    out = s.output()
    assert out.count("takeover failed: the takeover socket") == 1 and said in out, out
    assert len(mounts_at(s.mnt)) == 1
    assert open(os.path.join(s.mnt, "proc/meminfo")).readline().startswith("MemTotal:")


def test_a_takeover_socket_that_answers_garbage_on_a_served_mount_is_refused(served):
    s = fresh(served)
    server = s.proc
    path = socket_path(s.mnt)
    # Something else took the socket path; the real server still serves.
    os.rename(path, path + ".real")
    srv = garbage_server(path, b"\xff" * 10)
    try:
        r = subprocess.run([BIN, "-p", os.path.join(s.dir, "other.pid"), "--takeover", s.mnt],
                           capture_output=True, text=True, timeout=60)
    finally:
        srv.close()
        os.rename(path + ".real", path)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("swift-lxcfs: ") and "still served and the takeover failed" in last, r.stderr
    assert server.poll() is None and len(mounts_at(s.mnt)) == 1
    assert open(os.path.join(s.mnt, "proc/meminfo")).readline().startswith("MemTotal:")


def test_without_takeover_a_served_mount_point_is_refused(served):
    s = fresh(served)
    r = subprocess.run([BIN, "-p", os.path.join(s.dir, "other.pid"), s.mnt], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and r.stderr.count("\n") == 1
    assert "already mounted" in r.stderr and "--takeover" in r.stderr
