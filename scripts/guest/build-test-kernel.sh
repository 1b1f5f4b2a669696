#!/usr/bin/env bash
# Builds the test kernel: Debian's linux-source-6.1, unmodified, with guest/test-kernel.config.
# Prints the image directory (holding vmlinux and bzImage) on stdout. Cached by content hash of
# the config, the source package version, the compiler and this script; a rebuild after a
# config change reuses the object directory ($CACHE/build/test-kernel), which takes about a
# minute instead of four to five. With --cached, only looks: prints the directory if that image
# is already built, else exits 3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONFIG=$REPO/guest/test-kernel.config
# Options the VMM and the tests rely on; the build fails if olddefconfig drops any of them.
REQUIRED_Y=(64BIT SMP HYPERVISOR_GUEST HYPERV HYPERV_UTILS HYPERV_STORAGE HYPERV_NET
  SERIAL_8250 SERIAL_8250_CONSOLE RTC_DRV_CMOS MAGIC_SYSRQ MAGIC_SYSRQ_SERIAL ACPI DEVTMPFS
  DEVTMPFS_MOUNT BLK_DEV_INITRD EXT4_FS SCSI BLK_DEV_SD NET INET NETDEVICES NETCONSOLE IP_PNP
  IP_PNP_DHCP UNIX PRINTK)
REQUIRED_OFF=(MODULES FTRACE KPROBES AUDIT SECURITY PTP_1588_CLOCK_KVM LEGACY_PTYS VT)

cached=; [ "${1:-}" != --cached ] || cached=1
# A --cached look installs nothing: without the tools the image cannot have been built either.
[ -n "$cached" ] || need_pkgs linux-source-6.1 xz-utils lz4 flex bison bc libelf-dev libssl-dev \
  make gcc binutils >&2

src_ver=$(pkg_version linux-source-6.1)
key=$(content_hash "$CONFIG" "${BASH_SOURCE[0]}" "linux-source-6.1=$src_ver" "$(gcc --version | head -1)")
out=$IMAGES/test-kernel-$key
if [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ]; then
  echo "$out"; exit 0
fi
[ -z "$cached" ] || exit 3

tree=$(linux_source_tree)
obj=$CACHE/build/test-kernel
mkdir -p "$obj" "$IMAGES"
# One build at a time per cache: concurrent runs share the object directory. The second
# waits, then finds the first one's image.
exec 9>"$obj.lock"
flock 9
if [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ]; then echo "$out"; exit 0; fi
tmp=$(mktemp -d "$IMAGES/.test-kernel-$key.XXXXXX")
log=$tmp/build.log
start=$(date +%s)

cp "$CONFIG" "$obj/.config"
run_logged "$log" "make olddefconfig" make -C "$tree" O="$obj" olddefconfig
if ! diff -q <(grep -v '^#' "$CONFIG" | grep .) <(grep -v '^#' "$obj/.config" | grep .) >/dev/null; then
  say "note: olddefconfig changed guest/test-kernel.config; diff (repo vs result):"
  diff <(grep -v '^#' "$CONFIG" | grep . | sort) <(grep -v '^#' "$obj/.config" | grep . | sort) >&2 || true
fi
bad=()
for o in "${REQUIRED_Y[@]}"; do grep -qx "CONFIG_$o=y" "$obj/.config" || bad+=("$o not =y"); done
for o in "${REQUIRED_OFF[@]}"; do grep -qx "# CONFIG_$o is not set" "$obj/.config" || \
  ! grep -q "^CONFIG_$o=" "$obj/.config" || bad+=("$o not off"); done
((${#bad[@]} == 0)) || die "test kernel config: ${bad[*]}"

jobs=$(nproc)
say "building test kernel (linux-source $src_ver, -j$jobs, log: $log)"
make -C "$tree" O="$obj" -j"$jobs" bzImage >>"$log" 2>&1 &
pid=$!
# Progress: one line every 20 s with the number of objects compiled so far.
while kill -0 "$pid" 2>/dev/null; do
  for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null || break
  say "  ... $(( $(date +%s) - start )) s, $(grep -c '^  CC ' "$log" || true) files compiled"
done
if ! wait "$pid"; then
  say "kernel build failed; last lines of $log:"
  tail -n 40 "$log" >&2
  exit 1
fi
secs=$(( $(date +%s) - start ))

cp "$obj/vmlinux" "$tmp/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$obj/.config" "$tmp/config"
cp "$obj/System.map" "$tmp/System.map"
echo "$secs" >"$tmp/build-seconds"
publish "$tmp" "$out"
say "test kernel built in $secs s"
echo "$out"
