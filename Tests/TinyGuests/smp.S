# The boot CPU starts the AP with INIT + SIPI; the AP runs real-mode code that reports in.
        .code64
        .text
        .globl _start
_start:
        mov     $0xfee000f0, %ebx       # enable the LAPIC (spurious vector 0xFF)
        movl    $0x1ff, (%rbx)
        mov     $0xfee00310, %ebx       # ICR high: destination APIC id 1
        movl    $(1 << 24), (%rbx)
        mov     $0xfee00300, %ebx       # ICR low
        movl    $0x4500, (%rbx)         # INIT, level assert
        movl    $0x4611, (%rbx)         # start-up IPI, vector 0x11 -> CS:IP 1100:0000
1:      hlt
        jmp     1b

        .balign 4096                    # loaded at 0x10000, so this is 0x11000
        .code16
ap_start:
        mov     $2, %al
        out     %al, $0xe0              # the AP reports in
2:      hlt
        jmp     2b
