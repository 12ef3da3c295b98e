/*
 * Host-test random source: arch_random_u64 hands out fake_random_values in turn, then reports none
 * (a CPU without FEAT_RNG when the test sets nothing; arch/fake/random.c).
 */
#ifndef KEEL_ARCH_RANDOM_H
#define KEEL_ARCH_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

extern const uint64_t *fake_random_values;
extern unsigned fake_random_count;

bool arch_random_u64(uint64_t *out);

#endif
