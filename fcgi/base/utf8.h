/* utf8.h - is outside text UTF-8? Every JSON body, JWT payload, query
 * string and form body is checked before anything reads it: a JSON text
 * must be UTF-8 (RFC 8259), and SQLite's JSON functions do not check, so
 * a byte that is not UTF-8 would be stored and then sent on, raw, in JSON
 * and SSE labelled charset=utf-8. Invalid text is refused (400), never
 * repaired; only a Facebook batch is read past this gate, its items then
 * checked one by one and skipped when not UTF-8 (crm_webhooks.c). */
#ifndef PULSE_UTF8_H
#define PULSE_UTF8_H

#include <stddef.h>

#include "base/buf.h"

/* 1 when s[0..n) is well-formed UTF-8 (RFC 3629): no overlong form, no
 * UTF-16 surrogate (U+D800..U+DFFF), nothing above U+10FFFF, no sequence
 * cut short. A NUL byte is U+0000 and passes: callers that take C strings
 * refuse it themselves. */
int utf8_valid(const char *s, size_t n);

/* 1 when s[0..n) is well-formed UTF-8 and every \uXXXX escape in it names
 * a Unicode character: a high surrogate escape is followed at once by a
 * low one, and no low one stands alone. SQLite decodes a lone surrogate
 * escape into three bytes that are not UTF-8 (\ud800 becomes ED A0 80), so
 * a JSON text made only of ASCII could still put them in the database.
 * Escapes are found as db_json_escapes_nul finds them: a backslash always
 * pairs with the next byte. */
int utf8_json_text_ok(const char *s, size_t n);

/* 1 when every byte of s[0..n) is one of A-Z a-z 0-9 _ . : - (the
 * alphabet of ids, topics and event types; http_valid_id_n bounds the
 * length, and SQL's pulse_event_name() calls it: db_migrate.c). */
int utf8_name_chars(const char *s, size_t n);

/* Appends to out what a message may show of text[0..n) from outside: up to
 * a NUL, at most max bytes, a character cut at the end dropped; text that
 * is not UTF-8 shows as "(not UTF-8 text)". */
void utf8_shown(buf_t *out, const char *text, size_t n, size_t max);

#endif
