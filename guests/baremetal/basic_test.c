/*
 * test=basic: EL1 entry, virtual timer interrupts and an SGI through the (emulated) GIC, FP/SIMD state
 * surviving traps to the hypervisor, and stage-2 isolation (accesses past the end of RAM must
 * come back as synchronous data aborts on the guest's own EL1 vector).
 */
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "exceptions.h"
#include "fpsimd.h"
#include "gic.h"
#include "tests.h"
#include "timer.h"
#include "uart.h"

#define MIN_TICKS      10
#define TICK_HZ	       100
#define FP_ROUNDS      8
#define FP_FPCR	       0x01c00000ull /* FZ + RMode=round-toward-zero */
#define FP_FPSR	       0x0800001full /* QC + IOC DZC OFC UFC IXC */
#define ESCAPE_FAR_GAP (64ull << 20)

static void check_timer(void)
{
	uint64_t f = timer_freq(), t0 = timer_now(), start = timer_ticks();
	uint64_t n = timer_wait_ticks(MIN_TICKS + 2, 3000);
	uint64_t elapsed = timer_now() - t0;
	uint64_t ms = f ? elapsed * 1000 / f : 0;

	gprintf("GUEST: timer ticks=%lu cntfrq=%lu elapsed_ms=%lu\n", n, f, ms);
	if (n < MIN_TICKS) {
		gprintf("GUEST: FAIL timer ticks=%lu (want >= %u in 3 s; total %lu, spurious %lu)\n", n,
			MIN_TICKS, start + n, gic_spurious_count());
		test_fail();
		return;
	}
	/* An interrupt that is not lowered by re-arming TVAL shows up as ticks faster than 100 Hz. */
	uint64_t max_ticks = f ? elapsed / (f / TICK_HZ) + 2 : n;

	if (n > max_ticks) {
		gprintf("GUEST: FAIL timer too fast: %lu ticks in %lu ms\n", n, ms);
		test_fail();
	}
}

static volatile uint32_t sgi_seen;

static void sgi_irq(uint32_t intid)
{
	sgi_seen |= 1u << intid;
}

/* An SGI to itself (ICC_SGI1R_EL1 on GICv3, GICD_SGIR on GICv2) arrives through the hypervisor. */
static void check_sgi(void)
{
	uint64_t f = timer_freq(), t0 = timer_now();

	if (gic_send_sgi_self(3, sgi_irq)) {
		gprintf("GUEST: FAIL sgi not sent\n");
		test_fail();
		return;
	}
	while (!(sgi_seen & (1u << 3)) && timer_now() - t0 < f)
		;
	if (!(sgi_seen & (1u << 3))) {
		gprintf("GUEST: FAIL sgi 3 to self not taken within 1 s\n");
		test_fail();
		return;
	}
	gprintf("GUEST: sgi 3 to self taken\n");

	/* Eight at once, more than the list registers hold: keel refills them (maintenance interrupt). */
	irq_disable();
	for (uint32_t i = 4; i < 12; i++)
		gic_send_sgi_self(i, sgi_irq);
	irq_enable();
	t0 = timer_now();
	while ((sgi_seen & 0xff0u) != 0xff0u && timer_now() - t0 < f)
		;
	if ((sgi_seen & 0xff0u) != 0xff0u) {
		gprintf("GUEST: FAIL sgis 4..11 to self: only 0x%x taken within 1 s\n", sgi_seen);
		test_fail();
		return;
	}
	gprintf("GUEST: sgis 4..11 to self taken\n");
}

static uint64_t fp_in[64] __attribute__((aligned(16)));
static uint64_t fp_out[64] __attribute__((aligned(16)));

static void check_fpsimd(void)
{
	uint64_t want_fpcr, want_fpsr, fpcr, fpsr;
	int bad = 0;

	for (uint64_t n = 0; n < 32; n++) {
		fp_in[2 * n] = 0xf00d000000000000ull | n << 40 | (n * 0x01010101ull);
		fp_in[2 * n + 1] = 0xbeef000000000000ull | (31 - n) << 32 | (n * 0x00110011ull) | 0x8000;
	}
	/* Keep whatever FPCR/FPSR bits this CPU implements of the test values. */
	fp_set_ctrl(FP_FPCR, FP_FPSR);
	want_fpcr = fp_get_fpcr();
	want_fpsr = fp_get_fpsr();
	fp_load_all(fp_in);
	/* From here to fp_store_all no code touches FP/SIMD (-mgeneral-regs-only): every UART
	 * write traps to the hypervisor, every WFI may switch to another vCPU or the host. */
	for (int round = 0; round < FP_ROUNDS; round++) {
		gprintf("GUEST: fp round %d/%d: the quick brown fox jumps over the lazy dog 0123456789\n",
			round + 1, FP_ROUNDS);
		delay_ms(15);
	}
	fp_store_all(fp_out);
	fpcr = fp_get_fpcr();
	fpsr = fp_get_fpsr();
	fp_set_ctrl(0, 0);

	for (int n = 0; n < 32; n++) {
		if (fp_out[2 * n] != fp_in[2 * n] || fp_out[2 * n + 1] != fp_in[2 * n + 1]) {
			gprintf("GUEST: FAIL fp q%d want=0x%016lx%016lx got=0x%016lx%016lx\n", n,
				fp_in[2 * n + 1], fp_in[2 * n], fp_out[2 * n + 1], fp_out[2 * n]);
			bad++;
		}
	}
	if (fpcr != want_fpcr) {
		gprintf("GUEST: FAIL fp fpcr want=0x%lx got=0x%lx\n", want_fpcr, fpcr);
		bad++;
	}
	if (fpsr != want_fpsr) {
		gprintf("GUEST: FAIL fp fpsr want=0x%lx got=0x%lx\n", want_fpsr, fpsr);
		bad++;
	}
	if (bad)
		test_fail();
	else
		gprintf("GUEST: fp ok\n");
}

/* Each access is exactly one 4-byte instruction so the abort handler can skip it. */
enum access { LOAD, STORE, LOAD_PAIR, STORE_PAIR };
static const char *const access_names[] = {"load", "store", "ldp", "stp"};

static __attribute__((noinline)) void do_access(uintptr_t addr, enum access how)
{
	uint64_t a = 0x1111111111111111ull, b = 0x2222222222222222ull;

	switch (how) {
	case LOAD:
		__asm__ volatile("ldrb %w0, [%1]" : "=r"(a) : "r"(addr) : "memory");
		break;
	case STORE:
		__asm__ volatile("strb %w0, [%1]" ::"r"(a), "r"(addr) : "memory");
		break;
	case LOAD_PAIR:
		__asm__ volatile("ldp %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(addr) : "memory");
		break;
	case STORE_PAIR:
		__asm__ volatile("stp %0, %1, [%2]" ::"r"(a), "r"(b), "r"(addr) : "memory");
		break;
	}
	dsb_sy();
	isb();
}

/* Opcode classes (mask 0xffc00000) of the instructions do_access() uses. */
static const uint32_t access_opcodes[] = {
    [LOAD] = 0x39400000,       /* ldrb wt, [xn, #imm] */
    [STORE] = 0x39000000,      /* strb wt, [xn, #imm] */
    [LOAD_PAIR] = 0xa9400000,  /* ldp xt1, xt2, [xn, #imm] */
    [STORE_PAIR] = 0xa9000000, /* stp xt1, xt2, [xn, #imm] */
};

/* 1 if the access was refused with a synchronous data abort on our own vector, with
 * ELR_EL1 at the faulting instruction. */
static int try_access(uintptr_t addr, enum access how, struct trap_record *r)
{
	trap_arm();
	do_access(addr, how);
	*r = trap_disarm();
	if (r->taken != 1 || r->kind != 4 ||
	    (ESR_EC(r->esr) != EC_DABT_CUR && ESR_EC(r->esr) != EC_DABT_LOWER))
		return 0;
	uint32_t insn = mmio_read32(r->elr);

	if ((insn & 0xffc00000u) != access_opcodes[how]) {
		gprintf("GUEST: FAIL abort ELR_EL1=0x%lx holds 0x%08x, not the faulting %s\n", r->elr, insn,
			access_names[how]);
		test_fail();
	}
	return 1;
}

static void report_escape(uintptr_t addr, enum access how, const char *ok_marker)
{
	struct trap_record r;
	int refused = try_access(addr, how, &r);

	if (refused) {
		if (ok_marker)
			gprintf("GUEST: %s far=0x%lx esr=0x%lx\n", ok_marker, r.far, r.esr);
		else
			gprintf("GUEST: escape refused far=0x%lx esr=0x%lx (%s 0x%lx)\n", r.far, r.esr,
				access_names[how], (uint64_t)addr);
		if (!(r.esr & ESR_FNV) && r.far != addr)
			gprintf("GUEST: note far 0x%lx != target 0x%lx\n", r.far, (uint64_t)addr);
		return;
	}
	if (!r.taken)
		gprintf("GUEST: FAIL escape not refused (%s 0x%lx completed)\n", access_names[how],
			(uint64_t)addr);
	else
		gprintf("GUEST: FAIL escape %s 0x%lx: wrong exception %d kind=%d esr=0x%lx far=0x%lx\n",
			access_names[how], (uint64_t)addr, r.taken, r.kind, r.esr, r.far);
	test_fail();
}

static void check_escape(void)
{
	uint64_t end = env.ram_base + env.ram_size;

	if (!env.ram_size) {
		gprintf("GUEST: FAIL escape: RAM size unknown\n");
		test_fail();
		return;
	}
	gprintf("GUEST: escape: ram 0x%lx..0x%lx\n", env.ram_base, end);
	report_escape(end, STORE, NULL);
	report_escape(end, LOAD, NULL);
	report_escape(end + ESCAPE_FAR_GAP, STORE, NULL);
	report_escape(end + ESCAPE_FAR_GAP, LOAD, NULL);
	/* Load/store pair: a stage-2 abort without a syndrome (ISV=0) the hypervisor cannot emulate. */
	report_escape(end + ESCAPE_FAR_GAP / 2, LOAD_PAIR, "ldp abort ok");
	report_escape(end + ESCAPE_FAR_GAP / 2, STORE_PAIR, "stp abort ok");
}

/* ldp on an emulated device (PL011 PeriphID0/1): natively it just reads the ID registers; a
 * hypervisor may refuse it (inject an abort) or decode and emulate it. Garbage is never fine.
 * bootarg ldp_uart=abort makes an abort mandatory. */
static void check_ldp_mmio(void)
{
	uintptr_t addr = env.uart + 0xfe0;
	struct trap_record r;
	char mode[8];
	int must_abort = bootarg("ldp_uart", mode, sizeof(mode)) && mode[0] == 'a';
	uint32_t id0 = mmio_read32(addr), id1 = mmio_read32(addr + 4);
	uint32_t p0 = 0xdeadbeef, p1 = 0xdeadbeef;

	trap_arm();
	__asm__ volatile("ldp %w0, %w1, [%2]" : "+r"(p0), "+r"(p1) : "r"(addr) : "memory");
	r = trap_disarm();
	if (r.taken) {
		gprintf("GUEST: ldp uart refused esr=0x%lx far=0x%lx\n", r.esr, r.far);
		if (ESR_EC(r.esr) != EC_DABT_CUR && ESR_EC(r.esr) != EC_DABT_LOWER) {
			gprintf("GUEST: FAIL ldp uart wrong exception esr=0x%lx\n", r.esr);
			test_fail();
		}
	} else if (must_abort) {
		gprintf("GUEST: FAIL ldp uart not refused (0x%x 0x%x)\n", p0, p1);
		test_fail();
	} else if (p0 != id0 || p1 != id1) {
		gprintf("GUEST: FAIL ldp uart read 0x%x 0x%x, ldr read 0x%x 0x%x\n", p0, p1, id0, id1);
		test_fail();
	} else {
		gprintf("GUEST: ldp uart completed 0x%x 0x%x\n", p0, p1);
	}
}

/*
 * Wrong accesses to the GIC's areas (a byte store to a read-only register, ldp/stp, which carry no
 * instruction syndrome, a reserved offset): each is refused with a data abort or ignored, never
 * anything else, and the GIC still delivers an SGI afterwards. The probes are harmless if a GIC takes
 * them (read-only registers, loads). Run with bootarg gic_abuse=1.
 */
static void check_gic_abuse(void)
{
	uintptr_t cpuif_ro = env.gicr + (env.gic_version == 2 ? 0xfc : 0x4); /* GICC_IIDR / GICR_IIDR */
	const struct {
		uintptr_t addr;
		enum access how;
		const char *what;
	} probes[] = {
	    {env.gicd + 0x4, STORE, "byte store to GICD_TYPER"},
	    {env.gicd + 0x0, LOAD_PAIR, "ldp on GICD_CTLR"},
	    {env.gicd + 0x8, STORE_PAIR, "stp on GICD_IIDR"},
	    {env.gicd + 0xfffc, LOAD, "load at GICD+0xfffc"},
	    {env.gicr + 0x0, LOAD_PAIR, "ldp on the CPU interface / redistributor"},
	    {cpuif_ro, STORE, "byte store to GICC_IIDR / GICR_IIDR"},
	};
	unsigned refused = 0, ignored = 0;
	uint64_t f = timer_freq(), t0;

	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct trap_record r;
		trap_arm();
		do_access(probes[i].addr, probes[i].how);
		r = trap_disarm();
		if (r.taken == 0) {
			ignored++;
		} else if (r.taken == 1 && r.kind == 4 &&
			   (ESR_EC(r.esr) == EC_DABT_CUR || ESR_EC(r.esr) == EC_DABT_LOWER)) {
			refused++;
		} else {
			gprintf("GUEST: FAIL gic abuse: %s at 0x%lx: exception %d kind=%d esr=0x%lx\n",
				probes[i].what, (uint64_t)probes[i].addr, r.taken, r.kind, r.esr);
			test_fail();
		}
	}
	gprintf("GUEST: gic abuse: %u refused, %u ignored\n", refused, ignored);
	sgi_seen &= ~(1u << 3);
	gic_send_sgi_self(3, sgi_irq);
	for (t0 = timer_now(); !(sgi_seen & (1u << 3)) && timer_now() - t0 < f;)
		;
	if (!(sgi_seen & (1u << 3))) {
		gprintf("GUEST: FAIL no SGI after the gic abuse\n");
		test_fail();
	} else {
		gprintf("GUEST: sgi after gic abuse taken\n");
	}
}

void test_basic(void)
{
	gprintf("GUEST: CurrentEL=%u mpidr=0x%lx midr=0x%lx\n", current_el(), read_sysreg(mpidr_el1),
		read_sysreg(midr_el1));
	if (platform_irq_init())
		test_fail();
	else {
		check_timer();
		check_sgi();
	}
	check_fpsimd();
	check_escape();
	check_ldp_mmio();
	char arg[4];
	if (bootarg("gic_abuse", arg, sizeof(arg)) && arg[0] == '1' && !test_failures())
		check_gic_abuse(); /* bootarg gic_abuse=1: keel logs each wrong access */
	if (gic_unexpected_count()) {
		gprintf("GUEST: FAIL %lu unexpected interrupts\n", gic_unexpected_count());
		test_fail();
	}
}
