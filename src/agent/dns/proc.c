/* agent/dns/proc.c - a query's life, and the server object.
 *
 *   packet -> parse -> plan -> immediate reply (errors, addr, NODATA)
 *                           -> lookup (backend) -> *_done -> compile -> reply
 *                           -> forward (recursors) -> reply
 *
 * A query waiting for its backend is in `inflight` (lookup id -> query)
 * and in a list ordered by deadline (all lookups share one timeout, so
 * arrival order is deadline order); the sweep (net.c's timer, or tests)
 * expires the head of the list. *_done() finds the query by id: an id
 * that is not there (expired, cancelled, done) is ignored, so a late or
 * duplicate completion can never touch freed memory. A backend may
 * complete inside the lookup call; lookup_start() therefore never touches
 * the query after calling the backend.
 *
 * Queries are recycled through a free list; the per-query path with a
 * cached answer allocates nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "dns_int.h"
#include <ldns/ldns.h>   /* after dns_int.h: see there */

#define FREE_QS_KEEP 256        /* recycled query structs kept */
#define ARENA_BYTES_MAX (4u << 20)

/* ---- query structs ---- */

struct cn__dns_q *cn__dns_q_new(struct cn_dns_server *s)
{
    struct cn__dns_q *q;
    if (s->n_qs >= CN_DNS_INFLIGHT_MAX) {
        s->stats.dropped_overload++;
        return NULL;
    }
    q = s->free_qs;
    if (q) {
        s->free_qs = q->next;
        s->n_free--;
    } else {
        q = cn_alloc(sizeof *q);
        if (!q) {
            s->stats.dropped_overload++;
            return NULL;
        }
    }
    memset(q, 0, offsetof(struct cn__dns_q, req));
    q->raw = NULL;
    q->fwd = NULL;
    q->raw_len = 0;
    q->rec_i = 0;
    s->n_qs++;
    return q;
}

void cn__dns_q_free(struct cn_dns_server *s, struct cn__dns_q *q)
{
    CN_ASSERT(!q->in_map && !q->fwd);
    CN_ASSERT(s->n_qs > 0);
    s->n_qs--;
    cn_free(q->raw);
    q->raw = NULL;
    if (q->tr == TR_TCP)
        cn__dns_net_tcp_done(s, q);
    if (s->n_free < FREE_QS_KEEP && !s->closing) {
        q->next = s->free_qs;
        s->free_qs = q;
        s->n_free++;
    } else {
        cn_free(q);
    }
}

/* ---- replies ---- */

void cn__dns_count_rcode(struct cn_dns_server *s, int rcode)
{
    switch (rcode) {
    case RC_NOERROR: s->stats.noerror++; break;
    case RC_FORMERR: s->stats.formerr++; break;
    case RC_SERVFAIL: s->stats.servfail++; break;
    case RC_NXDOMAIN: s->stats.nxdomain++; break;
    case RC_NOTIMP: s->stats.notimp++; break;
    case RC_REFUSED: s->stats.refused++; break;
    default: break;
    }
}

void cn__dns_send(struct cn_dns_server *s, struct cn__dns_q *q,
                  const uint8_t *wire, size_t len)
{
    s->stats.responses++;
    switch (q->tr) {
    case TR_UDP: cn__dns_net_send_udp(s, q, wire, len); break;
    case TR_TCP: cn__dns_net_send_tcp(s, q, wire, len); break;
    case TR_SINK:
        if (s->sink)
            s->sink(s->sink_ctx, wire, len);
        break;
    }
}

void cn__dns_reply(struct cn_dns_server *s, struct cn__dns_q *q,
                   const struct cn__dns_set *set)
{
    size_t len = cn__dns_assemble(s, q, set, s->out, 65535);
    int rcode = set->rcode;
    if (len == 0) {       /* could not fit even one group: SERVFAIL */
        rcode = RC_SERVFAIL;
        len = cn__dns_error_reply(&q->req, rcode, true, s->out);
    }
    cn__dns_count_rcode(s, rcode);
    cn__dns_send(s, q, s->out, len);
    cn__dns_q_free(s, q);
}

void cn__dns_reply_rcode(struct cn_dns_server *s, struct cn__dns_q *q,
                         int rcode, bool with_soa)
{
    struct cn__dns_set *set = &s->scratch;
    if (with_soa) {
        if (cn__dns_compile_negative(s, q, rcode, set) < 0) {
            cn__dns_set_reset(set);
            rcode = RC_SERVFAIL;
        }
    } else {
        cn__dns_set_reset(set);
    }
    set->rcode = (uint8_t)rcode;
    /* miekg/dns's "no handler" REFUSED is not authoritative. */
    set->aa = rcode != RC_REFUSED;
    cn__dns_reply(s, q, set);
}

/* NXDOMAIN for nothing found, SERVFAIL for a failed lookup. */
static void reply_status(struct cn_dns_server *s, struct cn__dns_q *q,
                         int status)
{
    if (status == CN_ENOTFOUND || status == CN_ENODC)
        cn__dns_reply_rcode(s, q, RC_NXDOMAIN, true);
    else
        cn__dns_reply_rcode(s, q, RC_SERVFAIL, false);
}

/* The outcome of a compile: reply with the set, or the negative answer. */
static void reply_compiled(struct cn_dns_server *s, struct cn__dns_q *q,
                           int rc)
{
    if (rc == 0)
        cn__dns_reply(s, q, &s->scratch);
    else if (rc == CN__DNS_NXDOMAIN)
        cn__dns_reply_rcode(s, q, RC_NXDOMAIN, true);
    else if (rc == CN__DNS_NODATA)
        cn__dns_reply_rcode(s, q, RC_NOERROR, true);
    else
        cn__dns_reply_rcode(s, q, RC_SERVFAIL, false);
}

/* ---- lookups ---- */

static void lookup_start(struct cn_dns_server *s, struct cn__dns_q *q,
                         enum cn__dns_lookup_kind lk)
{
    struct cn_dns_backend *be = &s->be;
    const struct cn__dns_plan *p = &q->plan;
    uint64_t id = ++s->next_id;

    q->id = id;
    q->lk = lk;
    if (cn_map_put(&s->inflight, &q->id, sizeof q->id, q, NULL) < 0) {
        cn__dns_reply_rcode(s, q, RC_SERVFAIL, false);
        return;
    }
    q->in_map = true;
    q->deadline_ms = s->now_ms(s) + s->conf.lookup_timeout_ms;
    cn__dns_list_append(&s->lookups, q);
    s->stats.lookups++;
    /* From here on q may be freed by a synchronous completion. */
    switch (lk) {
    case LK_NODE: {
        struct cn_dns_node_req r = { p->dc, p->name };
        be->node(be->ctx, s, id, &r);
        break;
    }
    case LK_SERVICE: {
        struct cn_dns_service_req r = { p->dc, p->name, p->tag, p->svc_kind };
        be->service(be->ctx, s, id, &r);
        break;
    }
    case LK_SERVERS: {      /* the "consul" service: the servers */
        struct cn_dns_service_req r = { s->conf.dc, "consul", NULL,
                                        CN_DNS_SVC_PLAIN };
        be->service(be->ctx, s, id, &r);
        break;
    }
    case LK_PREPARED: {
        struct cn_dns_prepared_req r = { p->dc, p->name };
        be->prepared(be->ctx, s, id, &r);
        break;
    }
    case LK_REVERSE: {
        struct cn_dns_reverse_req r = { .datacenter = s->conf.dc,
                                        .family = p->family };
        char text[64];
        memcpy(r.addr, p->addr, sizeof r.addr);
        if (!inet_ntop(p->family, p->addr, text, sizeof text))
            text[0] = 0;
        r.addr_text = text;
        be->reverse(be->ctx, s, id, &r);
        break;
    }
    case LK_NONE:
        CN_UNREACHABLE();
    }
}

/* Removes the query of lookup `id` from the in-flight set. */
static struct cn__dns_q *take(struct cn_dns_server *s, uint64_t id,
                              enum cn__dns_lookup_kind a,
                              enum cn__dns_lookup_kind b)
{
    struct cn__dns_q *q = cn_map_get(&s->inflight, &id, sizeof id);
    if (!q || (q->lk != a && q->lk != b)) {
        s->stats.late_completions++;
        return NULL;
    }
    cn_map_del(&s->inflight, &id, sizeof id);
    cn__dns_list_unlink(q);
    q->in_map = false;
    return q;
}

int cn_dns_node_done(struct cn_dns_server *s, uint64_t id, int status,
                     const struct cn_dns_node *node)
{
    struct cn__dns_q *q = take(s, id, LK_NODE, LK_NODE);
    if (!q)
        return CN_ENOTFOUND;
    if (status == 0 && (!node || !node->name))
        status = CN_ENOTFOUND;
    if (status != 0)
        reply_status(s, q, status);
    else
        reply_compiled(s, q, cn__dns_compile_node(s, q, node, &s->scratch));
    return 0;
}

static void service_answer(struct cn_dns_server *s, struct cn__dns_q *q,
                           const struct cn_dns_service_result *res)
{
    const struct cn__dns_set *hit = NULL;
    uint32_t ttl = cn__dns_conf_service_ttl(&s->conf, q->plan.name);
    int rc;

    if (res && res->index)
        hit = cn__dns_cache_get(&s->cache, &q->req, res->index);
    if (hit) {
        s->stats.cache_hits++;
        cn__dns_reply(s, q, hit);
        return;
    }
    s->stats.cache_misses++;
    rc = cn__dns_compile_service(s, q, q->plan.dc, res, ttl, &s->scratch);
    if (rc == 0 && res->index)
        (void)cn__dns_cache_put(&s->cache, &q->req, res->index, &s->scratch);
    reply_compiled(s, q, rc);
}

int cn_dns_service_done(struct cn_dns_server *s, uint64_t id, int status,
                        const struct cn_dns_service_result *res)
{
    struct cn__dns_q *q = take(s, id, LK_SERVICE, LK_SERVERS);
    if (!q)
        return CN_ENOTFOUND;
    if (q->lk == LK_SERVERS) {
        /* Consul answers SOA/NS even when the server list fails. */
        reply_compiled(s, q, cn__dns_compile_servers(s, q, status ? NULL : res,
                                                     &s->scratch));
    } else if (status != 0) {
        reply_status(s, q, status);
    } else {
        service_answer(s, q, res);
    }
    return 0;
}

int cn_dns_prepared_done(struct cn_dns_server *s, uint64_t id, int status,
                         const struct cn_dns_prepared_result *res)
{
    struct cn__dns_q *q = take(s, id, LK_PREPARED, LK_PREPARED);
    if (!q)
        return CN_ENOTFOUND;
    if (status == 0 && !res)
        status = CN_ENOTFOUND;
    if (status != 0) {
        reply_status(s, q, status);
        return 0;
    }
    const char *svc = res->service ? res->service : "";
    char lower[256];
    size_t k = 0;
    for (; svc[k] && k + 1 < sizeof lower; k++)
        lower[k] = (char)cn__dns_lower((uint8_t)svc[k]);
    lower[k] = 0;
    uint32_t ttl = res->ttl_s >= 0 ? (uint32_t)CN_MIN(res->ttl_s, (int64_t)UINT32_MAX)
                                   : cn__dns_conf_service_ttl(&s->conf, lower);
    const char *dc = res->datacenter && *res->datacenter ? res->datacenter
                                                         : q->plan.dc;
    /* Prepared queries may sort by the client's address: the answer is
     * valid for the client's subnet only (Consul's errECSNotGlobal). */
    if (q->req.ecs_len)
        q->req.ecs[3] = q->req.ecs[2];
    reply_compiled(s, q, cn__dns_compile_service(s, q, dc, &res->nodes, ttl,
                                                 &s->scratch));
    return 0;
}

static void start_forward(struct cn_dns_server *s, struct cn__dns_q *q,
                          const uint8_t *p, size_t n)
{
    if (cn__dns_forward(s, q, p, n) < 0)
        cn__dns_reply_rcode(s, q, RC_SERVFAIL, false);
}

int cn_dns_reverse_done(struct cn_dns_server *s, uint64_t id, int status,
                        const struct cn_dns_reverse_result *res)
{
    struct cn__dns_q *q = take(s, id, LK_REVERSE, LK_REVERSE);
    int rc;
    if (!q)
        return CN_ENOTFOUND;
    /* Consul treats a failed reverse lookup as "nothing found". */
    rc = status == 0 ? cn__dns_compile_ptr(s, q, res, &s->scratch)
                     : CN__DNS_NXDOMAIN;
    if (rc == CN__DNS_NXDOMAIN && s->conf.n_recursors && q->raw)
        start_forward(s, q, q->raw, q->raw_len);  /* nothing here: recurse */
    else
        reply_compiled(s, q, rc);
    return 0;
}

/* ---- the query path ---- */

static void run_plan(struct cn_dns_server *s, struct cn__dns_q *q,
                     const uint8_t *p, size_t n)
{
    switch (q->plan.kind) {
    case K_OUTSIDE:
        if (s->conf.n_recursors)
            start_forward(s, q, p, n);
        else
            cn__dns_reply_rcode(s, q, RC_REFUSED, false);
        return;
    case K_AXFR: cn__dns_reply_rcode(s, q, RC_NOTIMP, false); return;
    case K_INVALID: cn__dns_reply_rcode(s, q, RC_NXDOMAIN, true); return;
    case K_NODE_NODATA: cn__dns_reply_rcode(s, q, RC_NOERROR, false); return;
    case K_ADDR:
        reply_compiled(s, q, cn__dns_compile_addr(s, q, &s->scratch));
        return;
    case K_PTR_INVALID:
        if (s->conf.n_recursors)
            start_forward(s, q, p, n);
        else
            cn__dns_reply_rcode(s, q, RC_NXDOMAIN, true);
        return;
    case K_PTR:
        /* Keep the request: an unknown address is forwarded. */
        if (s->conf.n_recursors) {
            q->raw = cn_memdup(p, n);
            if (!q->raw) {
                cn__dns_reply_rcode(s, q, RC_SERVFAIL, false);
                return;
            }
            q->raw_len = (uint16_t)n;
        }
        lookup_start(s, q, LK_REVERSE);
        return;
    case K_SOA:
    case K_NS: lookup_start(s, q, LK_SERVERS); return;
    case K_NODE: lookup_start(s, q, LK_NODE); return;
    case K_SERVICE: lookup_start(s, q, LK_SERVICE); return;
    case K_PREPARED:
        if (s->be.prepared)
            lookup_start(s, q, LK_PREPARED);
        else
            cn__dns_reply_rcode(s, q, RC_NXDOMAIN, true);
        return;
    }
    CN_UNREACHABLE();
}

void cn__dns_on_query(struct cn_dns_server *s, const uint8_t *p, size_t n,
                      struct cn__dns_q *q)
{
    size_t len;
    switch (cn__dns_parse(p, n, &q->req)) {
    case PARSE_OK:
        break;
    case PARSE_DROP:
        if (n < DNS_HDR_BYTES)
            s->stats.dropped_short++;
        else
            s->stats.dropped_response++;
        cn__dns_q_free(s, q);
        return;
    case PARSE_FORMERR:
    case PARSE_NOTIMP: {
        int rcode = ((q->req.flags >> 11) & 0xF) ? RC_NOTIMP : RC_FORMERR;
        len = cn__dns_error_reply(&q->req, rcode, false, s->out);
        cn__dns_count_rcode(s, rcode);
        cn__dns_send(s, q, s->out, len);
        cn__dns_q_free(s, q);
        return;
    }
    }
    cn__dns_plan_make(&s->conf, &q->req, &q->plan);
    run_plan(s, q, p, n);
}

void cn__dns_inject(struct cn_dns_server *s, const uint8_t *p, size_t n,
                    enum cn__dns_transport tr)
{
    struct cn__dns_q *q = cn__dns_q_new(s);
    if (!q)
        return;
    q->tr = TR_SINK;
    q->tcp_rules = tr == TR_TCP;
    cn__dns_on_query(s, p, n, q);
}

void cn__dns_q_abort(struct cn_dns_server *s, struct cn__dns_q *q)
{
    if (q->in_map) {
        cn_map_del(&s->inflight, &q->id, sizeof q->id);
        cn__dns_list_unlink(q);
        q->in_map = false;
        s->stats.lookups_cancelled++;
        if (s->be.cancel)
            s->be.cancel(s->be.ctx, q->id);
    }
    if (q->fwd)
        cn__dns_forward_stop(s, q);
    cn__dns_q_free(s, q);
}

void cn__dns_sweep(struct cn_dns_server *s, uint64_t now_ms)
{
    while (s->lookups.next != &s->lookups &&
           s->lookups.next->deadline_ms <= now_ms) {
        struct cn__dns_q *q = s->lookups.next;
        cn_map_del(&s->inflight, &q->id, sizeof q->id);
        cn__dns_list_unlink(q);
        q->in_map = false;
        s->stats.lookup_timeouts++;
        if (s->be.cancel)
            s->be.cancel(s->be.ctx, q->id);
        cn__dns_reply_rcode(s, q, RC_SERVFAIL, false);
    }
    while (s->forwards.next != &s->forwards &&
           s->forwards.next->deadline_ms <= now_ms)
        cn__dns_forward_next(s, s->forwards.next);
}

/* ---- the server object ---- */

static uint64_t wall_s(void)
{
    return cn_time_wall_ms() / 1000;
}

static void server_free(struct cn_dns_server *s)
{
    while (s->free_qs) {
        struct cn__dns_q *q = s->free_qs;
        s->free_qs = q->next;
        cn_free(q);
    }
    cn_map_close(&s->inflight);
    cn__dns_cache_close(&s->cache);
    cn__dns_set_close(&s->scratch);
    cn_arena_close(&s->arena);
    if (s->rrbuf)
        ldns_buffer_free(s->rrbuf);
    cn_free(s->perm);
    cn_free(s->out);
    cn_free(s->fwd_buf);
    cn__dns_conf_free(&s->conf);
    cn_free(s);
}

int cn_dns_server_new(struct cn_dns_server **out, struct uv_loop_s *loop,
                      const struct cn_dns_config *cfg,
                      const struct cn_dns_backend *backend,
                      const struct cn_logger *log, char *errmsg)
{
    struct cn_dns_server *s;
    int rc;

    if (!backend || !backend->node || !backend->service || !backend->reverse) {
        if (errmsg)
            cn_errf(errmsg, "dns: backend lacks node/service/reverse lookups");
        return -EINVAL;
    }
    s = cn_calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    rc = cn__dns_conf_build(&s->conf, cfg, errmsg);
    if (rc < 0) {
        cn_free(s);
        return rc;
    }
    s->loop = loop;
    s->be = *backend;
    if (log)
        s->log = *log;
    cn_prng_seed(&s->prng, cn_rand_u64());
    cn_map_init(&s->inflight);
    cn__dns_list_init(&s->lookups);
    cn__dns_list_init(&s->forwards);
    cn__dns_cache_init(&s->cache);
    cn__dns_set_init(&s->scratch);
    cn_arena_init(&s->arena, ARENA_BYTES_MAX);
    s->now_ms = cn__dns_net_now;
    s->wall_s = wall_s;
    s->rrbuf = ldns_buffer_new(1024);
    s->out = cn_alloc(65535 + 2);
    if (!s->rrbuf || !s->out) {
        server_free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void cn_dns_server_stats(const struct cn_dns_server *s, struct cn_dns_stats *out)
{
    *out = s->stats;
    out->inflight = s->inflight.count;
}

void cn_dns_server_flush_cache(struct cn_dns_server *s)
{
    cn__dns_cache_close(&s->cache);
    cn__dns_cache_init(&s->cache);
}

static void after_net_close(void *p)
{
    struct cn_dns_server *s = p;
    void (*cb)(void *) = s->close_cb;
    void *arg = s->close_arg;
    server_free(s);
    if (cb)
        cb(arg);
}

void cn_dns_server_close(struct cn_dns_server *s, void (*cb)(void *arg),
                         void *arg)
{
    s->closing = true;
    /* Withdraw every waiting query (UDP and sink ones here; TCP ones
     * go with their connections in net close). */
    while (s->lookups.next != &s->lookups)
        cn__dns_q_abort(s, s->lookups.next);
    while (s->forwards.next != &s->forwards)
        cn__dns_q_abort(s, s->forwards.next);
    s->close_cb = cb;
    s->close_arg = arg;
    if (!s->net)
        after_net_close(s);
    else
        cn__dns_net_close(s, after_net_close, s);
}
