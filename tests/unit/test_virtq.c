/* Unit tests for the split-virtqueue engine: validation at enable, chain walking, used ring, suppression. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "keel/util.h"

#include "vdev/virtio/virtq.h"

#define RAM_IPA	  0x40000000ULL
#define RAM_SIZE  0x40000u
#define GUARD	  0x1000u
#define DESC_IPA  (RAM_IPA + 0x1000)
#define AVAIL_IPA (RAM_IPA + 0x2000)
#define USED_IPA  (RAM_IPA + 0x3000)
#define TBL_IPA	  (RAM_IPA + 0x4000) /* indirect tables */
#define BUF_IPA	  (RAM_IPA + 0x8000)
/* A second, huge range that is only translated, never dereferenced. */
#define HUGE_IPA  0x100000000ULL
#define HUGE_SIZE 0x200000000ULL
#define QSIZE	  16

struct fx {
	uint8_t *alloc, *ram;
	struct guest_mem mem;
	struct virtq vq;
};

static void *gp(struct fx *f, uint64_t ipa)
{
	return f->ram + (ipa - RAM_IPA);
}

static struct virtq_desc *desc(struct fx *f, uint16_t i)
{
	return (struct virtq_desc *)gp(f, DESC_IPA) + i;
}

static struct virtq_desc *tbl(struct fx *f, uint64_t ipa)
{
	return gp(f, ipa);
}

static void set(struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static struct virtq_avail *avail(struct fx *f)
{
	return gp(f, AVAIL_IPA);
}

static struct virtq_used *used(struct fx *f)
{
	return gp(f, USED_IPA);
}

static void publish(struct fx *f, uint16_t head)
{
	struct virtq_avail *a = avail(f);
	a->ring[a->idx % QSIZE] = head;
	a->idx++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->alloc = malloc(RAM_SIZE + 2 * GUARD);
	memset(f->alloc, 0xa5, RAM_SIZE + 2 * GUARD);
	f->ram = f->alloc + GUARD;
	memset(f->ram, 0, RAM_SIZE);
	f->mem.ranges[0] = (struct gmem_range){ipa_init(RAM_IPA), ptr_to_pa(f->ram), RAM_SIZE};
	f->mem.ranges[1] = (struct gmem_range){ipa_init(HUGE_IPA), pa_init(0x100000000000ULL), HUGE_SIZE};
	f->mem.count = 2;
	virtq_init(&f->vq, &f->mem, 128);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	for (unsigned i = 0; i < GUARD; i++) {
		assert_int_equal(f->alloc[i], 0xa5);
		assert_int_equal(f->ram[RAM_SIZE + i], 0xa5);
	}
	free(f->alloc);
	free(f);
	return 0;
}

static int enable_with(struct fx *f, uint32_t num, uint64_t d, uint64_t a, uint64_t u, uint64_t features)
{
	virtq_reset(&f->vq);
	f->vq.num = num;
	f->vq.desc_ipa = d;
	f->vq.avail_ipa = a;
	f->vq.used_ipa = u;
	return virtq_enable(&f->vq, features);
}

static void enable(struct fx *f, uint64_t features)
{
	memset(gp(f, DESC_IPA), 0, 0x3000); /* fresh rings, as a driver allocates them */
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA, AVAIL_IPA, USED_IPA, features), 0);
}

#define IND BIT(VIRTIO_F_INDIRECT_DESC)
#define EVT BIT(VIRTIO_F_EVENT_IDX)

/* --- enable ------------------------------------------------------------------- */

static void test_enable_validates_layout(void **state)
{
	struct fx *f = *state;
	assert_int_equal(enable_with(f, 0, DESC_IPA, AVAIL_IPA, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, 3, DESC_IPA, AVAIL_IPA, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, 256, DESC_IPA, AVAIL_IPA, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, 0x10010, DESC_IPA, AVAIL_IPA, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA + 8, AVAIL_IPA, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA, AVAIL_IPA + 1, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA, AVAIL_IPA, USED_IPA + 2, 0), -EINVAL);
	/* Areas that run past the end of RAM, or start outside it. */
	assert_int_equal(enable_with(f, QSIZE, RAM_IPA + RAM_SIZE - 16 * 8, AVAIL_IPA, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA, RAM_IPA + RAM_SIZE - 6, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA, AVAIL_IPA, RAM_IPA + RAM_SIZE - 8, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, 0, AVAIL_IPA, USED_IPA, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, 0xfffffffffffffff0ULL, AVAIL_IPA, USED_IPA, 0), -EINVAL);
	/* Overlapping areas. */
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA, AVAIL_IPA, AVAIL_IPA + 4, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA, AVAIL_IPA, DESC_IPA + 0x10, 0), -EINVAL);
	assert_int_equal(enable_with(f, QSIZE, DESC_IPA, DESC_IPA + 0x20, USED_IPA, 0), -EINVAL);
	assert_false(f->vq.ready);
	/* Exactly at the end of RAM is fine. */
	assert_int_equal(
	    enable_with(f, QSIZE, DESC_IPA, AVAIL_IPA, RAM_IPA + RAM_SIZE - (6 + 8 * QSIZE) - 2, 0), 0);
	assert_int_equal(enable_with(f, 1, DESC_IPA, AVAIL_IPA, USED_IPA, 0), 0);
	enable(f, 0);
	assert_true(f->vq.ready);
}

/* --- pop --------------------------------------------------------------------- */

static void test_pop_simple_chain(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;
	enable(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_EMPTY);

	set(desc(f, 5), BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 9);
	set(desc(f, 9), BUF_IPA + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set(desc(f, 2), BUF_IPA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(f, 5);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_int_equal(c.head, 5);
	assert_int_equal(c.nbufs, 3);
	assert_int_equal(c.nreadable, 1);
	assert_int_equal(c.readable_len, 16);
	assert_int_equal(c.writable_len, 513);
	assert_ptr_equal(pa_to_ptr(c.bufs[1].pa), gp(f, BUF_IPA + 0x100));
	assert_true(c.bufs[2].writable);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_EMPTY);
}

static void test_pop_ring_errors(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;
	enable(f, 0);
	avail(f)->idx = QSIZE + 1; /* more than a queue's worth ahead */
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_RING_ERROR);
	assert_int_equal(f->vq.last_avail_idx, 0);

	enable(f, 0);
	avail(f)->ring[0] = QSIZE; /* head out of range */
	avail(f)->idx = 1;
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_RING_ERROR);

	/* Exactly a queue's worth is legal. */
	enable(f, 0);
	for (int i = 0; i < QSIZE; i++) {
		set(desc(f, i), BUF_IPA, 1, VIRTQ_DESC_F_WRITE, 0);
		publish(f, i);
	}
	for (int i = 0; i < QSIZE; i++)
		assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_EMPTY);
}

/* A malformed chain: the head is consumed and reported as `want`; returns what pop filled. */
static struct virtq_chain *expect_pop(struct fx *f, uint16_t head, enum virtq_pop_result want)
{
	static struct virtq_chain c;
	uint16_t before = f->vq.last_avail_idx;
	publish(f, head);
	assert_int_equal(virtq_pop(&f->vq, &c), want);
	assert_int_equal(c.head, head);
	assert_int_equal(f->vq.last_avail_idx, (uint16_t)(before + 1));
	assert_non_null(f->vq.error);
	return &c;
}

/* Walked to its end and refused; where an error status can go. */
static void expect_bad(struct fx *f, uint16_t head, bool status_ok, bool any_writable)
{
	struct virtq_chain *c = expect_pop(f, head, VIRTQ_POP_BAD_CHAIN);
	assert_int_equal(c->status_ok, status_ok);
	assert_int_equal(c->any_writable, any_writable);
}

/* Cannot be walked to its end: no status byte to trust. */
static void expect_broken(struct fx *f, uint16_t head)
{
	expect_pop(f, head, VIRTQ_POP_BROKEN_CHAIN);
}

static void test_pop_bad_chains(void **state)
{
	struct fx *f = *state;
	enable(f, 0);
	set(desc(f, 0), BUF_IPA, 16, VIRTQ_DESC_F_NEXT, QSIZE); /* next out of range */
	expect_broken(f, 0);
	set(desc(f, 1), BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 2); /* loop 1 -> 2 -> 1 */
	set(desc(f, 2), BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 1);
	expect_broken(f, 1);
	set(desc(f, 3), BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 3); /* self loop */
	expect_broken(f, 3);
	set(desc(f, 4), BUF_IPA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5); /* readable after writable */
	set(desc(f, 5), BUF_IPA, 16, 0, 0);
	expect_bad(f, 4, false, true);			   /* ends readable: no status byte */
	set(desc(f, 6), RAM_IPA + RAM_SIZE - 8, 16, 0, 0); /* straddles the end of RAM */
	expect_bad(f, 6, false, false);
	set(desc(f, 7), 0x1000, 16, 0, 0); /* not RAM at all */
	expect_bad(f, 7, false, false);
	set(desc(f, 8), 0xfffffffffffffff8ULL, 16, VIRTQ_DESC_F_WRITE, 0); /* wraps, and is the last */
	expect_bad(f, 8, false, true);
	set(desc(f, 9), TBL_IPA, 32, VIRTQ_DESC_F_INDIRECT, 0); /* indirect not negotiated */
	expect_broken(f, 9);
	/* Each byte in a chain of > 4 GiB translates, but the total is refused. */
	for (int i = 0; i < 4; i++)
		set(desc(f, 10 + i), HUGE_IPA + (uint64_t)i * 0x80000000ULL, 0x7fffffff + (i == 3 ? 10 : 0),
		    i < 3 ? VIRTQ_DESC_F_NEXT : 0, 11 + i);
	expect_bad(f, 10, false, false);
	/* The engine never wrote guest memory while rejecting. */
	assert_int_equal(used(f)->idx, 0);
}

/* A refused chain whose last descriptor is a writable buffer in RAM: its last byte takes the status. */
static void test_pop_bad_chain_status_byte(void **state)
{
	struct fx *f = *state;
	enable(f, 0);
	set(desc(f, 0), 0x1000, 16, VIRTQ_DESC_F_NEXT, 1); /* header outside RAM */
	set(desc(f, 1), BUF_IPA + 0x100, 4, VIRTQ_DESC_F_WRITE, 0);
	struct virtq_chain *c = expect_pop(f, 0, VIRTQ_POP_BAD_CHAIN);
	assert_true(c->status_ok);
	assert_true(c->any_writable);
	assert_int_equal(pa_addr(c->status_pa), pa_addr(ptr_to_pa(f->ram)) + (BUF_IPA - RAM_IPA) + 0x100 + 3);
	/* A zero-length descriptor at the end does not hide the status byte before it. */
	set(desc(f, 2), BUF_IPA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	set(desc(f, 3), BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 4); /* readable after writable */
	set(desc(f, 4), BUF_IPA + 0x200, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 5);
	set(desc(f, 5), BUF_IPA, 0, VIRTQ_DESC_F_WRITE, 0);
	c = expect_pop(f, 2, VIRTQ_POP_BAD_CHAIN);
	assert_true(c->status_ok);
	assert_int_equal(pa_addr(c->status_pa), pa_addr(ptr_to_pa(f->ram)) + (BUF_IPA - RAM_IPA) + 0x200);
	assert_int_equal(used(f)->idx, 0);
}

static void test_pop_zero_length_and_huge_range(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;
	enable(f, 0);
	set(desc(f, 0), BUF_IPA, 0, VIRTQ_DESC_F_NEXT, 1); /* skipped */
	set(desc(f, 1), HUGE_IPA + 0x1000, 0x10000000, VIRTQ_DESC_F_NEXT, 2);
	set(desc(f, 2), BUF_IPA, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3); /* skipped */
	set(desc(f, 3), BUF_IPA, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_int_equal(c.nbufs, 2);
	assert_int_equal(c.readable_len, 0x10000000);
	assert_int_equal(pa_addr(c.bufs[0].pa), 0x100000000000ULL + 0x1000);
}

static void test_pop_indirect(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;
	enable(f, IND);

	/* A single indirect descriptor; its own WRITE flag is ignored. */
	struct virtq_desc *t = tbl(f, TBL_IPA);
	set(&t[0], BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 2);
	set(&t[2], BUF_IPA + 0x100, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set(&t[1], BUF_IPA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	set(desc(f, 0), TBL_IPA, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	publish(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_int_equal(c.nbufs, 3);
	assert_int_equal(c.nreadable, 1);
	assert_int_equal(c.writable_len, 4097);

	/* Direct descriptors followed by one indirect (§2.7.5.3.2). */
	set(desc(f, 1), BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 2);
	set(desc(f, 2), TBL_IPA + 0x10 * 2, 16, VIRTQ_DESC_F_INDIRECT, 0); /* table = t[2], t[3]? t[2] only */
	set(&t[2], BUF_IPA + 0x100, 8, VIRTQ_DESC_F_WRITE, 0);
	publish(f, 1);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_int_equal(c.nbufs, 2);
	assert_int_equal(c.readable_len, 16);
	assert_int_equal(c.writable_len, 8);
}

static void test_pop_indirect_bad(void **state)
{
	struct fx *f = *state;
	struct virtq_desc *t = tbl(f, TBL_IPA);
	enable(f, IND);

	set(&t[0], BUF_IPA, 16, 0, 0);
	set(desc(f, 0), TBL_IPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1); /* INDIRECT + NEXT */
	set(desc(f, 1), BUF_IPA, 1, VIRTQ_DESC_F_WRITE, 0);
	expect_broken(f, 0);
	set(desc(f, 2), TBL_IPA, 0, VIRTQ_DESC_F_INDIRECT, 0); /* empty table */
	expect_broken(f, 2);
	set(desc(f, 3), TBL_IPA, 24, VIRTQ_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
	expect_broken(f, 3);

	set(desc(f, 5), TBL_IPA, (VIRTQ_INDIRECT_MAX + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0); /* too long */
	expect_broken(f, 5);
	set(desc(f, 6), RAM_IPA + RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0); /* outside RAM */
	expect_broken(f, 6);
	set(&t[0], TBL_IPA, 16, VIRTQ_DESC_F_INDIRECT, 0); /* nested */
	set(desc(f, 7), TBL_IPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken(f, 7);
	set(&t[0], BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 2); /* next beyond the table (len 2) */
	set(desc(f, 8), TBL_IPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken(f, 8);
	set(&t[0], BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 1); /* loop inside the table */
	set(&t[1], BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 0);
	expect_broken(f, 8);
	/* More buffers than a chain may hold: 2 direct + a full indirect table. */
	for (unsigned i = 0; i < VIRTQ_INDIRECT_MAX; i++)
		set(&t[i], BUF_IPA, 1, i + 1 < VIRTQ_INDIRECT_MAX ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set(desc(f, 9), BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 10);
	set(desc(f, 10), TBL_IPA, VIRTQ_INDIRECT_MAX * 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(f, 9, false, false); /* walked to its end: no writable byte */
	/* A full table alone fits. */
	struct virtq_chain c;
	set(desc(f, 11), TBL_IPA, VIRTQ_INDIRECT_MAX * 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 11);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_int_equal(c.nbufs, VIRTQ_INDIRECT_MAX);
	/* Tables at any alignment are read correctly (the spec sets none). */
	struct virtq_desc *u = (struct virtq_desc *)(void *)((uint8_t *)tbl(f, TBL_IPA) + 4);
	struct virtq_desc two[2] = {{BUF_IPA, 16, VIRTQ_DESC_F_NEXT, 1},
				    {BUF_IPA + 0x40, 3, VIRTQ_DESC_F_WRITE, 0}};
	memcpy(u, two, sizeof(two));
	set(desc(f, 12), TBL_IPA + 4, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 12);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_int_equal(c.nbufs, 2);
	assert_int_equal(c.readable_len, 16);
	assert_int_equal(c.writable_len, 3);
}

/* --- used ring and notification suppression ----------------------------------- */

static void test_push_and_interrupts(void **state)
{
	struct fx *f = *state;
	enable(f, 0);
	assert_int_equal(virtq_push(&f->vq, QSIZE, 1), -EINVAL);
	assert_false(virtq_needs_interrupt(&f->vq)); /* nothing pushed yet */
	assert_int_equal(virtq_push(&f->vq, 3, 77), 0);
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(used(f)->ring[0].id, 3);
	assert_int_equal(used(f)->ring[0].len, 77);
	assert_true(virtq_needs_interrupt(&f->vq));
	assert_false(virtq_needs_interrupt(&f->vq)); /* nothing new */
	avail(f)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	virtq_push(&f->vq, 4, 0);
	assert_false(virtq_needs_interrupt(&f->vq));
	avail(f)->flags = 0;
	virtq_push(&f->vq, 5, 0);
	assert_true(virtq_needs_interrupt(&f->vq));
	/* Wraps around the ring. */
	for (int i = 0; i < QSIZE; i++)
		virtq_push(&f->vq, 1, (uint32_t)i);
	assert_int_equal(used(f)->idx, 3 + QSIZE);
	assert_int_equal(used(f)->ring[(3 + QSIZE - 1) % QSIZE].len, QSIZE - 1);
}

static void test_event_idx(void **state)
{
	struct fx *f = *state;
	uint16_t *used_event = &avail(f)->ring[QSIZE];
	uint16_t *avail_event = (uint16_t *)&used(f)->ring[QSIZE];
	enable(f, EVT);

	avail(f)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT; /* ignored with EVENT_IDX */
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_needs_interrupt(&f->vq)); /* first one always */
	*used_event = 3;			    /* interrupt when the entry at index 3 is used */
	virtq_push(&f->vq, 0, 0);		    /* idx 2 */
	assert_false(virtq_needs_interrupt(&f->vq));
	virtq_push(&f->vq, 0, 0); /* idx 3 */
	assert_false(virtq_needs_interrupt(&f->vq));
	virtq_push(&f->vq, 0, 0); /* idx 4: entry 3 written */
	assert_true(virtq_needs_interrupt(&f->vq));
	/* A batch crossing used_event interrupts once. */
	*used_event = 5;
	virtq_push(&f->vq, 0, 0);
	virtq_push(&f->vq, 0, 0);
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_needs_interrupt(&f->vq));

	/* avail_event: the device asks for a kick at its next slot. */
	struct virtq_chain c;
	set(desc(f, 0), BUF_IPA, 1, 0, 0);
	publish(f, 0);
	publish(f, 0);
	assert_true(virtq_arm_notify(&f->vq)); /* two available */
	assert_int_equal(*avail_event, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_OK);
	assert_false(virtq_arm_notify(&f->vq));
	assert_int_equal(*avail_event, 2);
}

static void test_not_ready_is_inert(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;
	avail(f)->idx = 5;
	assert_int_equal(virtq_pop(&f->vq, &c), VIRTQ_POP_EMPTY);
	assert_int_equal(virtq_push(&f->vq, 0, 0), -EINVAL);
	assert_false(virtq_needs_interrupt(&f->vq));
	assert_false(virtq_arm_notify(&f->vq));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enable_validates_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_simple_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_ring_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_bad_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_zero_length_and_huge_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_bad_chain_status_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_indirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_indirect_bad, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_push_and_interrupts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_ready_is_inert, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
