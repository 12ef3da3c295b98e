/* Boot entropy: sources absorbed into a SipHash key, per-VM seeds derived from it. */
#include "core/entropy.h"

#include <libfdt.h>
#include <string.h>

#include "arch/random.h"
#include "core/siphash.h"
#include "keel/util.h"

#define SOURCE_MAX    256 /* bytes of one source absorbed (QEMU's rng-seed is 32) */
#define CPU_RNG_READS 4

static struct {
	uint64_t k0, k1;
	unsigned sources;
} pool;

/* The key becomes a PRF of the old key and the source: what came before is kept, not replaced. */
static void absorb(const void *buf, size_t len)
{
	uint8_t m[8 + SOURCE_MAX];
	len = MIN(len, (size_t)SOURCE_MAX);
	memset(m, 0, 8);
	memcpy(m + 8, buf, len);
	uint64_t k0 = pool.k0, k1 = pool.k1;
	m[0] = 1;
	pool.k0 = siphash24(k0, k1, m, 8 + len);
	m[0] = 2;
	pool.k1 = siphash24(k0, k1, m, 8 + len);
}

static bool all_zero(const uint8_t *p, int len)
{
	for (int i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static unsigned absorb_dt(const void *fdt)
{
	static const struct {
		const char *name;
		unsigned src;
	} props[] = {{"rng-seed", ENTROPY_SRC_DT_RNG_SEED}, {"kaslr-seed", ENTROPY_SRC_DT_KASLR_SEED}};
	int chosen = fdt ? fdt_path_offset(fdt, "/chosen") : -1;
	unsigned found = 0;
	for (unsigned i = 0; chosen >= 0 && i < ARRAY_SIZE(props); i++) {
		int len = 0;
		const uint8_t *v = fdt_getprop(fdt, chosen, props[i].name, &len);
		if (v && len > 0 && !all_zero(v, len)) { /* a zeroed seed: a loader's placeholder, or used */
			absorb(v, (size_t)len);
			found |= props[i].src;
		}
	}
	return found;
}

unsigned entropy_init(const void *fdt)
{
	memset(&pool, 0, sizeof(pool));
	unsigned found = absorb_dt(fdt);
	for (unsigned i = 0; i < CPU_RNG_READS; i++) {
		uint64_t r;
		if (arch_random_u64(&r)) {
			absorb(&r, sizeof(r));
			found |= ENTROPY_SRC_CPU_RNG;
		}
	}
	pool.sources = found;
	return found;
}

bool entropy_vm_seed(uint32_t vm, uint64_t gen, enum entropy_purpose purpose, void *out, size_t len)
{
	if (!pool.sources)
		return false;
	uint8_t *o = out;
	for (uint64_t block = 0; len; block++) {
		uint64_t in[4] = {vm, gen, (uint64_t)purpose, block};
		uint64_t h = siphash24(pool.k0, pool.k1, in, sizeof(in));
		size_t n = MIN(len, sizeof(h));
		memcpy(o, &h, n);
		o += n;
		len -= n;
	}
	return true;
}
