/* chat_gen_cpu.c - pulse-batch's CPU per chat delta, without sockets: the
 * generator (fcgi/request/gen.c) with the chat's hooks on a fresh database
 * through the runtime, as pulse-batch runs it, fed by a stand-in for
 * llm_curl.c that pushes the bytes bench/llm_upstream.c writes through the
 * real stream parser (fcgi/llm/llm_sse.c). What it leaves out: libcurl,
 * the sockets and the epoll loop.
 *
 *   build/bench/chat_gen_cpu [answers] [deltas] [per_commit] [rounds] [parser_chunks]
 *
 * Each round: `answers` new answers (default 1,000) are claimed, then each
 * gets `per_commit` chunks (default 1) between two flushes of the
 * generator (one commit for all answers), until each has `deltas` (default
 * 100), then its finish chunk, usage and [DONE]. Prints process CPU
 * microseconds (user, system) per delta for each round, then the medians;
 * then the parser alone: CPU per chunk of the same bytes, over
 * `parser_chunks` (default 200,000; 0 skips it). Process CPU time,
 * so other load on the machine changes it little; for instruction counts,
 * run it under `valgrind --tool=callgrind` with fewer answers.
 *
 * The stand-in replaces fcgi/llm/llm.c: this file defines llm_start,
 * llm_cancel, llm_next_ms and llm_tick, so the linker never takes llm.o
 * (or libcurl's side) from the archive. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "handlers/routes.h"
#include "llm/llm.h"
#include "llm/llm_sse.h"
#include "request/gen.h"
#include "request/runtime.h"

#define ROUNDS 5
#define MAX_LINE (1 << 20)

struct llm_call {
    struct llm_call *next, *prev;
    struct llm *l;
    const struct llm_handler *h;
    void *arg;
    struct llm_sse *sse;
    buf_t pending;             /* text not handed over yet (llm_curl.c's on_progress hands it once a read) */
    buf_t one;                 /* its delta event's bytes, formatted once: the loop measures Pulse, not printf */
    long n;                    /* chunks sent */
    long req;
};

struct llm {
    struct llm_sse_db *db;
    struct llm_call *calls;
    long deltas, per_commit, reqs;
};

static void call_unlink(struct llm *l, struct llm_call *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    llm_sse_free(c->sse);
    buf_free(&c->pending);
    buf_free(&c->one);
    free(c);
}

static int on_text(void *arg, const char *text, size_t len)
{
    struct llm_call *c = arg;

    buf_append(&c->pending, text, len);
    return 0;
}

static void chunk(buf_t *b, const struct llm_call *c, const char *delta, const char *finish);

struct llm_call *llm_start(struct llm *l, const char *messages_json, const struct llm_handler *h, void *arg)
{
    struct llm_call *c = xcalloc(1, sizeof *c);
    char *body = llm_sse_request_body(l->db, "bench-model", messages_json);   /* as llm_curl.c builds it */

    free(body);
    c->l = l;
    c->h = h;
    c->arg = arg;
    c->req = ++l->reqs;
    c->sse = llm_sse_new(l->db, MAX_LINE, on_text, c);
    /* as long as bench/llm_upstream.c's: a 16-digit stamp and a counter */
    chunk(&c->one, c, "{\"content\":\"bench_us=1764950400123456 w57 \"}", "null");
    c->next = l->calls;
    if (l->calls != NULL)
        l->calls->prev = c;
    l->calls = c;
    return c;
}

void llm_cancel(struct llm *l, struct llm_call *c)
{
    if (c != NULL)
        call_unlink(l, c);
}

long llm_next_ms(struct llm *l, long long now_ms)
{
    (void)now_ms;
    return l->calls != NULL ? 0 : -1;
}

/* One event as bench/llm_upstream.c writes it (its HTTP chunking is
 * libcurl's to undo). */
static void chunk(buf_t *b, const struct llm_call *c, const char *delta, const char *finish)
{
    buf_printf(b,
               "data: {\"id\":\"chatcmpl-up-%ld\",\"object\":\"chat.completion.chunk\",\"created\":1764950400,"
               "\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,"
               "\"finish_reason\":%s}]}\n\n",
               c->req, delta, finish);
}

static void answer_end(buf_t *b, const struct llm_call *c, long deltas)
{
    chunk(b, c, "{}", "\"stop\"");
    buf_printf(b,
               "data: {\"id\":\"chatcmpl-up-%ld\",\"object\":\"chat.completion.chunk\",\"created\":1764950400,"
               "\"model\":\"bench-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":%ld,"
               "\"total_tokens\":%ld}}\n\ndata: [DONE]\n\n",
               c->req, deltas, deltas + 1);
}

/* Every call gets its next per_commit chunks, as one read; the last read
 * of an answer also holds its end. */
void llm_tick(struct llm *l, long long now_ms)
{
    struct llm_call *c, *next;
    buf_t b = {0};
    enum llm_sse_state st;
    long k;

    (void)now_ms;
    for (c = l->calls; c != NULL; c = next) {
        next = c->next;
        buf_reset(&b);
        for (k = 0; k < l->per_commit && c->n < l->deltas; k++, c->n++)
            buf_append(&b, c->one.p, c->one.len);
        if (c->n >= l->deltas)
            answer_end(&b, c, l->deltas);
        st = llm_sse_feed(c->sse, b.p, b.len);
        if (c->pending.len > 0) {
            c->h->delta(c->arg, c->pending.p, c->pending.len);
            buf_reset(&c->pending);
        }
        if (st == LLM_SSE_DONE) {
            c->h->done(c->arg, llm_sse_finish_reason(c->sse), llm_sse_usage(c->sse));
            call_unlink(l, c);
        } else if (st != LLM_SSE_MORE) {
            c->h->error(c->arg, "upstream_malformed", llm_sse_why(c->sse));
            call_unlink(l, c);
        }
    }
    buf_free(&b);
}

static void cpu_us(double *user, double *sys)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec;
    *sys = (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* answers new sessions, each with a question and its answer waiting. */
static int ask(sqlite3 *h, long round, long answers)
{
    char sql[1024];
    long i;
    int rc = sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);

    for (i = 0; rc == SQLITE_OK && i < answers; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO chat_sessions (id, owner_id, created_at) VALUES ('s%ld-%ld', 'bench', 'x');"
                 "INSERT INTO chat_messages (id, session_id, user_id, role, content, status, created_at, created_ms)"
                 " VALUES ('q%ld-%ld', 's%ld-%ld', 'bench', 'user', 'bench', 'complete', 'x', 0),"
                 "        ('a%ld-%ld', 's%ld-%ld', 'bench', 'assistant', '', 'streaming', 'x', 0);",
                 round, i, round, i, round, i, round, i, round, i);
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : -1;
}

static long long count(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;

    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* One round: its user and system CPU per delta; -1 when an answer did not
 * complete with all its text. */
static int round_run(struct runtime *rt, sqlite3 *h, struct llm *l, long round, long answers, double *user, double *sys)
{
    struct gen *g = gen_start(rt, l, &chat_gen_hooks, (size_t)answers);
    long long now = 1000000 + round * 10000000LL;
    double u0, s0, u1, s1;
    long steps = 0, bound = 10 * (l->deltas / l->per_commit + 10);
    char sql[256];

    if (ask(h, round, answers) != 0)
        return -1;
    cpu_us(&u0, &s0);
    do {
        gen_run(g, now);
        now += 50;
    } while (gen_running(g) > 0 && ++steps < bound);
    cpu_us(&u1, &s1);
    gen_stop(g);
    *user = (u1 - u0) / (double)(answers * l->deltas);
    *sys = (s1 - s0) / (double)(answers * l->deltas);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM chat_messages WHERE id LIKE 'a%ld-%%' AND status = 'complete'"
             " AND length(content) - length(replace(content, 'bench_us=', '')) = %ld",
             round, 9 * l->deltas);
    return count(h, sql) == answers ? 0 : -1;
}

/* The parser alone: CPU per chunk of the same bytes. */
static double parse_only(struct llm *l, long chunks)
{
    struct llm_call c = {.req = 1};
    buf_t b = {0}, d = {0};
    double u0, s0, u1, s1;
    long i;

    c.sse = llm_sse_new(l->db, MAX_LINE, on_text, &c);
    for (i = 0; i < 64; i++) {
        buf_reset(&d);
        buf_printf(&d, "{\"content\":\"bench_us=1764950400%06ld w%ld \"}", i, i);
        chunk(&b, &c, buf_str(&d), "null");
    }
    cpu_us(&u0, &s0);
    for (i = 0; i < chunks / 64; i++) {
        llm_sse_feed(c.sse, b.p, b.len);
        buf_reset(&c.pending);
    }
    cpu_us(&u1, &s1);
    llm_sse_free(c.sse);
    buf_free(&b);
    buf_free(&d);
    buf_free(&c.pending);
    return (u1 - u0 + s1 - s0) / (double)(chunks / 64 * 64);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/pulse-bench-chat-XXXXXX", path[256];
    long answers = argc > 1 ? atol(argv[1]) : 1000;
    struct llm l = {.deltas = argc > 2 ? atol(argv[2]) : 100, .per_commit = argc > 3 ? atol(argv[3]) : 1};
    int rounds = argc > 4 ? atoi(argv[4]) : ROUNDS, r, rc = 1;
    long chunks = argc > 5 ? atol(argv[5]) : 200000;
    double user[ROUNDS], sys[ROUNDS];
    struct runtime *rt = NULL;
    sqlite3 *h = NULL;
    char *err = NULL;

    if (answers < 1 || l.deltas < 1 || l.per_commit < 1 || rounds < 1 || rounds > ROUNDS || mkdtemp(dir) == NULL)
        return 2;
    snprintf(path, sizeof path, "%s/pulse.db", dir);
    setenv("PULSE_DB", path, 1);
    snprintf(path, sizeof path, "%s/bells", dir);
    setenv("PULSE_BELL_DIR", path, 1);
    setenv("PULSE_DATA", dir, 1);
    setenv("PULSE_JWT_SECRET", "bench-chat-secret", 1);
    if (config_load(&err) != 0)
        goto out;
    rt = runtime_open(pulse_cfg, routes_all, routes_all_count);
    l.db = llm_sse_db_open();
    snprintf(path, sizeof path, "%s/pulse.db", dir);
    if (runtime_err(rt) || l.db == NULL || sqlite3_open(path, &h) != SQLITE_OK ||
        sqlite3_busy_timeout(h, 5000) != SQLITE_OK) {
        fprintf(stderr, "%s\n", runtime_err(rt) ? runtime_errstr(rt) : "cannot open the databases");
        goto out;
    }
    runtime_checkpoint_in_background(rt);   /* as pulse-batch does */
    for (r = 0; r < rounds; r++) {
        if (round_run(rt, h, &l, r, answers, &user[r], &sys[r]) != 0) {
            fprintf(stderr, "round %d: an answer did not complete with all its deltas\n", r + 1);
            goto out;
        }
        printf("round %d: %.2f us user + %.2f us system CPU per delta (%ld answers x %ld deltas, %ld a commit)\n",
               r + 1, user[r], sys[r], answers, l.deltas, l.per_commit);
    }
    qsort(user, (size_t)rounds, sizeof user[0], cmp_double);
    qsort(sys, (size_t)rounds, sizeof sys[0], cmp_double);
    printf("median: %.2f us user + %.2f us system CPU per delta\n", user[rounds / 2], sys[rounds / 2]);
    if (chunks >= 64)
        printf("parser alone: %.2f us CPU per chunk\n", parse_only(&l, chunks));
    rc = 0;
out:
    if (err != NULL)
        fprintf(stderr, "%s\n", err);
    sqlite3_close(h);
    runtime_close(rt);
    llm_sse_db_close(l.db);
    free(err);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
