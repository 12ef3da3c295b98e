/*
 * PCIe ECAM enumeration (see drivers/pci.h). Boot-time only, boot CPU only:
 * no locking. Every value read from the DT or config space is bounded before
 * use; a malformed DT or a device that does not decode gives a log line and is
 * skipped, never a fault.
 */
#include "drivers/pci.h"

#include "core/fdt_util.h"

#include <libfdt.h>
#include <stddef.h>
#include <string.h>

#include "keel/addr.h"
#include "keel/log.h"
#include "keel/util.h"

#define PCI_DEVS_PER_BUS  32
#define PCI_FNS_PER_DEV	  8
#define PCI_ECAM_BUS_SIZE (1ULL << 20)

#define PCI_CFG_HEADER_TYPE 0x0c /* byte 2 of the dword at 0x0c */
#define PCI_HDR_MULTIFN	    0x80u
#define PCI_BAR_IO	    0x1u
#define PCI_BAR_TYPE_MASK   0x6u
#define PCI_BAR_TYPE_64	    0x4u
#define PCI_BAR_PREFETCH    0x8u

/* ranges: phys.hi space code (bits 25:24). */
#define PCI_SPACE_SHIFT 24
#define PCI_SPACE_MEM32 0x2u
#define PCI_SPACE_MEM64 0x3u

#define IMAP_MAX_CELLS 16

struct pci_window {
	uint64_t pci_base; /* address on the bus (what goes in a BAR) */
	uint64_t cpu_base; /* where the CPU sees it */
	uint64_t size;
	uint64_t next; /* next free bus address */
};

struct pci_host {
	const void *fdt;
	int node;
	paddr_t ecam;
	uint64_t ecam_size;
	uint32_t bus_first;
	struct pci_window mem32, mem64;
};

static struct pci_host host;
static struct pci_dev devs[PCI_MAX_DEVS];
static unsigned nr_devs;

/* --- config space ---------------------------------------------------------- */

static volatile uint32_t *cfg_ptr(uint32_t bus, uint32_t dev, uint32_t fn, uint32_t off)
{
	uint64_t o = ((uint64_t)(bus - host.bus_first) << 20) | (dev << 15) | (fn << 12) | (off & 0xffcu);
	return (volatile uint32_t *)pa_to_ptr(pa_add(host.ecam, o));
}

static uint32_t cfg_read(uint32_t bus, uint32_t dev, uint32_t fn, uint32_t off)
{
	return *cfg_ptr(bus, dev, fn, off);
}

static void cfg_write(uint32_t bus, uint32_t dev, uint32_t fn, uint32_t off, uint32_t v)
{
	*cfg_ptr(bus, dev, fn, off) = v;
}

uint32_t pci_cfg_read32(const struct pci_dev *d, uint32_t off)
{
	return cfg_read(d->bus, d->dev, d->fn, off);
}

void pci_cfg_write32(const struct pci_dev *d, uint32_t off, uint32_t val)
{
	cfg_write(d->bus, d->dev, d->fn, off, val);
}

/* Write the command register without touching status (its bits are write-one-to-clear). */
static void cmd_write(uint32_t bus, uint32_t dev, uint32_t fn, uint16_t cmd)
{
	volatile uint16_t *p = (volatile uint16_t *)cfg_ptr(bus, dev, fn, PCI_CFG_COMMAND);
	*p = cmd;
}

static uint16_t cmd_read(uint32_t bus, uint32_t dev, uint32_t fn)
{
	return (uint16_t)cfg_read(bus, dev, fn, PCI_CFG_COMMAND);
}

/* --- device tree ----------------------------------------------------------- */

static uint64_t read_cells(const fdt32_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 32) | fdt32_to_cpu(p[i]);
	return v;
}

static int parse_reg(const void *fdt, int node)
{
	int parent = fdt_parent_offset(fdt, node);
	int ac = fdt_address_cells(fdt, parent);
	int sc = fdt_size_cells(fdt, parent);
	int len;
	const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &len);

	if (reg == NULL || ac < 1 || ac > 2 || sc < 1 || sc > 2 || len < (ac + sc) * 4) {
		log_err("PCIe: host bridge reg is missing or malformed");
		return -1;
	}
	host.ecam = pa_init(read_cells(reg, ac));
	host.ecam_size = read_cells(reg + ac, sc);
	if (host.ecam_size < PCI_ECAM_BUS_SIZE) {
		log_err("PCIe: ECAM window of 0x%llx bytes holds no bus", (unsigned long long)host.ecam_size);
		return -1;
	}
	const fdt32_t *br = fdt_getprop(fdt, node, "bus-range", &len);
	host.bus_first = (br != NULL && len == 8) ? fdt32_to_cpu(br[0]) : 0;
	if (host.bus_first > 255) {
		log_err("PCIe: bus-range starts at %u", host.bus_first);
		return -1;
	}
	return 0;
}

static void parse_ranges(const void *fdt, int node)
{
	int parent = fdt_parent_offset(fdt, node);
	int pac = fdt_address_cells(fdt, parent);
	int sc = fdt_size_cells(fdt, node); /* the bridge's own #size-cells, 2 */
	int len;
	const fdt32_t *r = fdt_getprop(fdt, node, "ranges", &len);
	int entry = 3 + pac + sc;

	if (r == NULL || pac < 1 || pac > 2 || sc < 1 || sc > 2)
		return;
	for (int i = 0; (i + 1) * entry * 4 <= len; i++) {
		const fdt32_t *e = r + i * entry;
		uint32_t space = (fdt32_to_cpu(e[0]) >> PCI_SPACE_SHIFT) & 3u;
		struct pci_window w = {
		    .pci_base = read_cells(e + 1, 2),
		    .cpu_base = read_cells(e + 3, pac),
		    .size = read_cells(e + 3 + pac, sc),
		};
		w.next = w.pci_base;
		if (w.size == 0 || w.pci_base + w.size < w.pci_base || w.cpu_base + w.size < w.cpu_base)
			continue;
		if (space == PCI_SPACE_MEM32 && host.mem32.size == 0 && w.pci_base + w.size <= (1ULL << 32))
			host.mem32 = w;
		else if (space == PCI_SPACE_MEM64 && host.mem64.size == 0)
			host.mem64 = w;
	}
}

/*
 * Resolve INTx: match (unit address, pin) against interrupt-map under
 * interrupt-map-mask, then decode the GIC specifier that follows. Devices on
 * the root bus need no swizzle. Returns an INTID, or 0.
 */
static uint32_t resolve_intx(uint32_t bus, uint32_t dev, uint32_t fn, uint32_t pin)
{
	const void *fdt = host.fdt;
	int len, mlen;
	const fdt32_t *map = fdt_getprop(fdt, host.node, "interrupt-map", &len);
	const fdt32_t *mask = fdt_getprop(fdt, host.node, "interrupt-map-mask", &mlen);
	uint32_t child[4] = {(bus << 16) | (dev << 11) | (fn << 8), 0, 0, pin};
	int n = len / 4;

	if (map == NULL || mask == NULL || mlen != 16)
		return 0;
	for (int i = 0; i < 4; i++)
		child[i] &= fdt32_to_cpu(mask[i]);
	for (int i = 0; i + 5 <= n;) {
		const fdt32_t *e = map + i;
		int parent = fdt_node_offset_by_phandle(fdt, fdt32_to_cpu(e[4]));
		if (parent < 0)
			return 0;
		const fdt32_t *pac_p = fdt_getprop(fdt, parent, "#address-cells", NULL);
		const fdt32_t *pic_p = fdt_getprop(fdt, parent, "#interrupt-cells", NULL);
		uint32_t pac = pac_p ? fdt32_to_cpu(*pac_p) : 0;
		uint32_t pic = pic_p ? fdt32_to_cpu(*pic_p) : 0;
		if (pac > 4 || pic < 1 || pic > 4 || i + 5 + (int)(pac + pic) > n)
			return 0;
		bool match = true;
		for (int k = 0; k < 4; k++)
			if (fdt32_to_cpu(e[k]) != child[k])
				match = false;
		if (match) {
			const fdt32_t *spec = e + 5 + pac;
			if (pic < 2)
				return 0;
			uint32_t type = fdt32_to_cpu(spec[0]), num = fdt32_to_cpu(spec[1]);
			if (type == 0 && num < 988)
				return 32 + num; /* SPI */
			return 0;
		}
		i += 5 + (int)(pac + pic);
	}
	return 0;
}

/* --- BARs ------------------------------------------------------------------ */

static bool window_alloc(struct pci_window *w, uint64_t size, uint64_t *bus_addr)
{
	if (w->size == 0)
		return false;
	uint64_t a = ALIGN_UP(w->next, size);
	if (a < w->next || a + size < a || a + size > w->pci_base + w->size)
		return false;
	*bus_addr = a;
	w->next = a + size;
	return true;
}

/* Size and place every memory BAR of one function (decoding is off). */
static void assign_bars(struct pci_dev *d)
{
	for (unsigned i = 0; i < 6; i++) {
		uint32_t off = PCI_CFG_BAR0 + i * 4;
		uint32_t orig = cfg_read(d->bus, d->dev, d->fn, off);
		if (orig & PCI_BAR_IO)
			continue;
		bool is64 = (orig & PCI_BAR_TYPE_MASK) == PCI_BAR_TYPE_64;
		if (is64 && i == 5)
			break;
		cfg_write(d->bus, d->dev, d->fn, off, 0xffffffffu);
		uint64_t probe = cfg_read(d->bus, d->dev, d->fn, off) & ~0xfull;
		uint32_t hi_orig = 0;
		if (is64) {
			hi_orig = cfg_read(d->bus, d->dev, d->fn, off + 4);
			cfg_write(d->bus, d->dev, d->fn, off + 4, 0xffffffffu);
			probe |= (uint64_t)cfg_read(d->bus, d->dev, d->fn, off + 4) << 32;
		} else {
			probe |= 0xffffffff00000000ull;
		}
		if ((probe & 0xffffffffull) == 0 && !is64) {
			cfg_write(d->bus, d->dev, d->fn, off, orig);
			continue; /* not implemented */
		}
		uint64_t size = ~probe + 1;
		if (probe == 0 || size == 0 || (size & (size - 1)) != 0) {
			cfg_write(d->bus, d->dev, d->fn, off, orig);
			if (is64)
				cfg_write(d->bus, d->dev, d->fn, off + 4, hi_orig);
			if (is64)
				i++;
			continue;
		}
		uint64_t a;
		struct pci_window *w = &host.mem32;
		bool ok = window_alloc(w, size, &a);
		if (!ok && is64) {
			w = &host.mem64;
			ok = window_alloc(w, size, &a);
		}
		if (!ok) {
			log_warn("PCIe %02x:%02x.%x: no room for BAR%u (0x%llx bytes)", d->bus, d->dev, d->fn,
				 i, (unsigned long long)size);
			cfg_write(d->bus, d->dev, d->fn, off, orig);
			if (is64) {
				cfg_write(d->bus, d->dev, d->fn, off + 4, hi_orig);
				i++;
			}
			continue;
		}
		cfg_write(d->bus, d->dev, d->fn, off, (uint32_t)a | (orig & 0xfu));
		if (is64)
			cfg_write(d->bus, d->dev, d->fn, off + 4, (uint32_t)(a >> 32));
		d->bar[i] = pa_init(a - w->pci_base + w->cpu_base);
		d->bar_size[i] = size;
		if (is64)
			i++; /* the upper half is not a BAR of its own */
	}
}

/* --- enumeration ----------------------------------------------------------- */

static void probe_fn(uint32_t bus, uint32_t dev, uint32_t fn)
{
	uint32_t id = cfg_read(bus, dev, fn, PCI_CFG_VENDOR_DEVICE);
	if (nr_devs >= PCI_MAX_DEVS) {
		log_warn("PCIe %02x:%02x.%x: more than %u devices; ignored", bus, dev, fn, PCI_MAX_DEVS);
		return;
	}
	struct pci_dev *d = &devs[nr_devs];
	memset(d, 0, sizeof(*d));
	d->bus = (uint8_t)bus;
	d->dev = (uint8_t)dev;
	d->fn = (uint8_t)fn;
	d->vendor = (uint16_t)id;
	d->device = (uint16_t)(id >> 16);
	d->class_code = cfg_read(bus, dev, fn, PCI_CFG_CLASS_REV) >> 8;
	d->dma_coherent = fdt_dma_coherent(host.fdt, host.node);
	uint32_t hdr = (cfg_read(bus, dev, fn, PCI_CFG_HEADER_TYPE) >> 16) & 0x7fu;

	cmd_write(bus, dev, fn, (uint16_t)(cmd_read(bus, dev, fn) & ~(PCI_CMD_MEM | PCI_CMD_MASTER | 1u)));
	if (hdr == 0) {
		assign_bars(d);
		uint32_t pin = (cfg_read(bus, dev, fn, PCI_CFG_INTERRUPT) >> 8) & 0xffu;
		if (pin >= 1 && pin <= 4)
			d->intid = resolve_intx(bus, dev, fn, pin);
		if (d->intid >= 32)
			cfg_write(bus, dev, fn, PCI_CFG_INTERRUPT,
				  (cfg_read(bus, dev, fn, PCI_CFG_INTERRUPT) & ~0xffu) |
				      ((d->intid - 32) & 0xffu));
	}
	nr_devs++;
	log_info("PCIe %02x:%02x.%x: %04x:%04x class %06x%s intid %u", bus, dev, fn, d->vendor, d->device,
		 d->class_code, hdr == 0 ? "" : " (bridge: not followed)", d->intid);
	for (unsigned i = 0; i < 6; i++)
		if (d->bar_size[i])
			log_info("PCIe %02x:%02x.%x:   BAR%u 0x%llx (0x%llx bytes)", bus, dev, fn, i,
				 (unsigned long long)pa_addr(d->bar[i]), (unsigned long long)d->bar_size[i]);
}

int pci_init(const void *fdt)
{
	int node = fdt_node_offset_by_compatible(fdt, -1, "pci-host-ecam-generic");

	nr_devs = 0;
	memset(&host, 0, sizeof(host));
	if (node < 0)
		return 0; /* no PCIe on this board */
	host.fdt = fdt;
	host.node = node;
	if (parse_reg(fdt, node) != 0)
		return -1;
	parse_ranges(fdt, node);
	if (host.mem32.size == 0 && host.mem64.size == 0) {
		log_err("PCIe: host bridge has no memory window in ranges");
		return -1;
	}
	log_info("PCIe: ECAM at 0x%llx, bus %u, mem32 0x%llx+0x%llx, mem64 0x%llx+0x%llx",
		 (unsigned long long)pa_addr(host.ecam), host.bus_first,
		 (unsigned long long)host.mem32.cpu_base, (unsigned long long)host.mem32.size,
		 (unsigned long long)host.mem64.cpu_base, (unsigned long long)host.mem64.size);

	uint32_t bus = host.bus_first;
	for (uint32_t dev = 0; dev < PCI_DEVS_PER_BUS; dev++) {
		for (uint32_t fn = 0; fn < PCI_FNS_PER_DEV; fn++) {
			uint32_t id = cfg_read(bus, dev, fn, PCI_CFG_VENDOR_DEVICE);
			if ((id & 0xffffu) == 0xffffu || (id & 0xffffu) == 0) {
				if (fn == 0)
					break;
				continue;
			}
			probe_fn(bus, dev, fn);
			if (fn == 0 &&
			    !((cfg_read(bus, dev, 0, PCI_CFG_HEADER_TYPE) >> 16) & PCI_HDR_MULTIFN))
				break;
		}
	}
	return (int)nr_devs;
}

struct pci_dev *pci_find(uint16_t vendor, uint16_t device)
{
	for (unsigned i = 0; i < nr_devs; i++) {
		struct pci_dev *d = &devs[i];
		if (vendor == 0xffff ? (d->class_code >> 8) == device
				     : (d->vendor == vendor && d->device == device))
			return d;
	}
	return NULL;
}

struct pci_dev *pci_find_class(uint32_t class_code, uint32_t mask)
{
	for (unsigned i = 0; i < nr_devs; i++)
		if ((devs[i].class_code & mask) == (class_code & mask))
			return &devs[i];
	return NULL;
}

struct pci_dev *pci_dev_at(unsigned i)
{
	return i < nr_devs ? &devs[i] : NULL;
}

void pci_enable(struct pci_dev *d)
{
	uint16_t cmd = cmd_read(d->bus, d->dev, d->fn);
	cmd = (uint16_t)((cmd | PCI_CMD_MEM | PCI_CMD_MASTER) & ~PCI_CMD_INTX_DISABLE);
	cmd_write(d->bus, d->dev, d->fn, cmd);
}

void pci_disable(struct pci_dev *d)
{
	uint16_t cmd = cmd_read(d->bus, d->dev, d->fn);
	cmd_write(d->bus, d->dev, d->fn, (uint16_t)(cmd & ~(PCI_CMD_MEM | PCI_CMD_MASTER)));
}
