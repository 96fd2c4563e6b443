/* sse.h - Server-Sent Events text: an id on every event, one data: line
 * per payload line, comment pings, a retry: hint with the start position. */
#ifndef PULSE_SSE_H
#define PULSE_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* The type of the event a stream sends when a client cannot resume (API.md:
 * `event: reset`); no published event may take it. */
#define SSE_RESET_TYPE "reset"

void sse_event(buf_t *out, int64_t id, const char *type, const char *data, size_t len);
void sse_comment(buf_t *out, const char *text);
/* The first block of a stream: the reconnection hint, a comment (API.md:
 * a stream starts with retry: and a comment line) and the position the
 * stream starts from, with no data (EventSource records the id without
 * dispatching an event). */
void sse_open(buf_t *out, long retry_ms, const char *comment, int64_t id);

#endif
