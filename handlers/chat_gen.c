/* chat_gen.c - the AI chat's side of the generator (struct gen_hooks,
 * handler.h; request/gen.c runs them in pulse-batch): which answers wait,
 * what the model is asked, and how its text lands: logged (chat.delta),
 * taken into the answer's row now and then (the row and the deltas logged
 * after it are the text so far: migration 0016), then chat.done or
 * chat.error, which write the whole text into the row.
 * Every write checks the lease, so an answer cancelled or taken over is
 * never written to by a generator that has not noticed yet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/topic.h"
#include "base/alloc.h"
#include "base/config.h"
#include "handlers/chat.h"
#include "handlers/routes.h"
#include "store/db.h"

static int gen_pending(struct ctx *c)
{
    int rc = db_flag(c->db, SQL_CHAT_GEN_PENDING);

    if (rc < 0)
        ctx_db_error(c);
    return rc;
}

static int gen_later(struct ctx *c)
{
    int rc = db_flag(c->db, SQL_CHAT_GEN_LATER);

    if (rc < 0)
        ctx_db_error(c);
    return rc;
}

/* What answer id (row n of session sid) is asked: the session's earlier
 * messages, at most PULSE_LLM_HISTORY. Caller frees; NULL answered. */
static char *history(struct ctx *c, const char *id, const char *sid, const char *n)
{
    char lim[24];
    const char *args[4] = {id, sid, n, lim};
    char *json;

    snprintf(lim, sizeof lim, "%ld", c->cfg->llm_history);
    json = db_one_text(c->db, SQL_CHAT_GEN_HISTORY, 4, args);
    if (json == NULL)
        ctx_db_error(c);
    return json;
}

static int gen_claim(struct ctx *c, const char *owner, long lease_ms, size_t max, struct gen_job **jobs, size_t *n)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_GEN_CLAIM);
    struct gen_job *js = NULL;
    size_t k = 0, cap = 0, i;
    int step = SQLITE_ERROR;

    *jobs = NULL;
    *n = 0;
    if (st == NULL || db_bind_text(st, 1, owner, -1) || db_bind_int64(st, 2, lease_ms) ||
        db_bind_int64(st, 3, (int64_t)max))
        goto out;
    /* SQLite makes every change of an UPDATE ... RETURNING at its first
     * step and hands the rows out from memory: other statements may run
     * between the steps. */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            js = xrealloc(js, cap * sizeof *js);
        }
        js[k].id = xstrdup((const char *)sqlite3_column_text(st, 0));
        js[k].seq = sqlite3_column_int64(st, 3);
        js[k].messages_json = history(c, js[k].id, (const char *)sqlite3_column_text(st, 1),
                                      (const char *)sqlite3_column_text(st, 2));
        if (js[k++].messages_json == NULL)
            break;
    }
out:
    db_done(st);
    if (step != SQLITE_DONE) {
        for (i = 0; i < k; i++) {
            free(js[i].id);
            free(js[i].messages_json);
        }
        free(js);
        if (c->resp->status == 0)
            ctx_db_error(c);
        return -1;
    }
    *jobs = js;
    *n = k;
    return 0;
}

/* The row takes in row_text (its deltas since its last write): 0, 1 when
 * the answer is not owner's any more, -1 after an error. */
static int write_text(struct ctx *c, const char *owner, long lease_ms, const char *id, int64_t seq,
                      const char *row_text)
{
    sqlite3_stmt *st = db_stmt(c->db, lease_ms > 0 ? SQL_CHAT_GEN_TEXT_LEASE : SQL_CHAT_GEN_TEXT);
    int rc = -1;

    if (st != NULL && !db_bind_text(st, 1, id, -1) && !db_bind_text(st, 2, owner, -1) && !db_bind_int64(st, 3, seq) &&
        !db_bind_text(st, 4, row_text, -1) && (lease_ms <= 0 || !db_bind_int64(st, 5, lease_ms)) &&
        sqlite3_step(st) == SQLITE_DONE)
        rc = sqlite3_changes(db_handle(c->db)) > 0 ? 0 : 1;
    if (rc < 0)
        ctx_db_error(c);
    db_done(st);
    return rc;
}

/* Logs text as chat.delta seq of answer id while it is owner's: 0, 1 when
 * it is not any more, -1 after an error. */
static int log_delta(struct ctx *c, const char *owner, const char *id, const char *text, int64_t seq)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_GEN_DELTA);
    char topic[TOPIC_MAX];
    int rc = -1, mine = -1; /* the row is still owner's: 1, 0, or -1 after an error */

    if (st != NULL && !db_bind_text(st, 1, id, -1) && !db_bind_text(st, 2, text, -1) && !db_bind_int64(st, 3, seq) &&
        !db_bind_text(st, 4, owner, -1))
        mine = db_lookup(st);
    if (mine < 0)
        ctx_db_error(c);
    else if (mine == 0 || topic_name(topic, TOPIC_CHAT, (const char *)sqlite3_column_text(st, 0)) != 0)
        rc = 1;
    else
        rc = ctx_emit(c, topic, "chat.delta", (const char *)sqlite3_column_text(st, 1)) >= 0 ? 0 : -1;
    db_done(st);
    return rc;
}

static int gen_append(struct ctx *c, const char *owner, long lease_ms, const char *id, const char *text, int64_t seq,
                      const char *row_text)
{
    int rc = text[0] != '\0' ? log_delta(c, owner, id, text, seq) : 0;

    if (rc == 0 && row_text != NULL)
        rc = write_text(c, owner, lease_ms, id, seq, row_text);
    return rc;
}

static int gen_finish(struct ctx *c, const char *owner, const char *id, const char *finish_reason,
                      const char *usage_json)
{
    struct chat_end e = {.status = "complete", .finish_reason = finish_reason, .usage_json = usage_json,
                         .owner = owner, .by = owner};

    return chat_message_end(c, id, &e) < 0 ? -1 : 0;
}

static int gen_fail(struct ctx *c, const char *owner, const char *id, const char *code, const char *message)
{
    struct chat_end e = {.status = "error", .code = code, .message = message, .owner = owner, .by = owner};

    return chat_message_end(c, id, &e) < 0 ? -1 : 0;
}

static int gen_renew(struct ctx *c, const char *owner, long lease_ms, const char *id)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_GEN_RENEW);
    int found = -1;

    if (st == NULL || db_bind_text(st, 1, owner, -1) || db_bind_int64(st, 2, lease_ms) ||
        db_bind_text(st, 3, id, -1) || (found = db_lookup(st)) < 0)
        ctx_db_error(c);
    db_done(st);
    return found < 0 ? -1 : found == 0;
}

/* The answers whose generator died (its lease ran out). */
static int gen_expired(struct ctx *c, struct gen_lease **leases, size_t *n)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_GEN_EXPIRED);
    int step = SQLITE_ERROR;

    *leases = NULL;
    *n = 0;
    while (st != NULL && (step = sqlite3_step(st)) == SQLITE_ROW) {
        *leases = xrealloc(*leases, (*n + 1) * sizeof **leases);
        (*leases)[*n].id = xstrdup((const char *)sqlite3_column_text(st, 0));
        (*leases)[(*n)++].owner = xstrdup((const char *)sqlite3_column_text(st, 1));
    }
    db_done(st);
    if (step != SQLITE_DONE)
        ctx_db_error(c);
    return step == SQLITE_DONE ? 0 : -1;
}

/* Ends it as error/interrupted with its text so far. */
static int gen_sweep(struct ctx *c, const char *id, const char *owner)
{
    struct chat_end e = {.status = "error", .code = "interrupted",
                         .message = "the generator stopped before the answer was complete",
                         .owner = owner, .by = "sweep"};

    return chat_message_end(c, id, &e) < 0 ? -1 : 0;
}

const struct gen_hooks chat_gen_hooks = {
    .pending = gen_pending,
    .later = gen_later,
    .claim = gen_claim,
    .append = gen_append,
    .finish = gen_finish,
    .fail = gen_fail,
    .renew = gen_renew,
    .expired = gen_expired,
    .sweep = gen_sweep,
};
