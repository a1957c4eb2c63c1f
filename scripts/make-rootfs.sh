#!/usr/bin/env bash
# Makes the Debian bookworm root filesystems the Docker tests import as
# images (no registry is reachable, so no image is pulled):
#
#   scripts/make-rootfs.sh minbase OUT.tar   debootstrap --variant=minbase plus
#                                            procps and python3-minimal
#   scripts/make-rootfs.sh systemd OUT.tar   the minbase tarball plus systemd as
#                                            init (systemd-sysv), fuse3 and libfuse3-3:
#                                            the unit runs under a real systemd 252
#   scripts/make-rootfs.sh swift OUT.tar     the minbase tarball plus what the
#                                            official Swift images carry to build,
#                                            this machine's toolchain (/opt/swift),
#                                            its package mirror (/opt/swift-packages)
#                                            and the git settings that read it
#
# Each tarball is made once and kept (the tests cache them under .cache/,
# which git ignores); delete it to make it again. Needs root and debootstrap.
set -euo pipefail
kind=${1:?usage: make-rootfs.sh minbase|systemd|swift OUT.tar}
out=${2:?usage: make-rootfs.sh minbase|systemd|swift OUT.tar}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
swift_dir=${SWIFT_TOOLCHAIN:-/opt/swift}
packages_dir=${SWIFT_PACKAGES_MIRROR:-/opt/swift-packages}
[[ -s "$out" ]] && { echo "make-rootfs: $out exists"; exit 0; }
mkdir -p "$(dirname "$out")"
work=$(mktemp -d /tmp/swift-lxcfs-rootfs.XXXXXX)
trap 'umount -R "$work/root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT

# The packages an official swift:*-bookworm image installs to build and test.
swift_deps=binutils,ca-certificates,git,gnupg2,libc6-dev,libcurl4-openssl-dev,libedit2,libffi8,libgcc-12-dev,libicu-dev,libncurses-dev,libpython3-dev,libsqlite3-0,libstdc++-12-dev,libxml2-dev,libzstd1,pkg-config,python3,tzdata,uuid-dev,zlib1g-dev
# Parts of the toolchain that building and testing never use (debugger,
# editor services, documentation, embedded targets): about 1.7 GB less to import.
swift_unused=(usr/bin/lldb\* usr/bin/sourcekit-lsp usr/bin/clangd usr/bin/docc usr/bin/swift-format
              usr/bin/wasmkit usr/bin/repl_swift usr/lib/liblldb\* usr/lib/libsourcekitdInProc.so
              usr/lib/swift/embedded)

case "$kind" in
  minbase)
    debootstrap --variant=minbase --include=procps,python3-minimal bookworm "$work/root" "$mirror" >"$work/log" 2>&1 \
      || { tail -20 "$work/log" >&2; exit 1; }
    rm -f "$work/root/var/cache/apt/archives/"*.deb
    ;;
  systemd)
    base="$(dirname "$out")/bookworm-minbase.tar"
    "$0" minbase "$base"
    mkdir "$work/root"
    tar -C "$work/root" -xf "$base"
    cp /etc/resolv.conf "$work/root/etc/resolv.conf"
    mount -t proc proc "$work/root/proc"
    chroot "$work/root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv fuse3 libfuse3-3 >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*"
    umount "$work/root/proc"
    # A container has no consoles, network setup or udev to wait for.
    for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
                systemd-networkd.service systemd-resolved.service systemd-timesyncd.service; do
      ln -sf /dev/null "$work/root/etc/systemd/system/$unit"
    done
    ;;
  swift)
    base="$(dirname "$out")/bookworm-minbase.tar"
    "$0" minbase "$base"
    mkdir "$work/root"
    tar -C "$work/root" -xf "$base"
    cp /etc/resolv.conf "$work/root/etc/resolv.conf"
    mount -t proc proc "$work/root/proc"
    chroot "$work/root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(tr , ' ' <<<"$swift_deps") >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*"
    umount "$work/root/proc"
    mkdir -p "$work/root/opt"
    mkdir "$work/root/opt/swift"
    tar -C "$swift_dir" -c "${swift_unused[@]/#/--exclude=./}" . | tar -C "$work/root/opt/swift" -x
    cp -a "$packages_dir" "$work/root/opt/swift-packages"
    # Every github.com address is read from the mirror, as on this machine.
    cat >"$work/root/etc/gitconfig" <<'GIT'
[url "/opt/swift-packages/"]
	insteadOf = https://github.com/
	insteadOf = git@github.com:
	insteadOf = ssh://git@github.com/
[safe]
	directory = *
GIT
    ;;
  *) echo "make-rootfs: unknown kind $kind (minbase, systemd or swift)" >&2; exit 2 ;;
esac
rm -f "$work/root/etc/resolv.conf"
: >"$work/root/etc/resolv.conf"
tar -C "$work/root" -cf "$out.part" .
mv "$out.part" "$out"
echo "make-rootfs: wrote $out ($(du -h "$out" | cut -f1))"
