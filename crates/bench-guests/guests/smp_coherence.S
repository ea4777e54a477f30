@ Two cores keep each other's view of code and of mappings current (tests of --smp 2 under
@ --elf). Both start at the entry and tell themselves apart by MPIDR; they hand over through
@ the word `step`, each waiting in WFE for the other's SEV.
@  1. Code: CPU1 calls `routine` (it returns 1), so CPU1 has translated it. CPU0 rewrites its
@     first instruction to return 2, cleans it to the point of unification and invalidates
@     the instruction caches of the inner-shareable domain (DCCMVAU, ICIALLUIS). CPU1 calls
@     it again.
@  2. Mappings: both cores run with the MMU on over one table of 1 MiB sections, flat but for
@     VA 0x90000000, mapped to PA 0x81000000 (which holds 0xaaaa). CPU1 reads through it, so
@     its TLB holds the mapping. CPU0 remaps the section to PA 0x81100000 (0xbbbb) and
@     broadcasts the change (TLBIMVAIS). CPU1 reads through it again.
@ CPU0 then prints what CPU1 saw, in hex:
@  "COHERENCE code=00000002 before=0000aaaa tlb=0000bbbb"
@ and both cores park in WFI.
    .syntax unified
    .arch armv7-a
    .arch_extension mp
    .arm

    .equ UART5,             0x1E784000
    .equ UART_LSR,          0x14
    .equ LSR_THRE,          0x20
    .equ SECTION,           0xC02           @ 1 MiB section, AP = 0b11, domain 0
    .equ WINDOW_VA,         0x90000000
    .equ OLD_PA,            0x81000000
    .equ NEW_PA,            0x81100000
    .equ MOV_R0_2,          0xe3a00002      @ mov r0, #2

@ wait_for N: sleeps in WFE until the word `step` is at least N. Clobbers r2, r3.
    .macro wait_for n
    ldr r3, =step
1:  ldr r2, [r3]
    cmp r2, #\n
    bhs 2f
    wfe
    b 1b
2:  dmb
    .endm

@ signal N: sets `step` to N and wakes the other core. Clobbers r2, r3.
    .macro signal n
    dmb
    ldr r3, =step
    mov r2, #\n
    str r2, [r3]
    dsb
    sev
    .endm

    .include "cores.inc"

@ observe CODE, SEEN: CPU1 calls `routine` and keeps what it returned in the word CODE, then
@ reads the word at WINDOW_VA and keeps it in SEEN. Clobbers r0, r1, lr.
    .macro observe code, seen
    bl routine
    ldr r1, =\code
    str r0, [r1]
    ldr r0, =WINDOW_VA
    ldr r0, [r0]
    ldr r1, =\seen
    str r0, [r1]
    .endm

    .section .text.start, "ax"
    .global _start
_start:
    core_entry
    cmp r11, #0
    bne cpu1_start

    @ CPU0: the two words the window can show, and the table.
    ldr r0, =OLD_PA
    ldr r1, =0xaaaa
    str r1, [r0]
    ldr r0, =NEW_PA
    ldr r1, =0xbbbb
    str r1, [r0]
    ldr r0, =table
    ldr r4, =SECTION
    mov r1, #0
1:  orr r2, r4, r1, lsl #20
    str r2, [r0, r1, lsl #2]
    add r1, r1, #1
    cmp r1, #4096
    bne 1b
    ldr r0, =table + (WINDOW_VA >> 20) * 4
    ldr r1, =OLD_PA | SECTION
    str r1, [r0]
    signal 1
    bl mmu_on

    @ 1. Rewrite the routine CPU1 has run.
    wait_for 2
    ldr r0, =routine
    ldr r1, =MOV_R0_2
    str r1, [r0]
    dsb
    mcr p15, 0, r0, c7, c11, 1          @ DCCMVAU: clean to the point of unification
    dsb
    mcr p15, 0, r0, c7, c1, 0           @ ICIALLUIS
    mcr p15, 0, r0, c7, c1, 6           @ BPIALLIS
    dsb
    isb

    @ 2. Remap the window.
    ldr r0, =table + (WINDOW_VA >> 20) * 4
    ldr r1, =NEW_PA | SECTION
    str r1, [r0]
    dsb
    ldr r0, =WINDOW_VA
    mcr p15, 0, r0, c8, c3, 1           @ TLBIMVAIS (ASID 0)
    dsb
    isb
    signal 3

    wait_for 4
    print_word s_code, code_after
    print_word s_before, seen_before
    print_word s_tlb, seen_after
    ldr r0, =s_end
    bl puts
    b park

cpu1_start:
    wait_for 1
    bl mmu_on
    observe code_before, seen_before    @ translated here: returns 1; the old mapping
    signal 2
    wait_for 3
    isb
    observe code_after, seen_after      @ rewritten by CPU0; the new mapping
    signal 4
park:
    cpsid if
1:  wfi
    b 1b

@ mmu_on: this core translates through `table` (TTBR0, domain 0 manager). Clobbers r0.
mmu_on:
    ldr r0, =table
    mcr p15, 0, r0, c2, c0, 0           @ TTBR0
    mov r0, #0
    mcr p15, 0, r0, c2, c0, 2           @ TTBCR: TTBR0 only, short descriptors
    mov r0, #3
    mcr p15, 0, r0, c3, c0, 0           @ DACR: domain 0 manager
    mcr p15, 0, r0, c8, c7, 0           @ TLBIALL
    dsb
    mrc p15, 0, r0, c1, c0, 0
    orr r0, r0, #1                      @ SCTLR.M
    mcr p15, 0, r0, c1, c0, 0
    isb
    bx lr

@ routine: returns 1 in r0 until CPU0 rewrites its first instruction.
routine:
    mov r0, #1
    bx lr

    .include "puts.inc"

s_code:
    .asciz "COHERENCE code="
s_before:
    .asciz " before="
s_tlb:
    .asciz " tlb="
s_end:
    .asciz "\r\n"
    .balign 4
    .ltorg

    .data
    .balign 64
step:           .word 0
code_before:    .word 0
code_after:     .word 0
seen_before:    .word 0
seen_after:     .word 0

    .bss
    .balign 16384
table:          .space 16384
stacks:         .space 2 * 4096
stack_top:
