/*
 * Entry, arm64 Image header and EL1 exception vectors of the bare-metal test guest.
 * Boot protocol (Linux arm64 booting.rst): x0 = DTB, MMU off, loaded at RAM base + text_offset.
 * The MMU stays off: every data access is Device-nGnRnE, so the C code is built -mstrict-align.
 */
#include "frame.h"

	.section .text.head, "ax"
	.globl	_start
_start:
	b	primary_entry			/* code0 */
	.long	0				/* code1 */
	.quad	0				/* text_offset: load at 2 MiB-aligned base + 0 */
	.quad	_image_size			/* image_size, including bss and stack */
	.quad	0x2				/* flags: LE, 4K pages, place near the start of RAM */
	.quad	0				/* res2 */
	.quad	0				/* res3 */
	.quad	0				/* res4 */
	.ascii	"ARM\x64"			/* magic */
	.long	0				/* res5 (PE header offset) */

primary_entry:
	mov	x19, x0				/* DTB */
	mov	x20, x1				/* x1..x3 must be 0 per the boot protocol */
	mov	x21, x2
	mov	x22, x3
	msr	daifset, #0xf

	/* Linked at a fixed address: refuse to run anywhere else. */
	adr	x0, _start
	ldr	x1, =_start
	cmp	x0, x1
	b.ne	bad_load_address

	msr	spsel, #1
	ldr	x0, =_stack_top
	mov	sp, x0

	ldr	x0, =_bss_start
	ldr	x1, =_bss_end
1:	cmp	x0, x1
	b.hs	2f
	stp	xzr, xzr, [x0], #16
	b	1b
2:
	ldr	x0, =vectors
	msr	vbar_el1, x0
	/* CPACR_EL1.FPEN = 0b11: no FP/SIMD traps at EL1/EL0. */
	mrs	x0, cpacr_el1
	orr	x0, x0, #(3 << 20)
	msr	cpacr_el1, x0
	isb

	mov	x0, x19
	mov	x1, x20
	mov	x2, x21
	mov	x3, x22
	bl	guest_main
3:	wfi
	b	3b

	/* PSCI CPU_ON entry of a second vCPU (test=reset-race): its own small stack, same vectors. */
	.globl	secondary_entry
secondary_entry:
	msr	daifset, #0xf
	msr	spsel, #1
	ldr	x0, =secondary_stack
	add	x0, x0, #4096
	mov	sp, x0
	ldr	x0, =vectors
	msr	vbar_el1, x0
	isb
	bl	guest_secondary_main
4:	wfi
	b	4b

/* Position-independent last resort: print a marker on the PL011 at its QEMU-virt address and stop. */
bad_load_address:
	mov	x1, #0x09000000
	adr	x2, bad_load_msg
4:	ldrb	w3, [x2], #1
	cbz	w3, 5f
	str	w3, [x1]
	b	4b
5:	wfi
	b	5b
bad_load_msg:
	.asciz	"GUEST: FAIL loaded at the wrong address (need 0x40200000)\n"
	.balign	4

/* ---------------------------------------------------------------- vectors */
	.macro	VENTRY kind
	.balign	0x80
	sub	sp, sp, #FRAME_SIZE
	stp	x0, x1, [sp, #0]
	mov	x0, #\kind
	b	exception_entry
	.endm

	.text
	.balign	0x800
	.globl	vectors
vectors:
	VENTRY	0	/* current EL, SP0: sync */
	VENTRY	1	/* irq */
	VENTRY	2	/* fiq */
	VENTRY	3	/* serror */
	VENTRY	4	/* current EL, SPx: sync */
	VENTRY	5	/* irq */
	VENTRY	6	/* fiq */
	VENTRY	7	/* serror */
	VENTRY	8	/* lower EL, AArch64 */
	VENTRY	9
	VENTRY	10
	VENTRY	11
	VENTRY	12	/* lower EL, AArch32 */
	VENTRY	13
	VENTRY	14
	VENTRY	15

/* Saves x0..x30, ELR_EL1 and SPSR_EL1 (x0/x1 already saved by VENTRY), calls
 * exception_dispatch(frame, kind), restores (ELR may have been changed) and erets.
 * No FP/SIMD register is touched: the C code is -mgeneral-regs-only. */
exception_entry:
	stp	x2, x3, [sp, #16]
	stp	x4, x5, [sp, #32]
	stp	x6, x7, [sp, #48]
	stp	x8, x9, [sp, #64]
	stp	x10, x11, [sp, #80]
	stp	x12, x13, [sp, #96]
	stp	x14, x15, [sp, #112]
	stp	x16, x17, [sp, #128]
	stp	x18, x19, [sp, #144]
	stp	x20, x21, [sp, #160]
	stp	x22, x23, [sp, #176]
	stp	x24, x25, [sp, #192]
	stp	x26, x27, [sp, #208]
	stp	x28, x29, [sp, #224]
	mrs	x2, elr_el1
	mrs	x3, spsr_el1
	stp	x30, x2, [sp, #FRAME_X30]
	str	x3, [sp, #FRAME_SPSR]
	mov	x1, x0
	mov	x0, sp
	bl	exception_dispatch
	ldp	x30, x2, [sp, #FRAME_X30]
	ldr	x3, [sp, #FRAME_SPSR]
	msr	elr_el1, x2
	msr	spsr_el1, x3
	ldp	x2, x3, [sp, #16]
	ldp	x4, x5, [sp, #32]
	ldp	x6, x7, [sp, #48]
	ldp	x8, x9, [sp, #64]
	ldp	x10, x11, [sp, #80]
	ldp	x12, x13, [sp, #96]
	ldp	x14, x15, [sp, #112]
	ldp	x16, x17, [sp, #128]
	ldp	x18, x19, [sp, #144]
	ldp	x20, x21, [sp, #160]
	ldp	x22, x23, [sp, #176]
	ldp	x24, x25, [sp, #192]
	ldp	x26, x27, [sp, #208]
	ldp	x28, x29, [sp, #224]
	ldp	x0, x1, [sp, #0]
	add	sp, sp, #FRAME_SIZE
	eret
