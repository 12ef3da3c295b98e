/* A firmware VM's CFI flash banks (see vdev/vdev_flash.h). */
#include "vdev/vdev_flash.h"

#include <errno.h>
#include <stdio.h>

#include "arch/cache.h"
#include "core/config.h"
#include "core/vm.h"
#include "core/vm_layout.h"
#include "keel/addr.h"
#include "vdev/flash_cfi.h"

struct vdev_flash {
	struct flash_cfi cfi;
	struct vm *vm;
	ipa_t base;
	paddr_t pa;
	uint64_t map_errors;
};

static struct vdev_flash banks[CONFIG_MAX_VMS * 2];
static unsigned nr_banks;

/* Flash lock held, on one of the VM's vCPUs (a trapped store) or at its reset. */
static void bank_array_mode(void *ctx, bool on)
{
	struct vdev_flash *b = ctx;
	int rc = on ? vm_map_rom(b->vm, b->base, b->pa, GUEST_FLASH_BANK)
		    : vm_unmap_rom(b->vm, b->base, GUEST_FLASH_BANK);
	if (rc != 0)
		b->map_errors++; /* out of table pages: reads keep trapping, which still works */
}

/* The guest may read the bank with its caches off: what keel wrote must be in memory. */
static void bank_changed(void *ctx, uint64_t offset, uint64_t len)
{
	struct vdev_flash *b = ctx;
	dcache_clean_range(b->cfi.storage + offset, len);
}

static void bank_reset(void *dev)
{
	struct vdev_flash *b = dev;
	flash_cfi_reset(&b->cfi);
}

static void bank_report(void *dev, const struct vm *vm)
{
	struct vdev_flash *b = dev;
	(void)vm;
	log_info("%s: %llu programs, %llu block erases, %llu trapped reads, %llu guest errors, "
		 "%llu mapping failures",
		 b->cfi.name, (unsigned long long)b->cfi.programs, (unsigned long long)b->cfi.erases,
		 (unsigned long long)b->cfi.trapped_reads, (unsigned long long)b->cfi.guest_errors,
		 (unsigned long long)b->map_errors);
}

static const struct vm_dev_ops bank_ops = {.reset = bank_reset, .report = bank_report};

static int attach_bank(struct vm *vm, unsigned index)
{
	if (nr_banks >= sizeof(banks) / sizeof(banks[0]))
		return -ENOSPC;
	struct vdev_flash *b = &banks[nr_banks++];
	b->vm = vm;
	b->base = ipa_init(GUEST_FLASH_BASE + index * GUEST_FLASH_BANK);
	b->pa = pa_init(pa_addr(vm->flash_pa) + index * GUEST_FLASH_BANK);
	char name[48];
	snprintf(name, sizeof(name), "VM %s: flash%u", vm->name, index);
	struct flash_cfi_ops ops = {.array_mode = bank_array_mode, .changed = bank_changed, .ctx = b};
	int rc = flash_cfi_init(&b->cfi, name, pa_to_ptr(b->pa), GUEST_FLASH_BANK, index == 1, &ops);
	if (rc)
		return rc;
	struct mmio_region r = {
	    .base = b->base,
	    .size = GUEST_FLASH_BANK,
	    .read = flash_cfi_mmio_read,
	    .write = flash_cfi_mmio_write,
	    .dev = &b->cfi,
	    .name = index ? "flash1" : "flash0",
	};
	rc = mmio_bus_register(&vm->mmio, &r);
	if (rc)
		return rc;
	if (!vm_add_device(vm, NULL, &bank_ops, b))
		return -ENOSPC;
	return vm_map_rom(vm, b->base, b->pa, GUEST_FLASH_BANK); /* read-array mode at power-on */
}

int vdev_attach_flash(struct vm *vm)
{
	if (vm->cfg->firmware.size == 0)
		return 0;
	int rc = attach_bank(vm, 0);
	return rc ? rc : attach_bank(vm, 1);
}
