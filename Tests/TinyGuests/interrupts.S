# int3 (#BP), #GP from a refused MSR, a GSI through the IOAPIC, an MSI, hlt wake-ups.
        .include "common.inc"
        .code64
        .text
        .globl _start
_start:
        mov     $0xff, %al              # mask both 8259s (their reset vectors are 0-15)
        out     %al, $0x21
        out     %al, $0xa1
        SETGATE 3, bp_handler
        SETGATE 13, gp_handler
        SETGATE 0x30, irq_handler
        SETGATE 0x31, msi_handler
        lidt    idtr(%rip)
        int3                            # PVM: emulation failure, user space injects #BP
        fwait                           # PVM: emulation failure, user space skips it
        mov     $0x40000055, %ecx
        rdmsr                           # user space refuses: #GP
        mov     $0xfee000f0, %ebx       # LAPIC spurious-vector register: enable, vector 0xFF
        movl    $0x1ff, (%rbx)
        mov     $0xfec00000, %ebx       # IOAPIC pin 20 -> vector 0x30, edge, APIC 0
        movl    $(0x10 + 2 * 20), (%rbx)
        movl    $0x30, 0x10(%rbx)
        movl    $(0x11 + 2 * 20), (%rbx)
        movl    $0, 0x10(%rbx)
        sti
        mov     $1, %al
        out     %al, $0xe0              # ready: the host raises GSI 20 after a delay
1:      hlt
        jmp     1b

bp_handler:
        push    %rax
        mov     $3, %al
        out     %al, $0xe7
        pop     %rax
        iretq

gp_handler:
        push    %rax
        mov     $13, %al
        out     %al, $0xe7
        pop     %rax
        addq    $2, 8(%rsp)             # skip the 2-byte rdmsr (error code at 0(%rsp))
        add     $8, %rsp
        iretq

irq_handler:
        push    %rax
        push    %rbx
        mov     $0x30, %al
        out     %al, $0xe7
        mov     $0xfee000b0, %ebx       # EOI
        movl    $0, (%rbx)
        pop     %rbx
        pop     %rax
        iretq

msi_handler:
        push    %rax
        push    %rbx
        mov     $0x31, %al
        out     %al, $0xe7
        mov     $0xfee000b0, %ebx
        movl    $0, (%rbx)
        pop     %rbx
        pop     %rax
        iretq

        .balign 8
idtr:   .word   256 * 16 - 1
        .quad   IDT_BASE
