/* llm_demo.c - the built-in demo model (see llm.h): with no upstream
 * configured, every answer is the same canned text, one word per
 * demo_word_ms, so `make run` shows an answer streaming with nothing else
 * installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "llm/llm_backend.h"

static const char demo_text[] =
    "Hello! I am Pulse's demo model: no language model is configured, so I answer every message "
    "with these same words, one at a time, the way a real model streams its tokens. The server "
    "keeps the text as it grows, so reload the page now and you will see everything so far at "
    "once, then the rest as it comes. Press Stop to cancel me. To talk to a real model, set "
    "PULSE_LLM_URL to any OpenAI-compatible endpoint, with PULSE_LLM_MODEL and PULSE_LLM_API_KEY.";

struct llm_call {
    struct llm_call *next;
    const struct llm_handler *h;
    void *arg;
    size_t pos;            /* bytes of demo_text sent */
    size_t words;          /* deltas sent: the demo's "tokens" */
    long long due_ms;      /* 0: not scheduled yet (the first tick sends at once) */
    int dead;              /* cancelled or ended: freed by the next sweep */
};

struct llm_backend {
    struct llm_call *calls;
    long word_ms;
};

static struct llm_backend *demo_open(const struct llm_opts *opts)
{
    struct llm_backend *b = xcalloc(1, sizeof *b);

    b->word_ms = opts->demo_word_ms > 0 ? opts->demo_word_ms : 50;
    return b;
}

static void sweep(struct llm_backend *b)
{
    struct llm_call **p = &b->calls, *c;

    while ((c = *p) != NULL) {
        if (c->dead) {
            *p = c->next;
            free(c);
        } else {
            p = &c->next;
        }
    }
}

static void demo_close(struct llm_backend *b)
{
    struct llm_call *c;

    for (c = b->calls; c != NULL; c = c->next)
        c->dead = 1;
    sweep(b);
    free(b);
}

static struct llm_call *demo_start(struct llm_backend *b, const char *messages_json, const struct llm_handler *h,
                                   void *arg)
{
    struct llm_call *c = xcalloc(1, sizeof *c);

    (void)messages_json;
    c->h = h;
    c->arg = arg;
    c->next = b->calls;
    b->calls = c;
    return c;
}

static void demo_cancel(struct llm_backend *b, struct llm_call *c)
{
    (void)b;
    c->dead = 1; /* freed by the next sweep: it may be cancelled from its own callback */
}

static long demo_next_ms(struct llm_backend *b, long long now_ms)
{
    const struct llm_call *c;
    long long next = -1;

    for (c = b->calls; c != NULL; c = c->next)
        if (!c->dead && (next < 0 || c->due_ms < next))
            next = c->due_ms;
    if (next < 0)
        return -1;
    return next <= now_ms ? 0 : (long)(next - now_ms);
}

/* The next word with the spaces before it. */
static size_t next_word(size_t pos)
{
    size_t end = pos, n = sizeof demo_text - 1;

    while (end < n && demo_text[end] == ' ')
        end++;
    while (end < n && demo_text[end] != ' ')
        end++;
    return end - pos;
}

static void step(struct llm_backend *b, struct llm_call *c, long long now_ms)
{
    char usage[96];
    size_t len;

    if (c->pos >= sizeof demo_text - 1) {
        snprintf(usage, sizeof usage, "{\"prompt_tokens\":0,\"completion_tokens\":%zu,\"total_tokens\":%zu}",
                 c->words, c->words);
        c->dead = 1;
        c->h->done(c->arg, "stop", usage);
        return;
    }
    len = next_word(c->pos);
    c->pos += len;
    c->words++;
    c->due_ms = now_ms + b->word_ms;
    c->h->delta(c->arg, demo_text + c->pos - len, len);
}

static void demo_tick(struct llm_backend *b, long long now_ms)
{
    struct llm_call *c;

    for (c = b->calls; c != NULL; c = c->next)
        if (!c->dead && c->due_ms <= now_ms)
            step(b, c, now_ms);
    sweep(b);
}

const struct llm_ops llm_demo_ops = {
    .kind = "demo",
    .open = demo_open,
    .close = demo_close,
    .start = demo_start,
    .cancel = demo_cancel,
    .next_ms = demo_next_ms,
    .tick = demo_tick,
};
