/* db_ids.c - the highest event id handed out, kept beside the file (see
 * db_ids.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "sql_gen.h"
#include "store/db_ids.h"

#define IDS_LEN 21 /* twenty digits and a newline: every value is one write of the same size */

struct db_ids {
    int fd;
    char *path;           /* owned: <db path>-ids */
    int64_t noted;        /* the value last read or written here */
    int64_t pending;      /* db_ids_note: the newest id of the commit under way */
    sqlite3_stmt *head;   /* SELECT max(id), on the connection in use (db_ids_release before it closes) */
};

struct db_ids *db_ids_open(const char *path)
{
    struct db_ids *k = xcalloc(1, sizeof *k);
    buf_t b = {0};

    buf_printf(&b, "%s-ids", path);
    k->path = buf_steal(&b);
    k->fd = open(k->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (k->fd < 0) {
        log_error("%s: %s: event ids could be handed out twice after a database put back", k->path,
                  strerror(errno));
        free(k->path);
        free(k);
        return NULL;
    }
    return k;
}

void db_ids_close(struct db_ids *k)
{
    if (k == NULL)
        return;
    db_ids_release(k);
    close(k->fd);
    free(k->path);
    free(k);
}

void db_ids_release(struct db_ids *k)
{
    if (k == NULL)
        return;
    sqlite3_finalize(k->head);
    k->head = NULL;
}

/* The value in the file: 0 when it is empty (new), -1 when unreadable. */
static int64_t ids_read(struct db_ids *k)
{
    char text[IDS_LEN + 1];
    ssize_t n = pread(k->fd, text, IDS_LEN, 0);
    char *end;
    long long v;

    if (n < 0) {
        log_error("%s: %s", k->path, strerror(errno));
        return -1;
    }
    if (n == 0)
        return 0;
    text[n] = '\0';
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || v < 0 || (*end != '\n' && *end != '\0')) {
        log_error("%s: not a number of ids (%.*s): remove it only if no client ever saw this database's ids",
                  k->path, (int)n, text);
        return -1;
    }
    return v;
}

static int ids_write(struct db_ids *k, int64_t v)
{
    char text[IDS_LEN + 1];

    snprintf(text, sizeof text, "%020" PRId64 "\n", v);
    if (pwrite(k->fd, text, IDS_LEN, 0) != IDS_LEN) {
        log_error("%s: %s", k->path, errno != 0 ? strerror(errno) : "short write");
        return -1;
    }
    k->noted = v;
    return 0;
}

/* The newest event's id in h's file (0 when none), or -1. */
static int64_t ids_head(struct db_ids *k, sqlite3 *h)
{
    int64_t v = -1;

    if (k->head == NULL && sqlite3_prepare_v3(h, sql_query_text[SQL_DB_IDS_HEAD], -1, SQLITE_PREPARE_PERSISTENT,
                                              &k->head, NULL) != SQLITE_OK) {
        log_error("preparing db_ids_head: %s", sqlite3_errmsg(h));
        sqlite3_finalize(k->head);
        k->head = NULL;
        return -1;
    }
    if (sqlite3_step(k->head) == SQLITE_ROW)
        v = sqlite3_column_int64(k->head, 0);
    else
        log_error("db_ids_head: %s", sqlite3_errmsg(h));
    sqlite3_reset(k->head);
    return v;
}

int db_ids_note(struct db_ids *k, sqlite3 *h)
{
    int64_t head;

    if (k == NULL)
        return 0;
    k->pending = 0;
    if ((head = ids_head(k, h)) < 0)
        return -1;
    k->pending = head;
    return 0;
}

void db_ids_committed(struct db_ids *k)
{
    int64_t have;

    if (k == NULL || k->pending <= k->noted)
        return;
    /* After the commit, so a commit that failed never counts; under a
     * lock of the file's own, so the value only grows whichever process
     * writes last (a commit refused on a file moved away writes nothing). */
    if (flock(k->fd, LOCK_EX) != 0) {
        log_error("%s: lock: %s", k->path, strerror(errno));
        k->pending = 0;
        return;
    }
    if ((have = ids_read(k)) >= 0 && k->pending > have)
        (void)ids_write(k, k->pending);
    else if (have > k->noted)
        k->noted = have;
    (void)flock(k->fd, LOCK_UN);
    k->pending = 0;
}

int db_ids_void(sqlite3 *h, int64_t known)
{
    sqlite3_stmt *st = NULL;
    int i, rc = -1;
    static const enum sql_id steps[] = {SQL_DB_IDS_VOID, SQL_DB_IDS_VOID_FLOOR};

    for (i = 0; i < 2; i++) {
        if (sqlite3_prepare_v2(h, sql_query_text[steps[i]], -1, &st, NULL) != SQLITE_OK ||
            sqlite3_bind_int64(st, 1, known) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
            log_error("%s: %s", sql_query_name[steps[i]], sqlite3_errmsg(h));
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

int db_ids_follow(struct db_ids *k, sqlite3 *h)
{
    int64_t known, head;
    int rc = -1;

    if (k == NULL)
        return 0;
    k->pending = 0; /* (a commit that failed noted one) */
    /* Most opens find nothing to do: looked at first without the lock. */
    if ((known = ids_read(k)) < 0 || (head = ids_head(k, h)) < 0)
        return -1;
    if (known <= head) {
        k->noted = known > k->noted ? known : k->noted;
        return 0;
    }
    if (sqlite3_exec(h, sql_query_text[SQL_TX_BEGIN_IMMEDIATE], NULL, NULL, NULL) != SQLITE_OK) {
        log_error("%s: %s", sql_query_name[SQL_TX_BEGIN_IMMEDIATE], sqlite3_errmsg(h));
        return -1;
    }
    /* again under the lock: another process may have done it meanwhile */
    if ((known = ids_read(k)) < 0 || (head = ids_head(k, h)) < 0)
        goto out;
    if (known > head) {
        log_warn("the database ends at event %" PRId64 ", but ids up to %" PRId64 " were handed out (%s): a file "
                 "put back; new events start after %" PRId64 ", and clients resuming from before get a reset",
                 head, known, k->path, known + 1);
        if (db_ids_void(h, known) != 0 || (k->pending = ids_head(k, h)) < 0)
            goto out;
    }
    if (sqlite3_exec(h, sql_query_text[SQL_TX_COMMIT], NULL, NULL, NULL) != SQLITE_OK) {
        log_error("%s: %s", sql_query_name[SQL_TX_COMMIT], sqlite3_errmsg(h));
        goto out;
    }
    db_ids_committed(k);
    rc = 0;
out:
    if (rc != 0)
        sqlite3_exec(h, sql_query_text[SQL_TX_ROLLBACK], NULL, NULL, NULL);
    return rc;
}
