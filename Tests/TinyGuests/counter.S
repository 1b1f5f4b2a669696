# Counts forever: one `out` to port 0xe1 per iteration, so the host sees progress (pause tests).
        .code64
        .text
        .globl _start
_start:
1:      out     %al, $0xe1
        jmp     1b
