/* walbuf.h - SQLite's default VFS with the WAL's writes gathered: the
 * frames of one transaction reach the file in one write, not two a page.
 *
 * SQLite writes each WAL frame as two calls (its 24-byte header, then the
 * page); a commit of 40 pages is 80 system calls, and on this machine a
 * call costs more than copying the page (bench/HISTORY.md, 2026-12-08).
 * walbuf keeps a transaction's frames in memory while they follow each
 * other and writes them at its commit frame, whose write returns the
 * error if that fails (disk full: the transaction fails as before), before
 * SQLite publishes the commit to other processes. What a transaction that
 * did not commit leaves held is dropped when its connection releases the
 * write lock; a held write that fails before a read fails the whole
 * transaction. Every other file, and every other operation, goes straight
 * to the VFS underneath. */
#ifndef PULSE_WALBUF_H
#define PULSE_WALBUF_H

/* Registers the gathering VFS as SQLite's default, once per process (later
 * calls return at once); before the first sqlite3_open. 0, or -1 when it
 * could not be (SQLite then writes as it always does). */
int walbuf_register(void);

#endif
