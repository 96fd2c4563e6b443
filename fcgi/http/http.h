/* http.h - the parts of HTTP both responders share: query strings, ids,
 * status lines, and the request/response structs handlers work with.
 * Nothing here touches a socket or libfcgi. */
#ifndef PULSE_HTTP_H
#define PULSE_HTTP_H

#include <stddef.h>

#include "base/buf.h"

#define HTTP_MAX_QUERY_PARAMS 64
#define HTTP_MAX_ID 128

struct http_param {
    char *name;    /* owned, percent-decoded */
    char *value;   /* owned, percent-decoded; "" for a bare name */
};

struct http_query {
    struct http_param *v;   /* owned array */
    size_t n;
};

/* Parses an application/x-www-form-urlencoded string (a query string or a
 * form body) of len bytes. Returns 0, or -1 for bad percent-encoding, an
 * embedded NUL, a name or value that is not UTF-8 once decoded, or more
 * than HTTP_MAX_QUERY_PARAMS pairs; on -1, q is empty. */
int http_query_parse(const char *s, size_t len, struct http_query *q);
void http_query_free(struct http_query *q);

/* First value of name, or NULL. Borrowed from q. */
const char *http_query_get(const struct http_query *q, const char *name);

/* Number of values of name; stores up to max of them (borrowed) in out. */
size_t http_query_all(const struct http_query *q, const char *name, const char **out, size_t max);

/* 1 when s matches ^[A-Za-z0-9_.:-]{1,128}$ (ids in paths and topics). */
int http_valid_id(const char *s);
int http_valid_id_n(const char *s, size_t n);
/* 1 when s matches ^[A-Za-z0-9_.:-]{1,64}$ (event types). */
#define HTTP_MAX_TYPE 64
int http_valid_type(const char *s);

/* Longest URL a page is given (thumbnailUrl, productImageUrl, avatarUrl). */
#define HTTP_MAX_URL 2048

/* 1 when s is an absolute http or https URL (scheme in any case) with a
 * non-empty host, at most HTTP_MAX_URL bytes, holding no space, control
 * character or any of " ' < > \ `. Pages put such URLs in src and href:
 * javascript:, data:, relative and protocol-relative URLs are refused. The
 * bytes above 0x7f are taken as they are (the text is UTF-8 already). */
int http_valid_url(const char *s);

/* Appends s percent-encoded for a URL's query (all but A-Z a-z 0-9 -._~). */
void http_escape(const char *s, buf_t *out);

/* Parses a non-negative decimal int64 with no sign or junk. 0 or -1. */
int http_parse_i64(const char *s, long long *out);
/* The value of a hex digit (either case), or -1. */
int http_hex_digit(char c);

/* Reason phrase for a status code ("OK", "Not Found", ...). */
const char *http_status_text(int status);

/* The method a request is routed and answered as: HEAD as GET (RFC 9110:
 * HEAD wherever GET is; the web server sends the head without the body),
 * any other as it is. */
const char *http_read_method(const char *method);

/* Longest Origin echoed back. nginx must hold a stream's whole response
 * head in its FastCGI buffer (nginx.conf: fastcgi_buffer_size 384), and
 * the head without the origin is about 160 bytes; a real origin (scheme,
 * host, port) is far shorter. */
#define HTTP_ORIGIN_MAX 200

/* 1 when origin is in allowed, a comma-separated list (or "*"), and no
 * longer than HTTP_ORIGIN_MAX. NULL allowed or origin: 0. */
int http_origin_allowed(const char *allowed, const char *origin);

/* Appends the client a request comes from as rate limits count it: its
 * REMOTE_ADDR (both web servers pass it), an IPv6 address cut to its /64
 * (what one subscriber is usually given: counting finer would let one
 * client rotate addresses). NULL appends nothing: such requests share one
 * budget. */
void http_client_key(const char *remote_addr, buf_t *out);

#endif
