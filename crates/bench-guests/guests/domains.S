@ Domains and the TLB: what DACR allows must hold at once, with no TLB maintenance, in every
@ privilege level (a test of the CPU core: ast-emu keeps TLB entries across DACR writes and
@ drops only those of the domains that changed). The MMU runs over flat 1 MiB sections in
@ domain 0 (manager) but for VA 0x90000000, 16 small pages in domain 1 (full access by AP).
@ DACR makes domain 1 client (access) or no access; a data abort counts the fault and skips
@ the instruction. Each phase counts its faults:
@  a. privileged: load a page, domain 1 off, load it again (1 fault), on again, load;
@  b. 16 pages (more than a TLB keeps track of per domain): load all, off, load all (16), on,
@     load all;
@  c. user mode: load two pages in user mode; in SVC turn domain 1 off and on again (as
@     Linux's software PAN does around a syscall), load one in user mode (no fault); in SVC
@     turn it off, load both in user mode (2);
@  d. LDRT from SVC (an unprivileged load): load, off, load (1), on, load.
@ It prints "DOMAINS a=00000001 b=00000010 c=00000002 d=00000001 fs=0000000b" between the
@ markers (fs: the last fault's DFSR status, 0b01011 = domain fault on a page), as
@ qemu-system-arm -M ast2600-evb prints it.
    .include "common.inc"
    .include "cores.inc"                @ print_word

    .equ SECTION,       0xC02           @ 1 MiB section, AP = 0b11, domain 0
    .equ COARSE_D1,     0x21            @ page table pointer, domain 1
    .equ SMALL_PAGE,    0x32            @ 4 KiB small page, AP = 0b11
    .equ VA,            0x90000000
    .equ PA,            0x81000000
    .equ PAGES,         16
    .equ DACR_ON,       0x7             @ domain 0 manager, domain 1 client
    .equ DACR_OFF,      0x3             @ domain 0 manager, domain 1 no access

@ dacr VALUE: writes DACR, with no TLB maintenance. Clobbers r0.
    .macro dacr value
    mov r0, #\value
    mcr p15, 0, r0, c3, c0, 0
    isb
    .endm

@ touch N: loads from the first N pages at VA. Clobbers r0-r2.
    .macro touch n
    ldr r1, =VA
    mov r2, #\n
1:  ldr r0, [r1]
    add r1, r1, #4096
    subs r2, r2, #1
    bne 1b
    .endm

@ phase WORD: the faults counted so far go to WORD, and the count starts again. Clobbers r0, r1.
    .macro phase word
    ldr r1, =faults
    ldr r0, [r1]
    mov r2, #0
    str r2, [r1]
    ldr r1, =\word
    str r0, [r1]
    .endm

    .text
    .global main
main:
    push {r4-r11, lr}
    ldr r0, =vectors
    mcr p15, 0, r0, c12, c0, 0          @ VBAR
    cps #0x17                           @ abort mode: its stack
    ldr sp, =abt_stack_top
    cps #0x13
    @ The flat table, then VA's section through the page table.
    ldr r0, =table
    ldr r2, =SECTION
    mov r1, #0
1:  orr r3, r2, r1, lsl #20
    str r3, [r0, r1, lsl #2]
    add r1, r1, #1
    cmp r1, #4096
    bne 1b
    ldr r1, =pages
    orr r3, r1, #COARSE_D1
    add r2, r0, #(VA >> 20) * 4
    str r3, [r2]
    ldr r3, =PA | SMALL_PAGE
    mov r2, #0
2:  str r3, [r1, r2, lsl #2]
    add r3, r3, #4096
    add r2, r2, #1
    cmp r2, #PAGES
    bne 2b
    dsb
    ldr r0, =table
    mcr p15, 0, r0, c2, c0, 0           @ TTBR0
    mov r0, #0
    mcr p15, 0, r0, c2, c0, 2           @ TTBCR: TTBR0 only, short descriptors
    dacr DACR_ON
    mcr p15, 0, r0, c8, c7, 0           @ TLBIALL
    dsb
    mrc p15, 0, r0, c1, c0, 0
    orr r0, r0, #1                      @ SCTLR.M
    mcr p15, 0, r0, c1, c0, 0
    isb

    @ a.
    phase scratch
    touch 1
    dacr DACR_OFF
    touch 1
    dacr DACR_ON
    touch 1
    phase result_a

    @ b.
    touch PAGES
    dacr DACR_OFF
    touch PAGES
    dacr DACR_ON
    touch PAGES
    phase result_b

    @ c.
    cps #0x10
    touch 2
    svc #0
    dacr DACR_OFF
    dacr DACR_ON
    cps #0x10
    touch 1
    svc #0
    dacr DACR_OFF
    cps #0x10
    touch 2
    svc #0
    dacr DACR_ON
    phase result_c

    @ d.
    ldr r1, =VA
    ldrt r0, [r1]
    dacr DACR_OFF
    ldrt r0, [r1]
    dacr DACR_ON
    ldrt r0, [r1]
    phase result_d

    mrc p15, 0, r0, c1, c0, 0
    bic r0, r0, #1                      @ MMU off again
    mcr p15, 0, r0, c1, c0, 0
    isb
    print_word s_a, result_a
    print_word s_b, result_b
    print_word s_c, result_c
    print_word s_d, result_d
    print_word s_fs, last_fs
    ldr r0, =s_end
    bl puts
    pop {r4-r11, pc}

@ The exception vectors: SVC returns to the caller in SVC mode; a data abort counts the fault,
@ keeps its status (DFSR FS[4] and FS[3:0]) and resumes after the faulting instruction.
    .balign 32
vectors:
    b .                                 @ reset
    b .                                 @ undefined
    b svc_entry
    b .                                 @ prefetch abort
    b abort_entry
    b .
    b .                                 @ IRQ
    b .                                 @ FIQ
svc_entry:
    bx lr
abort_entry:
    push {r0, r1}
    ldr r1, =faults
    ldr r0, [r1]
    add r0, r0, #1
    str r0, [r1]
    mrc p15, 0, r0, c5, c0, 0           @ DFSR
    ldr r1, =0x40f
    and r0, r0, r1
    ldr r1, =last_fs
    str r0, [r1]
    pop {r0, r1}
    subs pc, lr, #4

s_a:
    .asciz "DOMAINS a="
s_b:
    .asciz " b="
s_c:
    .asciz " c="
s_d:
    .asciz " d="
s_fs:
    .asciz " fs="
s_end:
    .asciz "\r\n"
    .balign 4
    .ltorg

    parameters 1, 0
    .balign 4
faults:     .word 0
last_fs:    .word 0
scratch:    .word 0
result_a:   .word 0
result_b:   .word 0
result_c:   .word 0
result_d:   .word 0

    .bss
    .balign 16384
table:      .space 16384
    .balign 1024
pages:      .space 1024
    .balign 8
            .space 1024
abt_stack_top:
