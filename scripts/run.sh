#!/usr/bin/env bash
# Installs what is missing, builds swift-lxcfs in release mode and runs the
# daemon in the foreground at /var/lib/lxcfs (or the arguments given).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
swift build -c release --static-swift-stdlib
exec .build/release/swift-lxcfs "$@"
