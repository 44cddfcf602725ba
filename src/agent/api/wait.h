/* agent/api/wait.h - agent-local blocking requests (wait.c). */
#ifndef CN_API_WAIT_H
#define CN_API_WAIT_H

#include "agent/agent_int.h"

/* Called with probe true on every change: return true if the request
 * should be answered now. Then (or on timeout) called once with probe
 * false: answer (finish req); the return value is ignored. */
typedef bool cn__wait_fn(struct cn_http_req *req, void *arg, bool timed_out, bool probe);

struct cn__waiter {
    struct cn_agent *a;
    struct cn_http_req *req;
    cn__wait_fn *fn;
    void *arg;                 /* Request arena memory. */
    uv_timer_t timer;
    struct cn__waiter *next, *prev;
};

/* 0 or -ENOMEM (then answer at once). wait_ms 0: 5 min; jitter added. */
int cn__wait_park(struct cn_http_req *req, uint64_t wait_ms, cn__wait_fn *fn, void *arg);
/* Something changed: every waiter probes. */
void cn__wait_notify(struct cn_agent *a);
/* Shutdown: every waiter answers now. */
void cn__wait_close_all(struct cn_agent *a);

#endif
