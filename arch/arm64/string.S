/*
 * memcpy and memset for keel. picolibc's are byte loops, which make copying a
 * 40 MiB guest kernel take seconds under emulation. These use only general
 * registers and only aligned wide accesses, so they are also safe before the
 * MMU is on (when memory is Device).
 */
	.text

/* void *memset(void *s, int c, size_t n) */
	.globl	memset
	.type	memset, %function
memset:
	mov	x3, x0
	and	w1, w1, #0xff
	orr	w1, w1, w1, lsl #8
	orr	w1, w1, w1, lsl #16
	orr	x1, x1, x1, lsl #32
1:	cbz	x2, 9f				/* head: bytes until 16-byte aligned */
	tst	x3, #15
	b.eq	2f
	strb	w1, [x3], #1
	sub	x2, x2, #1
	b	1b
2:	cmp	x2, #64
	b.lo	3f
	stp	x1, x1, [x3]
	stp	x1, x1, [x3, #16]
	stp	x1, x1, [x3, #32]
	stp	x1, x1, [x3, #48]
	add	x3, x3, #64
	sub	x2, x2, #64
	b	2b
3:	cmp	x2, #8
	b.lo	4f
	str	x1, [x3], #8
	sub	x2, x2, #8
	b	3b
4:	cbz	x2, 9f
	strb	w1, [x3], #1
	sub	x2, x2, #1
	b	4b
9:	ret
	.size	memset, . - memset

/* void *memcpy(void *dst, const void *src, size_t n) */
	.globl	memcpy
	.type	memcpy, %function
memcpy:
	mov	x3, x0
	eor	x4, x0, x1
	tst	x4, #7
	b.ne	8f				/* mutually misaligned: bytes only */
1:	cbz	x2, 9f
	tst	x3, #7
	b.eq	2f
	ldrb	w4, [x1], #1
	strb	w4, [x3], #1
	sub	x2, x2, #1
	b	1b
2:	cmp	x2, #64
	b.lo	3f
	ldp	x4, x5, [x1]
	ldp	x6, x7, [x1, #16]
	ldp	x8, x9, [x1, #32]
	ldp	x10, x11, [x1, #48]
	stp	x4, x5, [x3]
	stp	x6, x7, [x3, #16]
	stp	x8, x9, [x3, #32]
	stp	x10, x11, [x3, #48]
	add	x1, x1, #64
	add	x3, x3, #64
	sub	x2, x2, #64
	b	2b
3:	cmp	x2, #8
	b.lo	8f
	ldr	x4, [x1], #8
	str	x4, [x3], #8
	sub	x2, x2, #8
	b	3b
8:	cbz	x2, 9f
	ldrb	w4, [x1], #1
	strb	w4, [x3], #1
	sub	x2, x2, #1
	b	8b
9:	ret
	.size	memcpy, . - memcpy

/* void zero_ram(void *p, size_t n): p and n multiples of 64 bytes; MMU on (DC ZVA needs Normal memory). */
	.globl	zero_ram
	.type	zero_ram, %function
zero_ram:
	mrs	x2, dczid_el0
	tbnz	x2, #4, 3f			/* DC ZVA prohibited */
	and	x2, x2, #0xf
	mov	x3, #4
	lsl	x3, x3, x2			/* block size in bytes */
	sub	x4, x3, #1
	tst	x0, x4
	b.ne	3f
	tst	x1, x4
	b.ne	3f
1:	cbz	x1, 2f
	dc	zva, x0
	add	x0, x0, x3
	sub	x1, x1, x3
	b	1b
2:	ret
3:	mov	x2, x1
	mov	w1, #0
	b	memset
	.size	zero_ram, . - zero_ram
