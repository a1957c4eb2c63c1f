"""systemd/swift-lxcfs.service: it verifies, and its exact ExecStartPre and
ExecStart lines, run as systemd would run them, clear a stale mount and send
READY=1 over NOTIFY_SOCKET only once the mount serves files.

The unit's paths (/usr/local/bin/swift-lxcfs, /var/lib/lxcfs, /run) are the
real ones; each test gives them to the unit inside a private mount namespace
(unshare -m) so that nothing on this host is touched.
"""
import array
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from conftest import BIN, wait_for

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = os.path.join(REPO, "systemd", "swift-lxcfs.service")
pytestmark = pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")


def unit_entries(path=UNIT):
    """[(section, key, value)] in file order; keys may repeat (ExecStartPre)."""
    section, out = None, []
    for raw in open(path):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(key):
    return [v for _, k, v in unit_entries() if k == key]


def environment():
    """The unit's Environment= assignments (the defaults an EnvironmentFile may override)."""
    out = {}
    for value in values("Environment"):
        for assignment in shlex.split(value):
            key, _, v = assignment.partition("=")
            out[key] = v
    return out


def command(line):
    """An Exec line's argv and whether a failure is ignored ('-' prefix).
    A word `$NAME` is the unit's Environment= value split at whitespace, as
    systemd expands it."""
    ignore = False
    while line[:1] in ("-", "@", "+", "!", ":"):
        ignore |= line[0] == "-"
        line = line[1:]
    env = environment()
    argv = []
    for word in shlex.split(line):
        if word.startswith("$") and not word.startswith("$$") and word[1:] in env:
            argv += env[word[1:]].split()
        else:
            # systemd's own escape: "$$" is a literal "$".
            argv.append(word.replace("$$", "$"))
    return argv, ignore


# Outside systemd, the unit's `systemctl` questions get the answers of a
# unit with an empty fd store and no job: what a start after a crash with
# nothing stored sees. (test_systemd_real.py asks a real systemd.)
SYSTEMCTL_STUB = """#!/bin/sh
case "$1" in show) echo 0 ;; esac
"""


@pytest.fixture
def unit_bin_dir():
    """A folder holding the built daemon, to stand in for /usr/local/bin,
    and a `systemctl` stand-in (see SYSTEMCTL_STUB)."""
    d = tempfile.mkdtemp(prefix="swl-deploy-unit-bin-")
    shutil.copy2(BIN, os.path.join(d, "swift-lxcfs"))
    with open(os.path.join(d, "systemctl"), "w") as f:
        f.write(SYSTEMCTL_STUB)
    os.chmod(os.path.join(d, "systemctl"), 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_unit_declares_the_service_contract():
    entries = {(s, k): v for s, k, v in unit_entries()}
    assert entries[("Service", "Type")] == "notify"
    # The connection outlives the daemon: restarted whatever ended it, from
    # the fd store ("fuse" and "state"), and never given up on.
    assert entries[("Service", "Restart")] == "always"
    assert int(entries[("Service", "FileDescriptorStoreMax")]) >= 2
    assert entries[("Unit", "StartLimitIntervalSec")] == "0"
    # systemd 252 (Debian bookworm) does not know this key: it must not be there.
    assert ("Service", "FileDescriptorStorePreserve") not in entries
    assert entries[("Service", "KillMode")] in ("mixed", "control-group")
    assert "local-fs.target" in entries[("Unit", "After")].split()
    pre = [command(v) for v in values("ExecStartPre")]
    clear = "fusermount3 -u -z /var/lib/lxcfs"
    # One step: a stale mount is detached only while the store is empty.
    assert len(pre) == 1 and pre[0][1] and clear in " ".join(pre[0][0])
    assert "NFileDescriptorStore" in " ".join(pre[0][0])
    stop_post = " ".join(command(values("ExecStopPost")[0])[0])
    assert clear in stop_post and "list-jobs" in stop_post
    argv, _ = command(values("ExecStart")[0])
    assert argv[0] == "/usr/local/bin/swift-lxcfs" and argv[-1] == "/var/lib/lxcfs"
    # The flags in one place: SWIFT_LXCFS_ARGS, CPU limits shown by default,
    # overridden from /etc/default/swift-lxcfs.
    assert "$SWIFT_LXCFS_ARGS" in values("ExecStart")[0].split()
    assert {"--enable-cfs", "-l"} <= set(argv), argv
    assert values("EnvironmentFile") == ["-/etc/default/swift-lxcfs"]
    assert values("ExecReload") == []  # left out on purpose: the unit says why
    assert "No ExecReload" in open(UNIT).read()
    assert "swift-lxcfs reattach" in open(UNIT).read()  # issue 11's place


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_analyze_verify_passes(unit_bin_dir):
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-ec",
                        f"mount --bind {unit_bin_dir} /usr/local/bin; exec systemd-analyze verify {UNIT}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "swift-lxcfs.service" not in r.stderr, r.stderr


def listen(kind, tmp_path):
    """A datagram socket as systemd's NOTIFY_SOCKET: a path or an abstract name."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "abstract":
        name = f"@swl-deploy-notify-{os.getpid()}-{id(s)}"
        s.bind("\0" + name[1:])
    else:
        name = str(tmp_path / "notify.sock")
        s.bind(name)
    s.settimeout(60)
    return s, name


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_exec_start_sends_ready_only_once_the_mount_serves(kind, unit_bin_dir, tmp_path):
    sock, name = listen(kind, tmp_path)
    pre = [command(v) for v in values("ExecStartPre")]
    start, _ = command(values("ExecStart")[0])
    mnt = "/var/lib/lxcfs"
    assert mnt in start
    # Inside a private mount namespace: the unit's binary path, an empty
    # /var/lib (so /var/lib/lxcfs does not exist yet) and a /run of its own.
    # A daemon killed with SIGKILL first leaves the stale mount a crash leaves.
    lines = [
        "set -e",
        f"mount --bind {unit_bin_dir} /usr/local/bin",
        "mount -t tmpfs swl-deploy-var-lib /var/lib",
        "mount -t tmpfs swl-deploy-run /run",
        f"mkdir -p {mnt}",
        # An administrator's bind mount (say, made shared for containers):
        # clearing the stale FUSE mount must keep it.
        f"mount --bind {mnt} {mnt}",
        f"/usr/local/bin/swift-lxcfs -p /run/crashed.pid {mnt} & crashed=$!",
        f"while ! grep -q ' {mnt} .* - fuse' /proc/self/mountinfo; do sleep 0.05; done",
        "kill -KILL $crashed; wait $crashed || true",
        f"if stat {mnt}/proc >/dev/null 2>&1; then echo 'mount still answers'; exit 1; fi",
        "echo stale-mount-made",
    ]
    for argv, ignore in pre:
        argv = [a.replace("%n", "swift-lxcfs.service") for a in argv]
        lines.append("PATH=/usr/local/bin:$PATH " + shlex.join(argv) + (" || true" if ignore else ""))
    lines += [
        f"if grep -q ' {mnt} .* - fuse' /proc/self/mountinfo; then echo 'stale mount left'; exit 1; fi",
        f"grep -q ' {mnt} .* - tmpfs' /proc/self/mountinfo || {{ echo 'bind mount lost'; exit 1; }}",
        "echo pre-start-done",
        "exec env NOTIFY_SOCKET=" + shlex.quote(name) + " " + shlex.join(start),
    ]
    log = open(tmp_path / "unit.log", "w+")
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", "\n".join(lines)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        # The fd store first (FDSTORE=1 for "fuse" and "state", each with
        # its descriptor), then READY=1.
        stored = []
        while True:
            try:
                message, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
            except socket.timeout:
                log.seek(0)
                pytest.fail("no READY=1 within 60 s: " + log.read())
            message = message.decode()
            fds = [fd for level, kind, data in anc if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
                   for fd in array.array("i", data[:len(data) - len(data) % 4])]
            for fd in fds:
                os.close(fd)
            fields = dict(line.split("=", 1) for line in message.splitlines() if "=" in line)
            if fields.get("FDSTORE") == "1":
                assert len(fds) == 1, message
                stored.append(fields.get("FDNAME"))
            if "READY" in fields:
                break
        assert sorted(stored) == ["fuse", "state"], stored
        assert fields.get("READY") == "1", message
        assert fields.get("MAINPID") == str(proc.pid)
        # At the moment READY=1 arrives the mount already serves files: read
        # one through the daemon's own mount namespace.
        served = f"/proc/{proc.pid}/root{mnt}/proc/meminfo"
        with open(served) as f:
            assert f.read().startswith("MemTotal:")
        with open(f"/proc/{proc.pid}/root/run/swift-lxcfs.pid") as f:
            assert f.read().strip() == str(proc.pid)
        # The start runs the reattach step (README, "Repairing containers").
        wait_for(lambda: "reattach: " in open(tmp_path / "unit.log").read(), what="the reattach step's summary")
        log.seek(0)
        text = log.read()
        assert "stale-mount-made" in text and "pre-start-done" in text, text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        sock.settimeout(5)
        # The final stop empties the store, and says so.
        after = [sock.recv(4096).decode() for _ in range(3)]
        assert any("STOPPING=1" in m for m in after), after
        assert sorted(m.split("FDNAME=")[1].split()[0] for m in after if "FDSTOREREMOVE=1" in m) == ["fuse", "state"], after
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        log.close()

