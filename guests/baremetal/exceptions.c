#include <stdint.h>

#include "arch.h"
#include "exceptions.h"
#include "gic.h"
#include "psci.h"
#include "uart.h"

static volatile int armed;
static volatile struct trap_record rec;

void trap_arm(void)
{
	rec.taken = 0;
	rec.kind = -1;
	rec.esr = rec.far = rec.elr = 0;
	dsb_sy();
	armed = 1;
	dsb_sy();
}

struct trap_record trap_disarm(void)
{
	struct trap_record r;

	dsb_sy();
	isb();
	armed = 0;
	r.taken = rec.taken;
	r.kind = rec.kind;
	r.esr = rec.esr;
	r.far = rec.far;
	r.elr = rec.elr;
	return r;
}

static const char *const kind_names[16] = {
    "sync/sp0",	    "irq/sp0",	   "fiq/sp0",	   "serror/sp0",     "sync",	    "irq",
    "fiq",	    "serror",	   "sync/lower64", "irq/lower64",    "fiq/lower64", "serror/lower64",
    "sync/lower32", "irq/lower32", "fiq/lower32",  "serror/lower32",
};

static __attribute__((noreturn)) void fatal(struct frame *f, uint64_t kind, uint64_t esr)
{
	gprintf("GUEST: FAIL unexpected exception %s esr=0x%lx far=0x%lx elr=0x%lx spsr=0x%lx\n",
		kind_names[kind & 15], esr, read_sysreg(far_el1), f->elr, f->spsr);
	psci_system_off();
}

void exception_dispatch(struct frame *f, uint64_t kind)
{
	uint64_t esr;

	switch (kind) {
	case 5: /* IRQ, current EL with SP_EL1 */
		gic_handle_irq();
		return;
	case 4: /* synchronous, current EL with SP_EL1 */
		esr = read_sysreg(esr_el1);
		if (armed && (ESR_EC(esr) == EC_DABT_CUR || ESR_EC(esr) == EC_DABT_LOWER ||
			      ESR_EC(esr) == EC_UNKNOWN)) {
			rec.taken++;
			rec.kind = (int)kind;
			rec.esr = esr;
			rec.far = read_sysreg(far_el1);
			rec.elr = f->elr;
			f->elr += 4;
			return;
		}
		fatal(f, kind, esr);
	case 7: /* SError */
		esr = read_sysreg(esr_el1);
		if (armed) {
			rec.taken++;
			rec.kind = (int)kind;
			rec.esr = esr;
			rec.elr = f->elr;
			return;
		}
		fatal(f, kind, esr);
	default:
		fatal(f, kind, read_sysreg(esr_el1));
	}
}
