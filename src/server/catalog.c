/* server/catalog.c - Catalog and Health endpoints (consul-compat.md 5.4,
 * 5.5; Consul's agent/consul/catalog_endpoint.go, health_endpoint.go).
 *
 * Writes carry a state command built by the agent; the leader stamps its
 * own wall clock into it (cn__stamp_now) so that time-dependent effects
 * (lock delays of invalidated sessions) use one clock, then proposes it.
 * Reads run per consistency mode and block on exactly what they read:
 * a service name, a node name, or one table, with the blocking index
 * Consul uses for that endpoint.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "server_int.h"

/* ---- writes ---- */

int cn__stamp_now(const uint8_t *cmd, size_t len, uint64_t now_ms, struct cn_buf *out)
{
    struct cn_mp_reader r;
    struct cn_mp_writer w;
    uint32_t n;
    uint64_t old;
    if (len < 2)
        return CN_EMALFORMED;
    cn_mp_reader_init(&r, cmd + 1, len - 1);
    if (cn_mp_read_array(&r, &n) < 0 || n < 1 || cn_mp_read_uint(&r, &old) < 0)
        return CN_EMALFORMED;
    cn_mp_writer_init(&w, out);
    cn_mp_put_raw(&w, cmd, 1);
    cn_mp_put_array(&w, n);
    cn_mp_put_uint(&w, now_ms);
    cn_mp_put_raw(&w, r.p, cn_mp_left(&r));
    return w.err;
}

/* A write whose command must have type `type`; stamped on the leader. */
void cn__write_cmd(struct cn_server *s, struct cn_rpc_call *call, uint8_t type,
                   bool stamp)
{
    struct cn_buf cmd;
    int rc;
    if (call->args.len == 0 || call->args.data[0] != type) {
        cn__server_reply(s, call, CN_EMALFORMED, "unexpected command type");
        return;
    }
    if (!stamp || !cn_server_is_leader(s)) {
        cn__route_write(s, call, call->args.data, call->args.len);
        return;
    }
    cn_buf_init(&cmd, CN_RPC_ARGS_BYTES_MAX);
    rc = cn__stamp_now(call->args.data, call->args.len, cn_time_wall_ms(), &cmd);
    if (rc < 0) {
        cn_buf_close(&cmd);
        cn__server_reply(s, call, rc == CN_EMALFORMED ? rc : rc, "invalid command");
        return;
    }
    cn__route_write(s, call, cmd.data, cmd.len);
    cn_buf_close(&cmd);
}

/* ---- reply helpers ---- */

/* An array whose length is known at the end: array32 header patched. */
void cn__reply_array_begin(struct cn_rpc_call *call, struct cn_mp_writer *w)
{
    static const uint8_t hdr[5] = {0xdd, 0, 0, 0, 0};
    cn_buf_reset(&call->reply);
    cn_mp_writer_init(w, &call->reply);
    cn_mp_put_raw(w, hdr, sizeof hdr);
}

int cn__reply_array_end(struct cn_rpc_call *call, struct cn_mp_writer *w, uint32_t count)
{
    if (w->err)
        return w->err == -EMSGSIZE ? CN_ETOOBIG : w->err;
    call->reply.data[1] = (uint8_t)(count >> 24);
    call->reply.data[2] = (uint8_t)(count >> 16);
    call->reply.data[3] = (uint8_t)(count >> 8);
    call->reply.data[4] = (uint8_t)count;
    return 0;
}

/* ?node-meta=k:v (AND): every pair must be in the node's Meta. */
bool cn__node_meta_match(const struct cn_node *n, const struct cn_rpc_cat_args *a)
{
    for (uint32_t i = 0; i < a->n_meta; i++) {
        bool found = false;
        for (uint32_t j = 0; j < n->n_meta && !found; j++)
            found = strcmp(n->meta[j].key, a->meta[2 * i]) == 0 &&
                    strcmp(n->meta[j].value, a->meta[2 * i + 1]) == 0;
        if (!found)
            return false;
    }
    return true;
}

struct walk {
    struct cn_mp_writer *w;
    const struct cn_rpc_cat_args *a;
    uint32_t count;
};

static int visit_node(void *ctx, const struct cn_node *n)
{
    struct walk *k = ctx;
    if (!cn__node_meta_match(n, k->a))
        return 0;
    cn_state_node_encode(k->w, n);
    k->count++;
    return k->w->err;
}

static int visit_service_node(void *ctx, const struct cn_node *n, const struct cn_service *svc)
{
    struct walk *k = ctx;
    if (!cn__node_meta_match(n, k->a))
        return 0;
    cn_state_service_node_encode(k->w, n, svc);
    k->count++;
    return k->w->err;
}

static int visit_node_service(void *ctx, const struct cn_node *n, const struct cn_service *svc)
{
    struct walk *k = ctx;
    (void)n;
    cn_state_node_service_encode(k->w, svc);
    k->count++;
    return k->w->err;
}

static int visit_check(void *ctx, const struct cn_check *c)
{
    struct walk *k = ctx;
    cn_state_check_encode(k->w, c);
    k->count++;
    return k->w->err;
}

static int visit_health(void *ctx, const struct cn_node *n, const struct cn_service *svc,
                        const struct cn_check *const *checks, size_t n_checks)
{
    struct walk *k = ctx;
    if (!cn__node_meta_match(n, k->a))
        return 0;
    cn_mp_put_map(k->w, 3);
    cn_mp_put_cstr(k->w, "Node");
    cn_state_node_encode(k->w, n);
    cn_mp_put_cstr(k->w, "Service");
    cn_state_node_service_encode(k->w, svc);
    cn_mp_put_cstr(k->w, "Checks");
    cn_mp_put_array(k->w, (uint32_t)n_checks);
    for (size_t i = 0; i < n_checks; i++)
        cn_state_check_encode(k->w, checks[i]);
    k->count++;
    return k->w->err;
}

/* ---- the reads: index, watch, encode ---- */

static uint64_t max3(uint64_t a, uint64_t b, uint64_t c)
{
    return CN_MAX(a, CN_MAX(b, c));
}

static uint64_t read_index(struct cn_server *s, enum cn_rpc_method m,
                           const struct cn_rpc_cat_args *a)
{
    const struct cn_state *st = s->state;
    switch (m) {
    case CN_RPC_CATALOG_NODES: return cn_state_table_index(st, CN_TABLE_NODES);
    case CN_RPC_CATALOG_SERVICES: return cn_state_table_index(st, CN_TABLE_SERVICES);
    case CN_RPC_CATALOG_SERVICE:
    case CN_RPC_HEALTH_SERVICE:
        if (!a->name[0]) /* Every instance (agent-side ?filter on services). */
            return cn_state_table_index(st, CN_TABLE_SERVICES);
        return cn_state_service_index(st, a->name);
    case CN_RPC_CATALOG_NODE:
        return CN_MAX(cn_state_table_index(st, CN_TABLE_NODES),
                      cn_state_table_index(st, CN_TABLE_SERVICES));
    case CN_RPC_HEALTH_CHECKS:
        return max3(cn_state_table_index(st, CN_TABLE_CHECKS),
                    cn_state_table_index(st, CN_TABLE_SERVICES),
                    cn_state_table_index(st, CN_TABLE_NODES));
    case CN_RPC_HEALTH_NODE:
    case CN_RPC_HEALTH_STATE: return cn_state_table_index(st, CN_TABLE_CHECKS);
    default: return cn_state_last_index(st);
    }
}

struct arm_arg {
    enum cn_rpc_method m;
    const struct cn_rpc_cat_args *a;
};

static int arm(struct cn_server *s, struct cn_watch *w, void *arg)
{
    const struct arm_arg *x = arg;
    const char *name = x->a->name;
    switch (x->m) {
    case CN_RPC_CATALOG_NODES: return cn_state_watch_table(s->state, w, CN_TABLE_NODES);
    case CN_RPC_CATALOG_SERVICES: return cn_state_watch_table(s->state, w, CN_TABLE_SERVICES);
    case CN_RPC_CATALOG_SERVICE:
    case CN_RPC_HEALTH_SERVICE:
    case CN_RPC_HEALTH_CHECKS:
        if (!name[0])
            return cn_state_watch_table(s->state, w, CN_TABLE_SERVICES);
        return cn_state_watch_name(s->state, w, CN_WATCH_SERVICE, name, strlen(name));
    case CN_RPC_CATALOG_NODE:
    case CN_RPC_HEALTH_NODE:
        return cn_state_watch_name(s->state, w, CN_WATCH_NODE, name, strlen(name));
    case CN_RPC_HEALTH_STATE: return cn_state_watch_table(s->state, w, CN_TABLE_CHECKS);
    default: return -EINVAL;
    }
}

static int encode_node(struct cn_server *s, struct cn_rpc_call *call,
                       const struct cn_rpc_cat_args *a)
{
    struct cn_mp_writer w;
    struct cn_node n;
    struct walk k = {.w = &w, .a = a};
    int rc;
    cn_buf_reset(&call->reply);
    cn_mp_writer_init(&w, &call->reply);
    if (cn_state_node_get(s->state, a->name, &n) < 0) {
        cn_mp_put_nil(&w);
        return w.err;
    }
    cn_mp_put_map(&w, 2);
    cn_mp_put_cstr(&w, "Node");
    cn_state_node_encode(&w, &n);
    cn_mp_put_cstr(&w, "Services");
    size_t at = call->reply.len;
    cn_mp_put_raw(&w, (const uint8_t[]){0xdd, 0, 0, 0, 0}, 5);
    rc = cn_state_node_services(s->state, n.name, visit_node_service, &k);
    if (rc < 0 && rc != CN_ENOTFOUND)
        return rc;
    if (w.err)
        return w.err == -EMSGSIZE ? CN_ETOOBIG : w.err;
    for (int i = 0; i < 4; i++)
        call->reply.data[at + 1 + i] = (uint8_t)(k.count >> (24 - 8 * i));
    return 0;
}

static int encode_list(struct cn_server *s, struct cn_rpc_call *call, enum cn_rpc_method m,
                       const struct cn_rpc_cat_args *a)
{
    struct cn_mp_writer w;
    struct walk k = {.w = &w, .a = a};
    enum cn_health h = 0;
    int rc = 0;
    cn__reply_array_begin(call, &w);
    switch (m) {
    case CN_RPC_CATALOG_NODES:
        rc = cn_state_nodes_list(s->state, visit_node, &k);
        break;
    case CN_RPC_CATALOG_SERVICE:
        if (a->name[0])
            rc = cn_state_service_nodes(s->state, a->name, a->tags, a->n_tags,
                                        visit_service_node, &k);
        else
            rc = cn_state_services_list(s->state, visit_service_node, &k);
        break;
    case CN_RPC_HEALTH_NODE:
        rc = cn_state_node_checks(s->state, a->name, visit_check, &k);
        break;
    case CN_RPC_HEALTH_CHECKS:
        rc = cn_state_service_checks(s->state, a->name, visit_check, &k);
        break;
    case CN_RPC_HEALTH_STATE:
        /* Unknown states answer [] (Consul does not validate). */
        if (cn_state_health_parse(a->name, &h) == 0)
            rc = cn_state_checks_in_state(s->state, h, visit_check, &k);
        break;
    case CN_RPC_HEALTH_SERVICE:
        rc = cn_state_health_service(s->state, a->name, a->tags, a->n_tags, a->passing,
                                     visit_health, &k);
        break;
    default:
        return CN_EUNSUPPORTED;
    }
    if (rc == CN_ENOTFOUND)
        rc = 0;
    if (rc < 0)
        return rc == -EMSGSIZE ? CN_ETOOBIG : rc;
    return cn__reply_array_end(call, &w, k.count);
}

static int encode_services(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_mp_writer w;
    cn_buf_reset(&call->reply);
    cn_mp_writer_init(&w, &call->reply);
    int rc = cn_state_catalog_services_encode(s->state, &w);
    if (rc == 0)
        rc = w.err;
    return rc == -EMSGSIZE ? CN_ETOOBIG : rc;
}

/* ---- the reply memo (server_int.h) ---- */

static void memo_clear(struct cn__memo *e)
{
    cn_free(e->key);
    cn_buf_close(&e->reply);
    memset(e, 0, sizeof *e);
}

void cn__memo_free(struct cn_server *s)
{
    for (size_t i = 0; i < CN__MEMO_SLOTS; i++)
        memo_clear(&s->memo[i]);
}

/* The memo key, built once and only when needed: the arguments with
 * zeroed query options (what shapes the reply). false if it cannot be. */
static bool memo_key(const struct cn_rpc_cat_args *a, enum cn_rpc_method m, struct cn_buf *key)
{
    struct cn_query_opts zero = {0};
    if (key->len)
        return true;
    if (cn_buf_putc(key, (uint8_t)m) == 0 &&
        cn_rpc_cat_args_encode(key, a->name, a->tags, a->n_tags, a->meta, a->n_meta,
                               a->passing, &zero) == 0)
        return true;
    cn_buf_reset(key);
    return false;
}

/* Whether a slot holds a reply of this method at this index: most reads
 * find none and skip building a key. */
static bool memo_may_hit(const struct cn_server *s, enum cn_rpc_method m, uint64_t index)
{
    for (size_t i = 0; i < CN__MEMO_SLOTS; i++)
        if (s->memo[i].key && s->memo[i].key[0] == (uint8_t)m && s->memo[i].index == index)
            return true;
    return false;
}

static struct cn__memo *memo_find(struct cn_server *s, const struct cn_buf *key)
{
    for (size_t i = 0; i < CN__MEMO_SLOTS; i++) {
        struct cn__memo *e = &s->memo[i];
        if (e->key && e->key_len == key->len && memcmp(e->key, key->data, key->len) == 0)
            return e;
    }
    return NULL;
}

/* Copies the memo of key at index into call->reply: true if there was one. */
static bool memo_get(struct cn_server *s, const struct cn_buf *key, uint64_t index,
                     struct cn_rpc_call *call)
{
    struct cn__memo *e = memo_find(s, key);
    if (!e || e->index != index)
        return false;
    cn_buf_reset(&call->reply);
    if (cn_buf_append(&call->reply, e->reply.data, e->reply.len) < 0)
        return false;
    e->used = ++s->memo_clock;
    return true;
}

static void memo_put(struct cn_server *s, const struct cn_buf *key, uint64_t index,
                     const struct cn_buf *reply)
{
    struct cn__memo *e;
    size_t bytes = reply->len;
    if (reply->len > CN__MEMO_BYTES_MAX / 4)
        return;
    if (!(e = memo_find(s, key))) {
        e = &s->memo[0]; /* An empty slot, else the least recently used. */
        for (size_t i = 1; i < CN__MEMO_SLOTS && e->key; i++)
            if (!s->memo[i].key || s->memo[i].used < e->used)
                e = &s->memo[i];
        memo_clear(e);
        if (!(e->key = cn_alloc(key->len)))
            return;
        memcpy(e->key, key->data, key->len);
        e->key_len = key->len;
        cn_buf_init(&e->reply, CN__MEMO_BYTES_MAX);
    }
    for (size_t i = 0; i < CN__MEMO_SLOTS; i++) /* Stay under the byte bound. */
        if (&s->memo[i] != e)
            bytes += s->memo[i].reply.len;
    while (bytes > CN__MEMO_BYTES_MAX) {
        struct cn__memo *old = NULL;
        for (size_t i = 0; i < CN__MEMO_SLOTS; i++)
            if (&s->memo[i] != e && s->memo[i].key && (!old || s->memo[i].used < old->used))
                old = &s->memo[i];
        bytes -= old->reply.len;
        memo_clear(old);
    }
    cn_buf_reset(&e->reply);
    if (cn_buf_append(&e->reply, reply->data, reply->len) < 0) {
        memo_clear(e);
        return;
    }
    e->index = index;
    e->used = ++s->memo_clock;
}

void cn__catalog_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out)
{
    struct cn_rpc_cat_args a;
    struct arm_arg aa = {call->method, &a};
    struct cn_buf key;
    uint64_t index;
    int rc = cn_rpc_cat_args_decode(call->args.data, call->args.len, &a);
    if (rc < 0) {
        cn__server_reply(s, call, rc, "invalid catalog arguments");
        return;
    }
    if (cn__route_read(s, call, a.q.consistency, cn__catalog_read)) {
        cn_rpc_cat_args_free(&a);
        return;
    }
    index = read_index(s, call->method, &a);
    if (cn__bq_park_if_needed(s, call, &a.q, index, timed_out, cn__catalog_read, arm, &aa)) {
        cn_rpc_cat_args_free(&a);
        return;
    }
    if (a.q.if_index && a.q.if_index == cn__meta_index(index)) {
        /* The caller's cached answer is this one: skip the encoding. */
        cn_buf_reset(&call->reply);
        cn__server_meta(s, call, index, a.q.consistency);
        cn_rpc_cat_args_free(&a);
        cn__server_reply(s, call, CN_ENOTMODIFIED, NULL);
        return;
    }
    cn_buf_init(&key, CN_RPC_ARGS_BYTES_MAX); /* Empty until memo_key. */
    bool memo = memo_may_hit(s, call->method, index) && memo_key(&a, call->method, &key) &&
                memo_get(s, &key, index, call);
    if (memo)
        rc = 0;
    else if (call->method == CN_RPC_CATALOG_NODE)
        rc = encode_node(s, call, &a);
    else if (call->method == CN_RPC_CATALOG_SERVICES)
        rc = encode_services(s, call);
    else
        rc = encode_list(s, call, call->method, &a);
    if (rc == 0) {
        if (!memo && call->reply.len >= CN__MEMO_REPLY_MIN && memo_key(&a, call->method, &key))
            memo_put(s, &key, index, &call->reply);
        cn__server_meta(s, call, index, a.q.consistency);
    }
    cn_buf_close(&key);
    cn_rpc_cat_args_free(&a);
    cn__server_reply(s, call, rc, rc == CN_ETOOBIG ? "result too large" : NULL);
}
