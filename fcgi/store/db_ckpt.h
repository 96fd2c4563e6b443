/* db_ckpt.h - WAL checkpoints on a thread of their own.
 *
 * SQLite checkpoints inside the commit that finds the WAL over 1,000
 * pages: that commit then copies the pages back and waits for two
 * fsyncs, a stall of milliseconds for every request and chat delta of
 * that batch. A process that commits hundreds of times a second
 * (pulse-batch) hands that work to a thread instead: its connection's
 * commits only signal the thread, which checkpoints (PASSIVE: it never
 * blocks a writer or a reader) on a connection of its own. */
#ifndef PULSE_DB_CKPT_H
#define PULSE_DB_CKPT_H

#include <sqlite3.h>

struct db_ckpt;

/* Starts the thread for the database file at path. NULL (logged) when
 * threads are not available: SQLite then checkpoints in commits as usual. */
struct db_ckpt *db_ckpt_start(const char *path);

/* Makes h's commits signal k instead of checkpointing themselves. */
void db_ckpt_attach(struct db_ckpt *k, sqlite3 *h);

/* Stops and joins the thread; NULL is a no-op. */
void db_ckpt_stop(struct db_ckpt *k);

#endif
