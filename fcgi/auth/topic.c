/* topic.c - topic names (see topic.h). */
#include "auth/topic.h"

#include <string.h>

/* Each kind's name: its prefix, followed by the id when it takes one. */
static const struct {
    enum topic_kind kind;
    const char *prefix;
    int takes_id;
} kinds[] = {
    {TOPIC_ROOM, "room:", 1},
    {TOPIC_TOPUP, "topup:", 1},
    {TOPIC_CHAT, "chat:", 1},
    {TOPIC_CRM, TOPIC_CRM_NAME, 0},
};

#define NKINDS (sizeof kinds / sizeof kinds[0])

int topic_name_n(char out[TOPIC_MAX], enum topic_kind kind, const char *id, size_t idlen)
{
    size_t i, plen;

    out[0] = '\0';
    for (i = 0; i < NKINDS && kinds[i].kind != kind; i++)
        ;
    if (i == NKINDS)
        return -1;
    if (kinds[i].takes_id ? id == NULL || idlen == 0 || idlen > HTTP_MAX_ID : id != NULL)
        return -1;
    plen = strlen(kinds[i].prefix);
    memcpy(out, kinds[i].prefix, plen);
    if (id != NULL)
        memcpy(out + plen, id, idlen);
    out[plen + (id != NULL ? idlen : 0)] = '\0';
    return 0;
}

int topic_name(char out[TOPIC_MAX], enum topic_kind kind, const char *id)
{
    return topic_name_n(out, kind, id, id != NULL ? strlen(id) : 0);
}

enum topic_kind topic_kind(const char *topic, const char **id)
{
    size_t i, plen;

    for (i = 0; i < NKINDS; i++) {
        plen = strlen(kinds[i].prefix);
        if (strncmp(topic, kinds[i].prefix, plen) != 0)
            continue;
        if (!kinds[i].takes_id && topic[plen] != '\0')
            continue;
        *id = topic + plen;
        return kinds[i].kind;
    }
    *id = "";
    return TOPIC_OTHER;
}
