@ SPI NOR reads through the FMC window in read mode (CE0 at 0x20000000, as u-boot and Linux
@ read the boot flash): 32 bytes per LDM, sweeping the first MiB.
@ per_iteration: bytes read from the flash in one iteration of the loop.
    .include "common.inc"

    .equ FMC_WINDOW,    0x20000000

    main_counting_in_r0
    ldr r1, =FMC_WINDOW
loop_start:
    ldm r1!, {r2-r9}
    bic r1, r1, #0x00100000             @ wrap at 1 MiB
    subs r0, r0, #1
    bne loop_start
    pop {r4-r11, pc}

    parameters 1000000, 32
