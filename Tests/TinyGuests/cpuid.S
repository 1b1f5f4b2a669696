# Reports what CPUID shows the guest: leaf 0x40000000 EBX (must not be KVM's "KVMK") and
# leaf 1 ECX (CX16 hidden on PVM hosts, hypervisor bit set).
        .code64
        .text
        .globl _start
_start:
        mov     $0x40000000, %eax
        xor     %ecx, %ecx
        cpuid
        mov     %ebx, %eax
        out     %eax, $0xe2             # leaf 0x40000000 EBX
        mov     $1, %eax
        xor     %ecx, %ecx
        cpuid
        mov     %ecx, %eax
        out     %eax, $0xe3             # leaf 1 ECX
        out     %al, $0xe6              # done
1:      hlt
        jmp     1b
