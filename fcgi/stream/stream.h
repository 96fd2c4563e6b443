/* stream.h - the stream responder's connection registry and fan-out.
 *
 * Every SSE connection is a small struct in one epoll loop; topics index
 * connections both ways (topic -> subscribers, connection -> its topics) so
 * a disconnect costs O(its topics). New events are read from the log in id
 * order (stream_pump) whatever woke us - Redis, a local bell, the tail poll
 * - so delivery order is the log's order and a resume never has a gap. */
#ifndef PULSE_STREAM_H
#define PULSE_STREAM_H

#include <stdint.h>

struct config;
struct db;

int stream_init(const struct config *cfg, struct db *db, int listen_fd);
/* Delivers every committed event newer than the high-water mark. */
void stream_pump(void);
/* Heartbeats and handshake time-outs; call a few times a second. */
void stream_tick(long long now_ms);
/* Frees connections closed during this loop turn. */
void stream_reap(void);
/* Ends every stream (END_REQUEST) and frees the registry. */
void stream_shutdown(void);
int64_t stream_high_water(void);
/* While off, new streams get 503 + Retry-After (an edge still copying the
 * log would otherwise send old events as live ones). On by default. */
void stream_set_serving(int on);

#endif
