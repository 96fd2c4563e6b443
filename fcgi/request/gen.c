/* gen.c - the generator (see gen.h). */
#include "request/gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "llm/llm.h"
#include "request/runtime.h"

#define PROBE_MS 100      /* how often an idle generator looks for new answers */
#define RENEW_MS 250      /* lease renewal of answers without text, and how soon their cancel is seen */
#define LEASE_MS 5000     /* an answer whose generator died ends this long after */
#define SWEEP_MS 1000
#define RETRY_MS 100      /* a commit the store could not take now is tried again this much later */
#define ROW_EVERY 16      /* an answer's row takes in its text after at most this many deltas */
/* An answer's last event carries its whole text and, besides it, at most
 * this much: ids, the audit, the finish reason, usage and an error message
 * (llm_sse.c keeps those short) and the model's name, counted apart. */
#define END_SLACK 8192

enum job_end { END_NONE, END_DONE, END_ERROR };

struct job {
    struct job *next, *prev;   /* g->jobs */
    struct job *next_dirty;    /* g->dirty */
    struct gen *g;
    char *id;                  /* owned */
    struct llm_call *call;     /* NULL once the model ended */
    buf_t text;                /* arrived, not committed yet */
    size_t sending;            /* bytes of text in the commit under way */
    enum job_end end;
    char *reason, *usage;      /* END_DONE (owned; usage may be NULL) */
    char *code, *message;      /* END_ERROR (owned) */
    int alive;                 /* seen by the last renewal */
    int gone;                  /* the row is not ours any more: drop it */
    int flushed;               /* in the commit under way */
    int queued;                /* on g->dirty */
    int touched;               /* committed to since the last renewal (its lease extended by the first commit) */
    int64_t seq;               /* the last delta committed */
    buf_t row;                 /* the text committed since the row last took it in */
    int unwritten;             /* its deltas */
    int writing;               /* the commit under way writes the row */
    size_t json_len;           /* the answer's bytes as a JSON string: at most g->json_max */
    int refused;               /* its last unit was refused: the status (a 4xx, not a busy store), else 0 */
    int refusals;              /* how many of its units were refused */
};

struct gen {
    struct runtime *rt;
    struct llm *llm;
    const struct gen_hooks *hooks;
    char owner[RUNTIME_OWNER_MAX]; /* the lease's name */
    size_t max, njobs;
    int row_every;             /* gen_row_every */
    size_t json_max;           /* the longest answer (as JSON) its last event can carry */
    buf_t scratch;             /* a unit's row text */
    struct job *jobs;
    struct job *dirty;         /* the jobs with text or an end to commit: a flush looks at these only */
    long long probe_at, renew_at, sweep_at;
    long long flush_at;        /* no commit before: the last could not be made (a busy or failing store) */
};

/* ---- what the model reports (no database work here: gen_run commits) */

static void mark(struct job *j)
{
    if (j->queued)
        return;
    j->queued = 1;
    j->next_dirty = j->g->dirty;
    j->g->dirty = j;
}

static void on_error(void *arg, const char *code, const char *message);

/* Bytes c takes inside a JSON string as SQLite writes it (json_object):
 * a quote or backslash and \b \t \n \f \r two, other control
 * characters six (\u00XX); DEL counted as six too, to be safe. */
static size_t json_bytes(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r')
        return 2;
    return c < 0x20 || c == 0x7f ? 6 : 1;
}

/* Appends what arrived; text that would make the answer too long for its
 * last event (every delta is a part of it) ends it here, as the upstream's
 * own bound does: what fits is kept, cut between characters, and the
 * upstream closed. An event the log refuses would be tried again forever. */
static void on_delta(void *arg, const char *text, size_t len)
{
    struct job *j = arg;
    size_t i, add, fits;

    for (i = 0; i < len; i++) {
        add = json_bytes((unsigned char)text[i]);
        if (j->json_len + add > j->g->json_max)
            break;
        j->json_len += add;
    }
    fits = i;
    if (fits < len)   /* not inside a character */
        while (fits > 0 && ((unsigned char)text[fits] & 0xC0) == 0x80)
            fits--;
    for (i = 0; i < fits; i++)   /* a NUL would end the text in SQLite's C API */
        if (text[i] != '\0')
            buf_putc(&j->text, text[i]);
    mark(j);
    if (fits < len) {
        llm_cancel(j->g->llm, j->call);
        on_error(j, "upstream_too_large", "the answer is longer than one event may carry (PULSE_MAX_EVENT_BYTES)");
    }
}

static void on_done(void *arg, const char *finish_reason, const char *usage_json)
{
    struct job *j = arg;

    j->call = NULL;
    j->end = END_DONE;
    j->reason = xstrdup(finish_reason != NULL ? finish_reason : "stop");
    j->usage = usage_json != NULL ? xstrdup(usage_json) : NULL;
    mark(j);
}

static void on_error(void *arg, const char *code, const char *message)
{
    struct job *j = arg;

    j->call = NULL;
    j->end = END_ERROR;
    j->code = xstrdup(code);
    j->message = xstrdup(message);
    mark(j);
}

static const struct llm_handler handler = {on_delta, on_done, on_error};

/* ---- jobs */

static void job_free(struct gen *g, struct job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        g->jobs = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    if (j->call != NULL)
        llm_cancel(g->llm, j->call);
    buf_free(&j->text);
    buf_free(&j->row);
    free(j->id);
    free(j->reason);
    free(j->usage);
    free(j->code);
    free(j->message);
    free(j);
    g->njobs--;
}

static int committed_or_gone(const struct job *j)
{
    return j->flushed && (j->gone || (j->end != END_NONE && j->text.len == 0));
}

static void job_add(struct gen *g, struct gen_job *gj)
{
    struct job *j = xcalloc(1, sizeof *j);

    j->g = g;
    j->touched = 1;            /* the claim just leased it */
    j->id = gj->id;
    gj->id = NULL;
    j->seq = gj->seq;
    j->next = g->jobs;
    if (g->jobs != NULL)
        g->jobs->prev = j;
    g->jobs = j;
    g->njobs++;
    j->call = llm_start(g->llm, gj->messages_json, &handler, j);
    if (j->call == NULL)
        on_error(j, "upstream_refused", "the model could not be asked");
}

/* ---- units of work */

static int unit_flush(struct ctx *c, void *arg)
{
    struct job *j = arg;
    const struct gen_hooks *h = j->g->hooks;
    int rc = 0;

    j->sending = j->text.len;
    /* The row takes in the text, and the lease is extended, by the first
     * commit after each renewal and after ROW_EVERY deltas, not by every
     * one: at 20 deltas a second, rewriting the row (and the lease's index
     * entry) at each was a quarter of this process's CPU a delta. */
    j->writing = j->text.len > 0 && (!j->touched || j->unwritten + 1 >= j->g->row_every);
    if (j->writing) {
        buf_reset(&j->g->scratch);
        buf_append(&j->g->scratch, j->row.p, j->row.len);
        buf_append(&j->g->scratch, j->text.p, j->text.len);
    }
    if (j->text.len > 0)
        rc = h->append(c, j->g->owner, j->touched ? 0 : LEASE_MS, j->id, buf_str(&j->text), j->seq + 1,
                       j->writing ? buf_str(&j->g->scratch) : NULL);
    if (rc == 1) {
        j->gone = 1;
        return 0;
    }
    if (rc == 0 && j->end == END_DONE)
        rc = h->finish(c, j->g->owner, j->id, j->reason, j->usage);
    else if (rc == 0 && j->end == END_ERROR)
        rc = h->fail(c, j->g->owner, j->id, j->code, j->message);
    j->refused = rc != 0 && c->resp->status >= 400 && c->resp->status < 500 ? c->resp->status : 0;
    return rc;
}

static int has_work(const struct job *j)
{
    return j->text.len > 0 || j->end != END_NONE;
}

/* A unit the runtime refused (not a busy store, which passes): the same
 * commit would be refused again. First the answer ends with a short error
 * instead of what it was to end with, its text kept; refused again, that
 * text is dropped too (the text committed before stays); refused even
 * then, this process lets go of it and its lease runs out (the sweep ends
 * it). */
static void refused(struct gen *g, struct job *j)
{
    buf_t m = {0};

    j->sending = 0;
    if (++j->refusals > 2) {
        log_error("chat answer %s: its end was refused too (%d); left to the sweep", j->id, j->refused);
        job_free(g, j);
        return;
    }
    log_error("chat answer %s: a commit was refused (%d); ending it with %s", j->id, j->refused,
              j->refusals == 1 ? "its text" : "the text committed before");
    buf_printf(&m, "the log refused the answer's event (%d); the text committed so far is kept", j->refused);
    j->refused = 0;
    if (j->call != NULL)
        llm_cancel(g->llm, j->call);
    j->call = NULL;
    if (j->refusals > 1)
        buf_reset(&j->text);
    free(j->code);
    free(j->message);
    j->end = END_ERROR;
    j->code = xstrdup("event_refused");
    j->message = buf_steal(&m);
    mark(j);
}

/* After the batch, for the jobs of list: what was committed is consumed
 * (a job that ended and was committed, or is no longer ours, is freed); a
 * failed unit or batch is tried again at the next run. */
static void settle(struct gen *g, struct job *list, int ok)
{
    struct job *j, *next;

    for (j = list; j != NULL; j = next) {
        next = j->next_dirty;
        if (!j->flushed && j->refused) {
            refused(g, j);
            continue;
        }
        if (!ok || !j->flushed) {
            j->flushed = 0;
            j->sending = 0;
            if (has_work(j)) {
                j->gone = 0;
                mark(j);
            }
            continue;
        }
        j->touched = 1;
        if (j->sending > 0) {
            j->seq++;
            j->unwritten = j->writing ? 0 : j->unwritten + 1;
            if (j->writing)
                buf_reset(&j->row);
            else
                buf_append(&j->row, j->text.p, j->sending);
            memmove(j->text.p, j->text.p + j->sending, j->text.len - j->sending);
            j->text.len -= j->sending;
            j->text.p[j->text.len] = '\0';
        }
        j->sending = 0;
        if (committed_or_gone(j)) {
            job_free(g, j);
            continue;
        }
        j->flushed = 0;
        if (has_work(j))
            mark(j);
    }
}

/* Commits what arrived, every answer's in one unit, all in one batch.
 * 1 when some of it could not be committed now (to be tried again), else
 * 0. */
static int flush(struct gen *g)
{
    struct job *list = g->dirty, *j;
    size_t n = 0;
    long long now = (long long)time(NULL);
    int ok, again = 0;

    g->dirty = NULL;
    for (j = list; j != NULL; j = j->next_dirty) {
        j->queued = 0;
        n++;
    }
    if (n == 0)
        return 0;
    runtime_batch_begin(g->rt, n);
    for (j = list; j != NULL; j = j->next_dirty) {
        j->flushed = has_work(j) && runtime_work(g->rt, 1, unit_flush, j, now) == 0;
        if (has_work(j) && !j->flushed && !j->refused)
            again = 1;
    }
    ok = runtime_batch_end(g->rt) == 0;
    settle(g, list, ok);
    runtime_batch_publish(g->rt);
    return again || !ok;
}

/* Idle is a job without text since the last renewal: its lease is
 * extended here, one row at a time (a job with text had it extended by its
 * first commit since, and learns at each commit that it was cancelled). */
static int idle(const struct job *j)
{
    return !j->touched && !has_work(j);
}

static int unit_renew(struct ctx *c, void *arg)
{
    struct gen *g = arg;
    struct job *j;
    int rc;

    for (j = g->jobs; j != NULL; j = j->next) {
        j->alive = 1;
        j->writing = 0;
        if (!idle(j))
            continue;
        /* An answer whose deltas stopped coming has its row take them in
         * now: none waits on a stalled upstream for retention to reach it. */
        j->writing = j->unwritten > 0;
        rc = j->writing ? g->hooks->append(c, g->owner, LEASE_MS, j->id, "", j->seq, buf_str(&j->row))
                        : g->hooks->renew(c, g->owner, LEASE_MS, j->id);
        if (rc < 0)
            return -1;
        j->alive = rc == 0;
    }
    return 0;
}

/* Extends the leases; an answer no longer ours (cancelled, or taken over
 * after a stall of this process) stops at once. */
static void renew(struct gen *g)
{
    struct job *j, *next;

    if (runtime_work_alone(g->rt, 1, unit_renew, g) != 0)
        return;
    for (j = g->jobs; j != NULL; j = next) {
        next = j->next;
        j->touched = 0;
        if (j->writing) {
            j->unwritten = 0;
            buf_reset(&j->row);
        }
        j->writing = 0;
        if (!j->alive && !j->queued) {
            log_info("chat answer %s: ended elsewhere (cancelled); closing its upstream", j->id);
            job_free(g, j);
        }
    }
}

struct probe {
    struct gen *g;
    int pending;
    struct gen_job *jobs;
    size_t n;
    struct gen_lease *leases;
    size_t nleases;
};

static int unit_pending(struct ctx *c, void *arg)
{
    struct probe *p = arg;

    p->pending = p->g->hooks->pending(c);
    return p->pending < 0 ? -1 : 0;
}

static int unit_expired(struct ctx *c, void *arg)
{
    struct probe *p = arg;

    return p->g->hooks->expired(c, &p->leases, &p->nleases);
}

struct sweep_one {
    const struct gen_hooks *hooks;
    const struct gen_lease *lease;
};

static int unit_sweep(struct ctx *c, void *arg)
{
    struct sweep_one *s = arg;

    return s->hooks->sweep(c, s->lease->id, s->lease->owner);
}

/* Ends the answers whose generator died, each in a unit of its own. */
static void sweep(struct gen *g, struct probe *p)
{
    struct sweep_one s = {.hooks = g->hooks};
    long long now = (long long)time(NULL);
    size_t i;

    if (runtime_work_alone(g->rt, 0, unit_expired, p) != 0 || p->nleases == 0)
        return;
    runtime_batch_begin(g->rt, p->nleases);
    for (i = 0; i < p->nleases; i++) {
        s.lease = &p->leases[i];
        if (runtime_work(g->rt, 1, unit_sweep, &s, now) != 0)
            log_error("chat answer %s: its lease ran out, and it cannot be ended now", p->leases[i].id);
    }
    if (runtime_batch_end(g->rt) != 0)
        log_error("the answers whose lease ran out could not be ended now; the next sweep tries again");
    runtime_batch_publish(g->rt);
}

static int unit_claim(struct ctx *c, void *arg)
{
    struct probe *p = arg;
    struct gen *g = p->g;

    if (g->njobs >= g->max)
        return 0;
    return g->hooks->claim(c, g->owner, LEASE_MS, g->max - g->njobs, &p->jobs, &p->n);
}

static void free_probe(struct probe *p)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        free(p->jobs[i].id);
        free(p->jobs[i].messages_json);
    }
    free(p->jobs);
    for (i = 0; i < p->nleases; i++) {
        free(p->leases[i].id);
        free(p->leases[i].owner);
    }
    free(p->leases);
}

/* A read first (idle, it takes no write lock); a sweep and a claim when
 * there is something to end or to take. */
static void probe(struct gen *g, int sweeping)
{
    struct probe p = {.g = g};
    size_t i;
    int ok;

    if (runtime_work_alone(g->rt, 0, unit_pending, &p) != 0 || p.pending != 1)
        return;
    if (sweeping)
        sweep(g, &p);
    ok = runtime_work_alone(g->rt, 1, unit_claim, &p) == 0;
    for (i = 0; ok && i < p.n; i++)
        job_add(g, &p.jobs[i]);
    free_probe(&p);
}

/* ---- public */

int gen_row_every(const struct config *cfg)
{
    /* The deltas not in the row yet must outlive retention: at most
     * ROW_EVERY of them, none older than a renewal (RENEW_MS) plus a
     * stall. A log kept shorter than that gets the row written at every
     * delta. */
    return cfg->retention >= 4 * ROW_EVERY && cfg->retention_s >= 60 ? ROW_EVERY : 1;
}

struct gen *gen_start(struct runtime *rt, struct llm *llm, const struct gen_hooks *hooks, size_t max)
{
    struct gen *g = xcalloc(1, sizeof *g);
    const struct config *cfg = runtime_config(rt);
    size_t slack, max_event;

    g->rt = rt;
    g->llm = llm;
    g->hooks = hooks;
    g->max = max > 0 ? max : 1;
    g->row_every = gen_row_every(cfg);
    /* The model's name rides in chat.done; a limit too small for the
     * slack leaves half to the answer (and refusals to refused()). */
    slack = END_SLACK + 6 * (cfg->llm_model != NULL ? strlen(cfg->llm_model) : 0);
    max_event = (size_t)cfg->max_event_bytes;
    g->json_max = max_event > 2 * slack ? max_event - slack : max_event / 2;
    runtime_lease_owner(g->owner);
    return g;
}

size_t gen_running(const struct gen *g)
{
    return g->njobs;
}

static int unit_later(struct ctx *c, void *arg)
{
    struct probe *p = arg;

    p->pending = p->g->hooks->later != NULL ? p->g->hooks->later(c) : 0;
    return p->pending < 0 ? -1 : 0;
}

int gen_waiting(struct gen *g)
{
    struct probe p = {.g = g};

    if (runtime_work_alone(g->rt, 0, unit_pending, &p) != 0 ||
        (p.pending == 0 && runtime_work_alone(g->rt, 0, unit_later, &p) != 0))
        return -1;
    return p.pending;
}

long gen_next_ms(struct gen *g, long long now_ms)
{
    long long next = g->probe_at;
    long model = llm_next_ms(g->llm, now_ms);

    /* (a store that keeps failing is not asked again at once: no spin) */
    if (g->dirty != NULL && g->flush_at <= now_ms)
        return 0;
    if (g->dirty != NULL && g->flush_at < next)
        next = g->flush_at;
    if (g->njobs > 0 && g->renew_at < next)
        next = g->renew_at;
    next = next <= now_ms ? 0 : next - now_ms;
    return model >= 0 && model < next ? model : (long)next;
}

void gen_run(struct gen *g, long long now_ms)
{
    int sweeping;

    llm_tick(g->llm, now_ms);
    if (g->dirty != NULL && now_ms >= g->flush_at && flush(g))
        g->flush_at = now_ms + RETRY_MS;
    if (g->njobs > 0 && now_ms >= g->renew_at) {
        g->renew_at = now_ms + RENEW_MS;
        renew(g);
    }
    if (now_ms >= g->probe_at) {
        g->probe_at = now_ms + PROBE_MS;
        sweeping = now_ms >= g->sweep_at;
        if (sweeping)
            g->sweep_at = now_ms + SWEEP_MS;
        probe(g, sweeping);
    }
}

void gen_stop(struct gen *g)
{
    struct job *j;

    if (g == NULL)
        return;
    for (j = g->jobs; j != NULL; j = j->next) {
        if (j->call != NULL) {
            llm_cancel(g->llm, j->call);
            j->call = NULL;
        }
        if (j->end == END_NONE)
            on_error(j, "interrupted", "the generator stopped (the service is restarting)");
    }
    if (g->dirty != NULL)
        (void)flush(g);   /* (what it could not commit: the lease runs out) */
    while (g->jobs != NULL)     /* what could not be committed: its lease runs out */
        job_free(g, g->jobs);
    buf_free(&g->scratch);
    free(g);
}
