/* server/blocking.c - blocking queries (consul-compat.md section 3).
 *
 * A read with ?index=N answers at once if its result's index is above N;
 * otherwise the call parks with a state watch on exactly what it read and
 * a timer for wait plus up to wait/16 of jitter. A firing watch re-runs
 * the query (returning is allowed to be spurious); the timer re-runs it
 * one last time and answers whatever it finds, possibly with the same
 * index. Wake-up is synchronous with the apply that changed the data, so
 * its latency is that of one loop turn.
 */
#include <errno.h>

#include "server_int.h"

static void on_bq_timer_closed(uv_handle_t *h)
{
    struct cn_bq *bq = h->data;
    struct cn_server *s = bq->op.srv;
    cn_free(bq);
    s->open_handles--;
    cn__server_maybe_closed(s);
}

/* Detaches bq from its call and frees it (asynchronously: timer close). */
static void bq_release(struct cn_server *s, struct cn_bq *bq)
{
    cn_state_watch_cancel(s->state, &bq->watch);
    uv_timer_stop(&bq->timer);
    if (bq->op.call)
        bq->op.call->callee_priv = NULL;
    bq->op.call = NULL;
    cn__op_unlink(&s->parked, &bq->op);
    s->stats.parked_now--;
    uv_close((uv_handle_t *)&bq->timer, on_bq_timer_closed);
}

static void rerun(struct cn_bq *bq, bool timed_out)
{
    struct cn_rpc_call *call = bq->op.call;
    CN_ASSERT(call != NULL);
    /* The query decides again: answer, or re-park on the same bq. */
    bq->run(bq->op.srv, call, timed_out);
}

static void on_watch(struct cn_watch *w) { rerun(w->ctx, false); }
static void on_timeout(uv_timer_t *t) { rerun(t->data, true); }

static struct cn_bq *bq_new(struct cn_server *s, struct cn_rpc_call *call,
                            const struct cn_query_opts *q, cn_bq_run_fn *run)
{
    struct cn_bq *bq = cn_calloc(1, sizeof *bq);
    uint64_t wait_ms;
    if (!bq)
        return NULL;
    bq->op.kind = OP_BQ;
    bq->op.srv = s;
    bq->op.call = call;
    bq->run = run;
    bq->watch.fn = on_watch;
    bq->watch.ctx = bq;
    uv_timer_init(s->loop, &bq->timer);
    bq->timer.data = bq;
    s->open_handles++;
    cn__op_link(&s->parked, &bq->op);
    s->stats.parked_now++;
    s->stats.parked_total++;
    call->callee_priv = bq;
    wait_ms = q->wait_ms ? q->wait_ms : CN_QUERY_WAIT_DEFAULT_MS;
    if (wait_ms > CN_QUERY_WAIT_MAX_MS)
        wait_ms = CN_QUERY_WAIT_MAX_MS;
    /* Jitter spreads the herd of clients that all started together. */
    wait_ms += cn_prng_below(&s->prng, wait_ms / CN_QUERY_JITTER_FRACTION + 1);
    uv_timer_start(&bq->timer, on_timeout, wait_ms, 0);
    return bq;
}

bool cn__bq_park_if_needed(struct cn_server *s, struct cn_rpc_call *call,
                           const struct cn_query_opts *q, uint64_t result_index,
                           bool timed_out, cn_bq_run_fn *run, cn_bq_arm_fn *arm,
                           void *arm_arg)
{
    struct cn__op *op = call->callee_priv;
    struct cn_bq *bq = op && op->kind == OP_BQ ? (struct cn_bq *)op : NULL;

    if (q->min_index == 0 || result_index > q->min_index || timed_out || s->closing) {
        if (bq)
            bq_release(s, bq);
        return false;
    }
    if (!bq && !(bq = bq_new(s, call, q, run)))
        return false; /* Answer now: allowed, clients loop. */
    if (arm(s, &bq->watch, arm_arg) < 0) {
        bq_release(s, bq);
        return false;
    }
    return true;
}

void cn__bq_cancel(struct cn_server *s, struct cn_bq *bq)
{
    bq_release(s, bq);
}

void cn__bq_cancel_all(struct cn_server *s)
{
    while (s->parked) {
        struct cn_bq *bq = (struct cn_bq *)s->parked;
        struct cn_rpc_call *call = bq->op.call;
        bq_release(s, bq);
        if (call)
            cn__server_reply(s, call, CN_ECLOSED, "server shutting down");
    }
}
