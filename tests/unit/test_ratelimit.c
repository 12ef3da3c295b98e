/* Time-based log rate limiter (include/keel/ratelimit.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_suppressed),
	    cmocka_unit_test(test_window_is_time),
	    cmocka_unit_test(test_time_going_backwards),
	    cmocka_unit_test(test_limiters_are_independent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
