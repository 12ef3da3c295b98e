/* Boot entropy: SipHash-2-4, the sources keel absorbs, the seeds each VM boot gets in its DTB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libfdt.h>
#include <string.h>

#include "arch/random.h"
#include "core/entropy.h"
#include "core/guest_fdt.h"
#include "core/siphash.h"

/* The reference vectors (SipHash paper, appendix A): key 00..0f, messages 00, 00 01, ... */
static void test_siphash_vectors(void **state)
{
	(void)state;
	uint8_t msg[64];
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	const uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
	assert_int_equal(siphash24(k0, k1, msg, 0), 0x726fdb47dd0e0e31ULL);
	assert_int_equal(siphash24(k0, k1, msg, 1), 0x74f839c593dc67fdULL);
	assert_int_equal(siphash24(k0, k1, msg, 8), 0x93f5f5799a932462ULL);
	assert_int_equal(siphash24(k0, k1, msg, 15), 0xa129ca6149be45e5ULL);
	assert_int_equal(siphash24(k0, k1, msg, 63), 0x958a324ceb064572ULL);
}

static uint8_t dtb[4096];

/* A boot DT whose /chosen has the given seeds (len 0: absent). */
static const void *boot_dt(const void *rng, int rng_len, const void *kaslr, int kaslr_len)
{
	assert_int_equal(fdt_create_empty_tree(dtb, sizeof(dtb)), 0);
	int chosen = fdt_add_subnode(dtb, 0, "chosen");
	assert_true(chosen >= 0);
	if (rng_len)
		assert_int_equal(fdt_setprop(dtb, chosen, "rng-seed", rng, rng_len), 0);
	if (kaslr_len)
		assert_int_equal(fdt_setprop(dtb, chosen, "kaslr-seed", kaslr, kaslr_len), 0);
	return dtb;
}

static uint64_t seed64(uint32_t vm, uint64_t gen, enum entropy_purpose purpose)
{
	uint64_t v = 0;
	assert_true(entropy_vm_seed(vm, gen, purpose, &v, sizeof(v)));
	return v;
}

static void test_no_source_no_seed(void **state)
{
	(void)state;
	static const uint8_t zero[8];
	fake_random_count = 0;
	assert_int_equal(entropy_init(NULL), 0);
	assert_int_equal(entropy_init(boot_dt(NULL, 0, NULL, 0)), 0);
	/* A zeroed kaslr-seed is a loader's placeholder (or a seed already used), not entropy. */
	assert_int_equal(entropy_init(boot_dt(NULL, 0, zero, sizeof(zero))), 0);
	uint64_t v = 0x1234;
	assert_false(entropy_vm_seed(0, 0, ENTROPY_KASLR_SEED, &v, sizeof(v)));
	assert_int_equal(v, 0x1234);
}

static void test_sources_and_derivation(void **state)
{
	(void)state;
	uint8_t rng[32];
	for (unsigned i = 0; i < sizeof(rng); i++)
		rng[i] = (uint8_t)(i * 7 + 1);
	const uint64_t kaslr = 0x1122334455667788ULL;
	fake_random_count = 0;
	assert_int_equal(entropy_init(boot_dt(rng, sizeof(rng), &kaslr, sizeof(kaslr))),
			 ENTROPY_SRC_DT_RNG_SEED | ENTROPY_SRC_DT_KASLR_SEED);
	uint64_t a = seed64(0, 0, ENTROPY_KASLR_SEED);
	/* The same inputs give the same seed; any other VM, boot or purpose another one. */
	assert_int_equal(seed64(0, 0, ENTROPY_KASLR_SEED), a);
	assert_int_not_equal(seed64(1, 0, ENTROPY_KASLR_SEED), a);
	assert_int_not_equal(seed64(0, 1, ENTROPY_KASLR_SEED), a);
	assert_int_not_equal(seed64(0, 0, ENTROPY_RNG_SEED), a);
	/* Never the host's seeds themselves. */
	assert_int_not_equal(a, kaslr);
	/* A longer seed: each 8-byte block differs, the first block is the 8-byte seed. */
	uint64_t blk[4];
	assert_true(entropy_vm_seed(0, 0, ENTROPY_KASLR_SEED, blk, sizeof(blk)));
	assert_int_equal(blk[0], a);
	assert_int_not_equal(blk[1], blk[0]);
	assert_int_not_equal(blk[2], blk[1]);
	uint8_t odd[13];
	memset(odd, 0xee, sizeof(odd));
	assert_true(entropy_vm_seed(0, 0, ENTROPY_KASLR_SEED, odd, 11));
	assert_memory_equal(odd, blk, 11);
	assert_int_equal(odd[11], 0xee);

	/* Every source counts: another rng-seed byte, or the CPU's values, change every seed. */
	rng[31] ^= 1;
	assert_int_equal(entropy_init(boot_dt(rng, sizeof(rng), &kaslr, sizeof(kaslr))),
			 ENTROPY_SRC_DT_RNG_SEED | ENTROPY_SRC_DT_KASLR_SEED);
	uint64_t b = seed64(0, 0, ENTROPY_KASLR_SEED);
	assert_int_not_equal(b, a);
	static const uint64_t cpu[4] = {1, 2, 3, 4};
	fake_random_values = cpu;
	fake_random_count = 4;
	assert_int_equal(entropy_init(boot_dt(rng, sizeof(rng), &kaslr, sizeof(kaslr))),
			 ENTROPY_SRC_DT_RNG_SEED | ENTROPY_SRC_DT_KASLR_SEED | ENTROPY_SRC_CPU_RNG);
	assert_int_equal(fake_random_count, 0);
	assert_int_not_equal(seed64(0, 0, ENTROPY_KASLR_SEED), b);
	/* The CPU alone is enough. */
	fake_random_values = cpu;
	fake_random_count = 2;
	assert_int_equal(entropy_init(NULL), ENTROPY_SRC_CPU_RNG);
	assert_true(entropy_vm_seed(3, 9, ENTROPY_RNG_SEED, blk, sizeof(blk)));
}

/* The guest's DTB carries the seeds in /chosen when it has them, and nothing otherwise. */
static void test_guest_fdt_seeds(void **state)
{
	(void)state;
	static uint8_t buf[16384];
	struct guest_fdt_params p = {
	    .nr_cpus = 1, .ram_base = 0x40000000, .ram_size = 0x10000000, .timer_ppis = {29, 30, 27, 26}};
	assert_int_equal(guest_fdt_build(buf, sizeof(buf), &p), 0);
	int chosen = fdt_path_offset(buf, "/chosen");
	assert_null(fdt_getprop(buf, chosen, "kaslr-seed", NULL));
	assert_null(fdt_getprop(buf, chosen, "rng-seed", NULL));

	p.seeds = true;
	p.kaslr_seed = 0x0123456789abcdefULL;
	for (unsigned i = 0; i < sizeof(p.rng_seed); i++)
		p.rng_seed[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(guest_fdt_build(buf, sizeof(buf), &p), 0);
	chosen = fdt_path_offset(buf, "/chosen");
	int len = 0;
	const fdt64_t *k = fdt_getprop(buf, chosen, "kaslr-seed", &len);
	assert_int_equal(len, 8);
	fdt64_t kv;
	memcpy(&kv, k, sizeof(kv));
	assert_int_equal(fdt64_to_cpu(kv), 0x0123456789abcdefULL);
	const uint8_t *r = fdt_getprop(buf, chosen, "rng-seed", &len);
	assert_int_equal(len, GUEST_FDT_RNG_SEED);
	assert_memory_equal(r, p.rng_seed, GUEST_FDT_RNG_SEED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_siphash_vectors),
	    cmocka_unit_test(test_no_source_no_seed),
	    cmocka_unit_test(test_sources_and_derivation),
	    cmocka_unit_test(test_guest_fdt_seeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
