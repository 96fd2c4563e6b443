#!/bin/sh
# deps.sh build|test|rtmp|nginx|apache|bench|dist - installs the Debian packages Pulse needs, when they
# are missing and we are root; otherwise says what to install and fails.
set -eu
# lighttpd-modules-lua: mod_magnet, which runs lighttpd.lua (per-client limit, JSON errors).
build="gcc make pkg-config libfcgi-dev libsqlite3-dev libhiredis-dev libssl-dev libcurl4-openssl-dev lighttpd lighttpd-modules-lua"
# `make run-rtmp` (the RTMP ingest of live rooms) needs nginx with the rtmp module.
rtmp="nginx libnginx-mod-rtmp"
# `make run-nginx`: Pulse behind nginx, its processes started by spawn-fcgi.
nginx="nginx spawn-fcgi"
# `make run-apache`: Pulse behind Apache 2.4 (mod_proxy_fcgi is in apache2),
# its processes started by spawn-fcgi.
apache="apache2 spawn-fcgi"
# `make dist`: the static pulse builds libcurl from Debian's source package (static.mk).
dist="$build curl xz-utils patch zlib1g-dev"
# `make bench`: Pulse behind lighttpd and nginx against nchan, load from sseload and wrk.
bench="$build python3 nginx spawn-fcgi libnginx-mod-nchan wrk"
test="$build xz-utils patch zlib1g-dev redis-server curl python3 sqlite3 nginx spawn-fcgi clang libclang-rt-14-dev chromium libnginx-mod-rtmp ffmpeg apache2 libapache2-mod-fcgid"
# The browser test runs playwright-core (npm, tests/browser) under Node: a node and
# npm already on PATH are used as they are, otherwise Debian's are installed.
command -v node >/dev/null 2>&1 || test="$test nodejs"
command -v npm >/dev/null 2>&1 || test="$test npm"
# live.html's video player (hls.js) comes from the npm registry (make player).
command -v npm >/dev/null 2>&1 || build="$build npm"
case "${1:-build}" in
    build) want=$build ;;
    test) want=$test ;;
    rtmp) want=$rtmp ;;
    nginx) want=$nginx ;;
    apache) want=$apache ;;
    bench) want=$bench ;;
    dist) want=$dist ;;
    *) echo "usage: deps.sh build|test|rtmp|nginx|apache|bench|dist" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "Pulse needs these Debian packages:$missing" >&2
    echo "run: sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian starts the servers it installs; Pulse runs its own on its own ports.
for svc in lighttpd nginx redis-server apache2; do
    case "$missing" in *"$svc"*) (service "$svc" stop >/dev/null 2>&1 || true) ;; esac
done
