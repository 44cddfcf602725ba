/* state/cat_rows.c - catalog and session rows: building, indexing, lookup.
 *
 * A row is built in two passes over its decoded input: the first only
 * measures, the second copies strings and arrays into the single
 * allocation behind the struct, so a row is one malloc and its embedded
 * public view needs no fix-ups. Rows are immutable once linked (the undo
 * log swaps whole rows), except two counters documented in state_int.h.
 *
 * Every table has one primary tree and some secondary ones; cn__link()
 * moves a row in or out of all of them, so rollback and restore use the
 * same code as apply.
 */
#include <errno.h>

#include "state_int.h"
#include "cat_int.h"

/* ---- building ---- */

struct bld {
    uint8_t *base;   /* NULL: measuring pass. */
    size_t off;
};

static void *take(struct bld *b, size_t n, size_t align)
{
    void *p;
    b->off = (b->off + align - 1) & ~(align - 1);
    p = b->base ? b->base + b->off : NULL;
    b->off += n;
    return p;
}

static const char *str(struct bld *b, const char *s, size_t n)
{
    char *p = take(b, n + 1, 1);
    if (!p)
        return "";
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void lower(uint8_t *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)src[i];
        dst[i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
    }
}

/* A composite lower-cased key: parts joined by NUL. */
static struct cn__key key(struct bld *b, const struct cn__s *parts, int n)
{
    struct cn__key k = {NULL, 0};
    size_t len = 0, off = 0;
    uint8_t *p;
    for (int i = 0; i < n; i++)
        len += parts[i].n + (i ? 1 : 0);
    p = take(b, len, 1);
    k.len = (uint32_t)len; /* Also when measuring: later takes depend on it. */
    if (!p)
        return k;
    for (int i = 0; i < n; i++) {
        if (i)
            p[off++] = '\0';
        lower(p + off, parts[i].p, parts[i].n);
        off += parts[i].n;
    }
    k.p = p;
    k.len = (uint32_t)len;
    return k;
}

static const struct cn_pair *pairs(struct bld *b, const struct cn__list *l)
{
    struct cn_pair *v = take(b, l->n * sizeof *v, _Alignof(struct cn_pair));
    struct cn_mp_reader r = l->r;
    for (uint32_t i = 0; i < l->n; i++) {
        struct cn__s k, val;
        cn__list_str(&r, &k);
        cn__list_str(&r, &val);
        const char *ks = str(b, k.p, k.n), *vs = str(b, val.p, val.n);
        if (v) {
            v[i].key = ks;
            v[i].value = vs;
        }
    }
    return v;
}

static const char *const *strv(struct bld *b, const struct cn__list *l)
{
    const char **v = take(b, l->n * sizeof *v, _Alignof(const char *));
    struct cn_mp_reader r = l->r;
    for (uint32_t i = 0; i < l->n; i++) {
        struct cn__s s;
        cn__list_str(&r, &s);
        const char *p = str(b, s.p, s.n);
        if (v)
            v[i] = p;
    }
    return v;
}

static const struct cn_svc_addr *addrs(struct bld *b, const struct cn__list *l)
{
    struct cn_svc_addr *v = take(b, l->n * sizeof *v, _Alignof(struct cn_svc_addr));
    struct cn_mp_reader r = l->r;
    for (uint32_t i = 0; i < l->n; i++) {
        struct cn__s name, addr;
        uint32_t n;
        uint64_t port = 0;
        int rc = cn_mp_read_array(&r, &n);
        cn__list_str(&r, &name);
        cn__list_str(&r, &addr);
        rc |= cn_mp_read_uint(&r, &port);
        CN_ASSERT(rc == 0 && n == 3);
        const char *ns = str(b, name.p, name.n), *as = str(b, addr.p, addr.n);
        if (v) {
            v[i].name = ns;
            v[i].address = as;
            v[i].port = (uint32_t)port;
        }
    }
    return v;
}

static const uint8_t *blob(struct bld *b, const struct cn__s *s, bool has,
                           size_t *len)
{
    uint8_t *p;
    *len = has ? s->n : 0;
    if (!has)
        return NULL;
    p = take(b, s->n ? s->n : 1, 1);
    if (p && s->n)
        memcpy(p, s->p, s->n);
    return p;
}

/* Runs fill twice (measure, then copy) into one allocation of `head`
 * bytes plus the data. */
#define BUILD(type, fill, ...)                                          \
    do {                                                                \
        struct bld b_ = {NULL, sizeof(type)};                           \
        type dummy_, *row_;                                             \
        memset(&dummy_, 0, sizeof dummy_);                              \
        fill(&b_, &dummy_, __VA_ARGS__);                                \
        row_ = cn_alloc(b_.off);                                        \
        if (!row_)                                                      \
            return NULL;                                                \
        memset(row_, 0, sizeof *row_);                                  \
        b_.base = (uint8_t *)row_;                                      \
        b_.off = sizeof(type);                                          \
        fill(&b_, row_, __VA_ARGS__);                                   \
        return row_;                                                    \
    } while (0)

static void node_fill(struct bld *b, struct cn__node_row *r,
                      const struct cn__node_in *in)
{
    struct cn__s name = in->name, id = in->id;
    r->v.id = str(b, in->id.p, in->id.n);
    r->v.name = str(b, in->name.p, in->name.n);
    r->v.address = str(b, in->address.p, in->address.n);
    r->v.datacenter = str(b, in->dc.p, in->dc.n);
    r->v.tagged_addresses = pairs(b, &in->tagged);
    r->v.n_tagged_addresses = in->tagged.n;
    r->v.meta = pairs(b, &in->meta);
    r->v.n_meta = in->meta.n;
    r->name_lc = key(b, &name, 1);
    r->id_lc = key(b, &id, 1);
}

struct cn__node_row *cn__node_row_new(const struct cn__node_in *in)
{
    BUILD(struct cn__node_row, node_fill, in);
}

/* Rows keep the node name as the request spelled it (Consul stores
 * req.Node); lookups fold case anyway. */
static void svc_fill(struct bld *b, struct cn__svc_row *r,
                     const struct cn__svc_in *in, const struct cn__s *node)
{
    struct cn__s node_name = *node;
    struct cn__s id = in->id.n ? in->id : in->name; /* ID defaults to Name. */
    struct cn__s parts[3] = {in->name, node_name, id};
    r->v.node = str(b, node_name.p, node_name.n);
    r->v.id = str(b, id.p, id.n);
    r->v.name = str(b, in->name.p, in->name.n);
    r->v.kind = str(b, in->kind.p, in->kind.n);
    r->v.address = str(b, in->address.p, in->address.n);
    r->v.tags = strv(b, &in->tags);
    r->v.n_tags = in->tags.n;
    r->v.tagged_addresses = addrs(b, &in->taddrs);
    r->v.n_tagged_addresses = in->taddrs.n;
    r->v.meta = pairs(b, &in->meta);
    r->v.n_meta = in->meta.n;
    r->v.port = in->port;
    r->v.weight_passing = in->weight_passing;
    r->v.weight_warning = in->weight_warning;
    if (in->weight_passing == 0 && in->weight_warning == 0) {
        r->v.weight_passing = 1; /* Consul's ToServiceNode default. */
        r->v.weight_warning = 1;
    }
    r->v.enable_tag_override = in->enable_tag_override;
    r->v.proxy = blob(b, &in->proxy, in->has_proxy, &r->v.proxy_len);
    r->v.connect = blob(b, &in->connect, in->has_connect, &r->v.connect_len);
    r->key = key(b, &parts[1], 2);
    r->nkey = key(b, parts, 3);
    r->node_lc_len = node_name.n;
    r->name_lc_len = in->name.n;
}

struct cn__svc_row *cn__svc_row_new(const struct cn__svc_in *in,
                                    const struct cn__s *node)
{
    BUILD(struct cn__svc_row, svc_fill, in, node);
}

static void check_fill(struct bld *b, struct cn__check_row *r,
                       const struct cn__check_in *in, const struct cn__check_ctx *x)
{
    struct cn__s node_name = in->node;
    struct cn__s id = in->id.n ? in->id : in->name; /* CheckID defaults to Name. */
    struct cn__s svc_name = {"", 0};
    uint8_t *st;
    if (x->svc)
        svc_name = (struct cn__s){x->svc->v.name, (uint32_t)strlen(x->svc->v.name)};
    else if (x->svc_name)
        svc_name = *x->svc_name;
    struct cn__s parts[3] = {svc_name, node_name, id};
    r->v.node = str(b, node_name.p, node_name.n);
    r->v.id = str(b, id.p, id.n);
    r->v.name = str(b, in->name.p, in->name.n);
    r->v.status = in->status ? (enum cn_health)in->status : CN_HEALTH_CRITICAL;
    r->v.notes = str(b, in->notes.p, in->notes.n);
    r->v.output = str(b, in->output.p, in->output.n);
    r->v.service_id = str(b, in->service_id.p, in->service_id.n);
    r->v.service_name = str(b, svc_name.p, svc_name.n);
    if (x->svc) {
        const char **tags = take(b, x->svc->v.n_tags * sizeof *tags,
                                 _Alignof(const char *));
        for (uint32_t i = 0; i < x->svc->v.n_tags; i++) {
            const char *t = str(b, x->svc->v.tags[i], strlen(x->svc->v.tags[i]));
            if (tags)
                tags[i] = t;
        }
        r->v.service_tags = tags;
        r->v.n_service_tags = x->svc->v.n_tags;
    } else if (x->svc_tags) {
        r->v.service_tags = strv(b, x->svc_tags);
        r->v.n_service_tags = x->svc_tags->n;
    }
    r->v.type = str(b, in->type.p, in->type.n);
    r->v.interval = str(b, in->interval.p, in->interval.n);
    r->v.timeout = str(b, in->timeout.p, in->timeout.n);
    r->v.definition = blob(b, &in->definition, in->has_definition,
                           &r->v.definition_len);
    r->v.exposed_port = in->exposed_port;
    r->key = key(b, &parts[1], 2);
    r->skey = key(b, parts, 3);
    r->node_lc_len = node_name.n;
    r->svc_lc_len = svc_name.n;
    /* by_status key: one status byte, then the primary key. */
    st = take(b, 1 + r->key.len, 1);
    if (st) {
        st[0] = (uint8_t)r->v.status;
        memcpy(st + 1, r->key.p, r->key.len);
        r->stkey = (struct cn__key){st, 1 + r->key.len};
    }
}

struct cn__check_row *cn__check_row_new(const struct cn__check_in *in,
                                        const struct cn__check_ctx *x)
{
    BUILD(struct cn__check_row, check_fill, in, x);
}

static void sess_fill(struct bld *b, struct cn__session *r,
                      const struct cn__sess_in *in)
{
    struct cn__s node_name = in->node;
    uint8_t *k;
    r->v.id = str(b, in->id.p, in->id.n);
    r->v.name = str(b, in->name.p, in->name.n);
    r->v.node = str(b, node_name.p, node_name.n);
    r->v.lock_delay_ns = in->lock_delay_ns;
    r->v.behavior = (enum cn_session_behavior)in->behavior;
    r->v.ttl = str(b, in->ttl.p, in->ttl.n);
    r->v.node_checks = strv(b, &in->node_checks);
    r->v.n_node_checks = in->node_checks.n;
    r->v.service_checks = strv(b, &in->service_checks);
    r->v.n_service_checks = in->service_checks.n;
    /* by_node: node_lc \0 id (the ID keeps its case: it is exact). */
    k = take(b, node_name.n + 1 + in->id.n, 1);
    if (k) {
        lower(k, node_name.p, node_name.n);
        k[node_name.n] = '\0';
        memcpy(k + node_name.n + 1, in->id.p, in->id.n);
        r->nkey = (struct cn__key){k, node_name.n + 1 + in->id.n};
    }
    r->node_lc_len = node_name.n;
}

static void sess_fill_(struct bld *b, struct cn__session *r,
                       const struct cn__sess_in *in, int unused)
{
    (void)unused;
    sess_fill(b, r, in);
}

struct cn__session *cn__session_row_new(const struct cn__sess_in *in)
{
    BUILD(struct cn__session, sess_fill_, in, 0);
}

static void svcname_fill(struct bld *b, struct cn__svcname_row *r,
                         const struct cn__s *name)
{
    r->name_lc = key(b, name, 1);
}

struct cn__svcname_row *cn__svcname_row_new(const struct cn__s *name)
{
    BUILD(struct cn__svcname_row, svcname_fill, name);
}

struct cn__lock_row *cn__lock_row_new(const struct cn__session *s,
                                      const uint8_t *kv_key, size_t kv_key_len)
{
    size_t id_len = strlen(s->v.id);
    struct cn__lock_row *r = cn_alloc(sizeof *r + id_len + 1 + kv_key_len);
    uint8_t *p;
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    p = (uint8_t *)(r + 1);
    memcpy(p, s->v.id, id_len);
    p[id_len] = '\0';
    if (kv_key_len)
        memcpy(p + id_len + 1, kv_key, kv_key_len);
    r->session = s;
    r->key = (struct cn__key){p, (uint32_t)(id_len + 1 + kv_key_len)};
    r->kv_key_off = (uint32_t)(id_len + 1);
    return r;
}

struct cn__delay_row *cn__delay_row_new(const uint8_t *kv_key, size_t len,
                                        uint64_t until_ms)
{
    struct cn__delay_row *r = cn_alloc(sizeof *r + len);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    if (len)
        memcpy(r + 1, kv_key, len);
    r->key = (struct cn__key){(const uint8_t *)(r + 1), (uint32_t)len};
    r->until_ms = until_ms;
    return r;
}

/* ---- trees ---- */

#define KEY_FN(name, type, member, field)                                  \
    static void name(const struct cn_rb_node *n, const uint8_t **k,        \
                     size_t *len)                                          \
    {                                                                      \
        const type *r = CN_CONTAINER_OF(n, type, member);                  \
        *k = r->field.p;                                                   \
        *len = r->field.len;                                               \
    }

KEY_FN(node_name_key, struct cn__node_row, by_name, name_lc)
KEY_FN(node_id_key, struct cn__node_row, by_id, id_lc)
KEY_FN(svc_key, struct cn__svc_row, by_key, key)
KEY_FN(svc_name_key, struct cn__svc_row, by_name, nkey)
KEY_FN(check_key, struct cn__check_row, by_key, key)
KEY_FN(check_svc_key, struct cn__check_row, by_svc, skey)
KEY_FN(check_status_key, struct cn__check_row, by_status, stkey)
KEY_FN(svcname_key, struct cn__svcname_row, node, name_lc)
KEY_FN(lock_key, struct cn__lock_row, node, key)
KEY_FN(delay_key, struct cn__delay_row, node, key)

static void session_id_key(const struct cn_rb_node *n, const uint8_t **k,
                           size_t *len)
{
    const struct cn__session *r = CN_CONTAINER_OF(n, struct cn__session, by_id);
    *k = (const uint8_t *)r->v.id;
    *len = strlen(r->v.id);
}

KEY_FN(session_node_key, struct cn__session, by_node, nkey)

void cn__cat_init_trees(struct cn_state *st)
{
    cn_rb_init(&st->nodes, node_name_key);
    cn_rb_init(&st->nodes_by_id, node_id_key);
    cn_rb_init(&st->svcs, svc_key);
    cn_rb_init(&st->svcs_by_name, svc_name_key);
    cn_rb_init(&st->checks, check_key);
    cn_rb_init(&st->checks_by_svc, check_svc_key);
    cn_rb_init(&st->checks_by_status, check_status_key);
    cn_rb_init(&st->svcnames, svcname_key);
    cn_rb_init(&st->sessions, session_id_key);
    cn_rb_init(&st->sessions_by_node, session_node_key);
    cn_rb_init(&st->locks, lock_key);
    cn_rb_init(&st->delays, delay_key);
}

static bool key_eq(const struct cn__key *a, const struct cn__key *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* Moves one tree from o (if any, when linked) to n (if any, when linked). */
static void tree_swap(struct cn_rbtree *t, struct cn_rb_node *o,
                      const struct cn__key *ok, struct cn_rb_node *n,
                      const struct cn__key *nk)
{
    struct cn_rb_node *dup;
    if (o && n && key_eq(ok, nk)) {
        cn_rb_replace(t, o, n);
        return;
    }
    if (o)
        cn_rb_remove(t, o);
    if (n) {
        dup = cn_rb_insert(t, n);
        CN_ASSERT(dup == NULL);
    }
}

#define SWAP(tree, O, N, member, field, linked)                               \
    tree_swap(&st->tree, (O) && linked(O) ? &(O)->member : NULL,              \
              (O) ? &(O)->field : NULL, (N) && linked(N) ? &(N)->member : NULL, \
              (N) ? &(N)->field : NULL)

#define ALWAYS(r) true
#define HAS_ID(r) ((r)->id_lc.len > 0)
#define IS_SVC_CHECK(r) ((r)->svc_lc_len > 0)

static struct cn__svcname_row *svcname_of(struct cn_state *st,
                                          const struct cn__svc_row *r)
{
    struct cn_rb_node *n = cn_rb_find(&st->svcnames, r->nkey.p, r->name_lc_len);
    CN_ASSERT(n != NULL); /* Created before its first instance is linked. */
    return CN_CONTAINER_OF(n, struct cn__svcname_row, node);
}

static void link_svc(struct cn_state *st, struct cn__svc_row *o,
                     struct cn__svc_row *n)
{
    SWAP(svcs, o, n, by_key, key, ALWAYS);
    SWAP(svcs_by_name, o, n, by_name, nkey, ALWAYS);
    if (o) {
        struct cn__svcname_row *sn = svcname_of(st, o);
        CN_ASSERT(sn->count > 0);
        sn->count--;
    }
    if (n)
        svcname_of(st, n)->count++;
}

void cn__link(struct cn_state *st, enum cn__undo_table table, void *old_row,
              void *new_row)
{
    switch (table) {
    case CN__UNDO_KV:
        cn__kv_link(st, old_row, new_row);
        break;
    case CN__UNDO_NODE: {
        struct cn__node_row *o = old_row, *n = new_row;
        SWAP(nodes, o, n, by_name, name_lc, ALWAYS);
        SWAP(nodes_by_id, o, n, by_id, id_lc, HAS_ID);
        break;
    }
    case CN__UNDO_SVC:
        link_svc(st, old_row, new_row);
        break;
    case CN__UNDO_CHECK: {
        struct cn__check_row *o = old_row, *n = new_row;
        SWAP(checks, o, n, by_key, key, ALWAYS);
        SWAP(checks_by_svc, o, n, by_svc, skey, IS_SVC_CHECK);
        SWAP(checks_by_status, o, n, by_status, stkey, ALWAYS);
        break;
    }
    case CN__UNDO_SVCNAME: {
        struct cn__svcname_row *o = old_row, *n = new_row;
        CN_ASSERT(!o || o->count == 0); /* Only empty names go. */
        SWAP(svcnames, o, n, node, name_lc, ALWAYS);
        break;
    }
    case CN__UNDO_SESSION: {
        struct cn__session *o = old_row, *n = new_row;
        struct cn__key ok = {0}, nk = {0};
        if (o)
            ok = (struct cn__key){(const uint8_t *)o->v.id, (uint32_t)strlen(o->v.id)};
        if (n)
            nk = (struct cn__key){(const uint8_t *)n->v.id, (uint32_t)strlen(n->v.id)};
        tree_swap(&st->sessions, o ? &o->by_id : NULL, &ok, n ? &n->by_id : NULL, &nk);
        SWAP(sessions_by_node, o, n, by_node, nkey, ALWAYS);
        break;
    }
    case CN__UNDO_LOCK: {
        struct cn__lock_row *o = old_row, *n = new_row;
        SWAP(locks, o, n, node, key, ALWAYS);
        break;
    }
    case CN__UNDO_DELAY: {
        struct cn__delay_row *o = old_row, *n = new_row;
        SWAP(delays, o, n, node, key, ALWAYS);
        break;
    }
    default:
        CN_UNREACHABLE();
    }
}

static void free_tree(struct cn_rbtree *t, size_t off)
{
    struct cn_rb_node *n = cn_rb_first(t);
    while (n) {
        struct cn_rb_node *next = cn_rb_next(n);
        cn_rb_remove(t, n);
        if (off != SIZE_MAX)
            cn_free((uint8_t *)n - off);
        n = next;
    }
}

void cn__cat_free_all(struct cn_state *st)
{
    /* Secondary trees first (their nodes live in rows freed below). */
    free_tree(&st->nodes_by_id, SIZE_MAX);
    free_tree(&st->svcs_by_name, SIZE_MAX);
    free_tree(&st->checks_by_svc, SIZE_MAX);
    free_tree(&st->checks_by_status, SIZE_MAX);
    free_tree(&st->sessions_by_node, SIZE_MAX);
    free_tree(&st->nodes, offsetof(struct cn__node_row, by_name));
    free_tree(&st->svcs, offsetof(struct cn__svc_row, by_key));
    free_tree(&st->checks, offsetof(struct cn__check_row, by_key));
    free_tree(&st->svcnames, offsetof(struct cn__svcname_row, node));
    free_tree(&st->sessions, offsetof(struct cn__session, by_id));
    free_tree(&st->locks, offsetof(struct cn__lock_row, node));
    free_tree(&st->delays, offsetof(struct cn__delay_row, node));
}

/* ---- lookups ---- */

void cn__kb_init(struct cn__kb *kb)
{
    kb->len = 0;
}

void cn__kb_add(struct cn__kb *kb, const char *s, size_t n, bool sep)
{
    CN_ASSERT(kb->len + n + 1 <= sizeof kb->b);
    if (sep)
        kb->b[kb->len++] = '\0';
    lower(kb->b + kb->len, s, n);
    kb->len += (uint32_t)n;
}

#define FIND(tree, type, member, kb)                                      \
    do {                                                                  \
        struct cn_rb_node *n_ = cn_rb_find(&st->tree, (kb)->b, (kb)->len); \
        return n_ ? CN_CONTAINER_OF(n_, type, member) : NULL;             \
    } while (0)

struct cn__node_row *cn__node_find(const struct cn_state *st, const char *name,
                                   size_t len)
{
    struct cn__kb kb;
    if (len > CN_CATALOG_STR_BYTES_MAX)
        return NULL;
    cn__kb_init(&kb);
    cn__kb_add(&kb, name, len, false);
    FIND(nodes, struct cn__node_row, by_name, &kb);
}

struct cn__node_row *cn__node_find_id(const struct cn_state *st, const char *id,
                                      size_t len)
{
    struct cn__kb kb;
    if (len == 0 || len > CN_CATALOG_STR_BYTES_MAX)
        return NULL;
    cn__kb_init(&kb);
    cn__kb_add(&kb, id, len, false);
    FIND(nodes_by_id, struct cn__node_row, by_id, &kb);
}

struct cn__svc_row *cn__svc_find(const struct cn_state *st, const char *node,
                                 size_t node_len, const char *id, size_t id_len)
{
    struct cn__kb kb;
    if (node_len > CN_CATALOG_STR_BYTES_MAX || id_len > CN_CATALOG_STR_BYTES_MAX)
        return NULL;
    cn__kb_init(&kb);
    cn__kb_add(&kb, node, node_len, false);
    cn__kb_add(&kb, id, id_len, true);
    FIND(svcs, struct cn__svc_row, by_key, &kb);
}

struct cn__check_row *cn__check_find(const struct cn_state *st, const char *node,
                                     size_t node_len, const char *id,
                                     size_t id_len)
{
    struct cn__kb kb;
    if (node_len > CN_CATALOG_STR_BYTES_MAX || id_len > CN_CATALOG_STR_BYTES_MAX)
        return NULL;
    cn__kb_init(&kb);
    cn__kb_add(&kb, node, node_len, false);
    cn__kb_add(&kb, id, id_len, true);
    FIND(checks, struct cn__check_row, by_key, &kb);
}

struct cn__svcname_row *cn__svcname_find(const struct cn_state *st,
                                         const char *name, size_t len)
{
    struct cn__kb kb;
    if (len > CN_CATALOG_STR_BYTES_MAX)
        return NULL;
    cn__kb_init(&kb);
    cn__kb_add(&kb, name, len, false);
    FIND(svcnames, struct cn__svcname_row, node, &kb);
}

const struct cn__session *cn__session_find(const struct cn_state *st,
                                           const uint8_t *id, size_t id_len)
{
    struct cn_rb_node *n = cn_rb_find(&st->sessions, id, id_len);
    return n ? CN_CONTAINER_OF(n, struct cn__session, by_id) : NULL;
}

const char *cn__session_id(const struct cn__session *s)
{
    return s->v.id;
}

void cn__kb_sep(struct cn__kb *kb)
{
    CN_ASSERT(kb->len < sizeof kb->b);
    kb->b[kb->len++] = '\0';
}

struct cn_rb_node *cn__first_under(const struct cn_rbtree *t,
                                   const struct cn__kb *prefix)
{
    struct cn_rb_node *n = cn_rb_seek(t, prefix->b, prefix->len);
    return n && cn__under(t, n, prefix) ? n : NULL;
}

bool cn__under(const struct cn_rbtree *t, const struct cn_rb_node *n,
               const struct cn__kb *prefix)
{
    const uint8_t *k;
    size_t len;
    t->key_fn(n, &k, &len);
    return cn_has_prefix(k, len, prefix->b, prefix->len);
}
