/* VM construction and (re)loading. */
#include "core/vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/barrier.h"
#include "arch/cache.h"
#include "arch/stage2.h"
#include "arch/string.h"
#include "arch/timer.h"
#include "core/entropy.h"
#include "core/page_alloc.h"
#include "core/platform.h"
#include "core/vcpu.h"
#include "core/vgic.h"
#include "core/vm_lifecycle.h"
#include "core/vm_layout.h"
#include "keel/addr.h"
#include "keel/util.h"

#define IMAGE_MAGIC 0x644d5241u /* "ARM\x64" */

static void *s2_page(void *ctx)
{
	(void)ctx;
	return page_alloc();
}

static const struct stage2_alloc s2_alloc = {.page = s2_page};

bool vm_add_device(struct vm *vm, const struct guest_fdt_dev *node, const struct vm_dev_ops *ops, void *dev)
{
	if (vm->nr_fdt_devs >= GUEST_FDT_MAX_DEVS || vm->nr_dev_hooks >= VM_MAX_DEV_HOOKS)
		return false;
	if (node)
		vm->fdt_devs[vm->nr_fdt_devs++] = *node;
	if (ops)
		vm->dev_hooks[vm->nr_dev_hooks++] =
		    (struct vm_dev_hook){ops, dev, node ? node->compatible : NULL, node ? node->base : 0};
	return true;
}

int vm_map_rom(struct vm *vm, ipa_t ipa, paddr_t pa, uint64_t size)
{
	return stage2_map_rom(vm->s2_root, ipa, pa, size, &s2_alloc);
}

int vm_map_shadow(struct vm *vm, ipa_t ipa, const void *page)
{
	return stage2_map_readonly_page(vm->s2_root, ipa, ptr_to_pa(page), &s2_alloc);
}

int vm_unmap_rom(struct vm *vm, ipa_t ipa, uint64_t size)
{
	return stage2_unmap_blocks(vm->s2_root, ipa, size);
}

/* A firmware VM's flash banks, as QEMU virt's -bios leaves them: the image in bank 0, bank 1 erased. */
static int create_flash(struct vm *vm, struct memmap *mm)
{
	const struct vm_config *cfg = vm->cfg;
	if (!memmap_alloc(mm, 2 * GUEST_FLASH_BANK, SZ_2M, &vm->flash_pa)) {
		log_err("%s: firmware: no free 0x%llx bytes of RAM for VM %s's flash banks", cfg->node,
			(unsigned long long)(2 * GUEST_FLASH_BANK), vm->name);
		return -ENOMEM;
	}
	uint8_t *flash = pa_to_ptr(vm->flash_pa);
	zero_ram(flash, GUEST_FLASH_BANK);
	memcpy(flash, pa_to_ptr(cfg->firmware.base), cfg->firmware.size);
	memset(flash + GUEST_FLASH_BANK, 0xff, GUEST_FLASH_BANK);
	/* The firmware starts with its MMU and caches off: it must see this in memory. */
	dcache_clean_range(flash, 2 * GUEST_FLASH_BANK);
	return 0;
}

uint64_t vm_exits(const struct vm *vm)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].exits;
	return n;
}

void vm_report(const struct vm *vm)
{
	uint64_t el2 = 0, guest = 0, timed = 0, exits = vm_exits(vm);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		el2 += vm->vcpus[i].el2_ticks;
		guest += vm->vcpus[i].guest_ticks;
		timed += vm->vcpus[i].timed_exits;
	}
	uint64_t f = timer_freq() / 1000000u ? timer_freq() / 1000000u : 1;
	log_info("VM %s: %llu vCPU exits, %llu resets (%llu stop requests while stopping); keel time per "
		 "exit %llu.%llu us, %llu%% of vCPU "
		 "time (%llu exits timed)",
		 vm->name, (unsigned long long)exits, (unsigned long long)vm->resets,
		 (unsigned long long)vm->stop_races, (unsigned long long)(timed ? el2 / f / timed : 0),
		 (unsigned long long)(timed ? el2 * 10 / f / timed % 10 : 0),
		 (unsigned long long)(el2 + guest ? el2 * 100 / (el2 + guest) : 0),
		 (unsigned long long)timed);
	uint64_t k[VCPU_EXIT_NR] = {0}, tk[VCPU_EXIT_NR] = {0}, ticks[VCPU_EXIT_NR] = {0};
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		for (unsigned j = 0; j < VCPU_EXIT_NR; j++) {
			k[j] += vm->vcpus[i].exit_kinds[j];
			tk[j] += vm->vcpus[i].timed_kinds[j];
			ticks[j] += vm->vcpus[i].el2_ticks_kind[j];
		}
	log_info("VM %s: exits by kind: %llu MMIO, %llu interrupt, %llu WFI/WFE, %llu HVC/SMC, %llu sysreg, "
		 "%llu other",
		 vm->name, (unsigned long long)k[VCPU_EXIT_MMIO], (unsigned long long)k[VCPU_EXIT_IRQ],
		 (unsigned long long)k[VCPU_EXIT_WFX], (unsigned long long)k[VCPU_EXIT_HVC],
		 (unsigned long long)k[VCPU_EXIT_SYSREG], (unsigned long long)k[VCPU_EXIT_OTHER]);
	/* Tenths of a microsecond of keel time per timed exit of each kind. */
	uint64_t t[VCPU_EXIT_NR];
	for (unsigned j = 0; j < VCPU_EXIT_NR; j++)
		t[j] = tk[j] ? ticks[j] * 10 / f / tk[j] : 0;
	log_info(
	    "VM %s: keel time per exit by kind (timed exits): MMIO %llu.%llu us (%llu), interrupt %llu.%llu "
	    "us (%llu), WFI/WFE %llu.%llu us (%llu), HVC/SMC %llu.%llu us (%llu), sysreg %llu.%llu us "
	    "(%llu), other %llu.%llu us (%llu)",
	    vm->name, (unsigned long long)(t[VCPU_EXIT_MMIO] / 10),
	    (unsigned long long)(t[VCPU_EXIT_MMIO] % 10), (unsigned long long)tk[VCPU_EXIT_MMIO],
	    (unsigned long long)(t[VCPU_EXIT_IRQ] / 10), (unsigned long long)(t[VCPU_EXIT_IRQ] % 10),
	    (unsigned long long)tk[VCPU_EXIT_IRQ], (unsigned long long)(t[VCPU_EXIT_WFX] / 10),
	    (unsigned long long)(t[VCPU_EXIT_WFX] % 10), (unsigned long long)tk[VCPU_EXIT_WFX],
	    (unsigned long long)(t[VCPU_EXIT_HVC] / 10), (unsigned long long)(t[VCPU_EXIT_HVC] % 10),
	    (unsigned long long)tk[VCPU_EXIT_HVC], (unsigned long long)(t[VCPU_EXIT_SYSREG] / 10),
	    (unsigned long long)(t[VCPU_EXIT_SYSREG] % 10), (unsigned long long)tk[VCPU_EXIT_SYSREG],
	    (unsigned long long)(t[VCPU_EXIT_OTHER] / 10), (unsigned long long)(t[VCPU_EXIT_OTHER] % 10),
	    (unsigned long long)tk[VCPU_EXIT_OTHER]);
	for (unsigned i = 0; i < vm->nr_dev_hooks; i++)
		if (vm->dev_hooks[i].ops->report)
			vm->dev_hooks[i].ops->report(vm->dev_hooks[i].dev, vm);
}

bool vm_alloc_virtio_slot(struct vm *vm, ipa_t *base, uint32_t *intid)
{
	if (vm->nr_virtio >= GUEST_VIRTIO_MAX)
		return false;
	*base = ipa_init(GUEST_VIRTIO_BASE + GUEST_VIRTIO_STRIDE * vm->nr_virtio);
	*intid = GUEST_VIRTIO_INTID + vm->nr_virtio;
	vm->nr_virtio++;
	return true;
}

int vm_create(struct vm *vm, unsigned id, const struct vm_config *cfg, struct memmap *mm,
	      const struct machine_info *mi)
{
	memset(vm, 0, sizeof(*vm));
	snprintf(vm->name, sizeof(vm->name), "%s", cfg->name);
	vm->id = id;
	vm->vmid = (uint16_t)(id + 1);
	vm->cfg = cfg;
	vm->mi = mi;

	paddr_t ram;
	if (cfg->has_mem_base) {
		ram = cfg->mem_base;
		if (!memmap_reserve(mm, ram, cfg->mem_size))
			return -ENOMEM;
	} else if (!memmap_alloc(mm, cfg->mem_size, SZ_2M, &ram)) {
		log_err("%s: memory: no free 0x%llx bytes of RAM for VM %s", cfg->node,
			(unsigned long long)cfg->mem_size, vm->name);
		return -ENOMEM;
	}
	/* No data from before this VM existed may leak into it. */
	zero_ram(pa_to_ptr(ram), cfg->mem_size);
	vm->mem.ranges[0] = (struct gmem_range){ipa_init(GUEST_RAM_BASE), ram, cfg->mem_size};
	vm->mem.count = 1;

	if (!stage2_create(&vm->s2_root, &s2_alloc) ||
	    stage2_map_ram(vm->s2_root, ipa_init(GUEST_RAM_BASE), ram, cfg->mem_size, &s2_alloc) != 0) {
		log_err("VM %s: out of page-table pages", vm->name);
		return -ENOMEM;
	}

	if (cfg->firmware.size && create_flash(vm, mm) != 0)
		return -ENOMEM;

	vm->nr_vcpus = cfg->nr_cpus;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->vm = vm;
		v->index = i;
		v->pcpu = cfg->first_pcpu + i;
		v->vmpidr = i;
	}
	/* The guest gets the host's GIC version. The vGIC's one initialisation; a reset re-runs it
	 * (vm_restart), vm_load does not. */
	bool v2 = mi->gic_version == 2;
	if (vgic_set_model(vm, v2 ? VGIC_V2 : VGIC_V3) != 0) {
		log_err("%s: cpus: a GICv2 machine gives a VM at most %u vCPUs", cfg->node,
			VGIC_V2_MAX_VCPUS);
		return -EINVAL;
	}
	vgic_vm_init(vm, VGIC_NR_SPIS);
	vgic_set_kick(vm, vcpu_kick);
	int rc = vgic_register_mmio(vm, ipa_init(GUEST_GICD_BASE), ipa_init(GUEST_GICR_BASE));
	/* GICv2: the guest's CPU interface is the hardware's GICV, at the guest's GICC address. */
	if (rc == 0 && v2)
		rc = stage2_map_device(vm->s2_root, ipa_init(GUEST_GICC_BASE), mi->gicv.base,
				       MIN(mi->gicv.size, GUEST_GICC_SIZE) & ~(SZ_4K - 1), &s2_alloc);
	if (rc == 0)
		rc = vpl011_init(&vm->uart, vm, ipa_init(GUEST_UART_BASE), GUEST_UART_INTID);
	if (rc == 0 && platform.ops->vm_attach_devices)
		rc = platform.ops->vm_attach_devices(vm);
	if (rc != 0) {
		log_err("VM %s: creating its devices failed (%d)", vm->name, rc);
		return rc;
	}
	log_info("VM %s: %u vCPU(s) on pCPU %u.., RAM 0x%llx bytes at PA 0x%llx (IPA 0x%llx), %u device(s)",
		 vm->name, vm->nr_vcpus, cfg->first_pcpu, (unsigned long long)cfg->mem_size,
		 (unsigned long long)pa_addr(ram), GUEST_RAM_BASE, vm->nr_fdt_devs);
	vm_reset_devices(vm); /* nothing ran yet: no DMA to quiesce */
	return vm_load(vm);
}

/*
 * Copy an image (host memory the configuration reserved, never mapped to a guest) into the VM's
 * RAM. vm_load checked the layout, which depends only on the configuration and the images, so a
 * failure is not guest-caused; it still only fails the load (the VM stays off), it is not a panic.
 */
static bool copy_in(struct vm *vm, uint64_t ipa, paddr_t src, uint64_t size)
{
	void *dst = gmem_ptr(&vm->mem, ipa_init(ipa), size);
	if (dst == NULL) {
		log_err("VM %s: image of 0x%llx bytes at IPA 0x%llx is outside its RAM", vm->name,
			(unsigned long long)size, (unsigned long long)ipa);
		return false;
	}
	memcpy(dst, pa_to_ptr(src), size);
	dcache_clean_range(dst, size); /* the guest starts with its MMU and caches off */
	return true;
}

/* The guest DTB at ipa (GUEST_FDT_MAX bytes of RAM). */
static int write_fdt(struct vm *vm, uint64_t ipa, uint64_t initrd)
{
	const struct vm_config *cfg = vm->cfg;
	struct guest_fdt_params p = {
	    .nr_cpus = vm->nr_vcpus,
	    .ram_base = GUEST_RAM_BASE,
	    .ram_size = cfg->mem_size,
	    .bootargs = cfg->bootargs,
	    .initrd_base = initrd,
	    .initrd_size = cfg->ramdisk.size,
	    .timer_ppis = {29, 30, vm->mi->timer_virt_ppi, 26},
	    .gic_version = vm->mi->gic_version,
	    .gic_compatible = vm->mi->gic_compatible,
	    .gicc_size = MIN(vm->mi->gicv.size, GUEST_GICC_SIZE) & ~(SZ_4K - 1),
	    .nr_devs = vm->nr_fdt_devs,
	    .flash = cfg->firmware.size != 0,
	};
	memcpy(p.devs, vm->fdt_devs, sizeof(p.devs));
	/* This boot's own seeds (the count of resets tells the boots apart). */
	p.seeds =
	    entropy_vm_seed(vm->id, vm->resets, ENTROPY_KASLR_SEED, &p.kaslr_seed, sizeof(p.kaslr_seed)) &&
	    entropy_vm_seed(vm->id, vm->resets, ENTROPY_RNG_SEED, p.rng_seed, sizeof(p.rng_seed));
	void *fdt_buf = gmem_ptr(&vm->mem, ipa_init(ipa), GUEST_FDT_MAX);
	int rc = fdt_buf ? guest_fdt_build(fdt_buf, GUEST_FDT_MAX, &p) : -ENOMEM;
	if (rc != 0) {
		log_err("VM %s: building its DTB failed (%d)", vm->name, rc);
		return -EINVAL;
	}
	dcache_clean_range(fdt_buf, GUEST_FDT_MAX);
	return 0;
}

/* vCPU 0 runnable at pc with x0, the others off; counters of the last run cleared. */
static void start_vcpus(struct vm *vm, uint64_t pc, uint64_t x0)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		arch_vcpu_ctx_reset(&v->ctx, pc, i == 0 ? x0 : 0);
		WRITE_ONCE(v->state, i == 0 ? VCPU_RUNNABLE : VCPU_OFF);
	}
	vm->loaded_us = timer_us();
	vm->crashed = false;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].injected_pc = 0;
}

/*
 * Firmware boot, as QEMU virt with -bios: the DTB at RAM base (where U-Boot and EDK2 look for it),
 * vCPU 0 at IPA 0 (the flash). The flash banks are the flash device's (vdev/vdev_flash.c); RAM was
 * zeroed at creation and a reset reloads only the DTB, as a machine's firmware starts over RAM.
 */
static int load_firmware_vm(struct vm *vm)
{
	int rc = write_fdt(vm, GUEST_RAM_BASE, 0);
	if (rc)
		return rc;
	start_vcpus(vm, GUEST_FLASH_BASE, GUEST_RAM_BASE);
	log_info("VM %s: firmware boot: flash at IPA 0x%llx (0x%llx-byte image), DTB at 0x%llx", vm->name,
		 GUEST_FLASH_BASE, (unsigned long long)vm->cfg->firmware.size, GUEST_RAM_BASE);
	return 0;
}

int vm_load(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	uint64_t ram_base = GUEST_RAM_BASE, ram_end = GUEST_RAM_BASE + cfg->mem_size;
	if (cfg->firmware.size)
		return load_firmware_vm(vm);

	/* Kernel: arm64 Image header if present (text_offset, image_size), else a raw binary. */
	const uint8_t *k = pa_to_ptr(cfg->kernel.base);
	uint64_t text_offset = 0, image_size = cfg->kernel.size;
	if (cfg->kernel.size >= 64) {
		uint32_t magic;
		memcpy(&magic, k + 56, 4);
		if (magic == IMAGE_MAGIC) {
			uint64_t hdr[2];
			memcpy(hdr, k + 8, sizeof(hdr));
			if (hdr[1] != 0) {
				text_offset = hdr[0];
				image_size = MAX(hdr[1], cfg->kernel.size);
			}
		}
	}
	if (text_offset < GUEST_KERNEL_OFFSET)
		text_offset += GUEST_KERNEL_OFFSET; /* as QEMU does: keep the first 2 MiB free */
	uint64_t kernel = ram_base + text_offset;
	uint64_t fdt = ALIGN_DOWN(ram_end - SZ_2M, SZ_2M);
	uint64_t initrd = 0;
	if (cfg->ramdisk.size)
		initrd = ALIGN_DOWN(fdt - cfg->ramdisk.size, SZ_4K);
	uint64_t lowest_above = cfg->ramdisk.size ? initrd : fdt;
	if (kernel + image_size > lowest_above || (cfg->ramdisk.size && initrd < ram_base)) {
		log_err("%s: memory: 0x%llx bytes are too small for kernel (0x%llx) + ramdisk (0x%llx) + DTB",
			cfg->node, (unsigned long long)cfg->mem_size, (unsigned long long)image_size,
			(unsigned long long)cfg->ramdisk.size);
		return -EINVAL;
	}
	if (!copy_in(vm, kernel, cfg->kernel.base, cfg->kernel.size) ||
	    (cfg->ramdisk.size && !copy_in(vm, initrd, cfg->ramdisk.base, cfg->ramdisk.size)))
		return -EINVAL;

	int rc = write_fdt(vm, fdt, initrd);
	if (rc)
		return rc;
	start_vcpus(vm, kernel, fdt);
	log_info("VM %s: kernel at IPA 0x%llx (0x%llx bytes), DTB at 0x%llx%s", vm->name,
		 (unsigned long long)kernel, (unsigned long long)cfg->kernel.size, (unsigned long long)fdt,
		 cfg->ramdisk.size ? ", initrd" : "");
	return 0;
}
