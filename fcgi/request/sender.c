/* sender.c - calls to other services from pulse-batch (see sender.h). */
#include "request/sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "out/out.h"
#include "request/runtime.h"

#define PROBE_MS 200      /* how often an idle sender looks for jobs */
#define LEASE_SLACK_MS 5000
#define MAX_CALLS 256     /* calls under way at once, all domains */
#define MAX_ANSWER 65536  /* bytes of an answer kept */

struct call {
    struct call *next;
    struct sender *s;
    const struct send_hooks *hooks;
    char *id;
    struct out_call *oc;       /* NULL once ended */
    int ended;                 /* the answer waits in reply */
    struct send_reply reply;   /* its strings are body and why */
    char *body, *why;
};

struct sender {
    struct runtime *rt;
    struct out *out;
    const struct send_hooks *const *hooks;
    size_t nhooks, ncalls;
    long timeout_ms;
    char owner[RUNTIME_OWNER_MAX]; /* the leases' name */
    struct call *calls;
    long long probe_at;
    int dirty;                 /* some call has an answer to hand back */
};

long send_backoff_ms(long retry_ms, long n, long max_ms)
{
    long w = retry_ms;

    while (n-- > 1 && w < max_ms)
        w = w > max_ms / 2 ? max_ms : w * 2;
    return w < max_ms ? w : max_ms;
}

void send_jobs_free(struct send_job *jobs, size_t n)
{
    size_t i;
    char **h;

    for (i = 0; i < n; i++) {
        free(jobs[i].id);
        free(jobs[i].method);
        free(jobs[i].url);
        for (h = jobs[i].headers; h != NULL && *h != NULL; h++)
            free(*h);
        free(jobs[i].headers);
        free(jobs[i].body);
    }
    free(jobs);
}

/* ---- the outbound client's callbacks (outside libcurl) */

static void on_done(void *arg, const struct out_result *r)
{
    struct call *c = arg;
    static const enum send_end ends[] = {
        [OUT_ANSWERED] = SEND_ANSWERED, [OUT_REFUSED] = SEND_REFUSED, [OUT_TIMEOUT] = SEND_TIMEOUT,
        [OUT_TRUNCATED] = SEND_TRUNCATED, [OUT_TOO_LARGE] = SEND_TOO_LARGE, [OUT_STOPPED] = SEND_TRUNCATED,
    };

    c->oc = NULL;
    c->ended = 1;
    c->reply.end = ends[r->end];
    c->reply.status = r->status;
    c->body = xstrdup(r->body);
    c->reply.body = c->body;
    c->reply.len = strlen(c->body); /* a NUL in an answer ends what the domain reads */
    c->why = xstrdup(r->why);
    c->reply.why = c->why;
    c->s->dirty = 1;
}

static const struct out_sink sink = {NULL, NULL, on_done, NULL};

static void call_free(struct sender *s, struct call *c)
{
    if (c->oc != NULL)
        out_cancel(s->out, c->oc);
    free(c->id);
    free(c->body);
    free(c->why);
    free(c);
    s->ncalls--;
}

static void call_add(struct sender *s, const struct send_hooks *h, struct send_job *j)
{
    struct call *c = xcalloc(1, sizeof *c);
    struct out_req req = {.method = j->method, .url = j->url, .headers = (const char *const *)j->headers,
                          .body = j->body, .body_len = j->body != NULL ? strlen(j->body) : 0,
                          .timeout_ms = s->timeout_ms, .total_ms = 2 * s->timeout_ms, .max_body = MAX_ANSWER};

    c->s = s;
    c->hooks = h;
    c->id = j->id;
    j->id = NULL;
    c->next = s->calls;
    s->calls = c;
    s->ncalls++;
    c->oc = out_start(s->out, &req, &sink, c);
    if (c->oc == NULL) { /* as a refused connection: the domain tries again */
        struct out_result r = {.end = OUT_REFUSED, .body = "", .why = "the request could not be made"};

        on_done(c, &r);
    }
}

/* ---- units of work */

static int unit_result(struct ctx *ctx, void *arg)
{
    struct call *c = arg;

    return c->hooks->result(ctx, c->s->owner, c->id, &c->reply);
}

/* Hands the answers back, each in its own unit, all in one batch; a unit
 * or batch that failed leaves its job to the lease (tried again later). */
static void flush(struct sender *s)
{
    struct call **p = &s->calls, *c;
    size_t n = 0;
    int ok;

    s->dirty = 0;
    for (c = s->calls; c != NULL; c = c->next)
        n += c->ended;
    if (n == 0)
        return;
    runtime_batch_begin(s->rt, n);
    for (c = s->calls; c != NULL; c = c->next)
        if (c->ended && runtime_work(s->rt, 1, unit_result, c, (long long)time(NULL)) != 0)
            log_warn("%s %s: its answer could not be written; tried again once its lease ends", c->hooks->name,
                     c->id);
    ok = runtime_batch_end(s->rt) == 0;
    runtime_batch_publish(s->rt);
    if (!ok)
        log_warn("sender: a batch of answers was lost; their jobs are tried again once their leases end");
    while ((c = *p) != NULL) {
        if (c->ended) {
            *p = c->next;
            call_free(s, c);
        } else {
            p = &c->next;
        }
    }
}

struct probe {
    struct sender *s;
    const struct send_hooks *h;
    int pending;
    struct send_job *jobs;
    size_t n;
};

static int unit_pending(struct ctx *ctx, void *arg)
{
    struct probe *p = arg;

    p->pending = p->h->pending(ctx);
    return p->pending < 0 ? -1 : 0;
}

static int unit_later(struct ctx *ctx, void *arg)
{
    struct probe *p = arg;

    p->pending = p->h->later != NULL ? p->h->later(ctx) : 0;
    return p->pending < 0 ? -1 : 0;
}

static int unit_claim(struct ctx *ctx, void *arg)
{
    struct probe *p = arg;
    long lease = 2 * p->s->timeout_ms + LEASE_SLACK_MS;

    return p->h->claim(ctx, p->s->owner, lease, MAX_CALLS - p->s->ncalls, &p->jobs, &p->n);
}

/* For each domain: a read first (idle, it takes no write lock), a claim
 * when something is due. */
static void probe(struct sender *s)
{
    size_t k, i;

    for (k = 0; k < s->nhooks && s->ncalls < MAX_CALLS; k++) {
        struct probe p = {.s = s, .h = s->hooks[k]};
        int ok;

        if (runtime_work_alone(s->rt, 0, unit_pending, &p) != 0 || p.pending != 1)
            continue;
        ok = runtime_work_alone(s->rt, 1, unit_claim, &p) == 0;
        for (i = 0; ok && i < p.n; i++)
            call_add(s, p.h, &p.jobs[i]);
        send_jobs_free(p.jobs, p.n);
    }
}

/* ---- public */

struct sender *sender_start(struct runtime *rt, struct out *out, const struct send_hooks *const *hooks, size_t n,
                            long timeout_ms)
{
    struct sender *s = xcalloc(1, sizeof *s);

    s->rt = rt;
    s->out = out;
    s->hooks = hooks;
    s->nhooks = n;
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    runtime_lease_owner(s->owner);
    return s;
}

long sender_next_ms(struct sender *s, long long now_ms)
{
    long out = out_next_ms(s->out, now_ms);
    long long next = s->probe_at <= now_ms ? 0 : s->probe_at - now_ms;

    if (s->dirty)
        return 0;
    return out >= 0 && out < next ? out : (long)next;
}

void sender_run(struct sender *s, long long now_ms)
{
    out_tick(s->out, now_ms);
    if (s->dirty)
        flush(s);
    if (now_ms >= s->probe_at) {
        s->probe_at = now_ms + PROBE_MS;
        probe(s);
    }
}

size_t sender_running(const struct sender *s)
{
    return s->ncalls;
}

int sender_waiting(struct sender *s)
{
    size_t k;

    for (k = 0; k < s->nhooks; k++) {
        struct probe p = {.s = s, .h = s->hooks[k]};

        if (runtime_work_alone(s->rt, 0, unit_pending, &p) != 0 ||
            (p.pending == 0 && runtime_work_alone(s->rt, 0, unit_later, &p) != 0))
            return -1;
        if (p.pending)
            return 1;
    }
    return 0;
}

void sender_stop(struct sender *s)
{
    if (s == NULL)
        return;
    if (s->dirty)
        flush(s); /* answers that came: kept */
    while (s->calls != NULL) {
        struct call *c = s->calls;

        s->calls = c->next;
        call_free(s, c);
    }
    free(s);
}
