@ The smallest useful guest: one line on the console, then parked (tests of --elf).
    .syntax unified
    .arch armv7-a
    .arm
    .section .text.start, "ax"
    .global _start
_start:
    mrc p15, 0, r0, c0, c0, 5           @ MPIDR: every core starts here; CPU0 prints
    ands r0, r0, #0xff
    bne 3f
    ldr r1, =0x1E784000                 @ UART5
    adr r0, message
1:  ldrb r2, [r0], #1
    cmp r2, #0
    beq 3f
2:  ldr r3, [r1, #0x14]                 @ LSR
    tst r3, #0x20                       @ THR empty
    beq 2b
    str r2, [r1]                        @ THR
    b 1b
3:  cpsid if
    wfi
    b 3b
message:
    .asciz "Hello from a bare-metal ARM ELF\r\n"
    .balign 4
    .ltorg
