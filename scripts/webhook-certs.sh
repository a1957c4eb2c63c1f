#!/usr/bin/env bash
# Makes the admission webhook's serving certificate with openssl, instead of
# cert-manager: a CA (kept and reused when DIR already has one) and a
# serving certificate for the Service's DNS names, signed by it. Then creates
# the Secret swift-lxcfs-webhook-tls and applies deploy/kubernetes/webhook.yaml
# with caBundle filled in (kubectl, current context).
#
#   scripts/webhook-certs.sh [--out DIR] [--dry-run] [--days N]
#
#   --out DIR    where the files go (default: a new temporary folder): ca.crt,
#                ca.key, tls.crt, tls.key, secret.yaml and webhook.yaml
#   --dry-run    write the files only; no kubectl (for review, GitOps, tests)
#   --days N     the serving certificate's lifetime (default 365; the CA's is 10 times it)
#
# The names are webhook.yaml's: Service swift-lxcfs-webhook in namespace swift-lxcfs.
#
# Run it again with the same --out DIR to rotate the serving certificate
# under the same CA: the webhook re-reads the Secret's files when the kubelet
# updates them, and caBundle stays valid.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
manifest="$here/../deploy/kubernetes/webhook.yaml"
namespace=swift-lxcfs
service=swift-lxcfs-webhook
secret=swift-lxcfs-webhook-tls
days=365
out=
dry_run=0
usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; }
die() { echo "webhook-certs.sh: $*" >&2; exit 1; }
while (($#)); do
  case "$1" in
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --days) days=${2:?--days needs a number}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1; see 'scripts/webhook-certs.sh --help'." ;;
  esac
done
[[ "$days" =~ ^[1-9][0-9]*$ ]] || die "--days must be a positive number of days."
command -v openssl >/dev/null || die "openssl is not installed (apt-get install openssl)."
((dry_run)) || command -v kubectl >/dev/null || die "kubectl is not installed; use --dry-run --out DIR and apply the files yourself."
[[ -n "$out" ]] || out=$(mktemp -d /tmp/swift-lxcfs-webhook-certs.XXXXXX)
mkdir -p "$out"
umask 077

dns=("$service" "$service.$namespace" "$service.$namespace.svc" "$service.$namespace.svc.cluster.local")
san=$(printf 'DNS:%s,' "${dns[@]}")
san=${san%,}

if [[ -s "$out/ca.crt" && -s "$out/ca.key" ]]; then
  echo "webhook-certs.sh: reusing the CA in $out"
else
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$out/ca.key" -out "$out/ca.crt" -days $((days * 10)) \
    -subj "/CN=swift-lxcfs-webhook-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
# The new pair is written beside the old one and moved into place, so a
# reader never sees a certificate without its key.
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
  -keyout "$out/tls.key.new" -out "$out/tls.csr" -subj "/CN=$service.$namespace.svc" 2>/dev/null
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -out "$out/tls.crt.new" -days "$days" \
  -extfile <(printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' "$san") 2>/dev/null
rm -f "$out/tls.csr" "$out/ca.srl"
mv "$out/tls.key.new" "$out/tls.key"
mv "$out/tls.crt.new" "$out/tls.crt"

b64() { base64 -w0 <"$1"; }
cat >"$out/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: $secret
  namespace: $namespace
  labels:
    app.kubernetes.io/name: swift-lxcfs-webhook
type: kubernetes.io/tls
data:
  ca.crt: $(b64 "$out/ca.crt")
  tls.crt: $(b64 "$out/tls.crt")
  tls.key: $(b64 "$out/tls.key")
YAML
# webhook.yaml with the CA in caBundle, without the cert-manager annotation.
ca_bundle=$(b64 "$out/ca.crt")
awk -v ca="$ca_bundle" '
  /^  annotations:$/ { annotations = 1; next }
  annotations && /^    / { next }
  { annotations = 0; print }
  /^    clientConfig:$/ { print "      caBundle: " ca }
' "$manifest" >"$out/webhook.yaml"
chmod 0644 "$out/ca.crt" "$out/tls.crt" "$out/secret.yaml" "$out/webhook.yaml"

echo "webhook-certs.sh: wrote $out/{ca.crt,ca.key,tls.crt,tls.key,secret.yaml,webhook.yaml} for ${dns[*]}"
if ((dry_run)); then
  echo "webhook-certs.sh: --dry-run: apply with kubectl apply -f $out/secret.yaml -f $out/webhook.yaml"
  exit 0
fi
kubectl apply -f "$out/secret.yaml"
kubectl apply -f "$out/webhook.yaml"
