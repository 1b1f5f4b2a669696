#!/usr/bin/env bash
# extract-vmlinux.sh BZIMAGE OUT: writes the ELF vmlinux inside an LZ4-compressed bzImage.
# The x86 boot protocol puts the compressed payload at (setup_sects + 1) * 512 + payload_offset,
# where setup_sects is the byte at 0x1f1 and payload_offset/payload_length are little-endian
# u32s at 0x248/0x24c. The kernel build appends the uncompressed size (le32) to the payload;
# it is cut off before lz4 and then checked against the output.
set -euo pipefail
[ $# = 2 ] || { echo "usage: extract-vmlinux.sh BZIMAGE OUT" >&2; exit 2; }
in=$1 out=$2
le32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
[ "$(dd if="$in" bs=1 skip=$((0x202)) count=4 2>/dev/null)" = HdrS ] || { echo "$in: not a bzImage" >&2; exit 1; }
setup=$(u8 "$in" $((0x1f1))); [ "$setup" != 0 ] || setup=4
off=$(( (setup + 1) * 512 + $(le32 "$in" $((0x248))) ))
len=$(le32 "$in" $((0x24c)))
size=$(stat -c %s "$in")
(( len > 8 && off + len <= size )) || { echo "$in: payload $off+$len outside file ($size)" >&2; exit 1; }
magic=$(od -An -tx1 -j "$off" -N4 "$in" | tr -d ' ')
[ "$magic" = 02214c18 ] || { echo "$in: payload is not LZ4 (magic $magic)" >&2; exit 1; }
want=$(le32 "$in" $((off + len - 4)))
trap 'rm -f "$out.tmp"' EXIT
dd if="$in" iflag=skip_bytes,count_bytes skip="$off" count=$((len - 4)) bs=1M status=none | lz4 -dc >"$out.tmp"
got=$(stat -c %s "$out.tmp")
[ "$got" = "$want" ] || { echo "$in: vmlinux is $got bytes, header says $want" >&2; exit 1; }
[ "$(od -An -tx1 -N5 "$out.tmp" | tr -d ' ')" = 7f454c4602 ] || { echo "$in: payload is not an ELF64" >&2; exit 1; }
mv "$out.tmp" "$out"
