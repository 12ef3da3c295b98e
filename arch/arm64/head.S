/*
 * keel entry. The image starts with the arm64 Linux Image header so QEMU's
 * -kernel and U-Boot's booti load it; x0 holds the DTB's physical address.
 */
#define SCTLR_EL2_M (1 << 0)
#define SCTLR_EL2_C (1 << 2)
#define SCTLR_EL2_I (1 << 12)

	.section .text.head, "ax"
	.globl _start
_start:
	b	primary_entry			/* code0 */
	.long	0				/* code1 */
	.quad	0x200000			/* text_offset: RAM base + 2 MiB */
	.quad	__image_size			/* image_size, bss included */
	.quad	0x2				/* flags: LE, 4K pages, 2 MiB aligned base */
	.quad	0, 0, 0
	.ascii	"ARM\x64"			/* magic */
	.long	0

primary_entry:
	mov	x19, x0				/* DTB */
	msr	daifset, #0xf
	/* Boot CPU stack (cpu 0). */
	ldr	x1, =cpu_stacks
	add	x1, x1, #KEEL_STACK_SIZE
	mov	sp, x1
	mrs	x1, CurrentEL
	lsr	x1, x1, #2
	cmp	x1, #2
	b.ne	wrong_el
	/* Refuse to run anywhere but where we are linked. */
	adr	x2, _start
	ldr	x3, =_start
	cmp	x2, x3
	b.ne	wrong_place
	/* Zero .bss with aligned stores (MMU off: memory is Device). */
	ldr	x1, =__bss_start
	ldr	x2, =__bss_end
1:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	1b
2:	ldr	x1, =el2_vectors
	msr	vbar_el2, x1
	mov	x0, #0
	bl	boot_mmu_setup			/* builds tables, sets MAIR/TCR/TTBR0 */
	bl	mmu_enable_el2
	mov	x0, x19
	bl	keel_main
	b	halt

wrong_el:
	mov	x0, x1
	bl	early_report_wrong_el
	b	halt
wrong_place:
	mov	x0, x2
	mov	x1, x3
	bl	early_report_wrong_place
halt:
	wfi
	b	halt

/* Turn the EL2 stage-1 MMU and caches on (tables already built). */
	.globl	mmu_enable_el2
mmu_enable_el2:
	dsb	sy
	tlbi	alle2
	dsb	sy
	isb
	mrs	x0, sctlr_el2
	mov	x1, #(SCTLR_EL2_M | SCTLR_EL2_C)
	orr	x1, x1, #SCTLR_EL2_I
	orr	x0, x0, x1
	msr	sctlr_el2, x0
	isb
	ret

/*
 * Spin-table CPUs enter here (x0 undefined, MMU off): find this CPU's index in
 * cpu_boot_mpidr (core/cpu_ops.h, index 0 is the boot CPU) and continue as
 * secondary_entry. Not found: halt.
 */
	.globl	spin_table_entry
spin_table_entry:
	msr	daifset, #0xf
	mrs	x1, mpidr_el1
	ldr	x2, =0xff00ffffff
	and	x1, x1, x2
	ldr	x2, =cpu_boot_mpidr
	mov	x0, #1
1:	cmp	x0, #KEEL_MAX_CPUS
	b.hs	halt
	ldr	x3, [x2, x0, lsl #3]
	cmp	x3, x1
	b.eq	secondary_entry
	add	x0, x0, #1
	b	1b

/*
 * Secondary CPUs enter here from PSCI CPU_ON with x0 = cpu index: they reuse
 * the boot CPU's tables.
 */
	.globl	secondary_entry
secondary_entry:
	msr	daifset, #0xf
	mov	x19, x0
	ldr	x1, =cpu_stacks
	add	x2, x0, #1
	mov	x3, #KEEL_STACK_SIZE
	madd	x1, x2, x3, x1
	mov	sp, x1
	ldr	x1, =el2_vectors
	msr	vbar_el2, x1
	mov	x0, #1
	bl	boot_mmu_setup
	bl	mmu_enable_el2
	mov	x0, x19
	bl	keel_secondary_main
	b	halt
