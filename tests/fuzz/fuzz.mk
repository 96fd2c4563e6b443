# libFuzzer targets for every parser of outside input. Built with clang:
#   make fuzz                     build them into build/fuzz/
#   make fuzz-smoke FUZZ_SECONDS=30   run each for that long on its corpus
# The corpora in tests/fuzz/corpus/<target>/ are seeds; runs write new inputs
# into build/fuzz/corpus/, never into the repository.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
              -D_GNU_SOURCE -Ibuild/gen -Ifcgi -I. -Itests/fuzz \
              $(shell pkg-config --cflags sqlite3 hiredis libcrypto)
FUZZ_LIBS := $(shell pkg-config --libs sqlite3 hiredis libcrypto) -lm

BASE_SRC := fcgi/base/alloc.c fcgi/base/buf.c
CORE_SRC := $(BASE_SRC) fcgi/base/log.c fcgi/base/config.c fcgi/base/utf8.c fcgi/store/db.c fcgi/base/crypto.c \
            fcgi/auth/auth.c fcgi/http/http.c fcgi/store/store.c build/gen/sql_gen.c
TARGETS := query fcgi jwt payos stream_req mirror publish webhook utf8

src_query := fcgi/http/http.c fcgi/base/utf8.c $(BASE_SRC)
src_fcgi := fcgi/wire/fcgi_rec.c $(BASE_SRC)
src_jwt := $(CORE_SRC)
src_payos := $(CORE_SRC) handlers/payos.c
src_publish := $(CORE_SRC)
src_utf8 := $(CORE_SRC)
src_webhook := $(CORE_SRC) handlers/websig.c
src_stream_req := $(CORE_SRC) fcgi/stream/stream_req.c fcgi/wire/fcgi_rec.c fcgi/auth/access.c
src_mirror := $(CORE_SRC) fcgi/stream/mirror.c fcgi/bus/relaysig.c fcgi/bus/rasync.c fcgi/bus/redis_target.c \
              fcgi/wire/loop.c fcgi/bus/bus.c fcgi/bus/bell.c fcgi/base/metrics.c

.PHONY: fuzz fuzz-smoke
fuzz: $(addprefix build/fuzz/fuzz_,$(TARGETS))

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard fcgi/*/*.c fcgi/*/*.h handlers/*.c handlers/*.h) build/gen/sql_gen.c
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(src_$*) $(FUZZ_LIBS)

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
