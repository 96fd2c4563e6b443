/* test_sse_reader.c - the load generator's response reader, resume
 * checks and paths (bench/sse_reader.c, sse_resume.c, sse_paths.c): what the fault tests'
 * gap and duplicate counts rest on. */
#include "bench/sse_reader.c"
#include "bench/sse_resume.c"
#include "bench/sse_paths.c"

#include <stdlib.h>
#include <unistd.h>

#include "check.h"

struct lines {
    char text[4096];   /* the lines seen, each followed by '|' */
    size_t len;
    int n;
};

static void on_line(void *arg, const char *p, size_t n)
{
    struct lines *l = arg;

    if (l->len + n + 1 < sizeof l->text) {
        memcpy(l->text + l->len, p, n);
        l->len += n;
        l->text[l->len++] = '|';
        l->text[l->len] = '\0';
    }
    l->n++;
}

static const char chunked_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n";
/* Two chunks; the first ends mid-line, one line ends in \r\n. */
static const char chunked_body[] = "f\r\nid: 7\ndata: {\"b\r\n"
                                   "11;ext=1\r\nench_us\":42}\r\n\nx\n\r\n";

static void test_head(void)
{
    struct sse_reader r = {0};
    int status = 0;

    CHECK_INT_EQ(sse_reader_head(&r, chunked_head, sizeof chunked_head - 3, &status), 0);
    CHECK_INT_EQ(sse_reader_head(&r, chunked_head, sizeof chunked_head - 1, &status), sizeof chunked_head - 1);
    CHECK_INT_EQ(status, 200);
    CHECK(r.chunked);
    CHECK_INT_EQ(sse_reader_head(&r, "HTTP/1.0 503 Busy\r\nX: chunked\r\n\r\n", 33, &status), 33);
    CHECK_INT_EQ(status, 503);
    CHECK(!r.chunked);
    CHECK_INT_EQ(sse_reader_head(&r, "HTTP/2 200\r\n\r\n", 14, &status), -1);
    CHECK_INT_EQ(sse_reader_head(&r, "HTTP/1.1 20\r\n\r\n", 15, &status), -1);
}

/* Feeds the body in pieces of `step` bytes (0: two pieces cut at `cut`). */
static int feed(struct lines *out, size_t step, size_t cut)
{
    struct sse_reader r = {0};
    size_t len = sizeof chunked_body - 1, i, n;
    int status, rc = 0;

    memset(out, 0, sizeof *out);
    if (sse_reader_head(&r, chunked_head, sizeof chunked_head - 1, &status) <= 0)
        return -2;
    for (i = 0; i < len && rc == 0; i += n) {
        n = step ? step : (i == 0 ? cut : len - cut);
        if (n > len - i)
            n = len - i;
        rc = sse_reader_feed(&r, chunked_body + i, n, on_line, out);
    }
    sse_reader_reset(&r);
    return rc;
}

static void test_chunked_any_split(void)
{
    struct lines whole, part;
    size_t cut;
    int same = 1;

    CHECK_INT_EQ(feed(&whole, sizeof chunked_body, 0), 0);
    CHECK_STR_EQ(whole.text, "id: 7|data: {\"bench_us\":42}||x|");
    CHECK_INT_EQ(feed(&part, 1, 0), 0);
    CHECK_STR_EQ(part.text, whole.text);
    for (cut = 1; cut < sizeof chunked_body - 1; cut++) {
        if (feed(&part, 0, cut) != 0 || strcmp(part.text, whole.text) != 0)
            same = 0;
    }
    CHECK(same);
}

static void test_chunk_end_and_errors(void)
{
    struct sse_reader r = {0};
    struct lines l = {0};
    int status;

    sse_reader_head(&r, chunked_head, sizeof chunked_head - 1, &status);
    CHECK_INT_EQ(sse_reader_feed(&r, "3\r\na\nb\r\n0\r\n\r\n", 14, on_line, &l), -1);
    CHECK_STR_EQ(l.text, "a|");   /* what came before the end was delivered */
    CHECK_INT_EQ(r.body, 3);
    sse_reader_reset(&r);
    sse_reader_head(&r, chunked_head, sizeof chunked_head - 1, &status);
    CHECK_INT_EQ(sse_reader_feed(&r, "zz\r\n", 4, on_line, &l), -1);
    sse_reader_reset(&r);
    sse_reader_head(&r, chunked_head, sizeof chunked_head - 1, &status);
    CHECK_INT_EQ(sse_reader_feed(&r, "1\r\naX", 5, on_line, &l), -1); /* no CRLF after the data */
    sse_reader_reset(&r);
    sse_reader_head(&r, chunked_head, sizeof chunked_head - 1, &status);
    CHECK_INT_EQ(sse_reader_feed(&r, "fffffffff\r\n", 11, on_line, &l), -1); /* size overflows */
    sse_reader_reset(&r);
}

static void test_long_line_cut(void)
{
    struct sse_reader r = {0};
    struct lines l = {0};
    size_t n = SSE_READER_LINE_MAX + 100, i;
    char *big = malloc(n + 1);

    CHECK(big != NULL);
    if (big == NULL)
        return;
    memset(big, 'a', n);
    big[n] = '\n';
    for (i = 0; i <= n; i += 1000)   /* raw body, in pieces: the line is carried over */
        sse_reader_feed(&r, big + i, i + 1000 <= n + 1 ? 1000 : n + 1 - i, on_line, &l);
    CHECK_INT_EQ(l.n, 1);
    CHECK_INT_EQ(r.body, n + 1);
    sse_reader_reset(&r);
    free(big);
}

static void test_number(void)
{
    int64_t v = -1;

    CHECK_INT_EQ(sse_reader_number("data: {\"bench_us\": 1234}", 24, "\"bench_us\":", &v), 0);
    CHECK_INT_EQ(v, 1234);
    CHECK_INT_EQ(sse_reader_number("data: {\"bench_us\":x}", 20, "\"bench_us\":", &v), -1);
    CHECK_INT_EQ(sse_reader_number("data: {\"bench_us\":", 18, "\"bench_us\":", &v), -1);
    CHECK_INT_EQ(sse_reader_number("data: {}", 8, "\"bench_us\":", &v), -1);
}

static int lines_to(struct resume_client *c, struct resume_counts *k, const char *const *ls)
{
    int flags = 0;

    for (; *ls != NULL; ls++)
        flags |= resume_line(c, k, *ls, strlen(*ls));
    return flags;
}

static void test_resume(void)
{
    struct resume_client c = {.last_id = 10};
    struct resume_counts k = {0};
    const char *const ev11[] = {"id: 11", "data: {}", "", NULL};
    const char *const ev13[] = {"id: 13", "data: {}", "", NULL};
    const char *const pos[] = {"id: 20", "", NULL};
    const char *const reset[] = {"event: reset", "id: 30", "data: {}", "", NULL};

    CHECK_INT_EQ(lines_to(&c, &k, ev11), RESUME_EVENT);
    CHECK_INT_EQ(lines_to(&c, &k, ev11), 0);   /* again: a duplicate */
    CHECK_INT_EQ(k.dups, 1);
    CHECK_INT_EQ(lines_to(&c, &k, ev13), RESUME_EVENT);
    CHECK_INT_EQ(k.gaps, 1);
    CHECK_INT_EQ(c.last_id, 13);
    CHECK_INT_EQ(lines_to(&c, &k, pos), 0);    /* a position is not an event */
    CHECK_INT_EQ(c.last_id, 13);
    CHECK_INT_EQ(lines_to(&c, &k, reset), 0);
    CHECK_INT_EQ(k.resets, 1);
    CHECK_INT_EQ(c.last_id, 30);
    /* a fresh stream keeps the position of its first block and drops */
    resume_reopen(&c, 1);
    CHECK_INT_EQ(lines_to(&c, &k, pos), RESUME_DROP);
    CHECK_INT_EQ(k.bad_positions, 1);          /* 20 is behind 30 */
    CHECK_INT_EQ(lines_to(&c, &k, ev11), 0);   /* muted until it reconnects */
    resume_reopen(&c, 1);
    CHECK_INT_EQ(lines_to(&c, &k, ev13), RESUME_DROP);
    CHECK_INT_EQ(k.unpositioned, 1);
    CHECK_INT_EQ(k.dups + k.gaps, 2);
}

/* The stamps of merged chat deltas: each counted once, none overlapping. */
static void test_count(void)
{
    const char line[] = "data: {\"delta\":\"bench_us=1 a bench_us=2 bbench_us=bench_us=3\"}";

    CHECK_INT_EQ(sse_reader_count(line, sizeof line - 1, "bench_us="), 4);
    CHECK_INT_EQ(sse_reader_count(line, 20, "bench_us="), 0);     /* the first one cut off */
    CHECK_INT_EQ(sse_reader_count(line, sizeof line - 1, "aa"), 0);
    CHECK_INT_EQ(sse_reader_count("aaaa", 4, "aa"), 2);
    CHECK_INT_EQ(sse_reader_count("aaaa", 4, ""), 0);
}

/* -u with its %d, and -U: line i % count, blank lines skipped, a path that
 * does not fit refused (not cut). */
static void test_paths(void)
{
    struct sse_paths p = {.tmpl = "/s?topic=room:%d&x=%20", .topics = 3};
    char path[64], file[] = "/tmp/test_sse_paths_XXXXXX";
    FILE *f;
    int fd;

    CHECK_INT_EQ(sse_paths_get(&p, 7, path, sizeof path), 21);
    CHECK_STR_EQ(path, "/s?topic=room:1&x=%20");
    CHECK_INT_EQ(sse_paths_get(&p, 7, path, 21), -1);
    fd = mkstemp(file);
    CHECK(fd >= 0);
    f = fdopen(fd, "w");
    fputs("/a\n\n/bb\r\n/ccc", f);
    fclose(f);
    CHECK_INT_EQ(sse_paths_load(&p, file), 0);
    CHECK_INT_EQ(p.n, 3);
    CHECK_INT_EQ(sse_paths_get(&p, 4, path, sizeof path), 3);
    CHECK_STR_EQ(path, "/bb");
    CHECK_INT_EQ(sse_paths_get(&p, 2, path, sizeof path), 4);
    CHECK_STR_EQ(path, "/ccc");
    sse_paths_free(&p);
    f = fopen(file, "w");
    fputs("\n\n", f);
    fclose(f);
    CHECK_INT_EQ(sse_paths_load(&p, file), -1);   /* no path in it */
    sse_paths_free(&p);
    unlink(file);
    CHECK_INT_EQ(sse_paths_load(&p, file), -1);   /* gone */
}

int main(void)
{
    test_head();
    test_chunked_any_split();
    test_chunk_end_and_errors();
    test_long_line_cut();
    test_number();
    test_resume();
    test_count();
    test_paths();
    return check_summary("test_sse_reader");
}
