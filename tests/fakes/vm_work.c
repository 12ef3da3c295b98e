/* Host-test implementation of vm_request_work: record calls per VM (see fake_vm_work.h). */
#include "tests/fakes/fake_vm_work.h"

#include "arch/timer.h"

#define FAKE_VM_WORK_MAX 16

static struct {
	const struct vm *vm;
	unsigned calls;
	unsigned last_hint;
	bool pending;
} records[FAKE_VM_WORK_MAX];
static unsigned nrecords;

static bool guest_busy;
static bool last_idle_set;
static uint64_t last_idle_us;
static unsigned defers;
static uint32_t last_defer_us;

void fake_vm_work_reset(void)
{
	nrecords = 0;
	guest_busy = false;
	last_idle_set = false;
	defers = 0;
	last_defer_us = 0;
}

void fake_vm_set_busy(bool busy)
{
	guest_busy = busy;
}

void fake_vm_set_last_idle_us(uint64_t us)
{
	last_idle_set = true;
	last_idle_us = us;
}

uint64_t vm_last_idle_us(const struct vm *vm)
{
	(void)vm;
	return last_idle_set ? last_idle_us : timer_us();
}

unsigned fake_vm_defers(uint32_t *last_us)
{
	if (last_us)
		*last_us = last_defer_us;
	return defers;
}

bool vm_guest_idle(const struct vm *vm)
{
	(void)vm;
	return !guest_busy;
}

void vm_defer_work(struct vm *vm, uint32_t us)
{
	(void)vm;
	defers++;
	last_defer_us = us;
}

static int find(const struct vm *vm, bool add)
{
	for (unsigned i = 0; i < nrecords; i++)
		if (records[i].vm == vm)
			return (int)i;
	if (!add || nrecords >= FAKE_VM_WORK_MAX)
		return -1;
	records[nrecords].vm = vm;
	records[nrecords].calls = 0;
	records[nrecords].last_hint = 0;
	records[nrecords].pending = false;
	return (int)nrecords++;
}

void vm_request_work(struct vm *vm, unsigned vcpu_hint)
{
	int i = find(vm, true);
	if (i < 0)
		return;
	records[i].calls++;
	records[i].last_hint = vcpu_hint;
	records[i].pending = true;
}

unsigned fake_vm_work_calls(const struct vm *vm)
{
	int i = find(vm, false);
	return i < 0 ? 0 : records[i].calls;
}

unsigned fake_vm_work_last_hint(const struct vm *vm)
{
	int i = find(vm, false);
	return i < 0 ? 0 : records[i].last_hint;
}

bool fake_vm_work_take(const struct vm *vm)
{
	int i = find(vm, false);
	if (i < 0 || !records[i].pending)
		return false;
	records[i].pending = false;
	return true;
}

bool fake_vm_work_pending(const struct vm *vm)
{
	int i = find(vm, false);
	return i >= 0 && records[i].pending;
}
