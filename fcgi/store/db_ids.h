/* db_ids.h - an event id is never handed out twice, not even across a
 * database file put back from a backup.
 *
 * A client's position (Last-Event-ID, ?since=) names an event. A file put
 * back lacks the events written after its copy was taken; were its next
 * ids those again, a client that had seen the old ones would resume past
 * the new events of the same ids, silently, and an edge holding the old
 * ones would serve them as the primary's. So a primary's processes keep,
 * beside the file, <path>-ids: the highest event id committed (read in
 * each transaction that changed rows, written after its commit when it
 * grew, never lowered). A process
 * that opens the file, or follows one put back at the path, and finds
 * that number above the file's newest event, appends one row past it
 *
 *     id known+1, topic '', type 'void', data {"after": <the file's newest id>}
 *
 * (a row with no topic, which no stream or poll delivers; the next id
 * comes after it) and marks the log pruned up to it: every position from
 * before is history_expired, so its client refetches state, and ids
 * after <after> up to known name no event here. The relay ships the row
 * like any other; an edge's mirror drops what it holds between the two
 * and resets its streams (store_mirror_void).
 *
 * Edges do not keep the file: their ids are the primary's. */
#ifndef PULSE_DB_IDS_H
#define PULSE_DB_IDS_H

#include <sqlite3.h>
#include <stdint.h>

struct db_ids;

/* The ids file of the database at path; NULL (logged) when it cannot be
 * opened or made. Freed by db_ids_close. */
struct db_ids *db_ids_open(const char *path);
void db_ids_close(struct db_ids *k);

/* Finalizes what k prepared on a connection about to close. NULL allowed. */
void db_ids_release(struct db_ids *k);

/* Inside a write transaction on h, before its COMMIT: reads the newest
 * event id. 0, or -1 (logged; the commit may go on: only a later put back
 * would miss it). */
int db_ids_note(struct db_ids *k, sqlite3 *h);
/* After that COMMIT, once confirmed (the file still at the path): writes
 * the id noted when it is above the file's. NULL allowed. */
void db_ids_committed(struct db_ids *k);

/* Inside a write transaction on h: appends the void row past known (the
 * highest id handed out) when the log ends below it, and marks the log
 * pruned up to that row. 0, or -1 (logged). */
int db_ids_void(sqlite3 *h, int64_t known);

/* On h just opened (no transaction open): appends the void row when the
 * file lacks ids the file says were handed out. 0 (nothing to do, or
 * done), or -1 (logged: the database could not be written). */
int db_ids_follow(struct db_ids *k, sqlite3 *h);

#endif
