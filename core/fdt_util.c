#include "core/fdt_util.h"

#include <libfdt.h>

#include "keel/addr.h"

bool fdt_dma_coherent(const void *fdt, int node)
{
	/* Bounded by the tree's depth; libfdt returns a negative offset past the root. */
	for (int depth = 0; node >= 0 && depth < 64; depth++) {
		if (fdt_getprop(fdt, node, "dma-coherent", NULL) != NULL)
			return true;
		node = fdt_parent_offset(fdt, node);
	}
	return false;
}

#define FDT_MAX_DEPTH 64

static uint64_t cells_at(const fdt32_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 32) | fdt32_to_cpu(p[i]);
	return v;
}

/* #address-cells / #size-cells a node gives its children, checked to fit in 64 bits. */
static bool bus_cells(const void *fdt, int bus, int *ac, int *sc)
{
	*ac = fdt_address_cells(fdt, bus);
	*sc = fdt_size_cells(fdt, bus);
	return *ac >= 1 && *ac <= 2 && *sc >= 0 && *sc <= 2;
}

/* Translate a child-bus address of bus through bus's "ranges" into its parent's space. */
static bool ranges_translate(const void *fdt, int bus, uint64_t *addr, uint64_t size)
{
	int len;
	const fdt32_t *r = fdt_getprop(fdt, bus, "ranges", &len);
	if (r == NULL)
		return false;
	if (len == 0)
		return true;
	int parent = fdt_parent_offset(fdt, bus);
	int cac, csc, pac, psc;
	if (parent < 0 || !bus_cells(fdt, bus, &cac, &csc) || !bus_cells(fdt, parent, &pac, &psc))
		return false;
	int stride = cac + pac + csc;
	for (int i = 0; (i + 1) * stride * 4 <= len; i++) {
		const fdt32_t *e = r + i * stride;
		uint64_t child = cells_at(e, cac), par = cells_at(e + cac, pac),
			 sz = cells_at(e + cac + pac, csc);
		if (*addr >= child && *addr - child < sz && size <= sz - (*addr - child)) {
			*addr = par + (*addr - child);
			return true;
		}
	}
	return false;
}

bool fdt_reg(const void *fdt, int node, int idx, paddr_t *base, uint64_t *size)
{
	int bus = fdt_parent_offset(fdt, node);
	int ac, sc, len;
	if (bus < 0 || idx < 0 || !bus_cells(fdt, bus, &ac, &sc))
		return false;
	const fdt32_t *p = fdt_getprop(fdt, node, "reg", &len);
	if (p == NULL || len < (ac + sc) * 4 * (idx + 1))
		return false;
	p += (ac + sc) * idx;
	uint64_t addr = cells_at(p, ac), sz = cells_at(p + ac, sc);
	for (int depth = 0; depth < FDT_MAX_DEPTH; depth++) {
		int parent = fdt_parent_offset(fdt, bus);
		if (parent < 0) { /* bus is the root: addr is physical */
			*base = pa_init(addr);
			*size = sz;
			return true;
		}
		if (!ranges_translate(fdt, bus, &addr, sz))
			return false;
		bus = parent;
	}
	return false;
}

bool fdt_dma_range(const void *fdt, int node, uint64_t *bus_base, paddr_t *cpu_base, uint64_t *size)
{
	int bus = fdt_parent_offset(fdt, node);
	for (int depth = 0; bus >= 0 && depth < FDT_MAX_DEPTH; depth++) {
		int len;
		const fdt32_t *r = fdt_getprop(fdt, bus, "dma-ranges", &len);
		int parent = fdt_parent_offset(fdt, bus);
		if (r != NULL && len > 0) {
			int cac, csc, pac, psc;
			if (parent < 0 || !bus_cells(fdt, bus, &cac, &csc) ||
			    !bus_cells(fdt, parent, &pac, &psc) || len < (cac + pac + csc) * 4)
				return false;
			*bus_base = cells_at(r, cac);
			*cpu_base = pa_init(cells_at(r + cac, pac));
			*size = cells_at(r + cac + pac, csc);
			return *size != 0;
		}
		if (r != NULL)
			break; /* empty: identity from here up */
		bus = parent;
	}
	*bus_base = 0;
	*cpu_base = pa_init(0);
	*size = 0;
	return true;
}

/* The node's interrupt parent: its own or the nearest ancestor's "interrupt-parent". */
static int irq_parent(const void *fdt, int node)
{
	for (int depth = 0; node >= 0 && depth < FDT_MAX_DEPTH; depth++) {
		int len;
		const fdt32_t *p = fdt_getprop(fdt, node, "interrupt-parent", &len);
		if (p != NULL)
			return len == 4 ? fdt_node_offset_by_phandle(fdt, fdt32_to_cpu(*p)) : -1;
		node = fdt_parent_offset(fdt, node);
	}
	return -1;
}

uint32_t fdt_irq(const void *fdt, int node, int idx)
{
	int gic = irq_parent(fdt, node);
	if (gic < 0 || idx < 0 || fdt_getprop(fdt, gic, "interrupt-controller", NULL) == NULL)
		return 0;
	if (fdt_node_check_compatible(fdt, gic, "arm,gic-400") != 0 &&
	    fdt_node_check_compatible(fdt, gic, "arm,cortex-a15-gic") != 0 &&
	    fdt_node_check_compatible(fdt, gic, "arm,gic-v3") != 0)
		return 0;
	int len;
	const fdt32_t *cells = fdt_getprop(fdt, gic, "#interrupt-cells", &len);
	if (cells == NULL || len != 4 || fdt32_to_cpu(*cells) != 3)
		return 0;
	const fdt32_t *irq = fdt_getprop(fdt, node, "interrupts", &len);
	if (irq == NULL || len < 12 * (idx + 1))
		return 0;
	irq += 3 * idx;
	uint32_t type = fdt32_to_cpu(irq[0]), n = fdt32_to_cpu(irq[1]);
	if (type == 0 && n < 988)
		return n + 32;
	if (type == 1 && n < 16)
		return n + 16;
	return 0;
}

bool fdt_bus_dev(const void *fdt, int node, struct bus_dev *out)
{
	uint64_t bus_base, size;
	paddr_t cpu_base;
	struct bus_dev b = {0};
	if (!fdt_reg(fdt, node, 0, &b.base, &b.size) ||
	    !fdt_dma_range(fdt, node, &bus_base, &cpu_base, &size))
		return false;
	b.intid = fdt_irq(fdt, node, 0);
	b.dma_coherent = fdt_dma_coherent(fdt, node);
	b.dma_offset = bus_base - pa_addr(cpu_base);
	b.dma_lo = cpu_base;
	b.dma_size = size;
	*out = b;
	return true;
}
