/* log.h - one-line log records to stderr (the web server keeps them in its
 * error log). Prefixed with time, role and pid so the processes of an
 * instance can be told apart. */
#ifndef PULSE_LOG_H
#define PULSE_LOG_H

void log_set_role(const char *role);   /* role must outlive the process */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
