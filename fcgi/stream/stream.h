/* stream.h - the stream responder's connection registry and fan-out.
 *
 * Every SSE connection is a small struct in one epoll loop; topics index
 * connections both ways (topic -> subscribers, connection -> its topics) so
 * a disconnect costs O(its topics). New events are read from the log in id
 * order (stream_pump) whatever woke us - Redis, a local bell, the tail poll
 * - so delivery order is the log's order and a resume never has a gap.
 *
 * All of it lives in one struct stream that its main creates and passes
 * in; the parts are described in stream/hub.h. */
#ifndef PULSE_STREAM_H
#define PULSE_STREAM_H

#include <stdint.h>

struct config;
struct db;
struct stream;

/* Values of stream_err(). */
enum stream_err { STREAM_OK, STREAM_ERR_DB, STREAM_ERR_IO };

/* A new responder reading cfg (kept by reference) and db (borrowed; both
 * must outlive it), accepting FastCGI connections on listen_fd, or on none
 * when listen_fd < 0 (connections are then handed in by stream_accept).
 * Needs loop_init() first. Never NULL: check stream_err(), and free it with
 * stream_free either way. */
struct stream *stream_new(const struct config *cfg, struct db *db, int listen_fd);
/* The last failure (enum stream_err, 0 = none) and its text (owned by s,
 * valid until the next failure; "" when none). */
int stream_err(const struct stream *s);
const char *stream_errstr(const struct stream *s);
/* Takes a connected, non-blocking FastCGI socket (closed with it). */
void stream_accept(struct stream *s, int fd);
/* Delivers every committed event newer than the high-water mark. */
void stream_pump(struct stream *s);
/* Heartbeats, handshake time-outs and stream deadlines as of now_ms on
 * clock_ms()'s clock; call a few times a second. */
void stream_tick(struct stream *s, long long now_ms);
/* Frees connections closed during this loop turn. */
void stream_reap(struct stream *s);
/* Ends every stream (END_REQUEST) and frees s. NULL is a no-op. */
void stream_free(struct stream *s);
int64_t stream_high_water(const struct stream *s);
/* The log lost events this process may have served (an edge whose
 * primary's file was put back): every stream is reset at the next read
 * of the log, as for a file put back here. */
void stream_log_replaced(struct stream *s);
/* While off, new streams get 503 + Retry-After (an edge still copying the
 * log would otherwise send old events as live ones). On by default. */
void stream_set_serving(struct stream *s, int on);
/* Streams opened from now on end after max_s seconds (0: never), with a
 * last comment; EventSource resumes from its last event. PULSE_STREAM_MAX_S
 * by default. */
void stream_set_max_s(struct stream *s, long max_s);

#endif
