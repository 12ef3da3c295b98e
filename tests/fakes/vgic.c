/* Host-test implementation of vgic_inject: record (vm, intid) pairs. */
#include <errno.h>

#include "tests/fakes/fake_vgic.h"

#define FAKE_VGIC_MAX 64

static struct {
	const struct vm *vm;
	uint32_t intid;
	unsigned count;
} records[FAKE_VGIC_MAX];
static unsigned nrecords;
static unsigned total;

void fake_vgic_reset(void)
{
	nrecords = 0;
	total = 0;
}

int vgic_inject(struct vm *vm, uint32_t intid)
{
	/* SGIs are not injectable this way; SPIs end at 1019. */
	if (intid < 16 || intid > 1019)
		return -EINVAL;
	total++;
	for (unsigned i = 0; i < nrecords; i++) {
		if (records[i].vm == vm && records[i].intid == intid) {
			records[i].count++;
			return 0;
		}
	}
	if (nrecords < FAKE_VGIC_MAX)
		records[nrecords++] = (typeof(records[0])){vm, intid, 1};
	return 0;
}

unsigned fake_vgic_count(const struct vm *vm, uint32_t intid)
{
	for (unsigned i = 0; i < nrecords; i++)
		if (records[i].vm == vm && records[i].intid == intid)
			return records[i].count;
	return 0;
}

unsigned fake_vgic_total(void)
{
	return total;
}
