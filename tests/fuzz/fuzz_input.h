/* The fuzz targets' input: a byte stream read as little-endian values; reads past its end give 0. */
#ifndef KEEL_TESTS_FUZZ_INPUT_H
#define KEEL_TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input {
	const uint8_t *p;
	size_t n;
};

/** The next `bytes` bytes (at most 8) as a little-endian value; consumes them. */
static inline uint64_t take(struct input *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && in->n > 0; i++, in->p++, in->n--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

#endif
