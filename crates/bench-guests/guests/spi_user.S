@ SPI NOR reads through the FMC in user mode, as a driver shifts a command by hand: CE0 to
@ user mode, chip select asserted, READ (0x03) and a 3-byte address written to the window,
@ 4 KiB read from the window, chip select released, CE0 back to read mode.
@ per_iteration: bytes read from the flash in one iteration of the loop.
    .include "common.inc"

    .equ FMC,           0x1E620000
    .equ FMC_CE0_CTRL,  0x10
    .equ CE_STOP_ACTIVE, 0x4
    .equ MODE_USER,     0x3
    .equ FMC_WINDOW,    0x20000000
    .equ CHUNK,         4096

    main_counting_in_r0
    ldr r10, =FMC
    ldr r11, [r10, #FMC_CE0_CTRL]       @ the read-mode setting, restored after each read
    ldr r2, =saved_ctrl
    str r11, [r2]
    bic r12, r11, #MODE_USER
    orr r12, r12, #MODE_USER            @ r12: user mode, chip select asserted
    mov r14, #0                         @ flash offset
loop_start:
    orr r2, r12, #CE_STOP_ACTIVE
    str r2, [r10, #FMC_CE0_CTRL]        @ user mode, deselected
    str r12, [r10, #FMC_CE0_CTRL]       @ select
    ldr r1, =FMC_WINDOW
    @ READ and the 3-byte address, in the same translated block as the control write above:
    @ the window must already be the controller's (ast-emu ends the block after a store to
    @ the FMC's registers, so the switch takes effect before the next instruction).
    mov r2, #0x03                       @ READ
    strb r2, [r1]
    mov r2, r14, lsr #16
    strb r2, [r1]
    mov r2, r14, lsr #8
    strb r2, [r1]
    strb r14, [r1]
    mov r3, #CHUNK / 32
1:  ldm r1, {r2, r4-r9, r11}
    subs r3, r3, #1
    bne 1b
    orr r2, r12, #CE_STOP_ACTIVE
    str r2, [r10, #FMC_CE0_CTRL]        @ deselect
    ldr r11, =saved_ctrl
    ldr r11, [r11]
    str r11, [r10, #FMC_CE0_CTRL]       @ back to read mode
    add r14, r14, #CHUNK
    bic r14, r14, #0x00100000           @ wrap at 1 MiB
    subs r0, r0, #1
    bne loop_start
    pop {r4-r11, pc}

    parameters 10000, CHUNK
saved_ctrl:
    .word 0
