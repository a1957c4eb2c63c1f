#!/bin/sh
# The guest's /init for scripts/vm-test.sh (busybox ash, pid 1 in the VM).
#
# Mounts a pure cgroup v2 hierarchy, makes a swap device, creates nested
# cgroups with limits, starts two swift-lxcfs daemons (plain, and with
# --enable-cfs -l), reads their files from processes inside the cgroups and
# prints one line per check on the serial console:
#
#   VMCHECK pass|fail|skip NAME: DETAIL
#
# then `VMDONE passed=N failed=N skipped=N` and hands the result to the host
# through QEMU's isa-debug-exit port (0 = all passed, 1 = some failed), so
# that QEMU's own exit status is (CODE << 1) | 1.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
export TERM=dumb
umask 022

CG=/sys/fs/cgroup
PARENT=$CG/swl-vm-parent
CHILD=$PARENT/child
MNT=/var/lib/lxcfs          # plain daemon
MNT_CFS=/var/lib/lxcfs-cfs  # --enable-cfs -l
PASSED=0
FAILED=0
SKIPPED=0

log() { echo "VMLOG $*"; }

# pass|fail|skip NAME DETAIL
report() {
    case $1 in
        pass) PASSED=$((PASSED + 1)) ;;
        fail) FAILED=$((FAILED + 1)) ;;
        skip) SKIPPED=$((SKIPPED + 1)) ;;
    esac
    echo "VMCHECK $1 $2: $3"
}

# check NAME EXPECTED ACTUAL: passes when both strings are equal.
check_eq() {
    if [ "$2" = "$3" ]; then report pass "$1" "$3"; else report fail "$1" "expected '$2', got '$3'"; fi
}

# Ends the run: the closing line, then QEMU's exit port (poweroff as a fallback).
finish() {
    echo "VMDONE passed=$PASSED failed=$FAILED skipped=$SKIPPED"
    code=0
    [ "$FAILED" -eq 0 ] || code=1
    [ "${1:-ok}" = ok ] || code=2
    sync
    printf "\\$(printf %o "$code")" | dd of=/dev/port bs=1 seek=244 count=1 conv=notrunc 2>/dev/null
    poweroff -f
}

# A set-up step that must work, or the run ends as failed.
must() {
    "$@" || { report fail setup "'$*' failed"; finish error; }
}

# in_cgroup DIR CMD...: runs CMD as a process of cgroup DIR.
in_cgroup() {
    sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$@"
}

# field FILE KEY: the number after "KEY:" in a meminfo-style file.
field() { awk -v k="$2:" '$1 == k { print $2; exit }' "$1"; }

# ---------------------------------------------------------------- set-up
mkdir -p /proc /sys /dev /tmp /run "$MNT" "$MNT_CFS"
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
must mount -t cgroup2 cgroup2 $CG
log "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, cmdline: $(cat /proc/cmdline)"

while read -r module; do
    must insmod "/lib/modules/$module"
done < /lib/modules/load-order

# A swap device larger than the cgroups' swap allowances (64M, and 256M in
# the nested container), so that SwapTotal shows the cgroup's
# memory.swap.max and not the host's swap. (Sparse: it takes memory only
# for what is swapped out.)
must truncate -s 320M /swapfile
must losetup /dev/loop0 /swapfile
must mkswap /dev/loop0 >/dev/null
must swapon /dev/loop0
HOST_SWAP_KB=$(field /proc/meminfo SwapTotal)
log "host: MemTotal $(field /proc/meminfo MemTotal) kB, SwapTotal $HOST_SWAP_KB kB, online $(cat /sys/devices/system/cpu/online)"

# The kernel must really be pure cgroup v2: no v1 hierarchy in mountinfo.
v1=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup") n++; break } } END { print n + 0 }' /proc/self/mountinfo)
v2=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup2") n++; break } } END { print n + 0 }' /proc/self/mountinfo)
check_eq pure_cgroup_v2 "v1=0 v2=1" "v1=$v1 v2=$v2"

must sh -c "echo '+cpu +cpuset +memory' > $CG/cgroup.subtree_control"
must mkdir $PARENT
must sh -c "echo 512M > $PARENT/memory.max"
must sh -c "echo 64M > $PARENT/memory.swap.max"
must sh -c "echo '150000 100000' > $PARENT/cpu.max"
must sh -c "echo '+cpu +cpuset +memory' > $PARENT/cgroup.subtree_control"
must mkdir $CHILD
must sh -c "echo max > $CHILD/memory.max"
must sh -c "echo 'max 100000' > $CHILD/cpu.max"
must sh -c "echo 0-2 > $CHILD/cpuset.cpus"
log "parent: memory.max $(cat $PARENT/memory.max), memory.swap.max $(cat $PARENT/memory.swap.max), cpu.max $(cat $PARENT/cpu.max)"
log "child: memory.max $(cat $CHILD/memory.max), cpu.max $(cat $CHILD/cpu.max), cpuset.cpus.effective $(cat $CHILD/cpuset.cpus.effective)"

# start_daemon MOUNTPOINT NAME ARGS...
start_daemon() {
    mnt=$1 name=$2
    shift 2
    swift-lxcfs -p "/run/$name.pid" "$@" "$mnt" > "/tmp/$name.log" 2>&1 &
    i=0
    while ! awk -v m="$mnt" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 $! 2>/dev/null; then
            report fail "daemon_$name" "no mount at $mnt: $(cat /tmp/$name.log)"
            finish error
        fi
        sleep 0.1
    done
    report pass "daemon_$name" "mounted at $mnt${*:+ with $*}"
}
start_daemon $MNT plain
start_daemon $MNT_CFS cfs --enable-cfs -l

# ---------------------------------------------------------------- memory
in_cgroup $CHILD cat $MNT/proc/meminfo > /tmp/meminfo
check_eq meminfo_memtotal_from_parent "524288" "$(field /tmp/meminfo MemTotal)"
expect_swap=65536
[ "$HOST_SWAP_KB" -lt $expect_swap ] && expect_swap=$HOST_SWAP_KB
check_eq meminfo_swaptotal "$expect_swap" "$(field /tmp/meminfo SwapTotal)"
free_kb=$(field /tmp/meminfo MemFree)
avail_kb=$(field /tmp/meminfo MemAvailable)
if [ -n "$free_kb" ] && [ "$free_kb" -gt 0 ] && [ "$free_kb" -le 524288 ] && [ "$avail_kb" -le 524288 ]; then
    report pass meminfo_free_within_limit "MemFree $free_kb kB, MemAvailable $avail_kb kB"
else
    report fail meminfo_free_within_limit "MemFree '$free_kb' kB, MemAvailable '$avail_kb' kB, limit 524288 kB"
fi

# MemFree is the parent's headroom, 512M minus the parent's memory.current
# (read before and after; 1 MiB of slack for what the readers themselves
# allocate and free meanwhile).
in_cgroup $CHILD sh -c "cat $PARENT/memory.current > /tmp/before; cat $MNT/proc/meminfo > /tmp/meminfo; cat $PARENT/memory.current > /tmp/after"
result=$(awk -v b="$(cat /tmp/before)" -v a="$(cat /tmp/after)" '
    $1 == "MemFree:" { free = $2 }
    END {
        lo = int((536870912 - (a > b ? a : b)) / 1024) - 1024; hi = int((536870912 - (a < b ? a : b)) / 1024) + 1024
        print ((free >= lo && free <= hi) ? "pass " : "fail ") "MemFree " free " kB, 512M minus the parent memory.current gives " lo + 1024 ".." hi - 1024 " kB"
    }' /tmp/meminfo)
report "${result%% *}" meminfo_free_parent_headroom "${result#* }"

# The memory.stat keys the daemon reads on cgroup v2 are the kernel's, and
# the lines made from them carry the child's values: 8 MiB written to tmpfs
# by the child count as its shmem and file (page cache).
keys="file shmem active_anon inactive_anon active_file inactive_file unevictable file_mapped anon file_dirty file_writeback slab slab_reclaimable slab_unreclaimable"
missing=""
for k in $keys; do grep -q "^$k " $CHILD/memory.stat || missing="$missing $k"; done
check_eq memory_stat_keys_exist "missing: none" "missing:${missing:- none}"
mkdir -p /tmp/swl-vm-shm
in_cgroup $CHILD dd if=/dev/zero of=/tmp/swl-vm-shm/fill bs=1M count=8 2>/dev/null
in_cgroup $CHILD sh -c "cat $CHILD/memory.stat > /tmp/before; cat $MNT/proc/meminfo > /tmp/meminfo; cat $CHILD/memory.stat > /tmp/after"
result=$(awk -v b="$(cat /tmp/before)" -v a="$(cat /tmp/after)" '
    function kb(text, key,   n, i, w) {
        n = split(text, w, /[ \n]+/)
        for (i = 1; i < n; i++) if (w[i] == key) return int(w[i + 1] / 1024)
        return -1
    }
    function within(line, key,   lo, hi) {
        lo = kb(b, key); hi = kb(a, key)
        if (lo > hi) { t = lo; lo = hi; hi = t }
        msg = msg sep line " " v[line] " kB (" key " " lo ".." hi ")"; sep = ", "
        if (v[line] == "" || v[line] < lo || v[line] > hi) bad = 1
    }
    { v[$1] = $2 }
    END {
        within("Shmem:", "shmem"); within("Cached:", "file")
        within("Active(file):", "active_file"); within("Inactive(file):", "inactive_file")
        within("Unevictable:", "unevictable"); within("Mapped:", "file_mapped")
        if (v["Shmem:"] < 8192) bad = 1
        print (bad ? "fail " : "pass ") msg
    }' /tmp/meminfo)
report "${result%% *}" meminfo_lines_from_memory_stat "${result#* }"
rm -rf /tmp/swl-vm-shm

# ---------------------------------------------------------------- CPUs
# cpu_views NAME MOUNT EXPECTED_COUNT EXPECTED_ONLINE
cpu_views() {
    in_cgroup $CHILD cat $2/proc/cpuinfo > /tmp/cpuinfo
    check_eq "cpuinfo_processors_$1" "$(awk -v n=$3 'BEGIN { for (i = 0; i < n; i++) printf "%s%d", (i ? " " : ""), i }')" \
        "$(awk -F': *' '/^processor/ { printf "%s%s", s, $2; s = " " }' /tmp/cpuinfo)"
    check_eq "online_$1" "$4" "$(in_cgroup $CHILD cat $2/sys/devices/system/cpu/online)"
    for f in possible present; do
        check_eq "${f}_$1" "$4" "$(in_cgroup $CHILD cat $2/sys/devices/system/cpu/$f 2>&1)"
    done
    check_eq "cpu_folders_$1" "$(awk -v n=$3 'BEGIN { for (i = 0; i < n; i++) printf "%scpu%d", (i ? " " : ""), i }')" \
        "$(in_cgroup $CHILD ls $2/sys/devices/system/cpu | grep -E '^cpu[0-9]+$' | sort | tr '\n' ' ' | sed 's/ $//')"
}
cpu_views nocfs $MNT 3 0-2
cpu_views cfs $MNT_CFS 2 0-1

# Busy time in the child: a shell loop (user time) and many small reads and
# writes (system time), so that cpu.stat has something to show.
in_cgroup $CHILD timeout 2 sh -c 'while :; do :; done'
in_cgroup $CHILD dd if=/dev/zero of=/dev/null bs=1 count=100000 2>/dev/null

# stat_lines NAME MOUNT CPUS: cpu.stat read before and after /proc/stat by the
# same cgroup; the rendered user/system ticks must lie between the two. This
# must be each daemon's first /proc/stat read for the child: later reads
# continue from what was shown (monotonic counters, CFS scaling) instead.
stat_lines() {
    in_cgroup $CHILD sh -c "cat $CHILD/cpu.stat > /tmp/before; cat $2/proc/stat > /tmp/stat; cat $CHILD/cpu.stat > /tmp/after"
    check_eq "stat_cpu_lines_$1" "$(awk -v n=$3 'BEGIN { for (i = 0; i < n; i++) printf "%scpu%d", (i ? " " : ""), i }')" \
        "$(awk '/^cpu[0-9]/ { printf "%s%s", s, $1; s = " " }' /tmp/stat)"
    result=$(awk -v b="$(cat /tmp/before)" -v a="$(cat /tmp/after)" '
        function usec(text, key,   n, i, w) {
            n = split(text, w, /[ \n]+/)
            for (i = 1; i < n; i++) if (w[i] == key) return w[i + 1]
            return -1
        }
        $1 == "cpu" { for (i = 2; i <= 11; i++) total[i] = $i; seen = 1 }
        $1 ~ /^cpu[0-9]/ { for (i = 2; i <= 11; i++) sum[i] += $i }
        END {
            if (!seen) { print "fail no cpu line"; exit }
            for (i = 2; i <= 11; i++) if (total[i] != sum[i]) { print "fail cpu line field " i - 1 " is " total[i] ", the cpuN lines add up to " sum[i]; exit }
            for (i = 3; i <= 11; i++) if (i != 4 && i != 5 && total[i] != 0) { print "fail cpu line field " i - 1 " is " total[i] ", expected 0"; exit }
            ub = int(usec(b, "user_usec") / 10000); ua = int(usec(a, "user_usec") / 10000)
            sb = int(usec(b, "system_usec") / 10000); sa = int(usec(a, "system_usec") / 10000)
            msg = "user " total[2] " ticks (cpu.stat " ub ".." ua "), system " total[4] " ticks (cpu.stat " sb ".." sa ")"
            if (total[2] < ub || total[2] > ua || total[4] < sb || total[4] > sa || total[2] < 1) print "fail " msg
            else print "pass " msg
        }' /tmp/stat)
    report "${result%% *}" "stat_user_system_$1" "${result#* }"
}
stat_lines nocfs $MNT 3
stat_lines cfs $MNT_CFS 2

# ---------------------------------------------------------------- pressure
# The child's cpu.pressure (PSI, cgroup v2 only), read before and after.
if [ -f /proc/pressure/cpu ]; then
    in_cgroup $CHILD sh -c "cat $CHILD/cpu.pressure > /tmp/before; cat $MNT/proc/pressure/cpu > /tmp/pressure; cat $CHILD/cpu.pressure > /tmp/after"
    result=$(awk -v b="$(head -n1 /tmp/before)" -v a="$(head -n1 /tmp/after)" '
        function total(line) { sub(/.*total=/, "", line); return line + 0 }
        NR == 1 { first = $0; t = total($0) }
        END {
            msg = "\"" first "\" (child some total " total(b) ".." total(a) ")"
            print ((first ~ /^some avg10=/ && t >= total(b) && t <= total(a)) ? "pass " : "fail ") msg
        }' /tmp/pressure)
    report "${result%% *}" pressure_cpu_child "${result#* }"
else
    report fail pressure_cpu_child "the kernel has no /proc/pressure (psi=1 missing?)"
fi

# ---------------------------------------------------------------- snapshot
# The host files the daemon reads, copied as they are now into a fixture
# root (the layout of ../shared/cases/README.md) and printed on the console
# between VMSNAPSHOT markers, base64 of a gzipped tar: scripts/vm-test.sh
# unpacks it into .cache/vm/snapshot, and `scripts/vm-test.sh
# --save-fixture` makes it the fixture root of
# Tests/integration/test_v2_kernel_fixture.py. Readers: a process in the
# child, and the child of a pid namespace's init in the child.
# (Not through in_cgroup: a function run with & is a forked shell, and $!
# would name that shell instead of the process in the child.)
sh -c 'echo $$ > "$0/cgroup.procs" && exec sleep 600' $CHILD &
sleeper=$!
sh -c 'echo $$ > "$0/cgroup.procs" && exec unshare -p -f sh -c "sleep 600 & wait"' $CHILD &
nsholder=$!
sleep 1
# busybox unshare forks twice: the namespace's init (NSpid "N 1") is a
# grandchild of $nsholder; the reader is the init's child (NSpid "M 2").
ns_init=$(awk '$1 == "NSpid:" && NF == 3 && $3 == 1 { split(FILENAME, p, "/"); print p[3] }' /proc/[0-9]*/status 2>/dev/null | head -n1)
ns_reader=$(awk '{ print $1 }' /proc/$ns_init/task/$ns_init/children)
ns_chain=$(awk '{ print $1 }' /proc/$nsholder/task/$nsholder/children)
SNAP=/tmp/snapshot
mkdir -p $SNAP/proc/self $SNAP/sys/devices/system/cpu $SNAP/sys/fs/cgroup
cat /proc/self/mountinfo > $SNAP/proc/self/mountinfo
for f in meminfo cpuinfo stat uptime loadavg swaps; do cat /proc/$f > $SNAP/proc/$f; done
for f in online possible present; do cat /sys/devices/system/cpu/$f > $SNAP/sys/devices/system/cpu/$f; done
for pid in 1 $sleeper $nsholder $ns_chain $ns_init $ns_reader; do
    mkdir -p $SNAP/proc/$pid/ns
    for f in cgroup stat status; do cat /proc/$pid/$f > $SNAP/proc/$pid/$f; done
    readlink /proc/$pid/ns/pid > $SNAP/proc/$pid/ns/pid
done
for dir in $CG $PARENT $CHILD; do
    mkdir -p $SNAP$dir
    for f in $dir/*; do
        [ -f "$f" ] && cat "$f" > "$SNAP$f" 2>/dev/null || rm -f "$SNAP$f"
    done
done
{
    echo "Captured by scripts/vm-test.sh on Linux $(uname -r), pure cgroup v2, 4 CPUs."
    echo "$CHILD holds pid $sleeper (host pid namespace) and pid $nsholder (unshare), whose"
    echo "grandchild $ns_init is the init of a new pid namespace and $ns_reader the init's child."
    echo "$PARENT: memory.max 512M, memory.swap.max 64M, cpu.max 150000 100000."
    echo "$CHILD: memory.max max, cpu.max max 100000, cpuset.cpus 0-2."
} > $SNAP/README
echo "VMSNAPSHOT-BEGIN readers=$sleeper,$ns_reader ns_init=$ns_init"
tar -C $SNAP -czf - . | base64
echo "VMSNAPSHOT-END"
kill $sleeper $nsholder $ns_chain $ns_init 2>/dev/null
wait $sleeper $nsholder 2>/dev/null

# ---------------------------------------------------------------- uptime
# A reader in the host's pid namespace sees the host's uptime.
in_cgroup $CHILD sh -c "cat /proc/uptime > /tmp/h0; cat $MNT/proc/uptime > /tmp/u; cat /proc/uptime > /tmp/h1"
result=$(awk -v h0="$(cut -d' ' -f1 /tmp/h0)" -v h1="$(cut -d' ' -f1 /tmp/h1)" '{
    msg = $1 " s (host " h0 ".." h1 " s)"
    print (($1 >= h0 - 0.01 && $1 <= h1 + 0.01) ? "pass " : "fail ") msg }' /tmp/u)
report "${result%% *}" uptime_host_namespace "${result#* }"

# A reader in its own pid namespace sees the time since that namespace's
# init started (init's start time, /proc/1/stat field 22, in 1/100 s).
in_cgroup $CHILD unshare -p -f --mount-proc sh -c \
    "sleep 1; cat /proc/uptime > /tmp/h0; cat $MNT/proc/uptime > /tmp/u; cat /proc/uptime > /tmp/h1; cut -d' ' -f22 /proc/1/stat > /tmp/start; echo \$\$ > /tmp/nspid"
result=$(awk -v h0="$(cut -d' ' -f1 /tmp/h0)" -v h1="$(cut -d' ' -f1 /tmp/h1)" -v start="$(cat /tmp/start)" -v nspid="$(cat /tmp/nspid)" '{
    lo = h0 - start / 100; hi = h1 - start / 100
    msg = $1 " s (init is pid " nspid " in its namespace, started at " start / 100 " s; expected " lo ".." hi " s; host " h1 " s)"
    print ((nspid == 1 && $1 >= lo - 0.01 && $1 <= hi + 0.01 && $1 < h0) ? "pass " : "fail ") msg }' /tmp/u)
report "${result%% *}" uptime_pid_namespace_init "${result#* }"

# ---------------------------------------------------------------- swaps
if out=$(in_cgroup $CHILD cat $MNT/proc/swaps 2>/tmp/err); then
    printf '%s\n' "$out" > /tmp/swaps
    sizes=$(awk 'NR > 1 { printf "%s%s", s, $3; s = " " }' /tmp/swaps)
    if head -n1 /tmp/swaps | grep -q '^Filename' && [ "$sizes" = "$expect_swap" ]; then
        report pass swaps "one swap line of $sizes kB"
    else
        report fail swaps "expected a header and one line of $expect_swap kB, got: $(tr '\n' '|' < /tmp/swaps)"
    fi
else
    report fail swaps "$(cat /tmp/err)"
fi

# ---------------------------------------------------------------- loadavg -l
if out=$(in_cgroup $CHILD cat $MNT_CFS/proc/loadavg 2>/tmp/err); then
    # Two busy loops in the child for long enough that the daemon samples them.
    in_cgroup $CHILD timeout 12 sh -c 'while :; do :; done' &
    busy1=$!
    in_cgroup $CHILD timeout 12 sh -c 'while :; do :; done' &
    busy2=$!
    sleep 11
    out=$(in_cgroup $CHILD cat $MNT_CFS/proc/loadavg)
    host=$(cat /proc/loadavg)
    wait $busy1 $busy2
    result=$(echo "$out" | awk '{
        split($4, rt, "/")
        ok = NF == 5 && $1 > 0 && rt[2] >= 2 && $5 ~ /^[0-9]+$/
        print (ok ? "pass " : "fail ") "\"" $0 "\"" }')
    report "${result%% *}" loadavg_cgroup "${result#* } after two busy loops in the child (host: $host)"
else
    report fail loadavg_cgroup "$(cat /tmp/err)"
fi

# ---------------------------------------------------------------- real tools
# procps free and top, in a mount namespace with the files bound over /proc
# and /sys/devices/system/cpu/online, as a container would have them. (Full
# paths: busybox sh would run its own free and top applets, and busybox free
# reads sysinfo(2), which no /proc view can change.) top runs two frames
# while a busy loop runs in the child: it keeps /proc/stat open and re-reads
# it from offset 0, so its second frame shows the cgroup's CPU use only if
# such a re-read renders the file again. COLUMNS: top cuts lines to the
# terminal width, 80 without a terminal, and would drop the second CPU of
# each line.
in_cgroup $CHILD timeout 8 sh -c 'while :; do :; done' &
busy=$!
in_cgroup $CHILD unshare -m sh -c "
    for f in meminfo cpuinfo stat uptime; do mount --bind $MNT/proc/\$f /proc/\$f || exit 1; done
    mount --bind $MNT/sys/devices/system/cpu/online /sys/devices/system/cpu/online || exit 1
    /usr/bin/free -k > /tmp/free && COLUMNS=200 /usr/bin/top -b -n 2 -d 2 -1 > /tmp/top" 2>/tmp/err \
    || report fail real_tools_setup "$(cat /tmp/err)"
wait $busy
# The last frame of top's output.
awk '/^top - / { n++ } { frame[n] = frame[n] $0 "\n" } END { printf "%s", frame[n] }' /tmp/top > /tmp/top-last
log "free -k: $(head -3 /tmp/free | tr -s ' ' | tr '\n' '|')"
log "top: $(head -6 /tmp/top-last | tr -s ' ' | tr '\n' '|')"
check_eq free_mem_total 524288 "$(awk '$1 == "Mem:" { print $2 }' /tmp/free)"
check_eq free_swap_total "$expect_swap" "$(awk '$1 == "Swap:" { print $2 }' /tmp/free)"

# top_total NAME KEY EXPECTED_KB: top's "KiB|MiB|GiB KEY: N total", equal to
# EXPECTED_KB within top's rounding to one decimal.
top_total() {
    result=$(grep -o "[KMG]iB $2 *: *[0-9.]* total" /tmp/top-last | head -n1 | awk -v want="$3" '{
        f = ($1 == "KiB") ? 1 : ($1 == "MiB") ? 1024 : 1048576
        sub(/.*: */, ""); v = $1
        d = v * f - want; if (d < 0) d = -d
        print ((d <= f / 20 + 0.5) ? "pass " : "fail ") $0 " (expected " want " kB)" }')
    [ -n "$result" ] || result="fail no '$2' total in top's output"
    report "${result%% *}" "$1" "${result#* }"
}
top_total top_mem_total Mem 524288
top_total top_swap_total Swap "$expect_swap"
result=$(grep -o '%Cpu[0-9]* *: *[0-9.]* us' /tmp/top-last | awk -F: '{
        sub(/ *$/, "", $1); sub(/ us/, "", $2); names = names sep $1; us += $2; sep = " " }
    END { print ((names == "%Cpu0 %Cpu1 %Cpu2" && us > 0) ? "pass " : "fail ") names ", user " us "% in all in the second frame" }')
report "${result%% *}" top_per_cpu_refresh "${result#* }"

# ---------------------------------------------------------------- swap in use
# A cgroup under the parent with memory.max 16M that holds 40 MiB of tmpfs
# pages: most of them go to swap, which memory.swap.current counts.
SMALL=$PARENT/small
must mkdir $SMALL
must sh -c "echo 16M > $SMALL/memory.max"
mkdir -p /tmp/swl-vm-small
in_cgroup $SMALL dd if=/dev/zero of=/tmp/swl-vm-small/fill bs=1M count=40 2>/tmp/err \
    || report fail swap_in_use_setup "dd into tmpfs under memory.max 16M failed: $(cat /tmp/err)"
in_cgroup $SMALL sh -c "cat $SMALL/memory.swap.current > /tmp/before; cat $MNT/proc/meminfo > /tmp/meminfo; cat $SMALL/memory.swap.current > /tmp/after"
check_eq meminfo_memtotal_small "16384" "$(field /tmp/meminfo MemTotal)"
result=$(awk -v b="$(cat /tmp/before)" -v a="$(cat /tmp/after)" -v total="$expect_swap" '
    $1 == "SwapTotal:" { st = $2 } $1 == "SwapFree:" { sf = $2 }
    END {
        lo = total - int(a / 1024); hi = total - int(b / 1024)
        msg = "SwapTotal " st " kB, SwapFree " sf " kB (memory.swap.current " int(b / 1024) ".." int(a / 1024) " kB)"
        print ((st == total && b > 0 && sf >= lo && sf <= hi) ? "pass " : "fail ") msg
    }' /tmp/meminfo)
report "${result%% *}" meminfo_swapfree_small "${result#* }"
rm -rf /tmp/swl-vm-small
rmdir $SMALL

# ---------------------------------------------------------------- block I/O
# 1 MiB written with O_DIRECT by the child to a second loop device shows in
# the child's io.stat and, through the mount, as that device's diskstats
# line (sectors of 512 bytes); devices the child did not touch are left out.
# (The io controller is enabled only now: with it, the loop driver charges
# the writes to a loop device's backing file to the memory cgroup of the
# process that caused them, and the swap-out of the small cgroup above, to a
# loop device backed by a tmpfs file, would then need memory that cgroup no
# longer has.)
must sh -c "echo +io > $CG/cgroup.subtree_control"
must sh -c "echo +io > $PARENT/cgroup.subtree_control"
must truncate -s 8M /diskfile
must losetup /dev/loop1 /diskfile
in_cgroup $CHILD dd if=/dev/zero of=/dev/loop1 bs=4096 count=256 oflag=direct 2>/dev/null \
    || report fail diskstats_setup "dd to /dev/loop1 failed"
in_cgroup $CHILD sh -c "cat $MNT/proc/diskstats > /tmp/diskstats"
iostat=$(grep '^7:1 ' $CHILD/io.stat)
log "child io.stat: $(tr '\n' '|' < $CHILD/io.stat)"
result=$(awk -v io="$iostat" '
    BEGIN { n = split(io, w, /[ =]/); for (i = 2; i < n; i += 2) v[w[i]] = w[i + 1] }
    { lines++; if ($3 == "loop1") { writes = $8; sectors = $10 } }
    END {
        msg = lines " line(s); loop1: " writes " writes, " sectors " sectors written (io.stat wios=" v["wios"] " wbytes=" v["wbytes"] ")"
        print ((lines == 1 && v["wbytes"] >= 1048576 && writes == v["wios"] && sectors == v["wbytes"] / 512) ? "pass " : "fail ") msg
    }' /tmp/diskstats)
report "${result%% *}" diskstats_child "${result#* }"

# ---------------------------------------------------------------- root cgroup
log "root cgroup meminfo: $(head -5 $MNT/proc/meminfo | tr -s ' ' | tr '\n' '|')"
# A process in the root cgroup (no memory.max, no memory.current, no cpu.max
# there on cgroup v2) sees the host's totals and all CPUs.
cat $MNT_CFS/proc/meminfo > /tmp/meminfo
check_eq root_cgroup_meminfo_totals "MemTotal $(field /proc/meminfo MemTotal) SwapTotal $(field /proc/meminfo SwapTotal)" \
    "MemTotal $(field /tmp/meminfo MemTotal) SwapTotal $(field /tmp/meminfo SwapTotal)"
check_eq root_cgroup_cpus "online $(cat /sys/devices/system/cpu/online), 4 processors, 4 cpuN lines" \
    "online $(cat $MNT_CFS/sys/devices/system/cpu/online), $(grep -c '^processor' $MNT_CFS/proc/cpuinfo) processors, $(grep -c '^cpu[0-9]' $MNT_CFS/proc/stat) cpuN lines"

# ---------------------------------------------------------------- CPU hotplug
# With CPU 1 taken offline, the child's cpuset.cpus.effective becomes 0,2:
# two CPUs, shown as 0 and 1 everywhere; the root cgroup sees three.
if echo 0 > /sys/devices/system/cpu/cpu1/online 2>/dev/null; then
    log "CPU 1 offline: host online $(cat /sys/devices/system/cpu/online), child cpuset.cpus.effective $(cat $CHILD/cpuset.cpus.effective)"
    check_eq hotplug_child_cpus "processors 0 1, online 0-1, stat cpu0 cpu1" \
        "processors $(in_cgroup $CHILD cat $MNT/proc/cpuinfo | awk -F': *' '/^processor/ { printf "%s%s", s, $2; s = " " }'), online $(in_cgroup $CHILD cat $MNT/sys/devices/system/cpu/online), stat $(in_cgroup $CHILD cat $MNT/proc/stat | awk '/^cpu[0-9]/ { printf "%s%s", s, $1; s = " " }')"
    check_eq hotplug_root_cpus "processors 0 1 2, online 0-2" \
        "processors $(awk -F': *' '/^processor/ { printf "%s%s", s, $2; s = " " }' $MNT/proc/cpuinfo), online $(cat $MNT/sys/devices/system/cpu/online)"
    echo 1 > /sys/devices/system/cpu/cpu1/online
else
    report fail hotplug_setup "cannot take CPU 1 offline"
fi

# ---------------------------------------------------------------- nested container
# The tree of lxcfs's hierarchy tests (issue 14): cg1 (500M, swap 256M, CFS
# quota 3 CPUs) / cg2 (600M, swap 300M, cpuset 0-2) / cg3, the container: a
# real cgroup namespace rooted at cg3 (unshare --cgroup, util-linux's: busybox
# has no --cgroup) and a new pid namespace, whose init moves itself to
# cg3/init.scope as systemd does. Inside, cg4 (400M, swap 200M, cpus 0,2,
# quota 2 CPUs) / cg5 / cg6 (900M) / cg7. A reader in cg7 and the init itself
# must see the container's view: MemTotal 512000 kB, SwapTotal 262144 kB (and
# in /proc/swaps), 3 CPUs in /proc/stat without and with --enable-cfs.
UL_UNSHARE=/usr/lib/util-linux/unshare
N1=$CG/swl-nest-cg1
N2=$N1/cg2
N3=$N2/cg3
N4=$N3/cg4
N5=$N4/cg5
N6=$N5/cg6
N7=$N6/cg7
must mkdir -p $N3/init.scope
must sh -c "echo '+cpu +cpuset +memory' > $N1/cgroup.subtree_control"
must sh -c "echo '+cpu +cpuset +memory' > $N2/cgroup.subtree_control"
must sh -c "echo 500M > $N1/memory.max"
must sh -c "echo 256M > $N1/memory.swap.max"
must sh -c "echo '300000 100000' > $N1/cpu.max"
must sh -c "echo 600M > $N2/memory.max"
must sh -c "echo 300M > $N2/memory.swap.max"
must sh -c "echo 0-2 > $N2/cpuset.cpus"
# The container's init: these steps run as pid 1 of the new namespaces.
cat > /tmp/nest-init.sh <<EOF
fail() { echo "\$*" > /tmp/nest-error; exit 1; }
echo 1 > $N3/init.scope/cgroup.procs || fail "cannot move the init to init.scope"
touch /tmp/nest-inscope
while [ ! -e /tmp/nest-go ]; do sleep 0.1; done
echo '+cpu +cpuset +memory' > $N3/cgroup.subtree_control || fail "cannot enable controllers in cg3"
mkdir -p $N7 || fail "mkdir cg4..cg7"
echo 400M > $N4/memory.max && echo 200M > $N4/memory.swap.max && echo 0,2 > $N4/cpuset.cpus \
    && echo '200000 100000' > $N4/cpu.max || fail "cg4 limits"
for d in $N4 $N5 $N6; do echo '+cpu +cpuset +memory' > \$d/cgroup.subtree_control || fail "controllers in \$d"; done
echo 900M > $N6/memory.max || fail "cg6 limit"
cat /proc/self/cgroup > /tmp/nest-init-cgroup
cat $MNT/proc/meminfo > /tmp/nest-init-meminfo
sh -c 'echo \$\$ > $N7/cgroup.procs && cat /proc/self/cgroup > /tmp/nest-cgroup && cat $MNT/proc/meminfo > /tmp/nest-meminfo \
    && cat $MNT/proc/swaps > /tmp/nest-swaps && cat $MNT/proc/stat > /tmp/nest-stat && cat $MNT_CFS/proc/stat > /tmp/nest-stat-cfs \
    && cat $MNT_CFS/sys/devices/system/cpu/online > /tmp/nest-online-cfs && cat $MNT/sys/devices/system/cpu/online > /tmp/nest-online' \
    || fail "the reader in cg7 failed"
touch /tmp/nest-done
EOF
# wait_file FILE TENTHS: waits for FILE (or /tmp/nest-error) at most TENTHS/10 s.
wait_file() {
    i=0
    while [ ! -e "$1" ] && [ ! -e /tmp/nest-error ] && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$1" ]
}
sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' $N3 $UL_UNSHARE --cgroup --pid --fork sh /tmp/nest-init.sh > /tmp/nest-log 2>&1 &
nest=$!
if wait_file /tmp/nest-inscope 600; then
    # Only unshare itself is left in cg3: out with it, so that cg3 may
    # enable controllers for its children (no internal processes on v2).
    for p in $(cat $N3/cgroup.procs); do echo $p > $CG/cgroup.procs; done
    touch /tmp/nest-go
    wait_file /tmp/nest-done 1200
fi
wait $nest
if [ -e /tmp/nest-done ]; then
    log "nested: init $(cat /tmp/nest-init-cgroup), reader $(cat /tmp/nest-cgroup); cg4 cpuset.cpus.effective $(cat $N4/cpuset.cpus.effective), cg3 $(cat $N3/cpuset.cpus.effective); cg7 read $(head -3 /tmp/nest-meminfo | tr -s ' ' | tr '\n' '|')"
    check_eq nested_cgroup_namespace "init 0::/init.scope, reader 0::/cg4/cg5/cg6/cg7" \
        "init $(cat /tmp/nest-init-cgroup), reader $(cat /tmp/nest-cgroup)"
    check_eq nested_memtotal_cg7 512000 "$(field /tmp/nest-meminfo MemTotal)"
    check_eq nested_memtotal_init 512000 "$(field /tmp/nest-init-meminfo MemTotal)"
    check_eq nested_swaptotal_cg7 "262144 (host $HOST_SWAP_KB)" "$(field /tmp/nest-meminfo SwapTotal) (host $HOST_SWAP_KB)"
    check_eq nested_swaps_cg7 262144 "$(awk 'NR > 1 { printf "%s%s", s, $3; s = " " }' /tmp/nest-swaps)"
    check_eq nested_stat_cpus_cg7 "cpu0 cpu1 cpu2, online 0-2" \
        "$(awk '/^cpu[0-9]/ { printf "%s%s", s, $1; s = " " }' /tmp/nest-stat), online $(cat /tmp/nest-online)"
    check_eq nested_stat_cpus_cfs_cg7 "cpu0 cpu1 cpu2, online 0-2" \
        "$(awk '/^cpu[0-9]/ { printf "%s%s", s, $1; s = " " }' /tmp/nest-stat-cfs), online $(cat /tmp/nest-online-cfs)"
else
    report fail nested_setup "$(cat /tmp/nest-error 2>/dev/null) $(tr '\n' '|' < /tmp/nest-log)"
fi

# ---------------------------------------------------------------- the end
for name in plain cfs; do
    if [ -s /tmp/$name.log ]; then log "daemon $name said: $(head -c 2000 /tmp/$name.log | tr '\n' '|')"; fi
done
finish
