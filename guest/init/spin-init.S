/*
 * /init of the test initramfs: spins in user mode and never makes a system call.
 *
 * Guest user space cannot make system calls on the KVM-PVM development hosts (see
 * docs/guest-images.md), and init exiting would panic the kernel. So init only idles in ring 3:
 * the kernel keeps running, takes timer and device interrupts, binds drivers, answers pings,
 * and magic SysRq over the serial line still powers it off. `pause` keeps the spin cheap on
 * real hardware and under QEMU.
 *
 * Build: as -o spin-init.o spin-init.S && ld -static -nostdlib -o init spin-init.o
 */
        .text
        .globl  _start
_start:
1:      pause
        jmp     1b

        .section .note.GNU-stack, "", @progbits
