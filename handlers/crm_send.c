/* crm_send.c - agents' answers sent to the customer's platform (seed 003),
 * as pulse-batch's sender runs them (struct send_hooks, handler.h): the
 * outbox rows a POST .../messages wrote are claimed by lease, each sent as
 * its platform documents it, and the platform's answer decides:
 *   2xx with a message id          -> sent (platformMessageId)
 *   2xx saying an error (Zalo, TikTok), any 4xx -> failed, not tried again
 *   5xx, a timeout, no connection  -> tried again after a doubling wait
 *                                     (PULSE_SEND_RETRY_MS), failed after
 *                                     PULSE_SEND_ATTEMPTS attempts.
 * A platform without its token configured fails the answer at once, saying
 * which setting is missing. Every change is a message_status event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "base/utf8.h"
#include "handlers/crm.h"
#include "handlers/routes.h"
#include "store/db.h"

#define SHOWN_MAX 300        /* bytes of a platform's error message kept */
#define MID_MAX 256          /* a platform message id longer than this is no id */
#define RETRY_MAX_MS 300000  /* the longest wait between attempts */

/* ---- reading a platform's answer */

int crm_send_reply(struct db *db, const char *platform, long status, const char *body, size_t len, char **mid,
                   char **error)
{
    sqlite3_stmt *st = NULL;
    const char *id = NULL, *said = NULL;
    buf_t e = {0};
    int rc = 0;

    *mid = NULL;
    *error = NULL;
    if (len < 65536 * 16 && db_json_object(db, body, len) == 1) {
        st = db_stmt(db, SQL_CRM_SEND_REPLY);
        if (st != NULL && db_bind_text(st, 1, platform, -1) == 0 && db_bind_text(st, 2, body, (int)len) == 0 &&
            sqlite3_step(st) == SQLITE_ROW) {
            id = (const char *)sqlite3_column_text(st, 0);
            said = (const char *)sqlite3_column_text(st, 1);
        }
    }
    if (status >= 200 && status < 300 && said == NULL && id != NULL && id[0] != '\0' && strlen(id) <= MID_MAX &&
        utf8_valid(id, strlen(id))) {
        *mid = xstrdup(id);
        rc = 1;
        goto out;
    }
    buf_printf(&e, "%s answered HTTP %ld", platform, status);
    if (said != NULL) {
        buf_puts(&e, ": ");
        utf8_shown(&e, said, strlen(said), SHOWN_MAX);
    } else if (status >= 200 && status < 300) {
        buf_puts(&e, " without a message id");
    } else if (len > 0 && st == NULL) {
        buf_puts(&e, ": ");
        utf8_shown(&e, body, len, SHOWN_MAX);
    }
    *error = buf_steal(&e);
out:
    db_done(st);
    return rc;
}

/* ---- the hooks */

static int send_pending(struct ctx *c)
{
    int rc = db_flag(c->db, SQL_CRM_SEND_PENDING);

    if (rc < 0)
        ctx_db_error(c);
    return rc;
}

static int send_later(struct ctx *c)
{
    int rc = db_flag(c->db, SQL_CRM_SEND_LATER);

    if (rc < 0)
        ctx_db_error(c);
    return rc;
}

/* Answer id failed for good (owner's lease, or NULL when not leased):
 * status failed with why, the outbox row gone. 0 or -1 answered. */
static int send_failed(struct ctx *c, const char *owner, const char *id, const char *why)
{
    const char *args[3] = {id, owner, why}, *done[1] = {id};

    log_warn("crm answer %s not sent: %s", id, why);
    if (crm_status_update(c, SQL_CRM_SEND_FAILED, 3, args) != 0 ||
        db_run_texts(c->db, SQL_CRM_OUTBOX_DONE, 1, done, NULL) != 0) {
        if (c->resp->status == 0)
            ctx_db_error(c);
        return -1;
    }
    return 0;
}

/* The request each platform documents, with its token; NULL url (and
 * *missing the setting's name) when the token is not configured. */
struct platform {
    const char *name, *setting, *path, *header;   /* header NULL: the token goes in the query */
};

static const struct platform platforms[] = {
    {"facebook", "FB_PAGE_TOKEN", "/me/messages", NULL},
    {"zalo", "ZALO_OA_ACCESS_TOKEN", "/v3.0/oa/message/cs", "access_token"},
    {"tiktok", "TIKTOK_ACCESS_TOKEN", "/business/message/send/", "Access-Token"},
};

static void platform_setup(const struct config *cfg, const struct platform *p, const char **base, const char **token)
{
    if (strcmp(p->name, "facebook") == 0) {
        *base = cfg->fb_graph_url;
        *token = cfg->fb_page_token;
    } else if (strcmp(p->name, "zalo") == 0) {
        *base = cfg->zalo_api_url;
        *token = cfg->zalo_token;
    } else {
        *base = cfg->tiktok_api_url;
        *token = cfg->tiktok_token;
    }
}

/* The job for answer id: 1 made, 0 ended here (failed, or no longer
 * sending), -1 answered. */
static int job_make(struct ctx *c, const char *owner, const char *id, struct send_job *j)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CRM_SEND_JOB);
    const struct platform *p = NULL;
    const char *base = NULL, *token = NULL, *name, *body;
    buf_t url = {0}, why = {0}, auth = {0};
    size_t i, n;
    int found, rc = -1;

    if (st == NULL || db_bind_text(st, 1, id, -1) != 0 || (found = db_lookup(st)) < 0) {
        ctx_db_error(c);
        goto out;
    }
    if (found == 0) { /* not sending any more (its customer deleted, say) */
        const char *done[1] = {id};

        rc = db_run_texts(c->db, SQL_CRM_OUTBOX_DONE, 1, done, NULL) == 0 ? 0 : -1;
        if (rc != 0)
            ctx_db_error(c);
        goto out;
    }
    name = (const char *)sqlite3_column_text(st, 0);
    body = (const char *)sqlite3_column_text(st, 2);
    for (i = 0; i < sizeof platforms / sizeof platforms[0]; i++)
        if (strcmp(platforms[i].name, name) == 0)
            p = &platforms[i];
    if (p != NULL)
        platform_setup(c->cfg, p, &base, &token);
    if (p == NULL || body == NULL)
        buf_printf(&why, "the customer has no id on %s to send to", name);
    else if (token == NULL || token[0] == '\0' || strpbrk(token, "\r\n") != NULL)
        buf_printf(&why, "%s is not configured: answers cannot be sent to %s", p->setting, p->name);
    if (why.len > 0) {
        rc = send_failed(c, owner, id, why.p);
        goto out;
    }
    n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    buf_append(&url, base, n);
    buf_puts(&url, p->path);
    if (p->header == NULL) {
        buf_puts(&url, "?access_token=");
        http_escape(token, &url);
    } else {
        buf_printf(&auth, "%s: %s", p->header, token);
    }
    j->id = xstrdup(id);
    j->method = xstrdup("POST");
    j->url = buf_steal(&url);
    j->body = xstrdup(body);
    j->headers = xcalloc(3, sizeof *j->headers);
    j->headers[0] = xstrdup("Content-Type: application/json");
    j->headers[1] = auth.len > 0 ? buf_steal(&auth) : NULL;
    rc = 1;
out:
    db_done(st);
    buf_free(&url);
    buf_free(&why);
    buf_free(&auth);
    return rc;
}

static int send_claim(struct ctx *c, const char *owner, long lease_ms, size_t max, struct send_job **jobs, size_t *n)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CRM_SEND_CLAIM);
    char **ids = NULL;
    size_t k = 0, i;
    int step = SQLITE_ERROR, r, rc = -1;

    *jobs = NULL;
    *n = 0;
    if (st == NULL || db_bind_text(st, 1, owner, -1) || db_bind_int64(st, 2, lease_ms) ||
        db_bind_int64(st, 3, (int64_t)max))
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        ids = xrealloc(ids, (k + 1) * sizeof *ids);
        ids[k++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    db_done(st);
    st = NULL;
    if (step != SQLITE_DONE)
        goto out;
    *jobs = xcalloc(k > 0 ? k : 1, sizeof **jobs);
    for (i = 0; i < k; i++) {
        if ((r = job_make(c, owner, ids[i], &(*jobs)[*n])) < 0)
            goto out;
        *n += (size_t)r;
    }
    rc = 0;
out:
    db_done(st);
    if (rc != 0) {
        send_jobs_free(*jobs, *n);
        *jobs = NULL;
        *n = 0;
        if (c->resp->status == 0)
            ctx_db_error(c);
    }
    for (i = 0; i < k; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

/* Owner still holds answer id's lease: its attempts so far; 0 when the
 * lease is lost (nothing to write), -1 answered. */
static long attempts_of(struct ctx *c, const char *owner, const char *id)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CRM_OUTBOX_ATTEMPTS);
    long n = -1;
    int found;

    if (st != NULL && db_bind_text(st, 1, id, -1) == 0 && db_bind_text(st, 2, owner, -1) == 0 &&
        (found = db_lookup(st)) >= 0)
        n = found ? (long)sqlite3_column_int64(st, 0) : 0;
    else
        ctx_db_error(c);
    db_done(st);
    return n;
}

static const char *const ends[] = {
    [SEND_ANSWERED] = "answered", [SEND_REFUSED] = "cannot connect", [SEND_TIMEOUT] = "no answer in time",
    [SEND_TRUNCATED] = "the connection ended mid-answer", [SEND_TOO_LARGE] = "an answer too large",
};

/* A failure that may pass: tried again after the back-off, or failed once
 * the attempts are spent. */
static int send_retry(struct ctx *c, const char *owner, const char *id, long attempts, const char *why)
{
    char wait[24];
    const char *args[3] = {id, owner, wait};
    buf_t final = {0};
    int rc;

    if (attempts >= c->cfg->send_attempts) {
        buf_printf(&final, "%s (after %ld attempts)", why, attempts);
        rc = send_failed(c, owner, id, final.p);
        buf_free(&final);
        return rc;
    }
    snprintf(wait, sizeof wait, "%ld", send_backoff_ms(c->cfg->send_retry_ms, attempts, RETRY_MAX_MS));
    log_info("crm answer %s: attempt %ld failed (%s); again in %s ms", id, attempts, why, wait);
    if (db_run_texts(c->db, SQL_CRM_OUTBOX_RETRY, 3, args, NULL) != 0) {
        ctx_db_error(c);
        return -1;
    }
    return 0;
}

static int send_result(struct ctx *c, const char *owner, const char *id, const struct send_reply *r)
{
    const char *args[1] = {id};
    char *platform = NULL, *mid = NULL, *error = NULL;
    long attempts = attempts_of(c, owner, id);
    buf_t why = {0};
    int rc = -1;

    if (attempts <= 0)
        return attempts < 0 ? -1 : 0;
    if ((platform = db_one_text(c->db, SQL_CRM_MESSAGE_PLATFORM, 1, args)) == NULL) {
        ctx_db_error(c);
        goto out;
    }
    if (r->end != SEND_ANSWERED || r->status >= 500 || r->status < 200) {
        buf_printf(&why, "%s: %s", platform, ends[r->end]);
        if (r->end == SEND_ANSWERED)
            buf_printf(&why, " HTTP %ld", r->status);
        else if (r->why[0] != '\0')
            buf_printf(&why, " (%s)", r->why);
        rc = send_retry(c, owner, id, attempts, why.p);
    } else if (crm_send_reply(c->db, platform, r->status, r->body, r->len, &mid, &error) == 1) {
        const char *sent[3] = {id, owner, mid}, *done[1] = {id};

        rc = crm_status_update(c, SQL_CRM_SEND_SENT, 3, sent) == 0 &&
                     db_run_texts(c->db, SQL_CRM_OUTBOX_DONE, 1, done, NULL) == 0 && crm_status_sent(c, id) == 0
                 ? 0
                 : -1;
    } else {
        rc = send_failed(c, owner, id, error);
    }
out:
    if (rc != 0 && c->resp->status == 0)
        ctx_db_error(c);
    free(platform);
    free(mid);
    free(error);
    buf_free(&why);
    return rc;
}

const struct send_hooks crm_send_hooks = {
    .name = "crm answer",
    .pending = send_pending,
    .later = send_later,
    .claim = send_claim,
    .result = send_result,
};
