/* Time-based log rate limiter (include/keel/ratelimit.h) and its per-VM, per-cause use (core/vm_log.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/vm_log.h"
#include "keel/ratelimit.h"

#define T0 5000000ull

static void test_burst_then_suppressed(void **state)
{
	(void)state;
	struct ratelimit rl = {0};
	uint32_t missed = 99;
	for (unsigned i = 0; i < RATELIMIT_BURST; i++) {
		assert_true(ratelimit_allow(&rl, T0 + i, &missed));
		assert_int_equal(missed, 0);
	}
	for (unsigned i = 0; i < 1000; i++)
		assert_false(ratelimit_allow(&rl, T0 + 10 + i, &missed));
	assert_int_equal(rl.suppressed, 1000);
	assert_int_equal(rl.total_suppressed, 1000);
}

static void test_window_is_time(void **state)
{
	(void)state;
	struct ratelimit rl = {0};
	uint32_t missed = 0;
	for (unsigned i = 0; i < RATELIMIT_BURST; i++)
		assert_true(ratelimit_allow(&rl, T0, NULL));
	/* Many events do not open a new window, only time does. */
	for (unsigned i = 0; i < 7; i++)
		assert_false(ratelimit_allow(&rl, T0 + RATELIMIT_WINDOW_US - 1, &missed));
	assert_true(ratelimit_allow(&rl, T0 + RATELIMIT_WINDOW_US, &missed));
	assert_int_equal(missed, 7); /* "(7 similar lines suppressed)" */
	assert_true(ratelimit_allow(&rl, T0 + RATELIMIT_WINDOW_US + 1, &missed));
	assert_int_equal(missed, 0); /* the count restarts after being reported */
	assert_int_equal(rl.total_suppressed, 7);
	/* A steady one line per second is never limited. */
	struct ratelimit slow = {0};
	for (unsigned i = 0; i < 100; i++)
		assert_true(ratelimit_allow(&slow, T0 + (uint64_t)i * RATELIMIT_WINDOW_US / 2, NULL));
	assert_int_equal(slow.total_suppressed, 0);
}

static void test_time_going_backwards(void **state)
{
	(void)state;
	struct ratelimit rl = {0};
	uint32_t missed = 0;
	for (unsigned i = 0; i < RATELIMIT_BURST; i++)
		assert_true(ratelimit_allow(&rl, T0, NULL));
	assert_false(ratelimit_allow(&rl, T0, NULL));
	/* A clock that steps back (another CPU's counter, a reset) restarts the window, never stalls it. */
	assert_true(ratelimit_allow(&rl, T0 - 1000, &missed));
	assert_int_equal(missed, 1);
	assert_int_equal(rl.window_start_us, T0 - 1000);
	for (unsigned i = 1; i < RATELIMIT_BURST; i++)
		assert_true(ratelimit_allow(&rl, T0 - 999, NULL));
	assert_false(ratelimit_allow(&rl, T0 - 998, NULL));
}

static void test_limiters_are_independent(void **state)
{
	(void)state;
	struct ratelimit cause[2] = {{0}, {0}};
	for (unsigned i = 0; i < 50; i++)
		ratelimit_allow(&cause[0], T0, NULL);
	assert_true(ratelimit_allow(&cause[1], T0, NULL));
	assert_int_equal(cause[0].total_suppressed, 50 - RATELIMIT_BURST);
	assert_int_equal(cause[1].total_suppressed, 0);
}

/* What the log fake (tests/fakes/log.c) prints to stderr while fn runs. */
static char captured[1 << 16];
static void capture_log(void (*fn)(void))
{
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
}

static unsigned count(const char *needle)
{
	unsigned n = 0;
	for (const char *p = captured; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static struct vm vm_a, vm_b;

static void trap_storm(void)
{
	/* A guest trapping in a loop: far more events than a second's burst, on two causes and two VMs. */
	for (unsigned i = 0; i < 1000; i++) {
		vm_warn_limited(&vm_a, VM_LOG_SYSREG, "trapped system register access %u", i);
		if (i < 3)
			vm_warn_limited(&vm_a, VM_LOG_STAGE2, "load at IPA 0x%x outside", i);
		vm_warn_limited(&vm_b, VM_LOG_SYSREG, "trapped system register access %u", i);
	}
}

static void after_a_second(void)
{
	vm_a.log_rl[VM_LOG_SYSREG].window_start_us -= RATELIMIT_WINDOW_US;
	vm_warn_limited(&vm_a, VM_LOG_SYSREG, "trapped system register access %u", 1000u);
}

static void test_vm_lines_limited_per_vm_and_cause(void **state)
{
	(void)state;
	memset(&vm_a, 0, sizeof(vm_a));
	memset(&vm_b, 0, sizeof(vm_b));
	strcpy(vm_a.name, "a");
	strcpy(vm_b.name, "b");
	capture_log(trap_storm);
	assert_int_equal(count("VM a: trapped system register access"), RATELIMIT_BURST);
	assert_int_equal(count("VM a: load at IPA"), 3); /* another cause is not held back */
	assert_int_equal(count("VM b: trapped system register access"), RATELIMIT_BURST); /* nor another VM */
	assert_int_equal(count("suppressed"), 0);
	capture_log(after_a_second);
	assert_non_null(strstr(captured, "VM a: trapped system register access 1000 (995 similar lines "
					 "suppressed)"));
	assert_int_equal(vm_a.log_rl[VM_LOG_SYSREG].total_suppressed, 1000 - RATELIMIT_BURST);
}

/* A device's log site: the "(N suppressed)" note is one of the window's lines, never one more. */
static struct ratelimit dev_rl;
static void device_storm(void)
{
	uint64_t t = 1000000;
	for (unsigned i = 0; i < 100; i++) /* window 1: 5 lines, 95 suppressed */
		if (ratelimit_log_allowed(&dev_rl, t, "vm1/vda"))
			log_warn("vm1/vda: line %u", i);
	t += RATELIMIT_WINDOW_US;
	for (unsigned i = 100; i < 200; i++) /* window 2: the note and 4 lines */
		if (ratelimit_log_allowed(&dev_rl, t, "vm1/vda"))
			log_warn("vm1/vda: line %u", i);
}

static void test_device_note_counts_in_the_burst(void **state)
{
	(void)state;
	capture_log(device_storm);
	assert_int_equal(count("vm1/vda: line "), 2 * RATELIMIT_BURST - 1);
	assert_int_equal(count("vm1/vda: (95 similar lines suppressed)"), 1);
	assert_int_equal(count("vm1/vda:"), 2 * RATELIMIT_BURST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_suppressed),
	    cmocka_unit_test(test_window_is_time),
	    cmocka_unit_test(test_time_going_backwards),
	    cmocka_unit_test(test_limiters_are_independent),
	    cmocka_unit_test(test_vm_lines_limited_per_vm_and_cause),
	    cmocka_unit_test(test_device_note_counts_in_the_burst),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
