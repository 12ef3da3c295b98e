/* Stage-2 tables (see arch/stage2.h). */
#include "arch/stage2.h"

#include <errno.h>

#include "arch/sysreg.h"
#include "keel/addr.h"
#include "keel/util.h"

#define S2_VALID	     (1ULL << 0)
#define S2_TABLE	     (1ULL << 1)
#define S2_PAGE		     (1ULL << 1) /* level 3 */
#define S2_MEMATTR_NORMAL_WB (0xfULL << 2)
#define S2_AP_RW	     (3ULL << 6)
#define S2_AP_RO	     (1ULL << 6)
#define S2_SH_INNER	     (3ULL << 8)
#define S2_AF		     (1ULL << 10)
#define S2_ADDR_MASK	     0x0000fffffffff000ULL
#define S2_RAM_ATTRS	     (S2_MEMATTR_NORMAL_WB | S2_AP_RW | S2_SH_INNER | S2_AF)
#define S2_MEMATTR_DEVICE    (0x1ULL << 2) /* Device-nGnRE */
#define S2_XN		     (2ULL << 53)  /* XN[1:0] = 2: not executable at EL1 or EL0 */
#define S2_DEVICE_ATTRS	     (S2_MEMATTR_DEVICE | S2_AP_RW | S2_AF | S2_XN)
#define S2_ROM_ATTRS	     (S2_MEMATTR_NORMAL_WB | S2_AP_RO | S2_SH_INNER | S2_AF)
#define S2_SHADOW_ATTRS	     (S2_MEMATTR_NORMAL_WB | S2_AP_RO | S2_SH_INNER | S2_AF | S2_XN)

/* VTCR_EL2: T0SZ=25, SL0=1 (start at level 1), WBWA, inner shareable, 4K. */
#define VTCR_T0SZ	(64 - STAGE2_IPA_BITS)
#define VTCR_SL0_L1	(1ULL << 6)
#define VTCR_IRGN0_WBWA (1ULL << 8)
#define VTCR_ORGN0_WBWA (1ULL << 10)
#define VTCR_SH0_INNER	(3ULL << 12)
#define VTCR_PS_SHIFT	16
#define VTCR_RES1	(1ULL << 31)

static uint64_t *table_of(uint64_t desc)
{
	return pa_to_ptr(pa_init(desc & S2_ADDR_MASK));
}

bool stage2_create(paddr_t *root, const struct stage2_alloc *alloc)
{
	void *p = alloc->page(alloc->ctx);
	if (p == NULL)
		return false;
	*root = ptr_to_pa(p);
	return true;
}

static uint64_t *next_table(uint64_t *entry, const struct stage2_alloc *alloc)
{
	if (!(*entry & S2_VALID)) {
		void *p = alloc->page(alloc->ctx);
		if (p == NULL)
			return NULL;
		*entry = pa_addr(ptr_to_pa(p)) | S2_VALID | S2_TABLE;
	} else if (!(*entry & S2_TABLE)) {
		return NULL; /* a block is already there */
	}
	return table_of(*entry);
}

static int map_range(paddr_t root, ipa_t ipa, paddr_t pa, uint64_t size, const struct stage2_alloc *alloc,
		     uint64_t attrs, bool blocks);

int stage2_map_ram(paddr_t root, ipa_t ipa, paddr_t pa, uint64_t size, const struct stage2_alloc *alloc)
{
	return map_range(root, ipa, pa, size, alloc, S2_RAM_ATTRS, true);
}

int stage2_map_device(paddr_t root, ipa_t ipa, paddr_t pa, uint64_t size, const struct stage2_alloc *alloc)
{
	return map_range(root, ipa, pa, size, alloc, S2_DEVICE_ATTRS, false);
}

static int map_range(paddr_t root, ipa_t ipa, paddr_t pa, uint64_t size, const struct stage2_alloc *alloc,
		     uint64_t attrs, bool blocks)
{
	uint64_t va = ipa_addr(ipa), phys = pa_addr(pa);
	if (!IS_ALIGNED(va | phys | size, SZ_4K) || va + size > (1ULL << STAGE2_IPA_BITS) || va + size < va)
		return -EINVAL;
	uint64_t *l1 = pa_to_ptr(root);
	while (size) {
		uint64_t *l2 = next_table(&l1[(va >> 30) & 511], alloc);
		if (l2 == NULL)
			return -ENOMEM;
		uint64_t *e2 = &l2[(va >> 21) & 511];
		if (blocks && IS_ALIGNED(va | phys, SZ_2M) && size >= SZ_2M && !(*e2 & S2_VALID)) {
			*e2 = phys | S2_VALID | attrs; /* 2 MiB block */
			va += SZ_2M, phys += SZ_2M, size -= SZ_2M;
			continue;
		}
		uint64_t *l3 = next_table(e2, alloc);
		if (l3 == NULL)
			return -ENOMEM;
		l3[(va >> 12) & 511] = phys | S2_VALID | S2_PAGE | attrs;
		va += SZ_4K, phys += SZ_4K, size -= SZ_4K;
	}
	__asm__ volatile("dsb ishst" ::: "memory");
	return 0;
}

int stage2_map_rom(paddr_t root, ipa_t ipa, paddr_t pa, uint64_t size, const struct stage2_alloc *alloc)
{
	if (!IS_ALIGNED(ipa_addr(ipa) | pa_addr(pa) | size, SZ_2M))
		return -EINVAL; /* whole blocks only, so that stage2_unmap_blocks can take them away */
	return map_range(root, ipa, pa, size, alloc, S2_ROM_ATTRS, true);
}

int stage2_map_readonly_page(paddr_t root, ipa_t ipa, paddr_t pa, const struct stage2_alloc *alloc)
{
	return map_range(root, ipa, pa, SZ_4K, alloc, S2_SHADOW_ATTRS, false);
}

int stage2_unmap_blocks(paddr_t root, ipa_t ipa, uint64_t size)
{
	uint64_t va = ipa_addr(ipa);
	if (!IS_ALIGNED(va | size, SZ_2M) || va + size > (1ULL << STAGE2_IPA_BITS) || va + size < va)
		return -EINVAL;
	uint64_t *l1 = pa_to_ptr(root);
	for (; size; va += SZ_2M, size -= SZ_2M) {
		uint64_t e1 = l1[(va >> 30) & 511];
		if (!(e1 & S2_VALID) || !(e1 & S2_TABLE))
			continue;
		uint64_t *e2 = &table_of(e1)[(va >> 21) & 511];
		if ((*e2 & S2_VALID) && !(*e2 & S2_TABLE))
			*e2 = 0;
	}
	/* Break before make: no CPU may keep using the old entries (broadcast, this VMID). */
	stage2_flush_tlb();
	return 0;
}

bool stage2_lookup(paddr_t root, ipa_t ipa, paddr_t *pa)
{
	uint64_t va = ipa_addr(ipa);
	if (va >= (1ULL << STAGE2_IPA_BITS))
		return false;
	uint64_t e = ((uint64_t *)pa_to_ptr(root))[(va >> 30) & 511];
	if (!(e & S2_VALID) || !(e & S2_TABLE))
		return false;
	e = table_of(e)[(va >> 21) & 511];
	if (!(e & S2_VALID))
		return false;
	if (!(e & S2_TABLE)) {
		*pa = pa_init((e & S2_ADDR_MASK & ~(SZ_2M - 1)) | (va & (SZ_2M - 1)));
		return true;
	}
	e = table_of(e)[(va >> 12) & 511];
	if (!(e & S2_VALID))
		return false;
	*pa = pa_init((e & S2_ADDR_MASK) | (va & (SZ_4K - 1)));
	return true;
}

void stage2_activate(paddr_t root, uint16_t vmid)
{
	uint64_t parange = read_id_aa64mmfr0_el1() & 0xf;
	if (parange > 5)
		parange = 5;
	write_vtcr_el2(VTCR_RES1 | VTCR_T0SZ | VTCR_SL0_L1 | VTCR_IRGN0_WBWA | VTCR_ORGN0_WBWA |
		       VTCR_SH0_INNER | (parange << VTCR_PS_SHIFT));
	write_vttbr_el2(pa_addr(root) | ((uint64_t)(vmid & 0xff) << 48));
	__asm__ volatile("isb" ::: "memory");
}

void stage2_flush_tlb(void)
{
	__asm__ volatile("dsb ishst\n tlbi vmalls12e1is\n dsb ish\n isb" ::: "memory");
}
