/* List-register codecs: the neutral struct gic_lr against the GICv3 and GICv2 layouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arch/gic_lr.h"

static void test_v3_layout(void **state)
{
	(void)state;
	struct gic_lr lr = {.vintid = 48, .priority = 0xa8, .pending = true, .group1 = true};
	assert_int_equal(gic_v3_lr_encode(&lr), 48ULL | 0xa8ULL << 48 | 1ULL << 60 | 1ULL << 62);
	lr = (struct gic_lr){.vintid = 27, .pintid = 27, .priority = 0, .active = true, .hw = true};
	assert_int_equal(gic_v3_lr_encode(&lr), 27ULL | 27ULL << 32 | 1ULL << 61 | 2ULL << 62);
	struct gic_lr d;
	gic_v3_lr_decode(27ULL | 27ULL << 32 | 1ULL << 60 | 1ULL << 61 | 3ULL << 62 | 0x80ULL << 48, &d);
	assert_int_equal(d.vintid, 27);
	assert_int_equal(d.pintid, 27);
	assert_int_equal(d.priority, 0x80);
	assert_true(d.pending && d.active && d.group1 && d.hw);
	/* Without HW, bits [41:32] are not a physical INTID. */
	gic_v3_lr_decode(33ULL | 5ULL << 32 | 1ULL << 62, &d);
	assert_false(d.hw);
	assert_int_equal(d.pintid, 0);
	assert_int_equal(gic_v3_lr_encode(&(struct gic_lr){0}), 0);
}

/* IHI 0048B: VirtualID[9:0], PhysicalID[19:10], Priority[27:23], State[29:28], Grp1[30], HW[31]. */
static void test_v2_layout(void **state)
{
	(void)state;
	struct gic_lr lr = {.vintid = 48, .priority = 0xa8, .pending = true};
	assert_int_equal(gic_v2_lr_encode(&lr), 48u | (0xa8u >> 3) << 23 | 1u << 28);
	lr = (struct gic_lr){
	    .vintid = 27, .pintid = 27, .priority = 0xf8, .active = true, .group1 = true, .hw = true};
	assert_int_equal(gic_v2_lr_encode(&lr),
			 27u | 27u << 10 | 0x1fu << 23 | 2u << 28 | 1u << 30 | 1u << 31);
	/* Only 10 bits of INTID and the top 5 of the priority exist: nothing spills into other fields. */
	lr = (struct gic_lr){.vintid = 0x7ff, .pintid = 0x7ff, .priority = 0x07, .hw = true};
	assert_int_equal(gic_v2_lr_encode(&lr), 0x3ffu | 0x3ffu << 10 | 1u << 31);
	assert_true(gic_v2_lr_encode(&lr) <= 0xffffffffULL);

	struct gic_lr d;
	gic_v2_lr_decode(27u | 29u << 10 | 0x10u << 23 | 3u << 28 | 1u << 30 | 1u << 31, &d);
	assert_int_equal(d.vintid, 27);
	assert_int_equal(d.pintid, 29);
	assert_int_equal(d.priority, 0x80);
	assert_true(d.pending && d.active && d.group1 && d.hw);
	/* HW = 0: [19:10] hold EOI and an SGI's CPUID, not a physical INTID. */
	gic_v2_lr_decode(5u | 3u << 10 | 1u << 29, &d);
	assert_false(d.hw);
	assert_false(d.pending);
	assert_true(d.active);
	assert_int_equal(d.pintid, 0);
	assert_int_equal(d.vintid, 5);
	assert_int_equal(gic_v2_lr_encode(&(struct gic_lr){0}), 0);
}

/* Encode then decode gives back every field both layouts hold. */
static void test_round_trip(void **state)
{
	(void)state;
	for (unsigned v = 0; v < 2; v++) {
		for (uint32_t bits = 0; bits < 32; bits++) {
			struct gic_lr in = {
			    .vintid = 16 + bits * 7,
			    .priority = (uint8_t)(bits << 3),
			    .pending = bits & 1,
			    .active = (bits >> 1) & 1,
			    .group1 = (bits >> 2) & 1,
			    .hw = (bits >> 3) & 1,
			};
			in.pintid = in.hw ? 16 + bits : 0;
			struct gic_lr out;
			if (v == 0)
				gic_v3_lr_decode(gic_v3_lr_encode(&in), &out);
			else
				gic_v2_lr_decode(gic_v2_lr_encode(&in), &out);
			assert_memory_equal(&in, &out, sizeof(in));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v3_layout),
	    cmocka_unit_test(test_v2_layout),
	    cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
