# Pulse - real-time events over FastCGI. `make run` and `make test` are the
# two commands a newcomer needs; see README.md.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
DESTDIR ?=
PORT ?= 8080
PULSE_HOST ?= 127.0.0.1
PULSE_DATA ?= $(CURDIR)/data
PULSE_WORKERS ?= 4
RTMP_HOST ?= 127.0.0.1
RTMP_PORT ?= 1935
PULSE_URL ?= http://$(PULSE_HOST):$(PORT)
NGINX_MODULES ?= /usr/lib/nginx/modules

# Sources, flags and how a program is linked: build.mk, shared with the
# unit and fuzz builds.
include build.mk
.DEFAULT_GOAL := all
# build/static/pulse, the shared-hosting package's binary (make dist)
include static.mk

BINS := $(addprefix $(BUILD)/bin/,$(PROGRAMS))

.PHONY: all clean run run-nginx run-apache run-rtmp check-valgrind test check-asan check-layers unit install uninstall \
        deps test-deps fuzz fuzz-smoke bench player qr dist dist-deps static static-clean
all: $(BINS)

clean:
	rm -rf build www/vendor

# live.html's video player: hls.js from the npm registry, pinned by version
# and by the SHA-512 of its package (the integrity the registry publishes),
# unpacked into www/vendor/ (never committed: .gitignore). `make run`,
# `make run-nginx`, `make install` and `make test` get it; without npm or
# without the registry the build stops and says so.
HLSJS_VERSION := 1.7.4
HLSJS_SHA512 := dc697119d3ef4f6607bd060eb7ec8ecd3fc3122a2bfea255348ca51c0efb9207a805375042a8bbd06c1e7cd11498741e346ca30bc53adbe6ebbaa5bf4e99beb6
HLSJS_TGZ := build/npm/hls.js-$(HLSJS_VERSION).tgz
PLAYER := www/vendor/hls.min.js www/vendor/hls.worker.js www/vendor/hls.js.LICENSE
player: $(PLAYER)

# Fetches $@, package $(1) at version $(2), from the npm registry and checks
# it is the tarball whose SHA-512 is $(3); $(4) says who needs it.
define npm_pack
	@command -v npm >/dev/null 2>&1 || { echo "make: $(4) comes from the npm registry, and npm is not on PATH: run make deps (tools/deps.sh) or install npm" >&2; exit 1; }
	@mkdir -p build/npm
	@npm pack --silent --fetch-retries=1 --fetch-timeout=30000 --pack-destination build/npm $(1)@$(2) >/dev/null || \
	  { echo "make: could not fetch $(1)@$(2) from the npm registry ($$(npm config get registry)); $(4) needs it" >&2; exit 1; }
	@echo "$(3)  $@" | sha512sum -c --quiet - || { echo "make: $@ is not the $(1) $(2) pinned here (SHA-512 differs)" >&2; rm -f $@; exit 1; }
endef

$(HLSJS_TGZ):
	$(call npm_pack,hls.js,$(HLSJS_VERSION),$(HLSJS_SHA512),live.html's player (hls.js))

# One unpacking writes all three (a grouped target).
$(PLAYER) &: $(HLSJS_TGZ)
	@rm -rf build/npm/hls.js && mkdir -p build/npm/hls.js www/vendor
	tar -xzf $(HLSJS_TGZ) -C build/npm/hls.js package/dist/hls.min.js package/dist/hls.worker.js package/LICENSE
	install -m 644 build/npm/hls.js/package/dist/hls.min.js build/npm/hls.js/package/dist/hls.worker.js www/vendor/
	install -m 644 build/npm/hls.js/package/LICENSE www/vendor/hls.js.LICENSE

# topup.html's payment QR: qrcode-generator from the npm registry, pinned
# the same way (version and the SHA-512 the registry publishes), its
# browser build into www/vendor/ (not committed), fetched as the player is.
QRCODE_VERSION := 2.0.4
QRCODE_SHA512 := 9994a23fa4676c7978c4bd80a791df9232e79b17ca70f5a959efdcfb95f10ae7ad11e9ea98d15fd451ff7ed5cf0ad146e7f4c3a1b8ec8f3eac48d2f44abf19f6
QRCODE_TGZ := build/npm/qrcode-generator-$(QRCODE_VERSION).tgz
QRJS := www/vendor/qrcode.js
qr: $(QRJS)

$(QRCODE_TGZ):
	$(call npm_pack,qrcode-generator,$(QRCODE_VERSION),$(QRCODE_SHA512),topup.html's QR (qrcode-generator))

$(QRJS): $(QRCODE_TGZ)
	@rm -rf build/npm/qrcode-generator && mkdir -p build/npm/qrcode-generator www/vendor
	tar -xzf $(QRCODE_TGZ) -C build/npm/qrcode-generator package/dist/qrcode.js
	install -m 644 build/npm/qrcode-generator/package/dist/qrcode.js $@

# Installs the Debian packages a build or a run needs, when root and missing.
deps:
	@sh tools/deps.sh build

test-deps:
	@sh tools/deps.sh test

run: deps
	@$(MAKE) --no-print-directory all player qr
	@mkdir -p -m 700 "$(PULSE_DATA)"
	@echo "Pulse on http://$(PULSE_HOST):$(PORT)/ (data in $(PULSE_DATA)); Ctrl-C stops it."
	PORT=$(PORT) PULSE_HOST=$(PULSE_HOST) PULSE_DATA="$(PULSE_DATA)" PULSE_ROOT="$(CURDIR)" \
	PULSE_BIN="$(CURDIR)/$(BUILD)/bin" PULSE_WORKERS=$(PULSE_WORKERS) \
	exec lighttpd -D -f "$(CURDIR)/lighttpd.conf"

# The same service behind nginx (nginx.conf, processes by spawn-fcgi).
run-nginx: deps
	@sh tools/deps.sh nginx
	@$(MAKE) --no-print-directory all player qr
	@mkdir -p -m 700 "$(PULSE_DATA)"
	@echo "Pulse (nginx) on http://$(PULSE_HOST):$(PORT)/ (data in $(PULSE_DATA)); Ctrl-C stops it."
	PORT=$(PORT) PULSE_HOST=$(PULSE_HOST) PULSE_DATA="$(PULSE_DATA)" PULSE_ROOT="$(CURDIR)" \
	PULSE_BIN="$(CURDIR)/$(BUILD)/bin" PULSE_WORKERS=$(PULSE_WORKERS) \
	exec sh tools/run-nginx.sh

# The same service behind Apache 2.4 (apache.conf: mod_proxy_fcgi, processes
# by spawn-fcgi). Run as root, Apache's workers become APACHE_USER (www-data).
run-apache: deps
	@sh tools/deps.sh apache
	@$(MAKE) --no-print-directory all player qr
	@mkdir -p -m 700 "$(PULSE_DATA)"
	@echo "Pulse (Apache) on http://$(PULSE_HOST):$(PORT)/ (data in $(PULSE_DATA)); Ctrl-C stops it."
	PORT=$(PORT) PULSE_HOST=$(PULSE_HOST) PULSE_DATA="$(PULSE_DATA)" PULSE_ROOT="$(CURDIR)" \
	PULSE_BIN="$(CURDIR)/$(BUILD)/bin" PULSE_WORKERS=$(PULSE_WORKERS) \
	exec sh tools/run-apache.sh

# The RTMP ingest of live rooms, beside `make run`: nginx-rtmp asks Pulse at
# $(PULSE_URL) whether a stream key may publish. nginx-rtmp.conf is a template.
RTMP_CONF = $(abspath $(PULSE_DATA))/nginx-rtmp.conf
run-rtmp:
	@sh tools/deps.sh rtmp
	@mkdir -p -m 700 "$(PULSE_DATA)"
	sed -e 's|@PULSE_URL@|$(PULSE_URL)|' -e 's|@RTMP_HOST@|$(RTMP_HOST)|' -e 's|@RTMP_PORT@|$(RTMP_PORT)|' \
	    -e 's|@PULSE_DATA@|$(abspath $(PULSE_DATA))|' -e 's|@NGINX_MODULES@|$(NGINX_MODULES)|' \
	    -e "s|@NGINX_USER@|$$(id -un)|" nginx-rtmp.conf > "$(RTMP_CONF)"
	@echo "RTMP on rtmp://$(RTMP_HOST):$(RTMP_PORT)/live/<streamKey> for Pulse at $(PULSE_URL), HLS into $(abspath $(PULSE_DATA))/hls; Ctrl-C stops it."
	exec nginx -p "$(abspath $(PULSE_DATA))/" -e stderr -c "$(RTMP_CONF)"

# What a deployment needs (README, "Deploying under lighttpd/nginx/Apache"): the
# programs and tools/run-nginx.sh, tools/run-apache.sh (as pulse-run-nginx,
# pulse-run-apache) in BINDIR; www/ and
# the web servers' configurations in DATADIR/pulse, the PULSE_ROOT they read.
PKGDATADIR = $(DATADIR)/pulse
WWW := $(sort $(shell find www -type f) $(PLAYER) $(QRJS))
install: all player qr
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(PKGDATADIR)/www"
	install -m 755 $(BINS) "$(DESTDIR)$(BINDIR)/"
	install -m 755 tools/run-nginx.sh "$(DESTDIR)$(BINDIR)/pulse-run-nginx"
	install -m 755 tools/run-apache.sh "$(DESTDIR)$(BINDIR)/pulse-run-apache"
	for f in $(WWW:www/%=%); do install -D -m 644 "www/$$f" "$(DESTDIR)$(PKGDATADIR)/www/$$f" || exit 1; done
	install -m 644 lighttpd.conf lighttpd.lua nginx.conf nginx-rtmp.conf apache.conf "$(DESTDIR)$(PKGDATADIR)/"

# Removes what install put there (DATADIR/pulse is Pulse's own), with the
# same PREFIX, BINDIR, DATADIR and DESTDIR.
uninstall:
	@test -n "$(DATADIR)" || { echo "uninstall: DATADIR is empty" >&2; exit 1; }
	rm -f $(addprefix "$(DESTDIR)$(BINDIR)/,$(addsuffix ",$(PROGRAMS) pulse-run-nginx pulse-run-apache))
	rm -rf "$(DESTDIR)$(PKGDATADIR)"

# ---- the shared-hosting package ----
# build/pulse-dist.tar.gz: one folder pulse/ to unpack under a document root
# (README "Shared hosting"): the static `pulse` as pulse.cgi and pulse.fcgi
# (one file, two names: Apache picks the handler by extension), the pages,
# an .htaccess, data/ with its own deny rule and pulse.conf.example.
# DIST_BIN: the binary packed (static.mk builds the static one).
DIST_BIN ?= build/static/pulse
DIST_TGZ := build/pulse-dist.tar.gz
dist: dist-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(DIST_TGZ)

dist-deps:
	@sh tools/deps.sh dist

$(DIST_TGZ): $(DIST_BIN) $(WWW) $(PLAYER) $(QRJS) dist/htaccess dist/data.htaccess dist/pulse.conf.example
	@rm -rf build/dist && mkdir -p build/dist/pulse/data
	install -s -m 755 $(DIST_BIN) build/dist/pulse/pulse.cgi
	ln build/dist/pulse/pulse.cgi build/dist/pulse/pulse.fcgi
	for f in $(WWW:www/%=%); do install -D -m 644 "www/$$f" "build/dist/pulse/$$f" || exit 1; done
	install -m 644 dist/htaccess build/dist/pulse/.htaccess
	install -m 644 dist/data.htaccess build/dist/pulse/data/.htaccess
	install -m 644 dist/pulse.conf.example build/dist/pulse/
	tar -C build/dist --owner=0 --group=0 --numeric-owner -czf $@.tmp pulse && mv $@.tmp $@

# ---- tests ----
unit: $(GEN)
	@$(MAKE) --no-print-directory -f tests/unit/unit.mk

# Fails when an include or a link points against the parts' direction
# (the table in tools/layers.py).
check-layers: all
	python3 tools/layers.py --objects $(BUILD)/obj

# The integration suite runs against the sanitizer build; the fuzz smoke
# run gives every parser of outside input a few seconds of libFuzzer.
test: test-deps
	@$(MAKE) --no-print-directory all player qr build/bench/sseload
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory SANITIZER=address,undefined BUILD=build/asan all
	@# the package (a libcurl built from source, about 90 s of one core) is
	@# built beside the fuzz run, which keeps one core busy
	@$(MAKE) --no-print-directory dist > build/dist.log 2>&1 & dist=$$!; \
	  $(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk fuzz-smoke FUZZ_SECONDS=$(FUZZ_SECONDS); rc=$$?; \
	  if ! wait $$dist; then tail -n 40 build/dist.log; echo "make test: make dist failed (build/dist.log)" >&2; exit 1; fi; \
	  exit $$rc
	python3 tests/run.py --bin build/asan/bin

FUZZ_SECONDS ?= 20

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
	@$(MAKE) --no-print-directory all build/bench/sseload build/bench/llm_upstream build/bench/noop/pulse-api build/bench/noop/pulse-batch
	python3 bench/run.py

# The ceiling instances (noop-nginx, noop-lighttpd) run from build/bench/noop:
# a FastCGI responder that answers at once as its request pool (publishes go
# to the no-op pulse-batch below) and a stream responder that only holds
# streams and writes prepared frames, so tools/run-nginx.sh and lighttpd.conf
# start all three from one directory.
build/bench/noop/pulse-api: bench/fcgi_noop.c build/bench/noop/pulse-stream
	@mkdir -p build/bench/noop
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -o $@ bench/fcgi_noop.c -lfcgi

build/bench/noop/pulse-stream: bench/stream_noop.c $(CORE_LIB)
	@mkdir -p build/bench/noop
	rm -f $@
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -o $@ $^ $(PULSE_LIBS)

# The batching responder's loop with a runtime that does nothing: the
# ceiling of POST /api/publish behind nginx's kept-alive connections.
build/bench/noop/pulse-batch: bench/runtime_noop.c $(BUILD)/obj/main/batch_main.o $(CORE_LIB)
	@mkdir -p build/bench/noop
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -o $@ $^ $(PULSE_LIBS)

# The publish handler path's CPU per request, without sockets (see the file).
build/bench/runtime_publish: bench/runtime_publish.c $(PULSE_LIBS_A)
	@mkdir -p build/bench
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -o $@ $^ $(PULSE_LIBS)

# pulse-batch's CPU per chat delta, without sockets (see the file).
build/bench/chat_gen_cpu: bench/chat_gen_cpu.c $(PULSE_LIBS_A)
	@mkdir -p build/bench
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -o $@ $^ $(PULSE_LIBS)

# The AI chat benchmark's upstream (bench/chat_bench.py --upstream c).
build/bench/llm_upstream: bench/llm_upstream.c
	@mkdir -p build/bench
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -o $@ bench/llm_upstream.c -lsqlite3

# The SSE load generator: benchmarks, and the fault tests' 1,000 clients.
SSELOAD_SRC := bench/sseload.c bench/sse_reader.c bench/sse_resume.c bench/sse_paths.c bench/latency.c
build/bench/sseload: $(SSELOAD_SRC) $(wildcard bench/*.h)
	@mkdir -p build/bench
	$(CC) $(PULSE_CFLAGS) $(PULSE_LDFLAGS) -o $@ $(SSELOAD_SRC) -lm
