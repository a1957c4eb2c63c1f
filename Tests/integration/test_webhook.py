"""`swift-lxcfs webhook`, black-box over real TLS: a CA and serving
certificates made here with openssl, AdmissionReview requests from a client
that verifies the Service's DNS name against that CA, every returned
JSONPatch applied to the pod by Kubernetes' own code (`kubectl patch
--local`; the jsonpatch package where kubectl is missing) and the patched pod
checked with `kubernetes-validate --strict`.
"""
import base64
import concurrent.futures
import copy
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings

import pytest
import yaml

from conftest import BIN, wait_for, terminate
from deploy_support import LXCFS_DIRECTORIES, LXCFS_FILES, REPO

KUBERNETES_VERSION = "1.37.0"
SERVICE_DNS = "swift-lxcfs-webhook.swift-lxcfs.svc"
MOUNTPOINT = "/var/lib/lxcfs"
TARGETS = ["/" + rel for rel in LXCFS_FILES]


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_ca(folder):
    os.makedirs(folder, exist_ok=True)
    openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=swift-lxcfs test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            cwd=folder)
    return os.path.join(folder, "ca.crt")


def make_serving(ca_folder, out_folder, name):
    """A serving key and certificate for SERVICE_DNS signed by the CA in
    ca_folder: out_folder/NAME.crt and NAME.key."""
    os.makedirs(out_folder, exist_ok=True)
    key, csr, crt = (os.path.join(out_folder, f"{name}.{ext}") for ext in ("key", "csr", "crt"))
    ext = os.path.join(out_folder, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{SERVICE_DNS}\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", key, "-out", csr, "-subj", f"/CN={SERVICE_DNS}", cwd=ca_folder)
    openssl("x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", crt, "-days", "30", "-extfile", ext, cwd=ca_folder)
    return crt, key


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Connection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:PORT, verifying the certificate for SERVICE_DNS."""

    def __init__(self, port, cafile, timeout=30):
        context = ssl.create_default_context(cafile=cafile)
        super().__init__(SERVICE_DNS, port, context=context, timeout=timeout)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)

    def call(self, method, path, body=None, headers=None):
        self.request(method, path, body=body, headers=headers or {})
        r = self.getresponse()
        return r.status, r.read()


class Webhook:
    """`swift-lxcfs webhook` on a free loopback port until stopped."""

    def __init__(self, cert, key, cafile, args=()):
        self.port = free_port()
        self.cafile = cafile
        self.log = open(os.path.join(os.path.dirname(cert), f"webhook-{self.port}.log"), "w+")
        self.proc = subprocess.Popen([BIN, "webhook", "--tls-cert-file", cert, "--tls-private-key-file", key,
                                      "--port", str(self.port), "--address", "127.0.0.1", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.healthy() or self.proc.poll() is not None, timeout=30, what="webhook /healthz")
        assert self.proc.poll() is None, self.output()

    def connection(self):
        return Connection(self.port, self.cafile)

    def healthy(self):
        try:
            c = self.connection()
            try:
                return c.call("GET", "/healthz") == (200, b"ok\n")
            finally:
                c.close()
        except OSError:
            return False

    def post(self, body, headers=None):
        c = self.connection()
        try:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            return c.call("POST", "/mutate", data, {"Content-Type": "application/json", **(headers or {})})
        finally:
            c.close()

    def peer_certificate(self):
        c = self.connection()
        try:
            c.connect()
            return c.sock.getpeercert(binary_form=True)
        finally:
            c.close()

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        terminate(self.proc)
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("webhook-pki"))
    cafile = make_ca(folder)
    cert, key = make_serving(folder, folder, "serving")
    return {"folder": folder, "ca": cafile, "cert": cert, "key": key}


@pytest.fixture(scope="module")
def webhook(pki):
    w = Webhook(pki["cert"], pki["key"], pki["ca"])
    yield w
    assert w.stop() == 0, w.output()


# ---------------------------------------------------------------- pods

def container(name, mounts=None, image="debian:bookworm-slim"):
    c = {"name": name, "image": image}
    if mounts is not None:
        c["volumeMounts"] = mounts
    return c


def pod(name, containers, init=None, volumes=None, annotations=None, labels=None):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "apps"},
         "spec": {"containers": containers}}
    if init is not None:
        p["spec"]["initContainers"] = init
    if volumes is not None:
        p["spec"]["volumes"] = volumes
    if annotations:
        p["metadata"]["annotations"] = annotations
    if labels:
        p["metadata"]["labels"] = labels
    return p


def review(obj, uid="3c2e6f0e-1b7d-4f4e-9b7a-000000000001", kind=None, namespace="apps", operation="CREATE"):
    group, version, k = kind or ("", "v1", "Pod")
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": group, "version": version, "kind": k},
                        "resource": {"group": group, "version": version, "resource": k.lower() + "s"},
                        "namespace": namespace, "operation": operation, "object": obj,
                        "userInfo": {"username": "system:serviceaccount:apps:deployer"}, "dryRun": False}}


def answer(webhook, obj, **kw):
    """Posts the review; returns (response, patch operations or None)."""
    req = review(obj, **kw)
    status, body = webhook.post(req)
    assert status == 200, body
    out = json.loads(body)
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview", out
    response = out["response"]
    assert response["uid"] == req["request"]["uid"] and response["allowed"] is True, response
    if "patch" not in response:
        assert "patchType" not in response, response
        return response, None
    assert response["patchType"] == "JSONPatch", response
    return response, json.loads(base64.b64decode(response["patch"], validate=True))


def apply_patch(obj, operations, folder):
    """The pod after `operations`, applied by `kubectl patch --local` (or,
    where kubectl is missing, by the jsonpatch package from PyPI)."""
    src = os.path.join(folder, f"{obj['metadata']['name']}.yaml")
    with open(src, "w") as f:
        yaml.safe_dump(obj, f)
    # SWIFT_LXCFS_KUBECTL= (empty) takes the fallback even where kubectl is installed.
    kubectl = os.environ.get("SWIFT_LXCFS_KUBECTL", shutil.which("kubectl"))
    if kubectl:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        r = subprocess.run([kubectl, "patch", "--local", "-f", src, "--type", "json", "-p", json.dumps(operations),
                            "-o", "yaml"], capture_output=True, text=True, timeout=120,
                           env=dict(env, HOME=folder))
        assert r.returncode == 0, r.stderr + json.dumps(operations, indent=1)
        return yaml.safe_load(r.stdout)
    try:
        import jsonpatch
    except ImportError:
        pytest.fail("neither kubectl nor the jsonpatch package is installed (scripts/test.sh installs jsonpatch)")
    warnings.warn("kubectl is not installed: the webhook's patches are applied with the jsonpatch package")
    return jsonpatch.apply_patch(obj, operations)


def validator():
    """kubernetes-validate from PyPI, or None with a warning (inside
    Dockerfile.test's container, which has no network when the suite runs,
    as test_manifests.py skips there)."""
    tool = shutil.which("kubernetes-validate") or shutil.which("kubernetes-validate", path=os.path.dirname(sys.executable))
    if not tool:
        warnings.warn("kubernetes-validate is not installed (scripts/test.sh installs it from PyPI): "
                      "the patched pods are not validated against the Kubernetes schema")
    return tool


def kubernetes_validate(obj, folder):
    tool = validator()
    if not tool:
        return
    path = os.path.join(folder, f"{obj['metadata']['name']}-patched.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(obj, f)
    r = subprocess.run([tool, "--strict", "-k", KUBERNETES_VERSION, path], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "passed" in r.stdout, r.stdout + r.stderr


def mounts_by_path(c):
    out = {}
    for m in c.get("volumeMounts", []):
        assert m["mountPath"] not in out, f"{c['name']} mounts {m['mountPath']} twice"
        out[m["mountPath"]] = m
    return out


def check_injected(patched, own=()):
    """Every container and init container mounts every target exactly once,
    from a hostPath volume under the mount point of the right type, read-only
    (except the mounts in `own`: (container, mountPath) pairs kept as the
    pod had them). Volume names are unique."""
    spec = patched["spec"]
    names = [v["name"] for v in spec["volumes"]]
    assert len(names) == len(set(names)), names
    volumes = {v["name"]: v for v in spec["volumes"]}
    for c in spec.get("initContainers", []) + spec["containers"]:
        mounts = mounts_by_path(c)
        for target in TARGETS:
            assert target in mounts, (c["name"], target)
            if (c["name"], target) in own:
                continue
            m = mounts[target]
            assert m.get("readOnly") is True, m
            host = volumes[m["name"]]["hostPath"]
            kind = "Directory" if target.lstrip("/") in LXCFS_DIRECTORIES else "File"
            assert host == {"path": MOUNTPOINT + target, "type": kind}, (m, host)


def inject(webhook, obj, tmp_path, own=()):
    """One pass and a second: the patched pod validates, has every mount,
    and a second review of it adds nothing."""
    original = copy.deepcopy(obj)
    _, operations = answer(webhook, obj)
    assert operations, "no patch for a pod without the mounts"
    assert all(op["op"] == "add" for op in operations), operations
    patched = apply_patch(obj, operations, str(tmp_path))
    kubernetes_validate(patched, str(tmp_path))
    check_injected(patched, own)
    # Nothing the pod had is changed or dropped.
    for field in ("initContainers", "containers"):
        for before, after in zip(original["spec"].get(field, []), patched["spec"].get(field, [])):
            for m in before.get("volumeMounts", []):
                assert m in after["volumeMounts"], (before["name"], m)
    for v in original["spec"].get("volumes", []):
        assert v in patched["spec"]["volumes"], v
    _, again = answer(webhook, patched, uid="3c2e6f0e-1b7d-4f4e-9b7a-000000000002")
    assert again is None, f"second pass patched: {again}"
    return patched, operations


# ---------------------------------------------------------------- tests

def test_healthz(webhook):
    c = webhook.connection()
    try:
        assert c.call("GET", "/healthz") == (200, b"ok\n")
        # Keep-alive: the same connection answers again.
        assert c.call("GET", "/healthz") == (200, b"ok\n")
        status, _ = c.call("GET", "/nothing-here")
        assert status == 404
    finally:
        c.close()


def test_pod_with_init_containers_and_no_volumes(webhook, tmp_path):
    obj = pod("with-init", [container("app")], init=[container("migrate"), container("warm", mounts=[])])
    patched, operations = inject(webhook, obj, tmp_path)
    # The volumes array did not exist: one add creates it.
    assert operations[0]["path"] == "/spec/volumes" and isinstance(operations[0]["value"], list)
    assert len(patched["spec"]["volumes"]) == len(TARGETS)
    assert [c["name"] for c in patched["spec"]["initContainers"]] == ["migrate", "warm"]


def test_pod_with_several_containers_and_existing_volumes_and_mounts(webhook, tmp_path):
    volumes = [{"name": "config", "configMap": {"name": "app-config"}},
               # Names the webhook would pick for its own volumes, taken by others.
               {"name": "swift-lxcfs-proc-meminfo", "emptyDir": {}},
               {"name": "swift-lxcfs-sys-devices-system-cpu", "emptyDir": {}}]
    obj = pod("several", [
        container("web", mounts=[{"name": "config", "mountPath": "/etc/app"},
                                 {"name": "swift-lxcfs-proc-meminfo", "mountPath": "/scratch"}]),
        container("sidecar"),
        container("metrics", mounts=[{"name": "swift-lxcfs-sys-devices-system-cpu", "mountPath": "/cache"}]),
    ], volumes=volumes)
    patched, operations = inject(webhook, obj, tmp_path)
    # Existing arrays are appended to, never replaced.
    assert not any(op["path"] in ("/spec/volumes", "/spec/containers/0/volumeMounts") for op in operations)
    names = [v["name"] for v in patched["spec"]["volumes"]]
    assert names[:3] == ["config", "swift-lxcfs-proc-meminfo", "swift-lxcfs-sys-devices-system-cpu"]
    assert len(names) == 3 + len(TARGETS)
    web = mounts_by_path(patched["spec"]["containers"][0])
    assert web["/etc/app"]["name"] == "config" and web["/scratch"]["name"] == "swift-lxcfs-proc-meminfo"
    assert web["/proc/meminfo"]["name"] not in ("swift-lxcfs-proc-meminfo",)


def test_container_with_its_own_meminfo_mount_keeps_it(webhook, tmp_path):
    volumes = [{"name": "fake-meminfo", "configMap": {"name": "meminfo"}}]
    own = {"name": "fake-meminfo", "mountPath": "/proc/meminfo", "subPath": "meminfo", "readOnly": True}
    obj = pod("own-meminfo", [container("app", mounts=[own]), container("other")], volumes=volumes)
    patched, _ = inject(webhook, obj, tmp_path, own={("app", "/proc/meminfo")})
    app, other = (mounts_by_path(c) for c in patched["spec"]["containers"])
    assert app["/proc/meminfo"] == own
    assert other["/proc/meminfo"]["name"] != "fake-meminfo"


def test_pod_binding_the_daemon_files_itself_reuses_its_volumes(webhook, tmp_path):
    """A pod written for lxcfs by hand (example-workload.yaml's volumes) in a
    labelled namespace: its hostPath volumes are reused, nothing is doubled."""
    docs = list(yaml.safe_load_all(open(os.path.join(REPO, "deploy", "kubernetes", "example-workload.yaml"))))
    template = docs[0]["spec"]["template"]
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "by-hand", "namespace": "apps"},
           "spec": copy.deepcopy(template["spec"])}
    _, operations = answer(webhook, obj)
    assert operations is None, operations
    obj["spec"]["containers"].append(container("late-sidecar"))
    _, operations = answer(webhook, obj)
    assert operations and all(op["path"].startswith("/spec/containers/1/") for op in operations), operations
    patched = apply_patch(obj, operations, str(tmp_path))
    check_injected(patched)
    assert len(patched["spec"]["volumes"]) == len(template["spec"]["volumes"])


def test_no_patch_for_opted_out_excluded_or_own_pods_and_other_kinds(webhook):
    plain = pod("plain", [container("app")])
    assert answer(webhook, pod("out", [container("app")], annotations={"swift-lxcfs.io/inject": "false"}))[1] is None
    assert answer(webhook, plain, namespace="kube-system")[1] is None
    assert answer(webhook, pod("d", [container("app")], labels={"app.kubernetes.io/name": "swift-lxcfs"}))[1] is None
    assert answer(webhook, plain, operation="UPDATE")[1] is None
    # Another kind, even shaped like a pod, is allowed as it is.
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"},
                  "data": {"spec": "x"}, "spec": {"containers": [container("app")]}}
    assert answer(webhook, config_map, kind=("", "v1", "ConfigMap"))[1] is None
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"template": {"spec": {"containers": [container("app")]}}}}
    assert answer(webhook, deployment, kind=("apps", "v1", "Deployment"))[1] is None
    # The annotation with another value does not opt out.
    assert answer(webhook, pod("in", [container("app")], annotations={"swift-lxcfs.io/inject": "true"}))[1]


def one_sentence(body):
    text = body.decode()
    assert text.endswith(".\n") and text.count("\n") == 1, text
    return text


def test_malformed_and_oversized_bodies_get_400_and_the_server_lives_on(webhook):
    bad = [b"", b"not json", b"[1, 2", b"{}", b"[]",
           json.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "u"}}).encode(),
           json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
           json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"kind": {}}}).encode(),
           json.dumps(review({"spec": {"containers": "app"}})).encode(),
           json.dumps(review({"spec": {"containers": [{"volumeMounts": [{"name": 1}]}]}})).encode(),
           json.dumps(review(None)).encode(),
           b"\xff\xfe\x00garbage"]
    for body in bad:
        status, out = webhook.post(body)
        assert status == 400, (body[:80], status, out)
        one_sentence(out)
    # Larger than the 4 MiB limit, announced by Content-Length, and chunked.
    big = json.dumps(review(pod("big", [container("app")], annotations={"filler": "x" * (5 << 20)}))).encode()
    status, out = webhook.post(big)
    assert status == 400 and b"larger than" in out, (status, out)
    one_sentence(out)
    c = webhook.connection()
    try:
        c.putrequest("POST", "/mutate")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for i in range(0, len(big), 1 << 20):
            part = big[i:i + (1 << 20)]
            c.send(b"%x\r\n%s\r\n" % (len(part), part))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        assert r.status == 400 and b"larger than" in r.read()
    finally:
        c.close()
    # Not HTTP at all, inside TLS; and a client that is not TLS.
    raw = ssl.create_default_context(cafile=webhook.cafile).wrap_socket(
        socket.create_connection(("127.0.0.1", webhook.port)), server_hostname=SERVICE_DNS)
    raw.sendall(b"\x00\x01 NOT HTTP\r\n\r\n")
    raw.recv(4096)
    raw.close()
    with socket.create_connection(("127.0.0.1", webhook.port)) as plain:
        plain.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\n\r\n")
        plain.recv(4096)
    # GET on /mutate, POST on /healthz.
    c = webhook.connection()
    try:
        assert c.call("GET", "/mutate")[0] == 405
        assert c.call("POST", "/healthz", b"{}")[0] == 405
    finally:
        c.close()
    assert webhook.proc.poll() is None
    assert webhook.healthy()
    assert answer(webhook, pod("after", [container("app")]))[1]


def test_a_silent_client_is_disconnected_and_others_are_served(pki):
    """A connection that never finishes its TLS handshake, or sends nothing
    after a request, is closed after --idle-timeout."""
    w = Webhook(pki["cert"], pki["key"], pki["ca"], args=["--idle-timeout", "1"])
    try:
        silent = socket.create_connection(("127.0.0.1", w.port))
        silent.settimeout(10)
        assert silent.recv(1) == b"", "the server kept a silent connection"
        silent.close()
        kept = w.connection()
        assert kept.call("GET", "/healthz")[0] == 200
        kept.sock.settimeout(10)
        assert kept.sock.recv(1) == b"", "the server kept an idle keep-alive connection"
        kept.close()
        assert w.healthy()
    finally:
        assert w.stop() == 0, w.output()


def test_a_hundred_concurrent_requests_are_all_answered(webhook):
    def one(i):
        obj = pod(f"p{i}", [container("app"), container("side")], init=[container("init")])
        _, operations = answer(webhook, obj, uid=f"uid-{i}")
        return len(operations)

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        counts = list(pool.map(one, range(100)))
    assert len(counts) == 100 and len(set(counts)) == 1 and counts[0] > 0, counts
    assert webhook.proc.poll() is None


def kubelet_secret_volume(folder, generation, cert, key):
    """Writes cert and key the way the kubelet updates a Secret volume: a
    new timestamped folder, the `..data` symlink swapped to it by rename,
    tls.crt and tls.key symlinks through `..data`."""
    gen = os.path.join(folder, f"..{generation}")
    os.makedirs(gen)
    shutil.copy(cert, os.path.join(gen, "tls.crt"))
    shutil.copy(key, os.path.join(gen, "tls.key"))
    tmp = os.path.join(folder, "..data_tmp")
    os.symlink(f"..{generation}", tmp)
    os.rename(tmp, os.path.join(folder, "..data"))
    for name in ("tls.crt", "tls.key"):
        link = os.path.join(folder, name)
        if not os.path.islink(link):
            os.symlink(os.path.join("..data", name), link)


def der(pem_path):
    return ssl.PEM_cert_to_DER_cert(open(pem_path).read())


def test_a_rotated_certificate_is_served_without_a_restart(pki, tmp_path):
    volume = tmp_path / "secret"
    volume.mkdir()
    first = make_serving(pki["folder"], str(tmp_path), "first")
    second = make_serving(pki["folder"], str(tmp_path), "second")
    third = make_serving(pki["folder"], str(tmp_path), "third")
    kubelet_secret_volume(str(volume), "2026_12_01_1", *first)
    w = Webhook(str(volume / "tls.crt"), str(volume / "tls.key"), pki["ca"])
    try:
        assert w.peer_certificate() == der(first[0])
        kept = w.connection()
        assert kept.call("GET", "/healthz")[0] == 200
        kubelet_secret_volume(str(volume), "2026_12_01_2", *second)
        wait_for(lambda: w.peer_certificate() == der(second[0]), timeout=30, what="the rotated certificate")
        # The same process, and a connection opened before still answers.
        assert w.proc.poll() is None
        assert kept.call("GET", "/healthz")[0] == 200
        kept.close()
        assert answer(w, pod("rotated", [container("app")]))[1]
        # A half-done rotation (a key that does not match) keeps the last good pair.
        os.replace(third[1], str(volume / "..2026_12_01_2" / "tls.key"))
        time.sleep(1.5)
        assert w.peer_certificate() == der(second[0])
        assert w.healthy()
        # In-place rewrite (as webhook-certs.sh does): the matching pair is served.
        shutil.copy(third[0], str(volume / "..2026_12_01_2" / "tls.crt"))
        wait_for(lambda: w.peer_certificate() == der(third[0]), timeout=30, what="the rewritten certificate")
        assert "loaded the rotated certificate" in w.output()
    finally:
        assert w.stop() == 0, w.output()


def test_webhook_certs_script_dry_run_makes_a_serving_pair_and_the_manifests(tmp_path):
    out = tmp_path / "certs"
    r = subprocess.run(["bash", os.path.join(REPO, "scripts", "webhook-certs.sh"), "--dry-run", "--out", str(out)],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("ca.crt", "ca.key", "tls.crt", "tls.key", "secret.yaml", "webhook.yaml"):
        assert (out / name).is_file(), name
    assert oct((out / "tls.key").stat().st_mode & 0o777) == "0o600"
    sans = openssl("x509", "-in", "tls.crt", "-noout", "-ext", "subjectAltName", cwd=str(out))
    names = {part.strip() for part in sans.splitlines()[-1].split(",")}
    assert names == {f"DNS:{dns}" for dns in ("swift-lxcfs-webhook", "swift-lxcfs-webhook.swift-lxcfs", SERVICE_DNS,
                                              "swift-lxcfs-webhook.swift-lxcfs.svc.cluster.local")}, sans
    secret = yaml.safe_load(open(out / "secret.yaml"))
    assert secret["type"] == "kubernetes.io/tls" and secret["metadata"]["name"] == "swift-lxcfs-webhook-tls"
    assert base64.b64decode(secret["data"]["tls.crt"]) == (out / "tls.crt").read_bytes()
    docs = [d for d in yaml.safe_load_all(open(out / "webhook.yaml")) if d]
    (config,) = [d for d in docs if d["kind"] == "MutatingWebhookConfiguration"]
    assert base64.b64decode(config["webhooks"][0]["clientConfig"]["caBundle"]) == (out / "ca.crt").read_bytes()
    assert "annotations" not in config["metadata"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == secret["metadata"]["name"]
    tool = validator()
    if tool:
        v = subprocess.run([tool, "--strict", "-k", KUBERNETES_VERSION, str(out / "secret.yaml"), str(out / "webhook.yaml")],
                           capture_output=True, text=True, timeout=300)
        assert v.returncode == 0 and v.stdout.count("passed") == 1 + len(docs), v.stdout + v.stderr
    # The webhook serves the pair, and a client that trusts only caBundle accepts it.
    w = Webhook(str(out / "tls.crt"), str(out / "tls.key"), str(out / "ca.crt"))
    try:
        assert answer(w, pod("script", [container("app")]))[1]
        before = w.peer_certificate()
        # Run again: a new serving certificate under the same CA, picked up live.
        r = subprocess.run(["bash", os.path.join(REPO, "scripts", "webhook-certs.sh"), "--dry-run", "--out", str(out)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "reusing the CA" in r.stdout, r.stdout + r.stderr
        wait_for(lambda: w.peer_certificate() not in (before,), timeout=30, what="the renewed certificate")
        assert w.peer_certificate() == der(str(out / "tls.crt"))
    finally:
        assert w.stop() == 0, w.output()


def test_command_line_errors_are_one_sentence(pki, tmp_path):
    for args in (["webhook"], ["webhook", "--tls-cert-file", "/nonexistent.crt", "--tls-private-key-file", pki["key"]],
                 ["webhook", "--tls-cert-file", pki["cert"], "--tls-private-key-file", pki["ca"]],
                 ["webhook", "--tls-cert-file", pki["cert"], "--tls-private-key-file", pki["key"], "--port", "70000"]):
        r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and r.stdout == "", (args, r.stdout)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("swift-lxcfs webhook: ") and lines[0].endswith("."), r.stderr
    # Without the webhook program beside it, `swift-lxcfs webhook` says so.
    lonely = tmp_path / "bin"
    lonely.mkdir()
    shutil.copy(BIN, lonely / "swift-lxcfs")
    r = subprocess.run([str(lonely / "swift-lxcfs"), "webhook", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "swift-lxcfs-webhook, which is not installed next to this one" in r.stderr, r.stderr
