/* Minimal read-only flattened device tree reader. Every offset and length is bounds-checked
 * against the blob: the DTB comes from the hypervisor and is not trusted to be well formed.
 * Node handles are offsets of FDT_BEGIN_NODE tokens in the structure block; < 0 means none. */
#ifndef GUEST_FDT_H
#define GUEST_FDT_H

#include <stdint.h>

/** Validates the header (magic, version >= 16, blocks inside totalsize <= max_size). 0 or < 0. */
int fdt_init(const void *blob, uint32_t max_size);
uint32_t fdt_total_size(void);
int fdt_root(void);
/** Node at path ("/chosen", "/memory"): a component without '@' also matches "name@unit". */
int fdt_path(const char *path);
/** Next node (in tree order) after `node` (or from the root if node < 0) with `compat`. */
int fdt_find_compatible(int node, const char *compat);
/** Next node after `node` (or from the root) whose device_type is `type`. */
int fdt_find_device_type(int node, const char *type);
const char *fdt_node_name(int node);
int fdt_parent(int node);
const void *fdt_getprop(int node, const char *name, uint32_t *len);
/** NUL-terminated string property or NULL. */
const char *fdt_getprop_str(int node, const char *name);
int fdt_getprop_u32(int node, const char *name, uint32_t *out);
int fdt_is_compatible(int node, const char *compat);
/** Entry `idx` of "reg", decoded with the parent's #address-cells/#size-cells. 0 or < 0. */
int fdt_reg(int node, int idx, uint64_t *addr, uint64_t *size);
/** Cell `idx` of a u32-array property; 0 or < 0. */
int fdt_prop_cell(int node, const char *name, uint32_t idx, uint32_t *out);
uint32_t fdt_be32(const void *p);

#endif
