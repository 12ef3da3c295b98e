/* FP/SIMD register access for the integrity check. The C code is -mgeneral-regs-only, so
 * nothing between fp_load_all() and fp_store_all() touches q0-q31, FPCR or FPSR. */
	.arch	armv8-a+fp+simd
	.text

/* void fp_load_all(const void *buf): q0..q31 <- buf[0..511] (16-byte aligned). */
	.globl	fp_load_all
fp_load_all:
	ldp	q0, q1, [x0, #0]
	ldp	q2, q3, [x0, #32]
	ldp	q4, q5, [x0, #64]
	ldp	q6, q7, [x0, #96]
	ldp	q8, q9, [x0, #128]
	ldp	q10, q11, [x0, #160]
	ldp	q12, q13, [x0, #192]
	ldp	q14, q15, [x0, #224]
	ldp	q16, q17, [x0, #256]
	ldp	q18, q19, [x0, #288]
	ldp	q20, q21, [x0, #320]
	ldp	q22, q23, [x0, #352]
	ldp	q24, q25, [x0, #384]
	ldp	q26, q27, [x0, #416]
	ldp	q28, q29, [x0, #448]
	ldp	q30, q31, [x0, #480]
	ret

/* void fp_store_all(void *buf): buf[0..511] <- q0..q31. */
	.globl	fp_store_all
fp_store_all:
	stp	q0, q1, [x0, #0]
	stp	q2, q3, [x0, #32]
	stp	q4, q5, [x0, #64]
	stp	q6, q7, [x0, #96]
	stp	q8, q9, [x0, #128]
	stp	q10, q11, [x0, #160]
	stp	q12, q13, [x0, #192]
	stp	q14, q15, [x0, #224]
	stp	q16, q17, [x0, #256]
	stp	q18, q19, [x0, #288]
	stp	q20, q21, [x0, #320]
	stp	q22, q23, [x0, #352]
	stp	q24, q25, [x0, #384]
	stp	q26, q27, [x0, #416]
	stp	q28, q29, [x0, #448]
	stp	q30, q31, [x0, #480]
	ret

/* void fp_set_ctrl(uint64_t fpcr, uint64_t fpsr) */
	.globl	fp_set_ctrl
fp_set_ctrl:
	msr	fpcr, x0
	msr	fpsr, x1
	ret

/* uint64_t fp_get_fpcr(void), fp_get_fpsr(void) */
	.globl	fp_get_fpcr
fp_get_fpcr:
	mrs	x0, fpcr
	ret
	.globl	fp_get_fpsr
fp_get_fpsr:
	mrs	x0, fpsr
	ret
