/* EL2 stage-1 identity map (see arch/mmu.h). */
#include "arch/mmu.h"

#include "arch/sysreg.h"
#include "keel/addr.h"
#include "keel/util.h"

#define PTE_VALID    (1ULL << 0)
#define PTE_TABLE    (1ULL << 1)
#define PTE_BLOCK    (0ULL << 1)
#define PTE_ATTR(i)  ((uint64_t)(i) << 2)
#define PTE_AP_RW    (0ULL << 6)
#define PTE_SH_INNER (3ULL << 8)
#define PTE_AF	     (1ULL << 10)
#define PTE_XN	     (1ULL << 54)

#define MAIR_IDX_DEVICE 0
#define MAIR_IDX_NORMAL 1
#define MAIR_VALUE	(0x04ULL | (0xffULL << 8)) /* Device-nGnRE, Normal WB RA/WA */

/* TCR_EL2: T0SZ=16 (48-bit), WB WA inner/outer, inner shareable, 4K granule. */
#define TCR_T0SZ(x)    ((uint64_t)(x))
#define TCR_IRGN0_WBWA (1ULL << 8)
#define TCR_ORGN0_WBWA (1ULL << 10)
#define TCR_SH0_INNER  (3ULL << 12)
#define TCR_PS_SHIFT   16
#define TCR_RES1       ((1ULL << 31) | (1ULL << 23))

static uint64_t l0_table[512] __attribute__((aligned(4096)));
static uint64_t l1_tables[2][512] __attribute__((aligned(4096)));

static uint64_t device_block(uint64_t pa)
{
	return pa | PTE_VALID | PTE_BLOCK | PTE_ATTR(MAIR_IDX_DEVICE) | PTE_AF | PTE_XN | PTE_AP_RW;
}

static uint64_t normal_block(uint64_t pa)
{
	return pa | PTE_VALID | PTE_BLOCK | PTE_ATTR(MAIR_IDX_NORMAL) | PTE_AF | PTE_SH_INNER | PTE_AP_RW;
}

void mmu_el2_tables_init(void)
{
	for (unsigned t = 0; t < 2; t++) {
		l0_table[t] = (uint64_t)(uintptr_t)l1_tables[t] | PTE_VALID | PTE_TABLE;
		for (unsigned i = 0; i < 512; i++)
			l1_tables[t][i] = device_block(((uint64_t)t * 512 + i) * SZ_1G);
	}
}

void mmu_el2_map_normal(paddr_t base, uint64_t size)
{
	uint64_t start = ALIGN_DOWN(pa_addr(base), SZ_1G);
	uint64_t end = ALIGN_UP(pa_addr(base) + size, SZ_1G);
	for (uint64_t a = start; a < end && a < 1024 * SZ_1G; a += SZ_1G)
		l1_tables[a / (512 * SZ_1G)][(a / SZ_1G) % 512] = normal_block(a);
}

void mmu_el2_install(void)
{
	uint64_t parange = read_id_aa64mmfr0_el1() & 0xf;
	if (parange > 5)
		parange = 5; /* 48 bits: all this table format reaches */
	write_mair_el2(MAIR_VALUE);
	write_tcr_el2(TCR_RES1 | TCR_T0SZ(16) | TCR_IRGN0_WBWA | TCR_ORGN0_WBWA | TCR_SH0_INNER |
		      (parange << TCR_PS_SHIFT));
	write_ttbr0_el2((uint64_t)(uintptr_t)l0_table);
	__asm__ volatile("isb" ::: "memory");
}
