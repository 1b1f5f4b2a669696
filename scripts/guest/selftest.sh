#!/usr/bin/env bash
# Quick checks of the guest-image helpers that need no kernel build or download (a few seconds):
# extract-vmlinux.sh on synthetic bzImages, good and hostile, and the spin init's instructions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
need_pkgs lz4 binutils >&2
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# le32 N: four little-endian bytes.
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 24 & 255)))"; }

# fake_bzimage OUT ELF [CORRUPT]: a 2-sector setup (setup_sects = 1) + an LZ4 legacy payload of
# ELF with its size appended, as the kernel build makes it. CORRUPT: magic | size | length.
fake_bzimage() {
  local out=$1 elf=$2 corrupt=${3:-} payload=$t/payload size len
  lz4 -l -9 -c "$elf" >"$payload"
  size=$(stat -c %s "$elf"); [ "$corrupt" != size ] || size=$((size + 1))
  le32 "$size" >>"$payload"
  [ "$corrupt" != magic ] || printf '\x00' | dd of="$payload" bs=1 seek=0 conv=notrunc status=none
  len=$(stat -c %s "$payload"); [ "$corrupt" != length ] || len=$((len + 4096))
  head -c 1024 /dev/zero >"$out"
  printf '\x01' | dd of="$out" bs=1 seek=$((0x1f1)) conv=notrunc status=none
  printf 'HdrS' | dd of="$out" bs=1 seek=$((0x202)) conv=notrunc status=none
  le32 0 | dd of="$out" bs=1 seek=$((0x248)) conv=notrunc status=none
  le32 "$len" | dd of="$out" bs=1 seek=$((0x24c)) conv=notrunc status=none
  cat "$payload" >>"$out"
}

printf '.text\n.globl _start\n_start: ret\n' | as -o "$t/e.o" - && ld -o "$t/elf" "$t/e.o"
fake_bzimage "$t/bz" "$t/elf"
if "$here/extract-vmlinux.sh" "$t/bz" "$t/out" && cmp -s "$t/elf" "$t/out"; then
  ok "extract-vmlinux: payload round-trips"; else bad "extract-vmlinux: good image"; fi
for c in magic size length; do
  fake_bzimage "$t/bz-$c" "$t/elf" "$c"
  if "$here/extract-vmlinux.sh" "$t/bz-$c" "$t/out-$c" 2>/dev/null || [ -e "$t/out-$c" ]; then
    bad "extract-vmlinux: accepted a bzImage with a bad $c"; else ok "extract-vmlinux: rejects bad $c"; fi
done
head -c 300 "$t/bz" >"$t/short"
if "$here/extract-vmlinux.sh" "$t/short" "$t/out-short" 2>/dev/null; then bad "extract-vmlinux: truncated"; else ok "extract-vmlinux: rejects a truncated file"; fi
head -c 100 /dev/urandom >"$t/noise"
if "$here/extract-vmlinux.sh" "$t/noise" "$t/out-noise" 2>/dev/null; then bad "extract-vmlinux: noise"; else ok "extract-vmlinux: rejects noise"; fi

# The spin init must contain no system call instruction (syscall, sysenter, int).
as -o "$t/spin.o" "$REPO/guest/init/spin-init.S" && ld -static -nostdlib -o "$t/init" "$t/spin.o"
if objdump -d "$t/init" | grep -qE '\s(syscall|sysenter|int)\b'; then bad "spin init makes a system call"
else ok "spin init: no system call instructions"; fi

((fails == 0)) || { echo "$fails failed"; exit 1; }
echo "all passed"
