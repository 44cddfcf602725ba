/* state/cat_read.c - catalog and health reads, blocking indexes, and the
 * MessagePack encoders that give rows Consul's JSON shape (field names
 * and order of agent/structs/structs.go; the agent turns MessagePack into
 * JSON one to one). */
#include <errno.h>
#include <stdlib.h> /* qsort */
#include <strings.h>

#include "cat_int.h"

static void prefix_of(struct cn__kb *kb, const char *name, size_t len)
{
    cn__kb_init(kb);
    cn__kb_add(kb, name, len, false);
    cn__kb_sep(kb);
}

#define WALK(tree, kb, n) \
    for (n = cn__first_under(&st->tree, kb); n && cn__under(&st->tree, n, kb); \
         n = cn_rb_next(n))

/* ---- catalog ---- */

int cn_state_node_get(const struct cn_state *st, const char *name,
                      struct cn_node *out)
{
    size_t len = strlen(name);
    const struct cn__node_row *n = cn__node_find(st, name, len);
    if (!n)
        n = cn__node_find_id(st, name, len);
    if (!n)
        return CN_ENOTFOUND;
    *out = n->v;
    return 0;
}

int cn_state_nodes_list(const struct cn_state *st, cn_node_visit_fn *fn,
                        void *ctx)
{
    for (struct cn_rb_node *n = cn_rb_first(&st->nodes); n; n = cn_rb_next(n)) {
        int rc = fn(ctx, &CN__ROW(n, const struct cn__node_row, by_name)->v);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct cn_node *node_of(const struct cn_state *st,
                                     const struct cn__svc_row *s)
{
    const struct cn__node_row *n = cn__node_find(st, s->v.node, strlen(s->v.node));
    CN_ASSERT(n != NULL); /* Services go before their node does. */
    return &n->v;
}

int cn_state_node_services(const struct cn_state *st, const char *node,
                           cn_service_visit_fn *fn, void *ctx)
{
    const struct cn__node_row *nr = cn__node_find(st, node, strlen(node));
    struct cn__kb kb;
    struct cn_rb_node *n;
    if (!nr)
        return CN_ENOTFOUND;
    prefix_of(&kb, nr->v.name, strlen(nr->v.name));
    WALK(svcs, &kb, n) {
        int rc = fn(ctx, &nr->v, &CN__ROW(n, const struct cn__svc_row, by_key)->v);
        if (rc)
            return rc;
    }
    return 0;
}

int cn_state_services_list(const struct cn_state *st, cn_service_visit_fn *fn,
                           void *ctx)
{
    for (struct cn_rb_node *n = cn_rb_first(&st->svcs_by_name); n;
         n = cn_rb_next(n)) {
        const struct cn__svc_row *s = CN__ROW(n, const struct cn__svc_row, by_name);
        int rc = fn(ctx, node_of(st, s), &s->v);
        if (rc)
            return rc;
    }
    return 0;
}

/* serviceTagsFilter: every wanted tag, case-insensitively. */
static bool has_tags(const struct cn_service *s, const char *const *tags,
                     size_t n_tags)
{
    for (size_t i = 0; i < n_tags; i++) {
        bool found = false;
        for (uint32_t j = 0; j < s->n_tags && !found; j++)
            found = strcasecmp(s->tags[j], tags[i]) == 0;
        if (!found)
            return false;
    }
    return true;
}

int cn_state_service_nodes(const struct cn_state *st, const char *name,
                           const char *const *tags, size_t n_tags,
                           cn_service_visit_fn *fn, void *ctx)
{
    struct cn__kb kb;
    struct cn_rb_node *n;
    size_t len = strlen(name);
    if (len > CN_CATALOG_STR_BYTES_MAX)
        return 0;
    prefix_of(&kb, name, len);
    WALK(svcs_by_name, &kb, n) {
        const struct cn__svc_row *s = CN__ROW(n, const struct cn__svc_row, by_name);
        int rc;
        if (!has_tags(&s->v, tags, n_tags))
            continue;
        if ((rc = fn(ctx, node_of(st, s), &s->v)) != 0)
            return rc;
    }
    return 0;
}

/* ---- /v1/catalog/services ---- */

struct inst {
    const struct cn_service *s;
    size_t order;
};

static int inst_cmp(const void *a, const void *b)
{
    const struct inst *x = a, *y = b;
    int c = strcmp(x->s->name, y->s->name);
    return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

/* Distinct tags of insts[0..n) in first-seen order. */
static int put_tags(struct cn_mp_writer *w, const struct inst *insts, size_t n)
{
    struct cn_map seen;
    const char **tags = NULL;
    size_t n_tags = 0, cap = 0;
    int rc = 0;
    cn_map_init(&seen);
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (uint32_t j = 0; j < insts[i].s->n_tags && rc == 0; j++) {
            const char *t = insts[i].s->tags[j];
            if (cn_map_get(&seen, t, strlen(t)))
                continue;
            if (n_tags == cap) {
                const char **v = cn_realloc(tags, (cap ? cap * 2 : 8) * sizeof *v);
                if (!v) {
                    rc = -ENOMEM;
                    break;
                }
                tags = v;
                cap = cap ? cap * 2 : 8;
            }
            tags[n_tags++] = t;
            rc = cn_map_put(&seen, t, strlen(t), (void *)t, NULL);
        }
    }
    if (rc == 0) {
        cn_mp_put_array(w, (uint32_t)n_tags);
        for (size_t i = 0; i < n_tags; i++)
            cn_mp_put_cstr(w, tags[i]);
    }
    cn_free(tags);
    cn_map_close(&seen);
    return rc;
}

int cn_state_catalog_services_encode(const struct cn_state *st,
                                     struct cn_mp_writer *w)
{
    size_t n = st->svcs.count, i = 0, groups = 0;
    struct inst *v = cn_calloc(n ? n : 1, sizeof *v);
    int rc = 0;
    if (!v)
        return -ENOMEM;
    for (struct cn_rb_node *x = cn_rb_first(&st->svcs_by_name); x; x = cn_rb_next(x)) {
        v[i].s = &CN__ROW(x, const struct cn__svc_row, by_name)->v;
        v[i].order = i;
        i++;
    }
    CN_ASSERT(i == n);
    /* Exact names, sorted bytewise: Go sorts a map's keys that way. */
    qsort(v, n, sizeof *v, inst_cmp);
    for (i = 0; i < n; i++)
        groups += i == 0 || strcmp(v[i].s->name, v[i - 1].s->name) != 0;
    cn_mp_put_map(w, (uint32_t)groups);
    for (i = 0; i < n && rc == 0;) {
        size_t j = i + 1;
        while (j < n && strcmp(v[j].s->name, v[i].s->name) == 0)
            j++;
        cn_mp_put_cstr(w, v[i].s->name);
        rc = put_tags(w, v + i, j - i);
        i = j;
    }
    cn_free(v);
    return rc ? rc : w->err;
}

/* ---- health ---- */

int cn_state_node_checks(const struct cn_state *st, const char *node,
                         cn_check_visit_fn *fn, void *ctx)
{
    struct cn__kb kb;
    struct cn_rb_node *n;
    size_t len = strlen(node);
    if (len > CN_CATALOG_STR_BYTES_MAX)
        return 0;
    prefix_of(&kb, node, len);
    WALK(checks, &kb, n) {
        int rc = fn(ctx, &CN__ROW(n, const struct cn__check_row, by_key)->v);
        if (rc)
            return rc;
    }
    return 0;
}

int cn_state_service_checks(const struct cn_state *st, const char *name,
                            cn_check_visit_fn *fn, void *ctx)
{
    struct cn__kb kb;
    struct cn_rb_node *n;
    size_t len = strlen(name);
    if (len == 0 || len > CN_CATALOG_STR_BYTES_MAX)
        return 0;
    prefix_of(&kb, name, len);
    WALK(checks_by_svc, &kb, n) {
        int rc = fn(ctx, &CN__ROW(n, const struct cn__check_row, by_svc)->v);
        if (rc)
            return rc;
    }
    return 0;
}

int cn_state_checks_in_state(const struct cn_state *st, enum cn_health status,
                             cn_check_visit_fn *fn, void *ctx)
{
    struct cn__kb kb;
    struct cn_rb_node *n;
    if (status == 0) {
        for (n = cn_rb_first(&st->checks); n; n = cn_rb_next(n)) {
            int rc = fn(ctx, &CN__ROW(n, const struct cn__check_row, by_key)->v);
            if (rc)
                return rc;
        }
        return 0;
    }
    kb.b[0] = (uint8_t)status;
    kb.len = 1;
    WALK(checks_by_status, &kb, n) {
        int rc = fn(ctx, &CN__ROW(n, const struct cn__check_row, by_status)->v);
        if (rc)
            return rc;
    }
    return 0;
}

struct gather {
    const struct cn_check **v;
    size_t n, cap;
};

static int gather_add(struct gather *g, const struct cn_check *c)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        const struct cn_check **v = cn_realloc(g->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        g->v = v;
        g->cap = cap;
    }
    g->v[g->n++] = c;
    return 0;
}

/* parseCheckServiceNodes: the node's own checks, then the instance's. */
static int gather_checks(const struct cn_state *st, const struct cn__svc_row *s,
                         struct gather *g)
{
    struct cn__kb kb;
    struct cn_rb_node *n;
    int rc;
    g->n = 0;
    prefix_of(&kb, s->v.node, strlen(s->v.node));
    for (int pass = 0; pass < 2; pass++) {
        WALK(checks, &kb, n) {
            const struct cn_check *c = &CN__ROW(n, const struct cn__check_row, by_key)->v;
            bool mine = pass == 0 ? c->service_id[0] == '\0'
                                  : c->service_id[0] != '\0' &&
                                        strcasecmp(c->service_id, s->v.id) == 0;
            if (mine && (rc = gather_add(g, c)) < 0)
                return rc;
        }
    }
    return 0;
}

int cn_state_health_service(const struct cn_state *st, const char *name,
                            const char *const *tags, size_t n_tags,
                            bool passing_only, cn_health_visit_fn *fn,
                            void *ctx)
{
    struct gather g = {0};
    struct cn__kb kb;
    struct cn_rb_node *n;
    size_t len = strlen(name);
    int rc = 0;
    if (len > CN_CATALOG_STR_BYTES_MAX)
        return 0;
    prefix_of(&kb, name, len);
    WALK(svcs_by_name, &kb, n) {
        const struct cn__svc_row *s = CN__ROW(n, const struct cn__svc_row, by_name);
        bool keep = true;
        if (!has_tags(&s->v, tags, n_tags))
            continue;
        if ((rc = gather_checks(st, s, &g)) < 0)
            break;
        for (size_t i = 0; passing_only && keep && i < g.n; i++)
            keep = g.v[i]->status == CN_HEALTH_PASSING;
        if (keep && (rc = fn(ctx, node_of(st, s), &s->v, g.v, g.n)) != 0)
            break;
    }
    cn_free(g.v);
    return rc;
}

enum cn_health cn_state_checks_aggregate(const struct cn_check *const *checks,
                                         size_t n_checks)
{
    bool warning = false, critical = false, maint = false;
    for (size_t i = 0; i < n_checks; i++) {
        const char *id = checks[i]->id;
        if (strcmp(id, "_node_maintenance") == 0 ||
            strncmp(id, "_service_maintenance:", 21) == 0) {
            maint = true;
            continue;
        }
        critical |= checks[i]->status == CN_HEALTH_CRITICAL;
        warning |= checks[i]->status == CN_HEALTH_WARNING;
    }
    return maint ? CN_HEALTH_MAINTENANCE : critical ? CN_HEALTH_CRITICAL
         : warning ? CN_HEALTH_WARNING : CN_HEALTH_PASSING;
}

const char *cn_state_health_name(enum cn_health h)
{
    switch (h) {
    case CN_HEALTH_PASSING: return "passing";
    case CN_HEALTH_WARNING: return "warning";
    case CN_HEALTH_CRITICAL: return "critical";
    case CN_HEALTH_MAINTENANCE: return "maintenance";
    }
    return "";
}

int cn_state_health_parse(const char *s, enum cn_health *out)
{
    static const enum cn_health all[] = {CN_HEALTH_PASSING, CN_HEALTH_WARNING,
                                         CN_HEALTH_CRITICAL};
    if (strcmp(s, "any") == 0) {
        *out = (enum cn_health)0;
        return 0;
    }
    for (size_t i = 0; i < CN_ARRAY_LEN(all); i++) {
        if (strcmp(s, cn_state_health_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return CN_ENOTFOUND;
}

/* ---- indexes ---- */

uint64_t cn_state_table_index(const struct cn_state *st, enum cn_state_table t)
{
    switch (t) {
    case CN_TABLE_KV: return st->kv_index;
    case CN_TABLE_NODES: return st->nodes_index;
    case CN_TABLE_SERVICES: return st->services_index;
    case CN_TABLE_CHECKS: return st->checks_index;
    case CN_TABLE_SESSIONS: return st->sessions_index;
    }
    return 0;
}

uint64_t cn_state_service_index(const struct cn_state *st, const char *name)
{
    const struct cn__svcname_row *r = cn__svcname_find(st, name, strlen(name));
    if (r)
        return r->index;
    if (st->svc_extinction_index)
        return st->svc_extinction_index;
    return CN_MAX(st->nodes_index, CN_MAX(st->services_index, st->checks_index));
}

/* ---- encoders ---- */

static void put_pairs_map(struct cn_mp_writer *w, const struct cn_pair *p,
                          uint32_t n, bool nil_if_empty)
{
    if (n == 0 && nil_if_empty) {
        cn_mp_put_nil(w);
        return;
    }
    cn_mp_put_map(w, n);
    for (uint32_t i = 0; i < n; i++) {
        cn_mp_put_cstr(w, p[i].key);
        cn_mp_put_cstr(w, p[i].value);
    }
}

static void put_strs(struct cn_mp_writer *w, const char *const *v, uint32_t n)
{
    cn_mp_put_array(w, n);
    for (uint32_t i = 0; i < n; i++)
        cn_mp_put_cstr(w, v[i]);
}

static void put_kv_str(struct cn_mp_writer *w, const char *k, const char *v)
{
    cn_mp_put_cstr(w, k);
    cn_mp_put_cstr(w, v);
}

static void put_kv_uint(struct cn_mp_writer *w, const char *k, uint64_t v)
{
    cn_mp_put_cstr(w, k);
    cn_mp_put_uint(w, v);
}

/* An opaque stored map, or {} (Go's zero struct). */
static void put_blob(struct cn_mp_writer *w, const uint8_t *p, size_t n)
{
    if (p)
        cn_mp_put_raw(w, p, n);
    else
        cn_mp_put_map(w, 0);
}

static void put_addrs(struct cn_mp_writer *w, const struct cn_service *s)
{
    cn_mp_put_map(w, s->n_tagged_addresses);
    for (uint32_t i = 0; i < s->n_tagged_addresses; i++) {
        cn_mp_put_cstr(w, s->tagged_addresses[i].name);
        cn_mp_put_map(w, 2);
        put_kv_str(w, "Address", s->tagged_addresses[i].address);
        put_kv_uint(w, "Port", s->tagged_addresses[i].port);
    }
}

static void put_weights(struct cn_mp_writer *w, const struct cn_service *s)
{
    cn_mp_put_map(w, 2);
    put_kv_uint(w, "Passing", s->weight_passing);
    put_kv_uint(w, "Warning", s->weight_warning);
}

static void put_node_fields(struct cn_mp_writer *w, const struct cn_node *n,
                            const char *meta_name)
{
    put_kv_str(w, "ID", n->id);
    put_kv_str(w, "Node", n->name);
    put_kv_str(w, "Address", n->address);
    put_kv_str(w, "Datacenter", n->datacenter);
    cn_mp_put_cstr(w, "TaggedAddresses");
    put_pairs_map(w, n->tagged_addresses, n->n_tagged_addresses, true);
    cn_mp_put_cstr(w, meta_name);
    put_pairs_map(w, n->meta, n->n_meta, true);
}

void cn_state_node_encode(struct cn_mp_writer *w, const struct cn_node *n)
{
    cn_mp_put_map(w, 8);
    put_node_fields(w, n, "Meta");
    put_kv_uint(w, "CreateIndex", n->create_index);
    put_kv_uint(w, "ModifyIndex", n->modify_index);
}

void cn_state_service_node_encode(struct cn_mp_writer *w,
                                  const struct cn_node *n,
                                  const struct cn_service *s)
{
    bool addrs = s->n_tagged_addresses > 0;
    cn_mp_put_map(w, 20 + (addrs ? 1 : 0));
    put_node_fields(w, n, "NodeMeta");
    put_kv_str(w, "ServiceKind", s->kind);
    put_kv_str(w, "ServiceID", s->id);
    put_kv_str(w, "ServiceName", s->name);
    cn_mp_put_cstr(w, "ServiceTags");
    put_strs(w, s->tags, s->n_tags);
    put_kv_str(w, "ServiceAddress", s->address);
    if (addrs) {
        cn_mp_put_cstr(w, "ServiceTaggedAddresses");
        put_addrs(w, s);
    }
    cn_mp_put_cstr(w, "ServiceWeights");
    put_weights(w, s);
    cn_mp_put_cstr(w, "ServiceMeta");
    put_pairs_map(w, s->meta, s->n_meta, false);
    put_kv_uint(w, "ServicePort", s->port);
    put_kv_str(w, "ServiceSocketPath", "");
    cn_mp_put_cstr(w, "ServiceEnableTagOverride");
    cn_mp_put_bool(w, s->enable_tag_override);
    cn_mp_put_cstr(w, "ServiceProxy");
    put_blob(w, s->proxy, s->proxy_len);
    cn_mp_put_cstr(w, "ServiceConnect");
    put_blob(w, s->connect, s->connect_len);
    put_kv_uint(w, "CreateIndex", s->create_index);
    put_kv_uint(w, "ModifyIndex", s->modify_index);
}

void cn_state_node_service_encode(struct cn_mp_writer *w,
                                  const struct cn_service *s)
{
    bool kind = s->kind[0] != '\0', addrs = s->n_tagged_addresses > 0;
    cn_mp_put_map(w, 12 + (kind ? 1 : 0) + (addrs ? 1 : 0));
    if (kind)
        put_kv_str(w, "Kind", s->kind);
    put_kv_str(w, "ID", s->id);
    put_kv_str(w, "Service", s->name);
    cn_mp_put_cstr(w, "Tags");
    put_strs(w, s->tags, s->n_tags);
    put_kv_str(w, "Address", s->address);
    if (addrs) {
        cn_mp_put_cstr(w, "TaggedAddresses");
        put_addrs(w, s);
    }
    cn_mp_put_cstr(w, "Meta");
    put_pairs_map(w, s->meta, s->n_meta, false);
    put_kv_uint(w, "Port", s->port);
    cn_mp_put_cstr(w, "Weights");
    put_weights(w, s);
    cn_mp_put_cstr(w, "EnableTagOverride");
    cn_mp_put_bool(w, s->enable_tag_override);
    cn_mp_put_cstr(w, "Proxy");
    put_blob(w, s->proxy, s->proxy_len);
    cn_mp_put_cstr(w, "Connect");
    put_blob(w, s->connect, s->connect_len);
    put_kv_uint(w, "CreateIndex", s->create_index);
    put_kv_uint(w, "ModifyIndex", s->modify_index);
}

void cn_state_check_encode(struct cn_mp_writer *w, const struct cn_check *c)
{
    cn_mp_put_map(w, 16);
    put_kv_str(w, "Node", c->node);
    put_kv_str(w, "CheckID", c->id);
    put_kv_str(w, "Name", c->name);
    put_kv_str(w, "Status", cn_state_health_name(c->status));
    put_kv_str(w, "Notes", c->notes);
    put_kv_str(w, "Output", c->output);
    put_kv_str(w, "ServiceID", c->service_id);
    put_kv_str(w, "ServiceName", c->service_name);
    cn_mp_put_cstr(w, "ServiceTags");
    put_strs(w, c->service_tags, c->n_service_tags);
    put_kv_str(w, "Type", c->type);
    put_kv_str(w, "Interval", c->interval);
    put_kv_str(w, "Timeout", c->timeout);
    put_kv_uint(w, "ExposedPort", c->exposed_port);
    cn_mp_put_cstr(w, "Definition");
    put_blob(w, c->definition, c->definition_len);
    put_kv_uint(w, "CreateIndex", c->create_index);
    put_kv_uint(w, "ModifyIndex", c->modify_index);
}

void cn_state_session_encode(struct cn_mp_writer *w, const struct cn_session *s)
{
    cn_mp_put_map(w, 10);
    put_kv_str(w, "ID", s->id);
    put_kv_str(w, "Name", s->name);
    put_kv_str(w, "Node", s->node);
    put_kv_uint(w, "LockDelay", s->lock_delay_ns);
    put_kv_str(w, "Behavior", s->behavior == CN_SESSION_DELETE ? "delete" : "release");
    put_kv_str(w, "TTL", s->ttl);
    cn_mp_put_cstr(w, "NodeChecks");
    if (s->n_node_checks)
        put_strs(w, s->node_checks, s->n_node_checks);
    else
        cn_mp_put_nil(w);
    cn_mp_put_cstr(w, "ServiceChecks");
    if (s->n_service_checks) {
        cn_mp_put_array(w, s->n_service_checks);
        for (uint32_t i = 0; i < s->n_service_checks; i++) {
            cn_mp_put_map(w, 2);
            put_kv_str(w, "ID", s->service_checks[i]);
            put_kv_str(w, "Namespace", "");
        }
    } else {
        cn_mp_put_nil(w);
    }
    put_kv_uint(w, "CreateIndex", s->create_index);
    put_kv_uint(w, "ModifyIndex", s->modify_index);
}
