#!/usr/bin/env bash
# The daemon's CPU time per read, swift-lxcfs against the floor (bench/floorfs.c),
# measured in the same seconds: one long-lived reader (bench/readbench) in a v1
# cgroup reads FILE N times through each server; the CPU time (utime + stime
# of all the server's threads, /proc/PID/task/*/stat) before and after is
# divided by N. Also prints reads/s, p50 and context switches per read.
# Run scripts/bench.sh once first (it builds the tools into .build/bench/tools).
#
#   bench/cpu-per-read.sh FILE [N]      e.g. bench/cpu-per-read.sh proc/meminfo 10000
set -euo pipefail
cd "$(dirname "$0")/.."
f=${1:?usage: bench/cpu-per-read.sh FILE [N]}
n=${2:-10000}
tools=.build/bench/tools
bin=${SWIFT_LXCFS_BIN:-.build/release/swift-lxcfs}
work=$(mktemp -d)
cg=swl-cpuper
mkdir -p "$work/floor" "$work/swift"
"$tools/floorfs" -c -i 16 "$work/floor" "/$f" & floor=$!
"$bin" -f -p "$work/swift.pid" "$work/swift" >/dev/null 2>&1 & swift=$!
cleanup() {
  kill "$floor" "$swift" 2>/dev/null || true
  wait 2>/dev/null || true
  for c in memory cpu cpuacct cpuset; do rmdir "/sys/fs/cgroup/$c/$cg-0" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for c in memory cpu cpuacct cpuset; do mkdir -p "/sys/fs/cgroup/$c/$cg-0"; done
cp /sys/fs/cgroup/cpuset/cpuset.cpus "/sys/fs/cgroup/cpuset/$cg-0/cpuset.cpus"
cp /sys/fs/cgroup/cpuset/cpuset.mems "/sys/fs/cgroup/cpuset/$cg-0/cpuset.mems"
sleep 1.5
cpu() { awk '{s += $14 + $15} END {print s}' /proc/"$1"/task/*/stat; }
ctx() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
tick=$(getconf CLK_TCK)
for target in floor swift; do
  pid=$([[ $target == floor ]] && echo "$floor" || echo "$swift")
  c0=$(cpu "$pid"); x0=$(ctx "$pid")
  out=$("$tools/readbench" -n 1 -t 0 -r "$n" -c "$cg" -g 1 "$work/$target/$f")
  c1=$(cpu "$pid"); x1=$(ctx "$pid")
  python3 -c "
import json, sys
d = json.loads(sys.argv[1])
print(f\"$target $f: {d['reads_per_s']:.0f} reads/s, p50 {d['p50_us']:.0f} µs, \"
      f\"daemon CPU {($c1 - $c0) * 1e6 / $tick / $n:.0f} µs/read, \"
      f\"{($x1 - $x0) / $n:.2f} context switches/read\")" "$out"
done
