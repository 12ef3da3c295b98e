/* PSCI (arm DEN 0022) calls through the SMC Calling Convention. */
#ifndef GUEST_PSCI_H
#define GUEST_PSCI_H

#include <stdint.h>

#define PSCI_VERSION	       0x84000000u
#define PSCI_CPU_SUSPEND_64    0xc4000001u
#define PSCI_CPU_OFF	       0x84000002u
#define PSCI_CPU_ON_64	       0xc4000003u
#define PSCI_AFFINITY_INFO_64  0xc4000004u
#define PSCI_MIGRATE_INFO_TYPE 0x84000006u
#define PSCI_SYSTEM_OFF	       0x84000008u
#define PSCI_SYSTEM_RESET      0x84000009u
#define PSCI_FEATURES	       0x8400000au
#define PSCI_RET_SUCCESS       0
#define PSCI_RET_NOT_SUPPORTED (-1)

/** Conduit: 1 = hvc (the default, and what keel provides), 0 = smc (from DT /psci method). */
void psci_set_conduit_hvc(int hvc);
int psci_conduit_is_hvc(void);
uint64_t psci_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
/** SYSTEM_OFF; prints "GUEST: FAIL system_off returned" and halts if it comes back. */
__attribute__((noreturn)) void psci_system_off(void);

#endif
