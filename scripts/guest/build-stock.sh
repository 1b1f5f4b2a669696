#!/usr/bin/env bash
# Builds the stock guest: Debian's unmodified cloud kernel (newest linux-image-6.1.0-*-cloud-
# amd64-unsigned), its ELF vmlinux extracted on the host, and an uncompressed newc initramfs
# with busybox-static, the Hyper-V modules, Debian's hyperv-daemons and guest/stock-init.sh as
# /init. No root needed except to install missing host packages. Prints the image directory.
# With --cached, only looks: prints the directory if that image is already built, else exits 3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Modules loaded at boot (their dependencies from modules.dep are added, dependencies first).
# sd_mod is not a dependency of hv_storvsc but is what turns its SCSI disks into /dev/sd*.
MODULES=(hv_vmbus hv_utils hv_storvsc sd_mod hv_netvsc hyperv-keyboard hv_balloon hv_sock)

cached=; [ "${1:-}" != --cached ] || cached=1
[ -n "$cached" ] || need_pkgs busybox-static lz4 kmod linux-source-6.1 gcc >&2

dl=$CACHE/downloads
kpkg=$(apt-cache pkgnames linux-image-6.1.0- \
  | grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' | sort -V | tail -n 1 || true)
if [ -z "$kpkg" ] && [ -z "$cached" ]; then
  as_root apt-get update -qq
  kpkg=$(apt-cache pkgnames linux-image-6.1.0- \
    | grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' | sort -V | tail -n 1 || true)
fi
[ -n "$kpkg" ] || die "no linux-image-6.1.0-*-cloud-amd64-unsigned package in the apt index"
cand() { apt-cache policy "$1" | awk '/Candidate:/ { print $2 }'; }
kver_pkg=$(cand "$kpkg"); dver=$(cand hyperv-daemons)

key=$(content_hash "$REPO/guest/stock-init.sh" "${BASH_SOURCE[0]}" "$kpkg=$kver_pkg" \
  "hyperv-daemons=$dver" "busybox-static=$(pkg_version busybox-static)" "${MODULES[*]}")
out=$IMAGES/stock-$key
if [ -f "$out/vmlinux" ] && [ -f "$out/initramfs.cpio" ]; then echo "$out"; exit 0; fi
[ -z "$cached" ] || exit 3
mkdir -p "$dl" "$IMAGES"

# apt-get download names files with the epoch's ':' escaped as %3a.
deb() { ls "$dl/$1"_*"_amd64.deb" 2>/dev/null | head -n 1; }
fetch() {
  local f; f=$(deb "$1")
  if [ -z "$f" ] || [[ "$f" != *"_${2//:/%3a}_amd64.deb" ]]; then
    say "downloading $1 $2"
    rm -f "$dl/$1"_*_amd64.deb
    (cd "$dl" && apt-get download "$1=$2" >/dev/null 2>&1) || die "apt-get download $1=$2 failed"
    f=$(deb "$1")
  fi
  echo "$f"
}
kdeb=$(fetch "$kpkg" "$kver_pkg")
ddeb=$(fetch hyperv-daemons "$dver")

tmp=$(mktemp -d "$IMAGES/.stock-$key.XXXXXX")
work=$tmp/work
mkdir -p "$work"
dpkg-deb -x "$kdeb" "$work/k"
dpkg-deb -x "$ddeb" "$work/d"
krel=$(ls "$work/k/lib/modules")
[ "$(echo "$krel" | wc -l)" = 1 ] || die "expected one kernel release in $kpkg, found: $krel"
cp "$work/k/boot/vmlinuz-$krel" "$tmp/bzImage"
cp "$work/k/boot/config-$krel" "$tmp/config"
cp "$work/k/boot/System.map-$krel" "$tmp/System.map"
echo "$krel" >"$tmp/kernel-release"
printf '%s=%s\nhyperv-daemons=%s\nbusybox-static=%s\n' "$kpkg" "$kver_pkg" "$dver" \
  "$(pkg_version busybox-static)" >"$tmp/packages"

"$REPO/scripts/guest/extract-vmlinux.sh" "$tmp/bzImage" "$tmp/vmlinux"

# Modules: depmod (no root, -b base dir) writes the modules.dep the package leaves to postinst.
moddir=$work/k/lib/modules/$krel
depmod -b "$work/k" "$krel" || die "depmod failed"
declare -A seen=()
order=()
resolve() {   # resolve PATH: appends PATH's dependencies, then PATH, to order (once each)
  local path=$1 deps d
  [ -z "${seen[$path]:-}" ] || return 0
  seen[$path]=1
  deps=$(awk -v p="$path:" '$1 == p { $1 = ""; print }' "$moddir/modules.dep")
  for d in $deps; do resolve "$d"; done
  order+=("$path")
}
for m in "${MODULES[@]}"; do
  p=$(awk -F: -v n="$m" '{ b = $1; sub(/.*\//, "", b); sub(/\.ko.*$/, "", b); gsub(/-/, "_", b)
        x = n; gsub(/-/, "_", x); if (b == x) { print $1; exit } }' "$moddir/modules.dep")
  [ -n "$p" ] || die "module $m not in $krel"
  resolve "$p"
done
printf '%s\n' "${order[@]}" >"$work/swifthv-modules"

# The initramfs description for gen_init_cpio; parent directories are declared first.
desc=$tmp/initramfs.list
declare -A dirs=()
add_dir() {
  local d=$1
  [ "$d" != / ] && [ -z "${dirs[$d]:-}" ] || return 0
  add_dir "$(dirname "$d")"
  dirs[$d]=1
  echo "dir $d 0755 0 0" >>"$desc"
}
add_file() {  # add_file SRC DEST MODE
  add_dir "$(dirname "$2")"
  echo "file $2 $1 $3 0 0" >>"$desc"
}
: >"$desc"
for d in /dev /proc /sys /bin /sbin /usr/bin /usr/sbin /etc /root /run /tmp /var/lib/hyperv; do add_dir "$d"; done
echo "nod /dev/console 0600 0 0 c 5 1" >>"$desc"
add_file /bin/busybox /bin/busybox 0755
echo "slink /bin/sh busybox 0777 0 0" >>"$desc"
add_file "$REPO/guest/stock-init.sh" /init 0755
add_file "$work/swifthv-modules" /etc/swifthv-modules 0644
for f in modules.dep modules.alias modules.symbols modules.builtin modules.order; do
  [ -f "$moddir/$f" ] && add_file "$moddir/$f" "/lib/modules/$krel/$f" 0644
done
for p in "${order[@]}"; do add_file "$moddir/$p" "/lib/modules/$krel/$p" 0644; done
for b in hv_kvp_daemon hv_vss_daemon hv_fcopy_daemon; do
  [ -f "$work/d/usr/sbin/$b" ] && add_file "$work/d/usr/sbin/$b" "/usr/sbin/$b" 0755
done
for s in "$work"/d/usr/libexec/hypervkvpd/*; do
  [ -f "$s" ] && add_file "$s" "/usr/libexec/hypervkvpd/$(basename "$s")" 0755
done
# Shared libraries of the daemons, as the host's loader resolves them (host and packages are
# both Debian 12, so the host's libc is the one the daemons were built against).
libs=$(for b in "$work"/d/usr/sbin/hv_*; do ldd "$b"; done \
  | grep -oE '/[^ ]+\.so[^ ]*' | sort -u)
for l in $libs; do add_file "$(readlink -f "$l")" "$l" 0755; done

make_cpio "$desc" "$tmp/initramfs.cpio"
rm -rf "$work"
publish "$tmp" "$out"
echo "$out"
