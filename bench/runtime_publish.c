/* runtime_publish.c - the CPU cost of one publish on pulse-batch's serial
 * path, without sockets: the runtime as batch.c drives it (begin, N
 * requests each in its savepoint, commit, announce) on a fresh database.
 *
 *   build/bench/runtime_publish [batches] [per_batch] [events]
 *
 * events > 1: each request is a batch publish of that many events
 * ({"events":[...]}), and the figures are per event. Prints user CPU
 * microseconds per publish (process CPU time, so other load
 * on the machine changes it little) for each of 5 rounds, then the median.
 * For comparing changes to the handler, the store or the SQL: figure c's
 * wrk runs vary by +-10% on this machine, more than such a change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "handlers/routes.h"
#include "request/runtime.h"

#define ROUNDS 5

static char token[1024];

static const char *header(const struct http_req *req, const char *name)
{
    (void)req;
    return strcmp(name, "HTTP_AUTHORIZATION") == 0 ? token : NULL;
}

/* User CPU time: the kernel's share (WAL writes, locks) follows the page
 * cache's state more than the code, and varies between runs. */
static double cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec;
}

static double sys_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

/* One request's body: a publish, or a batch publish of events > 1. */
static void body_of(buf_t *b, long seq, int events)
{
    int e;

    if (events > 1)
        buf_puts(b, "{\"events\":[");
    for (e = 0; e < events; e++)
        buf_printf(b, "%s{\"topic\":\"room:tput\",\"type\":\"bench\",\"data\":{\"n\":%ld}}", e ? "," : "",
                   seq * events + e);
    if (events > 1)
        buf_puts(b, "]}");
}

/* One batch of n publishes; 0 when every one was answered 202. */
static int batch(struct runtime *rt, int n, long seq, int events)
{
    int i, bad = 0;

    runtime_batch_begin(rt, (size_t)n);
    for (i = 0; i < n; i++) {
        struct http_req req;
        struct http_resp resp;
        buf_t body = {0};

        memset(&req, 0, sizeof req);
        memset(&resp, 0, sizeof resp);
        body_of(&body, seq + i, events);
        req.method = "POST";
        req.path = xstrdup("/api/publish");
        req.body_len = body.len;
        req.body = buf_steal(&body);
        req.header = header;
        runtime_handle(rt, &req, &resp, 0, NULL, (long long)time(NULL));
        bad |= resp.status != 202;
        free(req.path);
        free(req.body);
        buf_free(&resp.headers);
        buf_free(&resp.body);
    }
    bad |= runtime_batch_end(rt) != 0;
    runtime_batch_publish(rt);
    return bad ? -1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/pulse-bench-publish-XXXXXX", path[256];
    long batches = argc > 1 ? atol(argv[1]) : 20000, b;
    int per = argc > 2 ? atoi(argv[2]) : 6, events = argc > 3 ? atoi(argv[3]) : 1, r, rc = 1;
    double us[ROUNDS];
    struct runtime *rt = NULL;
    char *err = NULL;
    buf_t t = {0};

    if (batches < 1 || per < 1 || per > 256 || events < 1 || events > 1000 || mkdtemp(dir) == NULL)
        return 2;
    snprintf(path, sizeof path, "%s/pulse.db", dir);
    setenv("PULSE_DB", path, 1);
    snprintf(path, sizeof path, "%s/bells", dir);
    setenv("PULSE_BELL_DIR", path, 1);
    setenv("PULSE_DATA", dir, 1);
    setenv("PULSE_JWT_SECRET", "bench-publish-secret", 1);
    if (config_load(&err) != 0 ||
        auth_jwt_sign("bench-publish-secret", "{\"sub\":\"root\",\"role\":\"admin\",\"exp\":4000000000}", &t) != 0)
        goto out;
    snprintf(token, sizeof token, "Bearer %s", buf_str(&t));
    rt = runtime_open(pulse_cfg, routes_all, routes_all_count);
    if (runtime_err(rt)) {
        fprintf(stderr, "%s\n", runtime_errstr(rt));
        goto out;
    }
    for (r = 0; r < ROUNDS; r++) {
        double t0 = cpu_us(), s0 = sys_us();
        for (b = 0; b < batches; b++)
            if (batch(rt, per, (r * batches + b) * per, events) != 0) {
                fprintf(stderr, "a publish was not answered 202\n");
                goto out;
            }
        us[r] = (cpu_us() - t0) / (double)(batches * per * events);
        printf("round %d: %.2f us user CPU per event, %.2f us system (%ld batches of %d requests of %d events)\n",
               r + 1, us[r], (sys_us() - s0) / (double)(batches * per * events), batches, per, events);
    }
    qsort(us, ROUNDS, sizeof us[0], cmp_double);
    printf("median: %.2f us user CPU per event\n", us[ROUNDS / 2]);
    rc = 0;
out:
    if (err != NULL)
        fprintf(stderr, "%s\n", err);
    runtime_close(rt);
    buf_free(&t);
    free(err);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
