"""Crash under load through the supervisor: `swift-lxcfs supervise` serves a
real mount; 64 readers in 8 v1 cgroups with different limits read every
served file in loops for 60 s while the serving process (the supervisor's
child) is SIGKILLed 20 times at random moments. No read may fail, be empty
or cut off, or block for 2 s; every reader always sees its own limits; the
mount keeps its st_dev (the same superblock) throughout. Then SIGTERM to
the supervisor unmounts.
"""
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import BIN, wait_for
from load_support import ReaderGroup, assert_clean

SECONDS = 60
KILLS = 20


def children(pid):
    try:
        return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except FileNotFoundError:
        return []


def mounted(mnt):
    return any(line.split()[4] == str(mnt) and " - fuse" in line for line in open("/proc/self/mountinfo"))


def serves(mnt):
    """Whether the mount answers, asked from a process of its own that is
    killed after 5 s: a connection held with no server behind it makes every
    access wait, and a test must fail then, not hang."""
    try:
        r = subprocess.run(["head", "-c", "9", os.path.join(mnt, "proc", "meminfo")], capture_output=True,
                           timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return r.stdout == b"MemTotal:"


def device(mnt):
    """The mount's st_dev, asked as `serves` asks (None when it does not answer)."""
    try:
        r = subprocess.run(["stat", "-c", "%d", mnt], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return None
    return int(r.stdout) if r.returncode == 0 else None


@pytest.fixture
def supervised(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    log = open(tmp_path / "supervise.log", "w+")
    proc = subprocess.Popen([BIN, "supervise", "-p", str(tmp_path / "daemon.pid"), str(mnt)],
                            stdout=log, stderr=subprocess.STDOUT)

    def output():
        log.flush()
        log.seek(0)
        return log.read()

    try:
        wait_for(lambda: serves(mnt) or proc.poll() is not None, timeout=30, what="the supervised mount")
        assert proc.poll() is None, output()
        yield proc, str(mnt), output
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
        log.close()


def test_sigkill_of_the_server_under_load_fails_no_read(supervised, cgroups):
    proc, mnt, output = supervised
    dev = device(mnt)
    readers = ReaderGroup(cgroups, mnt, SECONDS, expect_dev=dev)
    rng = random.Random()
    killed = []
    try:
        start = time.monotonic()
        deadline = start + SECONDS - 3
        for i in range(KILLS):
            # Random moments spread over the run, each after the previous
            # server is up again (a new child that answers): the time left
            # split in equal slots, a random part of the next slot waited.
            slot = (deadline - time.monotonic()) / (KILLS - i)
            time.sleep(max(0.05, rng.uniform(0.3, 0.9) * slot))
            (child,) = children(proc.pid) or [None]
            assert child, f"no server running before kill {i + 1}:\n{output()[-3000:]}"
            os.kill(child, signal.SIGKILL)
            killed.append(child)
            wait_for(lambda: (children(proc.pid) or [child])[0] != child and serves(mnt), timeout=10,
                     what=f"a new server after kill {i + 1}")
            assert device(mnt) == dev
        assert time.monotonic() - start < SECONDS, "the kills took longer than the readers read"
        results = readers.results(timeout=SECONDS + 60)
    finally:
        readers.kill()
    summary = assert_clean(results, output()[-3000:])
    print(summary)
    assert len(killed) == KILLS
    assert device(mnt) == dev
    assert proc.poll() is None
    # The final stop unmounts and ends the supervisor with 0.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not mounted(mnt)
