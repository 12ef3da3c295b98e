#include "core/fdt_util.h"

#include <libfdt.h>

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
