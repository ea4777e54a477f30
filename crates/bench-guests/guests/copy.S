@ Memory copy: LDM/STM of eight registers, 256 KiB from one buffer to another per pass, so
@ the loop's data spans 512 KiB of DRAM (the size of a kernel's or a decompressor's working
@ set, not of a cache line). Code and data on separate pages.
@
@ Unlike the ldst loop, whose data fits one page, this one needs many translations of guest
@ pages to host memory: an emulator's TLB reach (its page size times its TLB entries) shows.
@ per_iteration: the instructions of one pass.

    .include "common.inc"

    .equ COPY_BYTES, 256 * 1024

    main_counting_in_r0
pass:
    ldr r1, =source
    ldr r2, =destination
    mov r3, #(COPY_BYTES / 32)
1:  ldmia r1!, {r4-r11}
    stmia r2!, {r4-r11}
    subs r3, r3, #1
    bne 1b
    subs r0, r0, #1
    bne pass
    pop {r4-r11, pc}

    @ per_iteration: ldr, ldr, mov; 4 per 32 bytes; subs, bne
    parameters 4000, 3 + (COPY_BYTES / 32) * 4 + 2

    .bss
    .balign 4096
source:
    .space COPY_BYTES
destination:
    .space COPY_BYTES
