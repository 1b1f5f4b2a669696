#!/usr/bin/env bash
# Boot-time bench: seconds from starting a VMM until the guest kernel runs /init, for the test
# kernel + test initramfs under QEMU TCG (software emulation; the reference point on hosts where
# only this project can run a guest on KVM). Then it powers the guest off with magic SysRq 'o'
# over the serial line and reports that time too.
#
#   bench/boot-qemu.sh [RUNS]            default 3 runs; prints one line per run and the median
#
# Other boot measurements can reuse the helper (the integrator adds SwiftHV's own VMM beside
# QEMU this way):
#   source bench/boot-qemu.sh
#   measure_boot LABEL TIMEOUT_S CMD...      prints "LABEL init=<s> [poweroff=<s>]"
#   SYSRQ_KEYS=<bytes that make CMD send BREAK then 'o' on the guest's serial line> (optional)
# Sourcing it defines functions and variables only (no `set -e` leaks into the caller).

BOOT_MARKER=${BOOT_MARKER:-"Run /init as init process"}
POWEROFF_MARKER=${POWEROFF_MARKER:-"reboot: Power down"}

# measure_boot LABEL TIMEOUT_S CMD...: runs CMD, whose stdout is the guest's serial console,
# and times the first line containing $BOOT_MARKER from the moment CMD starts. If $SYSRQ_KEYS is
# set, it is then written to CMD's stdin (all but its last byte, 200 ms pause, the last byte:
# BREAK then the SysRq key) and the time until $POWEROFF_MARKER or CMD's exit is measured too
# (up to 30 s). CMD is stopped afterwards. The console goes to ${BOOT_LOG:-/dev/null}.
# Prints "LABEL init=SECONDS [poweroff=SECONDS|timeout]"; returns 1 if $BOOT_MARKER never came.
measure_boot() {
  local label=$1 timeout=$2; shift 2
  local log=${BOOT_LOG:-/dev/null} start now line t init= off=
  start=$(_usec)
  coproc GUEST { exec "$@" 2>&1; }
  local out in pid=$GUEST_PID
  # Own copies of the pipe ends: bash closes the coproc's fds as soon as CMD exits.
  exec {out}<&"${GUEST[0]}" {in}>&"${GUEST[1]}"
  while t=$(_left "$start" "$timeout") && IFS= read -r -t "$t" line <&"$out"; do
    printf '%s\n' "${line%$'\r'}" >>"$log"
    if [[ $line == *"$BOOT_MARKER"* ]]; then init=$(_since "$start"); break; fi
  done
  if [ -n "$init" ] && [ -n "${SYSRQ_KEYS:-}" ]; then
    now=$(_usec)
    # The 8250 driver takes the first character after a BREAK (within 5 s) as the SysRq key.
    printf '%s' "${SYSRQ_KEYS%?}" >&"$in"; sleep 0.2; printf '%s' "${SYSRQ_KEYS: -1}" >&"$in"
    off=timeout
    while t=$(_left "$now" 30); do
      if IFS= read -r -t "$t" line <&"$out"; then
        printf '%s\n' "${line%$'\r'}" >>"$log"
        [[ $line == *"$POWEROFF_MARKER"* ]] || continue
      elif (($? <= 128)); then
        :   # end of output: CMD exited
      else
        break
      fi
      off=$(_since "$now"); break
    done
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  exec {out}<&- {in}>&-
  if [ -z "$init" ]; then echo "$label init=timeout(${timeout}s)"; return 1; fi
  echo "$label init=$init${off:+ poweroff=$off}"
}

# _usec: the wall clock in microseconds.
_usec() { local t=$EPOCHREALTIME; echo $((10#${t/./})); }
# _since START: seconds since START (a _usec value), two decimals.
_since() { local d=$(( $(_usec) - $1 )); printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000)); }
# _left START TIMEOUT: seconds (three decimals) left of TIMEOUT from START; fails when none are.
_left() {
  local l=$(( $2 * 1000000 - ($(_usec) - $1) ))
  ((l > 0)) || return 1
  printf '%d.%03d' $((l / 1000000)) $((l % 1000000 / 1000))
}

# qemu_tcg_cmd KERNEL INITRD [MEM_MIB]: the QEMU TCG command line for a test-kernel boot.
qemu_tcg_cmd() {
  local repo; repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  echo qemu-system-x86_64 -accel tcg -kernel "$1" -initrd "$2" -m "${3:-128}" -smp 1 \
    -nographic -no-reboot -append "'$(cat "$repo/guest/test-kernel.cmdline") loglevel=7'"
}

main() {
  local runs=${1:-3} repo paths kernel initrd i results=()
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  command -v qemu-system-x86_64 >/dev/null || {
    echo "boot-qemu: installing qemu-system-x86" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-system-x86 >/dev/null
  }
  paths=$("$repo/scripts/guest-image" test-kernel; "$repo/scripts/guest-image" test-initramfs)
  kernel=$(sed -n 's/^test-kernel.bzImage=//p' <<<"$paths")
  initrd=$(sed -n 's/^test-initramfs.initramfs.cpio=//p' <<<"$paths")
  echo "# $(qemu-system-x86_64 --version | head -n 1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# kernel $kernel"
  echo "# initrd $initrd"
  # The `loglevel=7` that qemu_tcg_cmd appends undoes `quiet` so the marker line is printed.
  # QEMU's -nographic console: Ctrl-A b sends a BREAK, then 'o' is SysRq power-off.
  for ((i = 1; i <= runs; i++)); do
    results+=("$(SYSRQ_KEYS=$'\x01bo' BOOT_LOG=${BOOT_LOG:-/tmp/boot-qemu.log} \
      measure_boot "qemu-tcg-128MiB run $i" 60 bash -c "exec $(qemu_tcg_cmd "$kernel" "$initrd" 128)")")
    echo "${results[-1]}"
  done
  printf '%s\n' "${results[@]}" | sed -n 's/.* init=\([0-9.]*\).*/\1/p' | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR) printf "qemu-tcg-128MiB median init=%s s (%d runs)\n", v[int((NR + 1) / 2)], NR }'
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  main "$@"
fi
