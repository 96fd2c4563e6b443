/* metrics.c - per-process slots in a shared mapping (see metrics.h). */
#include "base/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define METRICS_SLOTS 256
#define METRICS_MAGIC 0x50554c53454d3034ULL /* "PULSEM04": bumped when M__COUNT changes */

struct metrics_slot {
    _Atomic int pid;                      /* 0 = free */
    _Atomic long long v[M__COUNT];
};

struct metrics_file {
    uint64_t magic;
    struct metrics_slot slots[METRICS_SLOTS];
};

struct metric_desc {
    const char *name;
    const char *label;     /* NULL, or the label of a family member */
    const char *type;
    const char *help;
};

static const struct metric_desc descs[M__COUNT] = {
    [M_STREAMS_OPEN] = {"pulse_streams_open", NULL, "gauge", "SSE streams open now"},
    [M_EVENTS_APPENDED] = {"pulse_events_appended_total", NULL, "counter", "Events appended to the log"},
    [M_EVENTS_DELIVERED] = {"pulse_events_delivered_total", NULL, "counter", "Events written to SSE streams"},
    [M_REPLAYS] = {"pulse_replays_total", NULL, "counter", "Streams resumed from a Last-Event-ID"},
    [M_RESETS] = {"pulse_resets_total", NULL, "counter", "Resumes answered with a reset event"},
    [M_REDIS_RECONNECTS] = {"pulse_redis_reconnects_total", NULL, "counter", "Redis connections (re)established"},
    [M_STREAMS_REJECTED] = {"pulse_streams_rejected_total", NULL, "counter", "Streams refused at a connection cap"},
    [M_SLOW_CONSUMERS] = {"pulse_slow_consumers_dropped_total", NULL, "counter", "Streams closed because the client fell behind"},
    [M_REQ_1XX] = {"pulse_requests_total", "1xx", "counter", "HTTP responses by status class"},
    [M_REQ_2XX] = {"pulse_requests_total", "2xx", NULL, NULL},
    [M_REQ_3XX] = {"pulse_requests_total", "3xx", NULL, NULL},
    [M_REQ_4XX] = {"pulse_requests_total", "4xx", NULL, NULL},
    [M_REQ_5XX] = {"pulse_requests_total", "5xx", NULL, NULL},
    [M_GROUP_COMMITS] = {"pulse_group_commits_total", NULL, "counter",
                         "Transactions of the batching responder (each commits one or more requests)"},
    [M_BATCH_CONNECTIONS] = {"pulse_batch_connections_total", NULL, "counter",
                             "FastCGI connections the batching responder accepted (kept ones are reused)"},
    [M_RELAY_FOREIGN] = {"pulse_relay_foreign_entries_total", NULL, "counter",
                         "Entries of the Redis log stream the primary never wrote (above its newest event, or unsigned), removed"},
    [M_MIRROR_REFUSED] = {"pulse_mirror_refused_entries_total", NULL, "counter",
                          "Entries of the Redis log stream an edge refused: not signed with the relay's secret"},
};

static struct metrics_file *mf;
static struct metrics_slot *mine;

static int pid_alive(int pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* 1 when the file holds counters laid out for another M__COUNT. */
static int stale_layout(int fd, const struct stat *sb)
{
    uint64_t magic = 0;

    return sb->st_size >= (off_t)sizeof magic && pread(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
           magic != 0 && magic != METRICS_MAGIC;
}

static int claim_slot(void)
{
    int me = (int)getpid(), i;

    for (i = 0; i < METRICS_SLOTS; i++) {
        struct metrics_slot *s = &mf->slots[i];
        int cur = atomic_load(&s->pid);

        if (cur == me || ((cur == 0 || !pid_alive(cur)) &&
                          atomic_compare_exchange_strong(&s->pid, &cur, me))) {
            atomic_store(&s->v[M_STREAMS_OPEN], 0);
            mine = s;
            return 0;
        }
    }
    return -1;
}

int metrics_open(const char *data_dir)
{
    char path[4096];
    int fd, n;
    struct stat sb;
    void *p;

    n = snprintf(path, sizeof path, "%s/metrics.shm", data_dir);
    if (n < 0 || (size_t)n >= sizeof path)
        goto fail;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    /* A file of another layout (an older Pulse) is emptied first; then
     * ftruncate grows it and the kernel fills with zeros, every slot free. */
    if (fstat(fd, &sb) != 0)
        goto fail_fd;
    if (stale_layout(fd, &sb)) {
        if (ftruncate(fd, 0) != 0)
            goto fail_fd;
        sb.st_size = 0;
    }
    if ((size_t)sb.st_size < sizeof *mf && ftruncate(fd, sizeof *mf) != 0)
        goto fail_fd;
    p = mmap(NULL, sizeof *mf, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        goto fail;
    mf = p;
    mf->magic = METRICS_MAGIC;
    if (claim_slot() != 0) {
        log_warn("metrics: all %d slots in use; this process is not counted", METRICS_SLOTS);
        return -1;
    }
    return 0;
fail_fd:
    n = errno;
    close(fd);
    errno = n;
fail:
    log_warn("metrics: cannot map %s/metrics.shm: %s", data_dir, strerror(errno));
    return -1;
}

void metrics_close(void)
{
    if (mine != NULL)
        atomic_store(&mine->v[M_STREAMS_OPEN], 0);
    if (mf != NULL)
        munmap(mf, sizeof *mf);
    mf = NULL;
    mine = NULL;
}

void metrics_add(enum metric m, int64_t delta)
{
    if (mine != NULL)
        atomic_fetch_add(&mine->v[m], delta);
}

void metrics_set(enum metric m, int64_t value)
{
    if (mine != NULL)
        atomic_store(&mine->v[m], value);
}

void metrics_count_status(int status)
{
    if (status >= 100 && status < 600)
        metrics_add((enum metric)(M_REQ_1XX + status / 100 - 1), 1);
}

void metrics_render(buf_t *out)
{
    int m, i;

    for (m = 0; m < M__COUNT; m++) {
        const struct metric_desc *d = &descs[m];
        long long sum = 0;

        for (i = 0; mf != NULL && i < METRICS_SLOTS; i++) {
            struct metrics_slot *s = &mf->slots[i];
            int pid = atomic_load(&s->pid);

            if (pid == 0 || (m == M_STREAMS_OPEN && !pid_alive(pid)))
                continue;
            sum += atomic_load(&s->v[m]);
        }
        if (d->help != NULL)
            buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, d->type);
        if (d->label != NULL)
            buf_printf(out, "%s{class=\"%s\"} %lld\n", d->name, d->label, sum);
        else
            buf_printf(out, "%s %lld\n", d->name, sum);
    }
}
