# Save/restore test: counts in RBX and in the quadword at 0x20000, and reports both each
# iteration (port 0xe2: RBX, port 0xe3: the memory counter), so the host can check that a
# restored guest continues from exactly where it was saved.
        .code64
        .text
        .globl _start
_start:
        xor     %ebx, %ebx
        mov     $0x20000, %edi
        movq    $0, (%rdi)
1:      inc     %rbx
        incq    (%rdi)
        mov     %ebx, %eax
        out     %eax, $0xe2
        mov     (%rdi), %eax
        out     %eax, $0xe3
        jmp     1b
