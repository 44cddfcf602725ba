/* agent/ae.c - anti-entropy: local services and checks -> the catalog
 * (Consul's agent/ae/ae.go and agent/local/state.go SyncChanges/SyncFull).
 *
 * Changes are synced as they happen: an entry that changes is put on the
 * dirty list and a zero-delay timer drains the list (so a burst of
 * registrations in one loop turn is one pass), with at most
 * CN_AE_INFLIGHT_MAX register/deregister calls in flight. A call carries
 * the change sequence at which it was built; on success every entry it
 * covered whose generation is not newer leaves the list, so a change made
 * while the call was in flight is sent again. Failures back off from 1 s
 * to 15 s. A full sync every ae_interval (with up to 10% jitter) reads the
 * catalog's view of this node and queues every difference, including
 * catalog entries we do not have (never serfHealth or the consul service).
 *
 * Servers register their own node with the `consul` service and, until
 * the gossip integration takes the check over, a passing serfHealth check
 * (Consul's leader does both from Serf membership).
 */
#include <errno.h>
#include <stdio.h>

#include "api/api_int.h"
#include "local.h"
#include "server/server.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 15000

enum ae_kind { AE_NODE = 1, AE_SVC, AE_SVC_DEL, AE_CHK, AE_CHK_DEL, AE_FULL };

struct ae_call {
    struct cn_rpc_call call;
    struct cn_agent *a;
    enum ae_kind kind;
    uint64_t seq;                   /* Change sequence when built. */
    char id[CN_CATALOG_STR_BYTES_MAX + 1];
    struct ae_call *next, *prev;
};

static struct ae_call *calls; /* In flight (loop thread only, one agent). */

static struct cn__local *L(struct cn_agent *a) { return a->local; }
static void pass(struct cn_agent *a);

/* ---- the node row ---- */

/* Consul allows 64 node meta pairs (validateMetadata). */
#define NODE_META_MAX 64
struct node_buf {
    struct cn_pair tagged[4];
    struct cn_pair meta[NODE_META_MAX + 1];
    char meta_keys[NODE_META_MAX][130];
};

static void node_row(struct cn_agent *a, struct node_buf *b, struct cn_node *n)
{
    static const char *const tags[] = {"lan", "lan_ipv4", "wan", "wan_ipv4"};
    uint32_t nm = 0;
    memset(n, 0, sizeof *n);
    n->id = a->node_id;
    n->name = a->cfg.node_name;
    n->address = a->advertise;
    n->datacenter = a->cfg.datacenter;
    for (int i = 0; i < 4; i++)
        b->tagged[i] = (struct cn_pair){tags[i], a->advertise};
    n->tagged_addresses = b->tagged;
    n->n_tagged_addresses = 4;
    for (size_t i = 0; i < a->cfg.node_meta.n && nm < NODE_META_MAX; i++) {
        const char *kv = a->cfg.node_meta.v[i], *colon = strchr(kv, ':');
        size_t kl = colon ? (size_t)(colon - kv) : strlen(kv);
        if (kl >= sizeof b->meta_keys[0] || (kl == 22 && !memcmp(kv, "consul-network-segment", 22)))
            continue;
        memcpy(b->meta_keys[nm], kv, kl);
        b->meta_keys[nm][kl] = '\0';
        b->meta[nm] = (struct cn_pair){b->meta_keys[nm], colon ? colon + 1 : ""};
        nm++;
    }
    b->meta[nm++] = (struct cn_pair){"consul-network-segment", ""};
    n->meta = b->meta;
    n->n_meta = nm;
}

/* Weights 0/0 mean Consul's default {1, 1}: the catalog stores 1/1. */
static struct cn_service svc_row(const struct cn__lsvc *s)
{
    struct cn_service v = s->def.svc;
    if (v.weight_passing == 0 && v.weight_warning == 0)
        v.weight_passing = v.weight_warning = 1;
    return v;
}

static int server_port(struct cn_agent *a)
{
    int p = a->server ? cn_server_port(a->server) : 0;
    return p > 0 ? p : a->cfg.server_port;
}

/* ---- calls ---- */

static void call_done(struct cn_rpc_call *call);

static struct ae_call *call_new(struct cn_agent *a, enum ae_kind kind, enum cn_rpc_method m,
                                const char *id)
{
    struct ae_call *c = cn_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    cn_rpc_call_init(&c->call, m);
    c->call.done = call_done;
    c->a = a;
    c->kind = kind;
    c->seq = L(a)->change_seq;
    snprintf(c->id, sizeof c->id, "%s", id ? id : "");
    return c;
}

static void call_start(struct cn_agent *a, struct ae_call *c)
{
    c->next = calls;
    c->prev = NULL;
    if (calls)
        calls->prev = c;
    calls = c;
    L(a)->inflight++;
    L(a)->stats.rpcs++;
    cn__agent_rpc(a, &c->call);
}

static void call_unlink(struct ae_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static int send_node(struct cn_agent *a)
{
    struct node_buf nb;
    struct cn_register r = {0};
    struct cn_service consul = {0};
    struct cn_check serf = {0};
    struct ae_call *c = call_new(a, AE_NODE, CN_RPC_CATALOG_REGISTER, NULL);
    int rc;
    if (!c)
        return -ENOMEM;
    node_row(a, &nb, &r.node);
    if (a->cfg.server) {
        consul.id = consul.name = CN_CONSUL_SERVICE_ID;
        consul.port = (uint32_t)server_port(a);
        consul.weight_passing = consul.weight_warning = 1;
        r.service = &consul;
        /* Placeholder until gossip drives it (consul-compat.md 7). */
        serf.id = CN_SERF_CHECK_ID;
        serf.name = "Serf Health Status";
        serf.status = CN_HEALTH_PASSING;
        serf.output = "Agent alive and reachable";
        r.checks = &serf;
        r.n_checks = 1;
    }
    rc = cn_state_cmd_register(&c->call.args, &r, 0);
    if (rc < 0) {
        cn_rpc_call_close(&c->call);
        cn_free(c);
        return rc;
    }
    call_start(a, c);
    return 0;
}

static int send_register(struct cn_agent *a, struct cn__lsvc *s, struct cn__lchk *only)
{
    struct node_buf nb;
    struct cn_register r = {0};
    struct cn_service row;
    struct cn_check checks[CN_SVCDEF_CHECKS_MAX + 8];
    struct ae_call *c = call_new(a, only ? AE_CHK : AE_SVC, CN_RPC_CATALOG_REGISTER,
                                 only ? only->id : s->id);
    int rc;
    if (!c)
        return -ENOMEM;
    node_row(a, &nb, &r.node);
    /* The node row goes every time: unchanged, it moves no index. */
    if (s) {
        row = svc_row(s);
        r.service = &row;
    }
    if (only) {
        cn__local_check_row(a, only, &checks[r.n_checks++]);
    } else {
        for (struct cn__lchk *k = s->checks; k && r.n_checks < CN_ARRAY_LEN(checks); k = k->svc_next)
            cn__local_check_row(a, k, &checks[r.n_checks++]);
    }
    for (uint32_t i = 0; i < r.n_checks; i++)
        checks[i].node = "";
    r.checks = checks;
    rc = cn_state_cmd_register(&c->call.args, &r, 0);
    if (rc < 0) {
        cn_rpc_call_close(&c->call);
        cn_free(c);
        return rc;
    }
    call_start(a, c);
    return 0;
}

static int send_deregister(struct cn_agent *a, bool service, const char *id)
{
    struct cn_deregister d = {.node = a->cfg.node_name};
    struct ae_call *c = call_new(a, service ? AE_SVC_DEL : AE_CHK_DEL,
                                 CN_RPC_CATALOG_DEREGISTER, id);
    int rc;
    if (!c)
        return -ENOMEM;
    if (service)
        d.service_id = id;
    else
        d.check_id = id;
    rc = cn_state_cmd_deregister(&c->call.args, &d, 0);
    if (rc < 0) {
        cn_rpc_call_close(&c->call);
        cn_free(c);
        return rc;
    }
    call_start(a, c);
    return 0;
}

/* ---- completion ---- */

static bool reply_ok(struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    bool ok = false;
    const uint8_t *msg;
    uint32_t n;
    if (call->rc < 0)
        return false;
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_bool(&r, &ok) == 0)
        return ok;
    if (cn_mp_read_str(&r, &msg, &n) == 0)
        CN_WARN("agent: sync refused: %.*s", (int)CN_MIN(n, 200), (const char *)msg);
    return false;
}

static void settle_chk(struct cn_agent *a, struct cn__lchk *k, uint64_t seq, bool ok)
{
    k->in_flight = false;
    if (!ok || k->gen > seq)
        return; /* Still queued: sent again. */
    k->dirty.prev->next = k->dirty.next;
    k->dirty.next->prev = k->dirty.prev;
    k->dirty.queued = false;
    k->last_sync_ms = uv_now(a->loop);
    if (k->deleted) {
        cn_map_del(&L(a)->checks, k->id, strlen(k->id));
        cn__local_free_chk(k);
    }
}

static void settle(struct cn_agent *a, struct ae_call *c, bool ok)
{
    struct cn__lsvc *s;
    struct cn__lchk *k;
    switch (c->kind) {
    case AE_NODE:
        if (ok && L(a)->node_gen <= c->seq)
            L(a)->node_in_sync = true;
        L(a)->node_in_flight = false;
        return;
    case AE_SVC:
    case AE_SVC_DEL:
        s = cn_map_get(&L(a)->services, c->id, strlen(c->id));
        if (!s)
            return;
        s->in_flight = false;
        for (k = s->checks; k && c->kind == AE_SVC; k = k->svc_next)
            if (k->dirty.queued && k->gen <= c->seq && !k->in_flight)
                settle_chk(a, k, c->seq, ok);
        if (!ok || s->gen > c->seq || !s->dirty.queued)
            return;
        s->dirty.prev->next = s->dirty.next;
        s->dirty.next->prev = s->dirty.prev;
        s->dirty.queued = false;
        if (s->deleted && !s->checks) {
            cn_map_del(&L(a)->services, s->id, strlen(s->id));
            cn__local_free_svc(s);
        }
        return;
    case AE_CHK:
    case AE_CHK_DEL:
        k = cn_map_get(&L(a)->checks, c->id, strlen(c->id));
        if (k && k->dirty.queued)
            settle_chk(a, k, c->seq, ok);
        else if (k)
            k->in_flight = false;
        return;
    case AE_FULL:
        return;
    }
}

static void call_done(struct cn_rpc_call *call)
{
    struct ae_call *c = CN_CONTAINER_OF(call, struct ae_call, call);
    struct cn_agent *a = c->a;
    bool ok = reply_ok(call);
    call_unlink(c);
    L(a)->inflight--;
    if (!ok) {
        L(a)->stats.rpc_errors++;
        if (call->rc < 0 && L(a)->stats.rpc_errors % 100 == 1)
            CN_WARN("agent: catalog sync failed: %s", call->errmsg[0] ? call->errmsg
                                                                       : cn_strerror(call->rc));
    }
    if (!L(a)->closing)
        settle(a, c, ok);
    cn_rpc_call_close(&c->call);
    cn_free(c);
    if (L(a)->closing)
        return;
    if (!ok) {
        /* Back off: the failed entries stay queued for the retry. */
        struct cn__local *l = L(a);
        l->backoff_ms = l->backoff_ms ? CN_MIN(l->backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
        l->retry_at_ms = uv_now(a->loop) + l->backoff_ms;
        uv_timer_stop(&l->sync_timer);
        l->sync_armed = false;
        cn__ae_schedule(a);
        return;
    }
    L(a)->backoff_ms = 0;
    L(a)->retry_at_ms = 0;
    pass(a);
}

/* ---- the pass over the dirty list ---- */

static int send_entry(struct cn_agent *a, struct cn__dirty *d)
{
    struct cn__lsvc *s = NULL;
    struct cn__lchk *k = NULL;
    if (d->is_check)
        k = CN_CONTAINER_OF(d, struct cn__lchk, dirty);
    else
        s = CN_CONTAINER_OF(d, struct cn__lsvc, dirty);
    if (s) {
        if (s->in_flight)
            return 0;
        s->in_flight = true;
        return s->deleted ? send_deregister(a, true, s->id) : send_register(a, s, NULL);
    }
    if (k->in_flight || (k->svc && (k->svc->dirty.queued || k->svc->in_flight)))
        return 0; /* Its service's register carries it. */
    k->in_flight = true;
    return k->deleted ? send_deregister(a, false, k->id) : send_register(a, k->svc, k);
}

static void pass(struct cn_agent *a)
{
    struct cn__local *l = L(a);
    struct cn__dirty *d, *next;
    if (l->closing || uv_now(a->loop) < l->retry_at_ms)
        return;
    l->stats.syncs++;
    if (!l->node_in_sync && !l->node_in_flight && l->inflight < CN_AE_INFLIGHT_MAX) {
        l->node_in_flight = true;
        if (send_node(a) < 0)
            l->node_in_flight = false;
    }
    for (d = l->dirty.next; d != &l->dirty && l->inflight < CN_AE_INFLIGHT_MAX; d = next) {
        next = d->next;
        if (send_entry(a, d) < 0)
            break;
    }
}

static void on_sync_timer(uv_timer_t *t)
{
    struct cn_agent *a = t->data;
    L(a)->sync_armed = false;
    pass(a);
}

void cn__ae_schedule(struct cn_agent *a)
{
    struct cn__local *l = L(a);
    uint64_t now;
    if (!l || l->closing || l->sync_armed)
        return;
    now = uv_now(a->loop);
    l->sync_armed = true;
    uv_timer_start(&l->sync_timer, on_sync_timer, l->retry_at_ms > now ? l->retry_at_ms - now : 0, 0);
}

/* ---- full sync: the catalog's view of this node ---- */

static json_t *row_json(void (*enc)(struct cn_mp_writer *, const void *), const void *row)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    struct cn_mp_reader r;
    json_t *j = NULL;
    cn_buf_init(&b, CN_RPC_REPLY_BYTES_MAX);
    cn_mp_writer_init(&w, &b);
    enc(&w, row);
    if (!w.err) {
        cn_mp_reader_init(&r, b.data, b.len);
        j = cn__mp_to_jansson(&r, 0);
    }
    cn_buf_close(&b);
    return j;
}

static void enc_svc(struct cn_mp_writer *w, const void *s) { cn_state_node_service_encode(w, s); }
static void enc_chk(struct cn_mp_writer *w, const void *c) { cn_state_check_encode(w, c); }
static void enc_node(struct cn_mp_writer *w, const void *n) { cn_state_node_encode(w, n); }

static struct cn__lsvc *svc_tombstone(struct cn_agent *a, const char *id)
{
    struct cn__lsvc *s = cn_calloc(1, sizeof *s);
    if (!s || !(s->id = cn_strndup(id, strlen(id))) ||
        cn_map_put(&L(a)->services, s->id, strlen(s->id), s, NULL) < 0) {
        if (s)
            cn_free(s->id);
        cn_free(s);
        return NULL;
    }
    cn_arena_init(&s->def.arena, 1024);
    s->deleted = true;
    return s;
}

static struct cn__lchk *chk_tombstone(struct cn_agent *a, const char *id)
{
    struct cn__lchk *k = cn_calloc(1, sizeof *k);
    if (!k || !(k->id = cn_strndup(id, strlen(id))) ||
        cn_map_put(&L(a)->checks, k->id, strlen(k->id), k, NULL) < 0) {
        if (k)
            cn_free(k->id);
        cn_free(k);
        return NULL;
    }
    k->agent = a;
    k->dirty.is_check = true;
    k->deleted = true;
    return k;
}

static void diff_node(struct cn_agent *a, const json_t *node)
{
    struct node_buf nb;
    struct cn_node row;
    json_t *mine;
    node_row(a, &nb, &row);
    mine = row_json(enc_node, &row);
    if (!node || !mine || !cn__ae_node_same(mine, node))
        cn__local_node_changed(a);
    json_decref(mine);
}

/* A server's consul service and serfHealth check come with the node. */
static void need_server_rows(struct cn_agent *a, const json_t *list, const char *field,
                             const char *id)
{
    json_t *x;
    size_t i;
    if (!a->cfg.server)
        return;
    json_array_foreach(list, i, x) {
        const char *v = json_string_value(json_object_get(x, field));
        if (v && strcmp(v, id) == 0)
            return;
    }
    cn__local_node_changed(a);
}

/* With EnableTagOverride the catalog's tags become ours. */
static void adopt_tags(struct cn__lsvc *s, const json_t *remote)
{
    json_t *tags = json_object_get(remote, "Tags"), *t;
    const char **arr;
    size_t i, n = json_array_size(tags);
    if (!json_is_array(tags) || n > CN_CATALOG_LIST_MAX)
        return;
    arr = cn_arena_alloc(&s->def.arena, (n + 1) * sizeof *arr);
    if (!arr)
        return;
    json_array_foreach(tags, i, t) {
        arr[i] = cn_arena_strndup(&s->def.arena, json_string_value(t) ? json_string_value(t) : "",
                                  json_string_length(t));
        if (!arr[i])
            return;
    }
    s->def.svc.tags = arr;
    s->def.svc.n_tags = (uint32_t)n;
}

/* Services: {Node, Services: [NodeService...]} or nil. */
static void diff_services(struct cn_agent *a, const json_t *reply)
{
    json_t *list = json_object_get(reply, "Services"), *remote;
    struct cn__lsvc **mine;
    size_t i, n;
    uint64_t seq = ++L(a)->full_seq;
    json_array_foreach(list, i, remote) {
        const char *id = json_string_value(json_object_get(remote, "ID"));
        struct cn__lsvc *s = id ? cn_map_get(&L(a)->services, id, strlen(id)) : NULL;
        if (s)
            s->seen_full = seq;
        if (!id || (s && (s->in_flight || s->dirty.queued)))
            continue;
        if (!s || s->deleted) {
            if (cn__ae_remote_service_stale(id, false) && (s || (s = svc_tombstone(a, id))))
                cn__local_changed_svc(a, s);
            continue;
        }
        if (s->def.svc.enable_tag_override)
            adopt_tags(s, remote); /* consul-compat.md 8. */
        struct cn_service row = svc_row(s);
        json_t *mine_j = row_json(enc_svc, &row);
        if (!mine_j || !cn__ae_service_same(mine_j, remote, s->def.svc.enable_tag_override))
            cn__local_changed_svc(a, s);
        json_decref(mine_j);
    }
    need_server_rows(a, list, "ID", CN_CONSUL_SERVICE_ID);
    if (cn__local_services_sorted(a, &mine, &n) < 0)
        return;
    /* Ours that the catalog lacks (marked above: one pass, not n x m). */
    for (i = 0; i < n; i++)
        if (mine[i]->seen_full != seq && !mine[i]->dirty.queued && !mine[i]->in_flight)
            cn__local_changed_svc(a, mine[i]);
    cn_free(mine);
}

static void diff_checks(struct cn_agent *a, const json_t *list)
{
    struct cn__lchk **mine;
    json_t *remote;
    size_t i, n;
    uint64_t seq = ++L(a)->full_seq;
    json_array_foreach(list, i, remote) {
        const char *id = json_string_value(json_object_get(remote, "CheckID"));
        struct cn__lchk *k = id ? cn_map_get(&L(a)->checks, id, strlen(id)) : NULL;
        struct cn_check row;
        if (k)
            k->seen_full = seq;
        if (!id || (k && (k->in_flight || k->dirty.queued)))
            continue;
        if (!k || k->deleted) {
            if (cn__ae_remote_check_stale(id, false) && (k || (k = chk_tombstone(a, id))))
                cn__local_changed_chk(a, k);
            continue;
        }
        cn__local_check_row(a, k, &row);
        json_t *mine_j = row_json(enc_chk, &row);
        if (!mine_j || !cn__ae_check_same(mine_j, remote))
            cn__local_changed_chk(a, k);
        json_decref(mine_j);
    }
    need_server_rows(a, list, "CheckID", CN_SERF_CHECK_ID);
    if (cn__local_checks_sorted(a, &mine, &n) < 0)
        return;
    for (i = 0; i < n; i++)
        if (mine[i]->seen_full != seq && !mine[i]->dirty.queued && !mine[i]->in_flight)
            cn__local_changed_chk(a, mine[i]);
    cn_free(mine);
}

static void full_done(struct cn_rpc_call *call);
static void on_full_timer(uv_timer_t *t);

static int full_call(struct cn_agent *a, enum cn_rpc_method m)
{
    struct cn_query_opts q = {0};
    struct ae_call *c = call_new(a, AE_FULL, m, NULL);
    if (!c)
        return -ENOMEM;
    c->call.done = full_done;
    if (cn_rpc_cat_args_encode(&c->call.args, a->cfg.node_name, NULL, 0, NULL, 0, false, &q) < 0) {
        cn_rpc_call_close(&c->call);
        cn_free(c);
        return -ENOMEM;
    }
    call_start(a, c);
    return 0;
}

static void full_done(struct cn_rpc_call *call)
{
    struct ae_call *c = CN_CONTAINER_OF(call, struct ae_call, call);
    struct cn_agent *a = c->a;
    struct cn_mp_reader r;
    json_t *reply = NULL;
    call_unlink(c);
    L(a)->inflight--;
    if (call->rc == 0) {
        cn_mp_reader_init(&r, call->reply.data, call->reply.len);
        reply = cn__mp_to_jansson(&r, 0);
    }
    if (!L(a)->closing && reply) {
        if (call->method == CN_RPC_CATALOG_NODE) {
            diff_node(a, json_object_get(reply, "Node"));
            diff_services(a, reply);
            if (full_call(a, CN_RPC_HEALTH_NODE) < 0)
                L(a)->full_running = false;
        } else {
            diff_checks(a, reply);
            L(a)->full_running = false;
            L(a)->full_backoff_ms = 0;
            L(a)->stats.full_syncs++;
            pass(a);
        }
    } else if (!L(a)->closing) {
        /* No leader yet (a restart), or the servers are unreachable: retry
         * soon, backing off, rather than a whole ae_interval later (stale
         * catalog entries of this node would linger that long). */
        struct cn__local *l = L(a);
        l->full_running = false;
        l->stats.rpc_errors++;
        l->full_backoff_ms = l->full_backoff_ms ? CN_MIN(l->full_backoff_ms * 2, BACKOFF_MAX_MS)
                                                : BACKOFF_MIN_MS;
        uv_timer_start(&l->full_timer, on_full_timer, l->full_backoff_ms, 0);
    }
    json_decref(reply);
    cn_rpc_call_close(&c->call);
    cn_free(c);
}

void cn__ae_full_sync(struct cn_agent *a)
{
    struct cn__local *l = L(a);
    if (l->closing || l->full_running)
        return;
    l->full_running = true;
    if (full_call(a, CN_RPC_CATALOG_NODE) < 0)
        l->full_running = false;
}

static void on_full_timer(uv_timer_t *t)
{
    struct cn_agent *a = t->data;
    /* ae_interval plus up to 10% jitter, as Consul staggers it. */
    uint64_t next = CN_AE_INTERVAL_MS + cn_rand_u64() % (CN_AE_INTERVAL_MS / 10);
    cn__ae_full_sync(a);
    uv_timer_start(&L(a)->full_timer, on_full_timer, next, 0);
}

/* Once a second: deferred output syncs; every 30 s, the reaper of
 * services whose check stayed critical past DeregisterCriticalServiceAfter. */
static void on_tick(uv_timer_t *t)
{
    struct cn_agent *a = t->data;
    struct cn__lchk **all;
    size_t n;
    uint64_t now = uv_now(a->loop);
    bool reap = ++L(a)->ticks % (CN_CHECK_REAP_INTERVAL_MS / 1000) == 0;
    if (!L(a)->pending_outputs && !reap)
        return;
    if (cn__local_checks_sorted(a, &all, &n) < 0)
        return;
    L(a)->pending_outputs = 0;
    for (size_t i = 0; i < n; i++) {
        struct cn__lchk *k = all[i];
        if (k->output_pending && now >= k->output_due_ms)
            cn__local_changed_chk(a, k);
        L(a)->pending_outputs += k->output_pending;
    }
    for (size_t i = 0; reap && i < n; i++) {
        struct cn__lchk *k = all[i];
        uint64_t since;
        if (!k->runner || !k->dereg_after_ms || !k->svc)
            continue;
        since = cn_check_critical_since_ms(k->runner);
        if (since && now - since >= k->dereg_after_ms) {
            CN_INFO("agent: check %s critical for too long, deregistering service %s", k->id,
                    k->service_id);
            char sid[CN_CATALOG_STR_BYTES_MAX + 1];
            snprintf(sid, sizeof sid, "%s", k->service_id);
            cn_free(all);
            cn__local_remove_service(a, sid, true);
            return; /* The list is stale now; the next round goes on. */
        }
    }
    cn_free(all);
}

void cn__ae_start(struct cn_agent *a)
{
    struct cn__local *l = L(a);
    uv_timer_init(a->loop, &l->sync_timer);
    uv_timer_init(a->loop, &l->full_timer);
    uv_timer_init(a->loop, &l->tick_timer);
    l->sync_timer.data = l->full_timer.data = l->tick_timer.data = a;
    l->open_handles += 3;
    l->node_in_sync = false;
    uv_timer_start(&l->full_timer, on_full_timer, 0, 0);
    uv_timer_start(&l->tick_timer, on_tick, 1000, 1000);
    cn__ae_schedule(a);
}

void cn__ae_stop(struct cn_agent *a)
{
    while (calls) {
        struct ae_call *c = calls;
        call_unlink(c);
        cn__agent_rpc_cancel(a, &c->call);
        cn_rpc_call_close(&c->call);
        cn_free(c);
    }
    L(a)->inflight = 0;
}
