# stac / clac (PVM: emulation failures that user space completes by setting/clearing RFLAGS.AC).
# Reports RFLAGS after each on 0xE2 / 0xE3, or 0xFFFFFFFF twice when CPUID lacks SMAP.
        .code64
        .text
        .globl _start
_start:
        mov     $7, %eax
        xor     %ecx, %ecx
        cpuid
        bt      $20, %ebx               # SMAP
        jnc     no_smap
        stac
        pushf
        pop     %rax
        out     %eax, $0xe2
        clac
        pushf
        pop     %rax
        out     %eax, $0xe3
        out     %al, $0xe6
1:      hlt
        jmp     1b
no_smap:
        mov     $0xffffffff, %eax
        out     %eax, $0xe2
        out     %eax, $0xe3
        out     %al, $0xe6
        jmp     1b
