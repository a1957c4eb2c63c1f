#!/usr/bin/env bash
# Proves swift-lxcfs on a real cgroup v2 kernel: boots Debian's kernel under
# QEMU (TCG, 4 vCPUs, 1 GiB, cgroup v2 only) with a busybox initramfs that
# holds a static-stdlib build of the daemon, libfuse3, fusermount3 and procps
# free/top; scripts/vm/init.sh runs the checks inside the guest.
#
# Prints one `pass|fail|skip NAME: DETAIL` line per check and then
# `N passed, N failed, N skipped`. Exit status: 0 when every check passed,
# 1 when a check failed, 2 when the VM did not get to the end (timeout,
# boot failure).
#
# Environment (all optional):
#   SWIFT_LXCFS_VM_CACHE    where .deb files, the kernel and the initramfs go
#                           (default .cache/vm; kept between runs)
#   SWIFT_LXCFS_VM_TIMEOUT  hard limit for the VM, in seconds (default 420)
#   SWIFT_LXCFS_VM_BIN      a prebuilt daemon to use instead of building one
#
# With --save-fixture, the guest's snapshot of the host files the daemon
# reads becomes Tests/LXCFSCoreTests/Fixtures/v2-kernel/root.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${SWIFT_LXCFS_VM_CACHE:-$REPO/.cache/vm}
TIMEOUT=${SWIFT_LXCFS_VM_TIMEOUT:-420}
MODULES=(fuse loop)
save_fixture=0
[[ ${1:-} == --save-fixture ]] && save_fixture=1

say() { echo "vm-test: $*" >&2; }
# Anything that fails before the checks ran (packages, download, build) is
# exit status 2, never 1 (a check failed).
trap 'say "failed at line $LINENO: $BASH_COMMAND"; exit 2' ERR

# ------------------------------------------------------------ host packages
source scripts/install-deps.sh
vm_pkgs=(qemu-system-x86 busybox-static procps)
missing=()
for p in "${vm_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ------------------------------------------------------------ the kernel
mkdir -p "$CACHE"
download() {  # download PACKAGE: fetches PACKAGE's .deb into $CACHE unless there
  local pkg=$1 version
  version=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
  if [[ -z $version || $version == "(none)" ]]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    version=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
  fi
  local deb
  deb=$(ls "$CACHE/${pkg}_${version//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
  if [[ -z $deb ]]; then
    say "downloading $pkg $version"
    (cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >/dev/null) || {
      apt-get -o DPkg::Lock::Timeout=600 update -qq
      (cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null)
    }
    deb=$(ls -t "$CACHE/${pkg}_"*.deb | head -n1)
  fi
  echo "$deb"
}
meta=$(download linux-image-amd64)
image_pkg=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p' | head -n1)
image_deb=$(download "$image_pkg")
kernel_dir=$CACHE/${image_pkg}
if [[ ! -f $kernel_dir/.extracted ]]; then
  rm -rf "$kernel_dir"
  dpkg-deb -x "$image_deb" "$kernel_dir"
  touch "$kernel_dir/.extracted"
fi
kver=$(ls "$kernel_dir/lib/modules")
vmlinuz=$kernel_dir/boot/vmlinuz-$kver
moddir=$kernel_dir/lib/modules/$kver
[[ -f $moddir/modules.dep ]] || busybox depmod -b "$kernel_dir" "$kver"

# The modules to load, dependencies first (modules.dep lists each module's
# dependencies; builtin ones need nothing).
load_order=()
add_module() {  # add_module PATH_IN_MODULES_DEP
  local rel=$1 dep
  for dep in $(awk -F': *' -v m="$rel" '$1 == m { print $2 }' "$moddir/modules.dep"); do
    add_module "$dep"
  done
  local seen
  for seen in "${load_order[@]}"; do [[ $seen == "$rel" ]] && return; done
  load_order+=("$rel")
}
for m in "${MODULES[@]}"; do
  rel=$(awk -F: -v m="$m" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); if (n == m) { print $1; exit } }' "$moddir/modules.dep")
  if [[ -n $rel ]]; then
    add_module "$rel"
  elif grep -q "/$m.ko" "$moddir/modules.builtin"; then
    :
  else
    say "kernel $kver has no module $m"; exit 2
  fi
done

# ------------------------------------------------------------ the daemon
if [[ -n ${SWIFT_LXCFS_VM_BIN:-} ]]; then
  daemon=$SWIFT_LXCFS_VM_BIN
else
  say "building the daemon with the static Swift standard library"
  swift build -c release --static-swift-stdlib 2>&1 | tail -n 3 >&2
  daemon=$REPO/.build/release/swift-lxcfs
fi
if ldd "$daemon" | grep -q libswift; then
  say "$daemon loads the Swift runtime dynamically; build it with --static-swift-stdlib"; exit 2
fi

# ------------------------------------------------------------ the initramfs
root=$CACHE/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,lib/modules,lib/terminfo/d,proc,sys,dev,tmp,run,var/lib}
install -m 755 "$(command -v busybox)" "$root/bin/busybox"
for applet in $(busybox --list); do
  [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
done
install -m 755 "$daemon" "$root/bin/swift-lxcfs"
for tool in fusermount3 free top; do install -m 755 "$(command -v $tool)" "$root/usr/bin/$tool"; done
# util-linux's unshare, for --cgroup (busybox's has none); beside busybox's, not over it.
install -D -m 755 "$(command -v unshare)" "$root/usr/lib/util-linux/unshare"
copy_libs() {  # copy_libs BINARY...: every shared library they load, at the same path
  local lib
  for lib in $(ldd "$@" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u); do
    [[ -e $root$lib ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
copy_libs "$(command -v busybox)" "$daemon" "$(command -v fusermount3)" "$(command -v free)" "$(command -v top)" "$(command -v unshare)"
[[ -f /lib/terminfo/d/dumb ]] && cp /lib/terminfo/d/dumb "$root/lib/terminfo/d/"
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
: > "$root/lib/modules/load-order"
for rel in "${load_order[@]}"; do
  name=$(basename "$rel"); name=${name%%.ko*}.ko
  case $rel in
    *.ko.xz) xz -dc "$moddir/$rel" > "$root/lib/modules/$name" ;;
    *.ko.zst) zstd -qdc "$moddir/$rel" > "$root/lib/modules/$name" ;;
    *) cp "$moddir/$rel" "$root/lib/modules/$name" ;;
  esac
  echo "$name" >> "$root/lib/modules/load-order"
done
install -m 755 scripts/vm/init.sh "$root/init"
initrd=$CACHE/initramfs.cpio
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) > "$initrd"

# ------------------------------------------------------------ boot
console=$CACHE/console.log
say "booting $kver under qemu-system-x86_64 -accel tcg (at most ${TIMEOUT}s)"
start=$SECONDS
set +e
trap - ERR
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg -smp 4 -m 1024 \
  -display none -monitor none -serial "file:$console" -nic none -no-reboot \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -kernel "$vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init psi=1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
  < /dev/null
qemu_status=$?
set -e
say "the VM ran for $((SECONDS - start))s, QEMU exit status $qemu_status"

# ------------------------------------------------------------ report
tr -d '\r' < "$console" | sed -n 's/^VMLOG /  /p'
tr -d '\r' < "$console" | sed -n 's/^VMCHECK //p' > "$CACHE/checks"
# The guest's snapshot of the files the daemon reads (see scripts/vm/init.sh).
rm -rf "$CACHE/snapshot"
if grep -q '^VMSNAPSHOT-END' "$console"; then
  mkdir -p "$CACHE/snapshot"
  tr -d '\r' < "$console" | sed -n '/^VMSNAPSHOT-BEGIN/,/^VMSNAPSHOT-END/p' | sed '1d;$d' \
    | base64 -d | tar -C "$CACHE/snapshot" -xzf - || say "could not unpack the guest's snapshot"
  if [[ $save_fixture == 1 ]]; then
    fixture=Tests/LXCFSCoreTests/Fixtures/v2-kernel/root
    rm -rf "$fixture" && mkdir -p "$fixture" && cp -a "$CACHE/snapshot/." "$fixture/"
    tr -d '\r' < "$console" | sed -n 's/^VMSNAPSHOT-BEGIN //p' > "$(dirname "$fixture")/readers"
    say "saved the guest's snapshot as $fixture"
  fi
fi
cat "$CACHE/checks"
passed=$(grep -c '^pass ' "$CACHE/checks" || true)
failed=$(grep -c '^fail ' "$CACHE/checks" || true)
skipped=$(grep -c '^skip ' "$CACHE/checks" || true)
done_line=$(tr -d '\r' < "$console" | grep '^VMDONE ' || true)
status=0
if [[ -z $done_line || $qemu_status -ne $(( (failed > 0 ? 1 : 0) << 1 | 1 )) ]]; then
  # No closing line from the guest, or QEMU's exit status disagrees with it.
  say "the VM did not finish its checks (QEMU exit status $qemu_status); last console lines:"
  tail -n 40 "$console" >&2
  failed=$((failed + 1))
  echo "fail vm_finished: QEMU exit status $qemu_status, closing line '${done_line:-none}'"
  status=2
elif ((failed > 0)); then
  status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
