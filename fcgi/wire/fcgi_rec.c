/* fcgi_rec.c - FastCGI record reading and writing (see fcgi_rec.h). */
#include "wire/fcgi_rec.h"

#include <fastcgi.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

static void header(unsigned char h[8], int type, uint16_t id, size_t len)
{
    h[0] = FCGI_VERSION_1;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)id;
    h[4] = (unsigned char)(len >> 8);
    h[5] = (unsigned char)len;
    h[6] = 0; /* no padding */
    h[7] = 0;
}

/* Appends body as records of type, split at FCGI_MAX_LENGTH; an empty
 * body is one empty record (the end of a stream). */
static void records(buf_t *out, int type, uint16_t id, const unsigned char *p, size_t len)
{
    unsigned char h[8];

    do {
        size_t n = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : len;

        header(h, type, id, n);
        buf_append(out, h, 8);
        if (n > 0) {
            buf_append(out, p, n);
            p += n;
            len -= n;
        }
    } while (len > 0);
}

/* A complete header arrived: validate it and set up the body. */
static int start_record(struct fcgi_in *in)
{
    const unsigned char *h = in->hdr;
    uint16_t id = (uint16_t)(h[2] << 8 | h[3]);

    if (h[0] != FCGI_VERSION_1)
        return -1;
    in->type = id == FCGI_NULL_REQUEST_ID ? 0 : h[1]; /* type 0: body_bytes skips it */
    in->content_left = (uint32_t)(h[4] << 8 | h[5]);
    in->remaining = in->content_left + h[6];
    if (id == FCGI_NULL_REQUEST_ID)
        return 0; /* management record (GET_VALUES): skipped, whatever its type */
    if (in->type == FCGI_BEGIN_REQUEST) {
        if (in->have_begin || in->content_left != 8)
            return -1; /* we do not multiplex */
        in->have_begin = 1;
        in->request_id = id;
    } else if (!in->have_begin || id != in->request_id) {
        return -1;
    }
    if (in->type == FCGI_ABORT_REQUEST)
        in->aborted = 1;
    if (in->type == FCGI_PARAMS && in->content_left == 0)
        in->params_done = 1;
    if (in->type == FCGI_STDIN && in->content_left == 0)
        in->stdin_done = 1;
    return 0;
}

/* Body bytes of the current record. BEGIN_REQUEST's body is 8 bytes: role
 * (2) and flags (1) are checked as they pass. */
static int body_bytes(struct fcgi_in *in, const unsigned char *p, size_t n)
{
    size_t content = n < in->content_left ? n : in->content_left;
    size_t i;

    if (in->type == FCGI_BEGIN_REQUEST) {
        for (i = 0; i < content; i++) {
            size_t pos = 8 - in->content_left + i;
            if ((pos == 0 && p[i] != 0) || (pos == 1 && p[i] != FCGI_RESPONDER))
                return -1;
            if (pos == 2)
                in->keep_conn = (p[i] & FCGI_KEEP_CONN) != 0;
        }
    } else if (in->type == FCGI_PARAMS && !in->params_done && content > 0) {
        if (in->params.len + content > FCGI_REC_MAX_PARAMS)
            return -1;
        buf_append(&in->params, p, content);
    } else if (in->type == FCGI_STDIN && !in->stdin_done && content > 0) {
        if (in->body.len + content > in->stdin_max)
            in->stdin_over = 1; /* the owner answers 413; the rest is skipped */
        else
            buf_append(&in->body, p, content);
    }
    in->content_left -= (uint32_t)content;
    in->remaining -= (uint32_t)n;
    return 0;
}

int fcgi_in_feed(struct fcgi_in *in, const unsigned char *data, size_t len)
{
    while (len > 0) {
        if (in->remaining == 0) {
            size_t take = 8 - in->hdr_len;
            if (take > len)
                take = len;
            memcpy(in->hdr + in->hdr_len, data, take);
            in->hdr_len = (uint8_t)(in->hdr_len + take);
            data += take;
            len -= take;
            if (in->hdr_len < 8)
                break;
            in->hdr_len = 0;
            if (start_record(in) != 0)
                return -1;
        } else {
            size_t take = len < in->remaining ? len : in->remaining;
            if (body_bytes(in, data, take) != 0)
                return -1;
            data += take;
            len -= take;
        }
    }
    return 0;
}

void fcgi_in_free(struct fcgi_in *in)
{
    buf_free(&in->params);
    buf_free(&in->body);
}

void fcgi_in_next(struct fcgi_in *in)
{
    size_t max = in->stdin_max;

    fcgi_in_free(in);
    memset(in, 0, sizeof *in);
    in->stdin_max = max;
}

/* Name-value pair lengths: one byte when < 128, else four with the top bit. */
static int nv_len(const unsigned char **p, const unsigned char *end, size_t *out)
{
    if (*p >= end)
        return -1;
    if (**p < 0x80) {
        *out = *(*p)++;
        return 0;
    }
    if (end - *p < 4)
        return -1;
    *out = ((size_t)((*p)[0] & 0x7f) << 24) | ((size_t)(*p)[1] << 16) | ((size_t)(*p)[2] << 8) | (*p)[3];
    *p += 4;
    return 0;
}

int fcgi_param(const buf_t *params, const char *name, const char **val, size_t *vlen)
{
    const unsigned char *p = (const unsigned char *)params->p, *end;
    size_t want = strlen(name);

    if (p == NULL)
        return 0;
    end = p + params->len;

    while (p < end) {
        size_t nl, vl;

        if (nv_len(&p, end, &nl) != 0 || nv_len(&p, end, &vl) != 0)
            return -1;
        if (nl > (size_t)(end - p) || vl > (size_t)(end - p) - nl)
            return -1;
        if (nl == want && memcmp(p, name, nl) == 0) {
            *val = (const char *)p + nl;
            *vlen = vl;
            return 1;
        }
        p += nl + vl;
    }
    return 0;
}

char *fcgi_param_dup(const buf_t *params, const char *name)
{
    const char *v;
    size_t n;

    if (fcgi_param(params, name, &v, &n) != 1 || memchr(v, '\0', n) != NULL)
        return NULL;
    return xstrndup(v, n);
}

const char *fcgi_strs_get(struct fcgi_strs *s, const char *name)
{
    char *v = fcgi_param_dup(s->params, name);

    if (v == NULL)
        return NULL;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    return s->v[s->n++] = v;
}

void fcgi_strs_free(struct fcgi_strs *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

void fcgi_stdout(buf_t *out, uint16_t request_id, const void *data, size_t len)
{
    if (len > 0) /* an empty STDOUT would end the stream */
        records(out, FCGI_STDOUT, request_id, data, len);
}

void fcgi_end(buf_t *out, uint16_t request_id)
{
    static const unsigned char complete[8] = {0}; /* appStatus 0, FCGI_REQUEST_COMPLETE */

    records(out, FCGI_STDOUT, request_id, NULL, 0);
    records(out, FCGI_END_REQUEST, request_id, complete, sizeof complete);
}

void fcgi_set_request_id(unsigned char *recs, size_t len, uint16_t request_id)
{
    size_t off = 0;

    while (off + 8 <= len) {
        unsigned char *h = recs + off;
        h[2] = (unsigned char)(request_id >> 8);
        h[3] = (unsigned char)request_id;
        off += 8 + (size_t)(h[4] << 8 | h[5]) + h[6];
    }
}

/* A name-value pair's length: one byte below 128, four with the top bit. */
static void nv_put_len(buf_t *b, size_t n)
{
    unsigned char l[4] = {(unsigned char)((n >> 24) | 0x80), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                          (unsigned char)n};

    if (n < 128)
        buf_putc(b, (char)n);
    else
        buf_append(b, l, 4);
}

void fcgi_request_of_env(buf_t *out, uint16_t request_id, char *const *env)
{
    unsigned char begin[8] = {0, FCGI_RESPONDER, 0, 0, 0, 0, 0, 0};
    buf_t params = {0};
    size_t i;

    for (i = 0; env != NULL && env[i] != NULL; i++) {
        const char *eq = strchr(env[i], '=');

        if (eq == NULL || eq == env[i])
            continue;
        nv_put_len(&params, (size_t)(eq - env[i]));
        nv_put_len(&params, strlen(eq + 1));
        buf_append(&params, env[i], (size_t)(eq - env[i]));
        buf_puts(&params, eq + 1);
    }
    records(out, FCGI_BEGIN_REQUEST, request_id, begin, sizeof begin);
    if (params.len > 0)
        records(out, FCGI_PARAMS, request_id, (const unsigned char *)params.p, params.len);
    records(out, FCGI_PARAMS, request_id, NULL, 0);
    records(out, FCGI_STDIN, request_id, NULL, 0);
    buf_free(&params);
}

int fcgi_stdout_take(buf_t *recs, buf_t *text)
{
    const unsigned char *p = (const unsigned char *)recs->p;
    size_t off = 0;
    int ended = 0;

    while (!ended && off + 8 <= recs->len) {
        const unsigned char *h = p + off;
        size_t clen = (size_t)(h[4] << 8 | h[5]), whole = 8 + clen + h[6];

        if (h[0] != FCGI_VERSION_1)
            return -1;
        if (off + whole > recs->len)
            break;
        if (h[1] == FCGI_STDOUT)
            buf_append(text, h + 8, clen);
        else if (h[1] == FCGI_END_REQUEST)
            ended = 1;
        off += whole;
    }
    if (off > 0) {
        memmove(recs->p, recs->p + off, recs->len - off);
        recs->len -= off;
    }
    return ended;
}
