@ MMIO loop: stores to and loads from UART5's scratch register (a plain register of a real
@ device), each a round trip through the emulator's MMIO dispatch.
@ per_iteration: MMIO accesses in one iteration of the loop.
    .include "common.inc"

    main_counting_in_r0
    ldr r1, =UART5
    mov r2, #0
loop_start:
    str r2, [r1, #UART_SCR]
    ldr r3, [r1, #UART_SCR]
    add r2, r3, #1
    str r2, [r1, #UART_SCR]
    ldr r3, [r1, #UART_SCR]
    add r2, r3, #1
    str r2, [r1, #UART_SCR]
    ldr r3, [r1, #UART_SCR]
    add r2, r3, #1
    str r2, [r1, #UART_SCR]
    ldr r3, [r1, #UART_SCR]
    add r2, r3, #1
    subs r0, r0, #1
    bne loop_start
    pop {r4-r11, pc}

    parameters 1600000, 8
