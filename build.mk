# build.mk - the one build description: sources, flags and how a program is
# linked, listed once and included by the Makefile (the programs and the
# sanitizer builds), tests/unit/unit.mk and tests/fuzz/fuzz.mk. An includer
# may set CC, SANITIZER and BUILD (with `override` where a command line must
# not change them) before including it.
#
#   make                      release build in build/ (hardened, -O2 -g)
#   make SANITIZER=address    address|undefined|thread, or a comma list
#                             (make test uses address,undefined in build/asan);
#                             the build goes to build/<list> unless BUILD is given
#   make CI=true              warnings are errors
#   OPT, CFLAGS, LDFLAGS, LDLIBS  add to (OPT: replaces) the flags below

comma := ,

# ---- sources
# The core's parts are fcgi/'s folders (tools/layers.py holds which may use
# which); the domains are handlers/; each program's main is main/<name>_main.c.
CORE_SRC := $(sort $(wildcard fcgi/*/*.c))
HANDLERS_SRC := $(sort $(wildcard handlers/*.c))
SQL := $(sort $(wildcard sql/queries/*.sql)) $(sort $(wildcard sql/migrations/*.sql))
GEN := build/gen/sql_gen.c build/gen/sql_gen.h
PROGRAMS := pulse-api pulse-batch pulse-stream pulse-token pulse
# pulse-api alone is a libfcgi responder; the others frame FastCGI themselves.
LIBS_pulse-api := -lfcgi

# ---- flags
SANITIZER ?=
ifeq ($(SANITIZER),)
BUILD ?= build
OPT ?= -O2 -g
else
BUILD ?= build/$(subst $(comma),+,$(SANITIZER))
OPT ?= -O1 -g
endif

PKGS := sqlite3 hiredis libcrypto libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lsqlite3 -lhiredis -lcrypto -lcurl) -lm

WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wcast-qual -Wsign-compare -Wno-unused-parameter \
        -Wformat=2 -Wvla -Wpointer-arith -Wundef -Wnull-dereference
# gcc's alone: clang (the fuzz build) has no such warnings.
WARN_GCC := -Wlogical-op -Wduplicated-cond -Wduplicated-branches
ifeq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
WARN += $(WARN_GCC)
endif
ifneq ($(CI),)
WARN += -Werror
endif

# Hardening: stack canaries, a position-independent executable and a GOT
# made read-only before main (full RELRO), in every build; fortified libc
# calls in an optimised build without a sanitizer (they need -O1 or more,
# and the sanitizers check those calls their own way).
HARDEN_CFLAGS := -fstack-protector-strong -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
ifeq ($(SANITIZER)$(filter -O0,$(OPT)),)
HARDEN_CFLAGS += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif

ifneq ($(SANITIZER),)
SAN_FLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer
ifneq ($(findstring undefined,$(SANITIZER)),)
SAN_FLAGS += -fno-sanitize-recover=undefined
endif
endif

PULSE_CFLAGS = $(WARN) $(OPT) $(SAN_FLAGS) $(HARDEN_CFLAGS) -pthread -D_GNU_SOURCE -Ibuild/gen -Ifcgi -I. \
               $(PKG_CFLAGS) $(CFLAGS)
PULSE_LDFLAGS = $(OPT) $(SAN_FLAGS) $(HARDEN_LDFLAGS) -pthread $(LDFLAGS)
PULSE_LIBS = $(PKG_LIBS) $(LDLIBS)

# ---- objects and libraries
# $(BUILD)/obj mirrors the sources' paths (tools/layers.py reads each
# object's part from it); the generated code goes to $(BUILD)/obj/gen.
objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_LIB := $(BUILD)/lib/libpulse-core.a
HANDLERS_LIB := $(BUILD)/lib/libpulse-handlers.a
# In the order a link takes them: the domains use the core, never the
# reverse, so one pass over each archive takes just the members a program
# needs.
PULSE_LIBS_A := $(HANDLERS_LIB) $(CORE_LIB)

build/gen/sql_gen.c build/gen/sql_gen.h: tools/sqlgen.awk $(SQL)
	@mkdir -p build/gen
	awk -v out=build/gen -f tools/sqlgen.awk $(SQL)

$(BUILD)/obj/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(PULSE_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PULSE_CFLAGS) -c -o $@ $<

$(CORE_LIB): $(call objs,$(CORE_SRC)) $(BUILD)/obj/gen/sql_gen.o
$(HANDLERS_LIB): $(call objs,$(HANDLERS_SRC))
$(CORE_LIB) $(HANDLERS_LIB):
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

# The mains' objects are reached through a pattern rule: kept, so that a
# second make has nothing to do.
.SECONDARY: $(call objs,$(wildcard main/*.c))
$(BUILD)/bin/pulse-%: $(BUILD)/obj/main/%_main.o $(PULSE_LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(PULSE_LDFLAGS) -o $@ $< $(PULSE_LIBS_A) $(LIBS_pulse-$*) $(PULSE_LIBS)

# pulse: the four in one binary (main/pulse_main.c picks one per run), each
# main compiled again as pulse_<name>_main.
MULTI_OBJS := $(patsubst %,$(BUILD)/obj/main/multi/%_main.o,api batch stream token)
.SECONDARY: $(MULTI_OBJS)
$(BUILD)/obj/main/multi/%_main.o: main/%_main.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(PULSE_CFLAGS) -Dmain=pulse_$*_main -Wno-missing-prototypes -MMD -MP -c -o $@ $<
$(BUILD)/bin/pulse: $(BUILD)/obj/main/pulse_main.o $(MULTI_OBJS) $(PULSE_LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(PULSE_LDFLAGS) -o $@ $(filter %.o,$^) $(PULSE_LIBS_A) -lfcgi $(PULSE_LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
