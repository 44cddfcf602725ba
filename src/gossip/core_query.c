/* gossip/core_query.c - serf queries in the pure core: de-duplication by
 * LTime/ID, filters (node names, tag regex), acks, the internal queries
 * the core answers itself (_serf_ping: ack only; _serf_conflict: our view
 * of the named member), hand-off of the others to the shell (keyring
 * queries, user queries), and our own outgoing queries with their reply
 * collection and timeouts (serf query.go, internal_query.go).
 * Pure: no I/O, no clock.
 */
#include <errno.h>
#include <regex.h>

#include "core_int.h"
#include "filter/filter_int.h"

#define INTERNAL_PREFIX "_serf_"
#define QUERY_TIMEOUT_MULT 16u               /* serf QueryTimeoutMult */
#define QUERY_TIMEOUT_MAX_MS (3600u * 1000u) /* bound an asker's deadline */
#define SEEN_NAMES_BYTES_MAX (1u << 20)

static bool grow_items(struct cn__gcore *c)
{
    size_t ncap;
    struct cn__gqitem *p;
    if (c->n_qitems < c->cap_qitems)
        return true;
    ncap = c->cap_qitems ? 2 * c->cap_qitems : 8;
    p = cn_realloc(c->qitems, ncap * sizeof *p);
    if (!p)
        return false;
    c->qitems = p;
    c->cap_qitems = ncap;
    return true;
}

/* Copies name/payload; false (item dropped) on allocation failure. */
static struct cn__gqitem *push_item(struct cn__gcore *c, uint8_t kind, uint32_t handle,
                                    const struct cn__gstr *name, const struct cn__gstr *payload)
{
    struct cn__gqitem *it;
    if (!grow_items(c))
        return NULL;
    it = &c->qitems[c->n_qitems];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->handle = handle;
    if (name && !(it->name = cn_strndup((const char *)name->p, name->len)))
        return NULL;
    if (payload && payload->len) {
        it->payload = cn_memdup(payload->p, payload->len);
        if (!it->payload) {
            cn_free(it->name);
            return NULL;
        }
        it->len = payload->len;
    }
    c->n_qitems++;
    return it;
}

void cn__gcore_take_queries(struct cn__gcore *c, struct cn__gqitem **items, size_t *n)
{
    *items = c->qitems;
    *n = c->n_qitems;
    c->qitems = NULL;
    c->n_qitems = c->cap_qitems = 0;
}

void cn__gcore_queries_free(struct cn__gqitem *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cn_free(items[i].name);
        cn_free(items[i].src_node);
        cn_free(items[i].payload);
    }
    cn_free(items);
}

/* ---- inbound ------------------------------------------------------------- */

/* Our current tags are the ones we advertise (my_meta, which set_tags
 * replaces); a missing tag matches as "" (serf). */
static bool tag_matches(struct cn__gcore *c, const struct cn__gstr *f)
{
    struct cn__gstr tag, expr;
    struct cn_gossip_tag *tags = NULL;
    size_t n = 0;
    regex_t re;
    char why[CN_ERRMSG_MAX];
    const char *v = "";
    bool ok;
    if (cn__sm_filter_tag_read(f, &tag, &expr) < 0)
        return false;
    if (cn__gossip_tags_decode(c->my_meta, c->my_meta_len, &tags, &n) < 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strlen(tags[i].key) == tag.len && (!tag.len || !memcmp(tags[i].key, tag.p, tag.len)))
            v = tags[i].value;
    if (cn__filter_regex_compile(&re, expr.p ? expr.p : (const uint8_t *)"", expr.len, why) < 0) {
        CG_LOG(c, CN_LOG_WARN, "gossip: query tag filter: bad regexp: %s", why);
        cn_free(tags);
        return false;
    }
    ok = cn__filter_regex_match(&re, v, strlen(v));
    regfree(&re);
    cn_free(tags);
    return ok;
}

/* serf shouldProcessQuery: every filter must pass. */
static bool should_process(struct cn__gcore *c, const struct cn__sm_query *q)
{
    if (q->filters_over)
        return false;
    for (uint32_t i = 0; i < q->n_filters; i++) {
        const struct cn__gstr *f = &q->filters[i];
        bool match = false;
        if (f->len == 0)
            return false;
        if (f->p[0] == CN__SF_NODE) {
            if (cn__sm_filter_nodes_match(f, c->name, c->name_len, &match) < 0 || !match)
                return false;
        } else if (f->p[0] == CN__SF_TAG) {
            if (!tag_matches(c, f))
                return false;
        } else {
            return false;  /* unknown filter type: serf does not process */
        }
    }
    return true;
}

static bool reply_addr(const struct cn__sm_query *q, struct cn__gaddr *to)
{
    if ((q->addr.len != 4 && q->addr.len != 16) || q->port == 0)
        return false;
    memset(to, 0, sizeof *to);
    to->len = (uint8_t)q->addr.len;
    to->port = q->port;
    memcpy(to->ip, q->addr.p, q->addr.len);
    return true;
}

static bool skip_relay(const struct cn__gcore *c, const struct ml_node *n, const void *arg)
{
    const struct cn__gaddr *dest = arg;
    return n == c->self || n->state != CN__ML_ALIVE ||
           (n->addr_len == dest->len && n->port == dest->port &&
            memcmp(n->addr, dest->ip, dest->len) == 0);
}

/* serf relayResponse: the same message wrapped for `relay` other members
 * to forward, in case the direct path to the asker is lossy. */
static void relay(struct cn__gcore *c, const struct cn__gaddr *dest, uint8_t factor,
                  const uint8_t *msg, size_t len)
{
    struct ml_node *peers[8];
    struct cn_buf b;
    size_t k = cg_random_nodes(c, CN_MIN((size_t)factor, CN_ARRAY_LEN(peers)), peers,
                               skip_relay, dest);
    if (k == 0)
        return;
    cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
    if (cn__sm_relay_encode(&b, dest, "", msg, len) == 0)
        for (size_t i = 0; i < k; i++) {
            struct cn__gaddr to;
            cg_node_addr(peers[i], &to);
            cg_send(c, &to, peers[i], b.data, b.len, false);
        }
    cn_buf_close(&b);
}

static int send_qresp(struct cn__gcore *c, const struct cn__gaddr *to,
                      const struct cn__sm_qresp *r, uint8_t relay_factor)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
    cn__gm_writer(&w, &b);
    cn__sm_put_qresp(&w, r);
    if (w.err == 0 && b.len - 1 > CN_GOSSIP_QUERY_RESPONSE_BYTES_MAX)
        w.err = -EMSGSIZE;
    if (w.err == 0) {
        cg_send(c, to, NULL, b.data, b.len, false);
        if (relay_factor)
            relay(c, to, relay_factor, b.data + 1, b.len - 1);
    }
    cn_buf_close(&b);
    return w.err;
}

/* A relayed response for someone else ([9] + header + message): forward
 * the inner query response to its destination, as serf does. Only query
 * responses are forwarded (no open relay for other message types). */
int sfq_handle_relay(struct cn__gcore *c, const uint8_t *p, size_t len)
{
    struct cn__gaddr dest;
    struct cn__gstr inner;
    uint8_t *msg;
    if (cn__sm_relay_read(p, len, &dest, &inner) < 0 || inner.p[0] != CN__SM_QRESP ||
        inner.len > CN_GOSSIP_QUERY_RESPONSE_BYTES_MAX) {
        c->ctr.query_bad++;
        return CN_EMALFORMED;
    }
    msg = cn_alloc(inner.len + 1);
    if (!msg)
        return -ENOMEM;
    msg[0] = CN__GM_USER;
    memcpy(msg + 1, inner.p, inner.len);
    cg_send(c, &dest, NULL, msg, inner.len + 1, false);
    cn_free(msg);
    c->ctr.query_relayed++;
    return 0;
}

static void make_token(const struct cn__gcore *c, const struct cn__sm_query *q,
                       const struct cn__gaddr *to, struct cn_gossip_query_token *t)
{
    uint64_t tmo = q->timeout_ns > 0 ? (uint64_t)q->timeout_ns / 1000000u : 0;
    memset(t, 0, sizeof *t);
    t->ltime = q->ltime;
    t->id = q->id;
    t->deadline_ms = c->now_ms + CN_MIN(tmo, (uint64_t)QUERY_TIMEOUT_MAX_MS);
    t->port = to->port;
    t->relay_factor = q->relay;
    t->addr_len = to->len;
    memcpy(t->addr, to->ip, to->len);
}

static void answer_conflict(struct cn__gcore *c, const struct cn__sm_query *q,
                            const struct cn_gossip_query_token *tok)
{
    struct sf_member *m;
    struct cn_gossip_member view;
    struct cn_buf b;
    if (q->payload.len == c->name_len && memcmp(q->payload.p, c->name, c->name_len) == 0)
        return;  /* about us: serf stays silent */
    m = q->payload.len ? sf_member(c, (const char *)q->payload.p, q->payload.len) : NULL;
    if (m)
        sf_member_view(m, &view);
    cn_buf_init(&b, CN_GOSSIP_QUERY_RESPONSE_BYTES_MAX);
    if (cn__sm_conflict_encode(&b, m ? &view : NULL, m ? m->addr : NULL,
                               m ? m->addr_len : 0) == 0)
        (void)cn__gcore_query_respond(c, c->now_ms, tok, b.data, b.len);
    cn_buf_close(&b);
}

static bool is_internal(const struct cn__gstr *name, const char *what)
{
    size_t pl = strlen(INTERNAL_PREFIX), wl = what ? strlen(what) : 0;
    if (name->len < pl || memcmp(name->p, INTERNAL_PREFIX, pl) != 0)
        return false;
    return !what || (name->len == pl + wl && memcmp(name->p + pl, what, wl) == 0);
}

static void deliver(struct cn__gcore *c, const struct cn__sm_query *q,
                    const struct cn_gossip_query_token *tok)
{
    struct cn__gqitem *it;
    static const char *const shell_internal[] = { "install-key", "use-key", "remove-key",
                                                  "list-keys" };
    bool internal = is_internal(&q->name, NULL);
    if (is_internal(&q->name, "ping"))
        return;  /* the ack is the answer */
    if (is_internal(&q->name, "conflict")) {
        answer_conflict(c, q, tok);
        return;
    }
    if (internal) {
        bool known = false;
        for (size_t i = 0; i < CN_ARRAY_LEN(shell_internal); i++)
            known |= is_internal(&q->name, shell_internal[i]);
        if (!known) {
            CG_LOG(c, CN_LOG_WARN, "gossip: unhandled internal query %.*s", (int)q->name.len,
                   (const char *)q->name.p);
            return;
        }
    }
    it = push_item(c, CN__GQ_IN, 0, &q->name, &q->payload);
    if (!it)
        return;
    it->ltime = q->ltime;
    it->tok = *tok;
    it->src_node = cn_strndup(q->src_node.p ? (const char *)q->src_node.p : "", q->src_node.len);
}

static bool seen_before(struct cn__gcore *c, const struct cn__sm_query *q)
{
    struct query_seen *s = &c->queries[q->ltime % CN_GOSSIP_EVENT_BUFFER];
    if (s->n && s->ltime == q->ltime) {
        for (uint32_t i = 0; i < s->n; i++)
            if (s->ids[i] == q->id)
                return true;
    } else {
        s->ltime = q->ltime;
        s->n = 0;
    }
    if (s->n < CN_ARRAY_LEN(s->ids))
        s->ids[s->n++] = q->id;
    return false;
}

/* serf handleQuery: true if the query should be rebroadcast. */
bool sfq_handle_query(struct cn__gcore *c, const struct cn__sm_query *q)
{
    struct cn__gaddr to;
    struct cn_gossip_query_token tok;
    if (q->ltime >= c->query_clock)
        c->query_clock = q->ltime + 1;
    if (c->query_clock > CN_GOSSIP_EVENT_BUFFER &&
        q->ltime < c->query_clock - CN_GOSSIP_EVENT_BUFFER)
        return false;
    if (seen_before(c, q))
        return false;
    c->ctr.queries_in++;
    if (should_process(c, q) && reply_addr(q, &to)) {
        if (q->flags & CN__SQ_ACK) {
            struct cn__sm_qresp ack = {
                .ltime = q->ltime, .id = q->id, .flags = CN__SQ_ACK,
                .from = { (const uint8_t *)c->name, c->name_len },
            };
            (void)send_qresp(c, &to, &ack, q->relay);
        }
        make_token(c, q, &to, &tok);
        deliver(c, q, &tok);
    }
    return (q->flags & CN__SQ_NOBCAST) == 0;
}

int cn__gcore_query_respond(struct cn__gcore *c, uint64_t now_ms,
                            const struct cn_gossip_query_token *tok, const uint8_t *payload,
                            size_t len)
{
    struct cn__gaddr to = { .len = tok->addr_len, .port = tok->port };
    struct cn__sm_qresp r = {
        .ltime = tok->ltime, .id = tok->id,
        .from = { (const uint8_t *)c->name, c->name_len },
        .payload = { payload, (uint32_t)len },
    };
    int rc;
    c->now_ms = CN_MAX(c->now_ms, now_ms);
    if ((tok->addr_len != 4 && tok->addr_len != 16) || tok->port == 0)
        return -EINVAL;
    if (len > CN_GOSSIP_QUERY_RESPONSE_BYTES_MAX)
        return -EMSGSIZE;
    if (c->now_ms > tok->deadline_ms)
        return -ETIMEDOUT;
    memcpy(to.ip, tok->addr, tok->addr_len);
    rc = send_qresp(c, &to, &r, tok->relay_factor);
    if (rc == 0)
        c->ctr.queries_answered++;
    return rc;
}

/* ---- outbound ------------------------------------------------------------ */

uint64_t cn__gcore_query_default_timeout(const struct cn__gcore *c)
{
    uint64_t n = cn__gcore_alive_count(c) + 1, mult = 0;
    for (uint64_t p = 1; p < n; p *= 10)
        mult++;  /* ceil(log10(n + 1)) */
    return (uint64_t)c->cfg.t.gossip_interval_ms * QUERY_TIMEOUT_MULT * CN_MAX(mult, 1u);
}

static void qout_free(struct gq_out *o)
{
    cn_map_close(&o->seen);
    cn_arena_close(&o->names);
    cn_free(o);
}

static void qout_remove(struct cn__gcore *c, size_t i)
{
    qout_free(c->qouts[i]);
    c->qouts[i] = c->qouts[--c->n_qouts];
}

void cn__gcore_query_cancel(struct cn__gcore *c, uint32_t handle)
{
    for (size_t i = 0; i < c->n_qouts; i++)
        if (c->qouts[i]->handle == handle) {
            qout_remove(c, i);
            return;
        }
}

void sfq_free(struct cn__gcore *c)
{
    while (c->n_qouts)
        qout_remove(c, c->n_qouts - 1);
    cn_free(c->qouts);
    cn__gcore_queries_free(c->qitems, c->n_qitems);
}

void sfq_tick(struct cn__gcore *c)
{
    for (size_t i = 0; i < c->n_qouts;) {
        struct gq_out *o = c->qouts[i];
        if (c->now_ms < o->deadline_ms) {
            i++;
            continue;
        }
        if (!push_item(c, CN__GQ_DONE, o->handle, NULL, NULL))
            return;  /* out of memory: try again next tick */
        qout_remove(c, i);
    }
}

struct responder {
    uint8_t flags;           /* 1 acked, 2 responded */
    char name[];
};

void sfq_handle_resp(struct cn__gcore *c, const struct cn__sm_qresp *r)
{
    struct gq_out *o = NULL;
    struct responder *who;
    uint8_t bit = (r->flags & CN__SQ_ACK) ? 1 : 2;
    for (size_t i = 0; i < c->n_qouts && !o; i++)
        if (c->qouts[i]->ltime == r->ltime && c->qouts[i]->id == r->id)
            o = c->qouts[i];
    if (!o || r->from.len == 0 || r->from.len > CN_GOSSIP_NAME_BYTES_MAX ||
        memchr(r->from.p, 0, r->from.len))
        return;
    c->ctr.query_resp_in++;
    who = cn_map_get(&o->seen, r->from.p, r->from.len);
    if (who && (who->flags & bit)) {
        c->ctr.query_resp_dup++;
        return;
    }
    if (!who) {
        who = cn_arena_alloc(&o->names, sizeof *who + r->from.len + 1);
        if (!who)
            return;
        who->flags = 0;
        memcpy(who->name, r->from.p, r->from.len);
        who->name[r->from.len] = '\0';
        if (cn_map_put(&o->seen, who->name, r->from.len, who, NULL) < 0)
            return;
    }
    if (push_item(c, bit == 1 ? CN__GQ_ACK : CN__GQ_RESP, o->handle, &r->from,
                  bit == 1 ? NULL : &r->payload))
        who->flags |= bit;
}

static int add_filters(const struct cn_gossip_query_params *p, struct cn_buf *fb,
                       size_t *offs, struct cn__sm_query *q)
{
    size_t n = 0;
    int rc = 0;
    if (p->n_filter_nodes) {
        for (size_t i = 0; i < p->n_filter_nodes; i++)
            if (!p->filter_nodes[i])
                return -EINVAL;
        offs[n++] = fb->len;
        rc = cn__sm_filter_nodes_encode(fb, p->filter_nodes, p->n_filter_nodes);
    }
    for (size_t i = 0; rc == 0 && i < p->n_filter_tags; i++) {
        if (n + 1 >= CN_GOSSIP_QUERY_FILTERS_MAX || !p->filter_tags[i].key ||
            !p->filter_tags[i].value)
            return -EINVAL;
        offs[n++] = fb->len;
        rc = cn__sm_filter_tag_encode(fb, p->filter_tags[i].key, p->filter_tags[i].value);
    }
    if (rc < 0)
        return rc == -ENOBUFS || rc == -EMSGSIZE ? -EMSGSIZE : rc;
    offs[n] = fb->len;
    for (size_t i = 0; i < n; i++)
        q->filters[i] = (struct cn__gstr){ fb->data + offs[i], (uint32_t)(offs[i + 1] - offs[i]) };
    q->n_filters = (uint32_t)n;
    return 0;
}

static int build_query(struct cn__gcore *c, const struct cn__gquery_params *qp,
                       struct cn__sm_query *q, struct cn_buf *fb, struct cn_buf *out)
{
    static const struct cn_gossip_query_params none;
    const struct cn_gossip_query_params *p = qp->p ? qp->p : &none;
    size_t offs[CN_GOSSIP_QUERY_FILTERS_MAX + 1];
    struct cn_mp_writer w;
    uint64_t tmo = p->timeout_ms ? p->timeout_ms : cn__gcore_query_default_timeout(c);
    int rc;
    size_t nlen = qp->name ? strlen(qp->name) : 0;
    if (nlen == 0 || nlen > CN_GOSSIP_QUERY_BYTES_MAX || (qp->len && !qp->payload))
        return -EINVAL;
    if (qp->len > CN_GOSSIP_QUERY_BYTES_MAX)
        return -EMSGSIZE;
    memset(q, 0, sizeof *q);
    if ((rc = add_filters(p, fb, offs, q)) < 0)
        return rc;
    q->ltime = c->query_clock;
    q->id = (uint32_t)(cn_prng_next(&c->prng) & 0x7fffffffu);
    q->addr = (struct cn__gstr){ c->cfg.addr.ip, c->cfg.addr.len };
    q->port = c->cfg.addr.port;
    q->src_node = (struct cn__gstr){ (const uint8_t *)c->name, c->name_len };
    q->flags = p->request_ack ? CN__SQ_ACK : 0;
    q->relay = p->relay_factor;
    q->timeout_ns = (int64_t)CN_MIN(tmo, (uint64_t)QUERY_TIMEOUT_MAX_MS) * 1000000;
    q->name = (struct cn__gstr){ (const uint8_t *)qp->name, (uint32_t)nlen };
    q->payload = (struct cn__gstr){ qp->payload, (uint32_t)qp->len };
    cn__gm_writer(&w, out);
    cn__sm_put_query(&w, q);
    if (w.err == -ENOBUFS || (w.err == 0 && out->len - 1 > CN_GOSSIP_QUERY_BYTES_MAX))
        return -EMSGSIZE;
    return w.err;
}

int cn__gcore_query(struct cn__gcore *c, uint64_t now_ms, const struct cn__gquery_params *qp,
                    uint32_t *handle)
{
    struct cn__sm_query q;
    struct cn_buf fb, out;
    struct gq_out *o = NULL, **arr;
    int rc;
    c->now_ms = CN_MAX(c->now_ms, now_ms);
    if (c->n_qouts >= CN_GOSSIP_QUERIES_OUT_MAX)
        return -ENOSPC;
    cn_buf_init(&fb, CN_GOSSIP_QUERY_BYTES_MAX * 4);
    cn_buf_init(&out, CN_GOSSIP_QUERY_BYTES_MAX * 4);
    rc = build_query(c, qp, &q, &fb, &out);
    if (rc == 0 && (!(arr = cn_realloc(c->qouts, (c->n_qouts + 1) * sizeof *arr)) ||
                    !(o = cn_calloc(1, sizeof *o))))
        rc = -ENOMEM;
    if (rc == 0) {
        c->qouts = arr;
        cn_map_init(&o->seen);
        cn_arena_init(&o->names, SEEN_NAMES_BYTES_MAX);
        if (++c->next_qhandle == 0)
            c->next_qhandle = 1;
        o->handle = *handle = c->next_qhandle;
        o->id = q.id;
        o->ltime = q.ltime;
        o->deadline_ms = c->now_ms + (uint64_t)q.timeout_ns / 1000000u;
        c->qouts[c->n_qouts++] = o;
        /* Ourselves first (serf handles its own query locally), then the
         * pool. sfq_handle_query reads q, whose strings live in fb/c. */
        if (sfq_handle_query(c, &q))
            sf_queue_raw(c, out.data + 1, out.len - 1, BN_NONE);
    }
    cn_buf_close(&fb);
    cn_buf_close(&out);
    return rc;
}
