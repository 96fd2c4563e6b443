/* batch_main.c - pulse-batch, the batching request responder (batch.h):
 * pulse-api's routes on one epoll loop, for connections the web server
 * keeps open and requests that commit together.
 *
 * Spawned like the stream responder, with the listening FastCGI socket as
 * fd 0 (spawn-fcgi, or lighttpd's bin-path). One process: its transactions
 * are serial anyway, and a batch amortises a commit over the requests that
 * arrived during the previous one.
 *
 * It is also the AI chat's generator (request/gen.h): the answers to chat
 * messages are produced here, on the same loop, from the language model
 * (llm/llm.h), whichever process took the message. And it makes the calls
 * to other services (request/sender.h: agents' answers to Facebook, Zalo
 * and TikTok, PayOS reconciliation) through the loop's outbound client
 * (out/out.h), so no request responder ever waits on them. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "handlers/routes.h"
#include "llm/llm.h"
#include "out/out.h"
#include "request/batch.h"
#include "request/gen.h"
#include "request/runtime.h"
#include "request/sender.h"
#include "wire/loop.h"
#include "wire/prefork.h"
#include "wire/proc.h"

#define TICK_MS 1000
#define WORK_IDLE_MS 2000 /* pulse work: exits after this long with nothing to do */

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static struct llm *open_llm(const struct config *cfg)
{
    struct llm_opts o = {
        .url = cfg->llm_url,
        .model = cfg->llm_model,
        .api_key = cfg->llm_api_key,
        .timeout_s = cfg->llm_timeout_s,
        .max_bytes = (size_t)cfg->llm_max_bytes,
        .demo_word_ms = cfg->llm_demo_ms,
    };
    struct llm *l = llm_open(&o);

    if (l != NULL)
        log_info("chat answers come from %s", cfg->llm_url && cfg->llm_url[0] ? cfg->llm_url : "the demo model");
    return l;
}

/* pulse work: 1 when the worker is done (idle for WORK_IDLE_MS, no send
 * due again later nor answer streaming, its slot let go, and no answer or
 * send waiting after that: one posted meanwhile saw the slot held and
 * started no worker), 0 to go on (*lock held again). */
static int work_done(const struct config *cfg, struct gen *gen, struct sender *snd, long long now,
                     long long *idle_since, int *lock)
{
    if ((gen != NULL && gen_running(gen) > 0) || (snd != NULL && sender_running(snd) > 0))
        *idle_since = now;
    if (now - *idle_since < WORK_IDLE_MS)
        return 0;
    /* (a send tried again later, an answer whose worker was killed and
     * whose lease has yet to run out: no request may come to start one) */
    if ((snd != NULL && sender_waiting(snd) != 0) || (gen != NULL && gen_waiting(gen) != 0)) {
        *idle_since = now;
        return 0;
    }
    close(*lock);
    *lock = -1;
    if ((gen == NULL || gen_waiting(gen) == 0) && (snd == NULL || sender_waiting(snd) == 0))
        return 1;
    if ((*lock = proc_work_lock(cfg->data_dir)) < 0)
        return 1;
    *idle_since = now;
    return 0;
}

/* work: "pulse work" (proc.h: where no pulse-batch runs), the loop
 * without requests, held by the work slot and ended when idle. */
static int run(int work)
{
    struct runtime *rt = NULL;
    struct batch *batch = NULL;
    struct llm *llm = NULL;
    struct gen *gen = NULL;
    struct out *http_out = NULL;
    struct sender *snd = NULL;
    const struct config *cfg = NULL;
    long long idle_since = clock_ms();
    int rc = 1, wait_ms = 0; /* the first turn at once: answers waiting for a generator, sends due */
    int lock = -1;

    if (proc_start(work ? "pulse-work" : "pulse-batch", on_stop, work ? PROC_DETACHED : PROC_LISTENING, &cfg) != 0)
        goto out;
    if (work && (lock = proc_work_lock(cfg->data_dir)) < 0) {
        rc = 0; /* another worker runs */
        goto out;
    }
    /* Before anything is opened: SQLite connections must not cross a fork. */
    if (!work && (rc = prefork_keep("pulse-batch", cfg->workers, &stopping)) != 0) {
        rc = rc == 1 ? 0 : 1; /* the supervisor is done */
        goto out;
    }
    rc = 1;
    metrics_open(cfg->data_dir);
    rt = runtime_open(cfg, routes_all, routes_all_count);
    if (runtime_err(rt)) {
        log_error("%s", runtime_errstr(rt));
        goto out;
    }
    runtime_checkpoint_in_background(rt);
    if (loop_init() != 0 || (!work && (batch = batch_start(rt, 0)) == NULL)) {
        log_error("cannot start the loop: %s", strerror(errno));
        goto out;
    }
    /* An edge's database is a copy of the log: there is nothing to answer. */
    if (cfg->role != ROLE_EDGE) {
        if ((llm = open_llm(cfg)) == NULL)
            goto out;
        gen = gen_start(rt, llm, &chat_gen_hooks, (size_t)cfg->llm_concurrency);
        if ((http_out = out_open()) == NULL)
            goto out;
        snd = sender_start(rt, http_out, send_all, send_all_count, cfg->send_timeout_s * 1000);
    }
    while (!stopping) {
        long long now;
        int due;

        if (loop_run_once(wait_ms) < 0) {
            log_error("epoll: %s", strerror(errno));
            break;
        }
        now = clock_ms();
        wait_ms = TICK_MS;
        if (batch != NULL) {
            batch_flush(batch);
            due = batch_announce(batch, now);
            wait_ms = due >= 0 ? due : TICK_MS;
            batch_tick(batch, now);
        }
        if (gen != NULL) {
            gen_run(gen, now);
            due = (int)gen_next_ms(gen, clock_ms());
            if (due < wait_ms)
                wait_ms = due;
        }
        if (snd != NULL) {
            sender_run(snd, clock_ms());
            due = (int)sender_next_ms(snd, clock_ms());
            if (due < wait_ms)
                wait_ms = due;
        }
        if (work && work_done(cfg, gen, snd, clock_ms(), &idle_since, &lock))
            break;
    }
    rc = 0;
out:
    gen_stop(gen);
    llm_close(llm);
    sender_stop(snd);
    out_close(http_out);
    batch_stop(batch);
    loop_close();
    runtime_close(rt);
    metrics_close();
    if (lock >= 0)
        close(lock);
    return rc;
}

int main(void)
{
    return run(0);
}

/* pulse work, in the one binary (pulse_main.c) */
int batch_work_main(void);
int batch_work_main(void)
{
    return run(1);
}
