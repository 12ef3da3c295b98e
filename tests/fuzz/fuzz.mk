# libFuzzer targets (clang, ASan + UBSan). To add one: tests/fuzz/fuzz_<name>.c,
# append <name> to FUZZ_TARGETS, list its sources in FUZZ_SRCS_<name>.
FUZZCC ?= clang
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -I. -Iinclude -Iarch/fake/include -I$(LIBFDT_SRC) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DKEEL_HOST_TEST -DKEEL_FUZZ
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SECONDS ?= 600
FUZZ_TARGETS :=

-include tests/fuzz/*.mk.inc

$(HOSTBUILD)/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRCS_$$*) tests/fakes/log.c arch/fake/cpu.c arch/fake/timer.c $(HOST_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_CFLAGS) $< $(FUZZ_SRCS_$*) tests/fakes/log.c arch/fake/cpu.c arch/fake/timer.c -o $@

fuzz-smoke: $(addprefix $(HOSTBUILD)/fuzz_,$(FUZZ_TARGETS))
	@set -e; for t in $^; do echo "== $$t ($(FUZZ_SMOKE_SECONDS)s)"; \
	  mkdir -p $(HOSTBUILD)/corpus/$$(basename $$t); \
	  ./$$t -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=0 $(HOSTBUILD)/corpus/$$(basename $$t) 2>&1 | tail -n 3; \
	  test $${PIPESTATUS[0]} -eq 0; done

# Each target runs FUZZ_SECONDS; build/host/fuzz-report.txt gets one line per target
# (executions, coverage edges, corpus size), read from libFuzzer's final stats.
fuzz: $(addprefix $(HOSTBUILD)/fuzz_,$(FUZZ_TARGETS))
	@set -e; rep=$(HOSTBUILD)/fuzz-report.txt; echo "# make fuzz FUZZ_SECONDS=$(FUZZ_SECONDS), $$(date -u +%FT%TZ)" > $$rep; \
	for t in $^; do n=$$(basename $$t); mkdir -p $(HOSTBUILD)/corpus/$$n; \
	  ./$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(HOSTBUILD)/corpus/$$n > $(HOSTBUILD)/$$n.log 2>&1 \
	    || { tail -n 40 $(HOSTBUILD)/$$n.log; echo "$$n: FAILED" >> $$rep; exit 1; }; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(HOSTBUILD)/$$n.log); \
	  cov=$$(grep -o 'cov: [0-9]*' $(HOSTBUILD)/$$n.log | tail -n 1 | cut -d' ' -f2); \
	  units=$$(ls $(HOSTBUILD)/corpus/$$n | wc -l); \
	  echo "$$n: $$execs executions, cov $$cov edges, corpus $$units, no crash" | tee -a $$rep; done
