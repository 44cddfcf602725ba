/* agent/checks/runner.c - check lifecycle, scheduling, thresholds, TTLs.
 *
 * A check is a heap object with one uv_timer_t. For interval kinds the
 * timer fires when the next run is due; the kind's run() starts the work
 * (an "op": HTTP request, TCP connect, child process) and reports through
 * cn__check_result(), which applies Consul's StatusHandler thresholds,
 * calls back on a change, and re-arms the timer. For TTL checks the timer
 * is the expiry.
 *
 * Stopping: cn_check_stop() detaches the op (op->check = NULL), asks it
 * to abort, and closes the timer; the check is freed in the close
 * callback, i.e. on a later loop turn, so a callback that stops its own
 * check returns into code that may still read the (stopped) check. An op
 * outlives its check when it must: a script's process group is killed,
 * but the op keeps the process handle until libuv reaps the child. The
 * runner counts checks being closed and ops in flight and completes
 * cn_check_runner_close() only when both are zero.
 *
 * Schedule: due times are on uv_now()'s clock. The next run is due one
 * interval after the previous run was due (no drift from run time); a run
 * that ends after that starts the next one at once; a run more than one
 * interval late skips the missed slots. Lateness (start - due) feeds the
 * stats, which the benchmark reads.
 */
#include <errno.h>
#include <stdio.h>

#include "checks_int.h"

static void on_due(uv_timer_t *t);
static void on_ttl_expired(uv_timer_t *t);

int cn__check_err(char *errmsg, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, CN_ERRMSG_MAX, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- runner ---- */

int cn_check_runner_new(struct cn_check_runner **out,
                        const struct cn_check_runner_config *cfg, char *errmsg)
{
    struct cn_check_runner *r;
    if (!cfg->loop)
        return cn_errf_rc(errmsg, -EINVAL, "checks: no loop");
    if (cfg->output_max_bytes > CN_CHECK_OUTPUT_BYTES_MAX)
        return cn_errf_rc(errmsg, -EINVAL, "checks: check_output_max_size %zu over %d",
                          cfg->output_max_bytes, CN_CHECK_OUTPUT_BYTES_MAX);
    r = cn_calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->cfg = *cfg;
    r->cfg.tls_ca_file = NULL; /* Borrowed only during new; copied below. */
    if (cfg->tls_ca_file) {
        r->cfg.tls_ca_file = cn_strndup(cfg->tls_ca_file, strlen(cfg->tls_ca_file));
        if (!r->cfg.tls_ca_file) {
            cn_free(r);
            return -ENOMEM;
        }
    }
    r->loop = cfg->loop;
    r->log = cfg->log ? cfg->log : cn_log_process();
    r->output_max = cfg->output_max_bytes ? cfg->output_max_bytes
                                          : CN_CHECK_OUTPUT_BYTES_DEFAULT;
    r->min_interval_ms = cfg->min_interval_ms ? cfg->min_interval_ms
                                              : CN_CHECK_MIN_INTERVAL_MS;
    cn_prng_seed(&r->prng, cfg->seed ? cfg->seed : cn_rand_u64());
    uv_timer_init(r->loop, &r->anchor);
    r->anchor.data = r;
    *out = r;
    return 0;
}

static void maybe_finish_close(struct cn_check_runner *r)
{
    void (*cb)(void *) = r->close_cb;
    void *arg = r->close_arg;
    if (!r->closing || !r->anchor_closed || r->n_closing || r->n_ops)
        return;
    CN_ASSERT(r->checks == NULL);
    cn_free((char *)r->cfg.tls_ca_file);
    cn_free(r);
    if (cb)
        cb(arg);
}

static void on_anchor_closed(uv_handle_t *h)
{
    struct cn_check_runner *r = h->data;
    r->anchor_closed = true;
    maybe_finish_close(r);
}

void cn_check_runner_close(struct cn_check_runner *r, void (*cb)(void *), void *arg)
{
    CN_ASSERT(!r->closing);
    r->closing = true;
    r->close_cb = cb;
    r->close_arg = arg;
    while (r->checks)
        cn_check_stop(r->checks);
    cn_http_tls_free(r->tls_verify);
    cn_http_tls_free(r->tls_skip);
    r->tls_verify = r->tls_skip = NULL;
    uv_close((uv_handle_t *)&r->anchor, on_anchor_closed);
}

void cn_check_runner_stats(const struct cn_check_runner *r,
                           struct cn_check_runner_stats *out)
{
    *out = r->stats;
    out->runs_in_flight = r->n_ops;
}

int cn__check_tls(struct cn_check_runner *r, bool skip_verify,
                  struct cn_http_tls **out, char *errmsg)
{
    struct cn_http_tls **slot = skip_verify ? &r->tls_skip : &r->tls_verify;
    struct cn_http_tls_config cfg = {.skip_verify = skip_verify,
                                     .ca_file = r->cfg.tls_ca_file};
    int rc;
    if (!*slot) {
        rc = cn_http_tls_new(slot, &cfg, errmsg);
        if (rc < 0)
            return rc;
    }
    *out = *slot;
    return 0;
}

/* ---- reporting ---- */

static void report(struct cn_check *c, enum cn_check_status s, const char *out,
                   size_t len)
{
    struct cn_check_runner *r = c->r;
    uint64_t h = cn_hash(out, len);
    if (s == c->status && len == c->output_len && h == c->output_hash)
        return; /* Consul's UpdateCheck is idempotent; so are we. */
    if (c->type == CN_CHECK_TTL) {
        char *copy = cn_strndup(out, len);
        if (!copy) {
            cn_logf(r->log, CN_LOG_ERROR, "checks: %s: no memory for output",
                    cn__check_id(c));
            return; /* Nothing changes; the caller's next update retries. */
        }
        cn_free(c->ttl_output);
        c->ttl_output = copy;
    }
    c->output_hash = h;
    c->output_len = len;
    if (s == CN_CHECK_CRITICAL && c->status != CN_CHECK_CRITICAL)
        c->critical_since_ms = CN_MAX(uv_now(r->loop), 1);
    else if (s != CN_CHECK_CRITICAL)
        c->critical_since_ms = 0;
    c->status = s;
    r->stats.updates++;
    if (c->type == CN_CHECK_TTL)
        out = c->ttl_output; /* The caller's text need not be terminated. */
    CN_ASSERT(out[len] == '\0'); /* Kinds pass terminated text (checks.h). */
    c->in_cb = true;
    c->cb(c->ctx, c, s, out, len);
    c->in_cb = false; /* c is still allocated even if stopped (see top). */
}

/* Consul's StatusHandler.updateCheck (agent/checks/check.go). */
static void handle_result(struct cn_check *c, enum cn_check_status s,
                          const char *out, size_t len)
{
    if (s == CN_CHECK_PASSING || s == CN_CHECK_WARNING) {
        c->successes += c->successes < INT64_MAX;
        c->failures = 0;
        if (c->successes >= c->sbp)
            report(c, s, out, len);
        else
            cn_logf(c->r->log, CN_LOG_DEBUG, "checks: %s passed but has not reached "
                    "success threshold %lld/%lld", cn__check_id(c),
                    (long long)c->successes, (long long)c->sbp);
        return;
    }
    c->failures += c->failures < INT64_MAX;
    c->successes = 0;
    if (c->failures >= c->fbc)
        report(c, CN_CHECK_CRITICAL, out, len);
    else if (c->failures >= c->fbw)
        report(c, CN_CHECK_WARNING, out, len);
    else
        cn_logf(c->r->log, CN_LOG_DEBUG, "checks: %s failed but has not reached "
                "warning/failure threshold %lld/%lld/%lld", cn__check_id(c),
                (long long)c->failures, (long long)c->fbw, (long long)c->fbc);
}

/* ---- scheduling ---- */

static void arm_next(struct cn_check *c)
{
    uint64_t now = uv_now(c->r->loop);
    uv_timer_start(&c->timer, on_due, c->due_ms > now ? c->due_ms - now : 0, 0);
}

static void note_lateness(struct cn_check_runner *r, uint64_t late_ms)
{
    static const uint64_t bounds[] = {1, 10, 100, 1000};
    size_t i = 0;
    while (i < CN_ARRAY_LEN(bounds) && late_ms >= bounds[i])
        i++;
    r->stats.lateness_hist[i]++;
    r->stats.lateness_ms_sum += late_ms;
    if (late_ms > r->stats.lateness_ms_max)
        r->stats.lateness_ms_max = late_ms;
}

static void on_due(uv_timer_t *t)
{
    struct cn_check *c = t->data;
    struct cn_check_runner *r = c->r;
    uint64_t now, next;

    CN_ASSERT(!c->stopped);
    CN_ASSERT(c->op == NULL); /* Armed only between runs. */
    uv_update_time(r->loop);   /* Many timers may fire in one turn. */
    now = uv_now(r->loop);
    note_lateness(r, now > c->due_ms ? now - c->due_ms : 0);
    next = c->due_ms + c->interval_ms;
    c->due_ms = next > now ? next : now + c->interval_ms;
    r->stats.runs++;
    c->kind->run(c);
}

void cn__check_op_begin(struct cn_check *c, struct cn_check_op *op,
                        void (*abort)(struct cn_check_op *))
{
    CN_ASSERT(c->op == NULL);
    CN_ASSERT(!c->stopped);
    op->check = c;
    op->r = c->r;
    op->abort = abort;
    c->op = op;
    c->r->n_ops++;
}

void cn__check_result(struct cn_check_op *op, enum cn_check_status s,
                      const char *out, size_t out_len, unsigned flags)
{
    struct cn_check *c = op->check;
    if (!c)
        return; /* Detached: the check was stopped. */
    CN_ASSERT(c->op == op);
    CN_ASSERT(s >= CN_CHECK_PASSING && s <= CN_CHECK_CRITICAL);
    c->op = NULL;
    op->check = NULL;
    if (flags & CN__CHECK_BYPASS)
        report(c, s, out, out_len);
    else
        handle_result(c, s, out, out_len);
    if (!c->stopped)
        arm_next(c);
}

void cn__check_op_end(struct cn_check_op *op)
{
    struct cn_check_runner *r = op->r;
    CN_ASSERT(op->check == NULL); /* Reported or detached first. */
    CN_ASSERT(r->n_ops > 0);
    r->n_ops--;
    maybe_finish_close(r);
}

/* ---- TTL ---- */

static void on_ttl_expired(uv_timer_t *t)
{
    struct cn_check *c = t->data;
    char *msg = NULL;
    const char *prefix = "TTL expired";
    int n;

    c->r->stats.ttl_expiries++;
    cn_logf(c->r->log, CN_LOG_WARN, "checks: %s missed TTL, is now critical", cn__check_id(c));
    if (!c->ttl_output || c->output_len == 0) {
        report(c, CN_CHECK_CRITICAL, prefix, strlen(prefix));
        return;
    }
    n = (int)(c->output_len + 64);
    msg = cn_alloc((size_t)n);
    if (!msg) {
        report(c, CN_CHECK_CRITICAL, prefix, strlen(prefix));
        return;
    }
    n = snprintf(msg, (size_t)n, "%s (last output before timeout follows): %.*s", prefix,
                 (int)c->output_len, c->ttl_output);
    report(c, CN_CHECK_CRITICAL, msg, (size_t)n);
    cn_free(msg);
}

int cn_check_ttl_update(struct cn_check *c, enum cn_check_status s,
                        const char *output, size_t output_len)
{
    char *cut = NULL;
    int n;

    CN_ASSERT(!c->stopped);
    CN_ASSERT(!c->in_cb); /* See checks.h: not from the check's own callback. */
    if (c->type != CN_CHECK_TTL)
        return CN_ESTATE;
    if (s < CN_CHECK_PASSING || s > CN_CHECK_CRITICAL)
        return -EINVAL;
    /* CheckTTL.SetStatus: output[:max] + " ... (captured max of total bytes)". */
    if (output_len > c->output_max) {
        cut = cn_alloc(c->output_max + 64);
        if (!cut)
            return -ENOMEM;
        n = snprintf(cut, c->output_max + 64, "%.*s ... (captured %zu of %zu bytes)",
                     (int)c->output_max, output, c->output_max, output_len);
        output = cut;
        output_len = (size_t)n;
    }
    uv_timer_start(&c->timer, on_ttl_expired, c->ttl_ms, 0);
    report(c, s, output, output_len);
    cn_free(cut);
    return 0;
}

/* ---- start and stop ---- */

static uint64_t ns_to_ms(int64_t ns)
{
    return ns <= 0 ? 0 : ((uint64_t)ns + 999999u) / 1000000u;
}

static int pick_kind(struct cn_check_runner *r, const struct cn_check_def *def,
                     enum cn_check_type type, const struct cn__check_kind **kind,
                     char *errmsg)
{
    bool local = def->source == CN_CHECK_SOURCE_LOCAL;
    switch (type) {
    case CN_CHECK_TTL:
        *kind = NULL;
        return 0;
    case CN_CHECK_HTTP:
        *kind = &cn__check_http;
        return 0;
    case CN_CHECK_TCP:
        *kind = &cn__check_tcp;
        return 0;
    case CN_CHECK_SCRIPT:
        if (local && !r->cfg.enable_script_checks && !r->cfg.enable_local_script_checks)
            return cn__check_err(errmsg, CN_EDENIED, "Scripts are disabled on this agent; "
                              "to enable, configure 'enable_script_checks' or "
                              "'enable_local_script_checks' to true");
        if (!local && !r->cfg.enable_script_checks)
            return cn__check_err(errmsg, CN_EDENIED, "Scripts are disabled on this agent "
                              "from remote calls; to enable, configure "
                              "'enable_script_checks' to true");
        *kind = &cn__check_script;
        return 0;
    case CN_CHECK_TYPE_NONE:
        return cn__check_err(errmsg, CN_EBADREQ, "Check type is not valid");
    default:
        return cn__check_err(errmsg, CN_EUNSUPPORTED, "%s checks are not supported",
                          cn_check_type_name(type));
    }
}

static void setup_timing(struct cn_check *c)
{
    const struct cn_check_def *d = c->def;
    struct cn_check_runner *r = c->r;
    c->interval_ms = ns_to_ms(d->interval_ns);
    if (c->type != CN_CHECK_TTL && c->interval_ms < r->min_interval_ms) {
        cn_logf(r->log, CN_LOG_WARN, "checks: %s has interval below minimum of %llums",
                cn__check_id(c), (unsigned long long)r->min_interval_ms);
        c->interval_ms = r->min_interval_ms;
    }
    c->ttl_ms = CN_MAX(ns_to_ms(d->ttl_ns), 1);
    c->timeout_ms = ns_to_ms(d->timeout_ns);
    if (c->timeout_ms == 0)
        c->timeout_ms = c->type == CN_CHECK_SCRIPT ? CN_CHECK_SCRIPT_TIMEOUT_MS_DEFAULT
                                                   : CN_CHECK_TIMEOUT_MS_DEFAULT;
    /* The agent's check_output_max_size caps; a check may only lower it. */
    c->output_max = r->output_max;
    if (d->output_max_size > 0 && (uint64_t)d->output_max_size < c->output_max)
        c->output_max = (size_t)d->output_max_size;
    c->sbp = d->success_before_passing;
    c->fbc = d->failures_before_critical;
    c->fbw = d->failures_before_warning ? d->failures_before_warning : c->fbc;
    c->successes = c->sbp; /* NewStatusHandler: the first result shows. */
    c->failures = c->fbc;
}

static void arm_first(struct cn_check *c)
{
    struct cn_check_runner *r = c->r;
    uint64_t delay;
    if (c->type == CN_CHECK_TTL) {
        uv_timer_start(&c->timer, on_ttl_expired, c->ttl_ms, 0);
        return;
    }
    /* lib.RandomStagger: uniform in [0, Interval). */
    if (r->cfg.stagger)
        delay = r->cfg.stagger(r->cfg.stagger_ctx, c->interval_ms);
    else
        delay = cn_prng_below(&r->prng, c->interval_ms);
    if (delay >= c->interval_ms)
        delay = c->interval_ms - 1;
    c->due_ms = uv_now(r->loop) + delay;
    uv_timer_start(&c->timer, on_due, delay, 0);
}

int cn_check_start(struct cn_check_runner *r, const struct cn_check_def *def,
                   cn_check_update_fn *cb, void *ctx, struct cn_check **out,
                   char *errmsg)
{
    const struct cn__check_kind *kind = NULL;
    enum cn_check_type type;
    struct cn_check *c;
    int rc;

    CN_ASSERT(cb != NULL);
    if (r->closing)
        return cn__check_err(errmsg, CN_ECLOSED, "checks: runner is closing");
    rc = cn_check_def_validate(def, errmsg);
    if (rc < 0)
        return rc;
    type = cn_check_def_type(def);
    rc = pick_kind(r, def, type, &kind, errmsg);
    if (rc < 0)
        return rc;
    c = cn_calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    rc = cn_check_def_clone(def, &c->def);
    if (rc < 0) {
        cn_free(c);
        return cn_errf_rc(errmsg, rc, "checks: definition: %s", cn_strerror(rc));
    }
    c->r = r;
    c->type = type;
    c->kind = kind;
    c->cb = cb;
    c->ctx = ctx;
    c->status = def->status ? def->status : CN_CHECK_CRITICAL;
    c->output_hash = cn_hash("", 0); /* Output starts empty. */
    if (c->status == CN_CHECK_CRITICAL)
        c->critical_since_ms = CN_MAX(uv_now(r->loop), 1);
    setup_timing(c);
    rc = kind ? kind->prepare(c, errmsg) : 0;
    if (rc < 0) {
        cn_check_def_free(c->def);
        cn_free(c);
        return rc;
    }
    uv_timer_init(r->loop, &c->timer);
    c->timer.data = c;
    c->next = r->checks;
    if (r->checks)
        r->checks->prev = c;
    r->checks = c;
    r->stats.checks++;
    arm_first(c);
    *out = c;
    return 0;
}

static void on_check_closed(uv_handle_t *h)
{
    struct cn_check *c = h->data;
    struct cn_check_runner *r = c->r;
    if (c->kind && c->kind->free_prep)
        c->kind->free_prep(c->prep);
    cn_check_def_free(c->def);
    cn_free(c->ttl_output);
    cn_free(c);
    CN_ASSERT(r->n_closing > 0);
    r->n_closing--;
    maybe_finish_close(r);
}

void cn_check_stop(struct cn_check *c)
{
    struct cn_check_runner *r = c->r;
    struct cn_check_op *op = c->op;

    CN_ASSERT(!c->stopped);
    c->stopped = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->checks = c->next;
    if (c->next)
        c->next->prev = c->prev;
    r->stats.checks--;
    if (op) {
        c->op = NULL;
        op->check = NULL;
        op->abort(op); /* May finish (and free) the op right here. */
    }
    r->n_closing++;
    uv_close((uv_handle_t *)&c->timer, on_check_closed);
}

/* ---- accessors ---- */

enum cn_check_status cn_check_status(const struct cn_check *c)
{
    return c->status;
}

uint64_t cn_check_critical_since_ms(const struct cn_check *c)
{
    return c->status == CN_CHECK_CRITICAL ? c->critical_since_ms : 0;
}

enum cn_check_type cn_check_type(const struct cn_check *c) { return c->type; }

const struct cn_check_def *cn_check_def(const struct cn_check *c) { return c->def; }
