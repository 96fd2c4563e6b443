/* check.h - the unit tests' assertions: no framework, a failure prints
 * file:line and the test goes on; check_summary() prints the counts and
 * gives main() its exit status. One test binary = one translation unit, so
 * the counters are static here. */
#ifndef PULSE_CHECK_H
#define PULSE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

static inline void check_report(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        check_passed++;
        return;
    }
    check_failed++;
    fprintf(stderr, "%s:%d: FAIL: %s\n", file, line, what);
}

#define CHECK(cond) check_report((cond) != 0, __FILE__, __LINE__, #cond)

/* Either side may be NULL; two NULLs are equal. */
#define CHECK_STR_EQ(a, b) check_str_eq((a), (b), __FILE__, __LINE__, #a " == " #b)

static inline void check_str_eq(const char *a, const char *b, const char *file, int line, const char *what)
{
    int ok = (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;

    check_report(ok, file, line, what);
    if (!ok)
        fprintf(stderr, "    got \"%s\"\n    want \"%s\"\n", a ? a : "(null)", b ? b : "(null)");
}

#define CHECK_INT_EQ(a, b) check_int_eq((long long)(a), (long long)(b), __FILE__, __LINE__, #a " == " #b)

static inline void check_int_eq(long long a, long long b, const char *file, int line, const char *what)
{
    check_report(a == b, file, line, what);
    if (a != b)
        fprintf(stderr, "    got %lld, want %lld\n", a, b);
}

/* Prints "<name>: N passed, N failed" (the line unit.mk adds up) and
 * returns main()'s exit status. */
static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    fflush(stdout); /* a leak report at exit ends the process without flushing */
    return check_failed ? 1 : 0;
}

#endif
