/* test_store_resume.c - store_resume_point, the one decision a resuming
 * stream (Last-Event-ID) and a poll (since=) both take, table-driven. */
#include "store/store.h"

#include "check.h"

struct row {
    int64_t since, last;
    int pruned, may_wait;
    enum store_resume want;
};

static const struct row rows[] = {
    /* the log holds everything after since: read on */
    {0, 0, 0, 0, STORE_RESUME_OK},
    {0, 100, 0, 0, STORE_RESUME_OK},
    {40, 100, 0, 0, STORE_RESUME_OK},
    {100, 100, 0, 0, STORE_RESUME_OK},        /* at the head: nothing to read, live from here */
    {100, 100, 0, 1, STORE_RESUME_OK},        /* an edge at its head too */
    {40, 100, 0, 1, STORE_RESUME_OK},
    /* events after since were pruned: reset, history_expired */
    {0, 100, 1, 0, STORE_RESUME_EXPIRED},
    {40, 100, 1, 0, STORE_RESUME_EXPIRED},
    {40, 100, 1, 1, STORE_RESUME_EXPIRED},    /* an edge resets too: its copy lost them */
    {100, 100, 1, 0, STORE_RESUME_EXPIRED},
    /* past the head: not from this log (a primary), or not copied yet (an edge) */
    {101, 100, 0, 0, STORE_RESUME_UNKNOWN},
    {101, 100, 0, 1, STORE_RESUME_WAIT},
    {5, 0, 0, 0, STORE_RESUME_UNKNOWN},       /* an empty log */
    {5, 0, 0, 1, STORE_RESUME_WAIT},
    {INT64_MAX, 100, 0, 0, STORE_RESUME_UNKNOWN},
    {INT64_MAX, 100, 0, 1, STORE_RESUME_WAIT},
    /* past the head, whatever pruned says (every pruned id is at most the head) */
    {101, 100, 1, 0, STORE_RESUME_UNKNOWN},
    {101, 100, 1, 1, STORE_RESUME_WAIT},
};

int main(void)
{
    size_t i;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        enum store_resume got = store_resume_point(r->since, r->last, r->pruned, r->may_wait);

        if (got != r->want)
            fprintf(stderr, "row %zu: since %lld last %lld pruned %d may_wait %d\n", i, (long long)r->since,
                    (long long)r->last, r->pruned, r->may_wait);
        CHECK_INT_EQ(got, r->want);
    }
    return check_summary("test_store_resume");
}
