/* gossip/core_state.c - memberlist's node table and state transitions:
 * alive/suspect/dead handling, incarnation refutation, Lifeguard's
 * dynamic suspicion timeout and local health score, reaping.
 * Pure: no I/O, no clock. Behaviour follows memberlist's state.go as
 * described in gossip-notes.md 1.3, 1.6, 1.7.
 */
#include <errno.h>
#include <stdio.h>

#include "core_int.h"

struct ml_node *cg_node(const struct cn__gcore *c, const uint8_t *name, size_t len)
{
    return cn_map_get(&c->ml_map, name, len);
}

size_t cg_est_nodes(const struct cn__gcore *c) { return c->n_nodes; }

void cg_awareness(struct cn__gcore *c, int delta)
{
    int64_t v = (int64_t)c->awareness + delta;
    int64_t hi = (int64_t)c->cfg.t.awareness_max - 1;
    c->awareness = (uint32_t)(v < 0 ? 0 : v > hi ? hi : v);
}

static bool is_self(const struct cn__gcore *c, const struct ml_node *n)
{
    return n == c->self;
}

/* ---- table ----------------------------------------------------------- */

static struct ml_node *node_new(struct cn__gcore *c, const uint8_t *name, size_t len)
{
    struct ml_node *n;
    size_t off;
    if (c->n_nodes >= CN_GOSSIP_MEMBERS_MAX)
        return NULL;
    if (c->n_nodes == c->cap_nodes) {
        size_t cap = c->cap_nodes ? c->cap_nodes * 2 : 16;
        struct ml_node **p = cn_realloc(c->nodes, cap * sizeof *p);
        if (!p)
            return NULL;
        c->nodes = p;
        c->cap_nodes = cap;
    }
    n = cn_calloc(1, sizeof *n + len + 1);
    if (!n)
        return NULL;
    n->name = (char *)(n + 1);
    memcpy(n->name, name, len);
    n->name_len = (uint8_t)len;
    n->state = CN__ML_DEAD;  /* memberlist: new entries start dead */
    if (cn_map_put(&c->ml_map, n->name, len, n, NULL) < 0) {
        cn_free(n);
        return NULL;
    }
    /* Insert at a random position (memberlist randomOffset + swap). */
    off = c->n_nodes ? (size_t)cn_prng_below(&c->prng, c->n_nodes) : 0;
    c->nodes[c->n_nodes] = c->nodes[off];
    c->nodes[off] = n;
    c->n_nodes++;
    return n;
}

static void susp_clear(struct cn__gcore *c, struct ml_node *n)
{
    if (!n->susp)
        return;
    for (size_t i = 0; i < c->n_susp; i++) {
        if (c->susp[i] == n) {
            c->susp[i] = c->susp[--c->n_susp];
            break;
        }
    }
    cn_free(n->susp);
    n->susp = NULL;
}

static void node_free(struct cn__gcore *c, struct ml_node *n)
{
    susp_clear(c, n);
    cn_map_del(&c->ml_map, n->name, n->name_len);
    cn_free(n->meta);
    cn_free(n);
}

void cg_nodes_free(struct cn__gcore *c)
{
    for (size_t i = 0; i < c->n_nodes; i++)
        node_free(c, c->nodes[i]);
    cn_free(c->nodes);
    cn_free(c->susp);
    cn_map_close(&c->ml_map);
    c->nodes = NULL;
    c->n_nodes = 0;
}

/* memberlist resetNodes: at each wrap of the probe walk, drop nodes dead
 * or left for longer than GossipToTheDeadTime, then shuffle. */
void cg_reset_nodes(struct cn__gcore *c)
{
    size_t j = 0;
    for (size_t i = 0; i < c->n_nodes; i++) {
        struct ml_node *n = c->nodes[i];
        if (!is_self(c, n) && (n->state == CN__ML_DEAD || n->state == CN__ML_LEFT) &&
            c->now_ms - n->state_change_ms > c->cfg.t.gossip_dead_ms) {
            CG_LOG(c, CN_LOG_DEBUG, "gossip: reaped %s from memberlist", n->name);
            node_free(c, n);
            continue;
        }
        c->nodes[j++] = n;
    }
    c->n_nodes = j;
    for (size_t i = j; i > 1; i--) {
        size_t k = (size_t)cn_prng_below(&c->prng, i);
        struct ml_node *t = c->nodes[i - 1];
        c->nodes[i - 1] = c->nodes[k];
        c->nodes[k] = t;
    }
}

/* ---- broadcasts ------------------------------------------------------ */

static void bcast(struct cn__gcore *c, const struct ml_node *about,
                  struct cn_buf *b, uint8_t notify)
{
    size_t len;
    uint8_t *msg = cn_buf_steal(b, &len);
    if (msg)
        tlq_push(c, &c->ml_q, about->name, msg, (uint32_t)len, notify);
}

static void bcast_accuse(struct cn__gcore *c, const struct ml_node *about,
                         uint8_t type, const struct cn__gm_accuse *m, uint8_t notify)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
    cn__gm_writer(&w, &b);
    cn__gm_put_accuse(&w, type, m);
    if (w.err == 0)
        bcast(c, about, &b, notify);
    cn_buf_close(&b);
}

static void bcast_alive(struct cn__gcore *c, const struct ml_node *about,
                        const struct cn__gm_alive *a)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
    cn__gm_writer(&w, &b);
    cn__gm_put_alive(&w, a);
    if (w.err == 0)
        bcast(c, about, &b, BN_NONE);
    cn_buf_close(&b);
}

void cg_broadcast_alive_self(struct cn__gcore *c)
{
    struct ml_node *s = c->self;
    struct cn__gm_alive a = {
        .inc = s->inc,
        .node = { (const uint8_t *)s->name, s->name_len },
        .addr = { s->addr, s->addr_len },
        .port = s->port,
        .meta = { c->my_meta, c->my_meta_len },
        .vsn = { c->vsn, 6 },
    };
    bcast_alive(c, s, &a);
}

/* memberlist refute: beat the accusation's incarnation, lose health. */
void cg_refute(struct cn__gcore *c, uint32_t accused_inc)
{
    struct ml_node *s = c->self;
    uint32_t inc = s->inc + 1;
    uint8_t *meta;
    if (accused_inc >= inc)
        inc = accused_inc + 1;
    s->inc = inc;
    meta = cn_memdup(c->my_meta, c->my_meta_len);
    if (meta) {
        cn_free(s->meta);
        s->meta = meta;
        s->meta_len = c->my_meta_len;
    }
    c->ctr.refutes++;
    cg_awareness(c, 1);
    cg_broadcast_alive_self(c);
    CN_MARK("gossip: refuted");
}

/* ---- alive ----------------------------------------------------------- */

static bool vsn_ok(const struct cn__gstr *v)
{
    if (v->len == 0)
        return true;
    if (v->len < 6)  /* serf's merge delegate drops short Vsn */
        return false;
    if (v->p[0] == 0 || v->p[1] == 0 || v->p[0] > v->p[1])
        return false;
    return v->p[3] <= v->p[4];
}

static bool alive_valid(const struct cn__gm_alive *a)
{
    return a->node.len > 0 && a->node.len <= CN_GOSSIP_NAME_BYTES_MAX &&
           (a->addr.len == 4 || a->addr.len == 16) &&
           a->meta.len <= CN_GOSSIP_META_BYTES_MAX && vsn_ok(&a->vsn);
}

static bool addr_differs(const struct ml_node *n, const struct cn__gm_alive *a)
{
    return n->addr_len != a->addr.len || memcmp(n->addr, a->addr.p, a->addr.len) ||
           n->port != a->port;
}

/* Same name at a new address: allowed if the old one left, or has been
 * dead longer than DeadNodeReclaimTime (notes 1.6). */
static bool may_reclaim(const struct cn__gcore *c, const struct ml_node *n)
{
    if (n->state == CN__ML_LEFT)
        return true;
    return n->state == CN__ML_DEAD && c->cfg.dead_node_reclaim_ms > 0 &&
           c->now_ms - n->state_change_ms > c->cfg.dead_node_reclaim_ms;
}

static void apply_alive(struct cn__gcore *c, struct ml_node *n,
                        const struct cn__gm_alive *a, bool is_new)
{
    uint8_t old_state = n->state;
    bool meta_changed = n->meta_len != a->meta.len ||
                        (a->meta.len && memcmp(n->meta, a->meta.p, a->meta.len));
    if (meta_changed) {
        uint8_t *m = a->meta.len ? cn_memdup(a->meta.p, a->meta.len) : NULL;
        if (a->meta.len && !m)
            return;
        cn_free(n->meta);
        n->meta = m;
        n->meta_len = (uint16_t)a->meta.len;
    }
    bcast_alive(c, n, a);
    if (a->vsn.len >= 6)
        memcpy(n->vsn, a->vsn.p, 6);
    else if (is_new)
        memcpy(n->vsn, (uint8_t[6]){ 1, 2, 2, 2, 4, 4 }, 6);
    n->inc = a->inc;
    memcpy(n->addr, a->addr.p, a->addr.len);
    n->addr_len = (uint8_t)a->addr.len;
    n->port = a->port;
    if (n->state != CN__ML_ALIVE) {
        n->state = CN__ML_ALIVE;
        n->state_change_ms = c->now_ms;
    }
    if (old_state == CN__ML_DEAD || old_state == CN__ML_LEFT)
        sf_notify_join(c, n);
    else if (meta_changed)
        sf_notify_update(c, n);
}

int cg_alive(struct cn__gcore *c, const struct cn__gm_alive *a, bool bootstrap)
{
    struct ml_node *n;
    bool is_local, updates = false, is_new = false;

    if (!alive_valid(a))
        return CN_EMALFORMED;
    is_local = a->node.len == c->name_len && memcmp(a->node.p, c->name, c->name_len) == 0;
    if (c->leaving && is_local)
        return 0;
    n = cg_node(c, a->node.p, a->node.len);
    if (!n) {
        n = node_new(c, a->node.p, a->node.len);
        if (!n)
            return 0;
        memcpy(n->addr, a->addr.p, a->addr.len);
        n->addr_len = (uint8_t)a->addr.len;
        n->port = a->port;
        is_new = true;
    } else if (addr_differs(n, a)) {
        if (!may_reclaim(c, n)) {
            char was[48], now[48];
            cn__gaddr_format(n->addr, n->addr_len, was, sizeof was);
            cn__gaddr_format(a->addr.p, a->addr.len, now, sizeof now);
            CG_LOG(c, CN_LOG_WARN, "gossip: conflicting address for %s: %s:%u vs %s:%u",
                   n->name, was, n->port, now, a->port);
            return 0;
        }
        updates = true;
    }
    if (!is_new && a->inc <= n->inc && !is_local && !updates)
        return 0;
    if (!is_new && a->inc < n->inc && is_local)
        return 0;
    susp_clear(c, n);
    if (!bootstrap && is_local) {
        if (a->inc == n->inc && a->meta.len == c->my_meta_len &&
            (a->meta.len == 0 || memcmp(a->meta.p, c->my_meta, a->meta.len) == 0) &&
            a->vsn.len == 6 && memcmp(a->vsn.p, c->vsn, 6) == 0)
            return 0;
        cg_refute(c, a->inc);
        return 0;
    }
    apply_alive(c, n, a, is_new);
    return 0;
}

/* ---- suspicion (Lifeguard) -------------------------------------------- */

static uint64_t suspicion_min_ms(const struct cn__gcore *c, size_t n)
{
    double scale = cn_log10(n < 1 ? 1.0 : (double)n);
    if (scale < 1.0)
        scale = 1.0;
    /* Rounded to the ms: log10(1000) must give 3000, not 2999. */
    return (uint64_t)c->cfg.t.suspicion_mult * (uint64_t)(scale * 1000.0 + 0.5) *
           c->cfg.t.probe_interval_ms / 1000;
}

static uint64_t suspicion_timeout(const struct suspicion *s)
{
    double frac, raw;
    uint64_t t;
    if (s->k < 1)
        return s->min_ms;
    frac = cn_ln((double)s->n + 1.0) / cn_ln((double)s->k + 1.0);
    raw = (double)s->max_ms - frac * (double)(s->max_ms - s->min_ms);
    t = raw > 0.0 ? (uint64_t)raw : 0; /* floor, for raw >= 0 */
    return t < s->min_ms ? s->min_ms : t;
}

static void suspicion_start(struct cn__gcore *c, struct ml_node *n, const struct cn__gstr *from)
{
    struct suspicion *s;
    size_t est = cg_est_nodes(c);
    uint32_t k = c->cfg.t.suspicion_mult - 2;
    if (est < 2 || est - 2 < k)
        k = 0;
    if (c->n_susp == c->cap_susp) {
        size_t cap = c->cap_susp ? c->cap_susp * 2 : 16;
        struct ml_node **p = cn_realloc(c->susp, cap * sizeof *p);
        if (!p)
            return;
        c->susp = p;
        c->cap_susp = cap;
    }
    s = cn_calloc(1, sizeof *s);
    if (!s)
        return;
    CN_ASSERT(k < CN_ARRAY_LEN(s->from));
    s->k = k;
    s->start_ms = c->now_ms;
    s->min_ms = suspicion_min_ms(c, est);
    s->max_ms = (uint64_t)c->cfg.t.suspicion_max_mult * s->min_ms;
    s->from[s->n_from++] = cn_hash(from->p, from->len);
    s->deadline_ms = s->start_ms + suspicion_timeout(s);
    n->susp = s;
    c->susp[c->n_susp++] = n;
}

/* A new independent accuser shortens the timer; true if it counted. */
static bool suspicion_confirm(struct suspicion *s, const struct cn__gstr *from)
{
    uint64_t h = cn_hash(from->p, from->len);
    if (s->n >= s->k)
        return false;
    for (uint32_t i = 0; i < s->n_from; i++)
        if (s->from[i] == h)
            return false;
    CN_ASSERT(s->n_from < CN_ARRAY_LEN(s->from));
    s->from[s->n_from++] = h;
    s->n++;
    s->deadline_ms = s->start_ms + suspicion_timeout(s);
    return true;
}

void cg_suspicion_tick(struct cn__gcore *c)
{
    for (size_t i = 0; i < c->n_susp;) {
        struct ml_node *n = c->susp[i];
        if (c->now_ms >= n->susp->deadline_ms) {
            struct cn__gm_accuse d = {
                .inc = n->inc,
                .node = { (const uint8_t *)n->name, n->name_len },
                .from = { (const uint8_t *)c->name, c->name_len },
            };
            susp_clear(c, n);  /* removes c->susp[i] */
            if (n->state == CN__ML_SUSPECT) {
                c->ctr.deads_declared++;
                CG_LOG(c, CN_LOG_INFO, "gossip: marking %s as failed, suspect timeout reached",
                       n->name);
                cg_dead(c, &d);
            }
            continue;
        }
        i++;
    }
}

void cg_suspect(struct cn__gcore *c, const struct cn__gm_accuse *s)
{
    struct ml_node *n = cg_node(c, s->node.p, s->node.len);
    if (!n || s->inc < n->inc)
        return;
    if (n->susp) {
        if (suspicion_confirm(n->susp, &s->from))
            bcast_accuse(c, n, CN__GM_SUSPECT, s, BN_NONE);
        return;
    }
    if (n->state != CN__ML_ALIVE)
        return;
    if (is_self(c, n)) {
        CG_LOG(c, CN_LOG_WARN, "gossip: refuting a suspect message (from: %.*s)",
               (int)s->from.len, (const char *)s->from.p);
        cg_refute(c, s->inc);
        return;
    }
    bcast_accuse(c, n, CN__GM_SUSPECT, s, BN_NONE);
    n->inc = s->inc;
    n->state = CN__ML_SUSPECT;
    n->state_change_ms = c->now_ms;
    c->ctr.suspects_raised++;
    suspicion_start(c, n, &s->from);
}

void cg_dead(struct cn__gcore *c, const struct cn__gm_accuse *d)
{
    struct ml_node *n = cg_node(c, d->node.p, d->node.len);
    bool left;
    if (!n || d->inc < n->inc)
        return;
    susp_clear(c, n);
    if (n->state == CN__ML_DEAD || n->state == CN__ML_LEFT)
        return;
    if (is_self(c, n)) {
        if (!c->leaving) {
            CG_LOG(c, CN_LOG_WARN, "gossip: refuting a dead message (from: %.*s)",
                   (int)d->from.len, (const char *)d->from.p);
            cg_refute(c, d->inc);
            return;
        }
        bcast_accuse(c, n, CN__GM_DEAD, d, BN_LEAVE_DEAD);
    } else {
        bcast_accuse(c, n, CN__GM_DEAD, d, BN_NONE);
    }
    left = d->from.len == d->node.len && memcmp(d->from.p, d->node.p, d->node.len) == 0;
    n->inc = d->inc;
    n->state = left ? CN__ML_LEFT : CN__ML_DEAD;
    n->state_change_ms = c->now_ms;
    sf_notify_leave(c, n);
}

int cn__gcore_ml_state(const struct cn__gcore *c, const char *name, uint32_t *inc)
{
    struct ml_node *n = cg_node(c, (const uint8_t *)name, strlen(name));
    if (!n)
        return -1;
    if (inc)
        *inc = n->inc;
    return n->state;
}

size_t cn__gcore_alive_count(const struct cn__gcore *c)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n_nodes; i++)
        k += c->nodes[i]->state == CN__ML_ALIVE || c->nodes[i]->state == CN__ML_SUSPECT;
    return k;
}
