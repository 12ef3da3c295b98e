/* EL1 exception handling: IRQs go to the GIC driver; a synchronous abort is either expected
 * (armed by a test: recorded, the faulting instruction skipped) or fatal (FAIL + SYSTEM_OFF). */
#ifndef GUEST_EXCEPTIONS_H
#define GUEST_EXCEPTIONS_H

#include <stdint.h>

#include "frame.h"

#define ESR_EC(esr)   ((unsigned)((esr) >> 26) & 0x3f)
#define EC_UNKNOWN    0x00
#define EC_DABT_LOWER 0x24
#define EC_DABT_CUR   0x25
#define EC_SERROR     0x2f
#define ESR_FNV	      (1u << 10)
#define ESR_WNR	      (1u << 6)
#define ESR_ISV	      (1u << 24)

/** What the last armed window recorded. */
struct trap_record {
	int taken; /* number of exceptions taken while armed */
	int kind;  /* vector index (4 = sync, 7 = SError) */
	uint64_t esr, far, elr;
};

/** Arms: the next synchronous exception with EC 0x24/0x25/0x00 is recorded and the faulting
 * (4-byte) instruction skipped; an SError is recorded. */
void trap_arm(void);
/** Disarms and returns what was recorded. */
struct trap_record trap_disarm(void);

void exception_dispatch(struct frame *f, uint64_t kind);

#endif
