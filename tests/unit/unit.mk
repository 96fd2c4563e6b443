# tests/unit/unit.mk - the C unit tests, run from the top directory by
# `make unit`. Each tests/unit/test_*.c is one binary built with ASan and
# UBSan into build/unit/ (the sources and flags of build.mk); it #includes
# the module it tests (to reach its statics) and links the rest from the
# build's two archives, whose members the linker takes only when needed.
# Every binary prints "<name>: N passed, N failed"; the run adds them up
# into one "unit: ..." line and fails if any check failed or any binary
# crashed or leaked.

override SANITIZER := address,undefined
override BUILD := build/unit
include build.mk
.DEFAULT_GOAL := run

U := $(BUILD)
TESTS := $(patsubst tests/unit/%.c,$(U)/%,$(sort $(wildcard tests/unit/test_*.c)))

.PHONY: run
run: $(TESTS) $(U)/lsan_probe
	@lsan=1; \
	if ! ASAN_OPTIONS=detect_leaks=1 $(U)/lsan_probe >/dev/null 2>&1; then \
	    lsan=0; echo "unit: note: LeakSanitizer cannot run here (ptrace?); leak checks are off"; \
	fi; \
	pass=0; fail=0; \
	for t in $(TESTS); do \
	    out=$$(ASAN_OPTIONS=detect_leaks=$$lsan UBSAN_OPTIONS=print_stacktrace=1 $$t); rc=$$?; \
	    printf '%s\n' "$$out"; \
	    set -- $$(printf '%s\n' "$$out" | sed -n 's/^.*: \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$$/\1 \2/p' | tail -n 1); \
	    p=$${1:-0}; f=$${2:-0}; \
	    if [ $$rc -ne 0 ] && [ $$f -eq 0 ]; then \
	        echo "$$t: exited with status $$rc (crash, sanitizer report or leak)"; f=1; \
	    fi; \
	    pass=$$((pass + p)); fail=$$((fail + f)); \
	done; \
	echo "unit: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

$(U)/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) $(PULSE_LIBS_A)
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -MMD -MP -o $@ $< $(PULSE_LIBS_A) $(PULSE_LIBS)

# A clean program: if it fails under detect_leaks=1, LeakSanitizer itself
# cannot run (as under ptrace), not the tests.
$(U)/lsan_probe:
	@mkdir -p $(dir $@)
	printf '#include <stdlib.h>\nint main(void) { free(malloc(1)); return 0; }\n' | \
	    $(CC) $(SAN_FLAGS) -x c -o $@ -

-include $(wildcard $(U)/*.d)
