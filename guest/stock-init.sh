#!/bin/sh
# /init of SwiftHV's stock-guest initramfs (and of the test kernel's busybox variant).
# Runs under busybox-static. Mounts the pseudo file systems, loads the Hyper-V modules listed in
# /etc/swifthv-modules (dependencies first; absent in the test kernel, which has them built in),
# starts the KVP daemon, prints SWIFTHV-GUEST-READY on the console and keeps a shell on it.
# As PID 1 it must never exit (the kernel would panic), and it turns the signals that busybox's
# poweroff/halt/reboot send to PID 1 into the real thing, so the Hyper-V shutdown service
# (which runs /sbin/poweroff) powers the guest off.

/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /var/lib/hyperv /var/run /tmp /run
mount -t devpts devpts /dev/pts 2>/dev/null
hostname swifthv-guest
ip link set lo up 2>/dev/null

kver=$(uname -r)
if [ -f /etc/swifthv-modules ]; then
  while read -r mod; do
    [ -n "$mod" ] || continue
    if grep -q "^$(basename "$mod" .ko | tr - _) " /proc/modules; then continue; fi
    insmod "/lib/modules/$kver/$mod" || echo "swifthv-init: insmod $mod failed"
  done </etc/swifthv-modules
fi

# The KVP daemon talks to the host over /dev/vmbus/hv_kvp, which hv_utils creates once the host
# offers the KVP integration service; give it a moment to appear.
if ! grep -q '^hv_utils ' /proc/modules && [ ! -d /sys/bus/vmbus/drivers/hv_utils ]; then
  echo "swifthv-init: hv_utils not loaded (no Hyper-V VMBus?), KVP daemon not started"
elif command -v hv_kvp_daemon >/dev/null; then
  i=0
  while [ ! -e /dev/vmbus/hv_kvp ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if [ -e /dev/vmbus/hv_kvp ]; then
    hv_kvp_daemon || echo "swifthv-init: hv_kvp_daemon failed"
  else
    echo "swifthv-init: no /dev/vmbus/hv_kvp, KVP daemon not started"
  fi
fi
[ -e /dev/vmbus/hv_vss ] && command -v hv_vss_daemon >/dev/null && hv_vss_daemon
[ -e /dev/vmbus/hv_fcopy ] && command -v hv_fcopy_daemon >/dev/null && hv_fcopy_daemon

trap 'sync; poweroff -f' USR2
trap 'sync; halt -f' USR1
trap 'sync; reboot -f' TERM INT

echo "SWIFTHV-GUEST-READY kernel=$kver"
# The shell runs in the background so that `wait` (unlike a foreground job) is interrupted by
# the traps above; it is restarted whenever it exits.
while :; do
  setsid cttyhack sh &
  wait $!
done
