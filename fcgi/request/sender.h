/* sender.h - calls to other services made from pulse-batch: jobs the
 * domains' hooks (struct send_hooks, handler.h) claim by lease from the
 * database, sent through the loop's outbound client (out/out.h), many at
 * once, each answer handed back to its domain in a unit of work
 * (runtime_work). Nothing here blocks the loop: a request responder only
 * writes the job's row, whichever process or host it runs in, and exactly
 * one sender holds a job at a time.
 *
 * What a job's answer means (sent, failed, tried again later) is the
 * domain's to say; the sender only carries it. */
#ifndef PULSE_SENDER_H
#define PULSE_SENDER_H

#include <stddef.h>

struct out;
struct runtime;
struct send_hooks;

/* A sender for the n domains' hooks (the array is borrowed, as are rt and
 * out), each attempt given timeout_ms of silence. Never NULL. */
struct sender *sender_start(struct runtime *rt, struct out *out, const struct send_hooks *const *hooks, size_t n,
                            long timeout_ms);
/* Milliseconds until sender_run has work. */
long sender_next_ms(struct sender *s, long long now_ms);
/* Runs what is due: the client's timers, answers to hand back, a probe
 * for new jobs. Call after each loop iteration. */
void sender_run(struct sender *s, long long now_ms);
/* Cancels the calls under way (their leases run out, and another sender
 * takes them); frees s. NULL is a no-op. */
void sender_stop(struct sender *s);
/* Calls under way. */
size_t sender_running(const struct sender *s);
/* 1 when a job waits, due now or later (a retry: send_hooks.later), 0
 * when none, -1 when the store could not say. */
int sender_waiting(struct sender *s);

#endif
