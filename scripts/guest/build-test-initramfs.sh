#!/usr/bin/env bash
# Builds an uncompressed newc initramfs for the test kernel, without root (the kernel's
# gen_init_cpio writes device nodes from a description file). Prints the image directory
# (holding initramfs.cpio) on stdout.
#
#   build-test-initramfs.sh            /init = guest/init/spin-init.S: spins in user mode, makes no
#                                      system calls (for KVM-PVM hosts, where guest user space
#                                      cannot make any). Deliberately has no /sbin/poweroff.
#   build-test-initramfs.sh --busybox  /init = guest/stock-init.sh under busybox-static (for hosts
#                                      with hardware virtualization, where user space works).
#   --cached                           only look: print the directory if built, else exit 3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

variant=spin cached=
for a in "$@"; do
  case "$a" in
    --busybox) variant=busybox ;;
    --cached) cached=1 ;;
    *) die "usage: build-test-initramfs.sh [--busybox] [--cached]" ;;
  esac
done
[ -n "$cached" ] || need_pkgs binutils gcc linux-source-6.1 >&2

if [ "$variant" = spin ]; then
  name=test-initramfs
  key=$(content_hash "$REPO/guest/init/spin-init.S" "${BASH_SOURCE[0]}" "$(as --version | head -1)")
else
  [ -n "$cached" ] || need_pkgs busybox-static >&2
  name=test-initramfs-busybox
  key=$(content_hash "$REPO/guest/stock-init.sh" "${BASH_SOURCE[0]}" \
    "busybox-static=$(pkg_version busybox-static)")
fi
out=$IMAGES/$name-$key
if [ -f "$out/initramfs.cpio" ]; then echo "$out"; exit 0; fi
[ -z "$cached" ] || exit 3

mkdir -p "$IMAGES"
tmp=$(mktemp -d "$IMAGES/.$name-$key.XXXXXX")
desc=$tmp/initramfs.list
cat >"$desc" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
LIST

if [ "$variant" = spin ]; then
  as -o "$tmp/spin-init.o" "$REPO/guest/init/spin-init.S"
  ld -static -nostdlib -o "$tmp/init" "$tmp/spin-init.o"
  rm "$tmp/spin-init.o"
  echo "file /init $tmp/init 0755 0 0" >>"$desc"
else
  cat >>"$desc" <<LIST
dir /bin 0755 0 0
dir /sbin 0755 0 0
dir /usr 0755 0 0
dir /usr/bin 0755 0 0
dir /usr/sbin 0755 0 0
dir /etc 0755 0 0
dir /tmp 1777 0 0
dir /run 0755 0 0
dir /root 0700 0 0
file /bin/busybox /bin/busybox 0755 0 0
slink /bin/sh busybox 0777 0 0
file /init $REPO/guest/stock-init.sh 0755 0 0
LIST
fi

make_cpio "$desc" "$tmp/initramfs.cpio"
publish "$tmp" "$out"
echo "$out"
