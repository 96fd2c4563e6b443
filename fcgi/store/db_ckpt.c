/* db_ckpt.c - WAL checkpoints on a thread of their own (see db_ckpt.h).
 *
 * The thread opens the file for each checkpoint and closes it without the
 * checkpoint a last close does: a connection kept open would hold the old
 * file after the path was replaced (db.c follows such a file), and a last
 * close would write and delete <path>-wal by name, which may belong to the
 * file put back by then. It never creates a file. */
#include "store/db_ckpt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"

struct db_ckpt {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char *path;               /* owned */
    int want;                 /* a commit left the WAL at DB_CKPT_PAGES or more */
    int stop;
};

static void checkpoint(const char *path)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    /* A connection learns that the file is in WAL mode when it first reads it. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, "PRAGMA schema_version", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    /* SQLITE_BUSY: another checkpoint is running; the next commit asks again. */
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_warn("checkpoint of %s: %s", path, h != NULL ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_close(h);
}

static void *run(void *arg)
{
    struct db_ckpt *k = arg;

    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        if (!k->want) {
            pthread_cond_wait(&k->cond, &k->mu);
            continue;
        }
        k->want = 0;
        pthread_mutex_unlock(&k->mu);
        checkpoint(k->path);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* SQLite's WAL hook: runs in the committing thread after each commit. */
static int on_commit(void *arg, sqlite3 *h, const char *name, int pages)
{
    struct db_ckpt *k = arg;

    (void)h;
    (void)name;
    if (pages >= DB_CKPT_PAGES) {
        pthread_mutex_lock(&k->mu);
        k->want = 1;
        pthread_cond_signal(&k->cond);
        pthread_mutex_unlock(&k->mu);
    }
    return SQLITE_OK;
}

struct db_ckpt *db_ckpt_start(const char *path)
{
    struct db_ckpt *k;

    if (!sqlite3_threadsafe()) {
        log_warn("SQLite is built without threads: checkpoints stay in commits");
        return NULL;
    }
    k = xcalloc(1, sizeof *k);
    k->path = xstrdup(path);
    if (pthread_mutex_init(&k->mu, NULL) != 0 || pthread_cond_init(&k->cond, NULL) != 0 ||
        pthread_create(&k->thread, NULL, run, k) != 0) {
        log_warn("cannot start the checkpoint thread: checkpoints stay in commits");
        free(k->path);
        free(k);
        return NULL;
    }
    return k;
}

void db_ckpt_attach(struct db_ckpt *k, sqlite3 *h)
{
    if (k != NULL && h != NULL)
        sqlite3_wal_hook(h, on_commit, k);
}

void db_ckpt_stop(struct db_ckpt *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mu);
    free(k->path);
    free(k);
}
