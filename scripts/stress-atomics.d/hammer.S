@ hammer N: a static ARM Linux (EABI) program for scripts/stress-atomics. It maps one shared
@ anonymous page, forks, and parent and child each add 1 to the page's first word N times
@ with LDREX/STREX (and to a word of their own with plain stores); the parent waits for the
@ child and prints "HAMMER total=T expected=E OK" (or "LOST") in decimal.
    .syntax unified
    .arch armv7-a
    .arm
    .equ SYS_exit, 1
    .equ SYS_fork, 2
    .equ SYS_write, 4
    .equ SYS_wait4, 114
    .equ SYS_mmap2, 192

    .text
    .global _start
_start:
    @ N from argv[1] (decimal).
    ldr r0, [sp]                    @ argc
    cmp r0, #2
    blt usage
    ldr r1, [sp, #8]                @ argv[1]
    mov r6, #0
1:  ldrb r2, [r1], #1
    subs r2, r2, #'0'
    blt 2f
    cmp r2, #9
    bgt 2f
    mov r3, #10
    mul r6, r6, r3
    add r6, r6, r2
    b 1b
2:  cmp r6, #0
    beq usage

    @ One shared page.
    mov r0, #0
    mov r1, #4096
    mov r2, #3                      @ PROT_READ | PROT_WRITE
    mov r3, #0x21                   @ MAP_SHARED | MAP_ANONYMOUS
    mvn r4, #0                      @ fd -1
    mov r5, #0
    mov r7, #SYS_mmap2
    svc #0
    cmn r0, #4096
    bhi fail
    mov r8, r0

    mov r7, #SYS_fork
    svc #0
    cmp r0, #0
    blt fail
    mov r9, r0                      @ 0 in the child

    @ The hammering: N LDREX/STREX increments of word 0, N plain ones of word 1 (parent) or
    @ word 2 (child).
    mov r1, r6
    cmp r9, #0
    addeq r10, r8, #8
    addne r10, r8, #4
3:  ldrex r2, [r8]
    add r2, r2, #1
    strex r3, r2, [r8]
    cmp r3, #0
    bne 3b
    ldr r2, [r10]
    add r2, r2, #1
    str r2, [r10]
    subs r1, r1, #1
    bne 3b
    dmb

    cmp r9, #0
    bne parent
    mov r0, #0
    mov r7, #SYS_exit
    svc #0

parent:
    mov r0, r9
    mov r1, #0
    mov r2, #0
    mov r3, #0
    mov r7, #SYS_wait4
    svc #0
    dmb
    adr r0, s_total
    bl puts
    ldr r0, [r8]
    mov r11, r0
    bl putdec
    adr r0, s_expected
    bl puts
    add r0, r6, r6
    bl putdec
    ldr r1, [r8, #4]
    ldr r2, [r8, #8]
    add r2, r1, r2
    add r0, r6, r6
    cmp r11, r0
    cmpeq r2, r0
    adreq r0, s_ok
    adrne r0, s_lost
    bl puts
    mov r0, #0
    mov r7, #SYS_exit
    svc #0

usage:
    adr r0, s_usage
    bl puts
fail:
    mov r0, #1
    mov r7, #SYS_exit
    svc #0

@ puts: writes the NUL-terminated string at r0 to stdout. Clobbers r0-r3, r7.
puts:
    mov r1, r0
    mov r2, #0
1:  ldrb r3, [r1, r2]
    cmp r3, #0
    addne r2, r2, #1
    bne 1b
    mov r0, #1
    mov r7, #SYS_write
    svc #0
    bx lr

@ putdec: writes r0 in decimal. Clobbers r0-r5, r7.
putdec:
    push {lr}
    ldr r4, =digits_end
    mov r5, #0
    strb r5, [r4]
1:  @ r0 / 10 by multiplication with 0xCCCCCCCD (umull), remainder = r0 - 10q.
    ldr r2, =0xCCCCCCCD
    umull r3, r1, r0, r2
    lsr r1, r1, #3
    add r2, r1, r1, lsl #2
    sub r2, r0, r2, lsl #1
    add r2, r2, #'0'
    strb r2, [r4, #-1]!
    movs r0, r1
    bne 1b
    mov r0, r4
    bl puts
    pop {pc}

s_total:    .asciz "HAMMER total="
s_expected: .asciz " expected="
s_ok:       .asciz " OK\n"
s_lost:     .asciz " LOST\n"
s_usage:    .asciz "usage: hammer N\n"
    .align 2
    .ltorg

    .bss
digits:     .space 16
digits_end: .space 4
