/* gen.h - the generator: answers produced on the server, once, by the
 * language model (llm/llm.h), many at once on the process's loop, and
 * written through the runtime as a request's work is (runtime_work). Text
 * that arrives between two commits goes in as one piece (one event); the
 * domain's hooks (struct gen_hooks, handler.h: which rows, which events)
 * are handed in by the main, as the routes are.
 *
 * An answer's text is logged delta by delta; its row takes it in now and
 * then (gen_row_every) and whole at its end.
 *
 * An answer is held by a lease the generator renews; a cancel (the row
 * ended by a request, on any host) is seen at the next commit of text or
 * the next renewal, whichever comes first, and closes the upstream. */
#ifndef PULSE_GEN_H
#define PULSE_GEN_H

#include <stddef.h>

struct config;
struct gen;
struct llm;
struct runtime;
struct gen_hooks;

/* A generator writing through rt with the model llm (both borrowed),
 * running at most max answers at once. Never NULL. */
struct gen *gen_start(struct runtime *rt, struct llm *llm, const struct gen_hooks *hooks, size_t max);
/* Milliseconds until gen_run has work, at most the probe interval. */
long gen_next_ms(struct gen *g, long long now_ms);
/* Runs what is due: the model's timers, the commit of what arrived, lease
 * renewal, a probe for new answers. Call after each loop iteration. */
void gen_run(struct gen *g, long long now_ms);
/* The answers still running end as error "interrupted" (their text kept);
 * frees g. NULL is a no-op. */
void gen_stop(struct gen *g);
/* How many answers run now. */
size_t gen_running(const struct gen *g);
/* 1 when an answer waits for a generator (none holds it, or its lease ran
 * out) or streams under a lease (gen_hooks.later: another generator's,
 * which may have died), 0 when none does, -1 when the store cannot tell
 * now. */
int gen_waiting(struct gen *g);
/* After how many deltas at most an answer's row takes in its text, for a
 * log kept as cfg says (1: at every delta, when retention is too short to
 * keep the deltas in between). */
int gen_row_every(const struct config *cfg);

#endif
