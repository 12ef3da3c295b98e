# Host unit tests (cmocka), built for x86_64 against arch/fake.
# To add a test: create tests/unit/test_<name>.c, append <name> to UNIT_TESTS
# and list its sources in UNIT_SRCS_<name> (host-testable keel files + fakes).
HOSTCC ?= gcc
HOST_CFLAGS := -std=gnu11 -g -O1 $(WARN) -Wno-missing-prototypes -I. -Iinclude -Iarch/fake/include \
	-I$(LIBFDT_SRC) -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	-DKEEL_HOST_TEST
HOST_LIBFDT := $(addprefix $(LIBFDT_SRC)/,$(LIBFDT_FILES))
FAKES := tests/fakes/log.c

UNIT_TESTS := mmio_bus


-include tests/unit/*.mk.inc

.SECONDEXPANSION:
$(HOSTBUILD)/test_%: tests/unit/test_%.c $$(UNIT_SRCS_$$*) $(FAKES) $(LIBFDT_SRC)/libfdt.h
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $< $(UNIT_SRCS_$*) $(FAKES) $(if $(filter fdt,$(UNIT_NEEDS_$*)),$(HOST_LIBFDT)) \
		-lcmocka -o $@

unit: $(addprefix $(HOSTBUILD)/test_,$(UNIT_TESTS))
	@set -e; for t in $^; do echo "== $$t"; ./$$t; done
