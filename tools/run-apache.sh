#!/bin/sh
# run-apache.sh - runs Pulse behind Apache 2.4 in the foreground (make run-apache).
#
# Reads PORT, PULSE_HOST, PULSE_ROOT, PULSE_DATA, PULSE_BIN, PULSE_WORKERS
# (and APACHE_USER, APACHE_MODULES when set) and passes every other variable
# (PULSE_*, REDIS_*, secrets) on to the FastCGI processes. Fills apache.conf
# into $PULSE_DATA, starts the request pool (pulse-api supervising
# PULSE_WORKERS workers), the batching responder (pulse-batch) and the stream
# responder (each kept by its own supervisor, PULSE_PREFORK=1, so their
# restart refuses no request) with spawn-fcgi, then Apache; restarts any of the three that
# dies (mod_proxy_fcgi will not); stops everything it started, by PID, on
# SIGINT or SIGTERM.
set -eu
: "${PORT:?}" "${PULSE_HOST:?}" "${PULSE_ROOT:?}" "${PULSE_DATA:?}" "${PULSE_BIN:?}" "${PULSE_WORKERS:?}"
mkdir -p -m 700 "$PULSE_DATA"  # (it holds the database: keys, tokens, wallets)
data=$(cd "$PULSE_DATA" && pwd)
modules=${APACHE_MODULES:-/usr/lib/apache2/modules}
# Apache's workers connect to the sockets. Run by an ordinary user, Apache
# cannot change user: its workers are that user, like the FastCGI processes.
# Run by root, Apache refuses to serve as root, so its workers become
# APACHE_USER (default www-data); the sockets are then handed to that user
# (spawn-fcgi -U, mode 0600) and $PULSE_DATA opened to traversal only (0711:
# nothing in it can be listed, and the database files are 0600).
sock_owner=
if [ "$(id -u)" -eq 0 ]; then
    user=${APACHE_USER:-www-data}
    id -u "$user" >/dev/null 2>&1 || { echo "run-apache: no user $user (APACHE_USER)" >&2; exit 2; }
    [ "$(id -u "$user")" -ne 0 ] || { echo "run-apache: APACHE_USER must not be root" >&2; exit 2; }
    sock_owner="-U $user -M 0600"
    chmod 711 "$data"
    # Every directory above them must let that user through too (a tree
    # under /root, 0700, would give 403 for every page and 503 for the API).
    if ! runuser -u "$user" -- test -x "$data" -a -r "$PULSE_ROOT/www/index.html"; then
        echo "run-apache: $user (APACHE_USER) cannot reach $data or read $PULSE_ROOT/www:" \
             "put them where it can (e.g. under /srv), or make their parent directories o+x" >&2
        exit 2
    fi
else
    user=$(id -un)
fi
group=$(id -gn "$user")
sed -e "s|@PORT@|$PORT|g" -e "s|@PULSE_HOST@|$PULSE_HOST|g" -e "s|@PULSE_ROOT@|$PULSE_ROOT|g" \
    -e "s|@PULSE_DATA@|$data|g" -e "s|@APACHE_USER@|$user|g" -e "s|@APACHE_GROUP@|$group|g" \
    -e "s|@APACHE_MODULES@|$modules|g" "$PULSE_ROOT/apache.conf" > "$data/apache.conf"
# The streams Apache holds with room to spare (see MaxRequestWorkers in
# apache.conf): pulse-stream refuses more with 503 + Retry-After.
workers=$(sed -n 's/^MaxRequestWorkers[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$data/apache.conf")
[ -n "$workers" ] || { echo "run-apache: no MaxRequestWorkers in apache.conf" >&2; exit 2; }
web_streams=$((workers * 90 / 100))
# A socket left by a run that was killed would make spawn-fcgi fail.
rm -f "$data/pulse-api.sock" "$data/pulse-batch.sock" "$data/pulse-stream.sock"

api='' batch='' stream='' apache=''
stop() {
    trap - INT TERM
    # Apache first (it stops its workers, which hold the streams), then the
    # FastCGI processes.
    for pid in $apache $stream $batch $api; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    exit 0
}
trap stop INT TERM

# shellcheck disable=SC2086
start_api() {
    PULSE_PREFORK=$PULSE_WORKERS spawn-fcgi -n -b 4096 $sock_owner -s "$data/pulse-api.sock" -- "$PULSE_BIN/pulse-api" &
    api=$!
}
# shellcheck disable=SC2086
start_batch() {
    PULSE_PREFORK=1 spawn-fcgi -n -b 4096 $sock_owner -s "$data/pulse-batch.sock" -- "$PULSE_BIN/pulse-batch" &
    batch=$!
}
# shellcheck disable=SC2086
start_stream() {
    PULSE_PREFORK=1 PULSE_WEB_MAX_STREAMS=$web_streams spawn-fcgi -n -b 4096 $sock_owner -s "$data/pulse-stream.sock" -- "$PULSE_BIN/pulse-stream" &
    stream=$!
}

start_api
start_batch
start_stream
apache2 -d "$data" -f "$data/apache.conf" -DFOREGROUND &
apache=$!
while kill -0 "$apache" 2>/dev/null; do
    if ! kill -0 "$api" 2>/dev/null; then
        echo "run-apache: pulse-api exited; restarting it" >&2
        start_api
    fi
    if ! kill -0 "$batch" 2>/dev/null; then
        echo "run-apache: pulse-batch exited; restarting it" >&2
        start_batch
    fi
    if ! kill -0 "$stream" 2>/dev/null; then
        echo "run-apache: pulse-stream exited; restarting it" >&2
        start_stream
    fi
    sleep 0.2
done
echo "run-apache: apache2 exited" >&2
stop
