/*
 * GPT partitions: find a partition by name in a disk's GUID partition table
 * and hand out a window onto it (drivers/storage/part.c). Every field read
 * from the disk is hostile: a guest with write access to a shared disk may have
 * written the table, so all of it is checked with overflow-safe arithmetic
 * before any of it is used to address the disk.
 */
#include "drivers/storage/gpt.h"

#include <string.h>

#include "arch/spinlock.h"
#include "drivers/storage/part.h"
#include "drivers/storage/storage.h"
#include "keel/log.h"
#include "keel/util.h"

#define GPT_REVISION	   0x00010000u
#define GPT_HDR_MIN_SIZE   92u
#define GPT_ENTRY_MIN_SIZE 128u

/* Header field offsets (UEFI 2.10, 5.3.2). */
#define H_SIG	      0
#define H_REVISION    8
#define H_SIZE	      12
#define H_CRC	      16
#define H_MY_LBA      24
#define H_ALT_LBA     32
#define H_FIRST_LBA   40
#define H_LAST_LBA    48
#define H_ENTRIES_LBA 72
#define H_NENTRIES    80
#define H_ENTRY_SIZE  84
#define H_ENTRIES_CRC 88

/* Partition entry field offsets (5.3.3). */
#define E_TYPE	    0
#define E_FIRST_LBA 32
#define E_LAST_LBA  40
#define E_NAME	    56

struct gpt_disk {
	struct blkdev *dev;
	uint32_t bs;	  /**< logical block size: GPT LBAs count these */
	uint32_t spb;	  /**< 512-byte sectors per block */
	uint64_t nblocks; /**< >= 4 */
	uint64_t last;	  /**< last LBA: where the backup header normally is */
};

/* A header that passed every check; the values are copies, immune to later changes on disk. */
struct gpt_hdr {
	uint64_t my_lba;
	uint64_t alt_lba;
	uint64_t first_usable;
	uint64_t last_usable;
	uint64_t entries_lba;
	uint64_t array_blocks;
	uint32_t nentries;
	uint32_t entry_size;
	uint32_t entries_crc;
};

/* Boot-time scratch, guarded by gpt_lock. Aligned for DMA by any backend. */
static struct spinlock gpt_lock = SPINLOCK_INIT;
static uint8_t hdr_buf[GPT_MAX_BLOCK_SIZE] __attribute__((aligned(GPT_MAX_BLOCK_SIZE)));
static uint8_t array_buf[GPT_MAX_ARRAY_BYTES] __attribute__((aligned(GPT_MAX_BLOCK_SIZE)));

static const uint32_t crc_table[256] = {
    0x00000000, 0x77073096, 0xee0e612c, 0x990951ba, 0x076dc419, 0x706af48f, 0xe963a535, 0x9e6495a3,
    0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988, 0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91,
    0x1db71064, 0x6ab020f2, 0xf3b97148, 0x84be41de, 0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
    0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec, 0x14015c4f, 0x63066cd9, 0xfa0f3d63, 0x8d080df5,
    0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172, 0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b,
    0x35b5a8fa, 0x42b2986c, 0xdbbbc9d6, 0xacbcf940, 0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
    0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116, 0x21b4f4b5, 0x56b3c423, 0xcfba9599, 0xb8bda50f,
    0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924, 0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d,
    0x76dc4190, 0x01db7106, 0x98d220bc, 0xefd5102a, 0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
    0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818, 0x7f6a0dbb, 0x086d3d2d, 0x91646c97, 0xe6635c01,
    0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e, 0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457,
    0x65b0d9c6, 0x12b7e950, 0x8bbeb8ea, 0xfcb9887c, 0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
    0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2, 0x4adfa541, 0x3dd895d7, 0xa4d1c46d, 0xd3d6f4fb,
    0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0, 0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9,
    0x5005713c, 0x270241aa, 0xbe0b1010, 0xc90c2086, 0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
    0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4, 0x59b33d17, 0x2eb40d81, 0xb7bd5c3b, 0xc0ba6cad,
    0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a, 0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683,
    0xe3630b12, 0x94643b84, 0x0d6d6a3e, 0x7a6a5aa8, 0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
    0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe, 0xf762575d, 0x806567cb, 0x196c3671, 0x6e6b06e7,
    0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc, 0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5,
    0xd6d6a3e8, 0xa1d1937e, 0x38d8c2c4, 0x4fdff252, 0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
    0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60, 0xdf60efc3, 0xa867df55, 0x316e8eef, 0x4669be79,
    0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236, 0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f,
    0xc5ba3bbe, 0xb2bd0b28, 0x2bb45a92, 0x5cb36a04, 0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
    0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a, 0x9c0906a9, 0xeb0e363f, 0x72076785, 0x05005713,
    0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38, 0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21,
    0x86d3d2d4, 0xf1d4e242, 0x68ddb3f8, 0x1fda836e, 0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
    0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c, 0x8f659eff, 0xf862ae69, 0x616bffd3, 0x166ccf45,
    0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2, 0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db,
    0xaed16a4a, 0xd9d65adc, 0x40df0b66, 0x37d83bf0, 0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
    0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6, 0xbad03605, 0xcdd70693, 0x54de5729, 0x23d967bf,
    0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94, 0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d,
};

uint32_t gpt_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len-- > 0)
		crc = crc_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
	return ~crc;
}

/* Read blocks [lba, lba + n) in pieces the device accepts. */
static int read_blocks(const struct gpt_disk *d, uint64_t lba, uint64_t n, uint8_t *buf)
{
	const struct blkdev *dev = d->dev;
	uint64_t per_read =
	    MIN((uint64_t)dev->max_seg_size, (uint64_t)dev->max_sectors * BLK_SECTOR_SIZE) / d->bs;

	if (per_read == 0 || !range_within(lba, n, 0, d->nblocks))
		return BLK_EINVAL;
	while (n > 0) {
		uint64_t k = MIN(n, per_read);
		/* k * bs <= max_seg_size, a uint32_t; lba + k <= nblocks, so lba * spb < nsectors. */
		int rc =
		    blkdev_read_sync(d->dev, lba * d->spb, buf, (uint32_t)(k * d->bs), GPT_READ_TIMEOUT_US);
		if (rc != 0)
			return rc;
		lba += k;
		n -= k;
		buf += k * d->bs;
	}
	return 0;
}

static bool in_usable(const struct gpt_hdr *h, uint64_t lba)
{
	return lba >= h->first_usable && lba <= h->last_usable;
}

/* Check the header in hdr_buf, read from lba; fill h. NULL when good, else why not. */
static const char *parse_header(const struct gpt_disk *d, uint64_t lba, struct gpt_hdr *h)
{
	static const uint8_t zero_crc[4];
	const uint8_t *b = hdr_buf;

	if (memcmp(b + H_SIG, "EFI PART", 8) != 0)
		return "no GPT signature";
	if (get_le32(b + H_REVISION) != GPT_REVISION)
		return "unknown revision";
	uint32_t size = get_le32(b + H_SIZE);
	if (size < GPT_HDR_MIN_SIZE || size > d->bs)
		return "bad header size";
	/* The CRC covers header_size bytes with the CRC field taken as zero. */
	uint32_t crc = gpt_crc32(0, b, H_CRC);
	crc = gpt_crc32(crc, zero_crc, sizeof(zero_crc));
	crc = gpt_crc32(crc, b + H_CRC + 4, size - (H_CRC + 4));
	if (crc != get_le32(b + H_CRC))
		return "header CRC mismatch";

	h->my_lba = get_le64(b + H_MY_LBA);
	h->alt_lba = get_le64(b + H_ALT_LBA);
	h->first_usable = get_le64(b + H_FIRST_LBA);
	h->last_usable = get_le64(b + H_LAST_LBA);
	h->entries_lba = get_le64(b + H_ENTRIES_LBA);
	h->nentries = get_le32(b + H_NENTRIES);
	h->entry_size = get_le32(b + H_ENTRY_SIZE);
	h->entries_crc = get_le32(b + H_ENTRIES_CRC);

	if (h->my_lba != lba)
		return "header LBA field does not match its location";
	/* No partition may cover the protective MBR, the primary header or the last LBA (backup header). */
	if (h->first_usable > h->last_usable || h->first_usable < 2 || h->last_usable >= d->last)
		return "bad usable LBA range";
	if (in_usable(h, h->my_lba) || in_usable(h, h->alt_lba))
		return "usable LBA range covers a header";
	if (h->nentries == 0 || h->nentries > GPT_MAX_ENTRIES)
		return "bad partition entry count";
	if (h->entry_size < GPT_ENTRY_MIN_SIZE || h->entry_size % 8 != 0)
		return "bad partition entry size";
	uint64_t bytes = (uint64_t)h->nentries * h->entry_size; /* <= 1024 * 4 GiB: no overflow */
	if (bytes > GPT_MAX_ARRAY_BYTES)
		return "partition entry array too large";
	h->array_blocks = (bytes + d->bs - 1) / d->bs;
	/* The array lies in [2, last), clear of this header and of every partition. */
	if (!range_within(h->entries_lba, h->array_blocks, 2, d->last - 2) ||
	    ranges_overlap(h->entries_lba, h->array_blocks, h->my_lba, 1) ||
	    ranges_overlap(h->entries_lba, h->array_blocks, h->first_usable,
			   h->last_usable - h->first_usable + 1))
		return "partition entry array outside the disk or overlapping the header or partitions";
	return NULL;
}

/*
 * Read and check the header at lba and its entry array (into array_buf). NULL when both are good, else why
 * not; *hdr_ok says whether the header itself was good (its alternate LBA can then be trusted).
 */
static const char *load_table(const struct gpt_disk *d, uint64_t lba, struct gpt_hdr *h, bool *hdr_ok)
{
	*hdr_ok = false;
	if (read_blocks(d, lba, 1, hdr_buf) != 0)
		return "header read failed";
	const char *why = parse_header(d, lba, h);
	if (why != NULL)
		return why;
	*hdr_ok = true;
	if (read_blocks(d, h->entries_lba, h->array_blocks, array_buf) != 0)
		return "partition entry array read failed";
	if (gpt_crc32(0, array_buf, (size_t)h->nentries * h->entry_size) != h->entries_crc)
		return "partition entry array CRC mismatch";
	return NULL;
}

static bool entry_used(const uint8_t *e)
{
	for (unsigned i = 0; i < 16; i++)
		if (e[E_TYPE + i] != 0)
			return true;
	return false;
}

/* name is 1..36 ASCII characters; the entry's name is 36 UTF-16LE units, NUL-terminated when shorter. */
static bool entry_name_is(const uint8_t *e, const char *name, size_t len)
{
	const uint8_t *u = e + E_NAME;

	for (size_t i = 0; i < GPT_NAME_UNITS; i++) {
		uint16_t have = (uint16_t)(u[2 * i] | u[2 * i + 1] << 8);
		uint16_t want = i < len ? (uint8_t)name[i] : 0;
		if (have != want)
			return false;
		if (want == 0)
			break;
	}
	return true;
}

/* Find name in the checked array_buf described by h and open its window. */
static struct blkdev *open_entry(const struct gpt_disk *d, const struct gpt_hdr *h, const char *name,
				 size_t len)
{
	const char *dn = d->dev->name;
	const uint8_t *match = NULL;
	unsigned nmatch = 0;

	for (uint32_t i = 0; i < h->nentries; i++) {
		const uint8_t *e = array_buf + (size_t)i * h->entry_size;
		if (entry_used(e) && entry_name_is(e, name, len)) {
			match = e;
			nmatch++;
		}
	}
	if (nmatch == 0) {
		log_err("storage: %s: no GPT partition is named \"%s\"", dn, name);
		return NULL;
	}
	if (nmatch > 1) {
		log_err("storage: %s: %u GPT partitions are named \"%s\"; refusing an ambiguous name", dn,
			nmatch, name);
		return NULL;
	}

	uint64_t first = get_le64(match + E_FIRST_LBA);
	uint64_t last = get_le64(match + E_LAST_LBA);
	if (first > last || first < h->first_usable || last > h->last_usable) {
		log_err("storage: %s: GPT partition \"%s\" (LBA %llu..%llu) is outside the usable LBAs "
			"%llu..%llu",
			dn, name, (unsigned long long)first, (unsigned long long)last,
			(unsigned long long)h->first_usable, (unsigned long long)h->last_usable);
		return NULL;
	}
	/* Overlapping partitions would let two VMs reach the same sectors. */
	for (uint32_t i = 0; i < h->nentries; i++) {
		const uint8_t *e = array_buf + (size_t)i * h->entry_size;
		if (e == match || !entry_used(e))
			continue;
		uint64_t f = get_le64(e + E_FIRST_LBA);
		uint64_t l = get_le64(e + E_LAST_LBA);
		if (f <= l && f <= last && first <= l) {
			log_err("storage: %s: GPT partition \"%s\" overlaps partition entry %u", dn, name, i);
			return NULL;
		}
	}

	/* last <= last_usable < nblocks, and nblocks * spb <= nsectors: no overflow. */
	uint64_t start = first * d->spb;
	uint64_t nsectors = (last - first + 1) * d->spb;
	struct blkdev *part = part_open(d->dev, name, start, nsectors);
	if (part != NULL)
		log_info("storage: %s: GPT partition \"%s\" is LBAs %llu..%llu (%llu sectors of 512 bytes)",
			 dn, name, (unsigned long long)first, (unsigned long long)last,
			 (unsigned long long)nsectors);
	return part;
}

static struct blkdev *open_locked(const struct gpt_disk *d, const char *name, size_t len)
{
	const char *dn = d->dev->name;
	struct gpt_hdr h = {0};
	bool hdr_ok;

	const char *why = load_table(d, 1, &h, &hdr_ok);
	if (why != NULL) {
		log_warn("storage: %s: primary GPT is unusable (%s); trying the backup", dn, why);
		/* A primary header that passed its CRC says where its backup is (not the end of an enlarged
		 * disk). */
		bool prim_ok = hdr_ok;
		struct gpt_hdr prim = h;
		uint64_t cand[2] = {d->last, d->last};
		if (prim_ok && prim.alt_lba >= 2 && prim.alt_lba < d->last)
			cand[0] = prim.alt_lba;
		for (unsigned i = 0; i < ARRAY_SIZE(cand); i++) {
			if (i > 0 && cand[i] == cand[i - 1])
				continue;
			why = load_table(d, cand[i], &h, &hdr_ok);
			/*
			 * The intact primary header's array must stay out of reach: a guest able to write it
			 * could forge entries matching the header's CRC and own the primary GPT next boot.
			 */
			if (why == NULL && prim_ok &&
			    ranges_overlap(prim.entries_lba, prim.array_blocks, h.first_usable,
					   h.last_usable - h.first_usable + 1))
				why = "usable LBA range covers the primary partition entry array";
			if (why == NULL) {
				log_warn("storage: %s: using the backup GPT at LBA %llu", dn,
					 (unsigned long long)cand[i]);
				break;
			}
			log_warn("storage: %s: backup GPT at LBA %llu is unusable (%s)", dn,
				 (unsigned long long)cand[i], why);
		}
		if (why != NULL) {
			log_err("storage: %s: no valid GPT; cannot open partition \"%s\"", dn, name);
			return NULL;
		}
	}
	return open_entry(d, &h, name, len);
}

struct blkdev *gpt_open_partition(struct blkdev *dev, const char *name)
{
	size_t len = strnlen(name, GPT_NAME_UNITS + 1);

	if (len == 0 || len > GPT_NAME_UNITS) {
		log_err("storage: %s: partition name \"%.40s\" must be 1..%u characters", dev->name, name,
			GPT_NAME_UNITS);
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		if ((uint8_t)name[i] >= 0x80) {
			log_err("storage: %s: partition name \"%s\" is not ASCII", dev->name, name);
			return NULL;
		}
	}

	uint32_t bs = dev->block_size;
	if (bs < BLK_SECTOR_SIZE || bs > GPT_MAX_BLOCK_SIZE || (bs & (bs - 1)) != 0) {
		log_err("storage: %s: block size %u is not supported for GPT", dev->name, bs);
		return NULL;
	}
	struct gpt_disk d = {.dev = dev, .bs = bs, .spb = bs / BLK_SECTOR_SIZE};
	d.nblocks = dev->nsectors / d.spb;
	if (d.nblocks < 4) {
		log_err("storage: %s: too small for a GPT", dev->name);
		return NULL;
	}
	d.last = d.nblocks - 1;

	spin_lock(&gpt_lock);
	struct blkdev *part = open_locked(&d, name, len);
	spin_unlock(&gpt_lock);
	return part;
}

void gpt_close_partition(struct blkdev *part)
{
	part_close(part);
}
