/* agent/pool.c - the agent's gossip pools (LAN on every agent, WAN on
 * servers), Consul's serf tags, joins with retry, and the server lists
 * that RPC routing reads.
 *
 * Tags follow Consul's (agent/consul/server_serf.go, client_serf.go):
 * every agent: role ("consul" servers, "node" clients), dc, segment, id,
 * vsn/vsn_min/vsn_max, build; servers add port (server RPC), expect,
 * raft_vsn, wan_join_port. A member with role=consul and a port is a
 * server we can send RPCs to; its address is the gossip address.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent_int.h"
#include "local.h"
#include "gossip/gossip.h"
#include "server/server.h"

#define JOIN_FAST_MS 1000      /* First attempts: every second... */
#define JOIN_FAST_TRIES 30     /* ...for the first 30, then retry_interval. */

/* ---- server lists ---- */

static const char *tag(const struct cn_gossip_member *m, const char *key)
{
    for (size_t i = 0; i < m->n_tags; i++)
        if (strcmp(m->tags[i].key, key) == 0)
            return m->tags[i].value;
    return NULL;
}

/* The pool's server list from member tags. A full list reuses the slot
 * of a server that is gone, so churn cannot lock new servers out. */
static void server_list_update(struct cn__pool *p, const struct cn_gossip_member *m, bool alive)
{
    const char *role = tag(m, "role"), *port = tag(m, "port"), *dc = tag(m, "dc");
    const char *id = tag(m, "id");
    size_t i;
    if (!role || strcmp(role, "consul") != 0 || !port || !dc)
        return;
    for (i = 0; i < p->n_servers; i++)
        if (strcmp(p->servers[i].name, m->name) == 0)
            break;
    if (i == p->n_servers) {
        if (!alive)
            return;
        if (p->n_servers < CN__POOL_SERVERS_MAX) {
            p->n_servers++;
        } else {
            for (i = 0; i < p->n_servers && p->servers[i].alive; i++)
                ;
            if (i == p->n_servers)
                return;
        }
    }
    struct cn__pool_server *s = &p->servers[i];
    snprintf(s->name, sizeof s->name, "%s", m->name);
    snprintf(s->dc, sizeof s->dc, "%s", dc);
    snprintf(s->id, sizeof s->id, "%s", id ? id : "");
    snprintf(s->addr, sizeof s->addr, strchr(m->addr, ':') ? "[%s]:%s" : "%s:%s", m->addr,
             port);
    s->alive = alive;
}

static size_t servers_of(const struct cn__pool *p, const char *dc, char (*out)[64],
                         size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_servers && n < max; i++)
        if (p->servers[i].alive && (!dc || strcmp(p->servers[i].dc, dc) == 0))
            snprintf(out[n++], 64, "%s", p->servers[i].addr);
    return n;
}

size_t cn__agent_lan_servers(void *ctx, char (*out)[64], size_t max)
{
    struct cn_agent *a = ctx;
    return servers_of(&a->lan, a->cfg.datacenter, out, max);
}

size_t cn__agent_dc_servers(void *ctx, const char *dc, char (*out)[64], size_t max)
{
    struct cn_agent *a = ctx;
    if (strcmp(dc, a->cfg.datacenter) == 0)
        return servers_of(&a->lan, dc, out, max);
    return servers_of(&a->wan, dc, out, max);
}

static int cmp_name(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* Datacenters known from the WAN pool (servers) or just ours: ours
 * first (Consul sorts by round-trip time; ours is nearest), then by name. */
size_t cn__agent_datacenters(void *ctx, char (*out)[64], size_t max)
{
    struct cn_agent *a = ctx;
    size_t n = 0;
    snprintf(out[n++], 64, "%s", a->cfg.datacenter);
    for (size_t i = 0; i < a->wan.n_servers && n < max; i++) {
        bool seen = false;
        for (size_t k = 0; k < n; k++)
            seen |= strcmp(out[k], a->wan.servers[i].dc) == 0;
        if (!seen)
            snprintf(out[n++], 64, "%s", a->wan.servers[i].dc);
    }
    qsort(out + 1, n - 1, 64, cmp_name);
    return n;
}

/* ---- events ---- */

/* Hands a LAN member to the server (leader reconcile, members.c). */
static void server_member(struct cn_agent *a, const struct cn_gossip_event *ev)
{
    const struct cn_gossip_member *m = &ev->member;
    const char *port = tag(m, "port");
    struct cn_server_member sm = {
        .name = m->name, .addr = m->addr, .id = tag(m, "id"), .role = tag(m, "role"),
        .dc = tag(m, "dc"), .port = port ? (int)strtol(port, NULL, 10) : 0,
    };
    switch (ev->type) {
    case CN_GOSSIP_EV_REAP: sm.status = CN_MEMBER_REAPED; break;
    case CN_GOSSIP_EV_FAILED: sm.status = CN_MEMBER_FAILED; break;
    case CN_GOSSIP_EV_LEAVE: sm.status = CN_MEMBER_LEFT; break;
    default:
        sm.status = m->status == CN_GOSSIP_LEAVING ? CN_MEMBER_LEAVING
                  : m->status == CN_GOSSIP_LEFT ? CN_MEMBER_LEFT
                  : m->status == CN_GOSSIP_FAILED ? CN_MEMBER_FAILED : CN_MEMBER_ALIVE;
    }
    cn_server_member_update(a->server, &sm);
}

static void on_lan_event(void *ctx, const struct cn_gossip_event *ev)
{
    struct cn_agent *a = ctx;
    if (ev->type == CN_GOSSIP_EV_USER) {
        cn__agent_user_event(a, ev);
        return;
    }
    server_list_update(&a->lan, &ev->member, ev->type == CN_GOSSIP_EV_JOIN ||
                                                    ev->type == CN_GOSSIP_EV_UPDATE);
    CN_INFO("agent: member %s %s (%s:%u)", ev->member.name, cn_gossip_event_name(ev->type),
            ev->member.addr, ev->member.port);
    if (a->server)
        server_member(a, ev);
}

static void on_wan_event(void *ctx, const struct cn_gossip_event *ev)
{
    struct cn_agent *a = ctx;
    if (ev->type == CN_GOSSIP_EV_USER)
        return;
    server_list_update(&a->wan, &ev->member, ev->type == CN_GOSSIP_EV_JOIN ||
                                                    ev->type == CN_GOSSIP_EV_UPDATE);
    CN_INFO("agent: WAN member %s %s", ev->member.name, cn_gossip_event_name(ev->type));
}

/* ---- joins (with retry) ---- */

static void join_done(void *ctx, int n_ok)
{
    struct cn__pool *p = ctx;
    p->joining = false;
    if (n_ok > 0) {
        p->joined = true;
        CN_INFO("agent: joined the %s pool through %d address(es)", p->wan ? "WAN" : "LAN",
                n_ok);
    }
}

static void on_join_timer(uv_timer_t *t)
{
    struct cn__pool *p = t->data;
    uint64_t next;
    if (!p->g || p->joined || p->n_join == 0)
        return;
    if (!p->joining) {
        const char *addrs[CN_CONFIG_LIST_MAX];
        for (size_t i = 0; i < p->n_join; i++)
            addrs[i] = p->join[i];
        if (cn_gossip_join(p->g, addrs, p->n_join, join_done, p) == 0)
            p->joining = true;
    }
    p->tries++;
    next = p->tries < JOIN_FAST_TRIES ? JOIN_FAST_MS : p->retry_ms;
    uv_timer_start(t, on_join_timer, next, 0);
}

/* ---- tags ---- */

static size_t build_tags(const struct cn_agent *a, bool wan, struct cn_gossip_tag *tags,
                         char (*vals)[64])
{
    size_t n = 0;
#define TAG(k, fmt, ...)                                              \
    do {                                                              \
        snprintf(vals[n], 64, fmt, __VA_ARGS__);                      \
        tags[n].key = (k);                                            \
        tags[n].value = vals[n];                                      \
        n++;                                                          \
    } while (0)
    TAG("build", "%s:cairn", "1.15.0");
    TAG("dc", "%s", a->cfg.datacenter);
    TAG("id", "%s", a->node_id);
    TAG("role", "%s", a->cfg.server ? "consul" : "node");
    TAG("segment", "%s", "");
    TAG("vsn", "%s", "2");
    TAG("vsn_max", "%s", "3");
    TAG("vsn_min", "%s", "2");
    if (a->cfg.server) {
        TAG("expect", "%u", a->cfg.bootstrap_expect);
        TAG("port", "%d", a->server ? cn_server_port(a->server) : a->cfg.server_port);
        TAG("raft_vsn", "%s", "3");
        if (!wan && a->wan.g)
            TAG("wan_join_port", "%u", cn_gossip_port(a->wan.g));
    }
#undef TAG
    return n;
}

static int pool_start(struct cn_agent *a, struct cn__pool *p, bool wan, int port,
                      const struct cn_strlist *join, char *errmsg)
{
    struct cn_gossip_tag tags[16];
    char vals[16][64], name[192];
    const char *keys[1] = {a->cfg.encrypt};
    struct cn_gossip_config gc = {
        .bind_addr = a->cfg.dev ? "127.0.0.1" : a->cfg.bind_addr,
        .port = (uint16_t)port,
        .advertise_addr = a->advertise,
        .profile = wan ? CN_GOSSIP_WAN : CN_GOSSIP_LAN,
        .keys = keys, .n_keys = a->cfg.encrypt[0] ? 1 : 0,
        .event_cb = wan ? on_wan_event : on_lan_event, .event_ctx = a,
    };
    int rc;
    /* WAN members are "node.dc" (Consul's naming). */
    snprintf(name, sizeof name, wan ? "%s.%s" : "%s", a->cfg.node_name, a->cfg.datacenter);
    gc.name = name;
    gc.n_tags = build_tags(a, wan, tags, vals);
    gc.tags = tags;
    rc = cn_gossip_new(a->loop, &gc, &p->g, errmsg);
    if (rc < 0)
        return rc;
    p->wan = wan;
    p->retry_ms = a->cfg.retry_interval_ms ? a->cfg.retry_interval_ms : 30000;
    for (size_t i = 0; i < join->n && p->n_join < CN_CONFIG_LIST_MAX; i++)
        snprintf(p->join[p->n_join++], sizeof p->join[0], "%s", join->v[i]);
    uv_timer_init(a->loop, &p->join_timer);
    p->join_timer.data = p;
    p->timer_open = true;
    if (p->n_join)
        uv_timer_start(&p->join_timer, on_join_timer, 0, 0);
    return 0;
}

int cn__agent_pools_start(struct cn_agent *a, char *errmsg)
{
    int rc;
    if (a->cfg.serf_lan_port < 0)
        return 0;
    if (a->cfg.server && !a->cfg.dev && a->cfg.serf_wan_port >= 0) {
        rc = pool_start(a, &a->wan, true, a->cfg.serf_wan_port, &a->cfg.retry_join_wan, errmsg);
        if (rc < 0)
            return rc;
    }
    rc = pool_start(a, &a->lan, false, a->cfg.dev ? 0 : a->cfg.serf_lan_port,
                    &a->cfg.retry_join, errmsg);
    return rc;
}

static void on_pool_closed(void *ctx)
{
    (void)ctx;
}

static void pool_stop(struct cn__pool *p)
{
    if (p->timer_open) {
        uv_timer_stop(&p->join_timer);
        uv_close((uv_handle_t *)&p->join_timer, NULL);
        p->timer_open = false;
    }
    if (p->g) {
        cn_gossip_close(p->g, on_pool_closed, NULL);
        p->g = NULL;
    }
}

void cn__agent_pools_stop(struct cn_agent *a)
{
    pool_stop(&a->lan);
    pool_stop(&a->wan);
}

/* Graceful gossip leave of both pools; cb when done (bounded). */
struct leave_wait {
    struct cn_agent *a;
    int pending;
    void (*cb)(struct cn_agent *);
};

static void left_one(void *ctx, int rc)
{
    struct leave_wait *w = ctx;
    (void)rc;
    if (--w->pending == 0) {
        w->cb(w->a);
        cn_free(w);
    }
}

void cn__agent_pools_leave(struct cn_agent *a, void (*cb)(struct cn_agent *))
{
    struct leave_wait *w = cn_calloc(1, sizeof *w);
    struct cn__pool *pools[2] = {&a->lan, &a->wan};
    if (!w) {
        cb(a);
        return;
    }
    w->a = a;
    w->cb = cb;
    w->pending = 1;
    for (int i = 0; i < 2; i++)
        if (pools[i]->g && cn_gossip_leave(pools[i]->g, 5000, left_one, w) == 0)
            w->pending++;
    left_one(w, 0);
}

/* ---- user events ---- */

/* Consul's events ride serf user events named "consul:event:<name>"
 * (event.c has the payload codec); anything else on the pool is not ours
 * and is ignored, as Consul does. */
void cn__agent_user_event(struct cn_agent *a, const struct cn_gossip_event *ev)
{
    struct cn_user_event ue;
    char *mem;
    size_t pl = strlen(CN_EVENT_SERF_PREFIX);
    CN_DEBUG_LOG("agent: serf user event %s ltime %llu", ev->user_name,
                 (unsigned long long)ev->ltime);
    if (strncmp(ev->user_name, CN_EVENT_SERF_PREFIX, pl) != 0)
        return;
    if (cn__event_decode(ev->payload, ev->payload_len, &ue, &mem) < 0) {
        CN_WARN("agent: failed to decode event %s", ev->user_name);
        return;
    }
    ue.ltime = ev->ltime;
    if (cn_agent_event_deliver(a, &ue) < 0)
        CN_WARN("agent: dropped event %s: out of memory", ue.name);
    cn_free(mem);
}

int cn__agent_fire_event(struct cn_agent *a, const struct cn_user_event *ev)
{
    char name[CN_GOSSIP_USER_EVENT_BYTES_MAX + 32];
    struct cn_buf b;
    int rc;
    if (!a->lan.g) /* No gossip (should not happen): this agent only. */
        return cn_agent_event_deliver(a, ev);
    snprintf(name, sizeof name, "%s%s", CN_EVENT_SERF_PREFIX, ev->name);
    cn_buf_init(&b, CN_GOSSIP_USER_EVENT_HARD_BYTES_MAX);
    rc = cn__event_encode(ev, &b);
    /* The event comes back to us through the pool like everyone's. */
    if (rc == 0)
        rc = cn_gossip_user_event(a->lan.g, name, b.data, b.len, false);
    cn_buf_close(&b);
    return rc;
}

/* ---- operator requests (members, join, force-leave) ---- */

struct cn_gossip *cn__agent_pool(struct cn_agent *a, bool wan)
{
    return wan ? a->wan.g : a->lan.g;
}

/* One join through the API: the pool's own retry loop may be joining at
 * the same moment (-EBUSY from the core); the API's join waits for it by
 * retrying a few times on a short timer. */
struct api_join {
    struct cn_agent *a;
    struct cn_gossip *g;
    char addr[128];
    unsigned busy_tries;
    uv_timer_t timer;
    cn__agent_join_fn *cb;
    void *ctx;
};

static void api_join_free(uv_handle_t *h)
{
    cn_free(h->data);
}

static void api_join_done(void *ctx, int n_ok)
{
    struct api_join *j = ctx;
    j->cb(j->ctx, n_ok > 0 ? 0 : CN_ETIMEOUT);
    uv_close((uv_handle_t *)&j->timer, api_join_free);
}

static void api_join_try(uv_timer_t *t)
{
    struct api_join *j = t->data;
    const char *addrs[1] = {j->addr};
    int rc = cn_gossip_join(j->g, addrs, 1, api_join_done, j);
    if (rc == -EBUSY && ++j->busy_tries < 50) {
        uv_timer_start(&j->timer, api_join_try, 100, 0);
        return;
    }
    if (rc < 0) {
        j->cb(j->ctx, rc);
        uv_close((uv_handle_t *)&j->timer, api_join_free);
    }
}

int cn__agent_join(struct cn_agent *a, bool wan, const char *addr, cn__agent_join_fn *cb,
                   void *ctx)
{
    struct cn__pool *p = wan ? &a->wan : &a->lan;
    struct api_join *j;
    if (!p->g)
        return CN_EUNSUPPORTED;
    if (strlen(addr) >= sizeof j->addr || !addr[0])
        return CN_EBADREQ;
    j = cn_calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->a = a;
    j->g = p->g;
    snprintf(j->addr, sizeof j->addr, "%s", addr);
    j->cb = cb;
    j->ctx = ctx;
    uv_timer_init(a->loop, &j->timer);
    j->timer.data = j;
    api_join_try(&j->timer);
    return 0;
}
