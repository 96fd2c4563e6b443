/* log.c - stderr logging (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *log_role = "pulse";

void log_set_role(const char *role)
{
    log_role = role;
}

int log_timestamp(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;

    if (size == 0)
        return -1;
    if (gmtime_r(&now, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

static void log_write(const char *level, const char *fmt, va_list ap)
{
    char ts[LOG_TIMESTAMP_SIZE];

    log_timestamp(ts, sizeof ts); /* a record without its time still says what happened */
    fprintf(stderr, "%s %s[%d] %s: ", ts, log_role, (int)getpid(), level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write("info", fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write("warn", fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write("error", fmt, ap);
    va_end(ap);
}
