/* log.c - stderr logging (see log.h). */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *log_role = "pulse";
static int log_quiet;

void log_set_role(const char *role)
{
    log_role = role;
}

void log_set_quiet(int on)
{
    log_quiet = on;
}

static char *put_digits(char *p, int v, int n)
{
    int i;

    for (i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

/* (by hand: glibc's strftime, locale-aware, cost 2% of a publish) */
int log_timestamp(time_t t, char *out, size_t size)
{
    struct tm tm;
    char *p = out;

    if (size == 0)
        return -1;
    if (size < LOG_TIMESTAMP_SIZE || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 ||
        tm.tm_year + 1900 > 9999) {
        out[0] = '\0';
        return -1;
    }
    p = put_digits(p, tm.tm_year + 1900, 4);
    *p++ = '-';
    p = put_digits(p, tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = 'Z';
    *p = '\0';
    return 0;
}

static void log_write(const char *level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void log_write(const char *level, const char *fmt, va_list ap)
{
    char ts[LOG_TIMESTAMP_SIZE];

    log_timestamp(time(NULL), ts, sizeof ts); /* a record without its time still says what happened */
    fprintf(stderr, "%s %s[%d] %s: ", ts, log_role, (int)getpid(), level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    if (log_quiet)
        return;
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
