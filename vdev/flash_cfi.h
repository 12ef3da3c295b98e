/*
 * An emulated CFI parallel NOR flash bank with the Intel/Sharp command set, shaped as QEMU virt's
 * pflash banks (hw/block/pflash_cfi01.c, virt_flash_create1): 64 MiB, two x16 devices side by side on
 * a 32-bit bus (bank width 4, device width 2), uniform 256 KiB erase blocks (128 KiB per device),
 * a 4 KiB write buffer (2 KiB per device), manufacturer 0x89 / device 0x18. Firmware (U-Boot, EDK2)
 * probes it with CFI queries and keeps its variables in it.
 *
 * Commands (the low byte of a write): 0xff/0xf0/0x00 read array, 0x70 read status, 0x50 clear status
 * (and read array, as QEMU), 0x90 read identifier, 0x98 CFI query, 0x10/0x40 word program (next
 * write is the data), 0x20 + 0xd0 block erase, 0xe8 + count + data + 0xd0 buffered program,
 * 0x60 + 0xd0/0x01/0x2f block (un)lock (accepted, not emulated). Program clears bits only (AND), as
 * NOR does; erase sets a block to 0xff. After a program, erase or lock command the bank reads status
 * until a read-array command.
 *
 * The guest is hostile: an unknown command or a broken sequence sets the status register's
 * command-sequence error bits (0x30) and leaves the bank in read-status mode; a program or erase of a
 * read-only bank sets the program/erase error and block-locked bits; a buffered program of more
 * writes than the buffer holds, or with data outside the aligned 4 KiB window of its first data
 * write, is a sequence error. An aligned 8-byte write is two 4-byte bus cycles, low word first (QEMU
 * splits it so: EDK2 stores a doubleword into its own image early on). Writes not aligned to their
 * size are refused (external abort to the guest). Each such event
 * counts in guest_errors and logs a line limited by time. Nothing here panics.
 *
 * Reads in read-array mode return the bank's bytes; keel may map a bank read-only in stage 2 while
 * it is in that mode so that they do not trap (ops.array_mode says when to map and unmap).
 */
#ifndef KEEL_VDEV_FLASH_CFI_H
#define KEEL_VDEV_FLASH_CFI_H

#include "arch/spinlock.h"
#include "core/mmio.h"
#include "keel/ratelimit.h"
#include "keel/types.h"

#define FLASH_CFI_BANK_SIZE    0x04000000ULL /**< 64 MiB per bank, as QEMU virt */
#define FLASH_CFI_BLOCK_SIZE   0x40000ULL    /**< erase block across the bank (2 devices x 128 KiB) */
#define FLASH_CFI_BANK_WIDTH   4u	     /**< bytes on the bus per flash word */
#define FLASH_CFI_DEVICE_WIDTH 2u	     /**< bytes per device (x16) */
#define FLASH_CFI_WRITE_BUFFER 4096u	     /**< write buffer across the bank (2 devices x 2 KiB) */
#define FLASH_CFI_MANUFACTURER 0x89u
#define FLASH_CFI_DEVICE_ID    0x18u

/* Status register bits (per device). */
#define CFI_SR_READY	    0x80u
#define CFI_SR_ERASE_ERR    0x20u
#define CFI_SR_PROGRAM_ERR  0x10u
#define CFI_SR_BLOCK_LOCKED 0x02u
#define CFI_SR_SEQ_ERR	    (CFI_SR_ERASE_ERR | CFI_SR_PROGRAM_ERR)

enum flash_cfi_mode {
	FLASH_CFI_ARRAY,  /**< reads return the bank's bytes */
	FLASH_CFI_STATUS, /**< reads return the status register */
	FLASH_CFI_ID,	  /**< reads return identifier codes */
	FLASH_CFI_QUERY,  /**< reads return the CFI query table */
};

/** What the next write means (a multi-cycle command in progress). */
enum flash_cfi_pending {
	FLASH_CFI_NONE,
	FLASH_CFI_PROGRAM,     /**< next write is the data of a word program */
	FLASH_CFI_ERASE,       /**< next write must be the erase confirm 0xd0 */
	FLASH_CFI_LOCK,	       /**< next write is 0xd0 / 0x01 / 0x2f */
	FLASH_CFI_BUF_COUNT,   /**< next write is the buffer's word count - 1 */
	FLASH_CFI_BUF_DATA,    /**< data writes of a buffered program */
	FLASH_CFI_BUF_CONFIRM, /**< next write must be the buffer confirm 0xd0 */
};

struct flash_cfi_ops {
	/** The bank enters (on) or leaves read-array mode: map or unmap it in stage 2. May be NULL. */
	void (*array_mode)(void *ctx, bool on);
	/** Bytes [offset, offset+len) of a writable bank changed: copy them to a backing store. May be NULL.
	 */
	void (*changed)(void *ctx, uint64_t offset, uint64_t len);
	void *ctx;
};

struct flash_cfi {
	char name[48]; /**< for log lines, e.g. "VM a: flash1" */
	uint8_t *storage;
	uint64_t size; /**< a multiple of FLASH_CFI_BLOCK_SIZE */
	bool writable; /**< false: the code bank; program and erase fail with status errors */
	struct flash_cfi_ops ops;

	struct spinlock lock; /**< guards everything below */
	enum flash_cfi_mode mode;
	enum flash_cfi_pending pending;
	uint8_t status;
	uint64_t erase_offset;	  /**< block of a pending erase */
	uint64_t buf_start;	  /**< first byte of the announced buffer */
	uint32_t buf_len;	  /**< bytes announced (count x bank width) */
	uint32_t buf_writes_left; /**< data writes still expected */
	uint8_t buf[FLASH_CFI_WRITE_BUFFER];
	uint8_t buf_valid[FLASH_CFI_WRITE_BUFFER / 8]; /**< bytes of buf written by the guest */

	uint64_t programs, erases, guest_errors, trapped_reads;
	struct ratelimit log_rl;
};

/**
 * Set up a bank over storage (size bytes, a non-zero multiple of FLASH_CFI_BLOCK_SIZE) in read-array
 * mode. The storage's contents are the flash's. Returns 0 or -EINVAL.
 */
int flash_cfi_init(struct flash_cfi *f, const char *name, uint8_t *storage, uint64_t size, bool writable,
		   const struct flash_cfi_ops *ops);

/** Back to power-on state: read-array mode, status ready, no command pending. Contents are kept. */
void flash_cfi_reset(struct flash_cfi *f);

/** A guest load at offset (size 1, 2, 4 or 8); the value is little-endian. Always answers. */
uint64_t flash_cfi_read(struct flash_cfi *f, uint64_t offset, unsigned size);

/** A guest store. Returns 0, or -EINVAL for an access refused (wide, misaligned, outside the bank). */
int flash_cfi_write(struct flash_cfi *f, uint64_t offset, unsigned size, uint64_t value);

/** MMIO callbacks for a struct mmio_region whose dev is the struct flash_cfi. */
int flash_cfi_mmio_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc);
int flash_cfi_mmio_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc);

/** The CFI query table's byte at index (per device), 0 past its end. Exposed for tests. */
uint8_t flash_cfi_query_byte(const struct flash_cfi *f, uint64_t index);

#endif
