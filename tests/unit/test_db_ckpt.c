/* test_db_ckpt.c - WAL checkpoints on a thread (fcgi/store/db_ckpt.c): a
 * connection whose commits only signal the thread must still have its WAL
 * checkpointed and reused, so that the -wal file stays bounded however
 * much is written through it; without the thread the same commits leave
 * every page in the WAL. */
#include "store/db_ckpt.c"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define PAGE 4096
#define ROWS (3 * DB_CKPT_PAGES) /* rows of 4 KiB: 12,000 (48 MiB) through the WAL */
#define PER_COMMIT 100

static sqlite3 *open_wal(const char *path)
{
    sqlite3 *h = NULL;

    if (sqlite3_open(path, &h) != SQLITE_OK ||
        sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE IF NOT EXISTS t(b BLOB)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return NULL;
    }
    return h;
}

/* Writes ROWS rows in commits of PER_COMMIT (pausing now and then so that
 * a checkpoint can finish: the WAL restarts at a writer's begin after a
 * whole one); the -wal file's size at the end. */
static long long write_through(sqlite3 *h, const char *path)
{
    char wal[256];
    struct stat sb;
    sqlite3_stmt *st = NULL;
    int i, ok = 1;

    snprintf(wal, sizeof wal, "%s-wal", path);
    ok = sqlite3_prepare_v2(h, "INSERT INTO t VALUES (zeroblob(?1))", -1, &st, NULL) == SQLITE_OK;
    for (i = 0; ok && i < ROWS; i++) {
        if (i % PER_COMMIT == 0)
            ok = sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
        ok = ok && sqlite3_bind_int(st, 1, PAGE - 100) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE &&
             sqlite3_reset(st) == SQLITE_OK;
        if (ok && i % PER_COMMIT == PER_COMMIT - 1) {
            ok = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
            if (i % (10 * PER_COMMIT) == 10 * PER_COMMIT - 1)
                usleep(100000);
        }
    }
    sqlite3_finalize(st);
    CHECK(ok);
    return stat(wal, &sb) == 0 ? (long long)sb.st_size : -1;
}

static void test_thread_keeps_the_wal_bounded(const char *dir)
{
    char path[128];
    sqlite3 *h;
    struct db_ckpt *k;
    long long size;

    snprintf(path, sizeof path, "%s/bg.db", dir);
    h = open_wal(path);
    k = db_ckpt_start(path);
    CHECK(h != NULL && k != NULL);
    if (h == NULL || k == NULL) {
        sqlite3_close(h);
        db_ckpt_stop(k);
        return;
    }
    db_ckpt_attach(k, h);
    size = write_through(h, path);
    db_ckpt_stop(k);
    /* about DB_CKPT_PAGES between checkpoints (plus what is written while
     * one runs), against three times that written */
    CHECK(size > 0 && size < 2LL * DB_CKPT_PAGES * PAGE);
    if (size >= 2LL * DB_CKPT_PAGES * PAGE)
        fprintf(stderr, "the WAL grew to %lld bytes\n", size);
    sqlite3_close(h);
}

/* The control: the same hook without a thread to signal (what the test
 * above would see if the thread never checkpointed). */
static int no_checkpoint(void *arg, sqlite3 *h, const char *name, int pages)
{
    (void)arg;
    (void)h;
    (void)name;
    (void)pages;
    return SQLITE_OK;
}

static void test_without_the_thread_the_wal_grows(const char *dir)
{
    char path[128];
    sqlite3 *h;
    long long size;

    snprintf(path, sizeof path, "%s/fg.db", dir);
    h = open_wal(path);
    CHECK(h != NULL);
    if (h == NULL)
        return;
    sqlite3_wal_hook(h, no_checkpoint, NULL);
    size = write_through(h, path);
    CHECK(size > (long long)ROWS * 5 / 6 * PAGE);
    sqlite3_close(h);
}

static void test_a_missing_file_is_not_created(const char *dir)
{
    char path[128];
    struct stat sb;

    snprintf(path, sizeof path, "%s/none.db", dir);
    checkpoint(path);
    CHECK(stat(path, &sb) != 0);
}

int main(void)
{
    char dir[] = "/tmp/pulse-test-ckpt-XXXXXX", f[160];
    static const char *const names[] = {"bg.db", "bg.db-wal", "bg.db-shm", "fg.db", "fg.db-wal", "fg.db-shm"};
    size_t i;

    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return check_summary("test_db_ckpt");
    }
    test_thread_keeps_the_wal_bounded(dir);
    test_without_the_thread_the_wal_grows(dir);
    test_a_missing_file_is_not_created(dir);
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(f, sizeof f, "%s/%s", dir, names[i]);
        unlink(f);
    }
    rmdir(dir);
    return check_summary("test_db_ckpt");
}
