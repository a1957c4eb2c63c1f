"""Helpers for the deployment tests: the list of served files, a private
Docker engine and the images made from a debootstrap root filesystem.

Nothing here is a fixture; test_docker.py wraps these in module fixtures.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.path.join(REPO, ".cache")

# Every file lxcfs 5.0.3 users bind into containers, and the cpu tree
# bound whole (so that lscpu and mpstat count the visible CPUs): what
# README.md's `docker run` flags, the example Kubernetes workload, the
# admission webhook and `swift-lxcfs cdi-spec` bind.
LXCFS_FILES = [
    "proc/cpuinfo",
    "proc/diskstats",
    "proc/loadavg",
    "proc/meminfo",
    "proc/slabinfo",
    "proc/stat",
    "proc/swaps",
    "proc/uptime",
    "sys/devices/system/cpu",
]

# The folders among them (Kubernetes hostPath type Directory; the rest are File).
LXCFS_DIRECTORIES = {"sys/devices/system/cpu"}

# What the Docker tests bind into containers and read back, relative to the
# mount point: the daemon serves every lxcfs file.
SERVED_FILES = list(LXCFS_FILES)

MINBASE_IMAGE = "swl-deploy/bookworm-minbase"
SWIFT_BASE_IMAGE = "swl-deploy/swift-base"
# Several checkouts may run their Docker tests at once: each its own parent.
CGROUP_PARENT = os.environ.get("SWIFT_LXCFS_DOCKER_CGROUP_PARENT", "swl-deploy-docker")


def docker_tests_skipped():
    """True inside Dockerfile.test's container, which sets
    SWIFT_LXCFS_SKIP_DOCKER=1: it runs the suite, not Docker in Docker."""
    return os.environ.get("SWIFT_LXCFS_SKIP_DOCKER") == "1"


# Capability names by number (capabilities(7)), as Docker spells them.
CAPABILITIES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]


def missing_capabilities():
    """Capabilities this host's bounding set lacks (a sandboxed host may
    lack some; runc then cannot start a --privileged container)."""
    for line in open("/proc/self/status"):
        if line.startswith("CapBnd:"):
            bits = int(line.split()[1], 16)
            last = int(open("/proc/sys/kernel/cap_last_cap").read())
            return [CAPABILITIES[i] for i in range(min(last + 1, len(CAPABILITIES))) if not bits >> i & 1]
    return []


def privileged_flags():
    """`--privileged`, or where the host's bounding set lacks capabilities,
    the nearest a container can get: every capability the host has, no
    seccomp or AppArmor profile, unmasked /proc and /sys paths, /dev/fuse."""
    missing = missing_capabilities()
    if not missing:
        return ["--privileged"]
    flags = ["--cap-add", "ALL"]
    for cap in missing:
        flags += ["--cap-drop", cap]
    return flags + ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                    "--security-opt", "systempaths=unconfined", "--device", "/dev/fuse"]


def bind_flags(source_root, files=SERVED_FILES, mode="rw"):
    """`docker run` flags binding each served file over the container's own
    (`mode` rw, as lxcfs users bind them, or ro, as the webhook and CDI do)."""
    flags = []
    for rel in files:
        flags += ["-v", f"{os.path.join(source_root, rel)}:/{rel}:{mode}"]
    return flags


def run(cmd, timeout=600, check=True, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    r = subprocess.run(cmd, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


class DockerEngine:
    """dockerd with its own data root, exec root, socket and cgroup parent,
    no iptables and no bridge; stopped and removed by `stop()`."""

    def __init__(self):
        # SWIFT_LXCFS_DOCKER_STATE keeps images between runs (for development).
        self.keep = os.environ.get("SWIFT_LXCFS_DOCKER_STATE")
        if self.keep:
            os.makedirs(self.keep, exist_ok=True)
        self.state = self.keep or tempfile.mkdtemp(prefix="swl-deploy-docker-", dir="/var/tmp")
        # Unix socket paths are short: keep the exec root and socket under /run.
        self.run_dir = tempfile.mkdtemp(prefix="swl-dd-", dir="/run")
        self.socket = os.path.join(self.run_dir, "docker.sock")
        self.log_path = os.path.join(self.state, "dockerd.log")
        self.client = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.socket}", DOCKER_BUILDKIT="0")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(self.state, "data"),
             "--exec-root", os.path.join(self.run_dir, "exec"),
             "--pidfile", os.path.join(self.run_dir, "dockerd.pid"),
             "-H", f"unix://{self.socket}",
             "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge=none",
             "--cgroup-parent", CGROUP_PARENT, "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("dockerd exited:\n" + open(self.log_path).read())
            if os.path.exists(self.socket) and self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError("dockerd did not answer:\n" + open(self.log_path).read())

    def docker(self, *args, timeout=600, check=True, **kw):
        return run([self.client, *args], timeout=timeout, check=check, env=self.env, **kw)

    def has_image(self, name):
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def import_rootfs(self, tarball, name, changes=()):
        if self.has_image(name):
            return
        flags = []
        for c in changes:
            flags += ["--change", c]
        with open(tarball, "rb") as f:
            self.docker("import", *flags, "-", name, stdin=f, capture_output=True, timeout=1200)

    def build(self, *args, timeout=1800):
        """The legacy builder with the host network (apt reaches its mirror)."""
        return self.docker("build", "--network", "host", *args, timeout=timeout)

    def stop(self):
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, check=False, timeout=120)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        # Whatever dockerd left mounted under its roots goes before the roots.
        for root in (self.run_dir, self.state):
            mounts = [line.split()[4] for line in open("/proc/self/mountinfo")
                      if line.split()[4].startswith(root + "/")]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], check=False, capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if not self.keep:
            shutil.rmtree(self.state, ignore_errors=True)
        remove_cgroups(CGROUP_PARENT)


def remove_cgroups(name):
    """Removes /sys/fs/cgroup/*/NAME and everything below it, innermost first."""
    for controller in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", controller, name)
        if not os.path.isdir(top):
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
            for _ in range(50):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


def make_rootfs(kind):
    """The cached tarball of scripts/make-rootfs.sh KIND (made once per checkout)."""
    out = os.path.join(CACHE, f"bookworm-{kind}.tar")
    if not os.path.exists(out):
        run(["bash", os.path.join(REPO, "scripts", "make-rootfs.sh"), kind, out], timeout=2400)
    return out


def host_uptime():
    return float(open("/proc/uptime").read().split()[0])


def inspect(engine, name):
    return json.loads(engine.docker("inspect", name).stdout)[0]
