@ Load/store loop: word, byte and multiple loads and stores to a 64-byte buffer, which is on
@ the code's page when assembled with SAME_PAGE=1 (stores then hit a page holding translated
@ code) and on a data page of its own otherwise.
@ per_iteration: guest instructions in one iteration of the loop.
    .include "common.inc"

    main_counting_in_r0
    ldr r1, =buffer
    add r11, r1, #16
    mov r2, #0
loop_start:
    ldr r2, [r1]
    add r2, r2, #1
    str r2, [r1]
    ldr r3, [r1, #4]
    add r3, r3, r2
    str r3, [r1, #4]
    ldrb r4, [r1, #8]
    strb r4, [r1, #9]
    ldrh r5, [r1, #10]
    strh r5, [r1, #12]
    ldm r1, {r6-r9}
    stmia r11, {r6-r9}
    ldr r10, [r1, #32]
    str r10, [r1, #36]
    ldrd r6, r7, [r1, #40]
    strd r6, r7, [r1, #48]
    subs r0, r0, #1
    bne loop_start
loop_end:
    pop {r4-r11, pc}

    .ltorg
.if SAME_PAGE
    .balign 64
buffer:
    .space 64
.endif

.if SAME_PAGE
    parameters 1000000, (loop_end - loop_start) / 4
.else
    parameters 60000000, (loop_end - loop_start) / 4
.endif
.if !SAME_PAGE
    .balign 64
buffer:
    .space 64
.endif
