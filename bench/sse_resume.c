/* sse_resume.c - a resuming client's id checks (see sse_resume.h). */
#include "sse_resume.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned rnd_state = 12345;

double resume_rnd_unit(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return ((rnd_state >> 8) & 0xffffff) / (double)0x1000000;
}

double resume_rnd_exp(double mean)
{
    return -mean * log(1.0 - resume_rnd_unit());
}

void resume_reopen(struct resume_client *c, int fresh)
{
    c->cur_id = 0;
    c->cur_reset = c->cur_data = c->muted = 0;
    c->since_open = 0;
    c->fresh = (uint8_t)fresh;
}

/* -F: the first block of a fresh stream must give its position; the
 * client keeps it and drops the stream before any event. */
static int fresh_block(struct resume_client *c, struct resume_counts *k)
{
    if (c->cur_id > 0 && !c->cur_data) {
        if (c->cur_id < c->last_id)
            k->bad_positions++;
        else
            c->last_id = c->cur_id;
    } else {
        k->unpositioned++;
    }
    c->muted = 1;
    return RESUME_DROP;
}

/* The end of a block with an id: an event, or a reset. */
static int block_end(struct resume_client *c, struct resume_counts *k)
{
    int flags = 0;

    if (c->cur_reset) {
        k->resets++;
    } else {
        if (c->cur_id <= c->last_id)
            k->dups++;
        else if (c->cur_id > c->last_id + 1)
            k->gaps++;
        if ((c->cur_id <= c->last_id || c->cur_id > c->last_id + 1) && getenv("SSELOAD_DEBUG"))
            fprintf(stderr, "conn %d: id %lld after %lld (%u events on this connection)\n", c->who,
                    (long long)c->cur_id, (long long)c->last_id, c->since_open);
        c->since_open++;
        if (c->cur_id > c->last_id)
            flags = RESUME_EVENT;
    }
    if (c->cur_id > c->last_id)
        c->last_id = c->cur_id;
    c->cur_id = 0;
    c->cur_reset = c->cur_data = 0;
    return flags;
}

int resume_line(struct resume_client *c, struct resume_counts *k, const char *p, size_t n)
{
    size_t i = 3;

    if (c->muted)
        return 0;
    if (n >= 5 && memcmp(p, "data:", 5) == 0) {
        c->cur_data = 1;
    } else if (n == 0 && c->fresh) {
        return fresh_block(c, k);
    } else if (n == 0 && !c->cur_data) {
        c->cur_id = 0;   /* a position, or a comment's end */
    } else if (n >= 3 && memcmp(p, "id:", 3) == 0) {
        while (i < n && p[i] == ' ')   /* p is not NUL-terminated: parse within n */
            i++;
        for (c->cur_id = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
            c->cur_id = c->cur_id * 10 + (p[i] - '0');
    } else if (n >= 12 && memcmp(p, "event: reset", 12) == 0) {
        c->cur_reset = 1;
    } else if (n == 0 && c->cur_id > 0) {
        return block_end(c, k);
    }
    return 0;
}
