#!/usr/bin/env bash
# Installs what is missing, builds swift-lxcfs in release mode and runs the
# daemon in the foreground at /var/lib/lxcfs (or the arguments given),
# under its supervisor: a crash of the daemon does not take the mount down
# (README.md, "Crashes, restarts and upgrades"). `scripts/run.sh render ...`
# runs that subcommand instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
swift build -c release --static-swift-stdlib
case "${1:-}" in
  render|supervise|-h|--help|-v|--version) exec .build/release/swift-lxcfs "$@" ;;
esac
exec .build/release/swift-lxcfs supervise "$@"
