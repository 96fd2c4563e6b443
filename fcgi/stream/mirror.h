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
 * with "f" (the primary pruned its topic up to it) records the same for its
 * topic alone, when f is above the topic's newest event here and its floor
 * here (events the edge got before they were pruned are no gap). The edge
 * prunes its own copy with the same retention rules as the primary
 * (store_prune).
 * Only entries the primary signed (relaysig.h) are stored: anyone who can
 * write Redis can add entries, and an edge delivers what it stores to
 * browsers as the primary's. A read past refused entries waits a short
 * while only, then reads again from the last id stored: the relay removes
 * entries it did not write and sets the stream back below them. */
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
struct relaysig;

/* A Redis stream entry id, <ms>-<seq>. */
struct mirror_pos {
    uint64_t ms, seq;
};

struct mirror_read {
    struct mirror_pos from;  /* in: the XREAD read the entries after this one */
    int64_t stored;          /* out: the highest id the log holds (unchanged for a nil reply) */
    struct mirror_pos seen;  /* out: the newest entry of the reply (from when none) */
    int reread;              /* out: 1 when events may be missing below from: read again from stored */
    int refused;             /* out: entries refused (not signed by sig), each counted and logged once */
};

/* Stores the entries of one XREAD reply (nil, or [[key, [entry...]]]) in
 * db in one transaction, those signed under sig (relaysig.h) alone; an
 * entry not signed is refused, logged and counted
 * (pulse_mirror_refused_entries_total): not stored, no gap, the head does
 * not move. Returns the number of entries in the reply, or -1 (nothing
 * stored). The loop's read path, also called directly by the unit and
 * fuzz tests. */
int mirror_apply(struct db *db, struct relaysig *sig, const struct redisReply *reply, struct mirror_read *rd);
void mirror_stop(void);

#endif
