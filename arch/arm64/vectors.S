	.section .text
	.balign 2048
	.globl el2_vectors
el2_vectors:
	.rept 16
	.balign 128
	b .
	.endr
