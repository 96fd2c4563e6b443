#!/bin/sh
# run-nginx.sh - runs Pulse behind nginx in the foreground (make run-nginx).
#
# Reads PORT, PULSE_HOST, PULSE_ROOT, PULSE_DATA, PULSE_BIN, PULSE_WORKERS
# (and NGINX_WORKERS, PULSE_MAX_PER_CLIENT when set) and passes every other
# variable (PULSE_*, REDIS_*, secrets) on to the FastCGI processes. Starts
# the request pool (pulse-api supervising PULSE_WORKERS workers), the
# batching responder (pulse-batch) and the stream responder (each kept by
# its own supervisor, PULSE_PREFORK=1, so their restart refuses no request)
# with spawn-fcgi, then nginx; restarts any of them that dies (nginx will not);
# stops everything it started, by PID, on SIGINT or SIGTERM.
set -eu
: "${PORT:?}" "${PULSE_HOST:?}" "${PULSE_ROOT:?}" "${PULSE_DATA:?}" "${PULSE_BIN:?}" "${PULSE_WORKERS:?}"
mkdir -p -m 700 "$PULSE_DATA"  # (it holds the database: keys, tokens, wallets)
data=$(cd "$PULSE_DATA" && pwd)
mkdir -p -m 700 "$data/nginx-tmp"
workers=${NGINX_WORKERS:-2}
case "$workers" in
    ''|*[!0-9]*|0) echo "run-nginx: NGINX_WORKERS=$workers: expected a positive integer" >&2; exit 2 ;;
esac
per_client=${PULSE_MAX_PER_CLIENT:-100}
case "$per_client" in
    ''|*[!0-9]*) echo "run-nginx: PULSE_MAX_PER_CLIENT=$per_client: expected an integer from 0 to 65535" >&2; exit 2 ;;
esac
if [ "$per_client" -gt 65535 ]; then
    echo "run-nginx: PULSE_MAX_PER_CLIENT=$per_client: expected an integer from 0 to 65535" >&2
    exit 2
fi
# 0 = no limit: nginx's limit_conn takes 1-65535, so the line goes.
limit="s|@PULSE_MAX_PER_CLIENT@|$per_client|g"
[ "$per_client" -eq 0 ] && limit="s|limit_conn pulse_clients @PULSE_MAX_PER_CLIENT@;|# no per-client limit (PULSE_MAX_PER_CLIENT=0)|"
sed -e "s|@PORT@|$PORT|g" -e "s|@PULSE_HOST@|$PULSE_HOST|g" -e "s|@PULSE_ROOT@|$PULSE_ROOT|g" \
    -e "s|@PULSE_DATA@|$data|g" -e "s|@NGINX_USER@|$(id -un)|g" -e "s|@WORKERS@|$workers|g" -e "$limit" \
    "$PULSE_ROOT/nginx.conf" > "$data/nginx.conf"
# The streams nginx holds with room to spare (see worker_connections in
# nginx.conf): pulse-stream refuses more with 503 + Retry-After.
conns=$(sed -n 's/^[[:space:]]*worker_connections[[:space:]]*\([0-9][0-9]*\);.*/\1/p' "$data/nginx.conf")
[ -n "$conns" ] || { echo "run-nginx: no worker_connections in nginx.conf" >&2; exit 2; }
web_streams=$((workers * conns * 45 / 100))

api= batch= stream= nginx=
stop() {
    trap - INT TERM
    for pid in $nginx $stream $batch $api; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    exit 0
}
trap stop INT TERM

start_api() {
    PULSE_PREFORK=$PULSE_WORKERS spawn-fcgi -n -b 4096 -s "$data/pulse-api.sock" -- "$PULSE_BIN/pulse-api" &
    api=$!
}
start_batch() {
    PULSE_PREFORK=1 spawn-fcgi -n -b 4096 -s "$data/pulse-batch.sock" -- "$PULSE_BIN/pulse-batch" &
    batch=$!
}
start_stream() {
    PULSE_PREFORK=1 PULSE_WEB_MAX_STREAMS=$web_streams spawn-fcgi -n -b 4096 -s "$data/pulse-stream.sock" -- "$PULSE_BIN/pulse-stream" &
    stream=$!
}

start_api
start_batch
start_stream
nginx -p "$data/" -e stderr -c "$data/nginx.conf" &
nginx=$!
# nginx restarts neither: do what lighttpd does for its bin-path processes.
while kill -0 "$nginx" 2>/dev/null; do
    if ! kill -0 "$api" 2>/dev/null; then
        echo "run-nginx: pulse-api exited; restarting it" >&2
        start_api
    fi
    if ! kill -0 "$batch" 2>/dev/null; then
        echo "run-nginx: pulse-batch exited; restarting it" >&2
        start_batch
    fi
    if ! kill -0 "$stream" 2>/dev/null; then
        echo "run-nginx: pulse-stream exited; restarting it" >&2
        start_stream
    fi
    sleep 0.2
done
echo "run-nginx: nginx exited" >&2
stop
