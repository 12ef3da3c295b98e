/* MMIO bus dispatch and the guest-memory gate. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/guest_mem.h"
#include "core/mmio.h"
#include "keel/addr.h"

static uint64_t last_write;
static uint64_t read_value;

static int dev_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	(void)dev;
	(void)vcpu;
	acc->value = read_value + acc->offset;
	return 0;
}

static int dev_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	(void)dev;
	(void)vcpu;
	last_write = acc->value;
	return acc->offset == 0x10 ? -EIO : 0;
}

static void test_register_and_overlap(void **state)
{
	(void)state;
	struct mmio_bus bus = {0};
	struct mmio_region a = {.base = {0x1000}, .size = 0x100, .read = dev_read, .write = dev_write};
	assert_int_equal(mmio_bus_register(&bus, &a), 0);
	struct mmio_region b = a;
	b.base = ipa_init(0x10ff);
	assert_int_equal(mmio_bus_register(&bus, &b), -EEXIST);
	b.base = ipa_init(0x1100);
	assert_int_equal(mmio_bus_register(&bus, &b), 0);
	struct mmio_region wrap = {.base = {UINT64_MAX - 0x10}, .size = 0x100};
	assert_int_equal(mmio_bus_register(&bus, &wrap), -EINVAL);
	struct mmio_region empty = {.base = {0x5000}, .size = 0};
	assert_int_equal(mmio_bus_register(&bus, &empty), -EINVAL);
	for (unsigned i = bus.count; i < MMIO_BUS_MAX_REGIONS; i++) {
		struct mmio_region r = {.base = {0x100000 + i * 0x1000ULL}, .size = 0x1000};
		assert_int_equal(mmio_bus_register(&bus, &r), 0);
	}
	struct mmio_region more = {.base = {0x900000}, .size = 0x1000};
	assert_int_equal(mmio_bus_register(&bus, &more), -ENOSPC);
}

static void test_dispatch_sizes_and_sign_extension(void **state)
{
	(void)state;
	struct mmio_bus bus = {0};
	struct mmio_region a = {.base = {0x1000}, .size = 0x100, .read = dev_read, .write = dev_write};
	assert_int_equal(mmio_bus_register(&bus, &a), 0);

	read_value = 0x80;
	struct mmio_access acc = {.ipa = {0x1000}, .size = 1, .sign_extend = true, .reg64 = true};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &acc), 0);
	assert_int_equal(acc.value, 0xffffffffffffff80ULL);
	acc = (struct mmio_access){.ipa = {0x1000}, .size = 1, .sign_extend = true, .reg64 = false};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &acc), 0);
	assert_int_equal(acc.value, 0xffffff80ULL);
	read_value = 0x12345678abcdULL;
	acc = (struct mmio_access){.ipa = {0x1004}, .size = 2};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &acc), 0);
	assert_int_equal(acc.offset, 4);
	assert_int_equal(acc.value, 0xabd1);

	acc = (struct mmio_access){.ipa = {0x1008}, .size = 4, .write = true, .value = 0xdeadbeefcafeULL};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &acc), 0);
	assert_int_equal(last_write, 0xbeefcafeULL);

	acc = (struct mmio_access){.ipa = {0x1010}, .size = 4, .write = true};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &acc), -EIO);
	/* Straddling the end of the region, or outside every region, or a bad size. */
	acc = (struct mmio_access){.ipa = {0x10fc}, .size = 8};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &acc), -ENOENT);
	acc = (struct mmio_access){.ipa = {0x2000}, .size = 4};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &acc), -ENOENT);
	acc = (struct mmio_access){.ipa = {0x1000}, .size = 3};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &acc), -EINVAL);
}

static void test_guest_mem_gate(void **state)
{
	(void)state;
	static uint8_t ram[0x4000];
	struct guest_mem m = {.count = 1};
	m.ranges[0] = (struct gmem_range){ipa_init(0x40000000), ptr_to_pa(ram), sizeof(ram)};
	paddr_t pa;
	assert_true(gmem_translate(&m, ipa_init(0x40000000), sizeof(ram), &pa));
	assert_ptr_equal(pa_to_ptr(pa), ram);
	assert_ptr_equal(gmem_ptr(&m, ipa_init(0x40000010), 16), ram + 0x10);
	assert_false(gmem_translate(&m, ipa_init(0x40000000), sizeof(ram) + 1, &pa));
	assert_false(gmem_translate(&m, ipa_init(0x3fffffff), 2, &pa));
	assert_false(gmem_translate(&m, ipa_init(0x40003fff), 2, &pa));
	assert_false(gmem_translate(&m, ipa_init(0x40000000), 0, &pa));
	assert_false(gmem_translate(&m, ipa_init(0x40000010), UINT64_MAX, &pa));
	assert_false(gmem_translate(&m, ipa_init(UINT64_MAX), 1, &pa));
	assert_null(gmem_ptr(&m, ipa_init(0x50000000), 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_and_overlap),
	    cmocka_unit_test(test_dispatch_sizes_and_sign_extension),
	    cmocka_unit_test(test_guest_mem_gate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
