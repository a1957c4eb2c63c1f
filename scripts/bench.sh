#!/usr/bin/env bash
# Benchmarks swift-lxcfs against the FUSE floor (bench/floorfs.c), lxcfs from
# apt and the host's /proc, as root. Installs what is missing, builds in
# release mode, compiles the C helpers, then runs bench/bench.py: a table of
# reads/s and p50/p99 per file at 1, 4 and 32 readers (each in its own
# cgroup), per-read cost with 1, 100 and 1000 cgroups, and the daemon's RSS.
#
#   scripts/bench.sh                  full run (about 8 minutes)
#   scripts/bench.sh --quick          short runs (about 1 minute)
#   scripts/bench.sh --update-doc     also write the results into docs/performance.md
#   scripts/bench.sh --help           every option
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh --test
command -v gcc >/dev/null || { apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null; }
[[ " $* " == *" --help "* || " $* " == *" -h "* ]] || swift build -c release
tools=.build/bench/tools
mkdir -p "$tools"
gcc -O2 -Wall -o "$tools/readbench" bench/readbench.c
gcc -O2 -Wall -o "$tools/floorfs" bench/floorfs.c $(pkg-config --cflags --libs fuse3)
exec python3 bench/bench.py --tools "$tools" --command "scripts/bench.sh $*" "$@"
