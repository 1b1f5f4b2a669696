# Runs forever: the host must stop it with a kick.
        .code64
        .text
        .globl _start
_start:
        mov     $1, %al
        out     %al, $0xe0              # running
1:      jmp     1b
