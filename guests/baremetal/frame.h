/* Exception frame layout shared by start.S and exceptions.c. */
#ifndef GUEST_FRAME_H
#define GUEST_FRAME_H

#define FRAME_X30  240
#define FRAME_ELR  248
#define FRAME_SPSR 256
#define FRAME_SIZE 272

#ifndef __ASSEMBLY__
#include <stdint.h>

/** What the vector stub saved: x0..x30, ELR_EL1, SPSR_EL1 (handlers may change elr). */
struct frame {
	uint64_t x[31];
	uint64_t elr;
	uint64_t spsr;
	uint64_t pad;
};
_Static_assert(sizeof(struct frame) == FRAME_SIZE, "frame layout");
#endif

#endif
