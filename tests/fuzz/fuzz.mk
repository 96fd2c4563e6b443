# libFuzzer targets for every parser of outside input. Built with clang:
#   make fuzz                     build them into build/fuzz/
#   make fuzz-smoke FUZZ_SECONDS=30   run each for that long on its corpus
# The corpora in tests/fuzz/corpus/<target>/ are seeds; runs write new inputs
# into build/fuzz/corpus/, never into the repository.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
# The sources and flags of build.mk, built by clang with libFuzzer into
# build/fuzz/; each target links the two archives, whose members the linker
# takes only when the target needs them.
override CC := $(FUZZ_CC)
override SANITIZER := fuzzer,address,undefined
override BUILD := build/fuzz
include build.mk
.DEFAULT_GOAL := fuzz

TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

.PHONY: fuzz fuzz-smoke
fuzz: $(addprefix build/fuzz/fuzz_,$(TARGETS))

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(PULSE_LIBS_A)
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -MMD -MP -o $@ $< $(PULSE_LIBS_A) $(PULSE_LIBS)

-include $(wildcard build/fuzz/*.d)

# All targets run at once (each for FUZZ_SECONDS), then each result is read.
fuzz-smoke: fuzz
	@for t in $(TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=0 -close_fd_mask=3 -artifact_prefix=build/fuzz/crash-$$t- \
	    build/fuzz/corpus/$$t tests/fuzz/corpus/$$t >build/fuzz/$$t.log 2>&1 & \
	done; \
	wait; fail=0; \
	for t in $(TARGETS); do \
	  if grep -q "^Done" build/fuzz/$$t.log; then echo "fuzz $$t ($(FUZZ_SECONDS)s): $$(grep '^Done' build/fuzz/$$t.log)"; \
	  else tail -40 build/fuzz/$$t.log; echo "fuzz $$t: CRASH (input in build/fuzz/crash-$$t-*)"; fail=1; fi; \
	done; exit $$fail
