/* llm.c - the backend the options ask for (see llm.h). */
#include "llm/llm.h"

#include <stdlib.h>

#include "base/alloc.h"
#include "llm/llm_backend.h"

struct llm {
    const struct llm_ops *ops;
    struct llm_backend *b;
};

struct llm *llm_open(const struct llm_opts *opts)
{
    struct llm *l = xcalloc(1, sizeof *l);

    l->ops = opts->url != NULL && opts->url[0] != '\0' ? &llm_curl_ops : &llm_demo_ops;
    l->b = l->ops->open(opts);
    if (l->b == NULL) {
        free(l);
        return NULL;
    }
    return l;
}

void llm_close(struct llm *l)
{
    if (l == NULL)
        return;
    l->ops->close(l->b);
    free(l);
}

const char *llm_kind(const struct llm *l)
{
    return l->ops->kind;
}

struct llm_call *llm_start(struct llm *l, const char *messages_json, const struct llm_handler *h, void *arg)
{
    return l->ops->start(l->b, messages_json, h, arg);
}

void llm_cancel(struct llm *l, struct llm_call *c)
{
    if (c != NULL)
        l->ops->cancel(l->b, c);
}

long llm_next_ms(struct llm *l, long long now_ms)
{
    return l->ops->next_ms(l->b, now_ms);
}

void llm_tick(struct llm *l, long long now_ms)
{
    l->ops->tick(l->b, now_ms);
}
