/* test_batch.c - the batching responder (fcgi/request/batch.c) over real
 * sockets: the requests that arrived together commit in one transaction;
 * one that fails inside a batch changes nothing while the others commit;
 * a batch whose commit fails answers every request 503 with Retry-After. */
#include "request/runtime.c"
#include "request/batch.c"

#include <fastcgi.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "check.h"
#include "unit_db.h"
#include "unit_fcgi.h"
#include "handlers/routes.h"
#include "base/clock.h"

static char dir[] = "/tmp/pulse-unit-batch-XXXXXX";
static char token[1024];
static int commits;       /* COMMITs seen by the hook */
static int refuse_commit; /* the hook turns COMMIT into ROLLBACK */
static struct batch *bt;  /* the responder under test */

static int on_commit(void *arg)
{
    (void)arg;
    commits++;
    return refuse_commit;
}

/* Connects to the responder and sends one POST /api/publish of body. */
static int send_publish(const char *path, const char *body)
{
    struct sockaddr_un a;
    struct timeval tv = {5, 0}; /* a guard against hanging, not a measure */
    unsigned char begin[8] = {0, FCGI_RESPONDER, 0};
    buf_t recs = {0}, params = {0};
    char len[24];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        CHECK(0);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    snprintf(len, sizeof len, "%zu", strlen(body));
    unit_nv(&params, "REQUEST_METHOD", "POST");
    unit_nv(&params, "REQUEST_URI", "/api/publish");
    unit_nv(&params, "QUERY_STRING", "");
    unit_nv(&params, "CONTENT_LENGTH", len);
    unit_nv(&params, "HTTP_AUTHORIZATION", token);
    unit_record(&recs, FCGI_BEGIN_REQUEST, begin, sizeof begin);
    unit_record(&recs, FCGI_PARAMS, params.p, params.len);
    unit_record(&recs, FCGI_PARAMS, NULL, 0);
    unit_record(&recs, FCGI_STDIN, body, strlen(body));
    unit_record(&recs, FCGI_STDIN, NULL, 0);
    CHECK(write(fd, recs.p, recs.len) == (ssize_t)recs.len);
    buf_free(&recs);
    buf_free(&params);
    return fd;
}

/* Reads the answer's STDOUT up to END_REQUEST into out (then closes fd). */
static void read_answer(int fd, buf_t *out)
{
    buf_t in = {0};
    char tmp[4096];
    size_t at = 0;
    int i, done = 0;

    for (i = 0; i < 100 && !done; i++) {
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n <= 0)
            break;
        buf_append(&in, tmp, (size_t)n);
        while (!done && in.len - at >= 8) {
            const unsigned char *h = (const unsigned char *)in.p + at;
            size_t clen = (size_t)h[4] << 8 | h[5], rec = 8 + clen + h[6];
            if (in.len - at < rec)
                break;
            if (h[1] == FCGI_STDOUT)
                buf_append(out, h + 8, clen);
            done = h[1] == FCGI_END_REQUEST;
            at += rec;
        }
    }
    CHECK(done);
    buf_free(&in);
    close(fd);
}

static long long query_int(const char *sql)
{
    return unit_query_int(bt->rt->db, sql);
}

static size_t ready_count(void)
{
    struct bconn *c;
    size_t n = 0;

    for (c = bt->ready_head; c != NULL; c = c->ready_next)
        n++;
    return n;
}

/* Sends the bodies, lets the loop read them all (one batch), flushes it
 * and reads each answer into answers[i]. */
static void run_batch(const char *sock, const char *const *bodies, size_t n, buf_t *answers)
{
    int fds[8];
    size_t i;
    int turns;

    for (i = 0; i < n; i++)
        fds[i] = send_publish(sock, bodies[i]);
    for (turns = 0; turns < 200 && ready_count() < n; turns++)
        loop_run_once(50);
    CHECK_INT_EQ(ready_count(), n);
    batch_flush(bt);
    for (i = 0; i < n; i++) {
        memset(&answers[i], 0, sizeof answers[i]);
        if (fds[i] >= 0)
            read_answer(fds[i], &answers[i]);
    }
    batch_tick(bt, clock_ms());
}

static const char good[] = "{\"topic\":\"room:u\",\"type\":\"note\",\"data\":{\"n\":1}}";
static const char bad[] = "{\"topic\":\"bad topic\",\"type\":\"note\",\"data\":{}}";

static int status_is(const buf_t *answer, const char *status_line)
{
    return strncmp(buf_str(answer), status_line, strlen(status_line)) == 0;
}

static void test_group_commit(const char *sock)
{
    const char *bodies[4] = {good, good, good, good};
    buf_t a[4];
    long long before = query_int("SELECT count(*) FROM events");
    int i;

    commits = 0;
    run_batch(sock, bodies, 4, a);
    for (i = 0; i < 4; i++) {
        CHECK(status_is(&a[i], "Status: 202"));
        buf_free(&a[i]);
    }
    CHECK_INT_EQ(commits, 1); /* four requests, one transaction */
    CHECK_INT_EQ(query_int("SELECT count(*) FROM events"), before + 4);
    batch_announce(bt, clock_ms() + 1000);
}

static void test_failing_request_changes_nothing(const char *sock)
{
    const char *bodies[3] = {good, bad, good};
    buf_t a[3];
    long long before = query_int("SELECT count(*) FROM events");

    commits = 0;
    run_batch(sock, bodies, 3, a);
    CHECK(status_is(&a[0], "Status: 202"));
    CHECK(status_is(&a[1], "Status: 400"));
    CHECK(strstr(buf_str(&a[1]), "\"invalid_topic\"") != NULL);
    CHECK(status_is(&a[2], "Status: 202"));
    CHECK_INT_EQ(commits, 1);
    CHECK_INT_EQ(query_int("SELECT count(*) FROM events"), before + 2);
    buf_free(&a[0]);
    buf_free(&a[1]);
    buf_free(&a[2]);
    batch_announce(bt, clock_ms() + 2000);
}

static void test_lost_commit_answers_503(const char *sock)
{
    const char *bodies[3] = {good, bad, good};
    buf_t a[3];
    long long before = query_int("SELECT count(*) FROM events");
    int i;

    refuse_commit = 1;
    run_batch(sock, bodies, 3, a);
    refuse_commit = 0;
    for (i = 0; i < 3; i++) {
        CHECK(status_is(&a[i], "Status: 503"));
        CHECK(strstr(buf_str(&a[i]), "\r\nRetry-After: 1\r\n") != NULL);
        CHECK(strstr(buf_str(&a[i]), "{\"error\":{\"code\":\"unavailable\"") != NULL);
        buf_free(&a[i]);
    }
    CHECK_INT_EQ(query_int("SELECT count(*) FROM events"), before);
    CHECK(!runtime_batch_pending(bt->rt)); /* nothing of it to publish */
}

int main(void)
{
    struct runtime *runtime = NULL;
    struct sockaddr_un a;
    char *err = NULL, path[256], sock[sizeof a.sun_path];
    buf_t t = {0};
    int lfd = -1;

    if (mkdtemp(dir) == NULL)
        return 1;
    unit_env(dir, "unit-batch-secret");
    CHECK(config_load(&err) == 0);
    snprintf(path, sizeof path, "%s/pulse.db", dir);
    CHECK(auth_jwt_sign("unit-batch-secret", "{\"sub\":\"root\",\"role\":\"admin\",\"exp\":4000000000}", &t) == 0);
    snprintf(token, sizeof token, "Bearer %s", buf_str(&t));
    runtime = runtime_open(pulse_cfg, routes_all, routes_all_count);
    snprintf(sock, sizeof sock, "%s/batch.sock", dir);
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(runtime_err(runtime) == 0 && lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 16) == 0);
    CHECK(loop_init() == 0);
    if (runtime_err(runtime) == 0 && (bt = batch_start(runtime, lfd)) != NULL) {
        sqlite3_commit_hook(db_handle(runtime->db), on_commit, NULL);
        test_group_commit(sock);
        test_failing_request_changes_nothing(sock);
        test_lost_commit_answers_503(sock);
        batch_stop(bt);
    }
    loop_close();
    runtime_close(runtime);
    buf_free(&t);
    free(err);
    unlink(sock);
    unlink(path);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_batch");
}
