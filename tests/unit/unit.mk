# Host unit tests (cmocka), built for x86_64 against arch/fake.
# To add a test: create tests/unit/test_<name>.c, append <name> to UNIT_TESTS
# and list its sources in UNIT_SRCS_<name> (host-testable keel files + fakes).
HOSTCC ?= gcc
HOST_CFLAGS := -std=gnu11 -g -O1 $(WARN) -Wno-missing-prototypes -I. -Iinclude -Iarch/fake/include \
	-I$(LIBFDT_SRC) -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	-DKEEL_HOST_TEST
HOST_LIBFDT := $(addprefix $(LIBFDT_SRC)/,$(LIBFDT_FILES))
FAKES := tests/fakes/log.c arch/fake/cpu.c arch/fake/timer.c

UNIT_TESTS := mmio_bus


-include tests/unit/*.mk.inc

.SECONDEXPANSION:
# Every header keel or a fake has: a changed constant rebuilds the tests that may see it.
HOST_HDRS := $(wildcard include/keel/*.h core/*.h vdev/*.h vdev/*/*.h drivers/*.h drivers/*/*.h \
	arch/fake/include/arch/*.h arch/arm64/include/arch/gic_lr.h arch/arm64/include/arch/vcpu_ctx.h tests/fakes/*.h)

$(HOSTBUILD)/test_%: tests/unit/test_%.c $$(UNIT_SRCS_$$*) $(FAKES) $(HOST_HDRS) $(LIBFDT_SRC)/libfdt.h
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $< $(UNIT_SRCS_$*) $(FAKES) $(if $(filter fdt,$(UNIT_NEEDS_$*)),$(HOST_LIBFDT)) \
		-lcmocka -o $@

unit: $(addprefix $(HOSTBUILD)/test_,$(UNIT_TESTS))
	@set -e; for t in $^; do echo "== $$t"; ./$$t; done
