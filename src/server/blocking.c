/* server/blocking.c - blocking queries (consul-compat.md section 3).
 *
 * A read with ?index=N answers at once if its result's index is above N;
 * otherwise the call parks with a state watch on exactly what it read and
 * a timer for wait plus up to wait/16 of jitter. A firing watch re-runs
 * the query (no proof of change is needed: returning is allowed to be
 * spurious); the timer re-runs it one last time and answers whatever it
 * finds, possibly with the same index. Wake-up is synchronous with the
 * apply that changed the data, so latency is that of one loop turn.
 */
#include <errno.h>

#include "server_int.h"

static void bq_unlink(struct cn_server *s, struct cn_bq *bq)
{
    if (bq->prev)
        bq->prev->next = bq->next;
    else
        s->parked = bq->next;
    if (bq->next)
        bq->next->prev = bq->prev;
    bq->next = bq->prev = NULL;
    s->stats.parked_now--;
}

static void on_bq_timer_closed(uv_handle_t *h)
{
    struct cn_bq *bq = h->data;
    struct cn_server *s = bq->srv;
    cn_free(bq);
    s->open_handles--;
    if (s->closing && s->open_handles == 0) {
        /* cn_server_close is waiting on the last timer. */
        cn__server_maybe_closed(s);
    }
}

/* Detaches bq from its call and frees it (asynchronously, timer close). */
static void bq_release(struct cn_server *s, struct cn_bq *bq)
{
    cn_state_watch_cancel(s->state, &bq->watch);
    uv_timer_stop(&bq->timer);
    if (bq->call)
        bq->call->callee_priv = NULL;
    bq->call = NULL;
    bq_unlink(s, bq);
    uv_close((uv_handle_t *)&bq->timer, on_bq_timer_closed);
}

static void rerun(struct cn_bq *bq, bool timed_out)
{
    struct cn_server *s = bq->srv;
    struct cn_rpc_call *call = bq->call;
    CN_ASSERT(call != NULL);
    /* The query decides again: answer, or re-park on the same bq. */
    bq->run(s, call, timed_out);
}

static void on_watch(struct cn_watch *w)
{
    rerun(w->ctx, false);
}

static void on_timeout(uv_timer_t *t)
{
    rerun(t->data, true);
}

bool cn__bq_park_if_needed(struct cn_server *s, struct cn_rpc_call *call,
                           const struct cn_query_opts *q, uint64_t result_index,
                           bool timed_out, cn_bq_run_fn *run,
                           cn_bq_arm_fn *arm, void *arm_arg)
{
    struct cn_bq *bq = call->callee_priv;
    uint64_t wait_ms;
    int rc;

    if (q->min_index == 0 || result_index > q->min_index || timed_out ||
        s->closing) {
        if (bq)
            bq_release(s, bq);
        return false;
    }
    if (!bq) {
        bq = cn_calloc(1, sizeof *bq);
        if (!bq)
            return false; /* Answer now: allowed, clients loop. */
        bq->srv = s;
        bq->call = call;
        bq->run = run;
        bq->watch.fn = on_watch;
        bq->watch.ctx = bq;
        uv_timer_init(s->loop, &bq->timer);
        bq->timer.data = bq;
        s->open_handles++;
        bq->next = s->parked;
        if (s->parked)
            s->parked->prev = bq;
        s->parked = bq;
        s->stats.parked_now++;
        s->stats.parked_total++;
        call->callee_priv = bq;
        wait_ms = q->wait_ms ? q->wait_ms : CN_QUERY_WAIT_DEFAULT_MS;
        if (wait_ms > CN_QUERY_WAIT_MAX_MS)
            wait_ms = CN_QUERY_WAIT_MAX_MS;
        /* Jitter spreads the herd of clients that all started together. */
        wait_ms += cn_prng_below(&s->prng, wait_ms / CN_QUERY_JITTER_FRACTION + 1);
        uv_timer_start(&bq->timer, on_timeout, wait_ms, 0);
    }
    rc = arm(s, &bq->watch, arm_arg);
    if (rc < 0) {
        bq_release(s, bq);
        return false;
    }
    return true;
}

void cn_server_cancel(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_bq *bq = call->callee_priv;
    if (bq)
        bq_release(s, bq);
}

void cn__bq_cancel_all(struct cn_server *s)
{
    while (s->parked) {
        struct cn_bq *bq = s->parked;
        struct cn_rpc_call *call = bq->call;
        bq_release(s, bq);
        if (call)
            cn__server_reply(s, call, CN_ECLOSED, "server shutting down");
    }
}
