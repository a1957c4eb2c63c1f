"""`swift-lxcfs supervise` against a stand-in server (fdstore_standin.py)
that speaks systemd's fd-store protocol as the real server does, without
FUSE: what the supervisor stores, what it hands the next server (descriptors
at 3.., LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID == that server's pid), when it
restarts, waits or exits. The crash-under-load test with the real server and
a real mount is test_supervise_load.py.
"""
import ast
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, wait_for, terminate

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fdstore_standin.py")


class Supervised:
    """A supervisor running the stand-in; `entries()` is the stand-in's log."""

    def __init__(self, tmp_path, *args, env=None, mountpoint=None):
        self.log_path = tmp_path / "standin.log"
        self.out = open(tmp_path / "supervise.out", "w+")
        e = dict(os.environ, SWIFT_LXCFS_SERVER=STANDIN, STANDIN_LOG=str(self.log_path))
        e.pop("NOTIFY_SOCKET", None)
        e.update(env or {})
        self.proc = subprocess.Popen([BIN, "supervise", *args, "-p", str(tmp_path / "x.pid"),
                                      mountpoint or str(tmp_path / "mnt")],
                                     stdout=self.out, stderr=subprocess.STDOUT, env=e)

    def entries(self):
        try:
            return [ast.literal_eval(line) for line in open(self.log_path)]
        except FileNotFoundError:
            return []

    def starts(self):
        return [e for e in self.entries() if "resumed" in e]

    def wait_starts(self, n, timeout=10):
        wait_for(lambda: len(self.starts()) >= n, timeout=timeout, what=f"{n} server starts:\n{self.output()}")
        return self.starts()

    def output(self):
        self.out.flush()
        self.out.seek(0)
        return self.out.read()

    def stop(self):
        terminate(self.proc)
        for e in self.starts():
            try:
                os.kill(e["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.out.close()
        return self.proc.returncode


@pytest.fixture
def supervise(tmp_path):
    made = []

    def start(*args, env=None):
        s = Supervised(tmp_path, *args, env=env)
        made.append(s)
        return s

    yield start
    for s in made:
        s.stop()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for this purpose.
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_killed_server_restarts_with_the_stored_descriptors(supervise):
    s = supervise()
    first = s.wait_starts(1)[0]
    assert not first["resumed"] and first["listen_fds"] == 0
    assert first["notify_socket"].startswith("@swift-lxcfs/supervise/")
    # Arguments are the server's, passed on unchanged.
    assert first["argv"][0] == "-p" and first["argv"][-1].endswith("/mnt")
    tokens = {first["token"]}
    for n in range(2, 5):
        os.kill(s.starts()[-1]["pid"], signal.SIGKILL)
        nxt = s.wait_starts(n)[-1]
        # The same open file (inode and content) at 3.., named as stored,
        # LISTEN_PID being the new server's own pid.
        assert nxt["resumed"], nxt
        assert nxt["listen_pid"] == str(nxt["pid"]) and nxt["listen_fds"] == 2
        assert sorted(nxt["names"]) == ["fuse", "state"]
        assert nxt["token"] == first["token"] and nxt["inode"] == first["inode"]
        tokens.add(nxt["token"])
    assert tokens == {first["token"]}
    assert s.proc.poll() is None


def test_sighup_restarts_by_hand_over_and_sigterm_is_the_final_stop(supervise):
    s = supervise()
    first = s.wait_starts(1)[0]
    wait_for(lambda: "server is ready" in s.output(), what="READY=1 seen")
    s.proc.send_signal(signal.SIGHUP)
    second = s.wait_starts(2)[-1]
    assert {"pid": first["pid"], "stop": "handover"} in s.entries()
    assert second["resumed"] and second["token"] == first["token"]
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(10) == 0
    assert {"pid": second["pid"], "stop": "final"} in s.entries()
    assert len(s.starts()) == 2


def test_a_server_that_stops_finally_ends_the_supervisor(supervise):
    s = supervise()
    first = s.wait_starts(1)[0]
    wait_for(lambda: "server is ready" in s.output(), what="READY=1 seen")
    # SIGTERM straight to the server (Ctrl-C reaches both): it unmounts and
    # empties the store, so there is nothing to restart.
    os.kill(first["pid"], signal.SIGTERM)
    assert s.proc.wait(10) == 0
    assert len(s.starts()) == 1


def test_after_a_hand_over_elsewhere_the_supervisor_waits_then_exits_0(supervise):
    s = supervise()
    first = s.wait_starts(1)[0]
    wait_for(lambda: "server is ready" in s.output(), what="READY=1 seen")
    # The server exits 0 without emptying the store, unasked: what a server
    # does once `--takeover` elsewhere took its connection.
    os.kill(first["pid"], signal.SIGUSR2)
    wait_for(lambda: "waiting for a stop signal" in s.output(), what="hand-over seen")
    time.sleep(1.0)
    assert s.proc.poll() is None, s.output()
    assert len(s.starts()) == 1
    # It holds no copy of the connection any more.
    fds = os.listdir(f"/proc/{s.proc.pid}/fd")
    targets = [os.readlink(f"/proc/{s.proc.pid}/fd/{fd}") for fd in fds]
    assert not [t for t in targets if "memfd:" in t], targets
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(10) == 0


def test_a_crash_loop_backs_off(supervise):
    s = supervise(env={"STANDIN_EXIT": "3"})
    time.sleep(6)
    n = len(s.starts())
    # 100 ms doubling per start that lived under 1 s: 0.2+0.4+0.8+1.6+3.2 s.
    # Without back-off a restart loop makes hundreds.
    assert 3 <= n <= 8, (n, s.output()[-2000:])
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(10) == 0


def takeover_socket_path(mountpoint):
    """TakeoverSocket.path(forMountPoint:): /run/swift-lxcfs/, the path's
    components joined by '-', bytes outside [A-Za-z0-9_.] as _xx, '.sock'."""
    parts = []
    for part in os.path.realpath(mountpoint).strip("/").split("/"):
        parts.append("".join(c if c.isascii() and (c.isalnum() or c in "_.") else f"_{ord(c):02x}" for c in part))
    path = "/run/swift-lxcfs/" + "-".join(parts) + ".sock"
    assert len(path) < 100, path
    return path


def test_takeover_goes_to_the_first_server_only_where_a_socket_answers(tmp_path):
    short = tempfile.mkdtemp(prefix="swlsv", dir="/tmp")
    os.mkdir(os.path.join(short, "mnt"))
    path = takeover_socket_path(os.path.join(short, "mnt"))
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(4)
    s = Supervised(tmp_path, "--takeover", mountpoint=os.path.join(short, "mnt"))
    try:
        first = s.wait_starts(1)[0]
        assert first["argv"][0] == "--takeover"
        os.kill(first["pid"], signal.SIGKILL)
        second = s.wait_starts(2)[-1]
        assert "--takeover" not in second["argv"]
    finally:
        s.stop()
        listener.close()
        os.unlink(path)
        shutil.rmtree(short, ignore_errors=True)


def test_takeover_without_a_socket_mounts_afresh(supervise):
    s = supervise("--takeover")
    first = s.wait_starts(1)[0]
    assert "--takeover" not in first["argv"]
    assert "mounting afresh" in s.output()


def test_only_the_current_server_can_store(supervise):
    s = supervise()
    first = s.wait_starts(1)[0]
    wait_for(lambda: "server is ready" in s.output(), what="READY=1 seen")
    # Another process (this test) sends FDSTORE to the supervisor's socket.
    intruder = os.memfd_create("intruder")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendmsg([b"FDSTORE=1\nFDNAME=intruder"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(
        __import__("array").array("i", [intruder]))))], 0, "\0" + first["notify_socket"][1:])
    sock.sendmsg([b"FDSTOREREMOVE=1\nFDNAME=fuse"], [], 0, "\0" + first["notify_socket"][1:])
    sock.close()
    time.sleep(0.3)
    os.kill(first["pid"], signal.SIGKILL)
    second = s.wait_starts(2)[-1]
    assert sorted(second["names"]) == ["fuse", "state"], second


def test_a_bad_command_line_is_one_sentence():
    r = subprocess.run([BIN, "supervise", "--no-such-flag", "/tmp/x"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swift-lxcfs: ") and "supervise --help" in lines[0], r.stderr
    r = subprocess.run([BIN, "supervise", "relative/path"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "absolute" in r.stderr


def mount_id(path):
    """The mount id (mountinfo's first field) of the topmost mount at `path`, or None."""
    found = None
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == path:
            found = fields[0]
    return found


def test_a_server_that_refuses_its_command_line_ends_the_supervisor_with_64(tmp_path):
    # The real server, given a flag it does not know (as a newer supervisor's
    # command line may give an older binary): exit 64 (EX_USAGE), which no
    # restart can change.
    starts = tmp_path / "starts"
    server = tmp_path / "server.sh"
    server.write_text(f'#!/bin/sh\necho start >> {starts}\nexec {BIN} --no-such-flag "$@"\n')
    server.chmod(0o755)
    s = Supervised(tmp_path, env={"SWIFT_LXCFS_SERVER": str(server)})
    try:
        assert s.proc.wait(20) == 64, s.output()
        assert starts.read_text().count("start") == 1
        assert "refused its command line (exit 64)" in s.output(), s.output()
    finally:
        s.stop()


def test_a_new_supervisors_probe_of_the_takeover_socket_raises_no_alarm(tmp_path, start_daemon):
    old = start_daemon("--no-reattach")
    mnt = old.mountpoint
    # A second daemon without --takeover checks the socket to say so in its refusal.
    r = subprocess.run([BIN, "--no-reattach", "-p", str(tmp_path / "second.pid"), mnt],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "pass --takeover" in r.stderr, r.stderr
    # A real upgrade: the new supervisor checks the socket, then its server takes over.
    new = subprocess.Popen([BIN, "supervise", "--takeover", "--ready-file", str(tmp_path / "ready"),
                            "-p", str(tmp_path / "new.pid"), "--no-reattach", mnt],
                           stdout=open(tmp_path / "new.log", "w"), stderr=subprocess.STDOUT)
    try:
        assert old.proc.wait(30) == 0, old.output()
        assert "handed over" in old.output()
        assert "takeover refused" not in old.output(), old.output()
        wait_for(lambda: (tmp_path / "ready").exists(), what="the new server ready")
        assert open(os.path.join(mnt, "proc/uptime")).read().count(" ") == 1
    finally:
        terminate(new)
    assert new.returncode == 0, open(tmp_path / "new.log").read()


def listening_socket_of(pid):
    """The path of the unix socket process `pid` listens on under /run/swift-lxcfs."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for line in open("/proc/net/unix").read().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes and fields[7].startswith("/run/swift-lxcfs/"):
            return fields[7]
    return None


def test_a_takeover_socket_peer_that_sends_garbage_is_still_refused_loudly(start_daemon):
    d = start_daemon("--no-reattach")
    path = listening_socket_of(d.proc.pid)
    assert path, "no takeover socket"
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.connect(path)
    c.send(b"not a takeover request")
    c.close()
    wait_for(lambda: "takeover refused" in d.output(), what="the refusal logged")
    assert f"pid {os.getpid()} sent no valid request" in d.output()


def test_the_daemonsets_liveness_probe_kills_a_hung_daemon_and_the_mount_stays(tmp_path):
    import yaml
    from deploy_support import REPO
    docs = yaml.safe_load_all(open(os.path.join(REPO, "deploy", "kubernetes", "swift-lxcfs.yaml")))
    container = next(d for d in docs if d and d["kind"] == "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    probe = container["livenessProbe"]["exec"]["command"]
    mnt = str(tmp_path / "mnt")
    ready = str(tmp_path / "ready")
    # The probe's own script, with the pod's two paths replaced by this test's.
    probe = [a.replace("/run/swift-lxcfs.ready", ready).replace("/var/lib/lxcfs", mnt) for a in probe]
    first = None
    sup = subprocess.Popen([BIN, "supervise", "--ready-file", ready, "-p", str(tmp_path / "x.pid"), "--no-reattach",
                            mnt], stdout=open(tmp_path / "sup.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: os.path.exists(ready) and open(ready).read().strip(), timeout=30, what="ready")
        first = int(open(ready).read())
        mounted = mount_id(mnt)
        assert subprocess.run(probe, timeout=60).returncode == 0
        os.kill(first, signal.SIGSTOP)          # a wedged daemon: reads wait
        r = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and f"killing the daemon, pid {first}" in r.stderr, r.stderr
        wait_for(lambda: not alive(first), what="the hung daemon gone")
        wait_for(lambda: os.path.exists(ready) and open(ready).read().strip() not in ("", str(first)), timeout=30,
                 what="a new daemon ready")
        # The same mount throughout, serving again.
        assert mount_id(mnt) == mounted
        assert subprocess.run(probe, timeout=60).returncode == 0
        assert open(os.path.join(mnt, "proc/uptime")).read().count(" ") == 1
    finally:
        # A daemon left stopped would hang every look at the mount, and the stop.
        if first and alive(first):
            os.kill(first, signal.SIGKILL)
        terminate(sup)
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)
