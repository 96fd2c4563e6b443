/* test_runtime.c - group commit in the runtime (fcgi/runtime.c), as
 * pulse-batch drives it: requests of one batch commit together, a rejected
 * one changes nothing, a lost batch keeps nothing and answers 503. */
#include "runtime.c"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static char dir[] = "/tmp/pulse-unit-runtime-XXXXXX";
static char token[1024];

static const char *header(const struct http_req *req, const char *name)
{
    (void)req;
    return strcmp(name, "HTTP_AUTHORIZATION") == 0 ? token : NULL;
}

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
    runtime_handle(rt, &req, resp, 0, 1700000000);
    free(req.path);
    free(req.body);
    return resp->status;
}

static void resp_free(struct http_resp *r)
{
    buf_free(&r->headers);
    buf_free(&r->body);
}

static long long count(struct runtime *rt)
{
    sqlite3_stmt *st;
    long long n = -1;

    if (sqlite3_prepare_v2(db_handle(rt->db), "SELECT count(*) FROM events", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static const char good[] = "{\"topic\":\"room:u\",\"type\":\"note\",\"data\":{\"n\":1}}";
static const char bad[] = "{\"topic\":\"bad topic\",\"type\":\"note\",\"data\":{}}";

static void test_batch_commits_together_and_rejects_alone(struct runtime *rt)
{
    struct http_resp r[3];

    runtime_batch_begin(rt);
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

    runtime_batch_begin(rt);
    CHECK_INT_EQ(publish(rt, good, &r[0]), 202);
    runtime_batch_end(rt); /* committed, not yet published */
    before = count(rt);

    runtime_batch_begin(rt);
    CHECK_INT_EQ(publish(rt, good, &r[1]), 202);
    sqlite3_exec(db_handle(rt->db), "ROLLBACK", NULL, NULL, NULL);
    resp_free(&r[1]);
    CHECK_INT_EQ(publish(rt, good, &r[1]), 503); /* no transaction of its own */
    CHECK(runtime_batch_end(rt) == -1);
    CHECK_INT_EQ(count(rt), before);
    runtime_batch_failed(rt, &r[1]);
    CHECK_INT_EQ(r[1].status, 503);
    CHECK_INT_EQ(rt->npending, 1); /* the first batch's event still waits */
    runtime_batch_publish(rt);
    resp_free(&r[0]);
    resp_free(&r[1]);
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
    rt = runtime_open(pulse_cfg, &err);
    CHECK(rt != NULL);
    if (rt != NULL) {
        test_batch_commits_together_and_rejects_alone(rt);
        test_lost_batch_keeps_nothing(rt);
        runtime_close(rt);
    }
    buf_free(&t);
    free(err);
    unlink(db);
    return check_summary("test_runtime");
}
