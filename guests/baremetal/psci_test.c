/* test=psci: PSCI_VERSION, PSCI_FEATURES and SMCCC error behaviour, then SYSTEM_OFF.
 * SYSTEM_RESET is deliberately not called yet. */
#include <stdint.h>

#include "exceptions.h"
#include "psci.h"
#include "tests.h"
#include "uart.h"

static const struct {
	uint32_t fn;
	const char *name;
	int required; /* must be reported as supported */
} features[] = {
    {PSCI_VERSION, "PSCI_VERSION", 1},
    {PSCI_CPU_ON_64, "CPU_ON_64", 0},
    {PSCI_CPU_OFF, "CPU_OFF", 0},
    {PSCI_AFFINITY_INFO_64, "AFFINITY_INFO_64", 0},
    {PSCI_CPU_SUSPEND_64, "CPU_SUSPEND_64", 0},
    {PSCI_MIGRATE_INFO_TYPE, "MIGRATE_INFO_TYPE", 0},
    {PSCI_SYSTEM_OFF, "SYSTEM_OFF", 1},
    {PSCI_SYSTEM_RESET, "SYSTEM_RESET", 1},
    {PSCI_FEATURES, "PSCI_FEATURES", 1},
};

void test_psci(void)
{
	uint32_t ver = (uint32_t)psci_call(PSCI_VERSION, 0, 0, 0);

	gprintf("GUEST: psci version=0x%x (%u.%u)\n", ver, ver >> 16, ver & 0xffff);
	if (ver >> 16 == 0 && (ver & 0xffff) < 2) {
		gprintf("GUEST: FAIL psci version < 0.2\n");
		test_fail();
		return;
	}
	if (ver >> 16 < 1) {
		gprintf("GUEST: psci < 1.0: no PSCI_FEATURES\n");
		return;
	}
	for (unsigned i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		int32_t ret = (int32_t)psci_call(PSCI_FEATURES, features[i].fn, 0, 0);

		gprintf("GUEST: psci features %s (0x%x) = %d\n", features[i].name, features[i].fn, ret);
		if (features[i].required && ret < 0) {
			gprintf("GUEST: FAIL psci %s not supported\n", features[i].name);
			test_fail();
		}
	}
	/* An unknown function ID in the PSCI range must give NOT_SUPPORTED (-1), not a crash. */
	int32_t ret = (int32_t)psci_call(PSCI_FEATURES, 0x8400001fu, 0, 0);

	gprintf("GUEST: psci features unknown (0x8400001f) = %d\n", ret);
	if (ret != PSCI_RET_NOT_SUPPORTED) {
		gprintf("GUEST: FAIL psci features of an unknown function = %d, want -1\n", ret);
		test_fail();
	}
	/* A direct call of an unknown function ID must return NOT_SUPPORTED (SMCCC). */
	trap_arm();
	ret = (int32_t)psci_call(0x8400001fu, 0, 0, 0);
	struct trap_record r = trap_disarm();

	if (r.taken) {
		gprintf("GUEST: FAIL psci unknown function 0x8400001f raised an exception esr=0x%lx\n",
			r.esr);
		test_fail();
	} else {
		gprintf("GUEST: psci call unknown (0x8400001f) = %d\n", ret);
		if (ret != PSCI_RET_NOT_SUPPORTED) {
			gprintf("GUEST: FAIL psci unknown function returned %d, want -1\n", ret);
			test_fail();
		}
	}
}
