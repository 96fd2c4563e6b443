# tests/unit/unit.mk - the C unit tests, run from the top directory by
# `make unit`. Each tests/unit/test_*.c is one binary built with ASan and
# UBSan into build/unit/; it #includes the module it tests (to reach its
# statics) and links the rest from build/unit/libpulse.a, whose members the
# linker takes only when needed. Every binary prints "<name>: N passed, N
# failed"; the run adds them up into one "unit: ..." line and fails if any
# check failed or any binary crashed or leaked.

CC ?= cc
PKGS := sqlite3 hiredis libcrypto
U := build/unit

SAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wcast-qual -Wsign-compare -Wno-unused-parameter
ifneq ($(CI),)
WARN += -Werror
endif
CFLAGS_U := $(WARN) $(SAN) -D_GNU_SOURCE -Ibuild/gen -Ifcgi -I. \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS_U := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lsqlite3 -lhiredis -lcrypto) -lm

# Everything but the mains, the epoll stream loop and the Redis subscriber.
MODS := alloc buf log config utf8 db crypto auth access http store bell bus redis_target metrics router handler runtime \
        fcgi_rec sse stream_req loop rasync relaysig mirror
HMODS := routes payos events topup health live_rooms live_shop live_chat crm crm_webhooks websig chat
OBJS := $(addprefix $(U)/obj/,$(addsuffix .o,$(MODS) $(HMODS) sql_gen))
LIB := $(U)/libpulse.a
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

vpath %.c $(wildcard fcgi/*/) handlers
$(U)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_U) -MMD -MP -c -o $@ $<
$(U)/obj/sql_gen.o: build/gen/sql_gen.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_U) -c -o $@ $<

$(LIB): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(U)/test_%: tests/unit/test_%.c tests/unit/check.h tests/unit/unit_db.h $(LIB)
	$(CC) $(CFLAGS_U) -MMD -MP -o $@ $< $(LIB) $(LDLIBS_U)

# A clean program: if it fails under detect_leaks=1, LeakSanitizer itself
# cannot run (as under ptrace), not the tests.
$(U)/lsan_probe:
	@mkdir -p $(dir $@)
	printf '#include <stdlib.h>\nint main(void) { free(malloc(1)); return 0; }\n' | \
	    $(CC) $(SAN) -x c -o $@ -

-include $(wildcard $(U)/obj/*.d $(U)/*.d)
