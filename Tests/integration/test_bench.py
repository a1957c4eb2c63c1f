"""The benchmark (scripts/bench.sh -> bench/bench.py) in its quickest form:
one file, one reader, one short run per target. It measures nothing here; it
checks that the benchmark still starts its servers, reads through each of
them from a reader in its own cgroup, prints its table and cleans up."""
import json
import os
import subprocess
import sys

from conftest import BIN, CGROOT

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PARENT = "swl-bench-pytest"


def test_quickest_benchmark_prints_its_table(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "bench.py"), "--quick",
         "--seconds", "0.2", "--reps", "1", "--readers", "1", "--scales", "1",
         "--files", "proc/uptime", "--memory-reads", "10000",
         "--binary", BIN, "--tools", str(tmp_path / "tools"), "--out", str(out),
         "--cgroup-parent", PARENT],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    main = run.stdout.split("### Throughput and latency", 1)[1].split("###", 1)[0]
    rows = [l for l in main.splitlines() if l.startswith("| proc/uptime | 1 |")]
    assert len(rows) == 1 and len(rows[0].split("|")) == 13, run.stdout
    assert "### Targets" in run.stdout
    res = json.load(open(out / "latest.json"))
    cell = res["results"]["1"]["proc/uptime"]["1"]
    for target in ("host", "floor", "lxcfs", "swift"):
        assert cell[target]["reads_per_s"] > 0, (target, cell)
        assert cell[target]["errors"] == 0, (target, cell)
    mem = res["memory"]
    assert mem["reads_total"] == 10000 and mem["errors"] == 0
    assert len(mem["checkpoints"]) == 10
    assert 0 < mem["peak_rss_kib"] < 1024 * 1024
    # Nothing left behind: no cgroups, no mounts.
    for c in ("memory", "cpu", "cpuacct", "cpuset"):
        assert not os.path.exists(os.path.join(CGROOT, c, PARENT))
    assert f"/{PARENT}-" not in open("/proc/self/mountinfo").read()
