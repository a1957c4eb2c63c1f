#!/usr/bin/env bash
# The long form of the Dockerfile.test check: builds Dockerfile.test in the
# Docker tests' private engine and runs the whole suite (scripts/test.sh,
# unit tests included) inside the container, not only the short form CI
# runs. Takes some 40 minutes on 2 cores. Needs root, like scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh --test
swift build -c release --static-swift-stdlib
SWIFT_LXCFS_CONTAINER_SUITE=full SWIFT_LXCFS_BIN="$PWD/.build/release/swift-lxcfs" \
  python3 -m pytest -v -p no:cacheprovider \
  "Tests/integration/test_docker.py::test_dockerfile_test_builds_and_passes_inside_a_container" "$@"
