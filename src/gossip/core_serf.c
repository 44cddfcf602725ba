/* gossip/core_serf.c - the serf layer on top of memberlist: member
 * statuses (alive/leaving/left/failed), Lamport clocks, join/leave
 * intents, user events with de-duplication, queries (core_query.c), push/pull
 * user state, reaping and reconnect (gossip-notes.md 3).
 * Pure: no I/O, no clock.
 */
#include <errno.h>
#include <stdlib.h>

#include "core_int.h"

#define REAP_INTERVAL_MS 15000u       /* serf ReapInterval */
#define RECONNECT_INTERVAL_MS 30000u  /* serf ReconnectInterval */
#define RECENT_INTENT_MS 300000u      /* serf RecentIntentTimeout */
#define EVENT_ITEMS_MAX 64            /* events per Lamport slot we keep */

static void witness(uint64_t *clock, uint64_t v)
{
    if (v >= *clock)
        *clock = v + 1;
}

static int rd_u64_nil(struct cn_mp_reader *r, uint64_t *v)
{
    if (cn_mp_read_nil(r) == 0) {
        *v = 0;
        return 0;
    }
    return cn_mp_read_uint(r, v);
}

static int rd_name(struct cn_mp_reader *r, struct cn__gstr *s)
{
    if (cn_mp_read_str(r, &s->p, &s->len) < 0 || s->len == 0 ||
        s->len > CN_GOSSIP_NAME_BYTES_MAX)
        return CN_EMALFORMED;
    return 0;
}

struct sf_member *sf_member(const struct cn__gcore *c, const char *name, size_t len)
{
    return cn_map_get(&c->sf_map, name, len);
}

void sf_member_view(const struct sf_member *m, struct cn_gossip_member *out)
{
    memset(out, 0, sizeof *out);
    out->name = m->name;
    cn__gaddr_format(m->addr, m->addr_len, out->addr, sizeof out->addr);
    out->port = m->port;
    out->tags = m->tags;
    out->n_tags = m->n_tags;
    out->status = (enum cn_gossip_status)m->status;
    memcpy(out->vsn, m->vsn, 6);
}

static void member_free(struct sf_member *m)
{
    cn_free(m->tags);
    cn_free(m);
}

static void member_del(struct cn__gcore *c, struct sf_member *m)
{
    cn_map_del(&c->sf_map, m->name, strlen(m->name));
    c->sf_dirty = true;
    member_free(m);
}

int sf_init(struct cn__gcore *c)
{
    cn_map_init(&c->sf_map);
    cn_map_init(&c->intents);
    c->clock = c->event_clock = c->query_clock = 1;
    c->next_reap_ms = c->now_ms + REAP_INTERVAL_MS;
    c->next_reconnect_ms = c->now_ms + RECONNECT_INTERVAL_MS;
    return 0;
}

static void events_clear(struct ev_slot *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        cn_free(s->items[i].name);
        cn_free(s->items[i].payload);
    }
    cn_free(s->items);
    s->items = NULL;
    s->n = 0;
}

void sf_free(struct cn__gcore *c)
{
    uint32_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (cn_map_next(&c->sf_map, &pos, &k, &kl, &v))
        member_free(v);
    cn_map_close(&c->sf_map);
    pos = 0;
    while (cn_map_next(&c->intents, &pos, &k, &kl, &v))
        cn_free(v);
    cn_map_close(&c->intents);
    for (size_t i = 0; i < CN_GOSSIP_EVENT_BUFFER; i++)
        events_clear(&c->events[i]);
    cn_free(c->sf_sorted);
    sfq_free(c);
}

/* ---- recent intents (for members we do not know yet) ----------------- */

static struct intent *intent_get(struct cn__gcore *c, const uint8_t *name, size_t len)
{
    return cn_map_get(&c->intents, name, len);
}

/* serf upsertIntent: true if newer than what we had (rebroadcast). */
static bool intent_upsert(struct cn__gcore *c, const uint8_t *name, size_t len,
                          bool leave, uint64_t ltime)
{
    struct intent *in = intent_get(c, name, len);
    uint64_t *slot;
    if (!in) {
        if (c->intents.count >= CN_GOSSIP_RECENT_INTENTS_MAX)
            return false;
        in = cn_calloc(1, sizeof *in + len + 1);
        if (!in)
            return false;
        memcpy(in->name, name, len);
        if (cn_map_put(&c->intents, in->name, len, in, NULL) < 0) {
            cn_free(in);
            return false;
        }
    }
    slot = leave ? &in->leave_ltime : &in->join_ltime;
    if (*slot != 0 && ltime <= *slot)
        return false;
    *slot = ltime;
    in->at_ms = c->now_ms;
    return true;
}

/* ---- memberlist notifications (serf handleNodeJoin/Leave/Update) -------- */

static void member_fill(struct sf_member *m, const struct ml_node *n)
{
    struct cn_gossip_tag *tags;
    size_t nt;
    memcpy(m->addr, n->addr, n->addr_len);
    m->addr_len = n->addr_len;
    m->port = n->port;
    memcpy(m->vsn, n->vsn, 6);
    if (cn__gossip_tags_decode(n->meta, n->meta_len, &tags, &nt) == 0) {
        cn_free(m->tags);
        m->tags = tags;
        m->n_tags = nt;
    }
}

void sf_notify_join(struct cn__gcore *c, const struct ml_node *n)
{
    struct sf_member *m = sf_member(c, n->name, n->name_len);
    if (!m) {
        struct intent *in = intent_get(c, (const uint8_t *)n->name, n->name_len);
        m = cn_calloc(1, sizeof *m + n->name_len + 1);
        if (!m)
            return;
        m->name = (char *)(m + 1);
        memcpy(m->name, n->name, n->name_len);
        if (cn_map_put(&c->sf_map, m->name, n->name_len, m, NULL) < 0) {
            cn_free(m);
            return;
        }
        m->status = CN_GOSSIP_ALIVE;
        if (in && in->join_ltime)
            m->status_ltime = in->join_ltime;
        if (in && in->leave_ltime && in->leave_ltime > m->status_ltime) {
            m->status = CN_GOSSIP_LEAVING;
            m->status_ltime = in->leave_ltime;
        }
        c->sf_dirty = true;
    } else {
        m->status = CN_GOSSIP_ALIVE;
        m->leave_ms = 0;
    }
    member_fill(m, n);
    CG_LOG(c, CN_LOG_INFO, "gossip: member join: %s", m->name);
    cg_emit_event(c, CN_GOSSIP_EV_JOIN, m, NULL);
}

void sf_notify_leave(struct cn__gcore *c, const struct ml_node *n)
{
    struct sf_member *m = sf_member(c, n->name, n->name_len);
    enum cn_gossip_event_type ev;
    if (!m)
        return;
    if (m->status == CN_GOSSIP_LEAVING || n->state == CN__ML_LEFT) {
        m->status = CN_GOSSIP_LEFT;
        ev = CN_GOSSIP_EV_LEAVE;
    } else if (m->status == CN_GOSSIP_ALIVE) {
        m->status = CN_GOSSIP_FAILED;
        ev = CN_GOSSIP_EV_FAILED;
    } else {
        return;
    }
    m->leave_ms = c->now_ms;
    CG_LOG(c, CN_LOG_INFO, "gossip: member %s: %s", ev == CN_GOSSIP_EV_LEAVE ? "left" : "failed",
           m->name);
    cg_emit_event(c, ev, m, NULL);
}

void sf_notify_update(struct cn__gcore *c, const struct ml_node *n)
{
    struct sf_member *m = sf_member(c, n->name, n->name_len);
    if (!m)
        return;
    member_fill(m, n);
    cg_emit_event(c, CN_GOSSIP_EV_UPDATE, m, NULL);
}

/* ---- intents -------------------------------------------------------------- */

void sf_queue_raw(struct cn__gcore *c, const uint8_t *body, size_t len, uint8_t notify)
{
    uint8_t *msg = cn_alloc(len + 1);
    if (!msg)
        return;
    msg[0] = CN__GM_USER;
    memcpy(msg + 1, body, len);
    tlq_push(c, &c->sf_q, NULL, msg, (uint32_t)len + 1, notify);
}

static void queue_intent(struct cn__gcore *c, uint8_t type, const struct cn__sm_intent *m,
                         uint8_t notify)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
    cn__gm_writer(&w, &b);
    cn__sm_put_intent(&w, type, m);
    if (w.err == 0)
        sf_queue_raw(c, b.data + 1, b.len - 1, notify);
    cn_buf_close(&b);
}

static bool handle_join_intent(struct cn__gcore *c, const struct cn__sm_intent *j)
{
    struct sf_member *m;
    witness(&c->clock, j->ltime);
    m = sf_member(c, (const char *)j->node.p, j->node.len);
    if (!m)
        return intent_upsert(c, j->node.p, j->node.len, false, j->ltime);
    if (j->ltime <= m->status_ltime)
        return false;
    m->status_ltime = j->ltime;
    if (m->status == CN_GOSSIP_LEAVING)
        m->status = CN_GOSSIP_ALIVE;
    return true;
}

void sf_join_intent(struct cn__gcore *c)
{
    struct cn__sm_intent j = {
        .ltime = c->clock,
        .node = { (const uint8_t *)c->name, c->name_len },
    };
    witness(&c->clock, j.ltime);
    handle_join_intent(c, &j);
    queue_intent(c, CN__SM_JOIN, &j, BN_NONE);
}

static bool handle_leave_intent(struct cn__gcore *c, const struct cn__sm_intent *l)
{
    struct sf_member *m;
    witness(&c->clock, l->ltime);
    m = sf_member(c, (const char *)l->node.p, l->node.len);
    if (!m)
        return intent_upsert(c, l->node.p, l->node.len, true, l->ltime);
    if (l->ltime <= m->status_ltime)
        return false;
    if (l->node.len == c->name_len && memcmp(l->node.p, c->name, c->name_len) == 0 &&
        c->leave_phase == 0) {
        sf_join_intent(c);  /* refute: we are not leaving */
        return false;
    }
    switch (m->status) {
    case CN_GOSSIP_ALIVE:
        m->status = CN_GOSSIP_LEAVING;
        m->status_ltime = l->ltime;
        break;
    case CN_GOSSIP_FAILED:
        m->status = CN_GOSSIP_LEFT;
        m->status_ltime = l->ltime;
        CG_LOG(c, CN_LOG_INFO, "gossip: member left (forced): %s", m->name);
        cg_emit_event(c, CN_GOSSIP_EV_LEAVE, m, NULL);
        break;
    case CN_GOSSIP_LEAVING:
    case CN_GOSSIP_LEFT:
        break;
    default:
        return false;
    }
    if (l->prune && m->status == CN_GOSSIP_LEFT) {
        cg_emit_event(c, CN_GOSSIP_EV_REAP, m, NULL);
        member_del(c, m);
    }
    return true;
}

/* ---- user events ------------------------------------------------------ */

static bool handle_user_event(struct cn__gcore *c, const struct cn__sm_event *e)
{
    struct ev_slot *s;
    struct ev_item *it;
    witness(&c->event_clock, e->ltime);
    if (e->ltime < c->event_min_time)
        return false;
    if (c->event_clock > CN_GOSSIP_EVENT_BUFFER &&
        e->ltime < c->event_clock - CN_GOSSIP_EVENT_BUFFER)
        return false;
    s = &c->events[e->ltime % CN_GOSSIP_EVENT_BUFFER];
    if (s->items && s->ltime == e->ltime) {
        for (uint32_t i = 0; i < s->n; i++) {
            struct ev_item *p = &s->items[i];
            if (strlen(p->name) == e->name.len && !memcmp(p->name, e->name.p, e->name.len) &&
                p->len == e->payload.len &&
                (!p->len || !memcmp(p->payload, e->payload.p, p->len))) {
                c->ctr.events_dup++;
                return false;
            }
        }
    } else {
        events_clear(s);
        s->ltime = e->ltime;
    }
    if (s->n >= EVENT_ITEMS_MAX)
        return false;
    it = cn_realloc(s->items, (s->n + 1) * sizeof *it);
    if (!it)
        return false;
    s->items = it;
    it = &s->items[s->n];
    it->name = cn_strndup((const char *)e->name.p, e->name.len);
    it->payload = e->payload.len ? cn_memdup(e->payload.p, e->payload.len) : NULL;
    it->len = e->payload.len;
    if (!it->name || (e->payload.len && !it->payload)) {
        cn_free(it->name);
        cn_free(it->payload);
        return false;
    }
    s->n++;
    cg_emit_event(c, CN_GOSSIP_EV_USER, NULL, e);
    return true;
}

static bool event_valid(const struct cn__sm_event *e)
{
    return e->name.len + (size_t)e->payload.len <= CN_GOSSIP_USER_EVENT_HARD_BYTES_MAX &&
           !memchr(e->name.p ? e->name.p : (const uint8_t *)"", 0, e->name.len);
}

int cn__gcore_user_event(struct cn__gcore *c, uint64_t now_ms, const char *name,
                         const uint8_t *payload, size_t len, bool cc)
{
    struct cn__sm_event e;
    struct cn_buf b;
    struct cn_mp_writer w;
    size_t nlen = strlen(name);
    c->now_ms = now_ms;
    if (nlen + len > CN_GOSSIP_USER_EVENT_BYTES_MAX)
        return -EMSGSIZE;
    e.ltime = c->event_clock++;
    e.name = (struct cn__gstr){ (const uint8_t *)name, (uint32_t)nlen };
    e.payload = (struct cn__gstr){ payload, (uint32_t)len };
    e.cc = cc;
    cn_buf_init(&b, CN_GOSSIP_UDP_SEND_BYTES_MAX);
    cn__gm_writer(&w, &b);
    cn__sm_put_event(&w, &e);
    if (w.err == 0 && b.len - 1 > CN_GOSSIP_USER_EVENT_BYTES_MAX)
        w.err = -EMSGSIZE;
    if (w.err == 0) {
        handle_user_event(c, &e);
        sf_queue_raw(c, b.data + 1, b.len - 1, BN_NONE);
    }
    cn_buf_close(&b);
    return w.err;
}

/* body = serf type byte + msgpack (memberlist userMsg without the [8]). */
int sf_handle_user(struct cn__gcore *c, const uint8_t *p, size_t len)
{
    struct cn_mp_reader r;
    bool rebroadcast = false;
    if (len < 2)
        return CN_EMALFORMED;
    cn_mp_reader_init(&r, p + 1, len - 1);
    switch (p[0]) {
    case CN__SM_LEAVE:
    case CN__SM_JOIN: {
        struct cn__sm_intent m;
        if (cn__sm_read_intent(&r, &m) < 0 || m.node.len == 0 ||
            m.node.len > CN_GOSSIP_NAME_BYTES_MAX)
            goto bad;
        rebroadcast = p[0] == CN__SM_LEAVE ? handle_leave_intent(c, &m)
                                           : handle_join_intent(c, &m);
        break;
    }
    case CN__SM_EVENT: {
        struct cn__sm_event e;
        if (cn__sm_read_event(&r, &e) < 0 || !event_valid(&e))
            goto bad;
        rebroadcast = handle_user_event(c, &e);
        break;
    }
    case CN__SM_QUERY: {
        struct cn__sm_query q;
        if (cn__sm_read_query(&r, &q) < 0)
            goto bad_query;
        rebroadcast = sfq_handle_query(c, &q);
        break;
    }
    case CN__SM_QRESP: {
        struct cn__sm_qresp q;
        if (cn__sm_read_qresp(&r, &q) < 0)
            goto bad_query;
        sfq_handle_resp(c, &q);
        return 0;
    }
    case CN__SM_RELAY:
        return sfq_handle_relay(c, p + 1, len - 1);
    default:
        return 0;  /* conflict/key payloads: not messages on their own */
    }
    if (rebroadcast)
        sf_queue_raw(c, p, len, BN_NONE);
    return 0;
bad_query:
    c->ctr.query_bad++;
bad:
    return CN_EMALFORMED;
}

/* ---- push/pull user state --------------------------------------------- */

int sf_local_state(struct cn__gcore *c, struct cn_buf *out)
{
    struct cn_mp_writer w;
    uint32_t n_events = 0, n_left = 0, pos = 0;
    const void *k;
    size_t kl;
    void *v;
    uint8_t t = CN__SM_PUSHPULL;

    for (size_t i = 0; i < CN_GOSSIP_EVENT_BUFFER; i++)
        n_events += c->events[i].n > 0;
    while (cn_map_next(&c->sf_map, &pos, &k, &kl, &v))
        n_left += ((struct sf_member *)v)->status == CN_GOSSIP_LEFT;
    cn__gm_writer(&w, out);
    cn_mp_put_raw(&w, &t, 1);
    cn_mp_put_map(&w, 6);
    cn_mp_put_cstr(&w, "EventLTime");
    cn_mp_put_uint(&w, c->event_clock);
    cn_mp_put_cstr(&w, "Events");
    cn_mp_put_array(&w, n_events);
    for (uint64_t i = 0; i < CN_GOSSIP_EVENT_BUFFER; i++) {
        /* Oldest first so that a reader sees a sensible order. */
        const struct ev_slot *s = &c->events[(c->event_clock + i) % CN_GOSSIP_EVENT_BUFFER];
        if (!s->n)
            continue;
        cn_mp_put_map(&w, 2);
        cn_mp_put_cstr(&w, "Events");
        cn_mp_put_array(&w, s->n);
        for (uint32_t j = 0; j < s->n; j++) {
            cn_mp_put_map(&w, 2);
            cn_mp_put_cstr(&w, "Name");
            cn_mp_put_cstr(&w, s->items[j].name);
            cn_mp_put_cstr(&w, "Payload");
            if (s->items[j].len)
                cn_mp_put_str(&w, s->items[j].payload, s->items[j].len);
            else
                cn_mp_put_nil(&w);
        }
        cn_mp_put_cstr(&w, "LTime");
        cn_mp_put_uint(&w, s->ltime);
    }
    cn_mp_put_cstr(&w, "LTime");
    cn_mp_put_uint(&w, c->clock);
    cn_mp_put_cstr(&w, "LeftMembers");
    cn_mp_put_array(&w, n_left);
    pos = 0;
    while (cn_map_next(&c->sf_map, &pos, &k, &kl, &v))
        if (((struct sf_member *)v)->status == CN_GOSSIP_LEFT)
            cn_mp_put_cstr(&w, ((struct sf_member *)v)->name);
    cn_mp_put_cstr(&w, "QueryLTime");
    cn_mp_put_uint(&w, c->query_clock);
    cn_mp_put_cstr(&w, "StatusLTimes");
    cn_mp_put_map(&w, c->sf_map.count);
    pos = 0;
    while (cn_map_next(&c->sf_map, &pos, &k, &kl, &v)) {
        cn_mp_put_cstr(&w, ((struct sf_member *)v)->name);
        cn_mp_put_uint(&w, ((struct sf_member *)v)->status_ltime);
    }
    return w.err;
}

/* serf mergeRemoteState: clocks, left members as leave intents, the other
 * status times as join intents, then the buffered events (none of these
 * are rebroadcast). ignore_old: we are joining without replay, so events
 * up to the remote's clock are not delivered (serf eventJoinIgnore). */
struct remote_pp {
    uint64_t ltime, event_ltime, query_ltime;
    struct cn_mp_reader status, left, events;
    bool has_status, has_left, has_events;
};

static int pp_fields(struct cn_mp_reader *r, struct remote_pp *pp)
{
    uint32_t n;
    memset(pp, 0, sizeof *pp);
    if (cn_mp_read_map(r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t kl;
        struct cn_mp_reader *save = NULL;
        bool *flag = NULL;
        if (cn_mp_read_str(r, &k, &kl) < 0)
            return CN_EMALFORMED;
        if (kl == 5 && !memcmp(k, "LTime", 5)) {
            if (cn_mp_read_uint(r, &pp->ltime) < 0)
                return CN_EMALFORMED;
            continue;
        }
        if (kl == 10 && !memcmp(k, "EventLTime", 10)) {
            if (cn_mp_read_uint(r, &pp->event_ltime) < 0)
                return CN_EMALFORMED;
            continue;
        }
        if (kl == 10 && !memcmp(k, "QueryLTime", 10)) {
            if (cn_mp_read_uint(r, &pp->query_ltime) < 0)
                return CN_EMALFORMED;
            continue;
        }
        if (kl == 12 && !memcmp(k, "StatusLTimes", 12))
            save = &pp->status, flag = &pp->has_status;
        else if (kl == 11 && !memcmp(k, "LeftMembers", 11))
            save = &pp->left, flag = &pp->has_left;
        else if (kl == 6 && !memcmp(k, "Events", 6))
            save = &pp->events, flag = &pp->has_events;
        if (save) {
            *save = *r;
            *flag = cn_mp_read_nil(r) != 0;  /* nil: treat as absent */
        }
        if (save && !*flag)
            continue;
        if (cn_mp_skip(r) < 0)
            return CN_EMALFORMED;
    }
    return 0;
}

static int merge_intents(struct cn__gcore *c, struct remote_pp *pp)
{
    struct cn_map times, left;
    uint64_t *vals = NULL;
    uint32_t n = 0, nl = 0;
    int rc = CN_EMALFORMED;

    cn_map_init(&times);
    cn_map_init(&left);
    if (pp->has_status && cn_mp_read_map(&pp->status, &n) < 0)
        goto out;
    if (n > CN_GOSSIP_MEMBERS_MAX || !(vals = cn_calloc(n ? n : 1, sizeof *vals)))
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        struct cn__gstr name;
        if (rd_name(&pp->status, &name) < 0 || rd_u64_nil(&pp->status, &vals[i]) < 0 ||
            cn_map_put(&times, name.p, name.len, &vals[i], NULL) < 0)
            goto out;
    }
    if (pp->has_left && cn_mp_read_array(&pp->left, &nl) < 0)
        goto out;
    for (uint32_t i = 0; i < nl; i++) {
        struct cn__sm_intent l = { 0 };
        uint64_t *t;
        if (rd_name(&pp->left, &l.node) < 0 ||
            cn_map_put(&left, l.node.p, l.node.len, &vals[0], NULL) < 0)
            goto out;
        t = cn_map_get(&times, l.node.p, l.node.len);
        l.ltime = t ? *t : 0;
        handle_leave_intent(c, &l);
    }
    if (pp->has_status) {
        uint32_t pos = 0;
        const void *k;
        size_t kl;
        void *v;
        /* Slot order is hash order; join intents commute, so that is fine. */
        while (cn_map_next(&times, &pos, &k, &kl, &v)) {
            struct cn__sm_intent j = { .ltime = *(uint64_t *)v,
                                       .node = { k, (uint32_t)kl } };
            if (!cn_map_get(&left, k, kl))
                handle_join_intent(c, &j);
        }
    }
    rc = 0;
out:
    cn_free(vals);
    cn_map_close(&times);
    cn_map_close(&left);
    return rc;
}

static int merge_events(struct cn__gcore *c, struct cn_mp_reader *r)
{
    uint32_t n;
    if (cn_mp_read_array(r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t nf, ne = 0;
        uint64_t ltime = 0;
        struct cn_mp_reader evs = { 0 };
        bool have = false;
        if (cn_mp_read_nil(r) == 0)
            continue;
        if (cn_mp_read_map(r, &nf) < 0)
            return CN_EMALFORMED;
        for (uint32_t f = 0; f < nf; f++) {
            const uint8_t *k;
            uint32_t kl;
            if (cn_mp_read_str(r, &k, &kl) < 0)
                return CN_EMALFORMED;
            if (kl == 5 && !memcmp(k, "LTime", 5)) {
                if (rd_u64_nil(r, &ltime) < 0)
                    return CN_EMALFORMED;
                continue;
            }
            if (kl == 6 && !memcmp(k, "Events", 6)) {
                evs = *r;
                have = cn_mp_read_nil(r) != 0;
                if (!have)
                    continue;
            }
            if (cn_mp_skip(r) < 0)
                return CN_EMALFORMED;
        }
        if (!have)
            continue;
        if (cn_mp_read_array(&evs, &ne) < 0)
            return CN_EMALFORMED;
        for (uint32_t j = 0; j < ne; j++) {
            struct cn__sm_event e;
            if (cn__sm_read_event(&evs, &e) < 0 || !event_valid(&e))
                return CN_EMALFORMED;
            e.ltime = ltime;  /* userEvent has no LTime of its own */
            handle_user_event(c, &e);
        }
    }
    return 0;
}

int sf_merge_state(struct cn__gcore *c, const uint8_t *p, size_t len, bool ignore_old)
{
    struct cn_mp_reader r;
    struct remote_pp pp;
    int rc;
    if (len < 1 || p[0] != CN__SM_PUSHPULL)
        return CN_EMALFORMED;
    cn_mp_reader_init(&r, p + 1, len - 1);
    if (pp_fields(&r, &pp) < 0)
        return CN_EMALFORMED;
    if (pp.ltime > 0)
        witness(&c->clock, pp.ltime - 1);
    if (pp.event_ltime > 0)
        witness(&c->event_clock, pp.event_ltime - 1);
    if (pp.query_ltime > 0)
        witness(&c->query_clock, pp.query_ltime - 1);
    rc = merge_intents(c, &pp);
    if (rc < 0)
        return rc;
    if (ignore_old && pp.event_ltime > c->event_min_time)
        c->event_min_time = pp.event_ltime;
    return pp.has_events ? merge_events(c, &pp.events) : 0;
}

/* ---- timers, leave ---------------------------------------------------- */

static bool other_alive(const struct cn__gcore *c)
{
    for (size_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i] != c->self && c->nodes[i]->state == CN__ML_ALIVE)
            return true;
    return false;
}

static void leave_memberlist(struct cn__gcore *c)
{
    struct cn__gm_accuse d = {
        .inc = c->self->inc,
        .node = { (const uint8_t *)c->name, c->name_len },
        .from = { (const uint8_t *)c->name, c->name_len },
    };
    c->leave_phase = 2;
    c->leaving = true;
    cg_dead(c, &d);  /* broadcast with BN_LEAVE_DEAD, self -> left */
    if (!other_alive(c) || !tlq_has_notify(&c->ml_q, BN_LEAVE_DEAD))
        sf_bcast_finished(c, BN_LEAVE_DEAD);
}

void sf_bcast_finished(struct cn__gcore *c, uint8_t notify)
{
    if (notify == BN_LEAVE_INTENT && c->leave_phase == 1) {
        leave_memberlist(c);
    } else if (notify == BN_LEAVE_DEAD && c->leave_phase == 2) {
        c->leave_phase = 3;
        c->leave_done = true;
        c->leave_rc = c->now_ms > c->leave_deadline_ms ? CN_ETIMEOUT : 0;
        CG_LOG(c, CN_LOG_INFO, "gossip: left the pool");
    }
}

int cn__gcore_leave(struct cn__gcore *c, uint64_t now_ms, uint64_t timeout_ms)
{
    struct cn__sm_intent l = {
        .node = { (const uint8_t *)c->name, c->name_len },
    };
    c->now_ms = now_ms;
    if (c->leave_phase != 0)
        return -EALREADY;
    l.ltime = c->clock++;
    c->leave_phase = 1;
    c->leave_deadline_ms = now_ms + timeout_ms;
    c->leave_phase_deadline_ms = now_ms + timeout_ms / 2;
    handle_leave_intent(c, &l);
    if (other_alive(c)) {
        queue_intent(c, CN__SM_LEAVE, &l, BN_LEAVE_INTENT);
        return 0;
    }
    leave_memberlist(c);
    return 0;
}

int cn__gcore_force_leave(struct cn__gcore *c, uint64_t now_ms, const char *name)
{
    struct cn__sm_intent l = { .node = { (const uint8_t *)name, (uint32_t)strlen(name) } };
    c->now_ms = now_ms;
    if (!sf_member(c, name, strlen(name)))
        return -ENOENT;
    l.ltime = c->clock++;
    handle_leave_intent(c, &l);
    queue_intent(c, CN__SM_LEAVE, &l, BN_NONE);
    return 0;
}

void cn__gcore_joined(struct cn__gcore *c, uint64_t now_ms)
{
    c->now_ms = now_ms;
    sf_join_intent(c);
}

static void reap(struct cn__gcore *c)
{
    uint32_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (cn_map_next(&c->sf_map, &pos, &k, &kl, &v)) {
        struct sf_member *m = v;
        uint64_t limit = m->status == CN_GOSSIP_FAILED ? c->cfg.reconnect_timeout_ms
                         : m->status == CN_GOSSIP_LEFT ? c->cfg.tombstone_timeout_ms
                                                       : UINT64_MAX;
        if (limit != UINT64_MAX && c->now_ms - m->leave_ms > limit) {
            CG_LOG(c, CN_LOG_INFO, "gossip: member reaped: %s", m->name);
            cg_emit_event(c, CN_GOSSIP_EV_REAP, m, NULL);
            member_del(c, m);
            pos = 0;  /* the map changed: restart the walk */
        }
    }
    pos = 0;
    while (cn_map_next(&c->intents, &pos, &k, &kl, &v)) {
        struct intent *in = v;
        if (c->now_ms - in->at_ms > RECENT_INTENT_MS) {
            cn_map_del(&c->intents, in->name, strlen(in->name));
            cn_free(in);
            pos = 0;
        }
    }
}

/* serf reconnect: with probability failed/alive, re-join one failed member. */
static void reconnect(struct cn__gcore *c)
{
    uint32_t pos = 0, failed = 0, alive = 0, pick;
    const void *k;
    size_t kl;
    void *v;
    while (cn_map_next(&c->sf_map, &pos, &k, &kl, &v)) {
        uint8_t s = ((struct sf_member *)v)->status;
        failed += s == CN_GOSSIP_FAILED;
        alive += s == CN_GOSSIP_ALIVE;
    }
    if (failed == 0 || alive == 0 || !cn_prng_chance(&c->prng, CN_MIN(failed, alive), alive))
        return;
    pick = (uint32_t)cn_prng_below(&c->prng, failed);
    pos = 0;
    while (cn_map_next(&c->sf_map, &pos, &k, &kl, &v)) {
        struct sf_member *m = v;
        if (m->status != CN_GOSSIP_FAILED || pick-- > 0)
            continue;
        struct cn__gaddr to = { .len = m->addr_len, .port = m->port };
        uint32_t id;
        memcpy(to.ip, m->addr, m->addr_len);
        (void)cg_start_pushpull(c, &to, true, &id);
        return;
    }
}

void sf_tick(struct cn__gcore *c)
{
    sfq_tick(c);
    if (c->leave_phase == 1 && c->now_ms >= c->leave_phase_deadline_ms)
        leave_memberlist(c);
    if (c->leave_phase == 2 && c->now_ms >= c->leave_deadline_ms)
        sf_bcast_finished(c, BN_LEAVE_DEAD);
    if (c->now_ms >= c->next_reap_ms) {
        c->next_reap_ms = c->now_ms + REAP_INTERVAL_MS;
        reap(c);
    }
    if (c->now_ms >= c->next_reconnect_ms) {
        c->next_reconnect_ms = c->now_ms + RECONNECT_INTERVAL_MS;
        if (c->leave_phase == 0)
            reconnect(c);
    }
}

/* ---- member list accessors --------------------------------------------- */

static int member_cmp(const void *a, const void *b)
{
    const struct sf_member *x = *(const struct sf_member *const *)a;
    const struct sf_member *y = *(const struct sf_member *const *)b;
    return strcmp(x->name, y->name);
}

size_t cn__gcore_member_count(const struct cn__gcore *c) { return c->sf_map.count; }

bool cn__gcore_member_at(const struct cn__gcore *cc, size_t i, struct cn_gossip_member *m)
{
    struct cn__gcore *c = (struct cn__gcore *)cc;  /* the cache is not state */
    if (c->sf_dirty || !c->sf_sorted || c->n_sf_sorted != c->sf_map.count) {
        uint32_t pos = 0;
        const void *k;
        size_t kl, n = 0;
        void *v;
        struct sf_member **arr = cn_realloc(c->sf_sorted, (c->sf_map.count + 1) * sizeof *arr);
        if (!arr)
            return false;
        while (cn_map_next(&c->sf_map, &pos, &k, &kl, &v))
            arr[n++] = v;
        qsort(arr, n, sizeof *arr, member_cmp);
        c->sf_sorted = arr;
        c->n_sf_sorted = n;
        c->sf_dirty = false;
    }
    if (i >= c->n_sf_sorted)
        return false;
    sf_member_view(c->sf_sorted[i], m);
    return true;
}

enum cn_gossip_status cn__gcore_serf_status(const struct cn__gcore *c, const char *name)
{
    struct sf_member *m = sf_member(c, name, strlen(name));
    return m ? (enum cn_gossip_status)m->status : CN_GOSSIP_NONE;
}
