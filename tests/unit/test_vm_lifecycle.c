/*
 * VM lifecycle (core/vm_lifecycle.c): a reset stops the vCPUs, waits by time until every device
 * has quiesced, and only then resets the vGIC and devices and reloads RAM; a device that never
 * quiesces, or a vCPU that never stops, leaves the VM stopped (counted as off) after a bounded
 * wait, without panic. Device work: never lost, never reentrant, never on a stopping VM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "arch/timer.h"
#include "core/vcpu.h"
#include "core/vm_lifecycle.h"
#include "tests/fakes/vm_env.h"

#define RAM_LEN	 256
#define KERNEL_B 0x4b /* what the fake loader writes */
#define DMA_B	 0xdd /* what a device with requests in flight writes */
#define NEVER	 (-1)

struct tdev {
	unsigned id;
	int quiesce_after;	/**< quiesce returns true from this call on (1 = at once); NEVER */
	unsigned quiesce_calls; /**< calls so far */
	bool live;		/**< DMA in flight: writes RAM whenever time passes */
	unsigned work_calls, work_depth, work_max_depth;
	bool work_more;	      /**< work returns true */
	struct vcpu *reenter; /**< work: another vCPU asks for and tries work meanwhile */
};

static struct vm vms[2];
static struct tdev devs[4];
static uint8_t ram[RAM_LEN];

static void dma(struct tdev *d)
{
	if (d->live)
		memset(ram, DMA_B, 16);
}

static bool t_quiesce(void *p)
{
	struct tdev *d = p;
	d->quiesce_calls++;
	dma(d);
	bool ok = d->quiesce_after != NEVER && d->quiesce_calls >= (unsigned)d->quiesce_after;
	if (ok)
		d->live = false;
	fake_vm_record(FAKE_EV_DEV_QUIESCE, d->id, ok);
	return ok;
}

static void t_reset(void *p)
{
	struct tdev *d = p;
	fake_vm_record(FAKE_EV_DEV_RESET, d->id, 0);
}

static bool t_work(void *p)
{
	struct tdev *d = p;
	d->work_calls++;
	d->work_depth++;
	if (d->work_depth > d->work_max_depth)
		d->work_max_depth = d->work_depth;
	if (d->reenter) {
		struct vcpu *other = d->reenter;
		d->reenter = NULL;
		vm_request_work(other->vm, other->index); /* a completion on another CPU */
		vm_run_work(other);			  /* that vCPU reaches its next entry */
	}
	d->work_depth--;
	return d->work_more;
}

static const struct vm_dev_ops quiescing_ops = {.quiesce = t_quiesce, .reset = t_reset, .work = t_work};
static const struct vm_dev_ops plain_ops = {.reset = t_reset}; /* no quiesce hook: nothing in flight */

/* Time passing while keel waits: devices still live keep writing RAM. */
static void time_passes(void *ctx)
{
	(void)ctx;
	for (unsigned i = 0; i < 4; i++)
		dma(&devs[i]);
}

static void vm_setup(struct vm *vm, unsigned nr_vcpus)
{
	memset(vm, 0, sizeof(*vm));
	strcpy(vm->name, vm == &vms[0] ? "a" : "b");
	vm->nr_vcpus = nr_vcpus;
	for (unsigned i = 0; i < nr_vcpus; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].index = i;
		vm->vcpus[i].pcpu = i;
		vm->vcpus[i].state = i == 0 ? VCPU_RUNNABLE : VCPU_OFF;
	}
}

static void add_dev(struct vm *vm, unsigned id, const struct vm_dev_ops *ops, int quiesce_after)
{
	devs[id] = (struct tdev){.id = id, .quiesce_after = quiesce_after, .live = true};
	vm->dev_hooks[vm->nr_dev_hooks++] = (struct vm_dev_hook){ops, &devs[id], "test,dev", 0x0a000000 + id};
}

static int setup(void **state)
{
	(void)state;
	fake_vm_env_reset();
	fake_vm_env.on_irqs = time_passes;
	memset(devs, 0, sizeof(devs));
	memset(ram, 0, sizeof(ram));
	vm_setup(&vms[0], 2);
	vm_setup(&vms[1], 1);
	vm_lifecycle_init(2, fake_vm_all_off);
	return 0;
}

/* The fake loader's "RAM reload", watched for corruption by late DMA. */
static void load_ram(void)
{
	memset(ram, KERNEL_B, sizeof(ram));
}

static bool ram_is_kernel(void)
{
	for (unsigned i = 0; i < RAM_LEN; i++)
		if (ram[i] != KERNEL_B)
			return false;
	return true;
}

/* The events' order: index of a record, or -1. */
static int last_quiesce_ok(unsigned dev)
{
	int i = fake_vm_find_last(FAKE_EV_DEV_QUIESCE, dev);
	return i >= 0 && fake_vm_env.rec[i].arg2 ? i : -1;
}

static void test_reset_waits_for_every_quiesce(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	add_dev(vm, 0, &quiescing_ops, 4); /* aborts take a while */
	add_dev(vm, 1, &plain_ops, 0);
	add_dev(vm, 2, &quiescing_ops, 1);
	devs[1].live = false;
	vm->work_pending = true; /* asked for before the reset */
	fake_vm_env.load_hook = load_ram;

	assert_true(vm_stop(vm, &vm->vcpus[0], ACTION_VM_RESET));
	assert_int_equal(vm->stop_request, ACTION_VM_RESET);
	assert_int_equal(fake_vm_env.kicks[1], 1); /* the other vCPU was told to leave */
	assert_int_equal(fake_vm_env.kicks[0], 0);
	assert_true(vm_restart(vm));

	assert_int_equal(devs[0].quiesce_calls, 4);
	assert_int_equal(devs[2].quiesce_calls, 1); /* not asked again once quiesced */
	int q0 = last_quiesce_ok(0), q2 = last_quiesce_ok(2);
	assert_true(q0 >= 0 && q2 >= 0);
	int vgic = fake_vm_find(FAKE_EV_VGIC_INIT, ~0u), load = fake_vm_find(FAKE_EV_LOAD, ~0u);
	int first_reset = fake_vm_find(FAKE_EV_DEV_RESET, ~0u);
	assert_true(vgic > q0 && vgic > q2);
	assert_true(first_reset > vgic);
	assert_true(load > fake_vm_find_last(FAKE_EV_DEV_RESET, ~0u));
	assert_int_equal(fake_vm_count(FAKE_EV_DEV_RESET), 3);
	assert_int_equal(fake_vm_count(FAKE_EV_VGIC_INIT), 1);
	assert_int_equal(fake_vm_count(FAKE_EV_LOAD), 1);
	assert_true(ram_is_kernel()); /* no DMA after the reload */

	assert_int_equal(vm->stop_request, ACTION_RESUME);
	assert_int_equal(vm->run_state, VM_RUNNING);
	assert_int_equal(vm->vcpus[0].state, VCPU_RUNNABLE);
	assert_false(vm->work_pending); /* stale work dropped with the old device state */
	assert_int_equal(vm->resets, 1);
	assert_int_equal(vm_running_count(), 2);
	assert_int_equal(fake_vm_count(FAKE_EV_ALL_OFF), 0);
}

static void test_device_that_never_quiesces_leaves_vm_stopped(void **state)
{
	(void)state;
	struct vm *a = &vms[0], *b = &vms[1];
	add_dev(a, 0, &quiescing_ops, NEVER);
	add_dev(a, 1, &quiescing_ops, 1);
	fake_vm_env.load_hook = load_ram;

	assert_true(vm_stop(a, &a->vcpus[0], ACTION_VM_RESET));
	uint64_t t0 = timer_us();
	assert_false(vm_restart(a));
	uint64_t waited = timer_us() - t0;
	assert_true(waited >= VM_QUIESCE_TIMEOUT_US);
	assert_true(waited < VM_QUIESCE_TIMEOUT_US + 2000000u);
	assert_true(devs[0].quiesce_calls > 10); /* asked repeatedly */
	assert_true(fake_vm_env.irq_calls > 10); /* interrupts handled while waiting */

	assert_int_equal(fake_vm_count(FAKE_EV_DEV_RESET), 0);
	assert_int_equal(fake_vm_count(FAKE_EV_VGIC_INIT), 0);
	assert_int_equal(fake_vm_count(FAKE_EV_LOAD), 0);
	assert_false(ram_is_kernel());
	assert_int_equal(a->run_state, VM_STUCK);
	assert_int_equal(a->vcpus[0].state, VCPU_STOPPED);
	assert_int_equal(a->vcpus[1].state, VCPU_STOPPED);
	assert_int_not_equal(a->stop_request, ACTION_RESUME); /* a late vCPU still parks */
	assert_false(vm_stop(a, &a->vcpus[1], ACTION_VM_OFF));

	/* It counts as off: the other VM runs on, and when it goes off the machine does. */
	assert_int_equal(vm_running_count(), 1);
	assert_int_equal(fake_vm_count(FAKE_EV_ALL_OFF), 0);
	assert_true(vm_stop(b, &b->vcpus[0], ACTION_VM_OFF));
	vm_power_off(b);
	assert_int_equal(b->run_state, VM_OFF);
	assert_int_equal(vm_running_count(), 0);
	assert_int_equal(fake_vm_count(FAKE_EV_ALL_OFF), 1);
}

static unsigned leave_after;
static void vcpu1_leaves_later(void *ctx)
{
	(void)ctx;
	if (--leave_after == 0)
		vms[0].vcpus[1].running = false;
}

static void test_stop_waits_for_other_vcpus(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	vm->vcpus[1].state = VCPU_RUNNABLE;
	vm->vcpus[1].running = true;
	vm->vcpus[0].running = true; /* the caller itself */
	leave_after = 5;
	fake_vm_env.on_irqs = vcpu1_leaves_later;
	assert_true(vm_stop(vm, &vm->vcpus[0], ACTION_VM_OFF));
	assert_int_equal(fake_vm_env.irq_calls, 5);
	assert_false(vm->vcpus[1].running);
	assert_int_equal(vm->run_state, VM_RUNNING); /* stopped, not yet off: the caller decides */
	/* A second caller (the other vCPU asking for a reset meanwhile) does not stop it again. */
	assert_false(vm_stop(vm, &vm->vcpus[1], ACTION_VM_RESET));
	assert_int_equal(vm->stop_request, ACTION_VM_OFF);
	assert_int_equal(vm->stop_races, 1);
	vm_power_off(vm);
	assert_int_equal(vm->run_state, VM_OFF);
	assert_true(fake_vm_find(FAKE_EV_FLUSH, ~0u) >= 0);
	assert_int_equal(vm_running_count(), 1);
}

static void test_stuck_vcpu_ends_by_time_without_panic(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	vm_lifecycle_init(1, fake_vm_all_off);
	vm->vcpus[1].state = VCPU_RUNNABLE;
	vm->vcpus[1].running = true; /* never leaves */
	uint64_t t0 = timer_us();
	assert_false(vm_stop(vm, &vm->vcpus[0], ACTION_VM_RESET));
	uint64_t waited = timer_us() - t0;
	assert_true(waited >= VM_STOP_TIMEOUT_US && waited < VM_STOP_TIMEOUT_US + 2000000u);
	assert_true(fake_vm_env.kicks[1] >= 2); /* kicked again while waiting */
	assert_int_equal(vm->run_state, VM_STUCK);
	assert_int_equal(vm->vcpus[0].state, VCPU_STOPPED);
	assert_int_equal(vm->vcpus[1].state, VCPU_STOPPED);
	assert_int_equal(fake_vm_count(FAKE_EV_LOAD), 0);
	assert_int_equal(fake_vm_count(FAKE_EV_ALL_OFF), 1);
}

static void test_failed_load_leaves_vm_off(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	add_dev(vm, 0, &quiescing_ops, 1);
	fake_vm_env.load_rc = -EINVAL;
	assert_true(vm_stop(vm, &vm->vcpus[0], ACTION_VM_RESET));
	assert_false(vm_restart(vm));
	assert_int_equal(vm->run_state, VM_OFF);
	assert_int_equal(vm->vcpus[0].state, VCPU_STOPPED);
	assert_int_equal(vm_running_count(), 1);
	/* Started again later (a console): it runs and counts as on again. */
	fake_vm_env.load_rc = 0;
	assert_true(vm_restart(vm));
	assert_int_equal(vm->run_state, VM_RUNNING);
	assert_int_equal(vm_running_count(), 2);
}

static void test_request_work_kicks_a_runnable_vcpu(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	vm->vcpus[0].state = VCPU_OFF;
	vm->vcpus[1].state = VCPU_RUNNABLE;
	vm_request_work(vm, 0);
	assert_true(vm->work_pending);
	assert_int_equal(fake_vm_env.kicks[0], 0);
	assert_int_equal(fake_vm_env.kicks[1], 1);
	vm_request_work(vm, 7); /* out of range hint */
	assert_int_equal(fake_vm_env.kicks[1], 2);

	/* None runnable: nobody kicked, the flag waits. */
	vm->vcpus[1].state = VCPU_OFF;
	vm_request_work(vm, 1);
	assert_int_equal(fake_vm_env.kicks[0] + fake_vm_env.kicks[1], 2);
	assert_true(vm->work_pending);
}

static void test_vcpu_off_hands_work_over(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	vm->vcpus[1].state = VCPU_RUNNABLE;
	vm->work_pending = true; /* the request chose vCPU 0, which now turns off */
	vm_vcpu_off(&vm->vcpus[0]);
	assert_int_equal(vm->vcpus[0].state, VCPU_OFF);
	assert_int_equal(fake_vm_env.kicks[1], 1);
	/* Nothing pending: no kick. */
	vm->work_pending = false;
	vm_vcpu_off(&vm->vcpus[1]);
	assert_int_equal(fake_vm_env.kicks[0] + fake_vm_env.kicks[1], 1);
}

static void test_no_work_while_the_vm_stops(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	add_dev(vm, 0, &quiescing_ops, 1);
	vm->work_pending = true;
	vm->stop_request = ACTION_VM_RESET;
	vm_run_work(&vm->vcpus[0]);
	assert_int_equal(devs[0].work_calls, 0);
	assert_true(vm->work_pending);
	assert_int_equal(fake_vm_env.kick_self, 0);
	vm->stop_request = ACTION_RESUME;
	vm_run_work(&vm->vcpus[0]);
	assert_int_equal(devs[0].work_calls, 1);
	assert_false(vm->work_pending);
	assert_int_equal(fake_vm_env.kick_self, 0);
}

static void test_work_one_vcpu_at_a_time_and_not_lost(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	vm->vcpus[1].state = VCPU_RUNNABLE;
	add_dev(vm, 0, &quiescing_ops, 1);
	devs[0].reenter = &vm->vcpus[1];
	vm->work_pending = true;
	vm_run_work(&vm->vcpus[0]);
	/* vCPU 1 found the hooks busy and left the new request: it is not run reentrantly ... */
	assert_int_equal(devs[0].work_calls, 1);
	assert_int_equal(devs[0].work_max_depth, 1);
	/* ... and not lost: vCPU 0 saw it on release and comes back after one guest entry. */
	assert_true(vm->work_pending);
	assert_int_equal(fake_vm_env.kick_self, 1);
	assert_false(vm->work_busy);
	vm_run_work(&vm->vcpus[0]);
	assert_int_equal(devs[0].work_calls, 2);
	assert_false(vm->work_pending);
}

static void test_work_with_more_to_do_comes_back(void **state)
{
	(void)state;
	struct vm *vm = &vms[0];
	add_dev(vm, 0, &quiescing_ops, 1);
	add_dev(vm, 1, &plain_ops, 0); /* no work hook */
	devs[0].work_more = true;
	vm->work_pending = true;
	vm_run_work(&vm->vcpus[0]);
	assert_int_equal(devs[0].work_calls, 1);
	assert_true(vm->work_pending);
	assert_int_equal(fake_vm_env.kick_self, 1);
	/* Nothing pending: nothing runs. */
	devs[0].work_more = false;
	vm_run_work(&vm->vcpus[0]);
	vm_run_work(&vm->vcpus[0]);
	assert_int_equal(devs[0].work_calls, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_reset_waits_for_every_quiesce, setup),
	    cmocka_unit_test_setup(test_device_that_never_quiesces_leaves_vm_stopped, setup),
	    cmocka_unit_test_setup(test_stop_waits_for_other_vcpus, setup),
	    cmocka_unit_test_setup(test_stuck_vcpu_ends_by_time_without_panic, setup),
	    cmocka_unit_test_setup(test_failed_load_leaves_vm_off, setup),
	    cmocka_unit_test_setup(test_request_work_kicks_a_runnable_vcpu, setup),
	    cmocka_unit_test_setup(test_vcpu_off_hands_work_over, setup),
	    cmocka_unit_test_setup(test_no_work_while_the_vm_stops, setup),
	    cmocka_unit_test_setup(test_work_one_vcpu_at_a_time_and_not_lost, setup),
	    cmocka_unit_test_setup(test_work_with_more_to_do_comes_back, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
