/* gossip/core_probe.c - SWIM failure detection and dissemination:
 * direct probe, indirect probe with nacks, TCP fallback ping, ack relay,
 * gossip rounds and the transmit-limited broadcast queue.
 * Pure: no I/O, no clock; driven by cn__gcore_tick()/recv().
 * Spec: SWIM (DSN 2002) sections 3-4; Lifeguard (arXiv 1707.00788) for
 * nacks and the health score; memberlist's state.go/broadcast.go shape
 * (gossip-notes.md 1.2, 1.4).
 */
#include <errno.h>
#include <stdlib.h>

#include "core_int.h"

/* ---- random peers ------------------------------------------------------ */

/* memberlist kRandomNodes: up to 3n random draws, filtered, distinct. */
size_t cg_random_nodes(struct cn__gcore *c, size_t k, struct ml_node **out,
                       bool (*skip)(const struct cn__gcore *, const struct ml_node *,
                                    const void *),
                       const void *arg)
{
    size_t got = 0, n = c->n_nodes;
    for (size_t i = 0; i < 3 * n && got < k; i++) {
        struct ml_node *cand = c->nodes[cn_prng_below(&c->prng, n)];
        bool dup = false;
        if (skip(c, cand, arg))
            continue;
        for (size_t j = 0; j < got; j++)
            dup |= out[j] == cand;
        if (!dup)
            out[got++] = cand;
    }
    return got;
}

/* ---- ack handlers ---------------------------------------------------- */

static struct ackh *ack_add(struct cn__gcore *c, uint32_t seq, uint8_t kind,
                            uint64_t expire_ms)
{
    struct ackh *h;
    if (c->n_acks >= CN_GOSSIP_ACK_HANDLERS_MAX)
        return NULL;
    if (!c->acks) {
        c->acks = cn_calloc(CN_GOSSIP_ACK_HANDLERS_MAX, sizeof *c->acks);
        if (!c->acks)
            return NULL;
    }
    h = &c->acks[c->n_acks++];
    memset(h, 0, sizeof *h);
    h->seq = seq;
    h->kind = kind;
    h->expire_ms = expire_ms;
    return h;
}

static void ack_del(struct cn__gcore *c, size_t i)
{
    c->acks[i] = c->acks[--c->n_acks];
}

static void send_small(struct cn__gcore *c, const struct cn__gaddr *to, int type,
                       uint32_t seq)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    cn_buf_init(&b, 64);
    if (type == CN__GM_ACK) {
        cg_encode_ack(&b, seq);
    } else {
        cn__gm_writer(&w, &b);
        cn__gm_put_nack(&w, seq);
    }
    cg_send(c, to, NULL, b.data, b.len, true);
    cn_buf_close(&b);
}

void cg_acks_tick(struct cn__gcore *c)
{
    for (size_t i = 0; i < c->n_acks;) {
        struct ackh *h = &c->acks[i];
        if (c->now_ms < h->expire_ms) {
            i++;
            continue;
        }
        if (h->kind == AK_RELAY && h->nack_wanted)
            send_small(c, &h->reply_to, CN__GM_NACK, h->orig_seq);
        ack_del(c, i);
    }
}

void cg_on_ack(struct cn__gcore *c, uint32_t seq)
{
    for (size_t i = 0; i < c->n_acks; i++) {
        struct ackh *h = &c->acks[i];
        if (h->seq != seq)
            continue;
        if (h->kind == AK_RELAY) {
            send_small(c, &h->reply_to, CN__GM_ACK, h->orig_seq);
        } else if (c->probe.active && c->probe.seq == seq) {
            /* Any ack before the deadline: direct, relayed or late. */
            c->probe.active = false;
            c->next_probe_ms = c->probe.start_ms + c->cfg.t.probe_interval_ms;
            cg_awareness(c, -1);
        }
        ack_del(c, i);
        return;
    }
}

void cg_on_nack(struct cn__gcore *c, uint32_t seq)
{
    if (c->probe.active && c->probe.seq == seq)
        c->probe.nacks++;
    c->ctr.nacks_in++;
}

/* ---- ping handling ------------------------------------------------------- */

static void src_addr(const struct cn__gcore *c, struct cn__gstr *addr,
                     struct cn__gstr *node, uint16_t *port)
{
    addr->p = c->cfg.addr.ip;
    addr->len = c->cfg.addr.len;
    node->p = (const uint8_t *)c->name;
    node->len = c->name_len;
    *port = c->cfg.addr.port;
}

void cg_on_ping(struct cn__gcore *c, const struct cn__gaddr *from,
                const struct cn__gm_ping *m)
{
    struct cn__gaddr to = *from;
    if (m->node.len && (m->node.len != c->name_len ||
                        memcmp(m->node.p, c->name, c->name_len) != 0)) {
        CG_LOG(c, CN_LOG_DEBUG, "gossip: got ping for unexpected node %.*s",
               (int)m->node.len, (const char *)m->node.p);
        return;
    }
    if ((m->src_addr.len == 4 || m->src_addr.len == 16) && m->src_port > 0) {
        memcpy(to.ip, m->src_addr.p, m->src_addr.len);
        to.len = (uint8_t)m->src_addr.len;
        to.port = m->src_port;
    }
    send_small(c, &to, CN__GM_ACK, m->seq);
}

static void send_ping(struct cn__gcore *c, const struct cn__gaddr *to,
                      const struct ml_node *node, uint32_t seq,
                      const uint8_t *name, size_t name_len, bool with_suspect)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    struct cn__gm_ping p = { .seq = seq, .node = { name, (uint32_t)name_len } };
    src_addr(c, &p.src_addr, &p.src_node, &p.src_port);
    cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
    cn__gm_writer(&w, &b);
    cn__gm_put_ping(&w, &p);
    if (with_suspect && node) {
        /* Lifeguard buddy system: tell a suspect it is suspected. */
        struct cn_buf s, comp;
        struct cn__gm_accuse a = {
            .inc = node->inc,
            .node = { (const uint8_t *)node->name, node->name_len },
            .from = { (const uint8_t *)c->name, c->name_len },
        };
        struct cn__gstr parts[2];
        cn_buf_init(&s, CN_GOSSIP_UDP_SEND_BYTES_MAX);
        cn_buf_init(&comp, CN_GOSSIP_UDP_SEND_BYTES_MAX);
        cn__gm_writer(&w, &s);
        cn__gm_put_accuse(&w, CN__GM_SUSPECT, &a);
        parts[0] = (struct cn__gstr){ b.data, (uint32_t)b.len };
        parts[1] = (struct cn__gstr){ s.data, (uint32_t)s.len };
        if (w.err == 0 && cn__gm_compound_build(&comp, parts, 2) == 0)
            cg_send(c, to, node, comp.data, comp.len, false);
        cn_buf_close(&s);
        cn_buf_close(&comp);
    } else if (w.err == 0) {
        cg_send(c, to, node, b.data, b.len, true);
    }
    cn_buf_close(&b);
}

void cg_on_iping(struct cn__gcore *c, const struct cn__gaddr *from,
                 const struct cn__gm_iping *m)
{
    struct cn__gaddr target = { .port = m->port }, reply = *from;
    uint32_t seq;
    struct ackh *h;
    if (m->target.len != 4 && m->target.len != 16)
        return;
    if (m->node.len > CN_GOSSIP_NAME_BYTES_MAX)
        return;
    memcpy(target.ip, m->target.p, m->target.len);
    target.len = (uint8_t)m->target.len;
    if (target.port == 0)
        target.port = c->cfg.addr.port;
    if ((m->src_addr.len == 4 || m->src_addr.len == 16) && m->src_port > 0) {
        memcpy(reply.ip, m->src_addr.p, m->src_addr.len);
        reply.len = (uint8_t)m->src_addr.len;
        reply.port = m->src_port;
    }
    seq = ++c->seq;
    h = ack_add(c, seq, AK_RELAY, c->now_ms + c->cfg.t.probe_timeout_ms);
    if (!h)
        return;
    h->nack_wanted = m->nack;
    h->orig_seq = m->seq;
    h->reply_to = reply;
    send_ping(c, &target, NULL, seq, m->node.p, m->node.len, false);
}

/* ---- probe cycle ---------------------------------------------------------- */

static bool skip_indirect(const struct cn__gcore *c, const struct ml_node *n,
                          const void *arg)
{
    const char *target = arg;
    return n == c->self || n->state != CN__ML_ALIVE || strcmp(n->name, target) == 0;
}

static void probe_start(struct cn__gcore *c, struct ml_node *n)
{
    struct probe_state *p = &c->probe;
    struct cn__gaddr to;
    uint64_t interval = (uint64_t)c->cfg.t.probe_interval_ms * (c->awareness + 1);
    memset(p, 0, sizeof *p);
    p->active = true;
    p->seq = ++c->seq;
    memcpy(p->target, n->name, n->name_len + 1u);
    p->start_ms = c->now_ms;
    p->timeout_at_ms = c->now_ms + c->cfg.t.probe_timeout_ms;
    p->deadline_ms = c->now_ms + interval;
    c->next_probe_ms = p->deadline_ms;  /* failed probes take the scaled interval */
    c->ctr.probes++;
    if (!ack_add(c, p->seq, AK_PROBE, p->deadline_ms)) {
        p->active = false;
        return;
    }
    cg_node_addr(n, &to);
    send_ping(c, &to, n, p->seq, (const uint8_t *)n->name, n->name_len,
              n->state != CN__ML_ALIVE);
}

static void probe_indirect(struct cn__gcore *c)
{
    struct probe_state *p = &c->probe;
    struct ml_node *n = cg_node(c, (const uint8_t *)p->target, strlen(p->target));
    struct ml_node *peers[8];
    struct cn__gm_iping ip;
    size_t k;

    p->indirect_sent = true;
    if (!n)
        return;
    k = cg_random_nodes(c, CN_MIN(c->cfg.t.indirect_checks, CN_ARRAY_LEN(peers)),
                        peers, skip_indirect, p->target);
    memset(&ip, 0, sizeof ip);
    ip.seq = p->seq;
    ip.target = (struct cn__gstr){ n->addr, n->addr_len };
    ip.port = n->port;
    ip.node = (struct cn__gstr){ (const uint8_t *)n->name, n->name_len };
    src_addr(c, &ip.src_addr, &ip.src_node, &ip.src_port);
    for (size_t i = 0; i < k; i++) {
        struct cn_buf b;
        struct cn_mp_writer w;
        struct cn__gaddr to;
        ip.nack = peers[i]->vsn[1] >= 4;
        p->expected_nacks += ip.nack;
        cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
        cn__gm_writer(&w, &b);
        cn__gm_put_iping(&w, &ip);
        cg_node_addr(peers[i], &to);
        if (w.err == 0)
            cg_send(c, &to, peers[i], b.data, b.len, true);
        cn_buf_close(&b);
    }
    c->ctr.indirect++;
    if (n->vsn[1] >= 3) {
        struct cn_buf b;
        struct cn_mp_writer w;
        struct cn__gaddr to;
        struct cn__gm_ping ping = { .seq = p->seq, .node = ip.node };
        src_addr(c, &ping.src_addr, &ping.src_node, &ping.src_port);
        cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
        cn__gm_writer(&w, &b);
        cn__gm_put_ping(&w, &ping);
        cg_node_addr(n, &to);
        if (w.err == 0) {
            cg_send_stream(c, &to, CN__GSTREAM_PING, false, &b, p->deadline_ms, &p->tcp_id);
            c->ctr.tcp_fallback++;
        }
        cn_buf_close(&b);
    }
}

static void probe_fail(struct cn__gcore *c)
{
    struct probe_state *p = &c->probe;
    struct ml_node *n = cg_node(c, (const uint8_t *)p->target, strlen(p->target));
    p->active = false;
    c->ctr.probe_fail++;
    if (p->expected_nacks > 0)
        cg_awareness(c, (int)(p->expected_nacks - CN_MIN(p->nacks, p->expected_nacks)));
    else
        cg_awareness(c, 1);
    if (n && n->state == CN__ML_ALIVE) {
        struct cn__gm_accuse s = {
            .inc = n->inc,
            .node = { (const uint8_t *)n->name, n->name_len },
            .from = { (const uint8_t *)c->name, c->name_len },
        };
        CG_LOG(c, CN_LOG_INFO, "gossip: suspect %s has failed, no acks received", n->name);
        cg_suspect(c, &s);
    } else if (n && n->state == CN__ML_SUSPECT) {
        struct cn__gm_accuse s = {
            .inc = n->inc,
            .node = { (const uint8_t *)n->name, n->name_len },
            .from = { (const uint8_t *)c->name, c->name_len },
        };
        cg_suspect(c, &s);  /* may confirm (no-op: same accuser) */
    }
}

void cg_probe_tcp_result(struct cn__gcore *c, uint32_t id, bool ok)
{
    if (c->probe.active && c->probe.tcp_id == id && ok) {
        CG_LOG(c, CN_LOG_WARN, "gossip: was able to connect to %s over TCP but "
               "UDP probes failed, network may be misconfigured", c->probe.target);
        c->probe.active = false;
        c->next_probe_ms = c->probe.start_ms + c->cfg.t.probe_interval_ms;
        cg_awareness(c, -1);
    }
}

/* Next node in the round-robin walk, or NULL (memberlist probe()). */
static struct ml_node *next_target(struct cn__gcore *c)
{
    size_t checked = 0;
    while (checked < c->n_nodes) {
        struct ml_node *n;
        if (c->probe_index >= c->n_nodes) {
            cg_reset_nodes(c);
            c->probe_index = 0;
            checked++;
            continue;
        }
        n = c->nodes[c->probe_index++];
        if (n == c->self || n->state == CN__ML_DEAD || n->state == CN__ML_LEFT) {
            checked++;
            continue;
        }
        return n;
    }
    return NULL;
}

void cg_probe_tick(struct cn__gcore *c)
{
    struct probe_state *p = &c->probe;
    if (p->active && !p->indirect_sent && c->now_ms >= p->timeout_at_ms)
        probe_indirect(c);
    if (p->active && c->now_ms >= p->deadline_ms)
        probe_fail(c);
    if (!p->active && c->now_ms >= c->next_probe_ms) {
        struct ml_node *n = next_target(c);
        c->next_probe_ms = c->now_ms + c->cfg.t.probe_interval_ms;
        if (n)
            probe_start(c, n);
    }
}

/* ---- gossip ----------------------------------------------------------- */

static bool skip_gossip(const struct cn__gcore *c, const struct ml_node *n,
                        const void *arg)
{
    (void)arg;
    if (n == c->self || n->state == CN__ML_LEFT)
        return true; /* As memberlist: a left member gets no gossip. */
    if (n->state == CN__ML_DEAD) /* A dead one may still refute. */
        return c->now_ms - n->state_change_ms > c->cfg.t.gossip_dead_ms;
    return false;
}

void cg_gossip_tick(struct cn__gcore *c)
{
    struct ml_node *peers[16];
    size_t k = cg_random_nodes(c, CN_MIN(c->cfg.t.gossip_nodes, CN_ARRAY_LEN(peers)),
                               peers, skip_gossip, NULL);
    size_t overhead = c->cfg.encrypted ? CN__GM_ENCRYPT_OVERHEAD : 0;
    for (size_t i = 0; i < k; i++) {
        struct cn__gstr parts[CN_GOSSIP_COMPOUND_PARTS_MAX];
        uint8_t *owned[CN_GOSSIP_COMPOUND_PARTS_MAX];
        size_t n = 0, n_owned = 0, used = 0;
        size_t budget = CN_GOSSIP_UDP_SEND_BYTES_MAX - CN__GM_COMPOUND_OVERHEAD - overhead;
        struct cn__gaddr to;
        n += tlq_take(c, &c->ml_q, CN__GM_PART_OVERHEAD, budget, parts,
                      CN_ARRAY_LEN(parts), &used, owned, &n_owned);
        n += tlq_take(c, &c->sf_q, CN__GM_PART_OVERHEAD, budget - used, parts + n,
                      CN_ARRAY_LEN(parts) - n, &used, owned, &n_owned);
        if (n == 0)
            return;
        cg_node_addr(peers[i], &to);
        if (n == 1) {
            cg_send(c, &to, peers[i], parts[0].p, parts[0].len, false);
        } else {
            struct cn_buf b;
            cn_buf_init(&b, CN_GOSSIP_UDP_RECV_BYTES_MAX);
            if (cn__gm_compound_build(&b, parts, n) == 0)
                cg_send(c, &to, peers[i], b.data, b.len, false);
            cn_buf_close(&b);
        }
        for (size_t j = 0; j < n_owned; j++)
            cn_free(owned[j]);
    }
}

/* ---- transmit-limited queue ---------------------------------------------- */

void tlq_init(struct tlq *q) { memset(q, 0, sizeof *q); }

static void bcast_free(struct bcast *b)
{
    cn_free(b->msg);
    cn_free(b->key);
    cn_free(b);
}

void tlq_close(struct tlq *q)
{
    for (size_t i = 0; i < q->n; i++)
        bcast_free(q->items[i]);
    cn_free(q->items);
    memset(q, 0, sizeof *q);
}

/* memberlist retransmitLimit: mult * ceil(log10(n + 1)). */
uint32_t tlq_limit(const struct cn__gcore *c)
{
    unsigned scale = cn_ceil_log10((uint64_t)cg_est_nodes(c) + 1);
    return c->cfg.t.retransmit_mult * scale;
}

static void finished(struct cn__gcore *c, struct bcast *b)
{
    if (b->notify)
        sf_bcast_finished(c, b->notify);
}

static void tlq_remove(struct tlq *q, size_t i)
{
    memmove(&q->items[i], &q->items[i + 1], (q->n - i - 1) * sizeof q->items[0]);
    q->n--;
}

void tlq_push(struct cn__gcore *c, struct tlq *q, const char *key, uint8_t *msg,
              uint32_t len, uint8_t notify)
{
    struct bcast *b;
    if (key) {  /* A newer message about the same node replaces older ones. */
        for (size_t i = 0; i < q->n; i++) {
            if (q->items[i]->key && strcmp(q->items[i]->key, key) == 0) {
                struct bcast *old = q->items[i];
                tlq_remove(q, i);
                finished(c, old);
                bcast_free(old);
                break;
            }
        }
    }
    if (q->n >= CN_GOSSIP_QUEUE_DEPTH_MAX) {
        /* serf MaxQueueDepth: drop the oldest. */
        size_t oldest = 0;
        for (size_t i = 1; i < q->n; i++)
            if (q->items[i]->id < q->items[oldest]->id)
                oldest = i;
        struct bcast *old = q->items[oldest];
        tlq_remove(q, oldest);
        finished(c, old);
        bcast_free(old);
        c->ctr.bcast_dropped++;
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        struct bcast **p = cn_realloc(q->items, cap * sizeof *p);
        if (!p) {
            cn_free(msg);
            return;
        }
        q->items = p;
        q->cap = cap;
    }
    b = cn_calloc(1, sizeof *b);
    if (!b || (key && !(b->key = cn_strndup(key, strlen(key))))) {
        cn_free(b);
        cn_free(msg);
        return;
    }
    b->msg = msg;
    b->len = len;
    b->id = q->next_id++;
    b->notify = notify;
    q->items[q->n++] = b;
    q->dirty = true;
}

/* Fewer transmits first; then larger first; then newer first. */
static int bcast_cmp(const void *a, const void *b)
{
    const struct bcast *x = *(const struct bcast *const *)a;
    const struct bcast *y = *(const struct bcast *const *)b;
    if (x->transmits != y->transmits)
        return x->transmits < y->transmits ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->id > y->id ? -1 : (x->id < y->id);
}

size_t tlq_take(struct cn__gcore *c, struct tlq *q, size_t overhead,
                size_t budget, struct cn__gstr *parts, size_t max_parts,
                size_t *used, uint8_t **owned, size_t *n_owned)
{
    uint32_t limit = tlq_limit(c);
    size_t got = 0, spent = 0;
    if (q->n == 0 || max_parts == 0)
        return 0;
    if (q->dirty) {
        qsort(q->items, q->n, sizeof q->items[0], bcast_cmp);
        q->dirty = false;
    }
    for (size_t i = 0; i < q->n && got < max_parts;) {
        struct bcast *b = q->items[i];
        if (b->len + overhead > budget - spent) {
            i++;
            continue;
        }
        spent += b->len + overhead;
        parts[got].p = b->msg;
        parts[got].len = b->len;
        got++;
        b->transmits++;
        q->dirty = true;
        if (b->transmits >= limit) {
            tlq_remove(q, i);
            owned[(*n_owned)++] = b->msg;  /* caller frees after sending */
            b->msg = NULL;
            finished(c, b);
            bcast_free(b);
            continue;
        }
        i++;
    }
    *used += spent;
    return got;
}

bool tlq_has_notify(const struct tlq *q, uint8_t notify)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->items[i]->notify == notify)
            return true;
    return false;
}
