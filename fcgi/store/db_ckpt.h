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

/* The thread checkpoints once a commit leaves the WAL at this many pages
 * (16 MiB), not at SQLite's 1,000: each checkpoint has a fixed cost (a
 * connection, two fdatasyncs, the WAL's pages written out), and at 14,000
 * publishes a second, 1,000 pages made them a sixth of pulse-batch's CPU
 * (bench/HISTORY.md, "Checkpoints every 4,000 pages"). */
#define DB_CKPT_PAGES 4000

/* Every other connection checkpoints in its commits, as SQLite does, but
 * only past this: at SQLite's 1,000 a pulse-api commit would do the
 * thread's work inline whenever the WAL sat between the two thresholds. */
#define DB_CKPT_BACKSTOP_PAGES (2 * DB_CKPT_PAGES)

/* Starts the thread for the database file at path. NULL (logged) when
 * threads are not available: SQLite then checkpoints in commits as usual. */
struct db_ckpt *db_ckpt_start(const char *path);

/* Makes h's commits signal k instead of checkpointing themselves. */
void db_ckpt_attach(struct db_ckpt *k, sqlite3 *h);

/* Stops and joins the thread; NULL is a no-op. */
void db_ckpt_stop(struct db_ckpt *k);

#endif
