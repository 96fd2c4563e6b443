/* llm_backend.h - what llm.c asks of a backend (llm_demo.c, llm_curl.c):
 * the same calls as llm.h, behind one const ops table. Internal to
 * fcgi/llm/. */
#ifndef PULSE_LLM_BACKEND_H
#define PULSE_LLM_BACKEND_H

#include "llm/llm.h"

struct llm_backend;

struct llm_ops {
    const char *kind;
    struct llm_backend *(*open)(const struct llm_opts *opts);
    void (*close)(struct llm_backend *b);
    struct llm_call *(*start)(struct llm_backend *b, const char *messages_json, const struct llm_handler *h,
                              void *arg);
    void (*cancel)(struct llm_backend *b, struct llm_call *c);
    long (*next_ms)(struct llm_backend *b, long long now_ms);
    void (*tick)(struct llm_backend *b, long long now_ms);
};

extern const struct llm_ops llm_demo_ops;
extern const struct llm_ops llm_curl_ops;

#endif
