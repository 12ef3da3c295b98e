/* Bulk memory helpers beyond libc's. */
#ifndef KEEL_ARCH_STRING_H
#define KEEL_ARCH_STRING_H

#include <stddef.h>

/** Zero a large RAM range quickly (DC ZVA when allowed); p and n multiples of 64; MMU on. */
void zero_ram(void *p, size_t n);

#endif
