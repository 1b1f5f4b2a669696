#!/usr/bin/env bash
# Boot bench (issue 3, "Measure"): the test kernel + test initramfs, 128 MiB, 1 vCPU, under
# SwiftHV's `hv-worker run` and under QEMU TCG, side by side in one run. Reported, not asserted.
#
#   bench/boot/run.sh            (builds hv-worker in release mode first if it is missing)
#
# What it measures, and how:
#   run A (hv-worker, plain): wall time from starting the worker to its first console byte and
#     to the kernel's "Run /init as init process"; then, 3 s later while the guest spins in
#     /init, the worker's VmRSS, the resident part of the guest-RAM mapping (from smaps) and the
#     difference (the worker's own footprint). Then SIGTERM: a graceful shutdown through the
#     Hyper-V shutdown integration service, timed to the worker's exit.
#   run B (hv-worker under perf): the same boot with kernel tracepoints. `perf record` takes the
#     worker's exec and every KVM_RUN ioctl entry (the first one is the first guest
#     instruction); `perf stat` counts, from exec to "Run /init", the exits to user space by
#     reason (kvm:kvm_userspace_exit filtered on KVM_EXIT_*) and the in-kernel work KVM reports
#     (instructions emulated for guest ring 0, port I/O, MMIO, MSR, CPUID, injected interrupts).
#     KVM-PVM fires no kvm:kvm_entry/kvm_exit tracepoints, so in-kernel exits are counted by
#     what KVM handled. Tracing slows the boot; run A's times are the clean ones.
#   run C (QEMU TCG): bench/boot-qemu.sh's measure_boot, same kernel, initramfs, command line.
# The worker gets `loglevel=7` like QEMU does, so `quiet` does not hide the marker.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../boot-qemu.sh
source "$repo/bench/boot-qemu.sh"

MEM_MIB=128
TIMEOUT_S=${TIMEOUT_S:-300}
worker=${HV_WORKER:-$repo/.build/release/hv-worker}
if [ ! -x "$worker" ]; then
  echo "# building hv-worker (release)" >&2
  (cd "$repo" && swift build -c release --product hv-worker >&2)
fi
paths=$("$repo/scripts/guest-image" paths)
kernel=$(sed -n 's/^test-kernel.vmlinux=//p' <<<"$paths")
bzimage=$(sed -n 's/^test-kernel.bzImage=//p' <<<"$paths")
initrd=$(sed -n 's/^test-initramfs.initramfs.cpio=//p' <<<"$paths")
[ -f "$kernel" ] && [ -f "$initrd" ] || { echo "boot bench: test kernel or initramfs missing (scripts/guest-image)" >&2; exit 1; }
cmdline="$(cat "$repo/guest/test-kernel.cmdline") loglevel=7"
work=$(mktemp -d /tmp/boot-bench.XXXXXX)

echo "# boot bench $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# kernel $kernel (QEMU: $bzimage)"
echo "# initrd $initrd, ${MEM_MIB} MiB, 1 vCPU; logs in $work"

# wait_for FILE PATTERN START TIMEOUT: polls FILE every 10 ms; prints seconds since START when
# PATTERN (fixed string; empty = any byte) appears; fails on timeout or when $wait_pid exits.
wait_for() {
  local file=$1 pattern=$2 start=$3 limit=$4
  while _left "$start" "$limit" >/dev/null; do
    if [ -z "$pattern" ]; then
      [ -s "$file" ] && { _since "$start"; return 0; }
    elif grep -qF -- "$pattern" "$file" 2>/dev/null; then
      _since "$start"; return 0
    fi
    kill -0 "$wait_pid" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

# kb FIELD PID: a field of /proc/PID/status in kB.
kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/status"; }

# guest_rss_kb PID: resident kB of the anonymous mappings at least as large as the guest RAM
# regions (the worker maps guest RAM with mmap; nothing else it maps is that large).
guest_rss_kb() {
  awk -v min=$((MEM_MIB * 1024 / 2)) '
    /^[0-9a-f]+-[0-9a-f]+ / { anon = (NF < 6) }
    /^Size:/ { size = $2 }
    /^Rss:/ { if (anon && size >= min) sum += $2 }
    END { print sum + 0 }' "/proc/$1/smaps"
}

# stop_worker PID: SIGTERM (graceful shutdown through the shutdown IC), up to 30 s, then SIGKILL.
# Prints the seconds it took, or "killed".
stop_worker() {
  local pid=$1 start; start=$(_usec)
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ! _left "$start" 30 >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; echo killed; return; fi
    sleep 0.02
  done
  wait "$pid" 2>/dev/null || true
  _since "$start"
}

# ---- run A: hv-worker, plain
console=$work/a.console
start=$(_usec)
"$worker" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" --memory "$MEM_MIB" --cpus 1 \
  >"$console" 2>"$work/a.stderr" </dev/null &
wait_pid=$!
a_first=$(wait_for "$console" "" "$start" "$TIMEOUT_S") || a_first=none
a_init=$(wait_for "$console" "$BOOT_MARKER" "$start" "$TIMEOUT_S") || { echo "run A: no '$BOOT_MARKER' (see $work)"; kill -KILL "$wait_pid" 2>/dev/null; exit 1; }
sleep 3
rss=$(kb VmRSS "$wait_pid"); hwm=$(kb VmHWM "$wait_pid"); anon=$(kb RssAnon "$wait_pid"); file=$(kb RssFile "$wait_pid")
guest=$(guest_rss_kb "$wait_pid")
threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$wait_pid/status")
a_off=$(stop_worker "$wait_pid")
echo "hv-worker   run A: first console byte $a_first s, Run /init $a_init s, graceful shutdown (SIGTERM) $a_off s"
echo "hv-worker   run A: VmRSS $((rss / 1024)) MiB (VmHWM $((hwm / 1024)), RssAnon $((anon / 1024)), RssFile $((file / 1024))), guest RAM resident $((guest / 1024)) of $MEM_MIB MiB, threads $threads"
echo "hv-worker   run A: worker RSS minus resident guest RAM $(((rss - guest) / 1024)) MiB; VmRSS minus the full $MEM_MIB MiB $(((rss - MEM_MIB * 1024) / 1024)) MiB"

# ---- run B: hv-worker under perf
# (grep without -q: it must read all of perf's output, or pipefail sees perf's SIGPIPE.)
if command -v perf >/dev/null && perf list 2>/dev/null | grep 'kvm:kvm_userspace_exit' >/dev/null; then
  console=$work/b.console
  # KVM_EXIT_* values from linux/kvm.h.
  declare -A reasons=([2]=IO [6]=MMIO [10]=INTR [17]=INTERNAL_ERROR [24]=SYSTEM_EVENT [29]=X86_RDMSR [30]=X86_WRMSR [5]=HLT [8]=SHUTDOWN)
  events=()
  for r in "${!reasons[@]}"; do events+=(-e kvm:kvm_userspace_exit --filter "reason == $r"); done
  events+=(-e kvm:kvm_userspace_exit -e kvm:kvm_emulate_insn -e kvm:kvm_pio -e kvm:kvm_mmio -e kvm:kvm_msr
    -e kvm:kvm_cpuid -e kvm:kvm_inj_virq -e kvm:kvm_inj_exception -e kvm:kvm_page_fault -e kvm:kvm_fpu
    -e kvm:kvm_apic -e kvm:kvm_set_irq -e kvm:kvm_msi_set_irq)
  start=$(_usec)
  perf stat -x, -o "$work/b.stat" "${events[@]}" -- \
    perf record -q -k mono -o "$work/b.perf" -e sched:sched_process_exec -e syscalls:sys_enter_ioctl --filter 'cmd == 0xae80' -- \
    "$worker" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" --memory "$MEM_MIB" --cpus 1 \
    >"$console" 2>"$work/b.stderr" </dev/null &
  wait_pid=$!
  b_init=$(wait_for "$console" "$BOOT_MARKER" "$start" "$TIMEOUT_S") || b_init=timeout
  # perf stat -> perf record -> hv-worker: stop the worker; both perfs then write their files.
  rec=$(ps -o pid= --ppid "$wait_pid" | head -n1 | tr -d ' ')
  wpid=$(ps -o pid= --ppid "$rec" | head -n1 | tr -d ' ')
  [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null || true
  wait "$wait_pid" 2>/dev/null || true
  echo "hv-worker   run B (perf): Run /init $b_init s (slowed by tracing)"
  if [ -s "$work/b.perf" ]; then
    perf script -i "$work/b.perf" -F time,event 2>/dev/null | awk '
      /sched_process_exec/ && !exec { exec = $1 + 0 }
      /sys_enter_ioctl/ && !run { run = $1 + 0 }
      END { if (exec && run) printf "hv-worker   run B (perf): exec to first KVM_RUN (first guest instruction) %.3f s\n", run - exec }'
  fi
  if [ "$b_init" != timeout ] && [ -s "$work/b.stat" ]; then
    echo "hv-worker   run B (perf): events from exec to Run /init, per second of that boot:"
    # perf stat -x, lines: count,unit,event,...; filtered events appear once per -e, in order.
    awk -F, -v secs="$b_init" -v list="$(for r in "${!reasons[@]}"; do printf '%s=%s ' "$r" "${reasons[$r]}"; done)" '
      BEGIN { n = split(list, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], p, "="); order[i] = p[2] } }
      /^#/ || NF < 3 { next }
      $3 == "kvm:kvm_userspace_exit" { seen++; name = (seen <= n) ? "user-space exit " order[seen] : "user-space exits (all)" }
      $3 != "kvm:kvm_userspace_exit" { name = "in-kernel " substr($3, 5) }
      { c = $1 + 0; if (c > 0 || name ~ /all/) printf "  %-36s %12d  %12.1f/s\n", name, c, c / secs }' "$work/b.stat"
  fi
else
  echo "hv-worker   run B: skipped (perf, or its kvm tracepoints, not available: tracefs mounted at /sys/kernel/tracing?)"
fi

# ---- run C: QEMU TCG
if command -v qemu-system-x86_64 >/dev/null; then
  q=$(SYSRQ_KEYS=$'\x01bo' BOOT_LOG="$work/c.console" \
    measure_boot "qemu-tcg" "$TIMEOUT_S" bash -c "exec $(qemu_tcg_cmd "$bzimage" "$initrd" "$MEM_MIB")") || true
  q_init=$(sed -n 's/.* init=\([0-9.]*\).*/\1/p' <<<"$q")
  echo "qemu-tcg    run C: $q ($(qemu-system-x86_64 --version | head -n1))"
  if [ -n "$q_init" ]; then
    awk -v a="$a_init" -v q="$q_init" 'BEGIN { printf "ratio: Run /init hv-worker (KVM-PVM) / QEMU TCG = %.2f (%s s / %s s)\n", a / q, a, q }'
  fi
else
  echo "qemu-tcg    run C: skipped (qemu-system-x86_64 not installed; bench/boot-qemu.sh installs it)"
fi
