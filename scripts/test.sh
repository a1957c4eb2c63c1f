#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite, as root:
# unit tests (swift test), the shared fixture cases (when ../shared exists)
# and the integration tests on a real FUSE mount with real cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh --test
swift build -c release
swift test 2>&1 | tee /tmp/swift-lxcfs-unit.log
if [[ -f ../shared/cases/run_cases.py ]]; then
  python3 ../shared/cases/run_cases.py .build/release/swift-lxcfs
fi
python3 -c "import pytest" 2>/dev/null || python3 -m pip install -q pytest
SWIFT_LXCFS_BIN="$PWD/.build/release/swift-lxcfs" python3 -m pytest -v -p no:cacheprovider Tests/integration "$@"
