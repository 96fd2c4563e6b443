/* fcgi_rec.h - the FastCGI wire format for the stream responder, which
 * holds thousands of connections in one epoll loop and so frames records
 * itself (record layouts from libfcgi's <fastcgi.h>).
 *
 * The reader is a byte-at-a-time state machine with no record buffering:
 * PARAMS content is collected until the empty PARAMS record, STDIN content
 * up to stdin_max bytes (none unless the owner sets it), everything else is
 * skipped, an ABORT_REQUEST is noted. After the handshake it costs a few
 * bytes per connection.
 *
 * One request at a time: a web server that keeps the connection
 * (FCGI_KEEP_CONN) sends the next BEGIN_REQUEST only after the answer, and
 * the owner calls fcgi_in_next() before feeding it. */
#ifndef PULSE_FCGI_REC_H
#define PULSE_FCGI_REC_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define FCGI_REC_MAX_PARAMS (64 * 1024)

struct fcgi_in {
    unsigned char hdr[8];      /* header being read */
    uint8_t hdr_len;
    uint8_t type;              /* type of the record whose body is being read */
    uint16_t request_id;
    uint32_t remaining;        /* body + padding bytes left in this record */
    uint32_t content_left;     /* body bytes left (the rest is padding) */
    unsigned have_begin : 1;
    unsigned params_done : 1;
    unsigned aborted : 1;
    unsigned keep_conn : 1;
    unsigned stdin_done : 1;   /* the empty STDIN record arrived */
    unsigned stdin_over : 1;   /* more than stdin_max bytes of STDIN came */
    size_t stdin_max;          /* STDIN bytes to keep in body (0: skip them) */
    buf_t params;              /* PARAMS bytes, complete once params_done; the
                                  * owner frees them when done (fcgi_in_free) */
    buf_t body;                /* STDIN bytes, complete once stdin_done */
};

/* Consumes len bytes. Returns 0, or -1 on a protocol violation (bad
 * version, a role other than responder, multiplexed requests, params over
 * FCGI_REC_MAX_PARAMS). */
int fcgi_in_feed(struct fcgi_in *in, const unsigned char *data, size_t len);
void fcgi_in_free(struct fcgi_in *in);
/* Frees the request read so far and readies the reader for the next one on
 * the same connection, keeping stdin_max. */
void fcgi_in_next(struct fcgi_in *in);

/* Looks up name in a PARAMS block. Returns 1 and points val/vlen into
 * params when found, 0 when absent, -1 when the block is malformed. */
int fcgi_param(const buf_t *params, const char *name, const char **val, size_t *vlen);

/* The value of name as a new string (caller frees), or NULL when absent,
 * when the block is malformed, or when the value holds a NUL: no web
 * server sends one (HTTP forbids it), and cut at it the value would read
 * as another (an Origin, a token). */
char *fcgi_param_dup(const buf_t *params, const char *name);

/* A request's params as NUL-terminated strings (what http_req.header hands
 * out): each value looked up is copied, and the copies are kept until
 * fcgi_strs_free. */
struct fcgi_strs {
    const buf_t *params;       /* the PARAMS block (borrowed) */
    char **v;                  /* owned copies */
    size_t n, cap;
};
/* The value of name, or NULL as fcgi_param_dup says. */
const char *fcgi_strs_get(struct fcgi_strs *s, const char *name);
void fcgi_strs_free(struct fcgi_strs *s);

/* Appends data as STDOUT records for request_id (split at 65535 bytes). */
void fcgi_stdout(buf_t *out, uint16_t request_id, const void *data, size_t len);

/* Appends an empty STDOUT and END_REQUEST: the response is complete. */
void fcgi_end(buf_t *out, uint16_t request_id);

/* Appends the records of a GET-like request as a web server sends them:
 * BEGIN_REQUEST (responder, no keep-alive), PARAMS holding every
 * "NAME=value" string of env (a CGI program's environment; strings without
 * '=' are skipped), the empty PARAMS and the empty STDIN. For a CGI
 * program that hands its one request to a FastCGI responder in-process. */
void fcgi_request_of_env(buf_t *out, uint16_t request_id, char *const *env);

/* Takes the whole records at the start of recs (a responder's output),
 * appending STDOUT content to text and removing them from recs; a partial
 * record stays for the next call. 1 once END_REQUEST came (what follows is
 * left in recs), 0 while it has not, -1 for a record that is not
 * FastCGI. */
int fcgi_stdout_take(buf_t *recs, buf_t *text);

/* Rewrites the request id of every record in a buffer of whole records. */
void fcgi_set_request_id(unsigned char *recs, size_t len, uint16_t request_id);

#endif
