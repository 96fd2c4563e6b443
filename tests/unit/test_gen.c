/* test_gen.c - the generator (fcgi/request/gen.c) with the chat's hooks
 * (handlers/chat_gen.c) and the demo model, on a real database through the
 * runtime: text that arrives between two commits is one chat.delta; the
 * answer row always equals its deltas; a cancel seen at renewal stops the
 * model; an answer whose generator died ends interrupted; a generator that
 * stops ends its answers interrupted. Time is the caller's: gen_run and
 * llm_tick take it, so nothing here sleeps. */
#include "request/gen.c"
#include "request/runtime.c"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/config.h"
#include "check.h"
#include "handlers/routes.h"
#include "unit_db.h"

static char dir[] = "/tmp/pulse-unit-gen-XXXXXX";

static long long q(struct runtime *rt, const char *sql)
{
    return unit_query_int(rt->db, sql);
}

static void exec(struct runtime *rt, const char *sql)
{
    CHECK(sqlite3_exec(db_handle(rt->db), sql, NULL, NULL, NULL) == SQLITE_OK);
}

/* A session of lan's with a question and its answer, waiting. */
static void ask(struct runtime *rt, const char *sid, const char *answer)
{
    char sql[1024];

    snprintf(sql, sizeof sql,
             "INSERT OR IGNORE INTO chat_sessions (id, owner_id, created_at) VALUES ('%s', 'lan', 'x');"
             "INSERT INTO chat_messages (id, session_id, user_id, role, content, status, created_at, created_ms)"
             " VALUES ('q-%s', '%s', 'lan', 'user', 'hello', 'complete', 'x', 0),"
             "        ('%s', '%s', 'lan', 'assistant', '', 'streaming', 'x', 0);",
             sid, answer, sid, answer, sid);
    exec(rt, sql);
}

/* The answer's text so far (its row, and while it streams the deltas
 * logged after the row's last write: migration 0016) equals its chat.delta
 * events, in seq order; an answer that ended holds it all in its row. */
static int row_equals_deltas(struct runtime *rt, const char *answer)
{
    char sql[1024];

    snprintf(sql, sizeof sql,
             "WITH d(text, n) AS (SELECT coalesce(group_concat(d, ''), ''), count(*) FROM (SELECT json_extract(data,"
             " '$.delta') AS d FROM events WHERE type = 'chat.delta' AND json_extract(data, '$.messageId') = '%s'"
             " ORDER BY id))"
             " SELECT (SELECT content FROM chat_answer_so_far WHERE id = '%s') = d.text"
             " AND (SELECT seq FROM chat_answer_so_far WHERE id = '%s') = d.n"
             " AND (SELECT status = 'streaming' OR (content = d.text AND seq = d.n) FROM chat_messages WHERE id = '%s')"
             " FROM d",
             answer, answer, answer, answer);
    return q(rt, sql) == 1;
}

static void test_text_between_commits_is_one_event(struct runtime *rt, struct llm *llm)
{
    struct gen *g = gen_start(rt, llm, &chat_gen_hooks, 10);
    long long t = 1000000;
    int i;

    ask(rt, "s1", "a1");
    gen_run(g, t);                         /* probe, claim, the first word */
    CHECK_INT_EQ(gen_running(g), 1);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a1' AND lease_owner IS NOT NULL"), 1);
    gen_run(g, t);                         /* the first word committed */
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM events WHERE type = 'chat.delta'"), 1);
    for (i = 1; i <= 5; i++)               /* five words arrive before the next commit */
        llm_tick(llm, t + i * 10);
    gen_run(g, t + 50);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM events WHERE type = 'chat.delta'"), 2);
    CHECK_INT_EQ(q(rt, "SELECT max(json_extract(data, '$.seq')) FROM events WHERE type = 'chat.delta'"), 2);
    CHECK(q(rt, "SELECT length(json_extract(data, '$.delta')) - length(replace(json_extract(data, '$.delta'), ' ', ''))"
                " FROM events WHERE type = 'chat.delta' ORDER BY id DESC LIMIT 1") == 5);
    CHECK(row_equals_deltas(rt, "a1"));
    for (i = 0; i < 1000 && gen_running(g) > 0; i++)   /* to the end */
        gen_run(g, t + 100 + i * 10);
    CHECK_INT_EQ(gen_running(g), 0);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a1' AND status = 'complete'"
                       " AND finish_reason = 'stop' AND lease_owner IS NULL"), 1);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM events WHERE type = 'chat.done'"), 1);
    CHECK(row_equals_deltas(rt, "a1"));
    gen_stop(g);
}

/* While an answer streams its row lags the log by fewer than
 * gen_row_every deltas, and a reader (chat_answer_so_far) gets the whole
 * text so far after every commit. */
static void test_the_row_lags_the_log_by_a_bounded_number_of_deltas(struct runtime *rt, struct llm *llm)
{
    struct gen *g = gen_start(rt, llm, &chat_gen_hooks, 10);
    long long t = 4000000, lag, most = 0;
    int i, every = gen_row_every(pulse_cfg);

    CHECK_INT_EQ(every, 16);
    ask(rt, "s9", "a9");
    for (i = 0; i < 1000 && (i < 2 || gen_running(g) > 0); i++) {
        gen_run(g, t + i * 10);           /* a word every 10 ms, a renewal every 250 */
        CHECK(row_equals_deltas(rt, "a9"));
        lag = q(rt, "SELECT s.seq - m.seq FROM chat_answer_so_far s JOIN chat_messages m USING (id) WHERE id = 'a9'");
        CHECK(lag >= 0 && lag < every);
        if (lag > most)
            most = lag;
    }
    CHECK_INT_EQ(gen_running(g), 0);
    CHECK(most > 1);                      /* the row was not written at every delta */
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a9' AND status = 'complete' AND seq > 40"), 1);
    gen_stop(g);
}

static void test_a_short_log_has_the_row_written_at_every_delta(void)
{
    struct config c = *pulse_cfg;

    c.retention = 63;
    CHECK_INT_EQ(gen_row_every(&c), 1);
    c.retention = 64;
    CHECK_INT_EQ(gen_row_every(&c), 16);
    c.retention_s = 59;
    CHECK_INT_EQ(gen_row_every(&c), 1);
}

static void test_cancel_is_seen_at_renewal(struct runtime *rt, struct llm *llm)
{
    struct gen *g = gen_start(rt, llm, &chat_gen_hooks, 10);
    long long t = 2000000;

    ask(rt, "s2", "a2");
    gen_run(g, t);
    gen_run(g, t);
    CHECK_INT_EQ(gen_running(g), 1);
    /* a request (on any host) cancels: the row ends, the generator is not told */
    exec(rt, "UPDATE chat_messages SET status = 'cancelled', lease_owner = NULL WHERE id = 'a2'");
    gen_run(g, t + RENEW_MS + 1);
    CHECK_INT_EQ(gen_running(g), 0);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a2' AND status = 'cancelled'"), 1);
    gen_stop(g);
}

static void test_a_dead_generators_answer_ends_interrupted(struct runtime *rt, struct llm *llm)
{
    struct gen *g = gen_start(rt, llm, &chat_gen_hooks, 10);

    ask(rt, "s3", "a3");
    exec(rt, "UPDATE chat_messages SET lease_owner = 'gone:1:x', lease_until_ms = 1, content = 'half'"
             " WHERE id = 'a3'");
    gen_run(g, 3000000);
    CHECK_INT_EQ(gen_running(g), 0);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a3' AND status = 'error'"
                       " AND error_code = 'interrupted' AND content = 'half'"), 1);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM events WHERE type = 'chat.error'"
                       " AND json_extract(data, '$.messageId') = 'a3' AND json_extract(data, '$.content') = 'half'"),
                 1);
    gen_stop(g);
}

static void test_stopping_ends_answers_interrupted(struct runtime *rt, struct llm *llm)
{
    struct gen *g = gen_start(rt, llm, &chat_gen_hooks, 10);

    ask(rt, "s4", "a4");
    gen_run(g, 4000000);
    CHECK_INT_EQ(gen_running(g), 1);
    gen_stop(g);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a4' AND status = 'error'"
                       " AND error_code = 'interrupted'"), 1);
    CHECK(row_equals_deltas(rt, "a4"));
}

/* At most max answers at once; the others wait their turn. */
static void test_concurrency_cap(struct runtime *rt, struct llm *llm)
{
    struct gen *g = gen_start(rt, llm, &chat_gen_hooks, 2);
    long long t = 5000000;
    int i;

    ask(rt, "s5", "a5");
    ask(rt, "s6", "a6");
    ask(rt, "s7", "a7");
    gen_run(g, t);
    CHECK_INT_EQ(gen_running(g), 2);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE status = 'streaming' AND lease_owner IS NULL"), 1);
    for (i = 0; i < 3000 && q(rt, "SELECT count(*) FROM chat_messages WHERE status = 'streaming'") > 0; i++)
        gen_run(g, t + 10 + i * (PROBE_MS / 2));
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id IN ('a5', 'a6', 'a7') AND status = 'complete'"),
                 3);
    gen_stop(g);
}

/* An expired answer whose text no longer fits one event (its text longer
 * than PULSE_MAX_EVENT_BYTES, say after the limit was lowered) still ends:
 * its row keeps the whole text, its chat.error goes without it (content
 * null); the other dead answer ends too, and a waiting one is claimed. */
static void test_an_answer_too_long_for_its_end_event_still_ends(struct runtime *rt, struct llm *llm)
{
    struct gen *g = gen_start(rt, llm, &chat_gen_hooks, 10);

    ask(rt, "s10", "a10");
    ask(rt, "s11", "a11");
    exec(rt, "UPDATE chat_messages SET lease_owner = 'gone:1:x', lease_until_ms = 1,"
             " content = replace(hex(zeroblob(300000)), '0', 'x') WHERE id = 'a10';"
             "UPDATE chat_messages SET lease_owner = 'gone:1:x', lease_until_ms = 1, content = 'half'"
             " WHERE id = 'a11'");
    ask(rt, "s12", "a12");
    gen_run(g, 6000000);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a11' AND status = 'error'"
                       " AND error_code = 'interrupted' AND content = 'half'"), 1);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a10' AND status = 'error'"
                       " AND error_code = 'interrupted' AND length(content) = 600000"), 1);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM events WHERE type = 'chat.error'"
                       " AND json_extract(data, '$.messageId') = 'a10' AND json_type(data, '$.content') = 'null'"
                       " AND json_extract(data, '$.audit.length') = 600000"), 1);
    CHECK_INT_EQ(gen_running(g), 1);       /* a12 */
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a12' AND lease_owner IS NOT NULL"), 1);
    gen_stop(g);
}

/* A store that cannot take a commit (here: read-only) is asked again
 * RETRY_MS later, not at once in a loop that spins; nothing is lost. */
static void test_a_failing_store_is_not_asked_again_at_once(struct runtime *rt, struct llm *llm)
{
    struct gen *g = gen_start(rt, llm, &chat_gen_hooks, 10);
    long long t = 7000000;
    int i;

    ask(rt, "s13", "a13");
    gen_run(g, t);
    gen_run(g, t);
    CHECK_INT_EQ(gen_running(g), 1);
    exec(rt, "PRAGMA query_only = 1");
    llm_tick(llm, t + 10);                /* a word arrives */
    gen_run(g, t + 10);                   /* its commit fails */
    CHECK(gen_next_ms(g, t + 10) > 0);
    gen_run(g, t + 11);
    CHECK(gen_next_ms(g, t + 11) > 0);
    exec(rt, "PRAGMA query_only = 0");
    for (i = 0; i < 1000 && gen_running(g) > 0; i++)
        gen_run(g, t + RETRY_MS + 20 + i * 10);
    CHECK_INT_EQ(gen_running(g), 0);
    CHECK_INT_EQ(q(rt, "SELECT count(*) FROM chat_messages WHERE id = 'a13' AND status = 'complete'"), 1);
    CHECK(row_equals_deltas(rt, "a13"));
    gen_stop(g);
}

int main(void)
{
    struct runtime *rt = NULL;
    struct llm *llm = NULL;
    struct llm_opts o = {.demo_word_ms = 10};
    char *err = NULL;

    if (mkdtemp(dir) == NULL)
        return 1;
    unit_env(dir, "unit-gen-secret");
    CHECK(config_load(&err) == 0);
    rt = runtime_open(pulse_cfg, routes_all, routes_all_count);
    llm = llm_open(&o);
    CHECK(runtime_err(rt) == 0 && llm != NULL);
    if (runtime_err(rt) == 0 && llm != NULL) {
        test_text_between_commits_is_one_event(rt, llm);
        test_the_row_lags_the_log_by_a_bounded_number_of_deltas(rt, llm);
        test_a_short_log_has_the_row_written_at_every_delta();
        test_cancel_is_seen_at_renewal(rt, llm);
        test_a_dead_generators_answer_ends_interrupted(rt, llm);
        test_stopping_ends_answers_interrupted(rt, llm);
        test_concurrency_cap(rt, llm);
        test_an_answer_too_long_for_its_end_event_still_ends(rt, llm);
        test_a_failing_store_is_not_asked_again_at_once(rt, llm);
    }
    llm_close(llm);
    runtime_close(rt);
    free(err);
    return check_summary("test_gen");
}
