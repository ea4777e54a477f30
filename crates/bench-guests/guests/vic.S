@ The AST2500's VIC delivering interrupts to the ARM1176 (ast-emu --machine ast2500-evb, or
@ qemu-system-arm -M ast2500-evb -kernel): timer 1 (VIC source 16, dual-edge: each expiry
@ toggles the line, one edge) ticks at 1 kHz from the 1 MHz external clock and UART5 (source
@ 10, level) raises THR-empty. The handler reads the IRQ status, clears the timer's edge latch
@ (AVIC_EDGE_CLR) and the UART's cause (IIR); the main loop sleeps in WFI (the ARMv6 CP15
@ form Linux's cpu_v6_do_idle uses) until 10 ticks and one UART interrupt have been taken, then
@ prints what it counted. Its own start: the common one reads MPIDR, which the ARM1176 lacks.
    .syntax unified
    .arch armv6kz
    .arm

    .equ UART5,         0x1E784000
    .equ UART_THR,      0x00
    .equ UART_IER,      0x04
    .equ UART_IIR,      0x08
    .equ UART_LSR,      0x14
    .equ LSR_THRE,      0x20
    .equ IER_ETBEI,     0x02

    .equ VIC,           0x1E6C0080      @ the register set Linux uses (irq-aspeed-vic.c)
    .equ AVIC_IRQ_STATUS, 0x00
    .equ AVIC_INT_SELECT, 0x18
    .equ AVIC_INT_ENABLE, 0x20
    .equ AVIC_ENABLE_CLR, 0x28
    .equ AVIC_EDGE_CLR,   0x58
    .equ SRC_UART5,     10
    .equ SRC_TIMER1,    16

    .equ TIMER,         0x1E782000
    .equ TIMER1_RELOAD, 0x04
    .equ TIMER_CTRL,    0x30
    .equ CTRL_T1,       0x7             @ timer 1: enable, external 1 MHz clock, interrupt
    .equ TICKS,         10

    .section .text.start, "ax"
    .global _start
_start:
    cpsid if
    ldr sp, =stack_top
    adr r0, vectors
    mcr p15, 0, r0, c12, c0, 0          @ VBAR (the ARM1176's security extensions)
    ldr r0, =start_marker
    bl puts
    ldr r0, =VIC
    mov r1, #0
    str r1, [r0, #AVIC_INT_SELECT]      @ everything on IRQ
    mvn r1, #0
    str r1, [r0, #AVIC_EDGE_CLR]
    ldr r1, =(1 << SRC_UART5) | (1 << SRC_TIMER1)
    str r1, [r0, #AVIC_INT_ENABLE]
    ldr r0, =TIMER
    ldr r1, =999                        @ 1 ms at 1 MHz
    str r1, [r0, #TIMER1_RELOAD]
    str r1, [r0]                        @ the count starts from the reload value
    mov r1, #CTRL_T1
    str r1, [r0, #TIMER_CTRL]
    ldr r0, =UART5
    mov r1, #IER_ETBEI
    str r1, [r0, #UART_IER]             @ THR is empty: the UART raises its line at once
    mov r4, #0                          @ timer ticks taken
    mov r5, #0                          @ UART interrupts taken
    cpsie i
wait:
    cmp r4, #TICKS
    blt sleep
    cmp r5, #1
    bge done
sleep:
    mov r0, #0
    mcr p15, 0, r0, c7, c0, 4           @ wait for interrupt (ARMv6)
    b wait
done:
    cpsid i
    ldr r0, =TIMER
    mov r1, #0
    str r1, [r0, #TIMER_CTRL]
    ldr r0, =ticks_msg
    bl puts
    mov r0, r4
    bl putdec
    ldr r0, =uart_msg
    bl puts
    mov r0, r5
    bl putdec
    ldr r0, =newline
    bl puts
    ldr r0, =end_marker
    bl puts
halt:
    cpsid if
    mov r0, #0
1:  mcr p15, 0, r0, c7, c0, 4
    b 1b

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

@ Uses r0-r3; the main loop keeps its counts in r4 and r5.
irq_handler:
    ldr r1, =VIC
    ldr r0, [r1, #AVIC_IRQ_STATUS]
    tst r0, #(1 << SRC_TIMER1)
    beq 1f
    mov r2, #(1 << SRC_TIMER1)
    str r2, [r1, #AVIC_EDGE_CLR]        @ the edge latch
    add r4, r4, #1
1:  tst r0, #(1 << SRC_UART5)
    beq 2f
    ldr r2, =UART5
    ldr r3, [r2, #UART_IIR]             @ reading THR-empty from IIR clears it
    mov r3, #0
    str r3, [r2, #UART_IER]
    add r5, r5, #1
2:  subs pc, lr, #4

@ puts(r0: NUL-terminated string), polled on UART5. Uses r0-r3.
puts:
    ldr r1, =UART5
1:  ldrb r2, [r0], #1
    cmp r2, #0
    bxeq lr
2:  ldr r3, [r1, #UART_LSR]
    tst r3, #LSR_THRE
    beq 2b
    str r2, [r1, #UART_THR]
    b 1b

@ putdec(r0: 0..99): two digits at most.
putdec:
    push {lr}
    mov r1, #0
1:  cmp r0, #10
    subge r0, r0, #10
    addge r1, r1, #1
    bge 1b
    ldr r2, =digits
    cmp r1, #0
    beq 2f
    add r1, r1, #'0'
    strb r1, [r2], #1
2:  add r0, r0, #'0'
    strb r0, [r2], #1
    mov r0, #0
    strb r0, [r2]
    ldr r0, =digits
    bl puts
    pop {pc}

start_marker: .asciz "BENCH_START\r\n"
end_marker:   .asciz "BENCH_END\r\n"
ticks_msg:    .asciz "VIC: timer ticks "
uart_msg:     .asciz ", UART interrupts "
newline:      .asciz "\r\n"
    .balign 4
digits:       .space 4

    .data
    .global iterations
iterations:    .word 1
    .global per_iteration
per_iteration: .word 1
    .balign 8
stack:         .space 1024
stack_top:
