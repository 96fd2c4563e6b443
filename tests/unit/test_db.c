/* test_db.c - opening one new database file from many processes at once
 * (fcgi/store/db.c): what a web server starting its FastCGI responders together
 * does. Every process must get a migrated database; none may exit on
 * "database is locked". */
#include "store/db.c"

#include <stdio.h>
#include <sys/wait.h>

#include "check.h"
#include "store/db_ckpt.h"
#include "store/store.h"
#include "unit_db.h"

#define PROCS 12
#define ROUNDS 5

static void test_open_race(void)
{
    char dir[] = "/tmp/pulse-test-db-XXXXXX", path[64];
    int round, i, ok = 0, status;
    pid_t pids[PROCS];

    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    for (round = 0; round < ROUNDS; round++) {
        snprintf(path, sizeof path, "%s/r%d.db", dir, round);
        for (i = 0; i < PROCS; i++) {
            pids[i] = fork();
            if (pids[i] == 0) {
                struct db *d = NULL;
                char *err = NULL;
                int rc = db_open(path, &d, &err);

                if (rc != 0)
                    fprintf(stderr, "db_open: %s\n", err ? err : "?");
                db_close(d);
                free(err);
                exit(rc == 0 ? 0 : 1); /* exit, not _exit: LeakSanitizer checks the child */
            }
        }
        for (i = 0; i < PROCS; i++)
            if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
                WEXITSTATUS(status) == 0)
                ok++;
    }
    CHECK_INT_EQ(ok, PROCS * ROUNDS);
    for (round = 0; round < ROUNDS; round++) {
        char f[96];
        static const char *const ext[] = {"", "-wal", "-shm", "-lock"};
        for (i = 0; i < 4; i++) {
            snprintf(f, sizeof f, "%s/r%d.db%s", dir, round, ext[i]);
            unlink(f);
        }
    }
    rmdir(dir);
}

/* A log written by schema version 5 (events.id AUTOINCREMENT), in a file,
 * upgraded by db_open: every row keeps its id, and the next id is past every
 * id version 5 handed out, also those whose rows are gone. */
static void upgrade_v5(const char *path, int events, int deleted_from, int want_rows, int64_t want_pruned,
                       int64_t want_next)
{
    sqlite3 *h = NULL;
    struct db *d = NULL;
    char *err = NULL, sql[160];
    int i, ok = 1;
    int64_t pruned = -1, last = -1;
    struct event ev = {0};

    ok = sqlite3_open(path, &h) == SQLITE_OK &&
         sqlite3_exec(h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) == SQLITE_OK;
    for (i = 0; ok && i < 5; i++) /* each stamps its own version */
        ok = sqlite3_exec(h, sql_migrations[i], NULL, NULL, NULL) == SQLITE_OK;
    for (i = 0; ok && i < events; i++)
        ok = sqlite3_exec(h, "INSERT INTO events (topic, type, ts, data) "
                             "VALUES ('room:a', 'note', '2026-01-01T00:00:00Z', '{}')", NULL, NULL, NULL) == SQLITE_OK;
    snprintf(sql, sizeof sql, "DELETE FROM events WHERE id >= %d", deleted_from);
    ok = ok && sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(h);
    CHECK(ok);
    if (!ok)
        return;

    CHECK(db_open(path, &d, &err) == 0);
    if (d == NULL) {
        free(err);
        return;
    }
    CHECK(unit_query_int(d, "SELECT count(*) FROM sqlite_master WHERE name = 'events' AND sql LIKE '%AUTOINCREMENT%'") == 0);
    CHECK_INT_EQ(unit_query_int(d, "SELECT count(*) FROM events"), want_rows);
    CHECK_INT_EQ(unit_query_int(d, "SELECT COALESCE(max(id), 0) FROM events"), want_next - 1);
    /* the placeholder of ids whose rows were gone: no topic, so never delivered */
    CHECK_INT_EQ(unit_query_int(d, "SELECT count(*) FROM events WHERE topic = ''"), deleted_from <= events ? 1 : 0);
    CHECK(store_bounds(d, &pruned, &last) == 0);
    CHECK_INT_EQ(pruned, want_pruned);
    CHECK_INT_EQ(last, want_next - 1);
    /* version 7 counted the log per topic (retention per topic) */
    CHECK_INT_EQ(unit_query_int(d, "SELECT COALESCE(sum(kept), 0) FROM topic_retention"), want_rows);
    CHECK_INT_EQ(unit_query_int(d, "SELECT v FROM meta WHERE k = 'counted_upto'"), want_next - 1);
    CHECK(db_begin(d, 1) == 0 && store_append_event(d, "room:a", "note", "{}", &ev) == 0 && db_commit(d) == 0);
    CHECK_INT_EQ(ev.id, want_next);
    free(ev.topic);
    free(ev.type);
    db_close(d);
}

static void test_v5_log_upgrades_keeping_its_ids(void)
{
    char dir[] = "/tmp/pulse-test-dbv5-XXXXXX", path[64];
    static const char *const ext[] = {"", "-wal", "-shm", "-lock"};
    int k, i;

    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    for (k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/v5-%d.db", dir, k);
        if (k == 0)
            upgrade_v5(path, 5, 6, 5, 0, 6); /* nothing deleted: ids go on */
        else if (k == 1)
            upgrade_v5(path, 5, 4, 4, 5, 6); /* the newest two gone: 4 and 5 count as pruned */
        else
            upgrade_v5(path, 3, 1, 1, 3, 4); /* every row gone */
        for (i = 0; i < 4; i++) {
            char f[96];
            snprintf(f, sizeof f, "%s%s", path, ext[i]);
            unlink(f);
        }
    }
    rmdir(dir);
}

static void rm_db(const char *path)
{
    static const char *const ext[] = {"", "-wal", "-shm", "-lock"};
    char f[128];
    int i;

    for (i = 0; i < 4; i++) {
        snprintf(f, sizeof f, "%s%s", path, ext[i]);
        unlink(f);
    }
}

/* The file deleted under an open connection: a commit that went to it is
 * not confirmed, nothing more reaches it, and no process creates a new
 * file beside the old one's WAL; the file put back (its old WAL gone) is
 * followed. */
static void test_deleted_file(void)
{
    char dir[] = "/tmp/pulse-test-dbgone-XXXXXX", path[64], keep[80];
    struct db *d = NULL, *d2 = NULL;
    char *err = NULL;
    struct event ev = {0};
    struct stat sb;
    int64_t pruned, last;
    unsigned gen;

    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/p.db", dir);
    snprintf(keep, sizeof keep, "%s/keep.db", dir);
    CHECK(db_open(path, &d, &err) == 0);
    if (d == NULL) {
        free(err);
        return;
    }
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK(db_begin(d, 1) == 0 && store_append_event(d, "room:a", "note", "{}", &ev) == 0 && db_commit(d) == 0);
    store_event_free(&ev);
    CHECK(db_healthy(d));
    CHECK(link(path, keep) == 0); /* a copy of the file as it is */

    /* deleted between a write and its commit: the commit is not confirmed */
    CHECK(db_begin(d, 1) == 0 && store_append_event(d, "room:a", "note", "{}", &ev) == 0);
    store_event_free(&ev);
    CHECK(unlink(path) == 0);
    CHECK(db_commit(d) == -1);
    CHECK(!db_healthy(d));
    /* detached: transactions begin, but every table is gone */
    CHECK(db_begin(d, 1) == 0 && store_bounds(d, &pruned, &last) == -1);
    CHECK(store_append_event(d, "room:a", "note", "{}", &ev) == -1);
    db_rollback(d);
    CHECK(stat(path, &sb) == -1);

    /* another process starting now: its WAL is there, so no new file */
    CHECK(db_open(path, &d2, &err) == -1 || (d2 != NULL && !db_healthy(d2)));
    CHECK(stat(path, &sb) == -1);
    db_close(d2);
    free(err);
    err = NULL;

    /* put back beside the old WAL: not followed; with it removed: followed */
    gen = db_generation(d);
    CHECK(link(keep, path) == 0);
    d->retry_ms = 0;
    CHECK(db_begin(d, 0) == 0 && store_bounds(d, &pruned, &last) == -1);
    db_rollback(d);
    CHECK_INT_EQ(db_generation(d), gen);
    {
        char f[96];
        snprintf(f, sizeof f, "%s-wal", path);
        unlink(f);
        snprintf(f, sizeof f, "%s-shm", path);
        unlink(f);
    }
    /* Another process follows it first and makes its new -wal and -shm:
     * on a file system that hands a freed inode number straight out again
     * (ext4) they could carry the old ones' numbers, and must not pass for
     * them (d holds the old ones open while detached). */
    d2 = NULL;
    CHECK(db_open(path, &d2, &err) == 0 && db_healthy(d2));
    free(err);
    err = NULL;
    d->retry_ms = 0;
    CHECK(db_begin(d, 0) == 0 && store_bounds(d, &pruned, &last) == 0);
    db_rollback(d);
    CHECK(db_generation(d) != gen);
    CHECK(db_healthy(d));
    db_close(d2);
    db_close(d);
    rm_db(path);
    unlink(keep);
    rmdir(dir);
}

/* Rows of about a page each, in commits of 100, through the connection
 * as a process holds it; 0 or -1. */
static int write_pages(sqlite3 *h, int rows)
{
    int i, ok = 1;

    for (i = 0; ok && i < rows; i += 100)
        ok = sqlite3_exec(h,
                          "BEGIN; WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100) "
                          "INSERT INTO big SELECT zeroblob(4000) FROM n; COMMIT",
                          NULL, NULL, NULL) == SQLITE_OK;
    return ok ? 0 : -1;
}

/* A process without the checkpoint thread (pulse-api, a CGI request)
 * leaves the WAL to pulse-batch's thread (DB_CKPT_PAGES), not
 * checkpointing at SQLite's 1,000 pages, and checkpoints in its own
 * commits once the WAL is past DB_CKPT_BACKSTOP_PAGES (no thread, or one
 * that falls behind). */
static void test_commits_checkpoint_only_past_the_backstop(void)
{
    char dir[] = "/tmp/pulse-test-dbwal-XXXXXX", path[64], wal[80];
    struct db *d = NULL;
    char *err = NULL;
    struct stat sb;
    int frames = -1, done = -1;

    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/w.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    CHECK(db_open(path, &d, &err) == 0);
    free(err);
    if (d == NULL)
        return;
    CHECK(sqlite3_exec(d->h, "CREATE TABLE big (b BLOB)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(write_pages(d->h, DB_CKPT_PAGES + 500) == 0);
    /* not restarted at 1,000 pages: the file holds every page written */
    CHECK(stat(wal, &sb) == 0 && sb.st_size > (DB_CKPT_PAGES + 400) * 4096LL);
    CHECK(write_pages(d->h, DB_CKPT_BACKSTOP_PAGES - DB_CKPT_PAGES + 1000) == 0);
    /* checkpointed near the backstop, and restarted: about 1,000 pages since */
    CHECK(sqlite3_wal_checkpoint_v2(d->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &done) == SQLITE_OK);
    CHECK(frames > 0 && frames < DB_CKPT_PAGES);
    if (frames >= DB_CKPT_PAGES)
        fprintf(stderr, "the WAL holds %d pages\n", frames);
    db_close(d);
    rm_db(path);
    rmdir(dir);
}

/* The step's result of sql (SQLITE_ROW, or the error code). */
static int q_rc(struct db *d, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db_handle(d), sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc;
}

#define REFUSED(d, sql) CHECK_INT_EQ(q_rc((d), (sql)), SQLITE_CONSTRAINT_FUNCTION)

/* pulse_event_name() and pulse_event_data(), the connection's own SQL
 * functions (event_append_batch): a value that passes comes back as it
 * was; any other stops the statement with SQLITE_CONSTRAINT_FUNCTION. A
 * name is what `NOT GLOB '*[^A-Za-z0-9_.:-]*'` and the length bounds said
 * on text, never anything that is not text. */
static void test_event_checks(void)
{
    char dir[] = "/tmp/pulse-test-db-XXXXXX", path[64];
    struct db *d = NULL;
    char *err = NULL;

    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/pulse.db", dir);
    CHECK(db_open(path, &d, &err) == 0);
    if (d == NULL) {
        free(err);
        return;
    }
    CHECK_INT_EQ(unit_query_int(d, "SELECT pulse_event_name('room:a-1_b.C', 128) = 'room:a-1_b.C'"), 1);
    CHECK_INT_EQ(unit_query_int(d, "SELECT pulse_event_name(printf('%.128c', 'a'), 128) = printf('%.128c', 'a')"), 1);
    REFUSED(d, "SELECT pulse_event_name(printf('%.129c', 'a'), 128)");
    REFUSED(d, "SELECT pulse_event_name(printf('%.65c', 'a'), 64)");
    REFUSED(d, "SELECT pulse_event_name('', 128)");
    REFUSED(d, "SELECT pulse_event_name('room a', 128)");
    REFUSED(d, "SELECT pulse_event_name('room/a', 128)");
    REFUSED(d, "SELECT pulse_event_name('ph\xc3\xb2ng', 128)");
    REFUSED(d, "SELECT pulse_event_name('a' || char(0) || 'b', 128)");
    REFUSED(d, "SELECT pulse_event_name('{\"a\":1}', 128)");
    REFUSED(d, "SELECT pulse_event_name(12, 128)");
    REFUSED(d, "SELECT pulse_event_name(NULL, 128)");
    REFUSED(d, "SELECT pulse_event_name(x'616263', 128)"); /* a blob */
    /* every ASCII character but NUL, as the GLOB judged it */
    CHECK_INT_EQ(unit_query_int(d, "WITH RECURSIVE g(c) AS (SELECT 1 UNION ALL SELECT c + 1 FROM g WHERE c < 127) "
                       "SELECT count(*) FROM g WHERE 'x' || char(c) NOT GLOB '*[^A-Za-z0-9_.:-]*'"), 66);
    CHECK_INT_EQ(unit_query_int(d, "WITH RECURSIVE g(c) AS (SELECT 1 UNION ALL SELECT c + 1 FROM g WHERE c < 127) "
                       "SELECT count(pulse_event_name('x' || char(c), 2)) FROM g "
                       "WHERE 'x' || char(c) NOT GLOB '*[^A-Za-z0-9_.:-]*'"), 66);
    {
        char sql[160];
        int c, refused = 0;

        for (c = 1; c < 128; c++) {
            snprintf(sql, sizeof sql, "SELECT pulse_event_name('x' || char(%d), 2)", c);
            refused += q_rc(d, sql) == SQLITE_CONSTRAINT_FUNCTION;
        }
        CHECK_INT_EQ(refused, 127 - 66);
    }
    CHECK_INT_EQ(unit_query_int(d, "SELECT pulse_event_data('{\"n\":1}', 7) = '{\"n\":1}'"), 1);
    REFUSED(d, "SELECT pulse_event_data('{\"n\":1}', 6)");
    REFUSED(d, "SELECT pulse_event_data('[1]', 100)");
    REFUSED(d, "SELECT pulse_event_data('\"{\"', 100)");
    REFUSED(d, "SELECT pulse_event_data(NULL, 100)");
    REFUSED(d, "SELECT pulse_event_data(7, 100)");
    /* a refusal in the middle undoes the statement's rows before it */
    CHECK_INT_EQ(q_rc(d, "INSERT INTO events (topic, type, ts, data) SELECT pulse_event_name(column1, 128), 't', "
                         "'2026-01-01T00:00:00Z', '{}' FROM (VALUES ('a'), ('b'), ('c d'))"),
                 SQLITE_CONSTRAINT_FUNCTION);
    CHECK_INT_EQ(unit_query_int(d, "SELECT count(*) FROM events"), 0);
    db_close(d);
}

int main(void)
{
    test_open_race();
    test_commits_checkpoint_only_past_the_backstop();
    test_deleted_file();
    test_v5_log_upgrades_keeping_its_ids();
    test_event_checks();
    return check_summary("test_db");
}
