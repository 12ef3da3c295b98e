# keel: a Type-1 micro-hypervisor for ARMv8-A.
#   make            build build/$(PLATFORM)/keel.bin (+ keel.elf)
#   make run        set up, build, boot keel + a Linux guest on QEMU
#                   (PLATFORM=rpi4: on QEMU raspi4b, the guest's disk on the Pi's SD card)
#                   (VMS=file: the VMs of a configuration file, see README "Several VMs")
#   make test       set up, build, run unit tests, fuzz smoke, boot tests
#   make fuzz       longer fuzzing runs
#   make bench      storage benchmarks (keel vs native)
SHELL := /bin/bash
PLATFORM ?= qemu-virt
CC_FAMILY ?= gcc
CROSS ?= aarch64-linux-gnu-
BUILD := build/$(PLATFORM)
HOSTBUILD := build/host
PYTHON ?= /usr/bin/python3
# V=1 shows full command lines.
Q := $(if $(V),,@)

ifeq ($(wildcard platform/$(PLATFORM)/platform.mk),)
$(error PLATFORM=$(PLATFORM): no such board (have: $(notdir $(wildcard platform/*))))
endif
include platform/$(PLATFORM)/platform.mk

WARN := -Wall -Wextra -Werror -Wshadow -Wvla -Wmissing-prototypes -Wstrict-prototypes
PICOLIBC := /usr/lib/picolibc/aarch64-linux-gnu
LIBFDT_SRC := build/libfdt-src

ifeq ($(CC_FAMILY),clang)
TCC := clang --target=aarch64-linux-gnu
TARGET_ARCH_FLAGS := -mgeneral-regs-only -mstrict-align
# The link step sees compile-only flags (-nostdinc, -no-pie): not an error.
TLD_EXTRA := -Wno-unused-command-line-argument
else
TCC := $(CROSS)gcc
TARGET_ARCH_FLAGS := -mgeneral-regs-only -mstrict-align -mno-outline-atomics
endif
TLD := $(CROSS)ld
OBJCOPY := $(CROSS)objcopy

TCFLAGS := -DKEEL_STACK_SIZE=16384 -DKEEL_MAX_CPUS=8 -std=gnu11 -O2 -g -ffreestanding -fno-pie -fno-stack-protector -fno-common \
	-ffunction-sections -fdata-sections $(TARGET_ARCH_FLAGS) $(WARN) \
	-nostdinc -isystem $(PICOLIBC)/include -isystem $(shell $(CROSS)gcc -print-file-name=include) \
	-I. -Iinclude -Iarch/arm64/include -I$(LIBFDT_SRC)
TLDFLAGS := $(TLD_EXTRA) -Wl,--build-id=none -Wl,--defsym=KEEL_BASE=$(KEEL_BASE) -nostdlib -static -no-pie -Wl,--gc-sections -Wl,-T,linker.ld -Wl,-Map,$(BUILD)/keel.map
TLIBS := -L$(PICOLIBC)/lib -lc $(shell $(CROSS)gcc -print-libgcc-file-name)

# The board's platform.mk names its drivers (DRIVERS); these are their sources. The block layer
# (drivers/storage: shares, partitions, RAM disk, registry) is every board's.
DRIVER_SRCS_pl011 := drivers/pl011.c
DRIVER_SRCS_pci := drivers/pci.c
DRIVER_SRCS_ufs := $(wildcard drivers/storage/ufs*.c)
DRIVER_SRCS_sdhci := $(filter-out drivers/storage/sdhci_pci.c,$(wildcard drivers/storage/sdhci*.c)) \
	drivers/storage/sd_card.c
DRIVER_SRCS_sdhci-pci := drivers/storage/sdhci_pci.c
BLOCK_SRCS := $(filter-out $(foreach d,ufs sdhci sdhci-pci,$(DRIVER_SRCS_$(d))),$(wildcard drivers/storage/*.c))
$(foreach d,$(DRIVERS),$(if $(DRIVER_SRCS_$(d)),,$(error platform/$(PLATFORM)/platform.mk: DRIVERS: no driver $(d) \
	(have: pl011 pci ufs sdhci sdhci-pci))))
KEEL_SRCS := $(wildcard arch/arm64/*.S arch/arm64/*.c core/*.c vdev/*.c vdev/virtio/*.c platform/$(PLATFORM)/*.c) \
	$(BLOCK_SRCS) $(foreach d,$(DRIVERS),$(DRIVER_SRCS_$(d)))
LIBFDT_FILES := fdt.c fdt_ro.c fdt_rw.c fdt_wip.c fdt_sw.c fdt_strerror.c fdt_addresses.c fdt_empty_tree.c
KEEL_OBJS := $(patsubst %,$(BUILD)/%.o,$(KEEL_SRCS)) \
	$(patsubst %,$(BUILD)/libfdt/%.o,$(LIBFDT_FILES))

.PHONY: all setup run test unit fuzz-smoke fuzz boot-test bench guests kit clean format-check sdimage insn-plugin
all: $(BUILD)/keel.bin

# --- toolchain check: install what is missing (idempotent) ---------------
setup:
	@bash scripts/setup.sh

# --- libfdt, from Debian's linux-source-6.1 (see README: Dependencies) ----
$(LIBFDT_SRC)/libfdt.h:
	@bash scripts/get-libfdt.sh $(LIBFDT_SRC)

$(BUILD)/libfdt/%.c.o: $(LIBFDT_SRC)/libfdt.h
	@mkdir -p $(dir $@)
	$(Q)$(TCC) $(filter-out $(WARN),$(TCFLAGS)) -w -c $(LIBFDT_SRC)/$*.c -o $@

# --- keel ----------------------------------------------------------------
$(BUILD)/%.c.o: %.c $(LIBFDT_SRC)/libfdt.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(TCC) $(TCFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.S.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(TCC) $(TCFLAGS) -D__ASSEMBLY__ -MMD -MP -c $< -o $@

$(BUILD)/keel.elf: $(KEEL_OBJS) linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(TCC) $(TCFLAGS) $(TLDFLAGS) $(KEEL_OBJS) $(TLIBS) -o $@

$(BUILD)/keel.bin: $(BUILD)/keel.elf
	$(OBJCOPY) -O binary $< $@
	@sz=$$(stat -c %s $@); echo "keel.bin: $$sz bytes"; \
	  if [ $$sz -gt 262144 ]; then echo "keel.bin exceeds 256 KiB" >&2; exit 1; fi

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- guests ----------------------------------------------------------------
guests:
	$(MAKE) -C guests/baremetal

kit:
	@bash guests/linux/build-kit.sh

# --- Raspberry Pi 4 SD card image (README: Running on a Raspberry Pi 4) -----
# build/rpi4/sd.img: U-Boot (kernel8.img), boot.scr, keel, its DTB and the bare-metal guest on a FAT
# partition, a VM disk partition; SDIMAGE_ARGS go to scripts/mksdimage.py (e.g. --bootargs ...).
UBOOT_RPI := build/u-boot-rpi/usr/lib/u-boot/rpi_arm64/u-boot.bin
sdimage:
	$(MAKE) PLATFORM=rpi4 all
	$(MAKE) guests kit
	@bash scripts/get-uboot-rpi.sh
	$(PYTHON) scripts/mksdimage.py build/rpi4/sd.img --keel build/rpi4/keel.bin --uboot $(UBOOT_RPI) \
	  --guest guests/baremetal/build/guest.bin $(SDIMAGE_ARGS)

# --- tests -----------------------------------------------------------------
include tests/unit/unit.mk
include tests/fuzz/fuzz.mk

test: setup
	$(MAKE) format-check
	$(MAKE) all guests kit
	$(MAKE) CC_FAMILY=clang BUILD=build/$(PLATFORM)-clang build/$(PLATFORM)-clang/keel.bin
	$(MAKE) PLATFORM=rpi4 all
	$(MAKE) unit
	$(MAKE) fuzz-smoke
	$(MAKE) boot-test

# The QEMU plugin scripts/insn_prof.py counts instructions with (a host shared object).
$(HOSTBUILD)/insn_plugin.so: scripts/insn_plugin.c
	@mkdir -p $(dir $@)
	$(Q)cc -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -o $@ $< -lpthread

insn-plugin: $(HOSTBUILD)/insn_plugin.so

boot-test:
	$(PYTHON) -m pytest -v tests/boot

run: setup
	$(MAKE) all guests kit
	@PLATFORM=$(PLATFORM) bash scripts/run.sh

bench: setup
	$(MAKE) all guests kit
	@PLATFORM=$(PLATFORM) bash scripts/bench.sh

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' | grep -v '^guests/linux/')

clean:
	rm -rf build
	$(MAKE) -C guests/baremetal clean
