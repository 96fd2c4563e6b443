/* mirror.h - an edge's copy of the primary's event log.
 *
 * On an edge (PULSE_ROLE=edge) the stream responder reads the Redis Stream
 * the primary's relays write (see relay.h) with a blocking XREAD and stores
 * each event in the local database under its own id, in order, one
 * transaction per batch. Everything else - replay, resume, resets, polling -
 * then works on the edge exactly as on the primary, from the local copy.
 * An entry whose "prev" is not the last id mirrored here means the edge fell
 * behind what Redis keeps: the gap is recorded as pruned history, so a
 * client resuming across it gets a reset instead of a silent skip. An entry
 * with "f" records the same for its topic alone. The edge prunes its own
 * copy with the same retention rules as the primary (store_prune). */
#ifndef PULSE_MIRROR_H
#define PULSE_MIRROR_H

#include <stdint.h>

struct config;
struct db;

/* Starts mirroring (Redis must be configured). on_news is called after
 * each read with the highest id stored, and caught_up once that read found
 * nothing more waiting in Redis. 0 or -1. */
int mirror_start(const struct config *cfg, struct db *db, void (*on_news)(int64_t id, int caught_up));
void mirror_tick(long long now_ms);

struct redisReply;
/* Stores the entries of one XREAD reply (nil, or [[key, [entry...]]]) in
 * db in one transaction; *stored gets the highest id the log then holds.
 * Returns the number of entries in the reply, or -1 (nothing stored). The
 * loop's read path, also called directly by the unit and fuzz tests. */
int mirror_apply(struct db *db, const struct redisReply *reply, int64_t *stored);
void mirror_stop(void);

#endif
