"""The shipped deployments' daemon flags, run on this host: the DaemonSet's
container `args:` and the systemd unit's SWIFT_LXCFS_ARGS start the daemon,
and a reader with a 500m CPU limit and no cpuset of its own (a Kubernetes
pod's usual limits) sees 1 CPU in cpuinfo and cpu/online, while nproc,
which counts its affinity mask, still sees the host's CPUs (README,
"Limitations").
"""
import os
import shlex

import pytest
import yaml

from conftest import host_online_cpus
from deploy_support import REPO
from test_systemd import command, values


def daemonset_args():
    docs = yaml.safe_load_all(open(os.path.join(REPO, "deploy", "kubernetes", "swift-lxcfs.yaml")))
    ds = next(d for d in docs if d and d["kind"] == "DaemonSet")
    return ds["spec"]["template"]["spec"]["containers"][0]["args"]


def unit_args():
    # ExecStart's words between the pidfile and the mount point, $SWIFT_LXCFS_ARGS expanded.
    argv, _ = command(values("ExecStart")[0])
    return argv[3:-1]


@pytest.mark.parametrize("flags", [daemonset_args, unit_args], ids=["daemonset", "systemd"])
def test_a_500m_limit_shows_as_one_cpu_with_the_shipped_flags(flags, start_daemon, cgroups):
    if host_online_cpus() < 2:
        pytest.skip("needs 2 CPUs to tell the quota from the host")
    args = flags()
    assert "--enable-cfs" in args, args
    d = start_daemon(*args, "--no-reattach")
    pod = cgroups("deploy-flags-500m", quota=50000, period=100000)
    r = pod.run(["sh", "-c", f"grep -c ^processor {shlex.quote(d.path('proc/cpuinfo'))}; "
                             f"cat {shlex.quote(d.path('sys/devices/system/cpu/online'))}; nproc"])
    assert r.returncode == 0, r.stderr
    processors, online, nproc = r.stdout.split()
    assert (processors, online) == ("1", "0"), r.stdout
    assert int(nproc) == host_online_cpus(), r.stdout
