/* agent/api/wait.c - agent-local blocking: requests parked until the
 * agent's own state changes (hash-based /v1/agent/service/:id, the
 * special index of /v1/event/list) or their wait runs out.
 *
 * A waiter's check function decides on every change whether to answer
 * (and finishes the request) or to keep waiting; a timeout runs it once
 * more with timed_out set, when it must answer. */
#include <errno.h>

#include "api_int.h"
#include "wait.h"

static void on_closed(uv_handle_t *h)
{
    cn_free(h->data);
}

static void waiter_free(struct cn__waiter *w)
{
    struct cn_agent *a = w->a;
    if (w->prev)
        w->prev->next = w->next;
    else if (a->waiters == w)
        a->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_closed);
}

static void run(struct cn__waiter *w, bool timed_out)
{
    struct cn_http_req *req = w->req;
    /* The request is unhooked first: answering finishes it. */
    if (!timed_out && !w->fn(req, w->arg, false, true))
        return;
    waiter_free(w);
    req->handler_ctx = NULL;
    cn_http_on_cancel(req, NULL);
    w->fn(req, w->arg, true, false);
}

static void on_timeout(uv_timer_t *t)
{
    run(t->data, true);
}

static void on_cancel(struct cn_http_req *req)
{
    struct cn__waiter *w = req->handler_ctx;
    if (w)
        waiter_free(w);
}

int cn__wait_park(struct cn_http_req *req, uint64_t wait_ms, cn__wait_fn *fn, void *arg)
{
    struct cn_agent *a = req->app;
    struct cn__waiter *w = cn_calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->a = a;
    w->req = req;
    w->fn = fn;
    w->arg = arg;
    if (!wait_ms)
        wait_ms = CN_QUERY_WAIT_DEFAULT_MS;
    wait_ms += cn_rand_u64() % (wait_ms / CN_QUERY_JITTER_FRACTION + 1);
    uv_timer_init(a->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_timeout, wait_ms, 0);
    w->next = a->waiters;
    if (a->waiters)
        a->waiters->prev = w;
    a->waiters = w;
    req->handler_ctx = w;
    cn_http_on_cancel(req, on_cancel);
    return 0;
}

void cn__wait_notify(struct cn_agent *a)
{
    struct cn__waiter *w = a->waiters, *next;
    for (; w; w = next) {
        next = w->next;
        run(w, false);
    }
}

void cn__wait_close_all(struct cn_agent *a)
{
    while (a->waiters)
        run(a->waiters, true);
}
