/* server/cluster.c - forming and changing the set of servers.
 *
 * Member addresses in the Raft configuration are "ip:port/node-name" (the
 * core treats them as opaque): Raft and RPC go to ip:port, and the
 * operator API shows the name without another lookup.
 *
 * Bootstrap (-bootstrap-expect N): every fresh server asks the addresses
 * it was given (-retry-join) for their SERVER_INFO. When exactly N fresh
 * servers, itself included, know of each other, each calls
 * cn_raft_node_bootstrap with the same configuration (all N, sorted by
 * id), which becomes entry 1 of term 1 everywhere: one cluster, formed
 * once. A server whose log is not empty never bootstraps again, so a
 * restart cannot form a second cluster. If a probed server already
 * belongs to a cluster, the fresh server asks it to be added instead
 * (RAFT_JOIN, forwarded to the leader), as a learner; the leader promotes
 * a learner to voter once its applied index has caught up with the
 * leader's commit index.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "server_int.h"

#define CLUSTER_TICK_MS 500
#define PROMOTE_LAG_MAX 64      /* Entries a learner may trail and be promoted. */
#define LEAVE_WAIT_MS 5000
#define PROBES_MAX CN_RAFT_MEMBERS_MAX

struct probe {
    struct cn_rpc_call call;
    struct cn_server *srv;
    bool busy;
    char addr[64];
    /* Last answer. */
    bool valid;
    uint64_t id, applied;
    bool fresh;
    char name[128];
    char member[CN_RAFT_ADDR_BYTES_MAX];
};

struct cluster_state {
    struct cn_server *srv;
    struct probe probes[PROBES_MAX];  /* retry-join targets, then learners */
    size_t n_probes;
    struct cn_rpc_call join_call;
    bool join_busy;
    uint64_t ticks;
    /* Leave / step down. */
    void (*leave_cb)(void *, int);
    void *leave_arg;
    bool leaving, remove_after;
    uint64_t leave_deadline;
    struct cn_rpc_call leave_call;
    bool leave_call_busy;
};

size_t cn__member_rpc_addr(const char *member, char *out, size_t out_size)
{
    size_t n = strcspn(member, "/");
    if (n >= out_size)
        n = out_size - 1;
    memcpy(out, member, n);
    out[n] = '\0';
    return n;
}

const char *cn__member_name(const char *member)
{
    const char *slash = strchr(member, '/');
    return slash ? slash + 1 : "";
}

/* "ip:port/name", the name cut to fit CN_RAFT_ADDR_BYTES_MAX. */
void cn__member_format(char *out, size_t n, const char *rpc_addr, const char *name)
{
    size_t a = strlen(rpc_addr), k;
    CN_ASSERT(n >= CN_RAFT_ADDR_BYTES_MAX);
    a = CN_MIN(a, (size_t)CN_RAFT_ADDR_BYTES_MAX - 2);
    memcpy(out, rpc_addr, a);
    out[a] = '/';
    k = CN_MIN(strlen(name), CN_RAFT_ADDR_BYTES_MAX - a - 2);
    memcpy(out + a + 1, name, k);
    out[a + 1 + k] = '\0';
}

static void self_member(const struct cn_server *s, char *out, size_t n)
{
    cn__member_format(out, n, s->rpc_addr, s->node_name);
}

/* ---- SERVER_INFO ---- */

void cn__cluster_info(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_raft_status st;
    struct cn_mp_writer w;
    char member[CN_RAFT_ADDR_BYTES_MAX];
    cn_raft_node_status(s->raft, &st);
    self_member(s, member, sizeof member);
    cn_mp_writer_init(&w, &call->reply);
    cn_mp_put_array(&w, 8);
    cn_mp_put_uint(&w, s->raft_id);
    cn_mp_put_cstr(&w, s->node_name);
    cn_mp_put_cstr(&w, member);
    cn_mp_put_bool(&w, cn_raft_node_is_fresh(s->raft));
    cn_mp_put_cstr(&w, cn_server_leader(s));
    cn_mp_put_uint(&w, st.applied);
    cn_mp_put_uint(&w, st.commit);
    cn_mp_put_cstr(&w, s->datacenter);
    cn__server_reply(s, call, w.err, NULL);
}

static int info_decode(struct probe *p)
{
    struct cn_mp_reader r;
    const uint8_t *str;
    uint32_t n, len;
    uint64_t commit;
    cn_mp_reader_init(&r, p->call.reply.data, p->call.reply.len);
    if (cn_mp_read_array(&r, &n) < 0 || n < 7 || cn_mp_read_uint(&r, &p->id) < 0 ||
        cn_mp_read_str(&r, &str, &len) < 0 || len >= sizeof p->name)
        return CN_EMALFORMED;
    memcpy(p->name, str, len);
    p->name[len] = 0;
    if (cn_mp_read_str(&r, &str, &len) < 0 || len >= sizeof p->member)
        return CN_EMALFORMED;
    memcpy(p->member, str, len);
    p->member[len] = 0;
    if (cn_mp_read_bool(&r, &p->fresh) < 0 || cn_mp_skip(&r) < 0 ||
        cn_mp_read_uint(&r, &p->applied) < 0 || cn_mp_read_uint(&r, &commit) < 0)
        return CN_EMALFORMED;
    return p->id ? 0 : CN_EMALFORMED;
}

static void probe_done(struct cn_rpc_call *call)
{
    struct probe *p = CN_CONTAINER_OF(call, struct probe, call);
    p->busy = false;
    p->valid = call->rc == 0 && info_decode(p) == 0;
    if (p->valid && p->srv->raft)
        cn_raft_node_learn(p->srv->raft, p->id, p->member);
}

static void probe(struct cn_server *s, struct probe *p)
{
    if (p->busy || !s->transport)
        return;
    cn_rpc_call_close(&p->call);
    cn_rpc_call_init(&p->call, CN_RPC_SERVER_INFO);
    p->call.done = probe_done;
    p->busy = true;
    cn_transport_call(s->transport, p->addr, &p->call, 2000);
}

/* ---- bootstrap and join (fresh servers) ---- */

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct cn_raft_member *)a)->id;
    uint64_t y = ((const struct cn_raft_member *)b)->id;
    return x < y ? -1 : x > y;
}

static void add_member(struct cn_raft_conf *c, uint64_t id, const char *member)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->members[i].id == id)
            return;
    if (c->n >= CN_RAFT_MEMBERS_MAX)
        return;
    struct cn_raft_member *m = &c->members[c->n++];
    m->id = id;
    m->role = CN_RAFT_VOTER;
    m->addr_len = (uint8_t)snprintf(m->addr, sizeof m->addr, "%s", member);
}

static void try_bootstrap(struct cn_server *s)
{
    struct cluster_state *cs = s->cluster;
    struct cn_raft_conf conf = {0};
    char member[CN_RAFT_ADDR_BYTES_MAX];
    self_member(s, member, sizeof member);
    add_member(&conf, s->raft_id, member);
    for (size_t i = 0; i < cs->n_probes; i++) {
        struct probe *p = &cs->probes[i];
        if (p->valid && p->fresh && p->id != s->raft_id)
            add_member(&conf, p->id, p->member);
    }
    /* Exactly N: with more fresh servers than expected, two groups could
     * each see N and form two clusters; refuse and say so. */
    if (conf.n != s->cfg.bootstrap_expect) {
        if (conf.n > s->cfg.bootstrap_expect && cs->ticks % 20 == 1)
            CN_WARN("server: %u fresh servers found, expected %u; not bootstrapping",
                    conf.n, s->cfg.bootstrap_expect);
        return;
    }
    qsort(conf.members, conf.n, sizeof conf.members[0], id_cmp);
    if (cn_raft_node_bootstrap(s->raft, &conf) == 0)
        CN_INFO("server: bootstrapped a cluster of %u servers", conf.n);
}

static void join_done(struct cn_rpc_call *call)
{
    struct cluster_state *cs = CN_CONTAINER_OF(call, struct cluster_state, join_call);
    cs->join_busy = false;
    if (call->rc < 0)
        CN_DEBUG_LOG("server: join attempt: %s", call->errmsg);
}

static void send_join(struct cn_server *s, const char *addr)
{
    struct cluster_state *cs = s->cluster;
    struct cn_mp_writer w;
    char member[CN_RAFT_ADDR_BYTES_MAX];
    if (cs->join_busy)
        return;
    self_member(s, member, sizeof member);
    cn_rpc_call_close(&cs->join_call);
    cn_rpc_call_init(&cs->join_call, CN_RPC_RAFT_JOIN);
    cn_mp_writer_init(&w, &cs->join_call.args);
    cn_mp_put_array(&w, 2);
    cn_mp_put_uint(&w, s->raft_id);
    cn_mp_put_cstr(&w, member);
    cs->join_call.done = join_done;
    cs->join_busy = true;
    cn_transport_call(s->transport, addr, &cs->join_call, 10000);
}

static void fresh_tick(struct cn_server *s)
{
    struct cluster_state *cs = s->cluster;
    if (s->cfg.bootstrap_expect == 1) {
        try_bootstrap(s);
        return;
    }
    for (size_t i = 0; i < cs->n_probes; i++) {
        struct probe *p = &cs->probes[i];
        if (p->valid && !p->fresh && p->id != s->raft_id) {
            send_join(s, p->addr); /* A cluster exists: ask to be added. */
            return;
        }
    }
    if (s->cfg.bootstrap_expect > 1)
        try_bootstrap(s);
}

/* ---- leader duties: promote caught-up learners ---- */

static struct probe *learner_probe(struct cn_server *s, const struct cn_raft_member *m)
{
    struct cluster_state *cs = s->cluster;
    char addr[64];
    cn__member_rpc_addr(m->addr, addr, sizeof addr);
    for (size_t i = 0; i < cs->n_probes; i++)
        if (strcmp(cs->probes[i].addr, addr) == 0)
            return &cs->probes[i];
    if (cs->n_probes >= PROBES_MAX)
        return NULL;
    struct probe *p = &cs->probes[cs->n_probes++];
    memset(p, 0, sizeof *p);
    cn_rpc_call_init(&p->call, CN_RPC_SERVER_INFO);
    p->srv = s;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    return p;
}

static void leader_tick(struct cn_server *s)
{
    const struct cn_raft_conf *c = cn_raft_node_conf(s->raft);
    struct cn_raft_status st;
    cn_raft_node_status(s->raft, &st);
    for (uint32_t i = 0; c && i < c->n; i++) {
        const struct cn_raft_member *m = &c->members[i];
        struct probe *p;
        if (m->role != CN_RAFT_LEARNER)
            continue;
        p = learner_probe(s, m);
        if (!p)
            continue;
        if (p->valid && p->id == m->id && p->applied + PROMOTE_LAG_MAX >= st.commit) {
            if (cn_raft_node_change(s->raft, CN_RAFT_ADD_VOTER, m->id, m->addr, NULL, NULL) == 0)
                CN_INFO("server: promoting %s to voter (applied %llu, commit %llu)",
                        m->addr, (unsigned long long)p->applied, (unsigned long long)st.commit);
            p->valid = false;
            return; /* One change at a time. */
        }
        probe(s, p);
    }
}

static void leave_tick(struct cn_server *s);

/* Servers seen in the LAN pool become probe targets too (bootstrap and
 * join by gossip, as Consul does), besides the -retry-join addresses. */
static void add_gossip_targets(struct cn_server *s)
{
    struct cluster_state *cs = s->cluster;
    char addrs[PROBES_MAX][64];
    size_t n = s->cfg.lan_servers ? s->cfg.lan_servers(s->cfg.pool_ctx, addrs, PROBES_MAX) : 0;
    for (size_t i = 0; i < n && cs->n_probes < PROBES_MAX; i++) {
        bool known = strcmp(addrs[i], s->rpc_addr) == 0;
        for (size_t k = 0; k < cs->n_probes && !known; k++)
            known = strcmp(cs->probes[k].addr, addrs[i]) == 0;
        if (known)
            continue;
        struct probe *p = &cs->probes[cs->n_probes++];
        memset(p, 0, sizeof *p);
        cn_rpc_call_init(&p->call, CN_RPC_SERVER_INFO);
        p->srv = s;
        snprintf(p->addr, sizeof p->addr, "%s", addrs[i]);
    }
}

static void on_cluster_tick(uv_timer_t *t)
{
    struct cn_server *s = t->data;
    struct cluster_state *cs = s->cluster;
    cs->ticks++;
    if (cs->leaving) {
        leave_tick(s);
        return;
    }
    add_gossip_targets(s);
    cn__members_tick(s);
    if (cn_raft_node_is_fresh(s->raft)) {
        /* Probe every retry-join target each second until we belong. */
        for (size_t i = 0; i < cs->n_probes; i++)
            probe(s, &cs->probes[i]);
        fresh_tick(s);
    } else if (cn_server_is_leader(s)) {
        leader_tick(s);
    } else if (!cn_raft_node_leader_addr(s->raft)[0]) {
        /* A learner the leader reached before any probe answered (a new
         * server, or one that lost its data dir) has no configuration
         * yet and cannot address its replies: the probes teach it. */
        for (size_t i = 0; i < cs->n_probes; i++)
            probe(s, &cs->probes[i]);
    }
}

/* ---- RAFT_JOIN, RAFT_REMOVE (leader) ---- */

static void change_done(void *ctx, int rc, uint64_t index, const struct cn_buf *reply)
{
    struct op_wait *w = ctx;
    struct cn_server *s = w->op.srv;
    struct cn_rpc_call *call = w->op.call;
    (void)reply;
    cn_free(w);
    if (!call)
        return;
    call->callee_priv = NULL;
    if (rc == 0)
        cn__server_meta(s, call, index, CN_CONSISTENCY_DEFAULT);
    cn__server_reply(s, call, rc, rc == CN_ESTATE ? "a configuration change is in progress" : NULL);
}

static void change(struct cn_server *s, struct cn_rpc_call *call, enum cn_raft_change_op op,
                   uint64_t id, const char *member)
{
    struct op_wait *w;
    int rc;
    if (!cn_server_is_leader(s)) {
        cn__route_write(s, call, NULL, 0); /* Forwards or holds. */
        return;
    }
    w = cn_calloc(1, sizeof *w);
    if (!w) {
        cn__server_reply(s, call, -ENOMEM, NULL);
        return;
    }
    w->op.kind = OP_PROPOSE;
    w->op.srv = s;
    w->op.call = call;
    rc = cn_raft_node_change(s->raft, op, id, member, change_done, w);
    if (rc < 0) {
        cn_free(w);
        cn__server_reply(s, call, rc,
                         rc == CN_ESTATE ? "a configuration change is in progress; retry"
                         : rc == -EINVAL ? "invalid change (unknown or last server?)" : NULL);
        return;
    }
    call->callee_priv = w;
}

void cn__cluster_join(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    const uint8_t *str;
    uint32_t n, len;
    uint64_t id;
    char member[CN_RAFT_ADDR_BYTES_MAX];
    const struct cn_raft_conf *c;

    cn_mp_reader_init(&r, call->args.data, call->args.len);
    if (cn_mp_read_array(&r, &n) < 0 || n != 2 || cn_mp_read_uint(&r, &id) < 0 || !id ||
        cn_mp_read_str(&r, &str, &len) < 0 || len == 0 || len >= sizeof member) {
        cn__server_reply(s, call, CN_EMALFORMED, "invalid join request");
        return;
    }
    memcpy(member, str, len);
    member[len] = 0;
    c = cn_raft_node_conf(s->raft);
    if (cn_server_is_leader(s) && c && cn_raft_conf_find(c, id)) {
        cn__server_reply(s, call, 0, NULL); /* Already a member. */
        return;
    }
    if (cn_server_is_leader(s))
        CN_INFO("server: adding %s as a learner", member);
    change(s, call, CN_RAFT_ADD_LEARNER, id, member);
}

/* {"ID": hex id | "", "Addr": "ip:port" | ""}: the member to remove. */
void cn__cluster_remove(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    const uint8_t *id_s, *addr_s;
    uint32_t n, id_len, addr_len;
    const struct cn_raft_conf *c = cn_raft_node_conf(s->raft);

    cn_mp_reader_init(&r, call->args.data, call->args.len);
    if (cn_mp_read_array(&r, &n) < 0 || n != 2 || cn_mp_read_str(&r, &id_s, &id_len) < 0 ||
        cn_mp_read_str(&r, &addr_s, &addr_len) < 0) {
        cn__server_reply(s, call, CN_EMALFORMED, "invalid remove request");
        return;
    }
    for (uint32_t i = 0; c && i < c->n; i++) {
        const struct cn_raft_member *m = &c->members[i];
        char hex[20], addr[64];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)m->id);
        cn__member_rpc_addr(m->addr, addr, sizeof addr);
        if ((id_len && id_len == strlen(hex) && memcmp(id_s, hex, id_len) == 0) ||
            (addr_len && addr_len == strlen(addr) && memcmp(addr_s, addr, addr_len) == 0)) {
            cn__members_removed(s, m->id);
            change(s, call, CN_RAFT_REMOVE, m->id, m->addr);
            return;
        }
    }
    cn__server_reply(s, call, CN_ENOTFOUND, "address or id not found in the Raft configuration");
}

/* {Servers: [[id hex, node, addr, leader, voter, last index]...], Index} */
void cn__cluster_config(struct cn_server *s, struct cn_rpc_call *call, bool timed_out)
{
    struct cn_query_opts q = {0};
    struct cn_mp_reader r;
    struct cn_mp_writer w;
    struct cn_raft_status st;
    const struct cn_raft_conf *c;
    (void)timed_out;
    cn_mp_reader_init(&r, call->args.data, call->args.len);
    if (call->args.len && cn_rpc_opts_decode(&r, &q) < 0) {
        cn__server_reply(s, call, CN_EMALFORMED, "invalid arguments");
        return;
    }
    if (cn__route_read(s, call, q.consistency, cn__cluster_config))
        return;
    c = cn_raft_node_conf(s->raft);
    cn_raft_node_status(s->raft, &st);
    cn_mp_writer_init(&w, &call->reply);
    cn_mp_put_array(&w, c ? c->n : 0);
    for (uint32_t i = 0; c && i < c->n; i++) {
        const struct cn_raft_member *m = &c->members[i];
        char hex[20], addr[64];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)m->id);
        cn__member_rpc_addr(m->addr, addr, sizeof addr);
        cn_mp_put_array(&w, 6);
        cn_mp_put_cstr(&w, hex);
        cn_mp_put_cstr(&w, cn__member_name(m->addr));
        cn_mp_put_cstr(&w, addr);
        cn_mp_put_bool(&w, m->id == st.leader);
        cn_mp_put_bool(&w, m->role == CN_RAFT_VOTER);
        cn_mp_put_uint(&w, st.last_index);
    }
    cn__server_meta(s, call, st.commit, q.consistency);
    cn__server_reply(s, call, w.err, NULL);
}

void cn__cluster_changed(struct cn_server *s)
{
    (void)s; /* Promotion and joining run from the periodic tick. */
}

/* ---- leave / step down ---- */

static void leave_finish(struct cn_server *s, int rc)
{
    struct cluster_state *cs = s->cluster;
    void (*cb)(void *, int) = cs->leave_cb;
    cs->leaving = false;
    cs->leave_cb = NULL;
    if (cb)
        cb(cs->leave_arg, rc);
}

static void leave_removed(struct cn_rpc_call *call)
{
    struct cluster_state *cs = CN_CONTAINER_OF(call, struct cluster_state, leave_call);
    struct cn_server *s = cs->srv;
    cs->leave_call_busy = false;
    if (call->rc == CN_ENOTFOUND)
        call->rc = 0; /* Removed already (a retry after a lost reply). */
    /* A leader change or a lost connection while our removal was in
     * flight: ask again (next tick) until the hold time runs out, rather
     * than exit as a voter the others must wait to reap. */
    if (call->rc < 0 && !s->closing &&
        uv_now(s->loop) < cs->leave_deadline + CN_SERVER_HOLD_MS) {
        CN_DEBUG_LOG("server: leaving: removal failed (%s), retrying",
                call->errmsg[0] ? call->errmsg : cn_strerror(call->rc));
        return;
    }
    leave_finish(s, call->rc);
}

static void leave_tick(struct cn_server *s)
{
    struct cluster_state *cs = s->cluster;
    struct cn_mp_writer w;
    char hex[20];
    if (cn_server_is_leader(s) && uv_now(s->loop) < cs->leave_deadline)
        return; /* Still transferring. */
    if (!cs->remove_after) {
        leave_finish(s, cn_server_is_leader(s) ? CN_ETIMEOUT : 0);
        return;
    }
    if (cs->leave_call_busy)
        return;
    if (!cn_server_leader(s)[0]) {
        if (uv_now(s->loop) >= cs->leave_deadline + CN_SERVER_HOLD_MS)
            leave_finish(s, CN_ENOLEADER);
        return;
    }
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s->raft_id);
    cn_rpc_call_close(&cs->leave_call);
    cn_rpc_call_init(&cs->leave_call, CN_RPC_RAFT_REMOVE);
    cn_mp_writer_init(&w, &cs->leave_call.args);
    cn_mp_put_array(&w, 2);
    cn_mp_put_cstr(&w, hex);
    cn_mp_put_cstr(&w, "");
    cs->leave_call.done = leave_removed;
    cs->leave_call_busy = true;
    cn_server_call(s, &cs->leave_call); /* Forwarded to the new leader. */
}

static void start_leave(struct cn_server *s, bool remove, void (*cb)(void *, int), void *arg)
{
    struct cluster_state *cs = s->cluster;
    const struct cn_raft_conf *c = cn_raft_node_conf(s->raft);
    uint32_t voters = 0;
    for (uint32_t i = 0; c && i < c->n; i++)
        voters += c->members[i].role == CN_RAFT_VOTER;
    if (s->cfg.dev || voters <= 1 || cs->leaving) {
        cb(arg, 0); /* Nobody to hand over to. */
        return;
    }
    cs->leaving = true;
    cs->remove_after = remove;
    cs->leave_cb = cb;
    cs->leave_arg = arg;
    cs->leave_deadline = uv_now(s->loop) + LEAVE_WAIT_MS;
    if (cn_server_is_leader(s)) {
        CN_INFO("server: transferring leadership before %s", remove ? "leaving" : "stopping");
        (void)cn_raft_node_transfer(s->raft, CN_RAFT_NONE);
    }
    uv_timer_start(&s->cluster_timer, on_cluster_tick, 50, 50);
}

void cn_server_leave(struct cn_server *s, void (*cb)(void *, int), void *arg)
{
    start_leave(s, true, cb, arg);
}

void cn_server_step_down(struct cn_server *s, void (*cb)(void *, int), void *arg)
{
    if (!cn_server_is_leader(s)) {
        cb(arg, 0);
        return;
    }
    start_leave(s, false, cb, arg);
}

/* ---- start / stop ---- */

int cn__cluster_start(struct cn_server *s, char *errmsg)
{
    struct cluster_state *cs = cn_calloc(1, sizeof *cs);
    if (!cs)
        return cn_errf_rc(errmsg, -ENOMEM, "cluster state");
    s->cluster = cs;
    cs->srv = s;
    cn_rpc_call_init(&cs->join_call, CN_RPC_RAFT_JOIN);
    cn_rpc_call_init(&cs->leave_call, CN_RPC_RAFT_REMOVE);
    for (size_t i = 0; i < s->cfg.n_retry_join && cs->n_probes < PROBES_MAX; i++) {
        struct probe *p = &cs->probes[cs->n_probes];
        if (strcmp(s->cfg.retry_join[i], s->rpc_addr) == 0)
            continue; /* Ourselves. */
        cn_rpc_call_init(&p->call, CN_RPC_SERVER_INFO);
        p->srv = s;
        snprintf(p->addr, sizeof p->addr, "%s", s->cfg.retry_join[i]);
        cs->n_probes++;
    }
    if (s->cfg.dev && cn_raft_node_is_fresh(s->raft)) {
        struct cn_raft_conf conf = {0};
        char member[CN_RAFT_ADDR_BYTES_MAX];
        self_member(s, member, sizeof member);
        add_member(&conf, s->raft_id, member);
        int rc = cn_raft_node_bootstrap(s->raft, &conf);
        if (rc < 0)
            return cn_errf_rc(errmsg, rc, "bootstrap the dev server");
    }
    if (s->cfg.dev || s->cfg.bootstrap_expect == 1)
        cn_raft_node_elect_now(s->raft); /* Alone: no need to wait a timeout. */
    uv_timer_start(&s->cluster_timer, on_cluster_tick, CLUSTER_TICK_MS, CLUSTER_TICK_MS);
    return 0;
}

void cn__cluster_stop(struct cn_server *s)
{
    struct cluster_state *cs = s->cluster;
    if (!cs)
        return;
    uv_timer_stop(&s->cluster_timer);
    if (s->transport) {
        for (size_t i = 0; i < cs->n_probes; i++)
            if (cs->probes[i].busy)
                cn_transport_call_cancel(s->transport, &cs->probes[i].call);
        if (cs->join_busy)
            cn_transport_call_cancel(s->transport, &cs->join_call);
    }
    if (cs->leave_call_busy)
        cn_server_cancel(s, &cs->leave_call);
    for (size_t i = 0; i < cs->n_probes; i++)
        cn_rpc_call_close(&cs->probes[i].call);
    cn_rpc_call_close(&cs->join_call);
    cn_rpc_call_close(&cs->leave_call);
    if (cs->leave_cb)
        leave_finish(s, CN_ECLOSED);
    cn_free(cs);
    s->cluster = NULL;
}
