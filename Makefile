# Pulse - real-time events over FastCGI. `make run` and `make test` are the
# two commands a newcomer needs; see README.md.

PREFIX ?= /usr/local
DESTDIR ?=
PORT ?= 8080
PULSE_HOST ?= 127.0.0.1
PULSE_DATA ?= $(CURDIR)/data
PULSE_WORKERS ?= 4
RTMP_HOST ?= 127.0.0.1
RTMP_PORT ?= 1935
PULSE_URL ?= http://$(PULSE_HOST):$(PORT)
NGINX_MODULES ?= /usr/lib/nginx/modules

CC ?= cc
PKGS := sqlite3 hiredis libcrypto
WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wcast-qual -Wsign-compare -Wno-unused-parameter
ifneq ($(CI),)
WARN += -Werror
endif
OPT ?= -O2 -g
CFLAGS_ALL = $(WARN) $(OPT) -D_GNU_SOURCE -Ibuild/gen -Ifcgi -I. \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS_ALL = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lsqlite3 -lhiredis -lcrypto) \
             -lm $(LDLIBS)

# Core modules shared by both responders, the request-side runtime, the
# handlers, and the stream responder's own modules.
CORE := alloc buf log config utf8 db crypto auth access http store bell bus redis_target metrics
API  := router handler runtime prefork proc api_main
BATCH := router handler runtime fcgi_rec loop proc batch batch_main
HANDLERS := routes events topup payos health live_rooms live_shop live_chat crm crm_webhooks websig chat
STREAM := fcgi_rec sse loop rasync stream_req stream subscriber relaysig relay mirror proc stream_main

BUILD ?= build
GEN := build/gen/sql_gen.c build/gen/sql_gen.h
SQL := $(sort $(wildcard sql/queries/*.sql)) $(sort $(wildcard sql/migrations/*.sql))

core_objs = $(addprefix $(BUILD)/obj/,$(addsuffix .o,$(CORE) sql_gen))
api_objs = $(core_objs) $(addprefix $(BUILD)/obj/,$(addsuffix .o,$(API) $(HANDLERS)))
batch_objs = $(core_objs) $(addprefix $(BUILD)/obj/,$(addsuffix .o,$(BATCH) $(HANDLERS)))
stream_objs = $(core_objs) $(addprefix $(BUILD)/obj/,$(addsuffix .o,$(STREAM)))

BINS := $(BUILD)/bin/pulse-api $(BUILD)/bin/pulse-batch $(BUILD)/bin/pulse-stream $(BUILD)/bin/pulse-token

.PHONY: all clean run run-nginx run-rtmp check-valgrind test check-asan unit install deps test-deps fuzz fuzz-smoke bench
all: $(BINS)

build/gen/sql_gen.c build/gen/sql_gen.h: tools/sqlgen.awk $(SQL)
	@mkdir -p build/gen
	awk -v out=build/gen -f tools/sqlgen.awk $(SQL)

vpath %.c $(wildcard fcgi/*/) handlers main
$(BUILD)/obj/%.o: %.c $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<
$(BUILD)/obj/sql_gen.o: build/gen/sql_gen.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/bin/pulse-api: $(api_objs)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ -lfcgi $(LDLIBS_ALL)
$(BUILD)/bin/pulse-batch: $(batch_objs)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)
$(BUILD)/bin/pulse-stream: $(stream_objs)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)
$(BUILD)/bin/pulse-token: $(core_objs) $(BUILD)/obj/token_main.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

-include $(wildcard $(BUILD)/obj/*.d)

clean:
	rm -rf build

# Installs the Debian packages a build or a run needs, when root and missing.
deps:
	@sh tools/deps.sh build

test-deps:
	@sh tools/deps.sh test

run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p -m 700 "$(PULSE_DATA)"
	@echo "Pulse on http://$(PULSE_HOST):$(PORT)/ (data in $(PULSE_DATA)); Ctrl-C stops it."
	PORT=$(PORT) PULSE_HOST=$(PULSE_HOST) PULSE_DATA="$(PULSE_DATA)" PULSE_ROOT="$(CURDIR)" \
	PULSE_BIN="$(CURDIR)/$(BUILD)/bin" PULSE_WORKERS=$(PULSE_WORKERS) \
	exec lighttpd -D -f "$(CURDIR)/lighttpd.conf"

# The same service behind nginx (nginx.conf, processes by spawn-fcgi).
run-nginx: deps
	@sh tools/deps.sh nginx
	@$(MAKE) --no-print-directory all
	@mkdir -p -m 700 "$(PULSE_DATA)"
	@echo "Pulse (nginx) on http://$(PULSE_HOST):$(PORT)/ (data in $(PULSE_DATA)); Ctrl-C stops it."
	PORT=$(PORT) PULSE_HOST=$(PULSE_HOST) PULSE_DATA="$(PULSE_DATA)" PULSE_ROOT="$(CURDIR)" \
	PULSE_BIN="$(CURDIR)/$(BUILD)/bin" PULSE_WORKERS=$(PULSE_WORKERS) \
	exec sh tools/run-nginx.sh

# The RTMP ingest of live rooms, beside `make run`: nginx-rtmp asks Pulse at
# $(PULSE_URL) whether a stream key may publish. nginx-rtmp.conf is a template.
RTMP_CONF = $(abspath $(PULSE_DATA))/nginx-rtmp.conf
run-rtmp:
	@sh tools/deps.sh rtmp
	@mkdir -p -m 700 "$(PULSE_DATA)"
	sed -e 's|@PULSE_URL@|$(PULSE_URL)|' -e 's|@RTMP_HOST@|$(RTMP_HOST)|' -e 's|@RTMP_PORT@|$(RTMP_PORT)|' \
	    -e 's|@PULSE_DATA@|$(abspath $(PULSE_DATA))|' -e 's|@NGINX_MODULES@|$(NGINX_MODULES)|' \
	    nginx-rtmp.conf > "$(RTMP_CONF)"
	@echo "RTMP on rtmp://$(RTMP_HOST):$(RTMP_PORT)/live/<streamKey> for Pulse at $(PULSE_URL); Ctrl-C stops it."
	exec nginx -p "$(abspath $(PULSE_DATA))/" -e stderr -c "$(RTMP_CONF)"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/pulse/www
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	cp -R www/. $(DESTDIR)$(PREFIX)/share/pulse/www/
	install -m 644 lighttpd.conf lighttpd.lua nginx.conf nginx-rtmp.conf $(DESTDIR)$(PREFIX)/share/pulse/

# ---- tests ----
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

unit: $(GEN)
	@$(MAKE) --no-print-directory -f tests/unit/unit.mk

# The integration suite runs against the sanitizer build; the fuzz smoke
# run gives every parser of outside input a few seconds of libFuzzer.
test: test-deps
	@$(MAKE) --no-print-directory all build/bench/sseload
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="$(ASAN_FLAGS)" LDLIBS="-fsanitize=address,undefined" all
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk fuzz-smoke FUZZ_SECONDS=$(FUZZ_SECONDS)
	python3 tests/run.py --bin build/asan/bin

FUZZ_SECONDS ?= 30

# The integration suite (behind lighttpd) with every Pulse process under
# valgrind memcheck: wrappers named like the binaries exec valgrind on the
# release build; any memcheck error or definite leak fails the test.
VALGRIND_BIN := build/valgrind/bin
check-valgrind: all
	@mkdir -p $(VALGRIND_BIN)
	@for b in pulse-api pulse-batch pulse-stream; do \
	  printf '#!/bin/sh\nexec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file="$$PULSE_DATA/valgrind.%%p.log" "%s" "$$@"\n' \
	    "$(CURDIR)/build/bin/$$b" > $(VALGRIND_BIN)/$$b; chmod +x $(VALGRIND_BIN)/$$b; done
	@cp build/bin/pulse-token $(VALGRIND_BIN)/
	PULSE_TEST_SCALE=0.05 python3 tests/run.py --no-unit --web lighttpd --bin $(VALGRIND_BIN) $(if $(K),-k $(K))
fuzz fuzz-smoke: $(GEN)
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk $@

check-asan: test

# Pulse (behind lighttpd and behind nginx) against nchan on this machine;
# writes bench/RESULTS.md (about 14 minutes). Not part of `make test`.
bench:
	@sh tools/deps.sh bench
	@$(MAKE) --no-print-directory all build/bench/sseload build/bench/noop/pulse-api build/bench/noop/pulse-batch
	python3 bench/run.py

# figure c's ceiling instance (noop-nginx) runs from build/bench/noop: a
# FastCGI responder that answers at once as its request pool (publishes go to
# the no-op pulse-batch below), beside the real stream responder, so
# tools/run-nginx.sh starts all three from one directory.
build/bench/noop/pulse-api: bench/fcgi_noop.c $(BUILD)/bin/pulse-stream
	@mkdir -p build/bench/noop
	$(CC) -O2 -Wall -Wextra -std=c11 -D_GNU_SOURCE -o $@ bench/fcgi_noop.c -lfcgi
	ln -sf ../../bin/pulse-stream build/bench/noop/pulse-stream

# The batching responder's loop with a runtime that does nothing: the
# ceiling of POST /api/publish behind nginx's kept-alive connections.
NOOP_BATCH := alloc buf log config metrics utf8 http fcgi_rec loop proc batch batch_main
build/bench/noop/pulse-batch: bench/runtime_noop.c $(addprefix $(BUILD)/obj/,$(addsuffix .o,$(NOOP_BATCH)))
	@mkdir -p build/bench/noop
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

# The publish handler path's CPU per request, without sockets (see the file).
PUB_BENCH := $(filter-out $(BUILD)/obj/batch_main.o $(BUILD)/obj/batch.o $(BUILD)/obj/loop.o \
                          $(BUILD)/obj/fcgi_rec.o $(BUILD)/obj/proc.o,$(batch_objs))
build/bench/runtime_publish: bench/runtime_publish.c $(PUB_BENCH)
	@mkdir -p build/bench
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

# The SSE load generator: benchmarks, and the fault tests' 1,000 clients.
build/bench/sseload: bench/sseload.c
	@mkdir -p build/bench
	$(CC) -O2 -Wall -Wextra -std=c11 -o $@ bench/sseload.c -lm
