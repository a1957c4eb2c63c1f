"""The container's cgroup on real v1 cgroups: a process in a new pid
namespace (unshare --pid --fork) is the init, in the container cgroup's
init.scope; readers in a sub-cgroup with its own lower limits read through
a real mount and see the container's limits (../shared/cases/README.md,
"The view is the container's"). A reader in the same sub-cgroup but in the
host's pid namespace keeps its own.

Tree (under conftest's PREFIX):
    cc-outer            memory 400 MiB, cpuset 0-1     (above the container)
    cc-outer/ctr        the container: no limit of its own
    cc-outer/ctr/init.scope   the init of the pid namespace
    cc-outer/ctr/svc    memory 128 MiB, cpuset 0, CFS quota 0.5 CPU
    cc-outer/ctr/svc/leaf     the readers
"""
import contextlib
import os
import re
import shutil
import subprocess

import pytest

from conftest import CGROOT, MIB, PREFIX, Cgroup, host_online_cpus, wait_for

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("nsenter") is None,
                                reason="needs unshare and nsenter (util-linux)")


def kb(text, key):
    m = re.search(rf"^{re.escape(key)}:\s+(\d+) kB$", text, re.M)
    assert m, f"no {key} in {text[:300]!r}"
    return int(m.group(1))


def cpu_lines(text):
    return re.findall(r"^cpu\d+ ", text, re.M)


def test_readers_below_the_init_see_the_containers_limits(start_daemon, tmp_path):
    two = host_online_cpus() >= 2
    d = start_daemon("--enable-cfs")
    made = []
    init = None
    ns_init = None
    try:
        outer = Cgroup("cc-outer", memory=400 * MIB, cpus="0-1" if two else None)
        made.append(outer)
        ctr = Cgroup("cc-outer/ctr")
        made.append(ctr)
        scope = Cgroup("cc-outer/ctr/init.scope")
        made.append(scope)
        svc = Cgroup("cc-outer/ctr/svc", memory=128 * MIB, cpus="0", quota=50000, period=100000)
        made.append(svc)
        leaf = Cgroup("cc-outer/ctr/svc/leaf")
        made.append(leaf)
        files = " ".join(d.path(p) for p in ("proc/meminfo", "proc/stat", "sys/devices/system/cpu/online"))
        # Reader A is a child of the init that moves itself into leaf (every
        # controller) and reads; the init then stays as the namespace's pid 1.
        move = "; ".join(f"echo $$ > {dir_}/cgroup.procs" for dir_ in leaf.dirs.values())
        out_a = tmp_path / "a.out"
        done = tmp_path / "a.done"
        script = (f"sh -c '{move}; cat /proc/self/cgroup; exec cat {files}' > {out_a} 2>&1; "
                  f"echo $$ > {done}; exec sleep 600")
        init = subprocess.Popen(["unshare", "--pid", "--fork", "sh", "-c", script], preexec_fn=scope.preexec())
        wait_for(lambda: done.exists() and done.read_text().strip(), timeout=30, what="reader A")
        assert done.read_text().strip() == "1", "the init is not pid 1 of its namespace"
        ns_init = int(open(f"/proc/{init.pid}/task/{init.pid}/children").read().split()[0])
        assert open(f"/proc/{ns_init}/cgroup").read().count("/cc-outer/ctr/init.scope") >= 3
        a = out_a.read_text()
        # The reader really was in leaf, whose own limits are lower.
        assert re.search(r"^\d+:memory:/.*/cc-outer/ctr/svc/leaf$", a, re.M), a
        # Reader B enters the namespace from outside, as `docker exec` does.
        r = subprocess.run(["nsenter", "-t", str(ns_init), "-p", "--", "sh", "-c", f"cat {files}"],
                           capture_output=True, text=True, timeout=30, preexec_fn=leaf.preexec())
        assert r.returncode == 0, r.stderr
        b = r.stdout
        for name, text in (("child of the init", a), ("entered with nsenter", b)):
            # The container's limit is cc-outer's 400 MiB, not svc's 128 MiB.
            assert kb(text, "MemTotal") == 400 * 1024, (name, text[:400])
            assert 0 < kb(text, "MemFree") <= 400 * 1024, name
            # The container's cpuset 0-1 and no quota: neither svc's cpuset 0 nor its 0.5 CPU.
            want = 2 if two else 1
            assert len(cpu_lines(text)) == want, (name, cpu_lines(text))
            assert text.endswith("0-1\n" if two else "0\n"), (name, text[-20:])
        # The same sub-cgroup, read by a process in the host's pid namespace: its own limits.
        r = leaf.run(["cat", *files.split()])
        assert r.returncode == 0, r.stderr
        assert kb(r.stdout, "MemTotal") == 128 * 1024, r.stdout[:300]
        assert len(cpu_lines(r.stdout)) == 1 and r.stdout.endswith("\n0\n")
    finally:
        for pid in (ns_init, init.pid if init else None):
            if pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        if init:
            init.wait()
        for cg in reversed(made):
            cg.remove()
        for c in Cgroup.CONTROLLERS:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(CGROOT, c, PREFIX))
