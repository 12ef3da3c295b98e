/* Flattened device tree (DTSpec v0.3) structure-block walker. Reads are byte-wise (the blob
 * sits in Device memory with the MMU off, and nothing here relies on its alignment). */
#include <stddef.h>
#include <stdint.h>

#include "fdt.h"
#include "lib.h"

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP	       4
#define FDT_END	       9
#define FDT_MAX_DEPTH  32

static const uint8_t *blob;
static uint32_t total, sstruct, struct_size, sstrings, strings_size;

uint32_t fdt_be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint32_t hdr(int i)
{
	return fdt_be32(blob + 4 * i);
}

int fdt_init(const void *b, uint32_t max_size)
{
	blob = b;
	if (!b || hdr(0) != FDT_MAGIC)
		return -1;
	total = hdr(1);
	sstruct = hdr(2);
	sstrings = hdr(3);
	strings_size = hdr(8);
	struct_size = hdr(9);
	if (total < 40 || total > max_size || hdr(5) < 16)
		return -2;
	if (sstruct > total || struct_size > total - sstruct || sstrings > total ||
	    strings_size > total - sstrings)
		return -3;
	if (hdr(5) < 17) /* no size_dt_struct before v17: bound by totalsize */
		struct_size = total - sstruct;
	return 0;
}

uint32_t fdt_total_size(void)
{
	return total;
}

static uint32_t tag_at(int off)
{
	if (off < 0 || (uint32_t)off > struct_size - 4 || struct_size < 4)
		return FDT_END;
	return fdt_be32(blob + sstruct + off);
}

/* Offset of the token after the one at `off`, or -1 if it runs off the block. */
static int next_tag(int off)
{
	uint32_t tag = tag_at(off), p = (uint32_t)off + 4;

	switch (tag) {
	case FDT_BEGIN_NODE: {
		uint32_t n = (uint32_t)strnlen((const char *)blob + sstruct + p, struct_size - p);

		if (p + n >= struct_size)
			return -1;
		p += n + 1;
		break;
	}
	case FDT_PROP: {
		if (p + 8 > struct_size)
			return -1;
		uint32_t len = fdt_be32(blob + sstruct + p);

		if (len > struct_size - p - 8)
			return -1;
		p += 8 + len;
		break;
	}
	case FDT_END_NODE:
	case FDT_NOP:
		break;
	default:
		return -1;
	}
	p = (p + 3) & ~3u;
	return p <= struct_size - 4 ? (int)p : -1;
}

int fdt_root(void)
{
	int off = 0;

	while (tag_at(off) == FDT_NOP)
		off = next_tag(off);
	return tag_at(off) == FDT_BEGIN_NODE ? off : -1;
}

/* Next BEGIN_NODE after `node` in tree order, adjusting *depth. */
static int next_node(int node, int *depth)
{
	int off = next_tag(node);

	while (off >= 0) {
		switch (tag_at(off)) {
		case FDT_BEGIN_NODE:
			++*depth;
			return off;
		case FDT_END_NODE:
			if (--*depth < 0)
				return -1;
			break;
		case FDT_PROP:
		case FDT_NOP:
			break;
		default:
			return -1;
		}
		off = next_tag(off);
	}
	return -1;
}

const char *fdt_node_name(int node)
{
	if (tag_at(node) != FDT_BEGIN_NODE)
		return "";
	return (const char *)blob + sstruct + node + 4;
}

const void *fdt_getprop(int node, const char *name, uint32_t *len)
{
	if (tag_at(node) != FDT_BEGIN_NODE)
		return NULL;
	for (int off = next_tag(node); off >= 0; off = next_tag(off)) {
		uint32_t tag = tag_at(off);

		if (tag == FDT_NOP)
			continue;
		if (tag != FDT_PROP)
			break;
		uint32_t plen = fdt_be32(blob + sstruct + off + 4);
		uint32_t nameoff = fdt_be32(blob + sstruct + off + 8);

		if (nameoff >= strings_size)
			continue;
		const char *pname = (const char *)blob + sstrings + nameoff;
		size_t maxn = strings_size - nameoff;

		if (strnlen(pname, maxn) == maxn)
			continue;
		if (!strcmp(pname, name)) {
			if (len)
				*len = plen;
			return blob + sstruct + off + 12;
		}
	}
	return NULL;
}

const char *fdt_getprop_str(int node, const char *name)
{
	uint32_t len;
	const char *s = fdt_getprop(node, name, &len);

	if (!s || !len || s[len - 1] != '\0')
		return NULL;
	return s;
}

int fdt_prop_cell(int node, const char *name, uint32_t idx, uint32_t *out)
{
	uint32_t len;
	const uint8_t *p = fdt_getprop(node, name, &len);

	if (!p || idx >= len / 4)
		return -1;
	*out = fdt_be32(p + 4 * idx);
	return 0;
}

int fdt_getprop_u32(int node, const char *name, uint32_t *out)
{
	return fdt_prop_cell(node, name, 0, out);
}

int fdt_is_compatible(int node, const char *compat)
{
	uint32_t len;
	const char *p = fdt_getprop(node, "compatible", &len);

	while (p && len) {
		uint32_t n = (uint32_t)strnlen(p, len);

		if (n == len)
			return 0; /* unterminated */
		if (!strcmp(p, compat))
			return 1;
		p += n + 1;
		len -= n + 1;
	}
	return 0;
}

int fdt_find_compatible(int node, const char *compat)
{
	int depth = 0;

	if (node < 0) {
		node = fdt_root();
		if (node >= 0 && fdt_is_compatible(node, compat))
			return node;
	}
	/* The depth only matters relative to `node`; start high so we run to the end. */
	depth = FDT_MAX_DEPTH * 1024;
	while (node >= 0) {
		node = next_node(node, &depth);
		if (node >= 0 && fdt_is_compatible(node, compat))
			return node;
	}
	return -1;
}

int fdt_find_device_type(int node, const char *type)
{
	int depth = FDT_MAX_DEPTH * 1024;

	if (node < 0)
		node = fdt_root();
	while (node >= 0) {
		node = next_node(node, &depth);
		const char *t = node >= 0 ? fdt_getprop_str(node, "device_type") : NULL;

		if (t && !strcmp(t, type))
			return node;
	}
	return -1;
}

/* A path component without '@' matches "name" and "name@unit"; with '@' it must match exactly. */
static int name_matches(const char *node_name, const char *comp, size_t len)
{
	int has_unit = 0;

	for (size_t i = 0; i < len; i++)
		has_unit |= comp[i] == '@';
	if (strncmp(node_name, comp, len))
		return 0;
	return node_name[len] == '\0' || (node_name[len] == '@' && !has_unit);
}

int fdt_path(const char *path)
{
	int node = fdt_root();

	if (*path != '/')
		return -1;
	while (node >= 0) {
		while (*path == '/')
			path++;
		if (!*path)
			return node;
		size_t len = 0;

		while (path[len] && path[len] != '/')
			len++;
		/* Scan the direct children (depth 1 relative to node). */
		int depth = 0, child = node, found = -1;

		while ((child = next_node(child, &depth)) >= 0 && depth >= 1) {
			if (depth == 1 && name_matches(fdt_node_name(child), path, len)) {
				found = child;
				break;
			}
		}
		node = found;
		path += len;
	}
	return -1;
}

int fdt_parent(int node)
{
	int stack[FDT_MAX_DEPTH], depth = 0, off = fdt_root();

	if (off < 0 || node == off)
		return -1;
	stack[0] = off;
	while ((off = next_node(off, &depth)) >= 0) {
		if (depth >= FDT_MAX_DEPTH)
			return -1;
		stack[depth] = off;
		if (off == node)
			return depth >= 1 ? stack[depth - 1] : -1;
	}
	return -1;
}

static uint64_t read_cells(const uint8_t *p, uint32_t cells)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < cells; i++)
		v = v << 32 | fdt_be32(p + 4 * i);
	return v;
}

int fdt_reg(int node, int idx, uint64_t *addr, uint64_t *size)
{
	int parent = fdt_parent(node);
	uint32_t ac = 2, sc = 1, len;
	const uint8_t *p;

	if (parent < 0)
		return -1;
	fdt_getprop_u32(parent, "#address-cells", &ac);
	fdt_getprop_u32(parent, "#size-cells", &sc);
	if (ac < 1 || ac > 2 || sc > 2 || idx < 0)
		return -1;
	p = fdt_getprop(node, "reg", &len);
	uint32_t entry = 4 * (ac + sc);

	if (!p || (uint32_t)idx >= len / entry)
		return -1;
	p += entry * (uint32_t)idx;
	*addr = read_cells(p, ac);
	*size = read_cells(p + 4 * ac, sc);
	return 0;
}
