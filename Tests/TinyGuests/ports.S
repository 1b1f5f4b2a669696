# Port I/O, MMIO, MSR exits through the filter, a register-aware port hook, power off.
        .code64
        .text
        .globl _start
_start:
        mov     $0x42, %al
        out     %al, $0xe0              # port write: 0x42 -> 0xE0
        in      $0xe1, %al              # port read: device answers 0x5A
        out     %al, $0xe2              # echo it
        mov     $0xd0000000, %ebx
        mov     (%rbx), %eax            # MMIO read: 0xCAFEBABE
        mov     %eax, 4(%rbx)           # MMIO write of it at +4
        mov     $0x40000000, %ecx
        rdmsr                           # filtered: user space answers 0x11223344_55667788
        out     %eax, $0xe2             # low half
        mov     %edx, %eax
        out     %eax, $0xe3             # high half
        mov     $0x40000001, %ecx
        mov     $0x0badf00d, %eax
        mov     $0x12345678, %edx
        wrmsr                           # filtered: user space records it
        mov     $1, %rcx
        mov     $2, %rdx
        mov     $3, %r8
        out     %al, $0xe4              # hooked: RAX = RCX + RDX + R8
        out     %eax, $0xe5             # -> 6
        out     %al, $0xe6              # power off
1:      hlt
        jmp     1b
