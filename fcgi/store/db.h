/* db.h - the process's SQLite connection: WAL mode, busy timeout, versioned
 * migrations from sql/migrations, and the named statements of sql/queries
 * prepared once and kept for the life of the process.
 *
 * Statement discipline: db_stmt() hands out a statement that is reset and has
 * no bindings; the caller binds, steps, and ends with db_done(). A statement
 * left un-reset would pin an old read snapshot, and a long-lived process
 * would stop seeing new events. */
#ifndef PULSE_DB_H
#define PULSE_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "sql_gen.h"

struct db;

/* Opens and migrates the database at path, creating it (mode 0600) only
 * when nothing says it was in use: see db_create in db.c. On failure
 * returns -1 and sets *err (caller frees).
 *
 * The file is watched: each transaction begins with a check (one stat)
 * that the file at path is still the one open, and a commit that changed
 * rows is confirmed (0) only if it still is afterwards. Once it is not
 * (deleted, moved, replaced), the connection is detached: every statement
 * on a table fails, so every request answers 503, until a file is back at
 * the path; the connection then opens it (never creating one) and
 * db_generation changes. A process that starts while the file is missing
 * and other processes hold it starts detached the same way. */
int db_open(const char *path, struct db **out, char **err);
void db_close(struct db *db);

/* Bumped each time the connection opens its path again: whatever was read
 * from the log before (ids, positions) may not hold in the file now there. */
unsigned db_generation(const struct db *db);

/* 1 when the connection is attached to the file at its path (checked now). */
int db_healthy(struct db *db);

sqlite3 *db_handle(struct db *db);

/* Moves this connection's WAL checkpoints out of its commits onto a thread
 * (store/db_ckpt.h), and gives it a page cache for what such commits touch
 * (db_writer_pragmas), for a process that commits many times a second;
 * kept across a file put back at the path. */
void db_checkpoint_in_background(struct db *db);

/* For a primary's process (one that hands out event ids): keeps the
 * highest id committed beside the file (<path>-ids), so that a file put
 * back never hands out an id again (store/db_ids.h); checked now and
 * whenever a file is followed at the path. */
void db_keep_ids(struct db *db);

/* For a process that answers one request and exits (CGI): its connection
 * closes without the checkpoint a last close does, which also deletes the
 * -wal and -shm files that the next process would create again (with the
 * index's recovery: more than the request itself costs). The WAL is still
 * checkpointed by commits as SQLite does (every 1,000 pages). Kept across
 * a file put back at the path. */
void db_keep_wal(struct db *db);

/* The named statement, ready to bind; NULL (and logged) if it cannot be
 * prepared. Owned by db: never finalize it. */
sqlite3_stmt *db_stmt(struct db *db, enum sql_id id);
void db_done(sqlite3_stmt *st);

/* Transactions. immediate takes the write lock up front (waiting up to the
 * busy timeout), so read-then-write sequences cannot deadlock. */
int db_begin(struct db *db, int immediate);
int db_commit(struct db *db);
void db_rollback(struct db *db);
int db_in_transaction(struct db *db);

/* A nested unit inside an open transaction (one request of a group commit):
 * released into the transaction, or rolled back alone. db_rollback_to
 * returns -1 when the unit's changes may still be there (or the whole
 * transaction is gone): the transaction must not commit then. */
int db_savepoint(struct db *db);
int db_release(struct db *db);
int db_rollback_to(struct db *db);

/* Runs a statement that returns one row of one text column (typically a
 * json_object()) and returns a copy the caller frees; NULL on error or no
 * row. Text arguments are bound in order as ?1, ?2, ... */
char *db_one_text(struct db *db, enum sql_id id, int nargs, const char *const *args);

/* The first column of q's one row (no arguments) read as a flag: 1 when
 * non-zero, 0 when zero, -1 on an error or no row. */
int db_flag(struct db *db, enum sql_id q);

/* Steps a lookup of at most one row: 1 with a row, 0 with none, -1 on an
 * error (which must not read as "none": an unknown order, room or key). */
int db_lookup(sqlite3_stmt *st);

/* Runs a statement that returns no row (an INSERT, UPDATE or DELETE) with
 * text arguments bound the same way; *changed (unless NULL) gets the rows
 * it changed.
 * 0, or -1 on error. */
int db_run_texts(struct db *db, enum sql_id id, int nargs, const char *const *args, int *changed);

/* 1 when text[0..len) is a well-formed JSON object (see json_is_object in
 * sql/queries/common.sql) in UTF-8, with no \u escape of a lone surrogate
 * (utf8_json_text_ok: SQLite checks neither); anything from outside goes
 * through this before any JSON path lookup, so every string read from it
 * is UTF-8. */
int db_json_object(struct db *db, const char *text, size_t len);

/* db_json_object without the encoding: 1 when text[0..len) is a
 * well-formed JSON object whatever its strings hold, bytes that are not
 * UTF-8 or an escape of a lone surrogate among them. Only for a reader that
 * checks with utf8_valid every string it takes from the document (as SQLite
 * decodes it) before keeping it: a Facebook batch, whose messages are kept
 * or skipped one by one. */
int db_json_object_shape(struct db *db, const char *text, size_t len);
/* db_json_object's checks that need no SQL: 1 when text[0..len) can be
 * bound whole (no NUL) and is UTF-8 as utf8_json_text_ok says. For a
 * statement that runs json_is_object's test itself, in its WHERE, before
 * any path lookup (event_publish_body): one parse of the text, not two. */
int db_json_text_ok(const char *text, size_t len);

/* 1 when text[0..len) holds a \u0000 escape. SQLite 3.40 ends an unescaped
 * JSON string there, so a string read from such a document may come back
 * cut short; the statements that read strings from outside input take this
 * as a flag and then also answer whether each string is whole. */
int db_json_escapes_nul(const char *text, size_t len);

/* Binds helpers that check the return code and log; return 0 or -1. */
int db_bind_text(sqlite3_stmt *st, int idx, const char *s, int len);
int db_bind_int64(sqlite3_stmt *st, int idx, int64_t v);

#endif
