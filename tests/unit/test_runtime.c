/* test_runtime.c - group commit in the runtime (fcgi/request/runtime.c), as
 * pulse-batch drives it: requests of one batch commit together, a rejected
 * one changes nothing, a lost batch keeps nothing and answers 503. */
#include "request/runtime.c"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "unit_db.h"
#include "handlers/routes.h"

static char dir[] = "/tmp/pulse-unit-runtime-XXXXXX";
static char token[1024];

static const char *header(const struct http_req *req, const char *name)
{
    (void)req;
    return strcmp(name, "HTTP_AUTHORIZATION") == 0 ? token : NULL;
}

/* The request a lost batch's answer is rebuilt for (only its headers are
 * read). */
static struct http_req sent = {.header = header};

/* POST /api/publish of body; returns the status, *id the event id. */
static int publish(struct runtime *rt, const char *body, struct http_resp *resp)
{
    struct http_req req;

    memset(&req, 0, sizeof req);
    memset(resp, 0, sizeof *resp);
    req.method = "POST";
    req.path = xstrdup("/api/publish");
    req.body = xstrdup(body);
    req.body_len = strlen(body);
    req.header = header;
    runtime_handle(rt, &req, resp, 0, NULL, 1700000000);
    free(req.path);
    free(req.body);
    return resp->status;
}

/* publish as pulse-api runs it: a batch of one, its events published. */
static int publish_alone(struct runtime *rt, const char *body, struct http_resp *resp)
{
    runtime_batch_begin(rt, 1);
    publish(rt, body, resp);
    if (runtime_batch_end(rt) != 0)
        runtime_batch_failed(rt, &sent, resp);
    runtime_batch_publish(rt);
    return resp->status;
}

static void resp_free(struct http_resp *r)
{
    buf_free(&r->headers);
    buf_free(&r->body);
}

/* The one integer a query answers, or -1. */
static long long query_int(struct runtime *rt, const char *sql)
{
    return unit_query_int(rt->db, sql);
}

static long long count(struct runtime *rt)
{
    return query_int(rt, "SELECT count(*) FROM events");
}

static const char good[] = "{\"topic\":\"room:u\",\"type\":\"note\",\"data\":{\"n\":1}}";
static const char bad[] = "{\"topic\":\"bad topic\",\"type\":\"note\",\"data\":{}}";

static void test_batch_commits_together_and_rejects_alone(struct runtime *rt)
{
    struct http_resp r[3];

    runtime_batch_begin(rt, 3);
    CHECK_INT_EQ(publish(rt, good, &r[0]), 202);
    CHECK_INT_EQ(publish(rt, bad, &r[1]), 400);
    CHECK_INT_EQ(publish(rt, good, &r[2]), 202);
    CHECK(runtime_batch_end(rt) == 0);
    CHECK(runtime_batch_pending(rt));
    CHECK_INT_EQ(count(rt), 2);
    runtime_batch_publish(rt);
    CHECK(!runtime_batch_pending(rt));
    resp_free(&r[0]);
    resp_free(&r[1]);
    resp_free(&r[2]);
}

/* The shared transaction vanishes mid-batch (as SQLite does on disk full):
 * nothing of the batch stays, later requests do not start transactions of
 * their own, and every answer becomes 503. Earlier batches' events stand. */
static void test_lost_batch_keeps_nothing(struct runtime *rt)
{
    struct http_resp r[2];
    long long before;

    runtime_batch_begin(rt, 1);
    CHECK_INT_EQ(publish(rt, good, &r[0]), 202);
    runtime_batch_end(rt); /* committed, not yet published */
    before = count(rt);

    runtime_batch_begin(rt, 2);
    CHECK_INT_EQ(publish(rt, good, &r[1]), 202);
    sqlite3_exec(db_handle(rt->db), "ROLLBACK", NULL, NULL, NULL);
    resp_free(&r[1]);
    CHECK_INT_EQ(publish(rt, good, &r[1]), 503); /* no transaction of its own */
    CHECK(runtime_batch_end(rt) == -1);
    CHECK_INT_EQ(count(rt), before);
    runtime_batch_failed(rt, &sent, &r[1]);
    CHECK_INT_EQ(r[1].status, 503);
    CHECK_INT_EQ(rt->npending, 1); /* the first batch's event still waits */
    runtime_batch_publish(rt);
    resp_free(&r[0]);
    resp_free(&r[1]);
}

/* publish as a batch of one whose commit fails (its transaction vanished,
 * as SQLite's does on disk full), the answer as the caller then holds it. */
static int publish_lost(struct runtime *rt, const char *body, struct http_resp *r)
{
    runtime_batch_begin(rt, 1);
    publish(rt, body, r);
    sqlite3_exec(db_handle(rt->db), "ROLLBACK", NULL, NULL, NULL);
    CHECK(runtime_batch_end(rt) == -1);
    runtime_batch_failed(rt, &sent, r);
    return r->status;
}

/* pulse-api's batch of one whose commit fails: a success turns into a 503
 * (nothing of it was kept), an error answer stands (it rests on nothing
 * lost: health's "db":"down" is one). */
static void test_lost_batch_of_one(struct runtime *rt)
{
    struct http_resp r;
    long long before = count(rt);

    CHECK_INT_EQ(publish_lost(rt, good, &r), 503);
    CHECK(strstr(buf_str(&r.headers), "Retry-After: 1\r\n") != NULL);
    CHECK_INT_EQ(count(rt), before);
    CHECK(!runtime_batch_pending(rt));
    resp_free(&r);
    CHECK_INT_EQ(publish_lost(rt, bad, &r), 400);
    CHECK(strstr(buf_str(&r.body), "\"invalid_topic\"") != NULL);
    resp_free(&r);
}

/* Publishes (each in its own transaction, as pulse-api does) until the
 * log's newest id is upto; 0, or -1 when a publish fails. */
static int publish_upto(struct runtime *rt, long long upto)
{
    struct http_resp r;
    int i, status;

    for (i = 0; i < 1000 && query_int(rt, "SELECT max(id) FROM events") < upto; i++) {
        status = publish_alone(rt, good, &r);
        resp_free(&r);
        if (status != 202)
            return -1;
    }
    return query_int(rt, "SELECT max(id) FROM events") == upto ? 0 : -1;
}

/* A database file put back while the process runs (db.h) is pruned by its
 * own contents: what the previous file told the runtime about when pruning
 * may next find work (the oldest id, when the oldest event ages out) says
 * nothing about it. Here the file put back holds events older than
 * PULSE_RETENTION_S, and the previous file said none would age out for a
 * week: the next prune batch (id 128) must still delete them. */
static void test_prune_follows_a_file_put_back(struct runtime *rt, const char *path)
{
    struct http_resp r;
    char copy[300], side[320], *sql = NULL;
    sqlite3 *h = NULL;
    unsigned gen = db_generation(rt->db);

    snprintf(copy, sizeof copy, "%s.copy", path);
    CHECK(publish_upto(rt, 10) == 0);
    sql = sqlite3_mprintf("VACUUM INTO %Q", copy);
    CHECK(sql != NULL && sqlite3_exec(db_handle(rt->db), sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_free(sql);
    /* the copy's 10 events as the backup of a month ago would hold them */
    CHECK(sqlite3_open(copy, &h) == SQLITE_OK &&
          sqlite3_exec(h, "UPDATE events SET ts = '2001-01-01T00:00:00Z'", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);

    /* id 64 prunes the file in use: nothing there ages out for a week */
    CHECK(publish_upto(rt, 64) == 0);
    CHECK(rt->prune.age_due > (int64_t)time(NULL) + 3600);

    /* the copy put back as README says: old -wal and -shm removed, moved in */
    CHECK(unlink(path) == 0);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    CHECK(rename(copy, path) == 0);
    CHECK_INT_EQ(publish_alone(rt, good, &r), 202); /* followed at the first request */
    resp_free(&r);
    /* its ids go on past every id handed out before (64; db_ids.h): the
     * void row at 65 says where the copy ended, and the log is pruned up
     * to it */
    CHECK_INT_EQ(query_int(rt, "SELECT max(id) FROM events"), 66);
    CHECK_INT_EQ(query_int(rt, "SELECT json_extract(data, '$.after') FROM events WHERE id = 65 AND topic = '' "
                               "AND type = 'void'"), 10);
    CHECK_INT_EQ(query_int(rt, "SELECT v FROM meta WHERE k = 'pruned_upto'"), 65);
    CHECK(publish_upto(rt, 128) == 0);
    CHECK(db_generation(rt->db) != gen);
    CHECK_INT_EQ(query_int(rt, "SELECT count(*) FROM events WHERE ts < '2002'"), 0);
    CHECK_INT_EQ(query_int(rt, "SELECT min(id) FROM events"), 65);
    unlink(copy);
}

/* {"events":[...]} of n good events, the one at index bad_at (n: none) a bad
 * topic; the caller frees it. */
static char *batch_body(int n, int bad_at)
{
    buf_t b = {0};
    int i;

    buf_puts(&b, "{\"events\":[");
    for (i = 0; i < n; i++)
        buf_printf(&b, "%s{\"topic\":\"%s\",\"type\":\"note\",\"data\":{\"n\":%d}}", i ? "," : "",
                   i == bad_at ? "bad topic" : i % 2 ? "room:b" : "room:a", i);
    buf_puts(&b, "]}");
    return buf_steal(&b);
}

/* A batch publish of 1,000 events is one unit: as pulse-api runs it (a
 * batch of one) and in a group commit beside other requests, all of its
 * events wait for the commit and are published with it; one bad element
 * keeps none of them, and the other requests of the group stand. */
static void test_batch_publish_is_one_unit(struct runtime *rt)
{
    struct http_resp r[3];
    char *full = batch_body(1000, 1000), *broken = batch_body(1000, 500);
    long long before = count(rt), first;

    CHECK_INT_EQ(publish_alone(rt, full, &r[0]), 202);
    CHECK_INT_EQ(count(rt), before + 1000);
    first = query_int(rt, "SELECT max(id) FROM events") - 999;
    CHECK(strncmp(buf_str(&r[0].body), "{\"ids\":[", 8) == 0);
    CHECK_INT_EQ(query_int(rt, "SELECT count(*) FROM events WHERE id >= (SELECT max(id) - 999 FROM events) "
                               "AND json_extract(data, '$.n') = id - (SELECT max(id) - 999 FROM events)"), 1000);
    CHECK(!runtime_batch_pending(rt));
    resp_free(&r[0]);

    runtime_batch_begin(rt, 3);
    CHECK_INT_EQ(publish(rt, good, &r[0]), 202);
    CHECK_INT_EQ(publish(rt, broken, &r[1]), 400);
    CHECK(strstr(buf_str(&r[1].body), "events[500]: ") != NULL);
    CHECK_INT_EQ(publish(rt, full, &r[2]), 202);
    CHECK(runtime_batch_end(rt) == 0);
    CHECK_INT_EQ(rt->npending, 1001);
    CHECK_INT_EQ(rt->pending[1].id, rt->pending[0].id + 1);
    CHECK_INT_EQ(rt->pending[1000].id, first + 1000 + 1000);
    CHECK_INT_EQ(count(rt), before + 2001);
    runtime_batch_publish(rt);
    CHECK(!runtime_batch_pending(rt));
    resp_free(&r[0]);
    resp_free(&r[1]);
    resp_free(&r[2]);
    free(full);
    free(broken);
}

/* A batch publish's body has its own bound; every other route keeps
 * PULSE_MAX_BODY, and a reader never takes more than the larger. */
static void test_body_limits(struct runtime *rt)
{
    const char *why;

    CHECK_INT_EQ(runtime_body_limit(rt, "POST", "/api/publish", &why), rt->cfg->max_publish_body);
    CHECK(strstr(why, "PULSE_MAX_PUBLISH_BODY") != NULL);
    CHECK_INT_EQ(runtime_body_limit(rt, "GET", "/api/publish", &why), rt->cfg->max_body);
    CHECK_INT_EQ(runtime_body_limit(rt, "POST", "/api/crm/customers", &why), rt->cfg->max_body);
    CHECK(strstr(why, "PULSE_MAX_BODY") != NULL);
    CHECK_INT_EQ(runtime_body_limit(rt, NULL, NULL, &why), rt->cfg->max_body);
    CHECK_INT_EQ(runtime_body_ceiling(rt), rt->cfg->max_publish_body);
}

/* A runtime that cannot open says so in its err/errstr pair, and closes. */
static void test_open_failure_is_told(void)
{
    struct config cfg = *pulse_cfg;
    struct runtime *rt;

    cfg.db_path = "/nonexistent/pulse-unit/pulse.db";
    rt = runtime_open(&cfg, routes_all, routes_all_count);
    CHECK(rt != NULL && runtime_err(rt) != 0);
    CHECK(runtime_errstr(rt) != NULL && strstr(runtime_errstr(rt), "/nonexistent/pulse-unit") != NULL);
    runtime_close(rt);
}

int main(void)
{
    struct runtime *rt = NULL;
    char *err = NULL, db[256], bells[256];
    buf_t t = {0};

    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(db, sizeof db, "%s/pulse.db", dir);
    snprintf(bells, sizeof bells, "%s/bells", dir);
    setenv("PULSE_DB", db, 1);
    setenv("PULSE_BELL_DIR", bells, 1);
    setenv("PULSE_DATA", dir, 1);
    setenv("PULSE_JWT_SECRET", "unit-runtime-secret", 1);
    CHECK(config_load(&err) == 0);
    CHECK(auth_jwt_sign("unit-runtime-secret", "{\"sub\":\"root\",\"role\":\"admin\",\"exp\":1800000000}", &t) == 0);
    snprintf(token, sizeof token, "Bearer %s", buf_str(&t));
    rt = runtime_open(pulse_cfg, routes_all, routes_all_count);
    CHECK(runtime_err(rt) == 0 && runtime_errstr(rt) == NULL);
    if (runtime_err(rt) == 0) {
        test_batch_commits_together_and_rejects_alone(rt);
        test_lost_batch_keeps_nothing(rt);
        test_lost_batch_of_one(rt);
        test_prune_follows_a_file_put_back(rt, db);
        test_batch_publish_is_one_unit(rt);
        test_body_limits(rt);
    }
    runtime_close(rt);
    test_open_failure_is_told();
    buf_free(&t);
    free(err);
    unlink(db);
    return check_summary("test_runtime");
}
