"""The Docker ways to run swift-lxcfs, for real, with a private Docker engine
(its own data root, socket and cgroup parent; no iptables, no bridge):

- containers that bind the served files see their own limits and uptime;
- the Kubernetes DaemonSet's start script, in the runtime image built from
  ./Dockerfile with the pod's privileges, mounts for a second container;
- Dockerfile.test builds and runs the FUSE mount and limits tests inside a
  container (the whole suite with SWIFT_LXCFS_CONTAINER_SUITE=full,
  scripts/test-in-container.sh).

Images come from debootstrap root filesystems (no registry is reachable),
cached under .cache/ within one checkout. Skipped where
SWIFT_LXCFS_SKIP_DOCKER=1 (inside Dockerfile.test's container).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import yaml

from conftest import BIN, PREFIX, Daemon, wait_for
from load_support import assert_clean, parse_result, reader_command
from deploy_support import (CGROUP_PARENT, LXCFS_DIRECTORIES, MINBASE_IMAGE, REPO, SERVED_FILES, SWIFT_BASE_IMAGE,
                            DockerEngine, bind_flags, host_uptime, docker_tests_skipped, inspect, make_rootfs,
                            privileged_flags, run)

pytestmark = [
    pytest.mark.skipif(docker_tests_skipped(), reason="SWIFT_LXCFS_SKIP_DOCKER=1 (inside Dockerfile.test)"),
    pytest.mark.skipif(shutil.which("dockerd") is None or shutil.which("debootstrap") is None,
                       reason="needs dockerd and debootstrap (scripts/install-deps.sh --test)"),
]

RUNTIME_IMAGE = "swl-deploy/swift-lxcfs"
TEST_IMAGE = "swl-deploy/swift-lxcfs-test"
# The minbase image with sysstat (mpstat); lscpu is in minbase (util-linux).
TOOLS_IMAGE = "swl-deploy/bookworm-sysstat"
# Left out of the in-container run, with its reason: in the container the
# reader cgroup of lxcfs's --enable-cfs comparison has too little CPU time
# for the documented stat cpu*.user difference to show, so this check that
# the difference is seen fails there (it passes on the host).
CONTAINER_DESELECT = ["--deselect", "Tests/integration/test_lxcfs_parity.py::test_the_comparison_sees_known_differences"]
# The suite inside the container runs in this engine's cgroup parent, so its
# own cgroup names must differ: else its reattach step (limited to the test
# cgroups by SWIFT_LXCFS_REATTACH_CGROUPS) counts the container's own mount
# namespace among the test's.
CONTAINER_ENV = ["-e", f"SWIFT_LXCFS_CGROUP_PREFIX={PREFIX}-inner",
                 "-e", f"SWIFT_LXCFS_DOCKER_CGROUP_PARENT={CGROUP_PARENT}-inner"]
HERE = os.path.dirname(os.path.abspath(__file__))
SWIFT_PATH = "PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def engine():
    e = DockerEngine()
    try:
        e.import_rootfs(make_rootfs("minbase"), MINBASE_IMAGE)
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def tools_image(engine):
    if not engine.has_image(TOOLS_IMAGE):
        dockerfile = (f"FROM {MINBASE_IMAGE}\n"
                      "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                      "--no-install-recommends sysstat >/dev/null && rm -rf /var/lib/apt/lists/*\n")
        engine.docker("build", "--network", "host", "-t", TOOLS_IMAGE, "-", input=dockerfile, timeout=900)
    return TOOLS_IMAGE


@pytest.fixture(scope="module")
def swift_base(engine):
    engine.import_rootfs(make_rootfs("swift"), SWIFT_BASE_IMAGE, changes=[f"ENV {SWIFT_PATH}"])
    return SWIFT_BASE_IMAGE


@pytest.fixture(scope="module")
def runtime_image(engine, swift_base):
    engine.build("-f", "Dockerfile", "-t", RUNTIME_IMAGE,
                 "--build-arg", f"SWIFT_IMAGE={swift_base}", "--build-arg", f"RUNTIME_IMAGE={MINBASE_IMAGE}",
                 REPO, timeout=2400)
    return RUNTIME_IMAGE


@pytest.fixture
def names(engine):
    """Container names for one test; removed at its end."""
    made = []

    def name(suffix):
        n = f"swl-deploy-{suffix}-{os.getpid()}"
        made.append(n)
        return n

    yield name
    if made:
        engine.docker("rm", "-f", *made, check=False)


def field(text, pattern):
    m = re.search(pattern, text, re.M)
    assert m, f"{pattern!r} not in:\n{text}"
    return m.group(1)


def read_view(engine, name):
    """What the tools in container `name` report, after bind mounts."""
    out = {}
    out["free"] = engine.docker("exec", name, "free", "-k").stdout
    out["top"] = engine.docker("exec", name, "top", "-bn1").stdout
    out["processors"] = int(engine.docker("exec", name, "grep", "-c", "^processor", "/proc/cpuinfo").stdout)
    out["uptime"] = float(engine.docker("exec", name, "cat", "/proc/uptime").stdout.split()[0])
    out["cpu_count"] = int(engine.docker("exec", name, "python3", "-c", "import os; print(os.cpu_count())").stdout)
    out["online"] = engine.docker("exec", name, "cat", "/sys/devices/system/cpu/online").stdout.strip()
    # lscpu and mpstat count the cpuN folders of the bound cpu tree.
    out["lscpu"] = int(field(engine.docker("exec", name, "lscpu").stdout, r"^CPU\(s\):\s+(\d+)"))
    out["lscpu_online"] = field(engine.docker("exec", name, "lscpu").stdout, r"^On-line CPU\(s\) list:\s+(\S+)")
    out["lscpu_rows"] = len([line for line in engine.docker("exec", name, "lscpu", "-p=CPU").stdout.splitlines()
                             if not line.startswith("#")])
    out["mpstat"] = int(field(engine.docker("exec", name, "mpstat", "-P", "ALL", "1", "1").stdout, r"\((\d+) CPU\)"))
    return out


def test_two_containers_see_their_own_limits_and_uptime(engine, tools_image, names, tmp_path):
    mnt = tmp_path / "lxcfs"
    mnt.mkdir()
    daemon = Daemon(str(mnt))
    try:
        started_at = host_uptime()
        a, b = names("small"), names("large")
        # One binds read-only (as the webhook and the CDI spec do), one read-write (as the README).
        engine.docker("run", "-d", "--name", a, "-m", "256m", "--cpus", "0.5", "--cpuset-cpus", "0",
                      *bind_flags(str(mnt), mode="ro"), tools_image, "sleep", "infinity")
        engine.docker("run", "-d", "--name", b, "-m", "512m", "--cpuset-cpus", "0-1",
                      *bind_flags(str(mnt)), tools_image, "sleep", "infinity")
        # Both run at once and live in cgroups under this engine's parent.
        assert inspect(engine, a)["State"]["Running"] and inspect(engine, b)["State"]["Running"]
        assert f"/{CGROUP_PARENT}/" in engine.docker("exec", a, "cat", "/proc/self/cgroup").stdout
        small, large = read_view(engine, a), read_view(engine, b)
        now = host_uptime()

        assert int(field(small["free"], r"^Mem:\s+(\d+)")) == 256 * 1024
        assert field(small["top"], r"MiB Mem :\s+([\d.]+) total") == "256.0"
        assert small["processors"] == 1 and small["cpu_count"] == 1 and small["online"] == "0"
        assert (small["lscpu"], small["lscpu_online"], small["lscpu_rows"], small["mpstat"]) == (1, "0", 1, 1), small
        assert int(field(large["free"], r"^Mem:\s+(\d+)")) == 512 * 1024
        assert field(large["top"], r"MiB Mem :\s+([\d.]+) total") == "512.0"
        host_cpus = os.cpu_count()
        assert large["processors"] == min(2, host_cpus) and large["cpu_count"] == min(2, host_cpus)
        assert large["lscpu"] == large["lscpu_rows"] == large["mpstat"] == min(2, host_cpus), large
        # Each container's uptime counts from its own start, which came after
        # `started_at` on the host's clock; the host's own is far longer.
        for view in (small, large):
            assert 0 <= view["uptime"] <= now - started_at + 1.0, (view["uptime"], now, started_at)
            assert view["uptime"] < now - 1.0
        # Every bound file reads through the mount inside the container, and
        # swaps agrees with the container's meminfo (no swap on 256m without memsw).
        # (diskstats may be empty: a container with no I/O has no lines.)
        for rel in SERVED_FILES:
            path = f"/{rel}/online" if rel in LXCFS_DIRECTORIES else f"/{rel}"
            got = engine.docker("exec", a, "cat", path, check=False)
            assert got.returncode == 0, (rel, got.stderr)
            assert got.stdout or rel == "proc/diskstats", rel
        # runc made the read-only binds read-only: a write fails before it reaches the daemon.
        write = engine.docker("exec", a, "sh", "-c", "(echo 1 >/proc/meminfo) 2>&1 || true").stdout
        assert "Read-only file system" in write, write
        assert "Permission denied" in engine.docker("exec", b, "sh", "-c", "(echo 1 >/proc/meminfo) 2>&1 || true").stdout
        swaps = engine.docker("exec", a, "cat", "/proc/swaps").stdout.splitlines()
        assert swaps[0].startswith("Filename")
        # Without the bind mounts the same container sees the host.
        plain = engine.docker("run", "--rm", "-m", "256m", "--cpuset-cpus", "0", MINBASE_IMAGE,
                              "free", "-k").stdout
        assert int(field(plain, r"^Mem:\s+(\d+)")) > 256 * 1024
    finally:
        daemon.stop()


def daemonset():
    docs = yaml.safe_load_all(open(os.path.join(REPO, "deploy", "kubernetes", "swift-lxcfs.yaml")))
    return next(d for d in docs if d and d["kind"] == "DaemonSet")


def shared_mount(path):
    """Makes `path` a mount of its own with shared propagation, as a node's
    /var/lib/lxcfs must be for mountPropagation: Bidirectional."""
    run(["mount", "--bind", str(path), str(path)])
    run(["mount", "--make-shared", str(path)])


def daemonset_container(engine, runtime_image, name, host, run_dir):
    """A container standing for one pod of the DaemonSet on this host: its
    start script, privileged, host pids, its own cgroup namespace, host
    cgroups, /var/lib/lxcfs shared both ways and /run/swift-lxcfs (the
    takeover sockets) from the host."""
    container = daemonset()["spec"]["template"]["spec"]["containers"][0]
    # The start script ("/bin/sh -c SCRIPT NAME") and the daemon's flags (args, the script's "$@").
    assert container["command"][:2] == ["/bin/sh", "-c"] and len(container["command"]) == 4
    engine.docker("run", "-d", "--name", name, *privileged_flags(), "--pid=host", "--cgroupns=private",
                  # The reattach step at start: only this checkout's test namespaces (conftest).
                  "-e", f"SWIFT_LXCFS_REATTACH_CGROUPS={os.environ['SWIFT_LXCFS_REATTACH_CGROUPS']}",
                  "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
                  "-v", f"{host}:/var/lib/lxcfs:rshared", "-v", f"{run_dir}:/run/swift-lxcfs",
                  "--entrypoint", container["command"][0], runtime_image, *container["command"][1:],
                  *container["args"])
    return container


def pod_ready(engine, name, container):
    probe = container["readinessProbe"]["exec"]["command"]
    return engine.docker("exec", name, *probe, check=False).returncode == 0


def logs(engine, name):
    r = engine.docker("logs", name, check=False)
    return r.stdout + r.stderr


def host_serves(host):
    try:
        return open(os.path.join(host, "proc", "meminfo")).read().startswith("MemTotal:")
    except OSError:
        return False


def fuse_mounts_at(path):
    return [line for line in open("/proc/self/mountinfo") if line.split()[4] == str(path) and " - fuse" in line]


def test_daemonset_start_script_mounts_for_other_containers(engine, runtime_image, names, tmp_path):
    host = tmp_path / "lxcfs"
    host.mkdir()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shared_mount(host)
    try:
        # Stale state: a container that started while no daemon ran left a
        # directory where its bind source should be a file.
        (host / "proc" / "meminfo").mkdir(parents=True)
        ds_name = names("daemonset")
        container = daemonset_container(engine, runtime_image, ds_name, host, run_dir)
        wait_for(lambda: host_serves(host) or not inspect(engine, ds_name)["State"]["Running"], timeout=60,
                 what="the DaemonSet container's mount on the host")
        out = logs(engine, ds_name)
        assert host_serves(host), out
        assert "joined the host cgroup namespace" in out
        # The start runs the reattach step (README, "Repairing containers").
        wait_for(lambda: "reattach: " in logs(engine, ds_name), what="the reattach step's summary")
        # The readiness probe passes once the daemon said READY=1.
        wait_for(lambda: pod_ready(engine, ds_name, container), timeout=30, what="readiness")
        # A second container binds the files from the host path and sees its limits.
        reader = engine.docker("run", "--rm", "-m", "200m", "--cpuset-cpus", "0", *bind_flags(str(host)),
                               MINBASE_IMAGE, "sh", "-c",
                               "free -k; grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online")
        assert int(field(reader.stdout, r"^Mem:\s+(\d+)")) == 200 * 1024
        assert reader.stdout.split()[-2:] == ["1", "0"]
        # Deleting the pod (SIGTERM, no successor) is the final stop: it
        # unmounts, on the host too, and exits 0.
        engine.docker("stop", "-t", "30", ds_name)
        assert inspect(engine, ds_name)["State"]["ExitCode"] == 0, logs(engine, ds_name)
        assert not fuse_mounts_at(host)
        assert not os.path.exists(host / "proc" / "meminfo")
        # The shared bind below stays (os.path.ismount cannot see a bind
        # mount within one filesystem; mountinfo can).
        assert any(line.split()[4] == str(host) for line in open("/proc/self/mountinfo"))
    finally:
        subprocess.run(["umount", "-l", str(host)], check=False)


# The in-container run: by default a short form, the FUSE mount and the limits
# tests with the release build the image made; SWIFT_LXCFS_CONTAINER_SUITE=full
# (scripts/test-in-container.sh) runs the image's own command, scripts/test.sh,
# the whole suite with its unit tests, which takes some 40 minutes on 2 cores.
CONTAINER_SHORT_FORM = ["Tests/integration/test_mount.py", "Tests/integration/test_limits.py"]


def test_dockerfile_test_builds_and_passes_inside_a_container(engine, swift_base, runtime_image):
    # After the runtime image: Dockerfile.test's build stage is Dockerfile's,
    # so the engine reuses its layers and the package is compiled once.
    engine.build("-f", "Dockerfile.test", "-t", TEST_IMAGE, "--build-arg", f"SWIFT_IMAGE={swift_base}",
                 REPO, timeout=3000)
    full = os.environ.get("SWIFT_LXCFS_CONTAINER_SUITE") == "full"
    if full:
        command = ["bash", "scripts/test.sh", *CONTAINER_DESELECT]
    else:
        command = ["env", "SWIFT_LXCFS_BIN=/src/.build/release/swift-lxcfs",
                   "python3", "-m", "pytest", "-v", "-p", "no:cacheprovider", *CONTAINER_SHORT_FORM]
    # Host pids and host cgroups, as the daemon has on a host: the suite
    # compares with lxcfs, which counts a pid namespace's uptime from its init.
    r = engine.docker("run", "--rm", *privileged_flags(), "--pid=host", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
                      *CONTAINER_ENV, TEST_IMAGE, *command, timeout=2400, check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    summary = [line for line in out.splitlines() if re.search(r"\d+ passed", line)]
    assert summary and "failed" not in summary[-1], out[-3000:]
    if full:
        assert re.search(r"Executed \d+ tests?, with 0 failures", out), out[-3000:]


def reader_container(engine, names, host, suffix, memory_mib, cpus, stop_file):
    """A container with the served files bound from `host`, running one
    load_support.py reader (bound in) until `stop_file` exists in /stop."""
    name = names(suffix)
    ncpu = len(cpus.split(","))
    if "-" in cpus:
        lo, hi = cpus.split("-")
        ncpu = int(hi) - int(lo) + 1
    dev = os.stat(host / "proc").st_dev
    # The readers open, read and close files; the bound cpu folder is read
    # by lscpu and mpstat in the other tests.
    files = [f for f in SERVED_FILES if f not in LXCFS_DIRECTORIES]
    argv = reader_command("/", 600, stop_file=f"/stop/{stop_file}", files=files,
                          expect_mem_kb=memory_mib * 1024, expect_cpus=ncpu, expect_dev=dev,
                          script="/load_support.py")
    engine.docker("run", "-d", "--name", name, "-m", f"{memory_mib}m", "--cpuset-cpus", cpus,
                  *bind_flags(str(host)), "-v", f"{os.path.join(HERE, 'load_support.py')}:/load_support.py:ro",
                  "-v", f"{host.parent / 'stop'}:/stop", MINBASE_IMAGE, *argv)
    return name


def reader_results(engine, names_, stop_dir, stop_file):
    (stop_dir / stop_file).touch()
    out = []
    for n in names_:
        engine.docker("wait", n, timeout=120)
        out.append(parse_result(engine.docker("logs", n).stdout))
    return out


def test_daemonset_rolling_update_takes_over_with_no_failed_read(engine, runtime_image, names, tmp_path):
    host = tmp_path / "lxcfs"
    host.mkdir()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stop_dir = tmp_path / "stop"
    stop_dir.mkdir()
    shared_mount(host)
    try:
        old, new = names("pod-old"), names("pod-new")
        container = daemonset_container(engine, runtime_image, old, host, run_dir)
        wait_for(lambda: pod_ready(engine, old, container) or not inspect(engine, old)["State"]["Running"],
                 timeout=60, what="the old pod ready")
        assert pod_ready(engine, old, container), logs(engine, old)
        dev = os.stat(host / "proc").st_dev
        readers = [reader_container(engine, names, host, f"reader{i}", 200 + 100 * i, "0" if i % 2 == 0 else "0-1",
                                    "rolling") for i in range(3)]
        time.sleep(2)
        # The new pod starts beside the old one (maxSurge 1), takes the
        # connection over, and becomes ready; then the old pod is deleted.
        daemonset_container(engine, runtime_image, new, host, run_dir)
        wait_for(lambda: pod_ready(engine, new, container) or not inspect(engine, new)["State"]["Running"],
                 timeout=60, what="the new pod ready")
        assert pod_ready(engine, new, container), logs(engine, new) + logs(engine, old)
        assert "--takeover" in logs(engine, new) or "takeover=true" in logs(engine, new), logs(engine, new)
        wait_for(lambda: "waiting for a stop signal" in logs(engine, old), timeout=30,
                 what=f"the old pod's hand-over:\n{logs(engine, old)}")
        assert not pod_ready(engine, old, container)
        time.sleep(2)
        engine.docker("stop", "-t", "30", old)
        assert inspect(engine, old)["State"]["ExitCode"] == 0, logs(engine, old)
        # The old pod's stop left the mount: the same one, served by the new pod.
        assert len(fuse_mounts_at(host)) == 1 and os.stat(host / "proc").st_dev == dev
        assert host_serves(host)
        time.sleep(2)
        results = reader_results(engine, readers, stop_dir, "rolling")
        print(assert_clean(results, logs(engine, old)[-2000:] + logs(engine, new)[-2000:]))
        engine.docker("stop", "-t", "30", new)
        assert inspect(engine, new)["State"]["ExitCode"] == 0, logs(engine, new)
        # Deleting the last pod unmounts on the host, though the new pod's
        # volume was a bind of the mount itself (its supervisor detaches it
        # in the host's mount namespace).
        assert not fuse_mounts_at(host), logs(engine, new)
    finally:
        subprocess.run(["umount", "-l", str(host)], check=False)


def test_containers_read_correct_values_after_a_kill_a_restart_and_a_takeover(engine, runtime_image, tools_image,
                                                                              names, tmp_path):
    """The runtime image's own command (the supervisor) on a shared host
    folder; two containers started before with the binds keep reading
    their own values after each event, never restarted."""
    host = tmp_path / "lxcfs"
    host.mkdir()
    shared_mount(host)

    def daemon(suffix, *extra):
        n = names(suffix)
        engine.docker("run", "-d", "--name", n, *privileged_flags(), "--pid=host", "--cgroupns=host",
                      "-v", "/sys/fs/cgroup:/sys/fs/cgroup", "-v", f"{host}:/var/lib/lxcfs:rshared",
                      "-v", f"{tmp_path / 'run'}:/run/swift-lxcfs", runtime_image,
                      "supervise", *extra, "--pidfile", "/run/swift-lxcfs.pid", "/var/lib/lxcfs")
        return n

    (tmp_path / "run").mkdir()
    try:
        first = daemon("daemon")
        wait_for(lambda: host_serves(host) or not inspect(engine, first)["State"]["Running"], timeout=60,
                 what="the daemon container's mount")
        assert host_serves(host), logs(engine, first)
        dev = os.stat(host / "proc").st_dev
        small, large = names("small"), names("large")
        engine.docker("run", "-d", "--name", small, "-m", "256m", "--cpuset-cpus", "0",
                      *bind_flags(str(host)), tools_image, "sleep", "infinity")
        engine.docker("run", "-d", "--name", large, "-m", "512m", "--cpuset-cpus", "0-1",
                      *bind_flags(str(host)), tools_image, "sleep", "infinity")
        started = {n: inspect(engine, n)["State"]["StartedAt"] for n in (small, large)}

        def check(after):
            for name, mib, cpus in ((small, 256, 1), (large, 512, min(2, os.cpu_count()))):
                view = read_view(engine, name)
                assert int(field(view["free"], r"^Mem:\s+(\d+)")) == mib * 1024, (after, name, view["free"])
                assert view["processors"] == cpus and view["cpu_count"] == cpus, (after, name, view)
                assert view["online"] == ("0" if cpus == 1 else f"0-{cpus - 1}"), (after, name, view)
                assert field(view["top"], r"MiB Mem :\s+([\d.]+) total") == f"{mib}.0", (after, name)
            assert os.stat(host / "proc").st_dev == dev, after

        check("start")
        supervisor = inspect(engine, first)["State"]["Pid"]

        def server():
            kids = open(f"/proc/{supervisor}/task/{supervisor}/children").read().split()
            return int(kids[0]) if kids else None

        # A kill of the serving process.
        victim = server()
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: server() not in (None, victim) and host_serves(host), timeout=30, what="a new server")
        check("kill")
        # A restart (SIGHUP to the supervisor: a hand-over restart).
        victim = server()
        engine.docker("kill", "-s", "HUP", first)
        wait_for(lambda: server() not in (None, victim) and host_serves(host), timeout=30, what="a restarted server")
        check("restart")
        # A takeover: a newer daemon container takes the connection; the old
        # container then stops with exit 0 and leaves the mount.
        second = daemon("daemon2", "--takeover")
        wait_for(lambda: "waiting for a stop signal" in logs(engine, first), timeout=60,
                 what=f"the hand-over:\n{logs(engine, first)}\n{logs(engine, second)}")
        engine.docker("stop", "-t", "30", first)
        assert inspect(engine, first)["State"]["ExitCode"] == 0
        check("takeover")
        assert len(fuse_mounts_at(host)) == 1
        # Neither reading container was restarted.
        assert {n: inspect(engine, n)["State"]["StartedAt"] for n in (small, large)} == started
        engine.docker("stop", "-t", "30", second)
        assert not fuse_mounts_at(host), logs(engine, second)
    finally:
        subprocess.run(["umount", "-l", str(host)], check=False)
def test_runtime_image_serves_the_webhook_as_the_deployment_runs_it(engine, runtime_image, names, tmp_path):
    """The webhook Deployment's command in the runtime image, as its pod runs
    it (uid 65534, read-only root filesystem, no capabilities), answers
    /healthz and an AdmissionReview over TLS."""
    from test_webhook import Connection, free_port, make_ca, make_serving

    docs = yaml.safe_load_all(open(os.path.join(REPO, "deploy", "kubernetes", "webhook.yaml")))
    container = next(d for d in docs if d and d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    secret_dir = container["volumeMounts"][0]["mountPath"]
    pki = tmp_path / "pki"
    cafile = make_ca(str(pki))
    cert, key = make_serving(str(pki), str(pki), "serving")
    tls = tmp_path / "tls"
    tls.mkdir()
    shutil.copy(cert, tls / "tls.crt")
    shutil.copy(key, tls / "tls.key")
    os.chmod(tls / "tls.key", 0o644)
    port = free_port()
    command = [arg if not arg.startswith("--port=") else f"--port={port}" for arg in container["command"]]
    name = names("webhook")
    engine.docker("run", "-d", "--name", name, "--network", "host", "--user", "65534:65534", "--read-only",
                  "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "-v", f"{tls}:{secret_dir}:ro",
                  "--entrypoint", command[0], runtime_image, *command[1:])

    def healthy():
        try:
            c = Connection(port, cafile, timeout=5)
            try:
                return c.call("GET", "/healthz") == (200, b"ok\n")
            finally:
                c.close()
        except OSError:
            return False

    wait_for(lambda: healthy() or not inspect(engine, name)["State"]["Running"], timeout=60, what="webhook in the image")
    assert healthy(), engine.docker("logs", name).stderr
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "namespace": "apps",
                          "operation": "CREATE", "object": {"spec": {"containers": [{"name": "app"}]}}}}
    c = Connection(port, cafile)
    try:
        status, body = c.call("POST", "/mutate", json.dumps(review).encode(), {"Content-Type": "application/json"})
    finally:
        c.close()
    assert status == 200 and json.loads(body)["response"]["patchType"] == "JSONPatch", body
