"""PSI triggers through a real mount on this cgroup v1 host.

Without --enable-psi-poll, a pressure file opened for writing gets EACCES,
and a poll(2) on a read-only one is answered as a regular file would be
(POLLIN|POLLRDNORM) and never with ENOSYS: ENOSYS makes the kernel stop
sending polls for the whole connection (lxc/lxcfs #726) and answer every
later poll itself with its DEFAULT_POLLMASK, which includes POLLOUT. With
the flag on v1 (no container cgroup on the unified hierarchy), the open
for writing fails with EOPNOTSUPP. Triggers that fire are checked in the
cgroup v2 VM (scripts/vm/init.sh)."""
import errno
import os
import re
import select

import pytest

from conftest import wait_for

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/pressure"), reason="no /proc/pressure (PSI off)")

RESOURCES = ("cpu", "io", "memory")
LINE = re.compile(r"^some avg10=\d+\.\d\d avg60=\d+\.\d\d avg300=\d+\.\d\d total=\d+$")


def open_error(path, flags):
    try:
        fd = os.open(path, flags)
    except OSError as e:
        return e.errno
    os.close(fd)
    return 0


def poll_once(fd, events):
    p = select.poll()
    p.register(fd, events)
    return dict(p.poll(2000)).get(fd, 0)


def check_reads(d):
    for res in RESOURCES:
        with open(d.path(f"proc/pressure/{res}")) as f:
            assert LINE.match(f.read().splitlines()[0]), res


def check_poll_is_a_regular_files(d):
    """A poll(2) on each read-only pressure file reports readable, from the
    daemon (no POLLOUT, which only the kernel's own fallback after an ENOSYS
    would add), twice on the same handle; reads keep working."""
    for res in RESOURCES:
        fd = os.open(d.path(f"proc/pressure/{res}"), os.O_RDONLY | os.O_NONBLOCK)
        try:
            for _ in range(2):
                # POLLOUT asked too: poll(2) drops what was not asked for.
                revents = poll_once(fd, select.POLLIN | select.POLLPRI | select.POLLOUT)
                assert revents & select.POLLIN, (res, revents)
                assert not revents & (select.POLLOUT | select.POLLPRI | select.POLLERR), (res, revents)
            assert LINE.match(os.read(fd, 4096).decode().splitlines()[0]), res
        finally:
            os.close(fd)
        check_reads(d)


def test_without_the_flag_writing_is_refused_and_poll_leaves_reads_working(start_daemon):
    d = start_daemon()
    for res in RESOURCES:
        path = d.path(f"proc/pressure/{res}")
        assert open_error(path, os.O_WRONLY) == errno.EACCES, res
        assert open_error(path, os.O_RDWR | os.O_NONBLOCK) == errno.EACCES, res
    check_poll_is_a_regular_files(d)
    # Other files still answer polls from the daemon too.
    fd = os.open(d.path("proc/meminfo"), os.O_RDONLY)
    try:
        revents = poll_once(fd, select.POLLIN | select.POLLOUT)
        assert revents & select.POLLIN and not revents & select.POLLOUT, revents
    finally:
        os.close(fd)
    assert d.proc.poll() is None


def test_with_the_flag_on_v1_writing_fails_cleanly(start_daemon, cgroups):
    d = start_daemon("--enable-psi-poll")
    # A reader in a v1 container cgroup, and the test itself (host cgroups).
    cg = cgroups("swl-psi-v1")
    probe = ("import os,errno,sys\n"
             "for res in ('cpu','io','memory'):\n"
             "    for flags in (os.O_WRONLY, os.O_RDWR|os.O_NONBLOCK):\n"
             "        try: os.close(os.open(sys.argv[1]+'/proc/pressure/'+res, flags)); print(res, 0)\n"
             "        except OSError as e: print(res, e.errno)\n")
    r = cg.run(["python3", "-c", probe, d.mountpoint])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:-1] == [f"{res} {errno.EOPNOTSUPP}" for res in RESOURCES for _ in range(2)], r.stdout
    for res in RESOURCES:
        assert open_error(d.path(f"proc/pressure/{res}"), os.O_RDWR) == errno.EOPNOTSUPP, res
    check_poll_is_a_regular_files(d)
    assert d.proc.poll() is None
