/*
 * keel's boot entropy and the seeds it derives from it for each VM boot: a guest's DTB carries
 * /chosen/kaslr-seed and /chosen/rng-seed as QEMU, U-Boot and the Raspberry Pi firmware give a
 * kernel booted on the machine (Linux randomizes its layout with the first and seeds its RNG with
 * the second). Each VM boot gets its own values; no VM can compute another's or keel's key.
 */
#ifndef KEEL_CORE_ENTROPY_H
#define KEEL_CORE_ENTROPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Sources entropy_init found, as a mask. */
#define ENTROPY_SRC_DT_RNG_SEED	  (1u << 0) /**< the boot DT's /chosen/rng-seed */
#define ENTROPY_SRC_DT_KASLR_SEED (1u << 1) /**< the boot DT's /chosen/kaslr-seed (non-zero) */
#define ENTROPY_SRC_CPU_RNG	  (1u << 2) /**< the CPU's RNDRRS (FEAT_RNG) */

/** What a derived seed is for: seeds for different purposes are independent. */
enum entropy_purpose { ENTROPY_KASLR_SEED = 1, ENTROPY_RNG_SEED = 2 };

/**
 * Build the boot key from the DT's seeds (fdt may be NULL) and four RNDRRS values. Called once on
 * the boot CPU before any VM loads (a second call starts over). Returns the ENTROPY_SRC_* found.
 */
unsigned entropy_init(const void *fdt);

/**
 * len bytes for VM vm's boot number gen, for purpose: SipHash-2-4 under the boot key of (vm, gen,
 * purpose, block). False, and out untouched, when entropy_init found no source: a guest then gets
 * no seed rather than a guessable one.
 */
bool entropy_vm_seed(uint32_t vm, uint64_t gen, enum entropy_purpose purpose, void *out, size_t len);

#endif
