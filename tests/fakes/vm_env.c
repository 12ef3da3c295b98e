/* Host-test environment of core/vm_lifecycle.c (see vm_env.h). */
#include "tests/fakes/vm_env.h"

#include <string.h>
#include <time.h>

#include "core/console.h"
#include "core/vcpu.h"
#include "core/vgic.h"

struct fake_vm_env fake_vm_env;

void fake_vm_env_reset(void)
{
	memset(&fake_vm_env, 0, sizeof(fake_vm_env));
}

void fake_vm_record(enum fake_vm_event ev, unsigned arg, unsigned arg2)
{
	/* A long wait repeats one event: keep it once, so the records stay in order and bounded. */
	if (fake_vm_env.nrec > 0) {
		const struct fake_vm_record *last = &fake_vm_env.rec[fake_vm_env.nrec - 1];
		if (last->ev == ev && last->arg == arg && last->arg2 == arg2)
			return;
	}
	if (fake_vm_env.nrec >= FAKE_VM_MAX_RECORDS) {
		fake_vm_env.dropped++;
		return;
	}
	fake_vm_env.rec[fake_vm_env.nrec++] = (struct fake_vm_record){ev, arg, arg2};
}

int fake_vm_find(enum fake_vm_event ev, unsigned arg)
{
	for (unsigned i = 0; i < fake_vm_env.nrec; i++)
		if (fake_vm_env.rec[i].ev == ev && (arg == ~0u || fake_vm_env.rec[i].arg == arg))
			return (int)i;
	return -1;
}

int fake_vm_find_last(enum fake_vm_event ev, unsigned arg)
{
	for (unsigned i = fake_vm_env.nrec; i-- > 0;)
		if (fake_vm_env.rec[i].ev == ev && (arg == ~0u || fake_vm_env.rec[i].arg == arg))
			return (int)i;
	return -1;
}

unsigned fake_vm_count(enum fake_vm_event ev)
{
	unsigned n = 0;
	for (unsigned i = 0; i < fake_vm_env.nrec; i++)
		n += fake_vm_env.rec[i].ev == ev;
	return n;
}

void fake_vm_all_off(void)
{
	fake_vm_record(FAKE_EV_ALL_OFF, 0, 0);
}

void vcpu_kick(struct vcpu *vcpu)
{
	fake_vm_env.kicks[vcpu->index % VM_MAX_VCPUS]++;
}

void vcpu_kick_self(void)
{
	fake_vm_env.kick_self++;
}

void cpu_handle_irqs(struct vcpu *vcpu)
{
	(void)vcpu;
	fake_vm_env.irq_calls++;
	if (fake_vm_env.on_irqs)
		fake_vm_env.on_irqs(fake_vm_env.on_irqs_ctx);
	/* keel would wait for an interrupt here; do not spin the host's CPU through timed waits */
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL);
}

void vgic_vm_init(struct vm *vm, unsigned nr_spis)
{
	(void)vm;
	(void)nr_spis;
	fake_vm_record(FAKE_EV_VGIC_INIT, 0, 0);
}

int vm_load(struct vm *vm)
{
	fake_vm_record(FAKE_EV_LOAD, 0, 0);
	if (fake_vm_env.load_hook)
		fake_vm_env.load_hook();
	if (fake_vm_env.load_rc == 0)
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			vm->vcpus[i].state = i == 0 ? VCPU_RUNNABLE : VCPU_OFF;
	return fake_vm_env.load_rc;
}

void vm_report(const struct vm *vm)
{
	(void)vm;
	fake_vm_record(FAKE_EV_REPORT, 0, 0);
}

void console_vm_flush(struct con_stream *l, const char *vm_name)
{
	(void)l;
	(void)vm_name;
	fake_vm_record(FAKE_EV_FLUSH, 0, 0);
}
