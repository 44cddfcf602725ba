/* server/members.c - the leader's gossip duties (Consul's leader.go
 * reconcile): LAN members become catalog nodes with a serfHealth check,
 * servers seen in the LAN pool join the Raft configuration, servers that
 * left or stayed failed past a grace period leave it.
 *
 *   alive    register the node (address from gossip) with serfHealth
 *            passing "Agent alive and reachable"; servers also get the
 *            `consul` service (port = server RPC port)
 *   failed   serfHealth critical "Agent not live or unreachable" (which
 *            hides the node's services from ?passing and DNS and
 *            invalidates its default sessions, in the state machine)
 *   left,    deregister the node (not ourselves)
 *   reaped
 * Every server remembers the members it hears about; only the leader
 * writes, on each event and in a full pass every RECONCILE_MS (and when
 * it becomes leader), skipping writes that would change nothing.
 */
#include <errno.h>
#include <stdio.h>

#include "server_int.h"

#define RECONCILE_MS 30000
#define SERF_CHECK_ID "serfHealth"
#define SERF_CHECK_NAME "Serf Health Status"
#define SERF_ALIVE_OUTPUT "Agent alive and reachable"
#define SERF_FAILED_OUTPUT "Agent not live or unreachable"
#define WRITES_IN_FLIGHT_MAX 32

struct member {
    char name[192], addr[64], id[40], role[16], dc[64];
    int port;
    enum cn_member_status status;
    uint64_t since_ms;            /* When status last changed. */
};

struct member_table {
    struct member *v;
    size_t n, cap;
    unsigned writes_in_flight;
    bool was_leader;
    /* Servers removed from the Raft configuration lately (by leave or
     * remove-peer), not re-added while their gossip status is the one
     * they had then: a leaving server is removed while still alive in the
     * pool, and the next pass would add it back before its leave spreads. */
    struct { uint64_t id, at_ms; } removed[4];
    unsigned n_removed;
};

static struct member_table *table(struct cn_server *s)
{
    if (!s->members)
        s->members = cn_calloc(1, sizeof(struct member_table));
    return s->members;
}

static struct member *find(struct member_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].name, name) == 0)
            return &t->v[i];
    return NULL;
}

/* ---- catalog writes ---- */

static void write_done(void *ctx, int rc, uint64_t index, const struct cn_buf *reply)
{
    struct cn_server *s = ctx;
    struct member_table *t = s->members;
    (void)index;
    (void)reply;
    if (t && t->writes_in_flight)
        t->writes_in_flight--;
    if (rc < 0)
        CN_DEBUG_LOG("server: member reconcile write: %s", cn_strerror(rc));
}

static void propose(struct cn_server *s, struct cn_buf *cmd)
{
    struct member_table *t = table(s);
    if (!t || t->writes_in_flight >= WRITES_IN_FLIGHT_MAX)
        return; /* The next full pass catches up. */
    if (cn_raft_node_propose(s->raft, cmd->data, cmd->len, write_done, s, NULL) == 0)
        t->writes_in_flight++;
}

struct node_view {
    bool found, has_serf;
    char addr[64];
    enum cn_health serf;
};

static int see_check(void *ctx, const struct cn_check *c)
{
    struct node_view *v = ctx;
    if (strcmp(c->id, SERF_CHECK_ID) == 0) {
        v->has_serf = true;
        v->serf = c->status;
    }
    return 0;
}

static void view_node(struct cn_server *s, const char *name, struct node_view *v)
{
    struct cn_node n;
    memset(v, 0, sizeof *v);
    if (cn_state_node_get(s->state, name, &n) != 0)
        return;
    v->found = true;
    snprintf(v->addr, sizeof v->addr, "%s", n.address ? n.address : "");
    cn_state_node_checks(s->state, name, see_check, v);
}

static void register_member(struct cn_server *s, const struct member *m, bool alive,
                            const struct node_view *v)
{
    struct cn_buf cmd;
    struct cn_pair tagged[2] = {{"lan", m->addr}, {"wan", m->addr}};
    struct cn_check chk = {
        .id = SERF_CHECK_ID, .name = SERF_CHECK_NAME,
        .status = alive ? CN_HEALTH_PASSING : CN_HEALTH_CRITICAL,
        .output = alive ? SERF_ALIVE_OUTPUT : SERF_FAILED_OUTPUT,
    };
    struct cn_service consul = {
        .id = "consul", .name = "consul", .port = (uint32_t)m->port,
    };
    struct cn_register r = {
        .node = {.id = m->id, .name = m->name, .address = m->addr,
                 .datacenter = s->datacenter, .tagged_addresses = tagged,
                 .n_tagged_addresses = 2},
        /* Keep the agent's node meta and addresses when only health moves. */
        .skip_node_update = v->found && strcmp(v->addr, m->addr) == 0,
        .service = strcmp(m->role, "consul") == 0 && alive ? &consul : NULL,
        .checks = &chk, .n_checks = 1,
    };
    cn_buf_init(&cmd, 1 << 16);
    if (cn_state_cmd_register(&cmd, &r, cn_time_wall_ms()) == 0)
        propose(s, &cmd);
    cn_buf_close(&cmd);
}

static void deregister_member(struct cn_server *s, const char *name)
{
    struct cn_buf cmd;
    struct cn_deregister d = {.node = name};
    cn_buf_init(&cmd, 4096);
    if (cn_state_cmd_deregister(&cmd, &d, cn_time_wall_ms()) == 0)
        propose(s, &cmd);
    cn_buf_close(&cmd);
}

static void reconcile_catalog(struct cn_server *s, const struct member *m)
{
    struct node_view v;
    if (strcmp(m->dc, s->datacenter) != 0)
        return;
    view_node(s, m->name, &v);
    switch (m->status) {
    case CN_MEMBER_ALIVE:
        if (!v.found || !v.has_serf || v.serf != CN_HEALTH_PASSING ||
            strcmp(v.addr, m->addr) != 0)
            register_member(s, m, true, &v);
        break;
    case CN_MEMBER_FAILED:
        if (v.found && (!v.has_serf || v.serf != CN_HEALTH_CRITICAL))
            register_member(s, m, false, &v);
        break;
    case CN_MEMBER_LEFT:
    case CN_MEMBER_REAPED:
        if (v.found && strcmp(m->name, s->node_name) != 0)
            deregister_member(s, m->name);
        break;
    case CN_MEMBER_LEAVING:
        break;
    }
}

/* ---- Raft membership from gossip ---- */

static uint64_t raft_id(const char *uuid)
{
    uint64_t id = 0;
    for (int i = 0, k = 0; uuid[i] && k < 16; i++) {
        char c = uuid[i];
        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (x < 0)
            continue;
        id = id << 4 | (uint64_t)x;
        k++;
    }
    return id;
}

void cn__members_removed(struct cn_server *s, uint64_t id)
{
    struct member_table *t = table(s);
    if (!t)
        return;
    t->removed[t->n_removed % CN_ARRAY_LEN(t->removed)].id = id;
    t->removed[t->n_removed % CN_ARRAY_LEN(t->removed)].at_ms = uv_now(s->loop);
    t->n_removed++;
}

/* Removed within RECONCILE_MS and not seen to change status since (a
 * server that left and came back is added again at once). */
static bool removed_lately(struct cn_server *s, const struct member *m, uint64_t id)
{
    const struct member_table *t = s->members;
    for (size_t i = 0; i < CN_ARRAY_LEN(t->removed); i++)
        if (t->removed[i].id == id && uv_now(s->loop) - t->removed[i].at_ms < RECONCILE_MS &&
            m->since_ms <= t->removed[i].at_ms)
            return true;
    return false;
}

static void reconcile_raft(struct cn_server *s, const struct member *m)
{
    const struct cn_raft_conf *c = cn_raft_node_conf(s->raft);
    uint64_t id = raft_id(m->id);
    char member[CN_RAFT_ADDR_BYTES_MAX];
    bool in_conf;

    if (strcmp(m->role, "consul") != 0 || strcmp(m->dc, s->datacenter) != 0 || !id ||
        id == s->raft_id || !c)
        return;
    in_conf = cn_raft_conf_find(c, id) != NULL;
    if (m->status == CN_MEMBER_ALIVE && !in_conf && m->port > 0 && !removed_lately(s, m, id)) {
        char hostport[64], other[CN_RAFT_ADDR_BYTES_MAX];
        snprintf(hostport, sizeof hostport, strchr(m->addr, ':') ? "[%.40s]:%d" : "%.40s:%d",
                 m->addr, m->port & 0xffff);
        /* A server at this address under another ID is an earlier life
         * of this one (its data dir was lost): it must leave first, or
         * two members would share one address (Consul does the same). */
        for (uint32_t i = 0; i < c->n; i++) {
            cn__member_rpc_addr(c->members[i].addr, other, sizeof other);
            if (strcmp(other, hostport) != 0)
                continue;
            if (cn_raft_node_change(s->raft, CN_RAFT_REMOVE, c->members[i].id,
                                    c->members[i].addr, NULL, NULL) == 0)
                CN_INFO("server: removing %s: %s (%s) now runs under a new ID",
                        c->members[i].addr, m->name, hostport);
            return; /* One change at a time; the add follows. */
        }
        cn__member_format(member, sizeof member, hostport, m->name);
        if (cn_raft_node_change(s->raft, CN_RAFT_ADD_LEARNER, id, member, NULL, NULL) == 0)
            CN_INFO("server: adding %s (seen in the LAN pool) as a learner", member);
    } else if (in_conf && (m->status == CN_MEMBER_LEFT || m->status == CN_MEMBER_REAPED ||
                           (m->status == CN_MEMBER_FAILED &&
                            uv_now(s->loop) - m->since_ms >= s->cfg.dead_server_grace_ms))) {
        uint32_t voters = 0;
        for (uint32_t i = 0; i < c->n; i++)
            voters += c->members[i].role == CN_RAFT_VOTER;
        /* Never shrink below three voters for a failure: a transient
         * fault must not turn a 3-server cluster into a 2-server one. */
        if (m->status == CN_MEMBER_FAILED && voters <= 3)
            return;
        const struct cn_raft_member *rm = cn_raft_conf_find(c, id);
        if (cn_raft_node_change(s->raft, CN_RAFT_REMOVE, id, rm->addr, NULL, NULL) == 0)
            CN_INFO("server: removing server %s (%s) from the Raft configuration", m->name,
                    m->status == CN_MEMBER_FAILED ? "failed" : "left");
    }
}

/* ---- entry points ---- */

void cn_server_member_update(struct cn_server *s, const struct cn_server_member *in)
{
    struct member_table *t = table(s);
    struct member *m;
    if (!t || s->closing)
        return;
    m = find(t, in->name);
    if (!m) {
        if (t->n == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 16;
            struct member *nv = cn_realloc(t->v, nc * sizeof *nv);
            if (!nv)
                return;
            t->v = nv;
            t->cap = nc;
        }
        m = &t->v[t->n++];
        memset(m, 0, sizeof *m);
        snprintf(m->name, sizeof m->name, "%s", in->name);
    }
    if (m->status != in->status)
        m->since_ms = uv_now(s->loop);
    m->status = in->status;
    m->port = in->port;
    snprintf(m->addr, sizeof m->addr, "%s", in->addr);
    snprintf(m->id, sizeof m->id, "%s", in->id ? in->id : "");
    snprintf(m->role, sizeof m->role, "%s", in->role ? in->role : "");
    snprintf(m->dc, sizeof m->dc, "%s", in->dc ? in->dc : "");
    if (cn_server_is_leader(s)) {
        reconcile_catalog(s, m);
        reconcile_raft(s, m);
    }
    if (m->status == CN_MEMBER_REAPED) { /* Forget it. */
        *m = t->v[--t->n];
    }
}

/* A full pass: every member, then catalog nodes gossip no longer knows. */
static int stale_node(void *ctx, const struct cn_node *n)
{
    struct cn_server *s = ctx;
    struct node_view v;
    if (find(s->members, n->name) || strcmp(n->name, s->node_name) == 0)
        return 0;
    view_node(s, n->name, &v);
    if (v.has_serf) /* Registered by gossip once, gone from it now. */
        deregister_member(s, n->name);
    return 0;
}

void cn__members_reconcile_all(struct cn_server *s)
{
    struct member_table *t = s->members;
    if (!t || !cn_server_is_leader(s) || s->closing)
        return;
    for (size_t i = 0; i < t->n; i++) {
        reconcile_catalog(s, &t->v[i]);
        reconcile_raft(s, &t->v[i]);
    }
    if (t->n)
        cn_state_nodes_list(s->state, stale_node, s);
}

/* Called from the cluster tick: a new leader reconciles at once, then
 * every RECONCILE_MS. */
void cn__members_tick(struct cn_server *s)
{
    struct member_table *t = s->members;
    static const uint64_t every = RECONCILE_MS;
    bool leader = cn_server_is_leader(s);
    if (!t)
        return;
    if (leader && (!t->was_leader || uv_now(s->loop) - s->last_reconcile_ms >= every)) {
        s->last_reconcile_ms = uv_now(s->loop);
        cn__members_reconcile_all(s);
    } else if (leader) {
        /* Servers waiting to be added (one change at a time) and failed
         * servers past their grace period. */
        for (size_t i = 0; i < t->n; i++)
            if (t->v[i].status == CN_MEMBER_FAILED || strcmp(t->v[i].role, "consul") == 0)
                reconcile_raft(s, &t->v[i]);
    }
    t->was_leader = leader;
}

void cn__members_free(struct cn_server *s)
{
    struct member_table *t = s->members;
    if (!t)
        return;
    cn_free(t->v);
    cn_free(t);
    s->members = NULL;
}
