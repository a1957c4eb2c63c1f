#!/usr/bin/env bash
# Installs what building and running swift-lxcfs needs (Debian/Ubuntu, as root):
# libfuse3 headers and fusermount3. With --test, also what the test suite needs.
set -euo pipefail
pkgs=(libfuse3-dev fuse3 pkg-config)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(procps util-linux python3 python3-yaml lxcfs)
  # The deployment tests: systemd-analyze, and a Docker engine with
  # debootstrap images. Not inside Dockerfile.test's container, which sets
  # SWIFT_LXCFS_SKIP_DOCKER=1.
  pkgs+=(systemd)
  [[ "${SWIFT_LXCFS_SKIP_DOCKER:-}" == 1 ]] || pkgs+=(docker.io debootstrap)
  # The admission webhook's tests (a test CA) and the CDI test (podman).
  pkgs+=(openssl)
  # The seccomp agent's tests: OCI bundles run by runc, with a busybox-static
  # rootfs and a static C caller of sysinfo(2).
  pkgs+=(runc busybox-static gcc libc6-dev)
  [[ "${SWIFT_LXCFS_SKIP_DOCKER:-}" == 1 ]] || pkgs+=(podman)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# lxcfs from apt starts its own service on systemd hosts; the tests start their own copy.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet lxcfs 2>/dev/null; then
  systemctl disable --now lxcfs >/dev/null 2>&1 || true
fi
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
command -v swift >/dev/null || { echo "swift-lxcfs: no Swift toolchain found (looked in PATH and /opt/swift)." >&2; exit 1; }
