/* log.h - one-line log records to stderr (the web server keeps them in its
 * error log). Prefixed with time, role and pid so the processes of an
 * instance can be told apart. */
#ifndef PULSE_LOG_H
#define PULSE_LOG_H

#include <stddef.h>
#include <time.h>

/* t in UTC, as 2026-11-26T13:33:41Z (LOG_TIMESTAMP_SIZE bytes with the NUL):
 * the time of log lines and of events (callers pass time(NULL); tests pass
 * any time). 0, or -1 (out left empty; years outside 0..9999 too). */
#define LOG_TIMESTAMP_SIZE 21
int log_timestamp(time_t t, char *out, size_t size);

void log_set_role(const char *role);   /* role must outlive the process */
/* Info lines off: a CGI process (one per request) keeps the host's error
 * log to warnings and errors. */
void log_set_quiet(int on);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
