/* crm_status.c - where an agent's answer stands on its platform (seed 003):
 *   sending -> sent -> delivered -> read, or failed
 * moved by the sender's answers (crm_send.c) and by the platforms' receipts
 * (Facebook message_deliveries and message_reads, Zalo
 * user_received_message and user_seen_message, which crm_webhooks.c hands
 * here). Each change is a message_status event on topic crm. A status never
 * moves back, and a receipt told twice changes nothing the second time:
 * every statement names the statuses it may move from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "handlers/crm.h"
#include "store/db.h"

#define PLATFORM_ID_MAX 128

int crm_status_update(struct ctx *c, enum sql_id q, int nargs, const char *const *args)
{
    sqlite3_stmt *st = db_stmt(c->db, q);
    char **ids = NULL;
    size_t n = 0, i;
    int step = SQLITE_ERROR, rc = -1;

    for (i = 0; st != NULL && i < (size_t)nargs; i++)
        if ((args[i] == NULL ? sqlite3_bind_null(st, (int)i + 1) : db_bind_text(st, (int)i + 1, args[i], -1)) != 0)
            goto out;
    /* the ids first: emitting runs other statements */
    while (st != NULL && (step = sqlite3_step(st)) == SQLITE_ROW) {
        ids = xrealloc(ids, (n + 1) * sizeof *ids);
        ids[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    db_done(st);
    st = NULL;
    if (step != SQLITE_DONE)
        goto out;
    for (i = 0; i < n; i++)
        if (crm_emit_row(c, "message_status", SQL_CRM_MESSAGE_STATUS, ids[i]) != 0)
            goto out;
    rc = 0;
out:
    db_done(st);
    if (rc != 0 && c->resp->status == 0)
        ctx_db_error(c);
    for (i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

/* A receipt naming answers by their ids (args: platform, a JSON array of
 * ids, status): those sent move on; an id no answer holds yet is kept for
 * the answer whose send result is still on its way (crm_status_sent). */
static int by_ids(struct ctx *c, const char *const args[3])
{
    if (crm_status_update(c, SQL_CRM_STATUS_BY_MIDS, 3, args) != 0)
        return -1;
    if (db_run_texts(c->db, SQL_CRM_RECEIPTS_PRUNE, 0, NULL, NULL) != 0 ||
        db_run_texts(c->db, SQL_CRM_RECEIPTS_KEEP, 3, args, NULL) != 0) {
        ctx_db_error(c);
        return -1;
    }
    return 0;
}

int crm_status_sent(struct ctx *c, const char *id)
{
    const char *args[1] = {id};

    if (crm_status_update(c, SQL_CRM_STATUS_EARLY, 1, args) != 0)
        return -1;
    if (db_run_texts(c->db, SQL_CRM_RECEIPTS_USED, 1, args, NULL) != 0) {
        ctx_db_error(c);
        return -1;
    }
    return 0;
}

/* A Facebook receipt, copied out of crm_facebook_receipts' row. */
struct receipt {
    char *sender, *page;       /* NULL unless strings */
    char *status;              /* delivered or read */
    char *mark;                /* the watermark, decimal; NULL unless an integer */
    char *mids;                /* a JSON array of message ids, or NULL */
};

/* The row's column i when its JSON type (column t) is type, copied. */
static char *typed(sqlite3_stmt *st, int t, const char *type, int i)
{
    const char *have = (const char *)sqlite3_column_text(st, t);
    const char *v = (const char *)sqlite3_column_text(st, i);

    return have != NULL && strcmp(have, type) == 0 && v != NULL ? xstrdup(v) : NULL;
}

/* Applies one receipt. One not shaped as Facebook documents it is logged
 * and skipped, as a malformed message is. */
static int facebook_receipt(struct ctx *c, const struct receipt *r)
{
    const char *by_mids[3] = {"facebook", r->mids, r->status};
    const char *upto[5] = {"facebook", r->sender, r->page, r->mark, r->status};

    if (r->mids != NULL && by_ids(c, by_mids) != 0)
        return -1;
    if (r->mark == NULL) {
        if (r->mids == NULL)
            log_warn("facebook webhook: skipped a %s receipt without a watermark", r->status);
        return 0;
    }
    if (r->sender == NULL || r->page == NULL || strlen(r->sender) > PLATFORM_ID_MAX ||
        strlen(r->page) > PLATFORM_ID_MAX) {
        log_warn("facebook webhook: skipped a %s receipt whose sender.id or recipient.id is not a short string",
                 r->status);
        return 0;
    }
    if (db_run_texts(c->db, SQL_CRM_RECEIPTS_MARK, 5, upto, NULL) != 0)
        return -1;
    return crm_status_update(c, SQL_CRM_STATUS_UPTO, 5, upto);
}

int crm_status_facebook(struct ctx *c)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CRM_FACEBOOK_RECEIPTS);
    struct receipt *rs = NULL;
    size_t n = 0, i;
    int step = SQLITE_ERROR, rc = -1;

    if (st == NULL || db_bind_text(st, 1, c->req->body, (int)c->req->body_len) != 0)
        goto out;
    /* copied out first: applying them runs other statements */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (db_json_escapes_nul((const char *)sqlite3_column_text(st, 8), (size_t)sqlite3_column_bytes(st, 8))) {
            log_warn("facebook webhook: skipped a receipt holding \\u0000 (a string read would stop there)");
            continue;
        }
        rs = xrealloc(rs, (n + 1) * sizeof *rs);
        rs[n].sender = typed(st, 0, "text", 1);
        rs[n].page = typed(st, 2, "text", 3);
        rs[n].status = xstrdup((const char *)sqlite3_column_text(st, 4));
        rs[n].mark = typed(st, 5, "integer", 6);
        rs[n].mids = sqlite3_column_type(st, 7) != SQLITE_NULL ? xstrdup((const char *)sqlite3_column_text(st, 7))
                                                                : NULL;
        n++;
    }
    db_done(st);
    st = NULL;
    if (step != SQLITE_DONE)
        goto out;
    for (i = 0; i < n; i++)
        if (facebook_receipt(c, &rs[i]) != 0)
            goto out;
    rc = 0;
out:
    db_done(st);
    if (rc != 0 && c->resp->status == 0)
        ctx_db_error(c);
    for (i = 0; i < n; i++) {
        free(rs[i].sender);
        free(rs[i].page);
        free(rs[i].status);
        free(rs[i].mark);
        free(rs[i].mids);
    }
    free(rs);
    return rc;
}

int crm_status_zalo(struct ctx *c, const char *status)
{
    const char *body[1] = {c->req->body};
    char *ids = db_one_text(c->db, SQL_CRM_ZALO_MSG_IDS, 1, body);
    const char *args[3] = {"zalo", ids, status};
    int rc;

    if (ids == NULL) {
        ctx_error(c, 400, "invalid_message_msg_ids", "a receipt has message.msg_ids, an array of ids");
        return -1;
    }
    rc = by_ids(c, args);
    free(ids);
    return rc;
}
