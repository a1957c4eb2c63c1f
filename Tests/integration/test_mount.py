"""The mount itself: layout, modes, refusals, start and stop."""
import errno
import os
import stat
import subprocess

import pytest

from conftest import BIN, Daemon

FILES = ["proc/meminfo", "proc/cpuinfo", "proc/stat", "proc/uptime", "proc/swaps", "proc/loadavg",
         "sys/devices/system/cpu/online", "sys/devices/system/cpu/possible", "sys/devices/system/cpu/present"]


def test_layout_and_modes(start_daemon):
    d = start_daemon()
    assert sorted(os.listdir(d.mountpoint)) == ["proc", "sys"]
    pressure = ["pressure"] if os.path.isdir("/proc/pressure") else []
    assert sorted(os.listdir(d.path("proc"))) == sorted(
        ["cpuinfo", "diskstats", "loadavg", "meminfo", "slabinfo", "stat", "swaps", "uptime"] + pressure)
    listed = os.listdir(d.path("sys/devices/system/cpu"))
    assert {"online", "possible", "present", "offline"} <= set(listed)
    for rel in FILES:
        st = os.stat(d.path(rel))
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444, rel
        assert st.st_uid == 0 and st.st_gid == 0
        assert open(d.path(rel)).read(), rel
    for rel in ["proc", "sys", "sys/devices/system/cpu"]:
        st = os.stat(d.path(rel))
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o555


def test_writes_and_changes_are_refused(start_daemon):
    d = start_daemon()
    with pytest.raises(OSError) as e:
        open(d.path("proc/meminfo"), "w")
    assert e.value.errno in (errno.EACCES, errno.EROFS)
    for op in (lambda: os.truncate(d.path("proc/meminfo"), 0),
               lambda: open(d.path("proc/new"), "w"),
               lambda: os.mkdir(d.path("proc/dir")),
               lambda: os.unlink(d.path("proc/meminfo")),
               lambda: os.chmod(d.path("proc/meminfo"), 0o666)):
        with pytest.raises(OSError) as e:
            op()
        assert e.value.errno in (errno.EACCES, errno.EROFS)
    with pytest.raises(FileNotFoundError):
        open(d.path("proc/nosuchfile"))


def test_reads_at_offsets_come_from_one_snapshot(start_daemon):
    d = start_daemon()
    with open(d.path("proc/meminfo"), "rb") as f:
        whole = b""
        while chunk := f.read(7):
            whole += chunk
    assert whole.startswith(b"MemTotal:") and whole.endswith(b"\n")
    fd = os.open(d.path("proc/stat"), os.O_RDONLY)
    try:
        first = os.pread(fd, 65536, 0)
        assert os.pread(fd, 10, 5) == first[5:15]
    finally:
        os.close(fd)


def test_sigterm_unmounts_and_exits_zero(tmp_path):
    mnt = tmp_path / "m"
    mnt.mkdir()
    d = Daemon(str(mnt))
    assert d.stop() == 0
    assert not os.path.ismount(mnt)
    assert not os.path.exists(d.pidfile)


def test_refuses_a_busy_mount_point_and_a_held_pidfile(start_daemon, tmp_path):
    d = start_daemon()
    r = subprocess.run([BIN, "-p", str(tmp_path / "other.pid"), d.mountpoint], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "already mounted" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    other = tmp_path / "other"
    other.mkdir()
    r = subprocess.run([BIN, "-p", d.pidfile, str(other)], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "pidfile" in r.stderr
    assert not os.path.ismount(other)


def test_creates_a_missing_mount_point(start_daemon, tmp_path):
    d = start_daemon(name="deep")
    assert os.path.ismount(d.mountpoint)
    mnt = tmp_path / "a" / "b"
    d2 = Daemon(str(mnt))
    try:
        assert os.path.ismount(mnt)
    finally:
        d2.stop()


def test_bad_command_line_is_one_sentence(tmp_path):
    r = subprocess.run([BIN, "render", "--pid", "1", "/proc/nonsense"], capture_output=True, text=True)
    assert r.returncode != 0 and r.stderr.count("\n") == 1
    for args in (["--bogus"], ["render", "--pid", "x", "/proc/meminfo"], ["relative/mountpoint"]):
        r = subprocess.run([BIN, "-p", str(tmp_path / "p.pid"), *args], capture_output=True, text=True, timeout=20)
        assert r.returncode != 0, args
        assert r.stderr.startswith("swift-lxcfs: ") and r.stderr.count("\n") == 1, r.stderr
    for flag in ("--version", "-v"):
        r = subprocess.run([BIN, flag], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.strip()
