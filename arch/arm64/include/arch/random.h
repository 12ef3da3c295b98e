/* The CPU's random-number instructions (FEAT_RNG), for keel's boot entropy (core/entropy.h). */
#ifndef KEEL_ARCH_RANDOM_H
#define KEEL_ARCH_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

/**
 * One 64-bit value from RNDRRS (reseeded from the CPU's true random source). False, with *out
 * untouched, when the CPU has no FEAT_RNG or the instruction reports that it has no value now.
 */
bool arch_random_u64(uint64_t *out);

#endif
