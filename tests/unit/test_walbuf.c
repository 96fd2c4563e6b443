/* test_walbuf.c - the WAL's writes gathered (fcgi/store/walbuf.c): a
 * transaction's frames reach the file in one write, other processes see
 * each commit as soon as it returns, a transaction rolled back after
 * spilling frames leaves nothing behind for the next writer to trip on,
 * a write the file refuses (its size limit, a full disk) fails the commit
 * and keeps the database whole, and checksums rewritten after a commit
 * survive a writer killed at once. Underneath walbuf, a layer counts the
 * writes that reach the WAL and can refuse the next ones. */
#include "store/walbuf.c"

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* ---- a layer under walbuf that counts the writes reaching a WAL */

static sqlite3_vfs counting, *plain;
static sqlite3_io_methods counted_io, counted_main_io;
static const sqlite3_io_methods *plain_io, *plain_main_io;
static long wal_writes;
static long writes_unlocked;   /* WAL writes while no connection here held the write lock */
static int write_locked;
static int refuse_writes;      /* the next this many WAL writes answer SQLITE_FULL */

static int counted_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 at)
{
    wal_writes++;
    if (!write_locked)
        writes_unlocked++;
    if (refuse_writes > 0) {
        refuse_writes--;
        return SQLITE_FULL;
    }
    return plain_io->xWrite(f, p, n, at);
}

/* wal.c's WAL_WRITE_LOCK is lock 0, taken and released exclusive. */
static int counted_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    int rc = plain_main_io->xShmLock(f, offset, n, flags);

    if (rc == SQLITE_OK && offset == 0 && (flags & SQLITE_SHM_EXCLUSIVE))
        write_locked = (flags & SQLITE_SHM_LOCK) != 0;
    return rc;
}

static int counting_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
    int rc = plain->xOpen(plain, name, f, flags, out);

    (void)v;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && f->pMethods != NULL) {
        if (plain_io == NULL) {
            plain_io = f->pMethods;
            counted_io = *plain_io;
            counted_io.xWrite = counted_write;
        }
        f->pMethods = &counted_io;
    } else if (rc == SQLITE_OK && (flags & SQLITE_OPEN_MAIN_DB) && f->pMethods != NULL) {
        if (plain_main_io == NULL) {
            plain_main_io = f->pMethods;
            counted_main_io = *plain_main_io;
            counted_main_io.xShmLock = counted_shm_lock;
        }
        f->pMethods = &counted_main_io;
    }
    return rc;
}

static void install_counting(void)
{
    plain = sqlite3_vfs_find(NULL);
    counting = *plain;
    counting.zName = "counting";
    counting.pNext = NULL;
    counting.xOpen = counting_open;
    sqlite3_vfs_register(&counting, 1);
}

/* ---- helpers */

static sqlite3 *open_db(const char *path, int cache_pages)
{
    sqlite3 *h = NULL;
    char sql[200];

    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=%d;"
             "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB, tag INTEGER)", cache_pages);
    if (sqlite3_open(path, &h) != SQLITE_OK || sqlite3_busy_timeout(h, 5000) != SQLITE_OK ||
        sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "open %s: %s\n", path, sqlite3_errmsg(h));
        sqlite3_close(h);
        return NULL;
    }
    return h;
}

static int exec(sqlite3 *h, const char *sql)
{
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(h));
    return rc;
}

static long long one_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int integrity_ok(sqlite3 *h)
{
    sqlite3_stmt *st = NULL;
    int ok = 0;

    if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok;
}

/* Rows lo..hi-1 of about a page each, tagged. */
static int insert_rows(sqlite3 *h, int lo, int hi, int tag)
{
    char sql[200];

    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(k) AS (SELECT %d UNION ALL SELECT k + 1 FROM n WHERE k + 1 < %d) "
             "INSERT OR REPLACE INTO t SELECT k, zeroblob(3000), %d FROM n", lo, hi, tag);
    return exec(h, sql);
}

static void remove_db(const char *path)
{
    char p[300];

    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* Bytes connection h's WAL holds, not written yet. */
static size_t held_of(sqlite3 *h)
{
    sqlite3_file *f = NULL;

    if (sqlite3_file_control(h, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK || f == NULL ||
        f->pMethods != &wal_io)
        return 0;
    return ((struct wfile *)f)->len;
}

/* A new database at path (an old one and its WAL removed), open; NULL
 * (a failed check) when it cannot be. */
static sqlite3 *fresh_db(const char *path, int cache_pages)
{
    sqlite3 *h;

    remove_db(path);
    h = open_db(path, cache_pages);
    CHECK(h != NULL);
    return h;
}

static int wait_child(pid_t pid)
{
    int st = 0;

    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- tests */

static void test_a_transaction_is_one_write(const char *path)
{
    sqlite3 *h = open_db(path, 2000), *r;
    long before;

    CHECK(h != NULL);
    if (h == NULL)
        return;
    CHECK_INT_EQ(insert_rows(h, 0, 10, 1), SQLITE_OK);   /* the WAL exists and has its header */
    before = wal_writes;
    /* About 50 frames, 206 KB: 100 writes without walbuf; gathered, the
     * pieces of WRITE_MAX the VFS underneath takes. */
    CHECK_INT_EQ(insert_rows(h, 10, 60, 1), SQLITE_OK);
    CHECK(wal_writes - before >= 1);
    CHECK(wal_writes - before <= 5);
    r = open_db(path, 100);
    CHECK(r != NULL);
    CHECK_INT_EQ(one_int(r, "SELECT count(*) FROM t"), 60);
    sqlite3_close(r);
    sqlite3_close(h);
}

/* A child commits; after each commit it says so on a pipe, and this
 * process, with its own connection, must see it at once. */
static void test_other_processes_see_each_commit_at_once(const char *path)
{
    int ask[2], told[2], i, seen_all = 1;
    long long want = 0;   /* the rows the child has committed */
    pid_t pid;
    sqlite3 *r;
    char c;

    CHECK(pipe(ask) == 0 && pipe(told) == 0);
    pid = fork();
    if (pid == 0) {
        sqlite3 *w = open_db(path, 2000);
        int ok = w != NULL;

        for (i = 1; ok && i <= 150; i++) {
            ok = insert_rows(w, 1000 * i, 1000 * i + 1 + (i * 7) % 40, i) == SQLITE_OK &&
                 write(told[1], "c", 1) == 1 && read(ask[0], &c, 1) == 1;
        }
        sqlite3_close(w);
        _exit(ok ? 0 : 1);
    }
    r = open_db(path, 100);
    for (i = 1; r != NULL && i <= 150; i++) {
        if (read(told[0], &c, 1) != 1)
            break;
        want += 1 + (i * 7) % 40;
        if (one_int(r, "SELECT count(*) FROM t WHERE k >= 1000") != want)
            seen_all = 0;
        if (write(ask[1], "a", 1) != 1)
            break;
    }
    CHECK_INT_EQ(i, 151);
    CHECK(seen_all);
    CHECK_INT_EQ(wait_child(pid), 0);
    CHECK(r != NULL && integrity_ok(r));
    sqlite3_close(r);
    close(ask[0]);
    close(ask[1]);
    close(told[0]);
    close(told[1]);
}

/* A transaction larger than the page cache spills frames into the WAL
 * (held, not written) and is rolled back, reading nothing back (the WAL
 * was checkpointed first, so the rollback needs no page of it); another
 * process then commits where those frames would have gone, and the first
 * connection commits after it. Nothing the rollback left may land on the
 * other's frames. */
static void test_a_rollback_after_a_spill_leaves_nothing_behind(const char *path)
{
    sqlite3 *a, *r;
    pid_t pid;

    if ((a = fresh_db(path, 10)) == NULL)
        return;
    CHECK_INT_EQ(insert_rows(a, 0, 300, 1), SQLITE_OK);
    CHECK_INT_EQ(exec(a, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    CHECK_INT_EQ(exec(a, "BEGIN"), SQLITE_OK);
    CHECK_INT_EQ(exec(a, "UPDATE t SET tag = 9, v = zeroblob(2999)"), SQLITE_OK);
    CHECK(held_of(a) > 0);
    CHECK_INT_EQ(exec(a, "ROLLBACK"), SQLITE_OK);
    CHECK_INT_EQ(held_of(a), 0);
    CHECK_INT_EQ(writes_unlocked, 0);   /* none left over for later, past the lock's release */
    pid = fork();
    if (pid == 0) {
        sqlite3 *b = open_db(path, 2000);
        int ok = b != NULL && insert_rows(b, 20000000, 20000100, 2) == SQLITE_OK &&
                 exec(b, "UPDATE t SET tag = 7 WHERE k < 300") == SQLITE_OK;

        sqlite3_close(b);
        _exit(ok ? 0 : 1);
    }
    CHECK_INT_EQ(wait_child(pid), 0);
    CHECK_INT_EQ(insert_rows(a, 30000000, 30000010, 3), SQLITE_OK);
    CHECK_INT_EQ(writes_unlocked, 0);
    sqlite3_close(a);
    pid = fork();
    if (pid == 0) {
        sqlite3 *c = open_db(path, 100);
        int ok = c != NULL && integrity_ok(c) && one_int(c, "SELECT count(*) FROM t WHERE tag = 9") == 0 &&
                 one_int(c, "SELECT count(*) FROM t WHERE tag = 7") == 300 &&
                 one_int(c, "SELECT count(*) FROM t WHERE k BETWEEN 20000000 AND 20000099") == 100 &&
                 one_int(c, "SELECT count(*) FROM t WHERE k BETWEEN 30000000 AND 30000009") == 10;

        sqlite3_close(c);
        _exit(ok ? 0 : 1);
    }
    CHECK_INT_EQ(wait_child(pid), 0);
    r = open_db(path, 100);
    CHECK(r != NULL && integrity_ok(r));
    sqlite3_close(r);
}

/* A full disk refuses the write of held frames that a read needs first
 * (a statement reading rows its transaction spilled): the whole
 * transaction fails, and no commit names frames that are not there. */
static void test_a_write_refused_before_a_read_fails_the_transaction(const char *path)
{
    sqlite3 *w, *r;
    int rc;

    if ((w = fresh_db(path, 10)) == NULL)
        return;
    CHECK_INT_EQ(insert_rows(w, 0, 50, 1), SQLITE_OK);
    CHECK_INT_EQ(exec(w, "BEGIN"), SQLITE_OK);
    CHECK_INT_EQ(insert_rows(w, 1000, 1150, 2), SQLITE_OK);
    CHECK(held_of(w) > 0);
    refuse_writes = 1;
    CHECK(exec(w, "INSERT INTO t SELECT k + 100000, v, 3 FROM t WHERE k BETWEEN 1000 AND 1149") != SQLITE_OK);
    refuse_writes = 0;
    CHECK_INT_EQ(sqlite3_extended_errcode(w), SQLITE_IOERR_WRITE);   /* an I/O error: ... */
    CHECK(sqlite3_get_autocommit(w));   /* ...the whole transaction rolled back, not the statement */
    rc = sqlite3_get_autocommit(w) ? SQLITE_ERROR : exec(w, "COMMIT");
    CHECK(rc != SQLITE_OK);
    r = open_db(path, 100);
    CHECK(r != NULL && integrity_ok(r));
    CHECK_INT_EQ(one_int(r, "SELECT count(*) FROM t"), 50);
    CHECK_INT_EQ(insert_rows(w, 2000, 2010, 4), SQLITE_OK);   /* and the next transaction commits */
    CHECK_INT_EQ(one_int(r, "SELECT count(*) FROM t"), 60);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* The same refusal where no statement runs (a blob handle reading rows
 * its transaction spilled): the transaction stays open, and its commit
 * must fail, not name frames that were never written. */
static void test_a_write_refused_outside_a_statement_fails_the_commit(const char *path)
{
    static char buf[20000];
    sqlite3 *w, *r;
    sqlite3_blob *b = NULL;

    if ((w = fresh_db(path, 10)) == NULL)
        return;
    CHECK_INT_EQ(insert_rows(w, 0, 50, 1), SQLITE_OK);
    CHECK_INT_EQ(exec(w, "BEGIN"), SQLITE_OK);
    CHECK_INT_EQ(exec(w, "WITH RECURSIVE n(k) AS (SELECT 1000 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < 1150) "
                         "INSERT INTO t SELECT k, zeroblob(20000), 2 FROM n"), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_blob_open(w, "main", "t", "v", 1000, 0, &b), SQLITE_OK);
    CHECK_INT_EQ(exec(w, "WITH RECURSIVE n(k) AS (SELECT 2000 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < 2100) "
                         "INSERT INTO t SELECT k, zeroblob(20000), 3 FROM n"), SQLITE_OK);
    CHECK(held_of(w) > 0);
    refuse_writes = 1;
    CHECK(b != NULL && sqlite3_blob_read(b, buf, sizeof buf, 0) != SQLITE_OK);
    refuse_writes = 0;
    CHECK(sqlite3_get_autocommit(w) || sqlite3_exec(w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_blob_close(b);
    if (!sqlite3_get_autocommit(w))
        (void)sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
    r = open_db(path, 100);
    CHECK(r != NULL && integrity_ok(r));
    CHECK_INT_EQ(one_int(r, "SELECT count(*) FROM t"), 50);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* The file may not grow past its limit (RLIMIT_FSIZE, as a full disk
 * refuses): the commit that needs more fails, what was committed stays,
 * and once there is room commits succeed again. */
static void test_a_refused_write_fails_the_commit_and_keeps_the_database(const char *path)
{
    pid_t pid = fork();

    if (pid == 0) {
        struct rlimit lim = {.rlim_cur = 1 << 20, .rlim_max = RLIM_INFINITY};
        sqlite3 *h, *r;
        int ok, failed;

        signal(SIGXFSZ, SIG_IGN);
        remove_db(path);
        h = open_db(path, 4000);
        ok = h != NULL && insert_rows(h, 0, 100, 1) == SQLITE_OK;   /* 0.4 MB */
        ok = ok && setrlimit(RLIMIT_FSIZE, &lim) == 0;
        /* 0.8 MB, less than HELD_MAX: refused at the commit frame's write */
        failed = ok && insert_rows(h, 1000, 1200, 2) != SQLITE_OK;
        lim.rlim_cur = RLIM_INFINITY;
        ok = ok && failed && setrlimit(RLIMIT_FSIZE, &lim) == 0;
        r = ok ? open_db(path, 100) : NULL;
        ok = ok && r != NULL && integrity_ok(r) && one_int(r, "SELECT count(*) FROM t") == 100;
        ok = ok && insert_rows(h, 3000, 3050, 3) == SQLITE_OK && one_int(r, "SELECT count(*) FROM t") == 150 &&
             integrity_ok(r);
        if (!ok)
            fprintf(stderr, "refused write: failed %d\n", failed);
        sqlite3_close(r);
        sqlite3_close(h);
        _exit(ok ? 0 : 1);
    }
    CHECK_INT_EQ(wait_child(pid), 0);
}

/* Pages spilled and written again in one transaction make SQLite rewrite
 * frame checksums after the commit frame. A writer killed right after its
 * commit leaves the index to be rebuilt from the frames: the commit must
 * be whole there. */
static void test_checksums_rewritten_after_a_commit_survive_a_kill(const char *path)
{
    int told[2];
    pid_t pid;
    char c = 0;

    remove_db(path);
    CHECK(pipe(told) == 0);
    pid = fork();
    if (pid == 0) {
        sqlite3 *w = open_db(path, 10);
        int ok = w != NULL && insert_rows(w, 0, 200, 1) == SQLITE_OK && exec(w, "BEGIN") == SQLITE_OK &&
                 insert_rows(w, 0, 200, 2) == SQLITE_OK && insert_rows(w, 0, 200, 3) == SQLITE_OK &&
                 exec(w, "COMMIT") == SQLITE_OK;

        if (write(told[1], ok ? "y" : "n", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    CHECK(read(told[0], &c, 1) == 1 && c == 'y');
    kill(pid, SIGKILL);
    CHECK_INT_EQ(waitpid(pid, NULL, 0), pid);
    {
        char shm[300];
        sqlite3 *r;

        snprintf(shm, sizeof shm, "%s-shm", path);
        unlink(shm);   /* the index is rebuilt from the WAL's frames alone */
        r = open_db(path, 100);
        CHECK(r != NULL && integrity_ok(r));
        CHECK_INT_EQ(one_int(r, "SELECT count(*) FROM t WHERE tag = 3"), 200);
        sqlite3_close(r);
    }
    close(told[0]);
    close(told[1]);
}

int main(void)
{
    char dir[] = "/tmp/test_walbuf-XXXXXX", path[256];

    install_counting();
    CHECK_INT_EQ(walbuf_register(), 0);
    CHECK_INT_EQ(walbuf_register(), 0);
    CHECK_STR_EQ(sqlite3_vfs_find(NULL)->zName, "pulse-walbuf");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/t.db", dir);
    test_a_transaction_is_one_write(path);
    test_other_processes_see_each_commit_at_once(path);
    test_a_rollback_after_a_spill_leaves_nothing_behind(path);
    test_a_refused_write_fails_the_commit_and_keeps_the_database(path);
    test_a_write_refused_before_a_read_fails_the_transaction(path);
    test_a_write_refused_outside_a_statement_fails_the_commit(path);
    test_checksums_rewritten_after_a_commit_survive_a_kill(path);
    remove_db(path);
    rmdir(dir);
    return check_summary("test_walbuf");
}
