@ Two cores (tests of --smp 2 under --elf, busy waits skipped): a core's timer deadline holds
@ while the other core busy-waits. CPU1 reads the counter (CNTPCT) in a tight loop, the busy
@ wait an emulator skips through in virtual time; meanwhile CPU0, 20 times, arms its physical
@ timer about 1 ms ahead (CNTFRQ / 1024 ticks), sleeps in WFI until it fires, and notes how
@ late it woke (CNTPCT - CNTP_CVAL). CPU0 then stops CPU1 and prints, in hex, the period, the
@ least and the most it woke late, and how many counter reads CPU1 made:
@  "DEADLINE period=0000f424 earliest=... latest=... reads=..."
@ A skip that passes CPU0's deadline makes every wake-up late by the rest of the skip.
    .syntax unified
    .arch armv7-a
    .arm

    .equ UART5,             0x1E784000
    .equ UART_LSR,          0x14
    .equ LSR_THRE,          0x20
    .equ GICD,              0x40461000
    .equ GICD_ISENABLER0,   0x100
    .equ GICC,              0x40462000
    .equ GICC_PMR,          0x04
    .equ GICC_IAR,          0x0C
    .equ GICC_EOIR,         0x10
    .equ ROUNDS,            20
    .equ CTL_ENABLE,        1
    .equ CTL_ISTATUS,       4

    .include "cores.inc"

    .section .text.start, "ax"
    .global _start
_start:
    core_entry

    gic_on
    cmp r11, #0
    bne reader

sleeper:
    @ Every PPI of this core on: its generic timers' interrupts.
    ldr r0, =GICD
    ldr r1, =0xffff0000
    str r1, [r0, #GICD_ISENABLER0]
    mrc p15, 0, r7, c14, c0, 0          @ CNTFRQ
    lsr r7, r7, #10                     @ r7: the period, about 1 ms of ticks
    ldr r0, =period
    str r7, [r0]
    ldr r0, =go
    mov r1, #1
    str r1, [r0]
    dsb
    sev
    mov r8, #ROUNDS
    mvn r9, #0                          @ r9: earliest (least late)
    mov r10, #0                         @ r10: latest
1:  mcr p15, 0, r7, c14, c2, 0          @ CNTP_TVAL: fire a period from now
    mov r1, #CTL_ENABLE
    mcr p15, 0, r1, c14, c2, 1          @ CNTP_CTL: on, unmasked
    isb
2:  wfi
    mrc p15, 0, r1, c14, c2, 1
    tst r1, #CTL_ISTATUS
    beq 2b
    mrrc p15, 0, r2, r3, c14            @ CNTPCT
    mrrc p15, 2, r4, r5, c14            @ CNTP_CVAL
    sub r2, r2, r4                      @ how late (ticks)
    cmp r2, r9
    movlo r9, r2
    cmp r2, r10
    movhi r10, r2
    ldr r0, =GICC
    ldr r6, [r0, #GICC_IAR]
    mov r1, #0
    mcr p15, 0, r1, c14, c2, 1          @ CNTP_CTL: off (the line drops)
    isb
    str r6, [r0, #GICC_EOIR]
    subs r8, r8, #1
    bne 1b

    @ Stop the reader and wait for its count.
    ldr r0, =stop
    mov r1, #1
    str r1, [r0]
    dsb
    sev
    ldr r0, =reads_done
3:  ldr r1, [r0]
    cmp r1, #0
    beq 3b
    ldr r0, =earliest
    str r9, [r0]
    ldr r0, =latest
    str r10, [r0]
    print_word s_period, period
    print_word s_earliest, earliest
    print_word s_latest, latest
    print_word s_reads, reads
    ldr r0, =s_end
    bl puts
    b park

reader:
    ldr r0, =go
4:  ldr r1, [r0]
    cmp r1, #0
    bne 5f
    wfe
    b 4b
5:  ldr r0, =stop
    mov r4, #0
6:  mrrc p15, 0, r2, r3, c14            @ CNTPCT, over and over: a busy wait
    add r4, r4, #1
    ldr r1, [r0]
    cmp r1, #0
    beq 6b
    ldr r0, =reads
    str r4, [r0]
    dmb
    ldr r0, =reads_done
    mov r1, #1
    str r1, [r0]
park:
    cpsid if
7:  wfi
    b 7b

    .include "puts.inc"

s_period:
    .asciz "DEADLINE period="
s_earliest:
    .asciz " earliest="
s_latest:
    .asciz " latest="
s_reads:
    .asciz " reads="
s_end:
    .asciz "\r\n"
    .balign 4

    .data
    .balign 64
go:         .word 0
    .balign 64
stop:       .word 0
    .balign 64
reads_done: .word 0
reads:      .word 0
period:     .word 0
earliest:   .word 0
latest:     .word 0

    .bss
    .balign 4096
stacks:     .space 2 * 4096
stack_top:
