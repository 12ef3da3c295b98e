/* Small device-tree queries shared by drivers. */
#ifndef KEEL_CORE_FDT_UTIL_H
#define KEEL_CORE_FDT_UTIL_H

#include "keel/types.h"

/** True when node or any ancestor has "dma-coherent" (as Linux's of_dma_is_coherent reads it). */
bool fdt_dma_coherent(const void *fdt, int node);

#endif
