/* SipHash-2-4 (Aumasson and Bernstein): a keyed pseudo-random function with a 64-bit output. */
#ifndef KEEL_CORE_SIPHASH_H
#define KEEL_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/** SipHash-2-4 of len bytes under the 128-bit key (k0, k1): k0 is the key's first 8 bytes, little-endian. */
uint64_t siphash24(uint64_t k0, uint64_t k1, const void *msg, size_t len);

#endif
