/* bell.h - the local doorbell: Unix datagram sockets in one directory (by
 * default beside the database), one per stream responder. A publisher rings
 * every bell after a commit; a ring carries the event id and only says
 * "read the log", so a lost ring costs latency (the tail poll catches it),
 * never an event. */
#ifndef PULSE_BELL_H
#define PULSE_BELL_H

#include <stdint.h>

/* Creates dir if needed and binds a non-blocking datagram socket in it.
 * Returns the fd, or -1 (logged). *path gets the socket path (caller
 * frees) so it can be unlinked at exit. */
int bell_listen(const char *dir, char **path);

/* A publisher's handle on the bells of dir (it caches the socket and the
 * list of bells). Never fails; close with bell_ringer_close. */
struct bell_ringer *bell_ringer_open(const char *dir);
void bell_ringer_close(struct bell_ringer *r);

/* Sends id to every bell; removes bells whose owner is gone. Returns how
 * many bells were rung, or -1 if the directory cannot be read. */
int bell_ring(struct bell_ringer *r, int64_t id);

/* Reads every pending ring; returns the highest id seen (0 if none). */
int64_t bell_drain(int fd);

#endif
