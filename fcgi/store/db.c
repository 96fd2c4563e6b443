/* db.c - the SQLite connection: the file it watches, the statement cache and
 * transactions (see db.h; opening and migrating in db_migrate.c, the
 * statement helpers in db_query.c). */
#include "store/db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "store/db_ckpt.h"
#include "store/db_ids.h"
#include "store/db_migrate.h"
#include "store/walbuf.h"

#define DB_REATTACH_MS 1000   /* a file back at the path that cannot be used yet is tried this often */

/* The -wal or -shm file of the file last opened, known by its inode. While
 * attached SQLite holds it open; once detached this process does (fd), or
 * a new file made at that name after the last process closed the old one
 * could get its inode number (ext4 hands freed numbers straight out
 * again) and pass for the old one: the file put back would never be
 * followed. */
struct db_side {
    dev_t dev;
    ino_t ino;                         /* 0: none */
    int fd;                            /* detached: the file held open, or -1 */
};

/* A database file is watched: if the file at its path stops being the one
 * this connection has open (deleted, moved away, replaced by another), the
 * connection is detached: h becomes an empty in-memory database, on which
 * every statement that touches a table fails (so every request answers
 * 503 through its usual error path) while SQLite's JSON functions still
 * build the answers. Writing on to the old file would confirm writes that
 * nobody will read again, and a restart would split the processes between
 * the old file and a new one. A detached connection opens the path again
 * (never creating it) once a file is back there, and bumps generation so
 * that what depends on the log (the stream responder, the relay) starts
 * over from the file that is there now. */
struct db {
    sqlite3 *h;
    char *path;                        /* owned */
    int watch;                         /* a file on disk (not :memory:) */
    int detached;                      /* the file at path is gone: h is an empty in-memory database */
    long long retry_ms;                /* detached: the next try of a file found at path */
    unsigned generation;               /* files opened after the first */
    sqlite3_int64 changes;             /* sqlite3_total_changes64 when the transaction began */
    int lock_fd;                       /* <path>-lock, held shared while this process uses the file */
    struct db_side wal, shm;           /* the -wal and -shm files of the file last opened */
    struct db_ckpt *ckpt;              /* checkpoints on a thread (db_checkpoint_in_background), or NULL */
    int busy_writer;                   /* db_checkpoint_in_background was called: db_writer_pragmas */
    int keep_wal;                      /* db_keep_wal was called */
    struct db_ids *ids;                /* db_keep_ids was called (a primary's process), or NULL */
    sqlite3_stmt *stmts[SQL__COUNT];   /* prepared lazily, finalized at close */
};

static void db_finalize_all(struct db *db)
{
    int i;

    for (i = 0; i < SQL__COUNT; i++) {
        sqlite3_finalize(db->stmts[i]);
        db->stmts[i] = NULL;
    }
    db_ids_release(db->ids);
}

/* stat of path + suffix: 0, or -1 (errno). */
static int db_stat(const char *path, const char *suffix, struct stat *sb)
{
    buf_t b = {0};
    int rc;

    buf_printf(&b, "%s%s", path, suffix);
    rc = stat(b.p, sb);
    buf_free(&b);
    return rc;
}

static int db_exists(const char *path, const char *suffix)
{
    struct stat sb;

    return db_stat(path, suffix, &sb) == 0 || errno != ENOENT;
}

static void db_side_release(struct db_side *side)
{
    if (side->fd >= 0)
        close(side->fd);
    side->fd = -1;
}

/* Notes which -wal or -shm file the connection just opened uses (SQLite
 * keeps it for as long as any process has the database open). */
static void db_side_note(struct db *db, const char *suffix, struct db_side *side)
{
    struct stat sb;

    db_side_release(side);
    side->ino = 0;
    if (db_stat(db->path, suffix, &sb) == 0) {
        side->dev = sb.st_dev;
        side->ino = sb.st_ino;
    }
}

static void db_note_wal(struct db *db)
{
    db_side_note(db, "-wal", &db->wal);
    db_side_note(db, "-shm", &db->shm);
}

/* Called while the connection still has the file open: holds it open past
 * the connection's close, when <path><suffix> still names it (when it no
 * longer does, there is no old file left there to look out for). */
static void db_side_hold(struct db *db, const char *suffix, struct db_side *side)
{
    buf_t b = {0};
    struct stat sb;

    db_side_release(side);
    buf_printf(&b, "%s%s", db->path, suffix);
    side->fd = side->ino != 0 ? open(b.p, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
    if (side->fd < 0 || fstat(side->fd, &sb) != 0 || sb.st_dev != side->dev || sb.st_ino != side->ino) {
        db_side_release(side);
        side->ino = 0;
    }
    buf_free(&b);
}

/* 1 when <path><suffix> is still the file noted by db_note_wal. */
static int db_same_file(const struct db *db, const char *suffix, const struct db_side *side)
{
    struct stat sb;

    return side->ino != 0 && db_stat(db->path, suffix, &sb) == 0 && sb.st_dev == side->dev &&
           sb.st_ino == side->ino;
}

/* Creates the database file (0600: it holds stream keys, tokens and
 * wallets; SQLite gives its -wal and -shm the same mode) when it is
 * missing and nothing says it was in use: no -wal or -shm left beside the
 * path (a new file would take over the old one's WAL), and no other
 * process holding <path>-lock (a database deleted while Pulse runs is not
 * created anew: that would lose every wallet and id; the processes wait
 * for it to be put back). Called with no lock held; returns holding
 * <path>-lock shared. 0 when the file is there, 1 when it is missing and
 * must not be created, -1 on an error (errb). */
static int db_create(struct db *db, buf_t *errb)
{
    buf_t lock = {0};
    int fd, rc = -1;

    buf_printf(&lock, "%s-lock", db->path);
    db->lock_fd = open(lock.p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (db->lock_fd < 0) {
        buf_printf(errb, "opening %s: %s", lock.p, strerror(errno));
        goto out;
    }
    if (db_exists(db->path, "")) {
        rc = 0;
    } else if (flock(db->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        if (db_exists(db->path, "-wal") || db_exists(db->path, "-shm")) {
            buf_printf(errb, "%s is missing but its -wal or -shm file is there: it was deleted or moved while "
                       "in use. Put it back, or remove %s-wal and %s-shm to start with an empty database",
                       db->path, db->path, db->path);
            goto out;
        }
        fd = open(db->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            buf_printf(errb, "creating %s: %s", db->path, strerror(errno));
            goto out;
        }
        close(fd);
        rc = 0;
    } else if (errno != EWOULDBLOCK) {
        buf_printf(errb, "locking %s: %s", lock.p, strerror(errno));
        goto out;
    } else {
        rc = 1; /* another process holds it: creating it now, or running without it */
    }
    /* (an exclusive lock becomes shared; a process creating the file is
     * waited for, then the file looked for again) */
    if (flock(db->lock_fd, LOCK_SH) != 0) {
        buf_printf(errb, "locking %s: %s", lock.p, strerror(errno));
        rc = -1;
    } else if (rc == 1 && db_exists(db->path, "")) {
        rc = 0;
    }
out:
    buf_free(&lock);
    return rc;
}

/* An in-memory database without any table: what a detached connection
 * answers with. 0 or -1. */
static int db_open_empty(sqlite3 **out)
{
    if (sqlite3_open_v2(":memory:", out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) ==
        SQLITE_OK)
        return 0;
    sqlite3_close(*out);
    *out = NULL;
    return -1;
}

/* Leaves the file at path: h becomes an empty in-memory database. The old
 * connection closes without the checkpoint a last close does, which would
 * write and delete <path>-wal by name: that name may belong to the file
 * put back in its place by now. */
static void db_detach(struct db *db, const char *why)
{
    sqlite3 *mem = NULL;

    if (db_open_empty(&mem) != 0) {
        log_error("database %s %s, and no in-memory database to answer with", db->path, why);
        return; /* kept: db_begin refuses */
    }
    log_error("database %s %s while in use: every request answers 503 until a database file is back at that "
              "path (it is not created anew while Pulse runs)", db->path, why);
    db_side_hold(db, "-wal", &db->wal);
    db_side_hold(db, "-shm", &db->shm);
    db_finalize_all(db);
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_close(db->h);
    db->h = mem;
    db->detached = 1;
    db->retry_ms = 0; /* a file there now (replaced rather than deleted) is followed at once */
}

/* A detached connection follows a file put back at its path, at its first
 * transaction after the file is there: looking costs one stat, as the
 * check of an attached file does. Waiting for a timer instead left a
 * process answering 503 (a publish refused) while the others, and
 * health, already said the database was back. Only a file found there
 * that cannot be used yet (its old WAL still beside it, not openable) is
 * tried again no more than once a DB_REATTACH_MS: each try logs, and
 * opening it is not free. */
/* The pragmas of a connection that commits many times a second (its page
 * cache); a failure costs speed only. */
static void db_writer_setup(sqlite3 *h)
{
    if (sqlite3_exec(h, sql_query_text[SQL_DB_WRITER_PRAGMAS], NULL, NULL, NULL) != SQLITE_OK)
        log_warn("db_writer_pragmas: %s", sqlite3_errmsg(h));
}

static void db_reattach(struct db *db)
{
    sqlite3 *h = NULL;
    buf_t errb = {0};
    long long now;

    if (!db_exists(db->path, ""))
        return;
    now = clock_ms();
    if (now < db->retry_ms)
        return;
    db->retry_ms = now + DB_REATTACH_MS;
    /* A file put back beside the old file's WAL would be read through it:
     * SQLite takes <path>-wal by name, whatever file is at <path>. */
    if (db_same_file(db, "-wal", &db->wal) || db_same_file(db, "-shm", &db->shm)) {
        log_error("database %s is back, but %s-wal and %s-shm are still the old file's: remove them (see README, "
                  "\"The database file\") to use it", db->path, db->path, db->path);
        return;
    }
    if (db_migrate_connect(db->path, 0, &h, &errb) != 0) {
        log_warn("database %s is back but cannot be opened yet: %s", db->path, buf_str(&errb));
        buf_free(&errb);
        return;
    }
    log_warn("database %s is back: following the file now there", db->path);
    db_finalize_all(db);
    sqlite3_close(db->h);
    db->h = h;
    db->detached = 0;
    db->generation++;
    db_ckpt_attach(db->ckpt, h);
    if (db->busy_writer)
        db_writer_setup(h);
    if (db->keep_wal)
        sqlite3_db_config(h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    db_note_wal(db);
    (void)db_ids_follow(db->ids, h); /* (logged; the file is followed all the same) */
}

/* 1 when the file at path is no longer the one open (SQLite compares the
 * path's inode with the open file's: one stat). */
static int db_moved(struct db *db)
{
    int moved = 0;

    if (!db->watch || db->detached)
        return 0;
    if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
        return 0;
    return moved;
}

int db_open(const char *path, struct db **out, char **err)
{
    struct db *db = xcalloc(1, sizeof *db);
    buf_t errb = {0};
    int rc;

    db->path = xstrdup(path);
    db->lock_fd = -1;
    db->wal.fd = db->shm.fd = -1;
    db->watch = strcmp(path, ":memory:") != 0 && *path != '\0' && strncmp(path, "file:", 5) != 0;
    /* SQLite's memory statistics take a global mutex on every malloc and
     * free (15% of a publish's instructions); nothing here reads them. Only
     * possible before SQLite initialises: later calls fail harmlessly. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)walbuf_register();   /* (a failure logs; SQLite then writes as it does) */
    rc = db->watch ? db_create(db, &errb) : 0;
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        /* Deleted while other processes run (this one restarted): wait
         * with them for it to come back. */
        if (db_open_empty(&db->h) != 0) {
            buf_puts(&errb, "out of memory");
            goto fail;
        }
        log_error("database %s is missing while other processes use it (deleted or moved?): answering 503 "
                  "until it is put back", path);
        db->detached = 1; /* (retry_ms 0: a file put back is tried at the first transaction after) */
    } else if (db_migrate_connect(path, !db->watch, &db->h, &errb) != 0) {
        goto fail;
    } else if (db->watch) {
        db_note_wal(db);
    }
    buf_free(&errb);
    *out = db;
    return 0;
fail:
    *err = buf_steal(&errb);
    db_close(db);
    return -1;
}

void db_checkpoint_in_background(struct db *db)
{
    if (!db->busy_writer && !db->detached)
        db_writer_setup(db->h);
    db->busy_writer = 1;
    if (db->ckpt != NULL || !db->watch || (db->ckpt = db_ckpt_start(db->path)) == NULL)
        return;
    if (!db->detached)
        db_ckpt_attach(db->ckpt, db->h);
}

void db_keep_ids(struct db *db)
{
    if (db->ids != NULL || !db->watch || (db->ids = db_ids_open(db->path)) == NULL)
        return;
    if (!db->detached)
        (void)db_ids_follow(db->ids, db->h);
}

void db_keep_wal(struct db *db)
{
    db->keep_wal = 1;
    if (!db->detached)
        sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    db_ckpt_stop(db->ckpt);
    db_finalize_all(db);
    db_ids_close(db->ids);
    if (db->detached)
        sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_close(db->h);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    db_side_release(&db->wal);
    db_side_release(&db->shm);
    free(db->path);
    free(db);
}

unsigned db_generation(const struct db *db)
{
    return db->generation;
}

int db_healthy(struct db *db)
{
    if (!db_moved(db))
        return !db->detached;
    db_detach(db, "was deleted, moved or replaced");
    return 0; /* detached now, or (no memory to detach) still on the file gone */
}

sqlite3 *db_handle(struct db *db)
{
    return db->h;
}

sqlite3_stmt *db_stmt(struct db *db, enum sql_id id)
{
    sqlite3_stmt *st = db->stmts[id];

    if (st == NULL) {
        if (sqlite3_prepare_v3(db->h, sql_query_text[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
                               NULL) != SQLITE_OK) {
            if (!db->detached) /* (detached, only the JSON statements have their tables) */
                log_error("preparing %s: %s", sql_query_name[id], sqlite3_errmsg(db->h));
            sqlite3_finalize(st);
            return NULL;
        }
        db->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

void db_done(sqlite3_stmt *st)
{
    if (st != NULL)
        sqlite3_reset(st);
}

/* Runs a prepared statement that returns no rows. 0, or -1 (logged). */
static int db_run(struct db *db, enum sql_id id)
{
    sqlite3_stmt *st = db_stmt(db, id);
    int rc = st != NULL && sqlite3_step(st) == SQLITE_DONE ? 0 : -1;

    if (rc != 0)
        log_error("%s: %s", sql_query_name[id], sqlite3_errmsg(db->h));
    db_done(st);
    return rc;
}

/* Every transaction starts with a look at the file (one stat): a detached
 * connection looks for a file put back, an attached one for its file gone. */
int db_begin(struct db *db, int immediate)
{
    if (!db->detached && db_moved(db)) {
        db_detach(db, "was deleted, moved or replaced");
        if (!db->detached)
            return -1;
    }
    if (db->detached)
        db_reattach(db);
    db->changes = sqlite3_total_changes64(db->h);
    return db_run(db, immediate ? SQL_TX_BEGIN_IMMEDIATE : SQL_TX_BEGIN);
}

/* A write is confirmed only when, after its commit, the file it went to is
 * still the one at the path: otherwise it is lost (a second stat, for
 * transactions that changed rows). */
int db_commit(struct db *db)
{
    int wrote = sqlite3_total_changes64(db->h) != db->changes;
    /* (a failure is logged; the write itself stands) */
    int noted = wrote && db->ids != NULL && !db->detached && db_ids_note(db->ids, db->h) == 0;

    if (db_run(db, SQL_TX_COMMIT) != 0) {
        db_rollback(db);
        return -1;
    }
    if (wrote && db_moved(db)) {
        db_detach(db, "was deleted, moved or replaced");
        return -1;
    }
    if (noted)
        db_ids_committed(db->ids);
    return 0;
}

void db_rollback(struct db *db)
{
    if (db_in_transaction(db) && db_run(db, SQL_TX_ROLLBACK) != 0)
        sqlite3_exec(db->h, sql_query_text[SQL_TX_ROLLBACK], NULL, NULL, NULL); /* no memory to prepare it? */
}

int db_in_transaction(struct db *db)
{
    return !sqlite3_get_autocommit(db->h);
}

int db_savepoint(struct db *db)
{
    return db_run(db, SQL_TX_SAVEPOINT);
}

int db_release(struct db *db)
{
    return db_run(db, SQL_TX_RELEASE);
}

int db_rollback_to(struct db *db)
{
    /* Some errors (disk full, I/O) roll back the whole transaction, and
     * the savepoint with it: that is a failure for the caller too. */
    if (!db_in_transaction(db) || db_run(db, SQL_TX_ROLLBACK_TO) != 0 || db_run(db, SQL_TX_RELEASE) != 0)
        return -1;
    return 0;
}
