/* agent/dns_backend.c - the agent's DNS server (agent/dns) over the catalog.
 *
 * Implements struct cn_dns_backend (dns.h) with the same reads the HTTP
 * handlers use:
 *   service  /v1/health/service/:name[?tag]  CN_RPC_HEALTH_SERVICE
 *   node     /v1/catalog/node/:name          CN_RPC_CATALOG_NODE
 *   reverse  /v1/catalog/nodes, then every instance (CATALOG_SERVICE "")
 *   NS/SOA   the module asks for the "consul" service (the servers)
 *
 * Two paths, one result shape:
 *   direct   a server with dns_config.allow_stale (Consul's default) reads
 *            its own state store and completes before the backend call
 *            returns: a stale read, as Consul's DNS does. Service results
 *            are memoised per (service, tag) and reused while the state's
 *            blocking index of that service (cn_state_service_index) is
 *            unchanged, so a steady query stream costs a map lookup here
 *            and a cached compiled answer in the module.
 *   rpc      client agents, servers with allow_stale=false, followers with
 *            a bounded max_stale, and every other datacenter: a cn_rpc_call
 *            through cn__agent_rpc(), completed later. The reply (Consul's
 *            shapes in MessagePack) is decoded into the same cn_node /
 *            cn_service views the direct path gets from the store. A stale
 *            reply whose last contact exceeds max_stale is asked again at
 *            default consistency (Consul's DNS does the same). Cancelled
 *            lookups cancel their call (cn__agent_rpc_cancel).
 *
 * Another datacenter (web.service.dc2.consul) sets call.dc, exactly as
 * ?dc= does for HTTP; until the RPC layer forwards over the WAN that ends
 * in CN_ENODC ("No path to datacenter") = NXDOMAIN (dns.h). With
 * translate_wan_addrs, answers for another datacenter use the "wan" tagged
 * addresses of the service, else of the node (Consul's TranslateAddress).
 *
 * Health: every instance is returned with the worst status of its node
 * and service checks (maintenance = critical); the module filters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "agent/dns/dns.h"
#include "agent_int.h"
#include "server/server.h"
#include "state/state.h"

#define MEMO_MAX 512                    /* (service, tag) results kept */
#define RESULT_ARENA_BYTES_MAX (64u << 20)
#define NAME_BYTES 256                  /* DNS labels: 63 bytes; names 255 */

/* A service lookup's instances; strings live in the arena. */
struct result {
    struct cn_arena arena;
    struct cn_dns_instance *inst;       /* cn_alloc'd */
    size_t n, cap;
    uint64_t index;
};

struct memo {
    struct result res;
    size_t key_len;
    char key[2 * NAME_BYTES + 2];
};

enum be_kind { BE_SERVICE = 1, BE_NODE, BE_REV_NODES, BE_REV_SVCS };

struct be_call {
    struct cn_rpc_call call;
    struct cn__dnsbe *be;
    struct cn_dns_server *srv;
    uint64_t id;
    enum be_kind kind;
    enum cn_dns_service_kind svc_kind;
    bool fresh;                         /* retried at default consistency */
    bool has_tag;
    int family;
    char dc[64];
    char name[NAME_BYTES];
    char tag[NAME_BYTES];
    char addr_text[64];
};

struct cn__dnsbe {
    struct cn_agent *a;
    struct cn_dns_server *srv;
    struct cn_dns_ttl_rule *ttl_rules;
    size_t n_ttl_rules;
    const char *recursors[CN_CONFIG_LIST_MAX];
    struct cn_map calls;                /* lookup id -> be_call */
    struct cn_map memo;                 /* key -> memo */
    const struct cn_state *memo_state;
    uint64_t memo_last_index;
    struct cn_arena scratch;            /* one synchronous node/reverse */
};

/* ---- results ---- */

static void result_init(struct result *r)
{
    memset(r, 0, sizeof *r);
    cn_arena_init(&r->arena, RESULT_ARENA_BYTES_MAX);
}

static void result_close(struct result *r)
{
    cn_arena_close(&r->arena);
    cn_free(r->inst);
    r->inst = NULL;
}

static const char *pair_get(const struct cn_pair *p, uint32_t n, const char *key)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(p[i].key, key) == 0 && p[i].value[0])
            return p[i].value;
    return NULL;
}

static const char *node_addr(const struct cn_node *n, bool wan)
{
    const char *w = wan ? pair_get(n->tagged_addresses, n->n_tagged_addresses, "wan") : NULL;
    return w ? w : n->address;
}

static const char *svc_addr(const struct cn_service *s, bool wan)
{
    for (uint32_t i = 0; wan && i < s->n_tagged_addresses; i++)
        if (strcmp(s->tagged_addresses[i].name, "wan") == 0 &&
            s->tagged_addresses[i].address[0])
            return s->tagged_addresses[i].address;
    return s->address;
}

static enum cn_dns_health dns_health(enum cn_health h)
{
    return h == CN_HEALTH_PASSING || h == 0 ? CN_DNS_PASSING
           : h == CN_HEALTH_WARNING         ? CN_DNS_WARNING
                                            : CN_DNS_CRITICAL;
}

static int fill_node(struct cn__dnsbe *be, struct cn_arena *ar, const struct cn_node *n,
                     bool wan, struct cn_dns_node *out)
{
    struct cn_dns_meta *m = NULL;
    uint32_t nm = be->a->cfg.dns_node_meta_txt ? n->n_meta : 0;
    out->name = cn_arena_strndup(ar, n->name, strlen(n->name));
    out->address = node_addr(n, wan);
    out->address = cn_arena_strndup(ar, out->address, strlen(out->address));
    if (nm && !(m = cn_arena_alloc(ar, nm * sizeof *m)))
        return -ENOMEM;
    for (uint32_t i = 0; i < nm; i++) {
        m[i].key = cn_arena_strndup(ar, n->meta[i].key, strlen(n->meta[i].key));
        m[i].value = cn_arena_strndup(ar, n->meta[i].value, strlen(n->meta[i].value));
        if (!m[i].key || !m[i].value)
            return -ENOMEM;
    }
    out->meta = m;
    out->n_meta = nm;
    return out->name && out->address ? 0 : -ENOMEM;
}

static int add_instance(struct cn__dnsbe *be, struct result *r, bool wan,
                        const struct cn_node *n, const struct cn_service *s,
                        enum cn_health worst)
{
    struct cn_dns_instance *in;
    const char *sa = svc_addr(s, wan);
    if (r->n >= CN_DNS_INSTANCES_MAX)
        return 0; /* The module answers at most this many anyway. */
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        void *p = cn_realloc(r->inst, cap * sizeof *r->inst);
        if (!p)
            return -ENOMEM;
        r->inst = p;
        r->cap = cap;
    }
    in = &r->inst[r->n];
    memset(in, 0, sizeof *in);
    if (fill_node(be, &r->arena, n, wan, &in->node) < 0 ||
        !(in->service_address = cn_arena_strndup(&r->arena, sa, strlen(sa))))
        return -ENOMEM;
    in->port = (uint16_t)CN_MIN(s->port, 65535u);
    in->weight_passing = (uint16_t)CN_MIN(s->weight_passing ? s->weight_passing : 1, 65535u);
    in->weight_warning = (uint16_t)CN_MIN(s->weight_warning, 65535u);
    in->health = dns_health(worst);
    r->n++;
    return 0;
}

static bool local_dc(const struct cn__dnsbe *be, const char *dc)
{
    return !dc || !*dc || strcasecmp(dc, be->a->cfg.datacenter) == 0;
}

/* The state to read now, or NULL: go through RPC. */
static const struct cn_state *direct_state(struct cn__dnsbe *be, const char *dc)
{
    struct cn_agent *a = be->a;
    if (!a->server || !a->cfg.dns_allow_stale || !local_dc(be, dc))
        return NULL;
    /* A bounded max_stale needs the last contact a read's meta carries. */
    if (a->cfg.dns_max_stale_ms < CN_DNS_MAX_STALE_DEFAULT_MS && !cn_server_is_leader(a->server))
        return NULL;
    return cn_server_state(a->server);
}

/* ---- direct reads (servers) ---- */

struct svc_walk {
    struct cn__dnsbe *be;
    struct result *r;
};

static int visit_health(void *ctx, const struct cn_node *n, const struct cn_service *s,
                        const struct cn_check *const *checks, size_t n_checks)
{
    struct svc_walk *w = ctx;
    return add_instance(w->be, w->r, false, n, s, cn_state_checks_aggregate(checks, n_checks));
}

static void memo_flush(struct cn__dnsbe *be)
{
    uint32_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (cn_map_next(&be->memo, &pos, &k, &kl, &v)) {
        result_close(&((struct memo *)v)->res);
        cn_free(v);
    }
    cn_map_close(&be->memo);
    cn_map_init(&be->memo);
}

/* A different store, or one that went back (snapshot restore): indexes
 * no longer identify results. */
static void memo_check_state(struct cn__dnsbe *be, const struct cn_state *st)
{
    uint64_t last = cn_state_last_index(st);
    if (st != be->memo_state || last < be->memo_last_index) {
        memo_flush(be);
        if (be->srv && be->memo_state)
            cn_dns_server_flush_cache(be->srv);
        be->memo_state = st;
    }
    be->memo_last_index = last;
}

static void service_direct(struct cn__dnsbe *be, struct cn_dns_server *srv, uint64_t id,
                           const struct cn_dns_service_req *req, const struct cn_state *st)
{
    char key[sizeof ((struct memo *)0)->key];
    int kl = snprintf(key, sizeof key, "%s%c%s", req->service, req->tag ? '\0' : '\1',
                      req->tag ? req->tag : "");
    uint64_t index = cn_state_service_index(st, req->service);
    struct memo *m, *old = NULL;
    int rc;

    memo_check_state(be, st);
    m = cn_map_get(&be->memo, key, (size_t)kl);
    if (m && m->res.index == index) {
        struct cn_dns_service_result out = {m->res.inst, m->res.n, index};
        cn_dns_service_done(srv, id, 0, &out);
        return;
    }
    if (!(m = cn_calloc(1, sizeof *m))) {
        cn_dns_service_done(srv, id, -ENOMEM, NULL);
        return;
    }
    result_init(&m->res);
    m->res.index = index;
    memcpy(m->key, key, (size_t)kl);
    m->key_len = (size_t)kl;
    struct svc_walk w = {be, &m->res};
    const char *tags[1] = {req->tag};
    rc = cn_state_health_service(st, req->service, tags, req->tag ? 1 : 0, false,
                                 visit_health, &w);
    if (rc == CN_ENOTFOUND)
        rc = 0;
    if (rc == 0 && be->memo.count >= MEMO_MAX)
        memo_flush(be);
    if (rc == 0 && cn_map_put(&be->memo, m->key, m->key_len, m, (void **)&old) < 0)
        rc = -ENOMEM;
    if (rc < 0) {
        result_close(&m->res);
        cn_free(m);
        cn_dns_service_done(srv, id, rc, NULL);
        return;
    }
    if (old) {
        result_close(&old->res);
        cn_free(old);
    }
    struct cn_dns_service_result out = {m->res.inst, m->res.n, index};
    cn_dns_service_done(srv, id, 0, &out);
}

static void node_direct(struct cn__dnsbe *be, struct cn_dns_server *srv, uint64_t id,
                        const char *name, const struct cn_state *st)
{
    struct cn_node n;
    struct cn_dns_node out;
    int rc;
    if (cn_state_node_get(st, name, &n) < 0) {
        cn_dns_node_done(srv, id, 0, NULL);
        return;
    }
    cn_arena_reset(&be->scratch);
    rc = fill_node(be, &be->scratch, &n, false, &out);
    cn_dns_node_done(srv, id, rc, rc == 0 ? &out : NULL);
}

/* Reverse: the first node, else the first instance, with this address. */
struct rev_walk {
    const char *addr;
    struct cn_dns_reverse_result *res;
    char name[NAME_BYTES];
};

static bool addr_is(const char *a, const char *want)
{
    struct in6_addr x, y;
    if (strcmp(a, want) == 0)
        return true;
    return strchr(want, ':') && inet_pton(AF_INET6, a, &x) == 1 &&
           inet_pton(AF_INET6, want, &y) == 1 && memcmp(&x, &y, sizeof x) == 0;
}

static int rev_node(void *ctx, const struct cn_node *n)
{
    struct rev_walk *w = ctx;
    bool hit = addr_is(n->address, w->addr);
    for (uint32_t i = 0; !hit && i < n->n_tagged_addresses; i++)
        hit = addr_is(n->tagged_addresses[i].value, w->addr);
    if (!hit)
        return 0;
    snprintf(w->name, sizeof w->name, "%s", n->name);
    *w->res = (struct cn_dns_reverse_result){CN_DNS_REV_NODE, w->name, NULL};
    return 1;
}

static int rev_svc(void *ctx, const struct cn_node *n, const struct cn_service *s)
{
    struct rev_walk *w = ctx;
    bool hit = s->address[0] && addr_is(s->address, w->addr);
    (void)n;
    for (uint32_t i = 0; !hit && i < s->n_tagged_addresses; i++)
        hit = addr_is(s->tagged_addresses[i].address, w->addr);
    if (!hit)
        return 0;
    snprintf(w->name, sizeof w->name, "%s", s->name);
    *w->res = (struct cn_dns_reverse_result){CN_DNS_REV_SERVICE, w->name, NULL};
    return 1;
}

/* ---- RPC path ---- */

static void call_free(struct be_call *c)
{
    cn_rpc_call_close(&c->call);
    cn_free(c);
}

static void on_call_done(struct cn_rpc_call *call);

/* (Re)builds the call's arguments and sends it. */
static void call_send(struct be_call *c)
{
    struct cn__dnsbe *be = c->be;
    struct cn_query_opts q = {0};
    enum cn_rpc_method m = c->kind == BE_SERVICE    ? CN_RPC_HEALTH_SERVICE
                           : c->kind == BE_NODE     ? CN_RPC_CATALOG_NODE
                           : c->kind == BE_REV_NODES ? CN_RPC_CATALOG_NODES
                                                    : CN_RPC_CATALOG_SERVICE;
    const char *tags[1] = {c->tag};
    const char *name = c->kind == BE_SERVICE || c->kind == BE_NODE ? c->name : "";
    int rc;
    cn_rpc_call_close(&c->call);
    cn_rpc_call_init(&c->call, m);
    c->call.done = on_call_done;
    c->call.ctx = c;
    if (!local_dc(be, c->dc))
        snprintf(c->call.dc, sizeof c->call.dc, "%s", c->dc);
    q.consistency = be->a->cfg.dns_allow_stale && !c->fresh ? CN_CONSISTENCY_STALE
                                                            : CN_CONSISTENCY_DEFAULT;
    rc = cn_rpc_cat_args_encode(&c->call.args, name, tags, c->has_tag ? 1 : 0, NULL, 0,
                                false, &q);
    if (rc < 0) {
        c->call.rc = rc;
        c->call.done(&c->call);
        return;
    }
    cn__agent_rpc(be->a, &c->call);
}

static void call_start(struct cn__dnsbe *be, struct be_call *c)
{
    if (cn_map_put(&be->calls, &c->id, sizeof c->id, c, NULL) < 0) {
        c->call.rc = -ENOMEM;
        c->call.done(&c->call); /* Completes the lookup with SERVFAIL. */
        return;
    }
    call_send(c);
}

static struct be_call *call_new(struct cn__dnsbe *be, struct cn_dns_server *srv, uint64_t id,
                                enum be_kind kind, const char *dc, const char *name)
{
    struct be_call *c = cn_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    cn_rpc_call_init(&c->call, CN_RPC_HEALTH_SERVICE);
    c->call.done = on_call_done;
    c->call.ctx = c;
    c->be = be;
    c->srv = srv;
    c->id = id;
    c->kind = kind;
    snprintf(c->dc, sizeof c->dc, "%s", dc ? dc : "");
    snprintf(c->name, sizeof c->name, "%s", name ? name : "");
    return c;
}

/* ---- reply decoding (Consul's shapes, state/cat_read.c encoders) ---- */

static bool key_is(const uint8_t *k, uint32_t kl, const char *s)
{
    return strlen(s) == kl && memcmp(k, s, kl) == 0;
}

/* A str (or nil -> "") copied NUL-terminated. */
static int mp_cstr(struct cn_arena *ar, struct cn_mp_reader *r, const char **out)
{
    const uint8_t *p;
    uint32_t n;
    if (cn_mp_read_nil(r) == 0) {
        *out = "";
        return 0;
    }
    if (cn_mp_read_str(r, &p, &n) < 0 || memchr(p, 0, n))
        return CN_EMALFORMED;
    *out = cn_arena_strndup(ar, (const char *)p, n);
    return *out ? 0 : -ENOMEM;
}

/* {str: str} or nil; entries with other values are skipped. */
static int mp_pairs(struct cn_arena *ar, struct cn_mp_reader *r, const struct cn_pair **out,
                    uint32_t *n_out)
{
    struct cn_pair *p;
    uint32_t n, k = 0;
    *n_out = 0;
    if (cn_mp_read_nil(r) == 0)
        return 0;
    if (cn_mp_read_map(r, &n) < 0 || n > CN_CATALOG_LIST_MAX ||
        !(p = cn_arena_alloc(ar, (n + 1) * sizeof *p)))
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        if (mp_cstr(ar, r, &p[k].key) < 0)
            return CN_EMALFORMED;
        if (mp_cstr(ar, r, &p[k].value) == 0)
            k++;
        else if (cn_mp_skip(r) < 0)
            return CN_EMALFORMED;
    }
    *out = p;
    *n_out = k;
    return 0;
}

static int mp_node(struct cn_arena *ar, struct cn_mp_reader *r, struct cn_node *n)
{
    const uint8_t *k;
    uint32_t nf, kl;
    int rc = 0;
    memset(n, 0, sizeof *n);
    n->name = n->address = "";
    if (cn_mp_read_map(r, &nf) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < nf && rc == 0; i++) {
        if (cn_mp_read_str(r, &k, &kl) < 0)
            return CN_EMALFORMED;
        if (key_is(k, kl, "Node"))
            rc = mp_cstr(ar, r, &n->name);
        else if (key_is(k, kl, "Address"))
            rc = mp_cstr(ar, r, &n->address);
        else if (key_is(k, kl, "TaggedAddresses"))
            rc = mp_pairs(ar, r, &n->tagged_addresses, &n->n_tagged_addresses);
        else if (key_is(k, kl, "Meta"))
            rc = mp_pairs(ar, r, &n->meta, &n->n_meta);
        else
            rc = cn_mp_skip(r);
    }
    return rc < 0 ? CN_EMALFORMED : 0;
}

/* {"lan": {"Address": a, "Port": p}, ...} */
static int mp_svc_addrs(struct cn_arena *ar, struct cn_mp_reader *r, struct cn_service *s)
{
    struct cn_svc_addr *v;
    uint32_t n, nf, kl;
    const uint8_t *k;
    if (cn_mp_read_nil(r) == 0)
        return 0;
    if (cn_mp_read_map(r, &n) < 0 || n > CN_CATALOG_LIST_MAX ||
        !(v = cn_arena_alloc(ar, (n + 1) * sizeof *v)))
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        v[i].address = "";
        if (mp_cstr(ar, r, &v[i].name) < 0 || cn_mp_read_map(r, &nf) < 0)
            return CN_EMALFORMED;
        for (uint32_t j = 0; j < nf; j++) {
            int rc;
            if (cn_mp_read_str(r, &k, &kl) < 0)
                return CN_EMALFORMED;
            rc = key_is(k, kl, "Address") ? mp_cstr(ar, r, &v[i].address) : cn_mp_skip(r);
            if (rc < 0)
                return CN_EMALFORMED;
        }
    }
    s->tagged_addresses = v;
    s->n_tagged_addresses = n;
    return 0;
}

static int mp_weights(struct cn_mp_reader *r, struct cn_service *s)
{
    uint32_t n, kl;
    const uint8_t *k;
    uint64_t v;
    if (cn_mp_read_map(r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        if (cn_mp_read_str(r, &k, &kl) < 0 || cn_mp_read_uint(r, &v) < 0)
            return CN_EMALFORMED;
        v = CN_MIN(v, 65535u);
        if (key_is(k, kl, "Passing"))
            s->weight_passing = (uint32_t)v;
        else if (key_is(k, kl, "Warning"))
            s->weight_warning = (uint32_t)v;
    }
    return 0;
}

/* NodeService (health entries) or ServiceNode (catalog service rows):
 * the field names differ by a "Service" prefix. */
static int mp_service(struct cn_arena *ar, struct cn_mp_reader *r, struct cn_service *s,
                      bool prefixed)
{
    const uint8_t *k;
    uint32_t nf, kl;
    uint64_t port = 0;
    int rc = 0;
    memset(s, 0, sizeof *s);
    s->name = s->address = "";
    s->weight_passing = s->weight_warning = 1;
    if (cn_mp_read_map(r, &nf) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < nf && rc == 0; i++) {
        if (cn_mp_read_str(r, &k, &kl) < 0)
            return CN_EMALFORMED;
        if (prefixed) {
            if (kl <= 7 || memcmp(k, "Service", 7) != 0) {
                rc = cn_mp_skip(r);
                continue;
            }
            k += 7;
            kl -= 7;
        }
        if (key_is(k, kl, prefixed ? "Name" : "Service")) {
            rc = mp_cstr(ar, r, &s->name);
        } else if (key_is(k, kl, "Address")) {
            rc = mp_cstr(ar, r, &s->address);
        } else if (key_is(k, kl, "TaggedAddresses")) {
            rc = mp_svc_addrs(ar, r, s);
        } else if (key_is(k, kl, "Port")) {
            rc = cn_mp_read_uint(r, &port);
            s->port = (uint32_t)CN_MIN(port, 65535u);
        } else if (key_is(k, kl, "Weights")) {
            rc = mp_weights(r, s);
        } else {
            rc = cn_mp_skip(r);
        }
    }
    return rc < 0 ? CN_EMALFORMED : 0;
}

static int mp_checks_worst(struct cn_mp_reader *r, enum cn_health *worst)
{
    const uint8_t *k, *v;
    uint32_t n, nf, kl, vl;
    *worst = CN_HEALTH_PASSING;
    if (cn_mp_read_array(r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        if (cn_mp_read_map(r, &nf) < 0)
            return CN_EMALFORMED;
        for (uint32_t j = 0; j < nf; j++) {
            if (cn_mp_read_str(r, &k, &kl) < 0)
                return CN_EMALFORMED;
            if (!key_is(k, kl, "Status")) {
                if (cn_mp_skip(r) < 0)
                    return CN_EMALFORMED;
                continue;
            }
            if (cn_mp_read_str(r, &v, &vl) < 0)
                return CN_EMALFORMED;
            enum cn_health h = vl == 7 && memcmp(v, "passing", 7) == 0   ? CN_HEALTH_PASSING
                               : vl == 7 && memcmp(v, "warning", 7) == 0 ? CN_HEALTH_WARNING
                                                                         : CN_HEALTH_CRITICAL;
            if (h > *worst)
                *worst = h;
        }
    }
    return 0;
}

/* [{Node, Service, Checks}...] -> instances. */
static int decode_health(struct be_call *c, struct result *res)
{
    struct cn_mp_reader r;
    uint32_t n, nf, kl;
    const uint8_t *k;
    bool wan = c->be->a->cfg.translate_wan_addrs && !local_dc(c->be, c->dc);
    cn_mp_reader_init(&r, c->call.reply.data, c->call.reply.len);
    if (cn_mp_read_array(&r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        struct cn_node node;
        struct cn_service svc;
        enum cn_health worst = CN_HEALTH_PASSING;
        bool have_node = false, have_svc = false;
        int rc = 0;
        if (cn_mp_read_map(&r, &nf) < 0)
            return CN_EMALFORMED;
        for (uint32_t j = 0; j < nf && rc == 0; j++) {
            if (cn_mp_read_str(&r, &k, &kl) < 0)
                return CN_EMALFORMED;
            if (key_is(k, kl, "Node") && (rc = mp_node(&res->arena, &r, &node)) == 0)
                have_node = true;
            else if (key_is(k, kl, "Service") &&
                     (rc = mp_service(&res->arena, &r, &svc, false)) == 0)
                have_svc = true;
            else if (key_is(k, kl, "Checks"))
                rc = mp_checks_worst(&r, &worst);
            else if (!key_is(k, kl, "Node") && !key_is(k, kl, "Service"))
                rc = cn_mp_skip(&r);
        }
        if (rc < 0 || !have_node || !have_svc)
            return rc < 0 ? rc : CN_EMALFORMED;
        if ((rc = add_instance(c->be, res, wan, &node, &svc, worst)) < 0)
            return rc;
    }
    return 0;
}

static void service_rpc_done(struct be_call *c)
{
    struct result res;
    int rc = c->call.rc;
    result_init(&res);
    if (rc == 0 && c->svc_kind == CN_DNS_SVC_PLAIN)
        rc = decode_health(c, &res);
    struct cn_dns_service_result out = {res.inst, res.n, rc == 0 ? c->call.meta.index : 0};
    /* Another datacenter's index is its own: never cache across DCs by it. */
    if (!local_dc(c->be, c->dc))
        out.index = 0;
    cn_dns_service_done(c->srv, c->id, rc, rc == 0 ? &out : NULL);
    result_close(&res);
}

/* {Node, Services} | nil -> *found and n. */
static int decode_node(struct be_call *c, struct cn_node *n, bool *found)
{
    struct cn_mp_reader r;
    const uint8_t *k;
    uint32_t nf, kl;
    int rc = 0;
    *found = false;
    cn_mp_reader_init(&r, c->call.reply.data, c->call.reply.len);
    if (cn_mp_read_nil(&r) == 0)
        return 0;
    if (cn_mp_read_map(&r, &nf) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; rc == 0 && i < nf && !*found; i++) {
        if (cn_mp_read_str(&r, &k, &kl) < 0)
            rc = CN_EMALFORMED;
        else if (!key_is(k, kl, "Node"))
            rc = cn_mp_skip(&r) < 0 ? CN_EMALFORMED : 0;
        else if ((rc = mp_node(&c->be->scratch, &r, n)) == 0)
            *found = true;
    }
    return rc;
}

static void node_rpc_done(struct be_call *c)
{
    struct cn_node n;
    struct cn_dns_node out;
    bool found = false;
    bool wan = c->be->a->cfg.translate_wan_addrs && !local_dc(c->be, c->dc);
    int rc = c->call.rc;
    cn_arena_reset(&c->be->scratch);
    if (rc == 0)
        rc = decode_node(c, &n, &found);
    if (rc == 0 && found)
        rc = fill_node(c->be, &c->be->scratch, &n, wan, &out);
    cn_dns_node_done(c->srv, c->id, rc, rc == 0 && found ? &out : NULL);
}

/* [Node...] (BE_REV_NODES) or [ServiceNode...] (BE_REV_SVCS) -> w. */
static int decode_reverse(struct be_call *c, struct rev_walk *w)
{
    struct cn_mp_reader r;
    uint32_t n;
    int rc = 0;
    cn_mp_reader_init(&r, c->call.reply.data, c->call.reply.len);
    if (cn_mp_read_array(&r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; rc == 0 && i < n && w->res->kind == CN_DNS_REV_NONE; i++) {
        struct cn_node node;
        struct cn_service svc;
        if (c->kind == BE_REV_NODES) {
            if ((rc = mp_node(&c->be->scratch, &r, &node)) == 0)
                rev_node(w, &node);
        } else if ((rc = mp_service(&c->be->scratch, &r, &svc, true)) == 0) {
            rev_svc(w, NULL, &svc);
        }
    }
    return rc;
}

/* Reverse over RPC: nodes first; if none matches, every instance. Returns
 * true if the call was sent again (the second step). */
static bool reverse_rpc_done(struct be_call *c)
{
    struct cn_dns_reverse_result res = {CN_DNS_REV_NONE, NULL, NULL};
    struct rev_walk w = {c->addr_text, &res, ""};
    int rc = c->call.rc;
    cn_arena_reset(&c->be->scratch);
    if (rc == 0)
        rc = decode_reverse(c, &w);
    if (rc == 0 && res.kind == CN_DNS_REV_NONE && c->kind == BE_REV_NODES) {
        c->kind = BE_REV_SVCS;
        c->fresh = false;
        call_send(c);
        return true;
    }
    cn_dns_reverse_done(c->srv, c->id, rc, &res);
    return false;
}

/* For the fuzz target: every decoder over one reply. */
int cn__agent_dns_decode_fuzz(const uint8_t *p, size_t len)
{
    static struct cn_agent a;
    struct cn__dnsbe be = {.a = &a};
    struct be_call c = {.be = &be};
    struct cn_dns_reverse_result res = {CN_DNS_REV_NONE, NULL, NULL};
    struct rev_walk w = {"10.0.0.1", &res, ""};
    struct cn_dns_node out;
    struct result r;
    struct cn_node n;
    bool found = false;
    int rc = 0;
    snprintf(a.cfg.datacenter, sizeof a.cfg.datacenter, "dc1");
    a.cfg.dns_node_meta_txt = a.cfg.translate_wan_addrs = true;
    snprintf(c.dc, sizeof c.dc, "%s", len && (p[0] & 1) ? "dc2" : "dc1");
    cn_arena_init(&be.scratch, RESULT_ARENA_BYTES_MAX);
    cn_rpc_call_init(&c.call, CN_RPC_HEALTH_SERVICE);
    if (cn_buf_append(&c.call.reply, p, len) == 0) {
        result_init(&r);
        rc |= decode_health(&c, &r);
        result_close(&r);
        rc |= decode_node(&c, &n, &found);
        if (found)
            rc |= fill_node(&be, &be.scratch, &n, true, &out);
        c.kind = BE_REV_NODES;
        rc |= decode_reverse(&c, &w);
        c.kind = BE_REV_SVCS;
        res.kind = CN_DNS_REV_NONE;
        rc |= decode_reverse(&c, &w);
    }
    cn_rpc_call_close(&c.call);
    cn_arena_close(&be.scratch);
    return rc;
}

static void on_call_done(struct cn_rpc_call *call)
{
    struct be_call *c = call->ctx;
    struct cn__dnsbe *be = c->be;
    if (call->rc == 0 && !c->fresh && be->a->cfg.dns_allow_stale &&
        call->meta.last_contact_ms > be->a->cfg.dns_max_stale_ms) {
        c->fresh = true; /* Too stale: ask the leader (Consul's DNS retry). */
        call_send(c);
        return;
    }
    switch (c->kind) {
    case BE_SERVICE: service_rpc_done(c); break;
    case BE_NODE: node_rpc_done(c); break;
    case BE_REV_NODES:
    case BE_REV_SVCS:
        if (reverse_rpc_done(c))
            return;
        break;
    }
    cn_map_del(&be->calls, &c->id, sizeof c->id);
    call_free(c);
}

/* ---- the backend hooks ---- */

static void be_service(void *ctx, struct cn_dns_server *srv, uint64_t id,
                       const struct cn_dns_service_req *req)
{
    struct cn__dnsbe *be = ctx;
    const struct cn_state *st = direct_state(be, req->datacenter);
    struct be_call *c;
    if (req->kind != CN_DNS_SVC_PLAIN && local_dc(be, req->datacenter)) {
        /* Mesh lookups (.connect/.ingress) need proxy indexes the state
         * does not have yet: nothing registered answers them. */
        struct cn_dns_service_result none = {NULL, 0, 0};
        cn_dns_service_done(srv, id, 0, &none);
        return;
    }
    if (st) {
        service_direct(be, srv, id, req, st);
        return;
    }
    if (!(c = call_new(be, srv, id, BE_SERVICE, req->datacenter, req->service))) {
        cn_dns_service_done(srv, id, -ENOMEM, NULL);
        return;
    }
    c->svc_kind = req->kind;
    c->has_tag = req->tag != NULL;
    snprintf(c->tag, sizeof c->tag, "%s", req->tag ? req->tag : "");
    call_start(be, c);
}

static void be_node(void *ctx, struct cn_dns_server *srv, uint64_t id,
                    const struct cn_dns_node_req *req)
{
    struct cn__dnsbe *be = ctx;
    const struct cn_state *st = direct_state(be, req->datacenter);
    struct be_call *c;
    if (st) {
        node_direct(be, srv, id, req->node, st);
        return;
    }
    if (!(c = call_new(be, srv, id, BE_NODE, req->datacenter, req->node))) {
        cn_dns_node_done(srv, id, -ENOMEM, NULL);
        return;
    }
    call_start(be, c);
}

static void be_reverse(void *ctx, struct cn_dns_server *srv, uint64_t id,
                       const struct cn_dns_reverse_req *req)
{
    struct cn__dnsbe *be = ctx;
    const struct cn_state *st = direct_state(be, NULL);
    struct cn_dns_reverse_result res = {CN_DNS_REV_NONE, NULL, NULL};
    struct rev_walk w = {req->addr_text, &res, ""};
    struct be_call *c;
    if (!req->addr_text || !req->addr_text[0]) {
        cn_dns_reverse_done(srv, id, 0, &res);
        return;
    }
    if (st) {
        int rc = cn_state_nodes_list(st, rev_node, &w);
        if (rc == 0)
            rc = cn_state_services_list(st, rev_svc, &w);
        cn_dns_reverse_done(srv, id, rc < 0 ? rc : 0, &res);
        return;
    }
    if (!(c = call_new(be, srv, id, BE_REV_NODES, NULL, NULL))) {
        cn_dns_reverse_done(srv, id, -ENOMEM, NULL);
        return;
    }
    c->family = req->family;
    snprintf(c->addr_text, sizeof c->addr_text, "%s", req->addr_text);
    call_start(be, c);
}

static void be_cancel(void *ctx, uint64_t id)
{
    struct cn__dnsbe *be = ctx;
    struct be_call *c = cn_map_del(&be->calls, &id, sizeof id);
    if (!c)
        return;
    cn__agent_rpc_cancel(be->a, &c->call);
    call_free(c);
}

/* ---- start / stop ---- */

static int build_config(struct cn__dnsbe *be, struct cn_dns_config *dc, char *errmsg)
{
    const struct cn_agent_config *cfg = &be->a->cfg;
    cn_dns_config_init(dc);
    dc->domain = cfg->domain;
    dc->alt_domain = cfg->alt_domain[0] ? cfg->alt_domain : NULL;
    dc->datacenter = cfg->datacenter;
    dc->node_ttl_s = (uint32_t)CN_MIN(cfg->dns_node_ttl_ms / 1000, UINT32_MAX);
    dc->udp_answer_limit = cfg->dns_udp_answer_limit;
    dc->a_record_limit = cfg->dns_a_record_limit;
    dc->enable_truncate = cfg->dns_enable_truncate;
    dc->only_passing = cfg->dns_only_passing;
    dc->node_meta_txt = cfg->dns_node_meta_txt;
    dc->recursor_timeout_ms = (uint32_t)CN_MIN(cfg->dns_recursor_timeout_ms, UINT32_MAX);
    dc->soa = (struct cn_dns_soa){cfg->dns_soa_refresh, cfg->dns_soa_retry,
                                  cfg->dns_soa_expire, cfg->dns_soa_min_ttl};
    for (size_t i = 0; i < cfg->recursors.n; i++)
        be->recursors[i] = cfg->recursors.v[i];
    dc->recursors = be->recursors;
    dc->n_recursors = cfg->recursors.n;
    if (cfg->dns_service_ttl.n) {
        be->ttl_rules = cn_calloc(cfg->dns_service_ttl.n, sizeof *be->ttl_rules);
        if (!be->ttl_rules)
            return cn_errf_rc(errmsg, -ENOMEM, "dns: out of memory");
    }
    for (size_t i = 0; i < cfg->dns_service_ttl.n; i++) {
        const char *e = cfg->dns_service_ttl.v[i], *sp = strchr(e, ' ');
        be->ttl_rules[i].ttl_s = (uint32_t)strtoul(e, NULL, 10);
        be->ttl_rules[i].pattern = sp ? sp + 1 : "";
    }
    dc->service_ttl = be->ttl_rules;
    dc->n_service_ttl = cfg->dns_service_ttl.n;
    return 0;
}

static void be_free(struct cn__dnsbe *be)
{
    uint32_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (cn_map_next(&be->calls, &pos, &k, &kl, &v)) {
        cn__agent_rpc_cancel(be->a, &((struct be_call *)v)->call);
        call_free(v);
    }
    cn_map_close(&be->calls);
    memo_flush(be);
    cn_map_close(&be->memo);
    cn_arena_close(&be->scratch);
    cn_free(be->ttl_rules);
    cn_free(be);
}

int cn__agent_dns_start(struct cn_agent *a, char *errmsg)
{
    struct cn_dns_backend hooks = {
        .node = be_node, .service = be_service, .reverse = be_reverse, .cancel = be_cancel,
    };
    struct cn_dns_config dc;
    struct cn__dnsbe *be;
    int rc;
    if (a->cfg.dns_port < 0)
        return 0;
    if (!(be = cn_calloc(1, sizeof *be)))
        return cn_errf_rc(errmsg, -ENOMEM, "dns: out of memory");
    be->a = a;
    cn_map_init(&be->calls);
    cn_map_init(&be->memo);
    cn_arena_init(&be->scratch, RESULT_ARENA_BYTES_MAX);
    hooks.ctx = be;
    if ((rc = build_config(be, &dc, errmsg)) < 0 ||
        (rc = cn_dns_server_new(&be->srv, a->loop, &dc, &hooks, cn_log_process(), errmsg)) < 0) {
        be_free(be);
        return rc;
    }
    a->dns = be;
    rc = cn_dns_server_listen(be->srv, a->cfg.client_addr, (uint16_t)a->cfg.dns_port, errmsg);
    if (rc < 0) {
        char why[CN_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", errmsg);
        cn__agent_dns_stop(a);
        return cn_errf_rc(errmsg, rc, "dns: listen on %s:%d: %s", a->cfg.client_addr,
                          a->cfg.dns_port, why);
    }
    return 0;
}

int cn__agent_dns_port(const struct cn_agent *a)
{
    return a->dns ? cn_dns_server_port(a->dns->srv) : -1;
}

static void on_dns_closed(void *arg)
{
    be_free(arg);
}

void cn__agent_dns_stop(struct cn_agent *a)
{
    struct cn__dnsbe *be = a->dns;
    struct cn_dns_server *srv;
    if (!be)
        return;
    a->dns = NULL;
    srv = be->srv;
    be->srv = NULL;
    /* Cancels every lookup in flight (be_cancel), then frees be. */
    cn_dns_server_close(srv, on_dns_closed, be);
}
