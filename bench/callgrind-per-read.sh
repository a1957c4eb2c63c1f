#!/usr/bin/env bash
# User-space instructions per read of each served file, counted by callgrind
# on the daemon: a reader in its own v1 (or v2) cgroup opens, reads to EOF
# and closes the file 20 times (warm-up), then the counters are zeroed, it
# reads N more times (default 300) and the counters are dumped. The count
# includes libfuse's part of each request. As root.
#
#   bench/callgrind-per-read.sh [BINARY] [N]    e.g. bench/callgrind-per-read.sh .build/release/swift-lxcfs 300
#
# CALLGRIND_KEEP=DIR keeps each file's callgrind output there (for callgrind_annotate).
# CALLGRIND_DAEMON_ARGS="..." passes more flags to the daemon.
#
# valgrind 3.19 cannot read the DWARF 5 that Swift 6.3 writes, so the binary
# is copied without its debug sections first (symbols stay). The daemon runs
# with --no-reattach where it has that flag: the reattach step at start probes the daemon's own mount
# from another thread, which is not part of a read (and once left a thread
# blocked on the dead mount under valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release/swift-lxcfs}
n=${2:-300}
files=(proc/meminfo proc/cpuinfo proc/stat proc/uptime sys/devices/system/cpu/online proc/loadavg proc/swaps proc/diskstats)
work=$(mktemp -d)
cg=${SWIFT_LXCFS_CGROUP_PREFIX:-swl-callgrind}-cg
strip --strip-debug -o "$work/daemon" "$bin"
extra=()
if "$bin" --help 2>/dev/null | grep -q -- --no-reattach; then extra=(--no-reattach); fi
# Under valgrind every request costs some 50 times its CPU time, so the
# per-container CPU budget (issue 15) would hold the reader back and the
# dispatcher's waiting would be counted: it is turned off, and
# CALLGRIND_DAEMON_ARGS adds flags (e.g. "--render-cache-ms 0").
if "$bin" --help 2>/dev/null | grep -q -- --container-cpu-budget; then extra+=(--container-cpu-budget 0); fi
# shellcheck disable=SC2206
extra+=(${CALLGRIND_DAEMON_ARGS:-})
mkdir -p "$work/mnt"
controllers=()
if [[ -d /sys/fs/cgroup/memory ]]; then
  controllers=(memory cpu cpuacct cpuset blkio)
  for c in "${controllers[@]}"; do mkdir -p "/sys/fs/cgroup/$c/$cg"; done
  cp /sys/fs/cgroup/cpuset/cpuset.cpus "/sys/fs/cgroup/cpuset/$cg/cpuset.cpus"
  cp /sys/fs/cgroup/cpuset/cpuset.mems "/sys/fs/cgroup/cpuset/$cg/cpuset.mems"
  echo $((256 << 20)) > "/sys/fs/cgroup/memory/$cg/memory.limit_in_bytes"
else
  mkdir -p "/sys/fs/cgroup/$cg"
fi
(cd "$work" && exec valgrind --tool=callgrind --dump-instr=no "$work/daemon" -f "${extra[@]}" -p "$work/pid" "$work/mnt" >"$work/valgrind.log" 2>&1) &
vg=$!
cleanup() {
  kill "$vg" 2>/dev/null || true
  wait 2>/dev/null || true
  umount -l "$work/mnt" 2>/dev/null || true
  if ((${#controllers[@]})); then
    for c in "${controllers[@]}"; do rmdir "/sys/fs/cgroup/$c/$cg" 2>/dev/null || true; done
  else
    rmdir "/sys/fs/cgroup/$cg" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 120); do [[ -e "$work/mnt/proc/meminfo" ]] && break; sleep 0.5; done
reads() {  # FILE COUNT: a reader in the cgroup reads FILE COUNT times
  python3 - "$1" "$2" "$cg" <<'EOF'
import os, sys
path, count, cg = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for c in ("memory", "cpu", "cpuacct", "cpuset", "blkio"):
    p = f"/sys/fs/cgroup/{c}/{cg}/cgroup.procs"
    if os.path.exists(p): open(p, "w").write(str(os.getpid()))
if not os.path.exists("/sys/fs/cgroup/memory"):
    open(f"/sys/fs/cgroup/{cg}/cgroup.procs", "w").write(str(os.getpid()))
for _ in range(count):
    with open(path, "rb", buffering=0) as f:
        while f.read(65536): pass
EOF
}
printf '| file | instructions per read |\n|---|---:|\n'
for f in "${files[@]}"; do
  reads "$work/mnt/$f" 20
  callgrind_control -z "$vg" >/dev/null
  reads "$work/mnt/$f" "$n"
  rm -f "$work"/callgrind.out.*.[0-9]*
  callgrind_control -d "$vg" >/dev/null
  sleep 0.5
  out=$(ls -t "$work"/callgrind.out.* | head -1)
  if [[ -n "${CALLGRIND_KEEP:-}" ]]; then mkdir -p "$CALLGRIND_KEEP"; cp "$out" "$CALLGRIND_KEEP/${f//\//_}.out"; fi
  total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  printf '| %s | %s |\n' "$f" "$(python3 -c "print(f'{round($total / $n):,}')")"
done
