/*
 * EL2 exception vectors and guest entry/exit. While a guest runs, TPIDR_EL2
 * points at its struct arch_vcpu_ctx; SP_EL2 still holds keel's stack.
 */
#include "arch/vcpu_ctx.h"

	.arch_extension fp
	.arch_extension simd

.macro	ventry label
	.balign	128
	b	\label
.endm

	.section .text
	.balign	2048
	.globl	el2_vectors
el2_vectors:
	ventry	el2_sync_self		/* current EL, SP_EL0: never used */
	ventry	el2_irq_self
	ventry	el2_fiq_self
	ventry	el2_serror_self
	ventry	el2_sync_self		/* current EL, SP_ELx */
	ventry	el2_irq_self
	ventry	el2_fiq_self
	ventry	el2_serror_self
	ventry	guest_sync		/* lower EL, AArch64 */
	ventry	guest_irq
	ventry	guest_fiq
	ventry	guest_serror
	ventry	guest_bad32		/* lower EL, AArch32: not supported (HCR_EL2.RW=1) */
	ventry	guest_bad32
	ventry	guest_bad32
	ventry	guest_bad32

/* An exception taken by keel itself: report and stop. */
.macro	self_exception kind
	sub	sp, sp, #(32 * 8)
	stp	x0, x1, [sp, #0]
	stp	x2, x3, [sp, #16]
	stp	x29, x30, [sp, #(29 * 8)]
	mov	x0, #\kind
	mov	x1, sp
	bl	el2_exception_report
	b	.
.endm
el2_sync_self:		self_exception 0
el2_irq_self:		self_exception 1
el2_fiq_self:		self_exception 2
el2_serror_self:	self_exception 3

/* Guest exits: spill x0/x1, store the rest into the context. */
.macro	guest_exit kind
	stp	x0, x1, [sp, #-16]!
	mrs	x0, tpidr_el2
	stp	x2, x3, [x0, #(VCPU_CTX_X + 2 * 8)]
	ldp	x2, x3, [sp], #16
	stp	x2, x3, [x0, #(VCPU_CTX_X + 0 * 8)]
	mov	x1, #\kind
	b	guest_exit_common
.endm
guest_sync:	guest_exit 0
guest_irq:	guest_exit 1
guest_fiq:	guest_exit 2
guest_serror:	guest_exit 3
guest_bad32:	guest_exit 0

guest_exit_common:
	stp	x4, x5, [x0, #(VCPU_CTX_X + 4 * 8)]
	stp	x6, x7, [x0, #(VCPU_CTX_X + 6 * 8)]
	stp	x8, x9, [x0, #(VCPU_CTX_X + 8 * 8)]
	stp	x10, x11, [x0, #(VCPU_CTX_X + 10 * 8)]
	stp	x12, x13, [x0, #(VCPU_CTX_X + 12 * 8)]
	stp	x14, x15, [x0, #(VCPU_CTX_X + 14 * 8)]
	stp	x16, x17, [x0, #(VCPU_CTX_X + 16 * 8)]
	stp	x18, x19, [x0, #(VCPU_CTX_X + 18 * 8)]
	stp	x20, x21, [x0, #(VCPU_CTX_X + 20 * 8)]
	stp	x22, x23, [x0, #(VCPU_CTX_X + 22 * 8)]
	stp	x24, x25, [x0, #(VCPU_CTX_X + 24 * 8)]
	stp	x26, x27, [x0, #(VCPU_CTX_X + 26 * 8)]
	stp	x28, x29, [x0, #(VCPU_CTX_X + 28 * 8)]
	str	x30, [x0, #(VCPU_CTX_X + 30 * 8)]
	mrs	x2, elr_el2
	mrs	x3, spsr_el2
	stp	x2, x3, [x0, #VCPU_CTX_PC]
	mrs	x2, esr_el2
	mrs	x3, far_el2
	stp	x2, x3, [x0, #VCPU_CTX_ESR]
	mrs	x2, hpfar_el2
	str	x2, [x0, #VCPU_CTX_HPFAR]
	/* The guest's TLS pointer out, keel's (picolibc errno) back in. */
	mrs	x2, tpidr_el0
	str	x2, [x0, #VCPU_CTX_TPIDR_EL0]
	ldr	x2, [x0, #VCPU_CTX_HOST_TPIDR_EL0]
	msr	tpidr_el0, x2
	/* FP/SIMD: keel's printf uses q0-q7, so the guest's are saved on every exit. */
	add	x2, x0, #VCPU_CTX_FP
	stp	q0, q1, [x2, #(0 * 32)]
	stp	q2, q3, [x2, #(1 * 32)]
	stp	q4, q5, [x2, #(2 * 32)]
	stp	q6, q7, [x2, #(3 * 32)]
	stp	q8, q9, [x2, #(4 * 32)]
	stp	q10, q11, [x2, #(5 * 32)]
	stp	q12, q13, [x2, #(6 * 32)]
	stp	q14, q15, [x2, #(7 * 32)]
	stp	q16, q17, [x2, #(8 * 32)]
	stp	q18, q19, [x2, #(9 * 32)]
	stp	q20, q21, [x2, #(10 * 32)]
	stp	q22, q23, [x2, #(11 * 32)]
	stp	q24, q25, [x2, #(12 * 32)]
	stp	q26, q27, [x2, #(13 * 32)]
	stp	q28, q29, [x2, #(14 * 32)]
	stp	q30, q31, [x2, #(15 * 32)]
	mrs	x2, fpsr
	mrs	x3, fpcr
	stp	x2, x3, [x0, #VCPU_CTX_FPSR]
	/* Back to keel: callee-saved registers and stack of arch_vcpu_enter's caller. */
	ldp	x19, x20, [x0, #(VCPU_CTX_HOST + 0 * 8)]
	ldp	x21, x22, [x0, #(VCPU_CTX_HOST + 2 * 8)]
	ldp	x23, x24, [x0, #(VCPU_CTX_HOST + 4 * 8)]
	ldp	x25, x26, [x0, #(VCPU_CTX_HOST + 6 * 8)]
	ldp	x27, x28, [x0, #(VCPU_CTX_HOST + 8 * 8)]
	ldp	x29, x30, [x0, #(VCPU_CTX_HOST + 10 * 8)]
	ldr	x2, [x0, #(VCPU_CTX_HOST + 12 * 8)]
	mov	sp, x2
	mov	x0, x1
	ret

/* enum arch_exit_kind arch_vcpu_enter(struct arch_vcpu_ctx *ctx) */
	.globl	arch_vcpu_enter
arch_vcpu_enter:
	stp	x19, x20, [x0, #(VCPU_CTX_HOST + 0 * 8)]
	stp	x21, x22, [x0, #(VCPU_CTX_HOST + 2 * 8)]
	stp	x23, x24, [x0, #(VCPU_CTX_HOST + 4 * 8)]
	stp	x25, x26, [x0, #(VCPU_CTX_HOST + 6 * 8)]
	stp	x27, x28, [x0, #(VCPU_CTX_HOST + 8 * 8)]
	stp	x29, x30, [x0, #(VCPU_CTX_HOST + 10 * 8)]
	mov	x2, sp
	str	x2, [x0, #(VCPU_CTX_HOST + 12 * 8)]
	msr	tpidr_el2, x0
	mrs	x2, tpidr_el0
	str	x2, [x0, #VCPU_CTX_HOST_TPIDR_EL0]
	ldr	x2, [x0, #VCPU_CTX_TPIDR_EL0]
	msr	tpidr_el0, x2
	add	x2, x0, #VCPU_CTX_FP
	ldp	q0, q1, [x2, #(0 * 32)]
	ldp	q2, q3, [x2, #(1 * 32)]
	ldp	q4, q5, [x2, #(2 * 32)]
	ldp	q6, q7, [x2, #(3 * 32)]
	ldp	q8, q9, [x2, #(4 * 32)]
	ldp	q10, q11, [x2, #(5 * 32)]
	ldp	q12, q13, [x2, #(6 * 32)]
	ldp	q14, q15, [x2, #(7 * 32)]
	ldp	q16, q17, [x2, #(8 * 32)]
	ldp	q18, q19, [x2, #(9 * 32)]
	ldp	q20, q21, [x2, #(10 * 32)]
	ldp	q22, q23, [x2, #(11 * 32)]
	ldp	q24, q25, [x2, #(12 * 32)]
	ldp	q26, q27, [x2, #(13 * 32)]
	ldp	q28, q29, [x2, #(14 * 32)]
	ldp	q30, q31, [x2, #(15 * 32)]
	ldp	x2, x3, [x0, #VCPU_CTX_FPSR]
	msr	fpsr, x2
	msr	fpcr, x3
	ldp	x2, x3, [x0, #VCPU_CTX_PC]
	msr	elr_el2, x2
	msr	spsr_el2, x3
	ldp	x2, x3, [x0, #(VCPU_CTX_X + 2 * 8)]
	ldp	x4, x5, [x0, #(VCPU_CTX_X + 4 * 8)]
	ldp	x6, x7, [x0, #(VCPU_CTX_X + 6 * 8)]
	ldp	x8, x9, [x0, #(VCPU_CTX_X + 8 * 8)]
	ldp	x10, x11, [x0, #(VCPU_CTX_X + 10 * 8)]
	ldp	x12, x13, [x0, #(VCPU_CTX_X + 12 * 8)]
	ldp	x14, x15, [x0, #(VCPU_CTX_X + 14 * 8)]
	ldp	x16, x17, [x0, #(VCPU_CTX_X + 16 * 8)]
	ldp	x18, x19, [x0, #(VCPU_CTX_X + 18 * 8)]
	ldp	x20, x21, [x0, #(VCPU_CTX_X + 20 * 8)]
	ldp	x22, x23, [x0, #(VCPU_CTX_X + 22 * 8)]
	ldp	x24, x25, [x0, #(VCPU_CTX_X + 24 * 8)]
	ldp	x26, x27, [x0, #(VCPU_CTX_X + 26 * 8)]
	ldp	x28, x29, [x0, #(VCPU_CTX_X + 28 * 8)]
	ldr	x30, [x0, #(VCPU_CTX_X + 30 * 8)]
	ldp	x0, x1, [x0, #(VCPU_CTX_X + 0 * 8)]
	eret
