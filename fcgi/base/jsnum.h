/* jsnum.h - numbers as JavaScript prints them.
 *
 * PayOS signs its webhook's data as its SDK (JavaScript) prints each value:
 * a JSON number is read as a double, so 5e4 and 50000.0 print "50000" and
 * 9007199254740993 prints "9007199254740992". */
#ifndef PULSE_JSNUM_H
#define PULSE_JSNUM_H

#include "base/buf.h"

/* Integers up to this (2^53) are doubles exactly. */
#define JSNUM_EXACT_MAX 9007199254740992LL

/* Appends v as Number.prototype.toString() prints it (`${v}`). */
void jsnum_format(double v, buf_t *out);

/* Appends v as JSON.stringify prints it: a number that is not finite is
 * null there. */
void jsnum_json(double v, buf_t *out);

/* Appends the integer v as JavaScript prints the number it reads for it. */
void jsnum_int(long long v, buf_t *out);

#endif
