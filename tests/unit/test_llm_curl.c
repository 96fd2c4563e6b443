/* test_llm_curl.c - the upstream backend (fcgi/llm/llm_curl.c) through
 * llm.h on a real epoll loop, against tests/llm_standin.py (a scripted
 * OpenAI-compatible server the test starts on a free port and stops by
 * PID): a whole answer, a wrong key, a refused port, a stall, garbage, a
 * dropped stream, a huge answer, a cancel (the stand-in sees the
 * connection close), and 50 answers at once. Without python3 it fails. */
#include "llm/llm_curl.c"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "check.h"
#include "unit_net.h"
#include "wire/loop.h"

static char dir[] = "/tmp/pulse-unit-llm-XXXXXX";
static char script_path[300], log_path[300];
static char standin_url[256];
static pid_t standin_pid = -1;

static const char script[] =
    "{\"default\": \"normal\", \"answers\": {"
    "\"normal\": {\"deltas\": [\"Hel\", \"lo, \", \"w\\u00f6rld \", \"\\ud83d\\ude00\", \"!\"], \"delay_ms\": 10,"
    " \"usage\": {\"prompt_tokens\": 7, \"completion_tokens\": 5, \"total_tokens\": 12}},"
    "\"crlf\": {\"deltas\": [\"a\", \"b\"], \"crlf\": true, \"finish_reason\": \"length\", \"done\": false},"
    "\"stall\": {\"mode\": \"stall\", \"deltas\": [\"a\"]},"
    "\"cancel\": {\"mode\": \"stall\", \"deltas\": [\"x\"]},"
    "\"garbage\": {\"mode\": \"garbage\", \"deltas\": [\"a\"]},"
    "\"drop\": {\"mode\": \"drop\", \"deltas\": [\"a\", \"b\"]},"
    "\"huge\": {\"mode\": \"huge\", \"huge_bytes\": 10000000, \"chunk\": 1000},"
    "\"fail\": {\"mode\": \"fail\", \"status\": 500, \"error\": \"boom \\u00e9\"},"
    "\"many\": {\"deltas\": [\"one \", \"two \", \"three\"], \"delay_ms\": 20}}}";

/* ---- the stand-in ---- */

static int standin_start(void)
{
    int out[2];
    FILE *f = fopen(script_path, "w");
    ssize_t n;
    size_t got = 0;

    if (f == NULL || fputs(script, f) < 0 || fclose(f) != 0 || pipe(out) != 0)
        return -1;
    standin_pid = fork();
    if (standin_pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execlp("python3", "python3", "tests/llm_standin.py", "--key", "sk-test", "--script", script_path, "--log",
               log_path, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    /* Its first line is its URL. */
    while (got < sizeof standin_url - 1 && (n = read(out[0], standin_url + got, 1)) == 1 && standin_url[got] != '\n')
        got++;
    standin_url[got] = '\0';
    close(out[0]);
    return standin_pid > 0 && strncmp(standin_url, "http://", 7) == 0 ? 0 : -1;
}

static void standin_stop(void)
{
    if (standin_pid <= 0)
        return;
    kill(standin_pid, SIGTERM);
    waitpid(standin_pid, NULL, 0);
    standin_pid = -1;
}

/* The stand-in's record of the request answered by `answer` (a JSON line),
 * once it has ended; NULL after 3 s. The caller frees it. */
static char *standin_record(const char *answer)
{
    char want[64], line[65536];
    long long until = clock_ms() + 3000;

    snprintf(want, sizeof want, "\"answer\": \"%s\"", answer);
    while (clock_ms() < until) {
        FILE *f = fopen(log_path, "r");

        while (f != NULL && fgets(line, sizeof line, f) != NULL) {
            if (strstr(line, want) != NULL) {
                fclose(f);
                return xstrdup(line);
            }
        }
        if (f != NULL)
            fclose(f);
        usleep(20000);
    }
    return NULL;
}

/* A number field of a record; -1 when absent or null. */
static double record_number(const char *rec, const char *field)
{
    char key[64];
    const char *p;

    snprintf(key, sizeof key, "\"%s\": ", field);
    p = rec != NULL ? strstr(rec, key) : NULL;
    if (p == NULL || strncmp(p + strlen(key), "null", 4) == 0)
        return -1;
    return strtod(p + strlen(key), NULL);
}

/* ---- one answer ---- */

struct got {
    struct llm *l;
    buf_t text;
    int deltas, done, errors, after_end;
    char *finish, *usage, *code, *msg;
    long long ended_ms;
    int cancel_at_delta;       /* >0: the delta callback cancels the call at this delta */
    struct llm_call *call;
};

static void on_delta_h(void *arg, const char *t, size_t n)
{
    struct got *g = arg;

    CHECK(n > 0);
    if (g->done || g->errors)
        g->after_end++;
    buf_append(&g->text, t, n);
    g->deltas++;
    if (g->cancel_at_delta > 0 && g->deltas == g->cancel_at_delta) {
        g->ended_ms = clock_ms();
        llm_cancel(g->l, g->call);
        llm_cancel(g->l, g->call); /* twice from its own callback: still safe */
    }
}

static void on_done_h(void *arg, const char *finish, const char *usage)
{
    struct got *g = arg;

    if (g->done || g->errors || g->cancel_at_delta)
        g->after_end++;
    g->done++;
    g->finish = xstrdup(finish);
    g->usage = usage != NULL ? xstrdup(usage) : NULL;
    g->ended_ms = clock_ms();
    llm_cancel(g->l, g->call); /* from its own end: a no-op */
}

static void on_error_h(void *arg, const char *code, const char *msg)
{
    struct got *g = arg;

    if (g->done || g->errors || g->cancel_at_delta)
        g->after_end++;
    g->errors++;
    g->code = xstrdup(code);
    g->msg = xstrdup(msg);
    g->ended_ms = clock_ms();
}

static const struct llm_handler handler = {on_delta_h, on_done_h, on_error_h};

static void got_free(struct got *g)
{
    buf_free(&g->text);
    free(g->finish);
    free(g->usage);
    free(g->code);
    free(g->msg);
}

/* Runs the loop until every one of n answers has ended, or ms pass. */
static void run(struct llm *l, struct got *g, int n, long ms)
{
    long long until = clock_ms() + ms;
    int i, open;

    do {
        long w = llm_next_ms(l, clock_ms());

        loop_run_once(w < 0 || w > 20 ? 20 : (int)w);
        llm_tick(l, clock_ms());
        for (i = 0, open = 0; i < n; i++)
            open += !g[i].done && !g[i].errors;
    } while (open > 0 && clock_ms() < until);
}

static struct llm *open_llm(const char *url, const char *key, long timeout_s, size_t max_bytes)
{
    struct llm_opts o = {.url = url, .model = "test-model", .api_key = key, .timeout_s = timeout_s,
                         .max_bytes = max_bytes};
    struct llm *l = llm_open(&o);

    CHECK(l != NULL);
    CHECK_STR_EQ(l != NULL ? llm_kind(l) : NULL, "openai");
    return l;
}

/* One answer to the message `name` (which picks the stand-in's answer). */
static void ask(struct llm *l, struct got *g, const char *name, long ms)
{
    char messages[256];

    snprintf(messages, sizeof messages,
             "[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"%s\"}]", name);
    g->l = l;
    g->call = llm_start(l, messages, &handler, g);
    CHECK(g->call != NULL);
    if (g->call != NULL)
        run(l, g, 1, ms);
}

static void expect_error(struct got *g, const char *code, const char *in_msg, int line)
{
    check_int_eq(g->errors, 1, __FILE__, line, "one error");
    check_int_eq(g->done, 0, __FILE__, line, "no done");
    check_str_eq(g->code, code, __FILE__, line, "code");
    if (in_msg != NULL && (g->msg == NULL || strstr(g->msg, in_msg) == NULL)) {
        check_report(0, __FILE__, line, "message");
        fprintf(stderr, "    message \"%s\", want it to hold \"%s\"\n", g->msg ? g->msg : "(null)", in_msg);
    }
}

/* ---- the cases ---- */

static void test_answer(struct llm *l)
{
    struct got g = {0}, c = {0};
    char *rec;

    ask(l, &g, "normal", 5000);
    CHECK_INT_EQ(g.done, 1);
    CHECK_INT_EQ(g.errors, 0);
    CHECK_STR_EQ(buf_str(&g.text), "Hello, w\xc3\xb6rld \xf0\x9f\x98\x80!");
    CHECK_STR_EQ(g.finish, "stop");
    CHECK_STR_EQ(g.usage, "{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12}");
    CHECK_INT_EQ(g.after_end, 0);
    /* What the stand-in received (it answers 400 to a body it refuses). */
    rec = standin_record("normal");
    CHECK(rec != NULL && strstr(rec, "\"model\": \"test-model\"") != NULL);
    CHECK(rec != NULL && strstr(rec, "\"stream\": true") != NULL);
    CHECK(rec != NULL && strstr(rec, "\"include_usage\": true") != NULL);
    CHECK(rec != NULL && strstr(rec, "\"Accept\": \"text/event-stream\"") != NULL);
    CHECK(rec != NULL && strstr(rec, "\"content\": \"be brief\"") != NULL);
    free(rec);
    got_free(&g);
    /* CRLF lines, a finish_reason and no [DONE]: done when the body ends. */
    ask(l, &c, "crlf", 5000);
    CHECK_INT_EQ(c.done, 1);
    CHECK_STR_EQ(buf_str(&c.text), "ab");
    CHECK_STR_EQ(c.finish, "length");
    got_free(&c);
}

static void test_failures(struct llm *l, const char *url)
{
    struct got g = {0}, s = {0}, m = {0}, d = {0}, f = {0};
    struct llm *bad = open_llm(url, "wrong", 5, 65536);
    long long t0;

    ask(bad, &g, "normal", 5000);
    expect_error(&g, "upstream_http", "401", __LINE__);
    expect_error(&g, "upstream_http", "Incorrect API key provided", __LINE__);
    llm_close(bad);
    got_free(&g);

    t0 = clock_ms();
    ask(l, &s, "stall", 5000);
    expect_error(&s, "upstream_timeout", NULL, __LINE__);
    CHECK_STR_EQ(buf_str(&s.text), "a");
    CHECK(s.ended_ms - t0 >= 900 && s.ended_ms - t0 < 2500);
    got_free(&s);

    ask(l, &m, "garbage", 5000);
    expect_error(&m, "upstream_malformed", "not a JSON object", __LINE__);
    CHECK_STR_EQ(buf_str(&m.text), "a");
    got_free(&m);

    ask(l, &d, "drop", 5000);
    expect_error(&d, "upstream_truncated", NULL, __LINE__);
    CHECK_STR_EQ(buf_str(&d.text), "ab");
    got_free(&d);

    ask(l, &f, "fail", 5000);
    expect_error(&f, "upstream_http", "HTTP 500: boom \xc3\xa9", __LINE__);
    got_free(&f);
}

static void test_refused(void)
{
    char url[64];
    struct got g = {0};
    struct llm *l;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", unit_free_port());
    l = open_llm(url, "sk-test", 5, 65536);
    ask(l, &g, "normal", 5000);
    expect_error(&g, "upstream_refused", NULL, __LINE__);
    llm_close(l);
    got_free(&g);
}

static long maxrss_kb(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

static void test_huge(void)
{
    struct got g = {0};
    struct llm *l = open_llm(standin_url, "sk-test", 5, 65536);
    long long t0 = clock_ms();
    long rss0 = maxrss_kb();
    char *rec;

    ask(l, &g, "huge", 10000);
    expect_error(&g, "upstream_too_large", "65536", __LINE__);
    CHECK(g.text.len <= 65536);
    CHECK(g.text.len > 60000);
    CHECK(g.ended_ms - t0 < 3000);
    /* Reading stopped at the limit: no 10 MB held, and the stand-in could
     * not send it all. */
    CHECK(maxrss_kb() - rss0 < 16 * 1024);
    rec = standin_record("huge");
    CHECK(rec != NULL && strstr(rec, "\"completed\": false") != NULL);
    CHECK(record_number(rec, "bytes") > 0 && record_number(rec, "bytes") < 9e6);
    free(rec);
    llm_close(l);
    got_free(&g);
}

/* With a long timeout: only the cancel can close the connection. */
static void test_cancel(void)
{
    struct llm *l = open_llm(standin_url, "sk-test", 30, 65536);
    struct got g = {.cancel_at_delta = 1};
    long long cancelled;
    double gone;
    char *rec;

    ask(l, &g, "cancel", 3000);
    cancelled = g.ended_ms;
    CHECK_INT_EQ(g.deltas, 1);
    CHECK_STR_EQ(buf_str(&g.text), "x");
    run(l, &g, 1, 1500); /* nothing may come now */
    CHECK_INT_EQ(g.done + g.errors + g.after_end, 0);
    CHECK_INT_EQ(g.deltas, 1);
    rec = standin_record("cancel");
    gone = record_number(rec, "disconnected");
    CHECK(rec != NULL && gone > 0);
    CHECK(gone > 0 && gone * 1000 - (double)cancelled < 1000);
    if (gone * 1000 - (double)cancelled >= 1000)
        fprintf(stderr, "    the stand-in saw the close %.0f ms after the cancel\n", gone * 1000 - (double)cancelled);
    free(rec);
    got_free(&g);
    llm_close(l);
}

static void test_many(void)
{
    struct llm *l = open_llm(standin_url, "sk-test", 10, 65536);
    struct got g[50];
    int i, done = 0, exact = 0;
    const char *messages = "[{\"role\":\"user\",\"content\":\"many\"}]";

    memset(g, 0, sizeof g);
    for (i = 0; i < 50; i++) {
        g[i].l = l;
        g[i].call = llm_start(l, messages, &handler, &g[i]);
        CHECK(g[i].call != NULL);
    }
    run(l, g, 50, 15000);
    for (i = 0; i < 50; i++) {
        done += g[i].done == 1 && g[i].errors == 0;
        exact += strcmp(buf_str(&g[i].text), "one two three") == 0;
        if (g[i].errors)
            fprintf(stderr, "    answer %d: %s: %s\n", i, g[i].code, g[i].msg);
        got_free(&g[i]);
    }
    CHECK_INT_EQ(done, 50);
    CHECK_INT_EQ(exact, 50);
    llm_close(l);
}

/* A call that cannot start, and a close with answers under way: no
 * callback, nothing leaked. */
static void test_start_close(void)
{
    struct got g[3];
    struct llm *l = open_llm(standin_url, "sk-test", 5, 65536);
    int i;

    memset(g, 0, sizeof g);
    CHECK(llm_start(l, "{\"role\":\"user\"}", &handler, &g[0]) == NULL);
    CHECK(llm_start(l, "not json", &handler, &g[0]) == NULL);
    for (i = 0; i < 3; i++) {
        g[i].l = l;
        g[i].call = llm_start(l, "[{\"role\":\"user\",\"content\":\"stall\"}]", &handler, &g[i]);
    }
    run(l, g, 3, 200);
    llm_close(l);
    for (i = 0; i < 3; i++) {
        CHECK_INT_EQ(g[i].done + g[i].errors, 0);
        got_free(&g[i]);
    }
}

int main(void)
{
    struct llm *l;

    signal(SIGPIPE, SIG_IGN);
    if (mkdtemp(dir) == NULL || loop_init() != 0) {
        CHECK(!"a temporary directory and a loop");
        return check_summary("test_llm_curl");
    }
    snprintf(script_path, sizeof script_path, "%s/script.json", dir);
    snprintf(log_path, sizeof log_path, "%s/requests.jsonl", dir);
    if (standin_start() != 0) {
        CHECK(!"tests/llm_standin.py starts (python3)");
        standin_stop();
    } else {
        l = open_llm(standin_url, "sk-test", 1, 65536);
        test_answer(l);
        test_failures(l, standin_url);
        llm_close(l);
        test_cancel();
        test_many();
        test_refused();
        test_huge();
        test_start_close();
        standin_stop();
    }
    loop_close();
    unlink(script_path);
    unlink(log_path);
    rmdir(dir);
    return check_summary("test_llm_curl");
}
