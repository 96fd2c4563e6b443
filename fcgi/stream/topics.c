/* topics.c - the stream responder's topic index (see hub.h): a hash of
 * topic names, each with its list of subscriptions; a connection holds its
 * own (inside it for one topic, an array for more), so a disconnect costs
 * O(its topics). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "stream/hub.h"

unsigned hub_hash(const char *name)
{
    unsigned h = 2166136261u; /* FNV-1a */

    while (*name)
        h = (h ^ (unsigned char)*name++) * 16777619u;
    return h;
}

static unsigned topic_hash(const char *name)
{
    return hub_hash(name) % HUB_TOPIC_BUCKETS;
}

struct topic *topics_find(struct stream *s, const char *name)
{
    struct topic *t;

    for (t = s->buckets[topic_hash(name)]; t; t = t->hnext)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static struct topic *topic_get(struct stream *s, const char *name)
{
    struct topic *t = topics_find(s, name);
    unsigned h;

    if (t != NULL)
        return t;
    h = topic_hash(name);
    t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    t->hnext = s->buckets[h];
    s->buckets[h] = t;
    return t;
}

static void topic_release(struct stream *s, struct topic *t)
{
    struct topic **pp;

    if (t->count > 0)
        return;
    for (pp = &s->buckets[topic_hash(t->name)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == t) {
            *pp = t->hnext;
            break;
        }
    }
    free(t->name);
    free(t);
}

void topics_subscribe(struct stream *s, struct conn *c, char *const *names, int n)
{
    int i;

    c->subs = n == 1 ? &c->sub1 : xcalloc((size_t)n, sizeof *c->subs);
    c->ntopics = (uint8_t)n;
    for (i = 0; i < n; i++) {
        struct sub *sub = &c->subs[i];
        sub->c = c;
        sub->t = topic_get(s, names[i]);
        sub->prev = NULL;
        sub->next = sub->t->subs;
        if (sub->next)
            sub->next->prev = sub;
        sub->t->subs = sub;
        sub->t->count++;
    }
}

void topics_unsubscribe(struct stream *s, struct conn *c)
{
    int i;

    for (i = 0; i < c->ntopics; i++) {
        struct sub *sub = &c->subs[i];
        if (sub->prev)
            sub->prev->next = sub->next;
        else
            sub->t->subs = sub->next;
        if (sub->next)
            sub->next->prev = sub->prev;
        sub->t->count--;
        topic_release(s, sub->t);
    }
    if (c->subs != &c->sub1)
        free(c->subs);
    c->subs = NULL;
    c->ntopics = 0;
}
