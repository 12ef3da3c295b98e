/*
 * Deferred device work (core/vm_defer.c): a vCPU is idle from its trapped WFI to its next device
 * access; a guest that never trapped on WFI counts as idle (it polls); deferred work runs when a
 * vCPU idles or at the first check past the earliest deadline asked for, once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/timer.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "tests/fakes/vm_env.h"

#define US 1000ULL /* fake_timer_ns per microsecond */

static struct vm vm;

static int setup(void **state)
{
	(void)state;
	memset(&vm, 0, sizeof(vm));
	fake_vm_env_reset();
	vm.nr_vcpus = 2;
	for (unsigned i = 0; i < 2; i++) {
		vm.vcpus[i].vm = &vm;
		vm.vcpus[i].index = i;
		vm.vcpus[i].state = VCPU_RUNNABLE;
	}
	vm.stop_request = ACTION_RESUME;
	fake_timer_manual = true;
	fake_timer_ns = 1000000000;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fake_timer_manual = false;
	return 0;
}

static bool take_work(void)
{
	bool w = vm.work_pending;
	vm.work_pending = false;
	return w;
}

static void test_idle_from_wfi_to_device_access(void **state)
{
	(void)state;
	assert_true(vm_guest_idle(&vm)); /* no WFI trapped yet: it may poll, counts as idle */
	vm_vcpu_busy(&vm.vcpus[0]);
	vm_vcpu_busy(&vm.vcpus[1]);
	assert_true(vm_guest_idle(&vm));
	assert_false(vm_vcpu_idles(&vm.vcpus[1])); /* nothing deferred: it may sleep */
	assert_true(vm_guest_idle(&vm));
	vm_vcpu_busy(&vm.vcpus[1]);
	assert_false(vm_guest_idle(&vm)); /* both busy, and the guest is known to WFI when idle */
	assert_true(vm_vcpu_idles(&vm.vcpus[0]) == false);
	assert_true(vm_guest_idle(&vm)); /* one of two idle is enough */
	vm_vcpu_busy(&vm.vcpus[0]);
	assert_false(vm_guest_idle(&vm));
}

static void test_deferred_work_at_idle_or_earliest_deadline(void **state)
{
	(void)state;
	vm_vcpu_idles(&vm.vcpus[0]);
	vm_vcpu_busy(&vm.vcpus[0]);
	take_work();

	vm_defer_work(&vm, 1000);
	vm_defer_work(&vm, 500); /* the earliest holds */
	vm_defer_work(&vm, 2000);
	fake_timer_ns += 499 * US;
	vm_defer_check(&vm, 0);
	assert_false(take_work());
	fake_timer_ns += 1 * US;
	vm_defer_check(&vm, 1);
	assert_true(take_work());
	assert_int_equal(fake_vm_env.kicks[1], 1);
	vm_defer_check(&vm, 1); /* once */
	assert_false(take_work());

	/* A vCPU that idles takes the deferred work at once (and then does not sleep). */
	vm_defer_work(&vm, 1000);
	assert_true(vm_vcpu_idles(&vm.vcpus[1]));
	assert_true(take_work());
	fake_timer_ns += 5000 * US;
	vm_defer_check(&vm, 0); /* already taken */
	assert_false(take_work());
	assert_false(vm_vcpu_idles(&vm.vcpus[1]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_idle_from_wfi_to_device_access, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred_work_at_idle_or_earliest_deadline, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
