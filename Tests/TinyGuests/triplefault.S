# A #GP with an empty IDT: #GP -> #DF -> triple fault (KVM_EXIT_SHUTDOWN) -> reset.
        .code64
        .text
        .globl _start
_start:
        lidt    nullidt(%rip)
        movabs  $0x8000000000000000, %rax
        mov     (%rax), %rax            # non-canonical: #GP
1:      hlt
        jmp     1b
        .balign 8
nullidt:
        .word   0
        .quad   0
