/* FP/SIMD state access (fpsimd.S). */
#ifndef GUEST_FPSIMD_H
#define GUEST_FPSIMD_H

#include <stdint.h>

/** q0..q31 <- buf (512 bytes, 16-byte aligned). */
void fp_load_all(const void *buf);
/** buf (512 bytes, 16-byte aligned) <- q0..q31. */
void fp_store_all(void *buf);
void fp_set_ctrl(uint64_t fpcr, uint64_t fpsr);
uint64_t fp_get_fpcr(void);
uint64_t fp_get_fpsr(void);

#endif
