"""Re-reading an open file from offset 0 renders it again, as lxcfs does.

procps `top` (and libproc2 in general) opens /proc/stat and /proc/meminfo
once and re-reads them from offset 0 on every refresh; a file frozen at open
would show a stale view forever. The VM test (test_vm_cgroup2.py) showed it
with a real `top`; this is the same behaviour on this host's cgroup v1.
"""
import subprocess
import sys

MIB = 1024 * 1024

# Runs inside the cgroup: opens the file, reads it from offset 0, waits for a
# line on stdin, reads the same descriptor from offset 0 again, then reads
# from offset 5 (which must come from that second rendering).
READER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.pread(fd, 65536, 0)
print(first.split(b"\n")[0].decode(), flush=True)
sys.stdin.readline()
second = os.pread(fd, 65536, 0)
print(second.split(b"\n")[0].decode(), flush=True)
print(os.pread(fd, 10, 5) == second[5:15], flush=True)
"""


def test_read_at_offset_zero_renders_again(start_daemon, cgroups):
    d = start_daemon()
    cg = cgroups("swl-vm-reread", memory=300 * MIB)
    reader = subprocess.Popen([sys.executable, "-c", READER, d.path("proc/meminfo")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              preexec_fn=cg.preexec())
    try:
        first = reader.stdout.readline().split()
        assert first == ["MemTotal:", str(300 * 1024), "kB"]
        cg.write("memory", "memory.limit_in_bytes", 200 * MIB)
        reader.stdin.write("go\n")
        reader.stdin.flush()
        second = reader.stdout.readline().split()
        assert second == ["MemTotal:", str(200 * 1024), "kB"]
        assert reader.stdout.readline().strip() == "True"
    finally:
        reader.kill()
        reader.wait()
