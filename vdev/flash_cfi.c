/* Emulated CFI NOR flash bank, Intel command set (see vdev/flash_cfi.h). */
#include "vdev/flash_cfi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/timer.h"
#include "keel/log.h"
#include "keel/util.h"

#define CMD_READ_ARRAY	 0xffu
#define CMD_READ_ARRAY_0 0x00u /* QEMU's model takes it as read array */
#define CMD_AMD_RESET	 0xf0u /* AMD reset: probes by firmware; read array */
#define CMD_PROGRAM	 0x40u
#define CMD_PROGRAM_ALT	 0x10u
#define CMD_ERASE	 0x20u
#define CMD_CLEAR_STATUS 0x50u
#define CMD_LOCK	 0x60u
#define CMD_READ_STATUS	 0x70u
#define CMD_READ_ID	 0x90u
#define CMD_QUERY	 0x98u
#define CMD_BUFFERED	 0xe8u
#define CMD_CONFIRM	 0xd0u
#define CMD_LOCK_SET	 0x01u
#define CMD_LOCK_DOWN	 0x2fu

#define CFI_TABLE_LEN 0x40u

static bool guest_error(struct flash_cfi *f)
{
	f->guest_errors++;
	return ratelimit_log_allowed(&f->log_rl, timer_us(), f->name);
}

/* Lock held. Switch the read mode; tell the owner when read-array mode starts or ends. */
static void set_mode(struct flash_cfi *f, enum flash_cfi_mode mode)
{
	bool was_array = f->mode == FLASH_CFI_ARRAY, is_array = mode == FLASH_CFI_ARRAY;
	f->mode = mode;
	if (was_array != is_array && f->ops.array_mode)
		f->ops.array_mode(f->ops.ctx, is_array);
}

/* Lock held. A broken command sequence: error bits, status mode, nothing pending. */
static void seq_error(struct flash_cfi *f, uint64_t offset, uint8_t cmd, const char *why)
{
	f->status |= CFI_SR_READY | CFI_SR_SEQ_ERR;
	f->pending = FLASH_CFI_NONE;
	set_mode(f, FLASH_CFI_STATUS);
	if (guest_error(f))
		log_warn("%s: %s (command 0x%02x at offset 0x%llx): status error", f->name, why, cmd,
			 (unsigned long long)offset);
}

uint8_t flash_cfi_query_byte(const struct flash_cfi *f, uint64_t index)
{
	uint64_t blocks = f->size / FLASH_CFI_BLOCK_SIZE;
	uint64_t devices = FLASH_CFI_BANK_WIDTH / FLASH_CFI_DEVICE_WIDTH;
	uint64_t dev_block = FLASH_CFI_BLOCK_SIZE / devices, dev_size = f->size / devices;
	switch (index) {
	case 0x10:
		return 'Q';
	case 0x11:
		return 'R';
	case 0x12:
		return 'Y';
	case 0x13:
		return 0x01; /* primary command set: Intel/Sharp extended */
	case 0x15:
		return 0x31; /* primary extended table at 0x31 */
	case 0x1b:
		return 0x45; /* Vcc min 4.5 V */
	case 0x1c:
		return 0x55; /* Vcc max 5.5 V */
	case 0x1f:
		return 0x07; /* typical word program time 2^7 us */
	case 0x20:
		return 0x07; /* typical buffer program time 2^7 us */
	case 0x21:
		return 0x0a; /* typical block erase time 2^10 ms */
	case 0x23:
	case 0x24:
	case 0x25:
		return 0x04; /* maximum times: 2^4 x typical */
	case 0x27:
		return (uint8_t)__builtin_ctzll(dev_size); /* device size 2^n bytes */
	case 0x28:
		return 0x02; /* x8/x16 interface */
	case 0x2a:
		return (uint8_t)__builtin_ctz(FLASH_CFI_WRITE_BUFFER / devices); /* write buffer 2^n bytes */
	case 0x2c:
		return 0x01; /* one erase block region */
	case 0x2d:
		return (uint8_t)((blocks - 1) & 0xff);
	case 0x2e:
		return (uint8_t)((blocks - 1) >> 8);
	case 0x2f:
		return (uint8_t)((dev_block >> 8) & 0xff);
	case 0x30:
		return (uint8_t)(dev_block >> 16);
	case 0x31:
		return 'P';
	case 0x32:
		return 'R';
	case 0x33:
		return 'I';
	case 0x34:
		return '1';
	case 0x35:
		return '0';
	case 0x3f:
		return 0x01; /* one protection field */
	default:
		return 0;
	}
}

/* Lock held. The 32-bit bus word at word index w in a command read mode: each x16 device answers. */
static uint32_t mode_word(const struct flash_cfi *f, uint64_t w)
{
	uint32_t dev = 0;
	switch (f->mode) {
	case FLASH_CFI_STATUS:
		dev = f->status;
		break;
	case FLASH_CFI_ID:
		dev = (w & 0xff) == 0 ? FLASH_CFI_MANUFACTURER : (w & 0xff) == 1 ? FLASH_CFI_DEVICE_ID : 0;
		break;
	case FLASH_CFI_QUERY:
		dev = w < CFI_TABLE_LEN ? flash_cfi_query_byte(f, w) : 0;
		break;
	case FLASH_CFI_ARRAY:
		break;
	}
	return dev | dev << 16;
}

uint64_t flash_cfi_read(struct flash_cfi *f, uint64_t offset, unsigned size)
{
	uint64_t v = 0;
	if (size > 8 || offset >= f->size || size > f->size - offset)
		return 0; /* the bus never routes such an access here */
	spin_lock(&f->lock);
	f->trapped_reads++;
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = offset + i;
		uint8_t b = f->mode == FLASH_CFI_ARRAY ? f->storage[o]
						       : (uint8_t)(mode_word(f, o / FLASH_CFI_BANK_WIDTH) >>
								   (8 * (o % FLASH_CFI_BANK_WIDTH)));
		v |= (uint64_t)b << (8 * i);
	}
	spin_unlock(&f->lock);
	return v;
}

/* Lock held. NOR programming clears bits: AND the bytes in, report the change. */
static void program_bytes(struct flash_cfi *f, uint64_t offset, const uint8_t *src, const uint8_t *valid,
			  unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		if (!valid || (valid[i / 8] & (1u << (i % 8))))
			f->storage[offset + i] &= src[i];
	f->programs++;
	if (f->ops.changed)
		f->ops.changed(f->ops.ctx, offset, len);
}

/* Lock held. A program or erase of the read-only bank. */
static void refuse_readonly(struct flash_cfi *f, uint8_t err, uint64_t offset, const char *what)
{
	f->status |= CFI_SR_READY | err | CFI_SR_BLOCK_LOCKED;
	if (guest_error(f))
		log_warn("%s: %s at offset 0x%llx of the read-only bank: status error", f->name, what,
			 (unsigned long long)offset);
}

/* Lock held. First cycle of a command. */
static void command(struct flash_cfi *f, uint64_t offset, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_ARRAY:
	case CMD_READ_ARRAY_0:
	case CMD_AMD_RESET:
		set_mode(f, FLASH_CFI_ARRAY);
		return;
	case CMD_CLEAR_STATUS:
		f->status = CFI_SR_READY;
		set_mode(f, FLASH_CFI_ARRAY);
		return;
	case CMD_READ_STATUS:
		set_mode(f, FLASH_CFI_STATUS);
		return;
	case CMD_READ_ID:
		set_mode(f, FLASH_CFI_ID);
		return;
	case CMD_QUERY:
		set_mode(f, FLASH_CFI_QUERY);
		return;
	case CMD_PROGRAM:
	case CMD_PROGRAM_ALT:
		f->pending = FLASH_CFI_PROGRAM;
		break;
	case CMD_ERASE:
		f->pending = FLASH_CFI_ERASE;
		f->erase_offset = ALIGN_DOWN(offset, FLASH_CFI_BLOCK_SIZE);
		break;
	case CMD_LOCK:
		f->pending = FLASH_CFI_LOCK;
		break;
	case CMD_BUFFERED:
		f->pending = FLASH_CFI_BUF_COUNT;
		break;
	default:
		seq_error(f, offset, cmd, "unknown command");
		return;
	}
	set_mode(f, FLASH_CFI_STATUS);
}

/*
 * Lock held. The count cycle of a buffered program: count + 1 data writes follow, of any width, all
 * inside the write buffer's aligned window that holds the first of them (the command and count go to
 * any address of the block: U-Boot sends them to the block's start). Counting writes rather than
 * bytes, as QEMU's model does, lets firmware that probed the bank as one x16 part (U-Boot) program it.
 */
static void buffer_count(struct flash_cfi *f, uint64_t offset, uint64_t value)
{
	uint64_t writes = (value & 0xffffu) + 1;
	if (writes > FLASH_CFI_WRITE_BUFFER) {
		seq_error(f, offset, (uint8_t)value, "write buffer count larger than the buffer");
		return;
	}
	f->buf_len = 0; /* the first data write sets the window */
	f->buf_writes_left = (uint32_t)writes;
	memset(f->buf_valid, 0, sizeof(f->buf_valid));
	f->pending = FLASH_CFI_BUF_DATA;
}

/* Lock held. One data write of a buffered program. */
static void buffer_data(struct flash_cfi *f, uint64_t offset, unsigned size, uint64_t value)
{
	if (f->buf_len == 0) {
		f->buf_start = ALIGN_DOWN(offset, FLASH_CFI_WRITE_BUFFER);
		f->buf_len = FLASH_CFI_WRITE_BUFFER;
	}
	if (offset < f->buf_start || offset + size > f->buf_start + f->buf_len) {
		seq_error(f, offset, (uint8_t)value, "write buffer data outside the buffer's window");
		return;
	}
	for (unsigned i = 0; i < size; i++) {
		unsigned at = (unsigned)(offset - f->buf_start) + i;
		f->buf[at] = (uint8_t)(value >> (8 * i));
		f->buf_valid[at / 8] |= (uint8_t)(1u << (at % 8));
	}
	if (--f->buf_writes_left == 0)
		f->pending = FLASH_CFI_BUF_CONFIRM;
}

/* Lock held. A write while a multi-cycle command is pending. */
static void next_cycle(struct flash_cfi *f, uint64_t offset, unsigned size, uint64_t value)
{
	uint8_t cmd = (uint8_t)value;
	enum flash_cfi_pending p = f->pending;
	switch (p) {
	case FLASH_CFI_PROGRAM: {
		f->pending = FLASH_CFI_NONE;
		uint8_t bytes[8];
		for (unsigned i = 0; i < size; i++)
			bytes[i] = (uint8_t)(value >> (8 * i));
		if (!f->writable)
			refuse_readonly(f, CFI_SR_PROGRAM_ERR, offset, "word program");
		else
			program_bytes(f, offset, bytes, NULL, size);
		f->status |= CFI_SR_READY;
		return;
	}
	case FLASH_CFI_ERASE:
		f->pending = FLASH_CFI_NONE;
		if (cmd == CMD_READ_ARRAY) {
			set_mode(f, FLASH_CFI_ARRAY);
		} else if (cmd != CMD_CONFIRM) {
			seq_error(f, offset, cmd, "block erase without confirm");
		} else if (!f->writable) {
			refuse_readonly(f, CFI_SR_ERASE_ERR, f->erase_offset, "block erase");
		} else {
			memset(f->storage + f->erase_offset, 0xff, FLASH_CFI_BLOCK_SIZE);
			f->erases++;
			f->status |= CFI_SR_READY;
			if (f->ops.changed)
				f->ops.changed(f->ops.ctx, f->erase_offset, FLASH_CFI_BLOCK_SIZE);
		}
		return;
	case FLASH_CFI_LOCK:
		f->pending = FLASH_CFI_NONE;
		if (cmd == CMD_READ_ARRAY)
			set_mode(f, FLASH_CFI_ARRAY);
		else if (cmd == CMD_CONFIRM || cmd == CMD_LOCK_SET || cmd == CMD_LOCK_DOWN)
			f->status |= CFI_SR_READY; /* locks are not emulated */
		else
			seq_error(f, offset, cmd, "block lock without a lock command");
		return;
	case FLASH_CFI_BUF_COUNT:
		buffer_count(f, offset, value);
		return;
	case FLASH_CFI_BUF_DATA:
		buffer_data(f, offset, size, value);
		return;
	case FLASH_CFI_BUF_CONFIRM:
		f->pending = FLASH_CFI_NONE;
		if (cmd != CMD_CONFIRM)
			seq_error(f, offset, cmd, "write buffer without confirm");
		else if (!f->writable)
			refuse_readonly(f, CFI_SR_PROGRAM_ERR, f->buf_start, "buffered program");
		else
			program_bytes(f, f->buf_start, f->buf, f->buf_valid, f->buf_len);
		f->status |= CFI_SR_READY;
		return;
	case FLASH_CFI_NONE:
		break;
	}
	command(f, offset, cmd);
}

int flash_cfi_write(struct flash_cfi *f, uint64_t offset, unsigned size, uint64_t value)
{
	spin_lock(&f->lock);
	if (size == 8 && offset % 8 == 0 && offset < f->size && f->size - offset >= 8) {
		/* Two bus cycles, low word first, as QEMU's memory core splits it (EDK2's early code stores
		 * a zero doubleword to its flash-resident image: two read-array commands). */
		next_cycle(f, offset, 4, (uint32_t)value);
		next_cycle(f, offset + 4, 4, (uint32_t)(value >> 32));
		spin_unlock(&f->lock);
		return 0;
	}
	if ((size != 1 && size != 2 && size != 4) || offset % size != 0 || offset >= f->size ||
	    size > f->size - offset) {
		bool say = guest_error(f);
		spin_unlock(&f->lock);
		if (say)
			log_warn(
			    "%s: %u-byte write at offset 0x%llx refused (flash takes aligned 1, 2, 4 or 8 "
			    "bytes)",
			    f->name, size, (unsigned long long)offset);
		return -EINVAL;
	}
	next_cycle(f, offset, size, value);
	spin_unlock(&f->lock);
	return 0;
}

int flash_cfi_mmio_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	(void)vcpu;
	acc->value = flash_cfi_read(dev, acc->offset, acc->size);
	return 0;
}

int flash_cfi_mmio_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	(void)vcpu;
	return flash_cfi_write(dev, acc->offset, acc->size, acc->value);
}

void flash_cfi_reset(struct flash_cfi *f)
{
	spin_lock(&f->lock);
	f->pending = FLASH_CFI_NONE;
	f->status = CFI_SR_READY;
	set_mode(f, FLASH_CFI_ARRAY);
	spin_unlock(&f->lock);
}

int flash_cfi_init(struct flash_cfi *f, const char *name, uint8_t *storage, uint64_t size, bool writable,
		   const struct flash_cfi_ops *ops)
{
	if (!storage || size == 0 || size % FLASH_CFI_BLOCK_SIZE != 0 ||
	    size / FLASH_CFI_BLOCK_SIZE > 0x10000)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->storage = storage;
	f->size = size;
	f->writable = writable;
	if (ops)
		f->ops = *ops;
	struct spinlock unlocked = SPINLOCK_INIT;
	f->lock = unlocked;
	f->mode = FLASH_CFI_ARRAY;
	f->status = CFI_SR_READY;
	return 0;
}
