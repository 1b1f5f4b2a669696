#!/usr/bin/env bash
# Save-VM / restore of the test kernel under hv-worker (--no-hyper-v): boots to /init, saves
# (Ctrl-] v), restores in a new worker, checks the guest answers SysRq, powers it off.
# Reports save time, file size (apparent and stored), restore time. Usage: run.sh [MEMORY_MIB...]
set -euo pipefail
cd "$(dirname "$0")/../.."
kernel=$(scripts/guest-image test-kernel | sed -n 's/^test-kernel\.vmlinux=//p')
initramfs=$(scripts/guest-image test-initramfs | sed -n 's/^test-initramfs\.initramfs\.cpio=//p')
worker=${HV_WORKER:-.build/release/hv-worker}
[ -x "$worker" ] || swift build -c release --product hv-worker
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for mem in "${@:-128 256}"; do
  python3 - "$worker" "$kernel" "$initramfs" "$mem" "$dir" <<'PY'
import subprocess, sys, time, os, re
worker, kernel, initrd, mem, d = sys.argv[1:]
cmd = "console=ttyS0 reboot=t panic=-1 lpj=2000000 tsc=reliable mitigations=off nopti nokaslr nowatchdog noreplace-smp sysrq_always_enabled"
save = f"{d}/vm{mem}.hvsave"
def start(extra, log):
    return subprocess.Popen([worker, "run", "--kernel", kernel, "--initrd", initrd, "--memory", mem, "--cmdline", cmd,
        "--no-hyper-v", "--save-file", save] + extra, stdin=subprocess.PIPE, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
def wait(log, marker, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if marker in open(log, errors="replace").read(): return True
        time.sleep(0.05)
    return False
log1, log2 = f"{d}/1.log", f"{d}/2.log"
p = start([], log1)
assert wait(log1, "Run /init as init process", 600), "no /init"
time.sleep(2)
t = time.time(); p.stdin.write(b"\x1dv"); p.stdin.flush(); rc = p.wait(120); save_wall = time.time() - t
assert rc == 5, f"save exit status {rc}"
text = open(log1).read()
m = re.search(r"saved to .* in (\d+) ms: (\d+) bytes apparent, (\d+) bytes of RAM stored", text)
t = time.time(); p = start(["--restore", save], log2)
assert wait(log2, "restored RAM and devices", 60)
restored = time.time() - t
rm = re.search(r"restored RAM and devices from .* in ([0-9.e-]+) seconds", open(log2).read())
p.stdin.write(b"\x1db"); p.stdin.flush(); time.sleep(0.3); p.stdin.write(b"h"); p.stdin.flush()
assert wait(log2, "sysrq: HELP", 60), "no SysRq after restore"
p.stdin.write(b"\x1db"); p.stdin.flush(); time.sleep(0.3); p.stdin.write(b"o"); p.stdin.flush()
assert p.wait(120) == 0
blocks = os.stat(save).st_blocks * 512 if os.path.exists(save) else 0
print(f"| {mem} MiB | {m.group(1)} ms | {save_wall*1000:.0f} ms | {int(m.group(2))/1e6:.1f} MB | {int(m.group(3))/1e6:.1f} MB ({blocks/1e6:.1f} MB on disk) | {float(rm.group(1))*1000:.1f} ms | {restored*1000:.0f} ms |")
PY
done
