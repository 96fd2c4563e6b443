/* sse_resume.h - what one resuming EventSource client of the load
 * generator checks (sseload -r): event ids arrive as last+1, last+2, ...
 * across reconnects; an id above the next expected is a gap, one at or
 * below the last a duplicate. Lines in, counts out.
 *
 * Resume mode (-r MEAN_MS, for the fault tests): every stream is dropped
 * at random moments (exponential, mean MEAN_MS) and, like EventSource,
 * reconnects with Last-Event-ID (starting from -L ID); a stream the server
 * ends also reconnects. Event ids must then arrive as ID+1, ID+2, ... on
 * every client: each id above the next expected is a gap, each id at or
 * below the last a duplicate. It ends when every client has id ID+EVENTS.
 * With -F PCT, that share of the connections (the first and each reconnect)
 * are a fresh EventSource instead (a page loaded anew): no Last-Event-ID,
 * and the client drops the stream as soon as its first block has come,
 * before any event, keeping the position that block gave (`id:` with no
 * data, which EventSource records), and reconnects from it. A fresh stream
 * whose first block holds no position counts as unpositioned.
 */
#ifndef SSE_RESUME_H
#define SSE_RESUME_H

#include <stddef.h>
#include <stdint.h>

struct resume_client {
    int who;             /* its number, for SSELOAD_DEBUG lines */
    int64_t last_id;     /* highest id received (Last-Event-ID on reconnect) */
    int64_t cur_id;      /* id: of the block being read, 0 if none */
    uint32_t since_open; /* events on this connection */
    uint8_t cur_reset;   /* the block being read is `event: reset` */
    uint8_t cur_data;    /* the block being read has data (an event, not a position) */
    uint8_t fresh;       /* this connection was opened without a position (-F) */
    uint8_t muted;       /* fresh, its first block read: dropped before any event */
};

struct resume_counts {
    long gaps, dups, resets;
    long unpositioned;   /* a fresh stream whose first block held no position */
    long bad_positions;  /* a position behind what the client had seen */
};

#define RESUME_EVENT 1   /* the line ended a new event */
#define RESUME_DROP 2    /* a fresh stream's position is kept: drop it now */

/* One SSE line (without its line end) of the client's stream; returns
 * RESUME_* flags. */
int resume_line(struct resume_client *c, struct resume_counts *k, const char *p, size_t n);

/* Readies c for its next connection (fresh or not). */
void resume_reopen(struct resume_client *c, int fresh);

/* The random moments of resume mode, the same from run to run (a fixed
 * seed): uniform in [0, 1), and exponential with that mean. */
double resume_rnd_unit(void);
double resume_rnd_exp(double mean);

#endif
