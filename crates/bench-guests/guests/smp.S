@ Two cores at once (tests of --smp 2 under --elf): both start at the entry, tell themselves
@ apart by MPIDR, and then
@  1. each adds 1 to a shared counter 1,000,000 times with LDREX/STREX (ROUNDS times when
@     assembled with ROUNDS defined: the smp_long guest, 10^7);
@  2. each adds 1 to a second counter 200,000 times with plain loads and stores, under a
@     spinlock (LDREX/STREX to take it, a store to drop it);
@  3. once both are done, CPU0 sends SGI 1 to CPU1 and CPU1 answers with SGI 2, 200 times
@     (each polls its GIC CPU interface's IAR with interrupts masked).
@ CPU0 then prints the two counters and the pings in hex:
@  "SMP counter=001e8480 locked=00061a80 pings=000000c8 from=00000001"
@ and both cores park in WFI.
    .syntax unified
    .arch armv7-a
    .arm

    .equ UART5,             0x1E784000
    .equ UART_LSR,          0x14
    .equ LSR_THRE,          0x20
    .equ GICD,              0x40461000
    .equ GICD_SGIR,         0xF00
    .equ GICC,              0x40462000
    .equ GICC_PMR,          0x04
    .equ GICC_IAR,          0x0C
    .equ GICC_EOIR,         0x10
    .ifdef ROUNDS
    .equ ATOMIC_ROUNDS,     ROUNDS          @ smp_long: 10^7
    .else
    .equ ATOMIC_ROUNDS,     1000000
    .endif
    .equ LOCKED_ROUNDS,     200000
    .equ PINGS,             200

@ atomic_inc ADDR: adds 1 to the word at register ADDR with LDREX/STREX (retrying until the
@ store-exclusive succeeds). Clobbers r2, r3.
    .macro atomic_inc addr
1:  ldrex r2, [\addr]
    add r2, r2, #1
    strex r3, r2, [\addr]
    cmp r3, #0
    bne 1b
    .endm

    .include "cores.inc"

    .section .text.start, "ax"
    .global _start
_start:
    core_entry

    gic_on

    @ 1. The shared counter, with exclusives.
    ldr r0, =counter
    ldr r1, =ATOMIC_ROUNDS
9:  atomic_inc r0
    subs r1, r1, #1
    bne 9b

    @ 2. The counter under a spinlock.
    ldr r0, =lock
    ldr r4, =locked
    ldr r1, =LOCKED_ROUNDS
    mov r5, #1
2:  ldrex r2, [r0]
    cmp r2, #0
    bne 2b                              @ held by the other core
    strex r3, r5, [r0]
    cmp r3, #0
    bne 2b
    dmb
    ldr r2, [r4]
    add r2, r2, #1
    str r2, [r4]
    dmb
    mov r2, #0
    str r2, [r0]                        @ drop the lock
    subs r1, r1, #1
    bne 2b

    @ Both done before the pings.
    ldr r0, =done
    atomic_inc r0
4:  ldr r2, [r0]
    cmp r2, #2
    bne 4b

    @ 3. SGI ping-pong.
    ldr r6, =GICD
    ldr r7, =GICC
    ldr r8, =PINGS
    cmp r11, #0
    bne pong
ping:
    ldr r1, =(0x2 << 16) | 1            @ SGI 1 to CPU1 (target list bit 1)
    str r1, [r6, #GICD_SGIR]
5:  ldr r2, [r7, #GICC_IAR]
    ubfx r3, r2, #0, #10
    cmp r3, #2
    bne 5b
    str r2, [r7, #GICC_EOIR]
    ubfx r10, r2, #10, #3               @ the sender: CPU1
    ldr r0, =pings
    ldr r1, [r0]
    add r1, r1, #1
    str r1, [r0]
    subs r8, r8, #1
    bne ping
    b report
pong:
6:  ldr r2, [r7, #GICC_IAR]
    ubfx r3, r2, #0, #10
    cmp r3, #1
    bne 6b
    str r2, [r7, #GICC_EOIR]
    ldr r1, =(0x1 << 16) | 2            @ SGI 2 to CPU0
    str r1, [r6, #GICD_SGIR]
    subs r8, r8, #1
    bne pong
    b park

report:
    print_word s_counter, counter
    print_word s_locked, locked
    print_word s_pings, pings
    adr r0, s_from
    bl puts
    mov r0, r10
    bl puthex
    adr r0, s_end
    bl puts
park:
    cpsid if
7:  wfi
    b 7b

    .include "puts.inc"

s_counter:
    .asciz "SMP counter="
s_locked:
    .asciz " locked="
s_pings:
    .asciz " pings="
s_from:
    .asciz " from="
s_end:
    .asciz "\r\n"
    .balign 4
    .ltorg

    .data
    .balign 64
counter:    .word 0
    .balign 64
lock:       .word 0
    .balign 64
locked:     .word 0
    .balign 64
done:       .word 0
    .balign 64
pings:      .word 0

    .bss
    .balign 4096
stacks:     .space 2 * 4096
stack_top:
