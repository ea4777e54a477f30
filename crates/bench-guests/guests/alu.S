@ ALU loop: register-only data processing, one translated block per iteration.
@ per_iteration: guest instructions in one iteration of the loop.
    .include "common.inc"

    main_counting_in_r0
    mov r1, #1
    mov r2, #2
    mov r3, #3
    mov r4, #4
    mov r5, #5
    mov r6, #6
    mov r7, #7
    mov r8, #8
loop_start:
    add r1, r1, r2
    eor r3, r3, r1
    orr r4, r4, r3, lsr #3
    sub r5, r5, r4
    and r6, r6, r5, lsl #1
    bic r7, r7, r6
    add r8, r8, r7, ror #7
    rsb r2, r2, r8
    adds r1, r1, r3
    adc r4, r4, r5
    mov r9, r1, lsl #2
    add r10, r9, r2, asr #1
    eor r11, r10, r11
    orr r12, r11, #0x55
    sub r3, r12, r6
    mvn r5, r3
    subs r0, r0, #1
    bne loop_start
loop_end:
    pop {r4-r11, pc}

    parameters 250000000, (loop_end - loop_start) / 4
