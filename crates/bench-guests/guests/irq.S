@ Interrupt round trips: the guest enables UART5's THR-empty interrupt, the UART raises its
@ line at once, the GIC signals IRQ, and the handler acknowledges (GICC_IAR, then IIR, which
@ clears THR-empty, IER back to 0, GICC_EOIR) and returns; the main loop waits for that
@ before the next one.
@ per_iteration: interrupts taken in one iteration of the loop.
    .include "common.inc"

    .equ GICD,          0x40461000
    .equ GICD_CTLR,     0x000
    .equ GICD_ISENABLER, 0x100
    .equ GICD_IPRIORITYR, 0x400
    .equ GICD_ITARGETSR, 0x800
    .equ GICC,          0x40462000
    .equ GICC_CTLR,     0x00
    .equ GICC_PMR,      0x04
    .equ GICC_IAR,      0x0C
    .equ GICC_EOIR,     0x10
    .equ UART5_IRQ,     40              @ SPI 8
    .equ IER_ETBEI,     0x02

    .text
    .balign 32
vectors:
    b .                                 @ reset
    b .                                 @ undefined
    b .                                 @ SVC
    b .                                 @ prefetch abort
    b .                                 @ data abort
    b .
    b irq_handler
    b .                                 @ FIQ

@ The handler uses r0-r3 only; the main loop keeps nothing there.
irq_handler:
    ldr r1, =GICC
    ldr r0, [r1, #GICC_IAR]
    ldr r2, =UART5
    ldr r3, [r2, #UART_IIR]             @ reading THR-empty from IIR clears it
    mov r3, #0
    str r3, [r2, #UART_IER]
    str r0, [r1, #GICC_EOIR]
    add r5, r5, #1                      @ interrupts handled
    subs pc, lr, #4

    .global main
main:
    push {r4-r11, lr}
    adr r0, vectors
    mcr p15, 0, r0, c12, c0, 0          @ VBAR
    isb
    ldr r0, =GICD
    ldr r1, =GICD_ISENABLER + 4 * (UART5_IRQ / 32)
    mov r2, #1 << (UART5_IRQ % 32)
    str r2, [r0, r1]
    ldr r1, =GICD_IPRIORITYR + UART5_IRQ
    mov r2, #0xa0
    strb r2, [r0, r1]
    ldr r1, =GICD_ITARGETSR + UART5_IRQ
    mov r2, #0x01
    strb r2, [r0, r1]
    mov r2, #1
    str r2, [r0, #GICD_CTLR]
    ldr r0, =GICC
    mov r2, #0xf0
    str r2, [r0, #GICC_PMR]
    mov r2, #1
    str r2, [r0, #GICC_CTLR]

    ldr r4, =iterations
    ldr r4, [r4]
    ldr r6, =UART5
    mov r7, #IER_ETBEI
    mov r5, #0
    cpsie i
loop_start:
    add r8, r5, #1
    str r7, [r6, #UART_IER]             @ the UART raises its interrupt
1:  cmp r5, r8
    bne 1b
    cmp r5, r4
    bne loop_start
    cpsid i
    ldr r0, =GICC
    mov r2, #0
    str r2, [r0, #GICC_CTLR]
    pop {r4-r11, pc}

    parameters 600000, 1
