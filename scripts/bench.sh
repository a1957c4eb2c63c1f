#!/usr/bin/env bash
# Benchmarks swift-lxcfs against the FUSE floor (bench/floorfs.c), lxcfs from
# apt and the host's /proc, as root. Installs what is missing, builds in
# release mode, then runs bench/bench.py, which compiles the C helpers and
# prints a table of reads/s and p50/p99 per file at 1, 4 and 32 readers
# (each in its own cgroup with its own limits), the per-read cost with 1, 100
# and 1000 cgroups, and the daemon's RSS over 1M reads. Not a test.
#
#   scripts/bench.sh                  full run (about 10 minutes)
#   scripts/bench.sh --quick          short runs (about a minute)
#   scripts/bench.sh --update-doc     also write the results into docs/performance.md
#   scripts/bench.sh --noisy          only the noisy-neighbour run (bench/noisy.py, about 40 s):
#                                     16 tight loops in a 0.5-CPU container against a quiet
#                                     reader, for swift-lxcfs, swift-lxcfs without budgets and lxcfs
#   scripts/bench.sh --no-noisy       the table without the noisy-neighbour run
#   scripts/bench.sh --help           every option
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh --test
if ! command -v gcc >/dev/null && ! command -v cc >/dev/null && ! command -v clang >/dev/null \
   && [[ ! -x /opt/swift/usr/bin/clang ]]; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi
[[ " $* " == *" --help "* || " $* " == *" -h "* ]] || swift build -c release --static-swift-stdlib
noisy=1 args=()
for a in "$@"; do
  case "$a" in
    --noisy) exec python3 bench/noisy.py ;;
    --no-noisy) noisy=0 ;;
    *) args+=("$a") ;;
  esac
done
python3 bench/bench.py --command "scripts/bench.sh $*" "${args[@]}"
if ((noisy)) && [[ " $* " != *" --help "* && " $* " != *" -h "* ]]; then
  quick=()
  [[ " $* " == *" --quick "* ]] && quick=(--seconds 3)
  python3 bench/noisy.py "${quick[@]}"
fi
