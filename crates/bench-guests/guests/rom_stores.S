@ Stores to the read-only flash, as a misbehaving boot loader makes them: to the boot alias of
@ FMC CE0 (0x100) and to the FMC window (0x20000100), with STR, STRB, STRH and STM to each.
@ On the SoC the flash there is ROM: the stores are dropped. Reads both places back and says on
@ the console whether they kept their values (tests of ROM semantics under --elf).
    .syntax unified
    .arch armv7-a
    .arm

    .equ UART5,             0x1E784000
    .equ UART_LSR,          0x14
    .equ LSR_THRE,          0x20
    .equ BOOT_ALIAS_WORDS,  0x00000100
    .equ FMC_WINDOW_WORDS,  0x20000100

    .section .text.start, "ax"
    .global _start
_start:
    cpsid if
    @ QEMU starts every CPU of the machine at the ELF entry: all but CPU0 stay parked.
    mrc p15, 0, r0, c0, c0, 5           @ MPIDR
    ands r0, r0, #0xff
    bne halt
    ldr r0, =BOOT_ALIAS_WORDS
    bl store_and_reread
    mov r6, r0
    ldr r0, =FMC_WINDOW_WORDS
    bl store_and_reread
    orrs r6, r6, r0
    adreq r0, unchanged
    adrne r0, changed
    bl puts
halt:
    cpsid if
1:  wfi
    b 1b

@ store_and_reread: stores over the two words at r0 (STR, STRB, STRH, then STM of both) and
@ reads them back: r0 = 0 if both kept their values, 1 if a store landed. Clobbers r1-r3, r12.
store_and_reread:
    ldm r0, {r1, r2}                    @ the words as they are
    mvn r3, r1
    str r3, [r0]
    strb r3, [r0, #1]
    strh r3, [r0, #2]
    mvn r12, r2
    stm r0, {r3, r12}
    ldm r0, {r3, r12}
    cmp r3, r1
    cmpeq r12, r2
    moveq r0, #0
    movne r0, #1
    bx lr

    .include "puts.inc"

unchanged:
    .asciz "ROM stores dropped: the boot alias and the FMC window kept their values\r\n"
changed:
    .asciz "ROM stores landed: read-only flash changed\r\n"
    .balign 4
    .ltorg
