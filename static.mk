# static.mk - a fully static `pulse` (build/static/pulse): `ldd` finds no
# dynamic section to follow, so the one file runs on a host without
# libfcgi, sqlite3, hiredis, OpenSSL or libcurl (the shared-hosting package,
# `make dist`, packs it).
#
#   make -f static.mk [CI=true]       standalone: this file includes build.mk
#   make build/static/pulse           once the Makefile includes this file
#                                     (after build.mk; it is not included twice)
#   make -f static.mk static-clean    removes build/static (downloads too)
#
# Use the release build's flags (no SANITIZER; BUILD stays build/): the
# static binary links the very objects and archives `make build/bin/pulse`
# makes, build/obj/main/pulse_main.o, build/obj/main/multi/*_main.o and
# build/lib/libpulse-{handlers,core}.a, against static libraries.
#
# Debian ships the static .a of every library Pulse links except a usable
# libcurl (its libcurl.a wants gssapi, ldap, libpsl, nghttp2... which have
# no static libraries), so libcurl is built here from Debian's own source
# package, at the version installed (libcurl4-openssl-dev), with Debian's
# patches (its security fixes) and only what Pulse uses: HTTP(S) over
# OpenSSL with the threaded resolver. Everything it makes is cached under
# build/static/: a second make does nothing. After changing the configure
# flags below, run `make -f static.mk static-clean` (or rm -rf build/static).
#
# Needs: curl (the program) and deb.debian.org, sha256sum, tar, xz, patch,
# dpkg-query, and the -dev packages of libfcgi, sqlite3, hiredis, OpenSSL and
# zlib (their .a files). No autotools: the source package's generated
# configure and Makefile.in are used as shipped (see the patching rule).

ifeq ($(origin PULSE_CFLAGS),undefined)
include build.mk
.DEFAULT_GOAL := static
endif

STATIC := build/static

# ---- libcurl from Debian's source package
# The version of the libcurl headers the objects are compiled against (the
# installed libcurl4-openssl-dev) is the version built here, so the headers
# match byte for byte (checked before the link). Give CURL_DEB_VERSION on
# the command line to build another one.
CURL_DEB_VERSION ?= $(shell dpkg-query -W -f='$${Version}' libcurl4-openssl-dev 2>/dev/null)
# Pool file names carry no epoch; the upstream version is what precedes the
# last '-'.
CURL_DEB_NOEPOCH := $(shell echo '$(CURL_DEB_VERSION)' | sed 's/^[0-9]*://')
CURL_UPSTREAM := $(shell echo '$(CURL_DEB_NOEPOCH)' | sed 's/-[^-]*$$//')
CURL_POOL ?= http://deb.debian.org/debian/pool/main/c/curl
CURL_DL := $(STATIC)/dl
CURL_DSC := $(CURL_DL)/curl_$(CURL_DEB_NOEPOCH).dsc
CURL_ORIG := $(CURL_DL)/curl_$(CURL_UPSTREAM).orig.tar.gz
CURL_DEBIAN := $(CURL_DL)/curl_$(CURL_DEB_NOEPOCH).debian.tar.xz
# The unpacked, patched and configured tree; its stamps mark each step done.
CURL_SRC := $(STATIC)/src/curl-$(CURL_DEB_NOEPOCH)
CURL_A := $(STATIC)/curl/lib/libcurl.a
# The headers the objects were compiled with (pkg-config's libcurl).
CURL_SYS_INCLUDE := $(shell pkg-config --variable=includedir libcurl 2>/dev/null || echo /usr/include)

# Only what Pulse uses (HTTP and HTTPS, fcgi/out and fcgi/llm); the CA
# locations are Debian's (debian/rules), so HTTPS verifies as Debian's libcurl
# does. No zlib: Pulse never asks for a compressed answer
# (CURLOPT_ACCEPT_ENCODING). Proxies (http_proxy and friends) stay on.
CURL_CONFIGURE_FLAGS := --disable-shared --enable-static --with-pic \
  --disable-dependency-tracking \
  --with-openssl --enable-http --enable-threaded-resolver \
  --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp \
  --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap \
  --disable-smtp --disable-gopher --disable-mqtt --disable-smb --disable-manual \
  --without-libpsl --without-nghttp2 --without-nghttp3 --without-ngtcp2 \
  --without-brotli --without-zstd --without-libidn2 --without-librtmp \
  --without-libssh2 --without-libssh --without-wolfssh --without-gssapi \
  --without-zlib \
  --with-ca-path=/etc/ssl/certs --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt
# Built as Debian builds it (its hardening flags); PIC, as the static-pie
# link below needs position-independent code everywhere.
CURL_CFLAGS := -O2 -g -fstack-protector-strong -fPIC
CURL_CPPFLAGS := -D_FORTIFY_SOURCE=2

# fetch(file, url): downloads to file.tmp, then moves it into place, so an
# interrupted download leaves nothing make would take as done.
define curl_fetch
	@mkdir -p $(CURL_DL)
	@echo "static.mk: fetching $(2)"
	@curl -fsSL --retry 2 --connect-timeout 20 -o $(1).tmp '$(2)' || \
	  { rm -f $(1).tmp; echo "static.mk: could not download $(2); the static libcurl is built from Debian's curl source package (deb.debian.org)" >&2; exit 1; }
endef

$(CURL_DSC):
	@test -n '$(CURL_DEB_VERSION)' || { echo "static.mk: libcurl4-openssl-dev is not installed (dpkg-query found no version); install it, or give CURL_DEB_VERSION=..." >&2; exit 1; }
	$(call curl_fetch,$@,$(CURL_POOL)/$(notdir $@))
	@grep -q '^Checksums-Sha256:' $@.tmp || { echo "static.mk: $(notdir $@) is no .dsc (it lists no Checksums-Sha256)" >&2; rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

# Each tarball must have the SHA-256 that the .dsc lists for it (its
# Checksums-Sha256 section: " <sha256> <size> <name>" lines).
# Note: the .dsc itself comes over plain HTTP; its PGP signature is the
# uploader's (in debian-keyring, not installed here), so it is not verified:
# the checksums tie the tarballs to the .dsc, not the .dsc to Debian.
$(CURL_ORIG) $(CURL_DEBIAN): $(CURL_DSC)
	$(call curl_fetch,$@,$(CURL_POOL)/$(notdir $@))
	@want=$$(awk -v f='$(notdir $@)' '/^Checksums-Sha256:/ {s = 1; next} /^[^ ]/ {s = 0} s && $$3 == f {print $$1}' $(CURL_DSC)); \
	  test -n "$$want" || { echo "static.mk: $(CURL_DSC) lists no SHA-256 for $(notdir $@)" >&2; rm -f $@.tmp; exit 1; }; \
	  echo "$$want  $@.tmp" | sha256sum -c --quiet - || \
	  { echo "static.mk: $(notdir $@) does not have the SHA-256 $(notdir $(CURL_DSC)) lists ($$want); removed" >&2; rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

# Unpacks the upstream tarball and debian/, then applies debian/patches/series
# in order with `patch -p1` and no fuzz (as dpkg-source does), stopping at the
# first that does not apply. The last two patches of the series are the
# exception: debian/rules `quilt pop`s them for the OpenSSL flavour
# (libcurl4, libcurl4-openssl-dev) - they rename the library for the GnuTLS
# and NSS flavours - so they are left out here too, by name, and the make
# stops if the series no longer ends with them.
# A few patches change configure.ac or Makefile.am (gssapi link flags,
# OpenLDAP, zsh completions: nothing built here); Debian regenerates with
# buildconf, this build does not (no autotools needed): the shipped
# configure and Makefile.in are used, and maintainer mode stays off, so
# make does not try to run automake on the newer Makefile.am.
# All happens in $(CURL_SRC).tmp, renamed when done.
$(CURL_SRC)/.pulse-patched: $(CURL_ORIG) $(CURL_DEBIAN)
	@rm -rf $(CURL_SRC) $(CURL_SRC).tmp && mkdir -p $(CURL_SRC).tmp
	tar -xzf $(CURL_ORIG) -C $(CURL_SRC).tmp --strip-components=1
	tar -xJf $(CURL_DEBIAN) -C $(CURL_SRC).tmp
	@cd $(CURL_SRC).tmp && \
	  test -f debian/patches/series || { echo "static.mk: $(notdir $(CURL_DEBIAN)) has no debian/patches/series" >&2; exit 1; }; \
	  sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$$//' -e '/^$$/d' debian/patches/series > .pulse-series; \
	  if grep -q '[[:space:]]' .pulse-series; then echo "static.mk: debian/patches/series gives a patch options (not handled here):" >&2; grep '[[:space:]]' .pulse-series >&2; exit 1; fi; \
	  n=$$(wc -l < .pulse-series); \
	  gnutls=$$(sed -n "$$((n - 1))p" .pulse-series); nss=$$(sed -n "$${n}p" .pulse-series); \
	  case "$$gnutls $$nss" in *gnutls*" "*nss*) ;; \
	    *) echo "static.mk: debian/patches/series no longer ends with the GnuTLS and NSS patches ($$gnutls, $$nss) that debian/rules pops for the OpenSSL build; check debian/rules and this file" >&2; exit 1;; esac; \
	  echo "static.mk: applying $$((n - 2)) of Debian's $$n patches; left out, as debian/rules does for the OpenSSL flavour: $$gnutls $$nss"; \
	  head -n $$((n - 2)) .pulse-series | while read -r p; do \
	    patch -p1 --forward --batch --fuzz=0 --no-backup-if-mismatch -E -s --reject-file=- < "debian/patches/$$p" > .pulse-patch.log 2>&1 || \
	      { cat .pulse-patch.log >&2; echo "static.mk: Debian patch $$p does not apply to curl $(CURL_UPSTREAM); stopping" >&2; exit 1; }; \
	  done
	@touch $(CURL_SRC).tmp/.pulse-patched
	@mv $(CURL_SRC).tmp $(CURL_SRC)

# Configure, build lib/ alone, install its headers and libcurl.a into
# build/static/curl (libcurl.a last: it marks the install done).
$(CURL_A): $(CURL_SRC)/.pulse-patched
	@rm -rf $(STATIC)/curl
	cd $(CURL_SRC) && ./configure -q --prefix=$(CURDIR)/$(STATIC)/curl CC='$(CC)' \
	  CFLAGS='$(CURL_CFLAGS)' CPPFLAGS='$(CURL_CPPFLAGS)' $(CURL_CONFIGURE_FLAGS) > .pulse-configure.log || \
	  { cat .pulse-configure.log config.log 2>/dev/null | tail -40 >&2; echo "static.mk: curl's configure failed (above: the end of config.log)" >&2; exit 1; }
	$(MAKE) --no-print-directory -s -C $(CURL_SRC)/lib -j2 || { echo "static.mk: building libcurl failed" >&2; exit 1; }
	$(MAKE) --no-print-directory -s -C $(CURL_SRC)/include install && \
	  $(MAKE) --no-print-directory -s -C $(CURL_SRC)/lib install || \
	  { rm -rf $(STATIC)/curl; echo "static.mk: installing libcurl into $(STATIC)/curl failed" >&2; exit 1; }
	@rm -f $(STATIC)/curl/lib/libcurl.la
	@test -f $@ && touch $@

# ---- the static pulse
# -static -no-pie (the default): an ELF with no dynamic section at all, which
# `ldd` calls "not a dynamic executable" (tests/integration checks that).
# STATIC_PIE=yes links -static-pie instead: the same one file, no dynamic
# dependencies either, but loaded at a random address (ASLR of the program's
# own code, as the -pie release build has); `ldd` then says "statically
# linked" and `file` "static-pie linked". Without it the heap, stack and
# mmap areas are still randomised, the program's code and data are not.
# Both work with these objects: every one is PIC (build.mk compiles with
# -fPIE, Debian's static libraries are built PIE, libcurl above with -fPIC).
# build.mk's -pie is left out (it contradicts -static); full RELRO stays.
# Link order: each library after its users - libcurl before libssl and
# libcrypto, libssl before libcrypto, libcrypto before zlib and libdl.
#
# glibc's link-time warnings, expected here:
#   "Using 'getaddrinfo' (also gethostbyname, getpwnam, getpwuid...) in
#   statically linked applications requires at runtime the shared libraries
#   from the glibc version used for linking"
# They are acceptable for what Pulse resolves: since glibc 2.34 the "files"
# and "dns" NSS services live inside libc itself (libc.a too), so host names
# (/etc/hosts, then /etc/resolv.conf: curl's threaded resolver, hiredis) and
# passwd lookups work with no shared library. Only a service named in the
# host's /etc/nsswitch.conf beyond those (mdns4, resolve, myhostname, sss,
# ldap...) makes the static libc dlopen a libnss_*.so: on a host whose glibc
# differs from 2.36 that module may fail to load (the lookup then goes on
# with the next service) or, at worst, misbehave. A host that must resolve
# through such a service wants the dynamic build.
#   "Using 'dlopen' in statically linked applications..." (sqlite3's
#   unixDlOpen; libcrypto has the same calls)
# Acceptable too: they serve sqlite3's load_extension, which Pulse never
# enables, and OpenSSL engines or provider modules, loaded only when an
# openssl.cnf asks for them (Debian's does not; the default provider is
# inside libcrypto.a).
# STATIC_PIE is not in any prerequisite: after changing it, remove
# build/static/pulse (only the link runs again).
STATIC_PIE ?= no
STATIC_LINK := $(if $(filter yes,$(STATIC_PIE)),-static-pie,-static -no-pie)
STATIC_LDFLAGS = $(OPT) $(STATIC_LINK) -Wl,-z,relro,-z,now -pthread $(LDFLAGS)
STATIC_LIBS := -lfcgi -lsqlite3 -lhiredis -lssl -lcrypto -lz -lpthread -lm -ldl
STATIC_OBJS = $(BUILD)/obj/main/pulse_main.o $(MULTI_OBJS)

.PHONY: static static-clean
static: $(STATIC)/pulse

ifeq ($(SANITIZER),)
# The objects were compiled against the system's libcurl headers (build.mk:
# pkg-config libcurl); the library linked is the one built here, so its
# headers must be the same (CURL version macros, struct and option numbers):
# the link stops if they are not.
$(STATIC)/pulse: $(STATIC_OBJS) $(PULSE_LIBS_A) $(CURL_A)
	@diff -r $(CURL_SYS_INCLUDE)/curl $(STATIC)/curl/include/curl > /dev/null || \
	  { diff -r $(CURL_SYS_INCLUDE)/curl $(STATIC)/curl/include/curl | head -20 >&2; \
	    echo "static.mk: the headers the objects were compiled with ($(CURL_SYS_INCLUDE)/curl) differ from the libcurl built here" >&2; exit 1; }
	@mkdir -p $(dir $@)
	$(CC) $(STATIC_LDFLAGS) -o $@.tmp $(STATIC_OBJS) $(PULSE_LIBS_A) $(CURL_A) $(STATIC_LIBS) $(LDLIBS)
	@mv $@.tmp $@
else
.PHONY: $(STATIC)/pulse
$(STATIC)/pulse:
	@echo "static.mk: the static pulse is a release build: run it without SANITIZER (now $(SANITIZER))" >&2; exit 1
endif

static-clean:
	rm -rf $(STATIC)
