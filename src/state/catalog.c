/* state/catalog.c - catalog writes: register, deregister and the node /
 * service / check upserts and deletes behind them and behind txn ops.
 *
 * Semantics follow hashicorp/consul agent/consul/state/catalog.go
 * (ensureRegistrationTxn, ensureNodeTxn, ensureServiceTxn, ensureCheckTxn,
 * delete*Txn) and the pre-Raft checks of agent/consul/catalog_endpoint.go,
 * which we run at apply time so that every server gives the same answer:
 *  - an unchanged node/service/check keeps its ModifyIndex and moves no
 *    index (Consul's IsSame checks);
 *  - a node with an ID that comes back under another name is renamed (the
 *    old name is deleted with everything on it), unless a healthy node
 *    holds the new name;
 *  - deleting a node deletes its services, checks and sessions; deleting a
 *    service deletes its checks; a check that is deleted or written as
 *    critical invalidates the sessions that name it.
 * Per service name we keep a row with the instance count and the name's
 * blocking index (Consul's "service.<name>" index), bumped at commit by
 * every change that a health query of that name could see.
 */
#include <errno.h>

#include "cat_int.h"

static bool s_eq(const char *a, const struct cn__s *b)
{
    return strlen(a) == b->n && memcmp(a, b->p, b->n) == 0;
}

static bool s_eq_fold(const char *a, const struct cn__s *b)
{
    if (strlen(a) != b->n)
        return false;
    for (uint32_t i = 0; i < b->n; i++) {
        uint8_t x = (uint8_t)a[i], y = (uint8_t)b->p[i];
        x = x >= 'A' && x <= 'Z' ? (uint8_t)(x + 32) : x;
        y = y >= 'A' && y <= 'Z' ? (uint8_t)(y + 32) : y;
        if (x != y)
            return false;
    }
    return true;
}

static struct cn__s s_of(const char *s)
{
    return (struct cn__s){s, (uint32_t)strlen(s)};
}

/* reflect.DeepEqual on Go maps: same size, same pairs, any order. */
static bool pairs_eq(const struct cn_pair *a, uint32_t n, const struct cn__list *l)
{
    struct cn_mp_reader r = l->r;
    if (n != l->n)
        return false;
    for (uint32_t i = 0; i < l->n; i++) {
        struct cn__s k, v;
        bool found = false;
        cn__list_str(&r, &k);
        cn__list_str(&r, &v);
        for (uint32_t j = 0; j < n && !found; j++)
            found = s_eq(a[j].key, &k) && s_eq(a[j].value, &v);
        if (!found)
            return false;
    }
    return true;
}

/* ---- nodes ---- */

static bool node_same(const struct cn__node_row *r, const struct cn__node_in *in)
{
    return s_eq(r->v.id, &in->id) && s_eq(r->v.name, &in->name) &&
           s_eq(r->v.address, &in->address) && s_eq(r->v.datacenter, &in->dc) &&
           pairs_eq(r->v.tagged_addresses, r->v.n_tagged_addresses, &in->tagged) &&
           pairs_eq(r->v.meta, r->v.n_meta, &in->meta);
}

static bool node_healthy(const struct cn_state *st, const struct cn__node_row *n)
{
    static const char serf[] = "serfHealth";
    const struct cn__check_row *c = cn__check_find(st, n->v.name, strlen(n->v.name),
                                                   serf, sizeof serf - 1);
    /* No serfHealth check: an external registration, safe to take over. */
    return c && c->v.status != CN_HEALTH_CRITICAL;
}

/* ensureNoNodeWithSimilarNameTxn. */
static int name_clash(struct cn__cat_ctx *x, const struct cn__node_in *in,
                      bool allow_without_id)
{
    const struct cn__node_row *e = cn__node_find(x->st, in->name.p, in->name.n);
    if (!e || s_eq_fold(e->v.id, &in->id))
        return 0;
    if ((e->v.id[0] == '\0' && allow_without_id) || !node_healthy(x->st, e))
        return 0;
    x->err.a = in->name;
    x->err.b = s_of(e->v.id);
    x->err.c = s_of(e->v.name);
    x->err.d = s_of(e->v.address);
    return CN__CAT_NAME_TAKEN;
}

int cn__cat_ensure_node(struct cn__cat_ctx *x, const struct cn__node_in *in,
                        const struct cn__node_row **res)
{
    struct cn_state *st = x->st;
    struct cn__node_row *n = NULL, *cur, *row;
    bool renamed = false;
    uint64_t create = x->index;
    int rc;
    *res = NULL;
    if (in->name.n == 0)
        return CN__CAT_MUST_NODE;
    if (in->id.n) {
        struct cn__node_row *by_id = cn__node_find_id(st, in->id.p, in->id.n);
        if (by_id && !s_eq(by_id->v.name, &in->name)) {
            /* A rename: the old name goes, with everything on it; the
             * node keeps its CreateIndex (Consul keeps `n`). */
            if ((rc = name_clash(x, in, false)) != 0)
                return rc;
            create = by_id->v.create_index;
            renamed = true;
            if ((rc = cn__cat_delete_node(x, by_id)) != 0)
                return rc;
        } else if (by_id) {
            n = by_id;
        } else if ((rc = name_clash(x, in, true)) != 0) {
            return rc;
        }
    }
    cur = cn__node_find(st, in->name.p, in->name.n);
    if (!n && !renamed)
        n = cur;
    if (n && node_same(n, in)) {
        *res = n;
        return 0;
    }
    if (n)
        create = n->v.create_index;
    row = cn__node_row_new(in);
    if (!row)
        return -ENOMEM;
    row->v.create_index = create;
    row->v.modify_index = x->index;
    /* Whatever row holds the name now gives way (memdb's Insert). */
    if ((rc = cn__state_swap(st, CN__UNDO_NODE, cur, row)) < 0)
        return rc;
    *res = row;
    return 0;
}

/* ---- services ---- */

static bool strv_eq(const char *const *a, uint32_t n, const struct cn__list *l)
{
    struct cn_mp_reader r = l->r;
    if (n != l->n)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        struct cn__s s;
        cn__list_str(&r, &s);
        if (!s_eq(a[i], &s))
            return false;
    }
    return true;
}

static bool addrs_eq(const struct cn_svc_addr *a, uint32_t n,
                     const struct cn__list *l)
{
    struct cn_mp_reader r = l->r;
    if (n != l->n)
        return false;
    for (uint32_t i = 0; i < l->n; i++) {
        struct cn__s name, addr;
        uint32_t k;
        uint64_t port = 0;
        bool found = false;
        (void)cn_mp_read_array(&r, &k);
        cn__list_str(&r, &name);
        cn__list_str(&r, &addr);
        (void)cn_mp_read_uint(&r, &port);
        for (uint32_t j = 0; j < n && !found; j++)
            found = s_eq(a[j].name, &name) && s_eq(a[j].address, &addr) &&
                    a[j].port == port;
        if (!found)
            return false;
    }
    return true;
}

static bool blob_eq(const uint8_t *p, size_t n, const struct cn__s *s, bool has)
{
    if (!has || !p)
        return !has && !p;
    return n == s->n && (n == 0 || memcmp(p, s->p, n) == 0);
}

/* ServiceNode.IsSameService: every field of the instance. */
static bool svc_same(const struct cn__svc_row *r, const struct cn__svc_in *in)
{
    uint32_t wp = in->weight_passing, ww = in->weight_warning;
    if (wp == 0 && ww == 0)
        wp = ww = 1;
    return s_eq(r->v.name, &in->name) && s_eq(r->v.kind, &in->kind) &&
           s_eq(r->v.address, &in->address) && r->v.port == in->port &&
           r->v.weight_passing == wp && r->v.weight_warning == ww &&
           r->v.enable_tag_override == in->enable_tag_override &&
           strv_eq(r->v.tags, r->v.n_tags, &in->tags) &&
           addrs_eq(r->v.tagged_addresses, r->v.n_tagged_addresses, &in->taddrs) &&
           pairs_eq(r->v.meta, r->v.n_meta, &in->meta) &&
           blob_eq(r->v.proxy, r->v.proxy_len, &in->proxy, in->has_proxy) &&
           blob_eq(r->v.connect, r->v.connect_len, &in->connect, in->has_connect);
}

/* structs.validateMetaPair, as ensureServiceTxn applies it. */
static const char *meta_problem(const struct cn__s *k, const struct cn__s *v)
{
    if (k->n == 0)
        return "Key cannot be blank";
    for (uint32_t i = 0; i < k->n; i++) {
        char c = k->p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return "Key contains invalid characters";
    }
    if (k->n > 128)
        return "Key is too long (limit: 128 characters)";
    if (k->n >= 7 && memcmp(k->p, "consul-", 7) == 0)
        return "Key prefix 'consul-' is reserved for internal use";
    if (v->n > 512)
        return "Value is too long (limit: 512 characters)";
    return NULL;
}

static int svc_meta_check(struct cn__cat_ctx *x, const struct cn__s *node,
                          const struct cn__svc_in *in)
{
    struct cn_mp_reader r = in->meta.r;
    x->err.a = *node;
    x->err.b = in->id.n ? in->id : in->name;
    if (in->meta.n > 64) {
        x->err.c = (struct cn__s){"", 0};
        x->err.detail = "Node metadata cannot contain more than 64 key/value pairs";
        return CN__CAT_SVC_META;
    }
    for (uint32_t i = 0; i < in->meta.n; i++) {
        struct cn__s k, v;
        cn__list_str(&r, &k);
        cn__list_str(&r, &v);
        if ((x->err.detail = meta_problem(&k, &v)) != NULL) {
            x->err.c = k;
            x->err.d = v;
            return CN__CAT_SVC_META;
        }
    }
    x->err.detail = NULL;
    return 0;
}

/* The per-name row exists while the name has instances. */
static int svcname_want(struct cn__cat_ctx *x, const struct cn__s *name)
{
    struct cn__svcname_row *r;
    if (cn__svcname_find(x->st, name->p, name->n))
        return 0;
    r = cn__svcname_row_new(name);
    if (!r)
        return -ENOMEM;
    return cn__state_swap(x->st, CN__UNDO_SVCNAME, NULL, r);
}

static int svcname_gc(struct cn__cat_ctx *x, const char *name)
{
    struct cn__svcname_row *r = cn__svcname_find(x->st, name, strlen(name));
    CN_ASSERT(r != NULL);
    if (r->count > 0)
        return 0;
    return cn__state_swap(x->st, CN__UNDO_SVCNAME, r, NULL);
}

int cn__cat_ensure_service(struct cn__cat_ctx *x, const struct cn__s *node,
                           const struct cn__svc_in *in,
                           const struct cn__svc_row **res)
{
    struct cn_state *st = x->st;
    const struct cn__node_row *n = cn__node_find(st, node->p, node->n);
    const struct cn__s *id = in->id.n ? &in->id : &in->name;
    struct cn__svc_row *cur, *row;
    int rc;
    *res = NULL;
    if (!n)
        return CN__CAT_NO_NODE;
    if ((rc = svc_meta_check(x, node, in)) != 0)
        return rc;
    cur = cn__svc_find(st, n->v.name, strlen(n->v.name), id->p, id->n);
    if (cur && s_eq(cur->v.id, id) && svc_same(cur, in)) {
        *res = cur;
        return 0;
    }
    row = cn__svc_row_new(in, node);
    if (!row)
        return -ENOMEM;
    row->v.create_index = cur ? cur->v.create_index : x->index;
    row->v.modify_index = x->index;
    if ((rc = svcname_want(x, &in->name)) < 0) {
        cn_free(row);
        return rc;
    }
    if ((rc = cn__state_swap(st, CN__UNDO_SVC, cur, row)) < 0)
        return rc;
    if (cur && (rc = svcname_gc(x, cur->v.name)) < 0)
        return rc;
    *res = row;
    return 0;
}

/* ---- checks ---- */

static bool check_same(const struct cn__check_row *a, const struct cn__check_row *b)
{
    const struct cn_check *x = &a->v, *y = &b->v;
    if (strcmp(x->node, y->node) || strcmp(x->id, y->id) ||
        strcmp(x->name, y->name) || x->status != y->status ||
        strcmp(x->notes, y->notes) || strcmp(x->output, y->output) ||
        strcmp(x->service_id, y->service_id) ||
        strcmp(x->service_name, y->service_name) || strcmp(x->type, y->type) ||
        strcmp(x->interval, y->interval) || strcmp(x->timeout, y->timeout) ||
        x->exposed_port != y->exposed_port ||
        x->n_service_tags != y->n_service_tags ||
        x->definition_len != y->definition_len ||
        (x->definition == NULL) != (y->definition == NULL))
        return false;
    for (uint32_t i = 0; i < x->n_service_tags; i++)
        if (strcmp(x->service_tags[i], y->service_tags[i]))
            return false;
    return x->definition_len == 0 ||
           memcmp(x->definition, y->definition, x->definition_len) == 0;
}

int cn__cat_ensure_check(struct cn__cat_ctx *x, const struct cn__check_in *in,
                         const struct cn__check_row **res)
{
    struct cn_state *st = x->st;
    struct cn__check_ctx cx = {cn__node_find(st, in->node.p, in->node.n), NULL};
    const struct cn__s *id = in->id.n ? &in->id : &in->name;
    struct cn__check_row *cur, *row;
    int rc;
    *res = NULL;
    if (!cx.node)
        return CN__CAT_NO_NODE;
    if (in->service_id.n) {
        cx.svc = cn__svc_find(st, in->node.p, in->node.n, in->service_id.p,
                              in->service_id.n);
        if (!cx.svc)
            return CN__CAT_NO_SERVICE;
    }
    cur = cn__check_find(st, in->node.p, in->node.n, id->p, id->n);
    row = cn__check_row_new(in, &cx);
    if (!row)
        return -ENOMEM;
    if (cur && check_same(cur, row)) {
        cn_free(row);
        row = cur;
    } else {
        row->v.create_index = cur ? cur->v.create_index : x->index;
        row->v.modify_index = x->index;
        if ((rc = cn__state_swap(st, CN__UNDO_CHECK, cur, row)) < 0)
            return rc;
    }
    /* A critical check invalidates the sessions that rely on it. */
    if (row->v.status == CN_HEALTH_CRITICAL &&
        (rc = cn__sessions_for_check(x, row)) != 0)
        return rc;
    *res = row;
    return 0;
}

/* ---- deletes ---- */

int cn__cat_delete_check(struct cn__cat_ctx *x, struct cn__check_row *c)
{
    int rc = cn__state_swap(x->st, CN__UNDO_CHECK, c, NULL);
    if (rc < 0)
        return rc;
    return cn__sessions_for_check(x, c);
}

static void node_prefix(struct cn__kb *kb, const char *node)
{
    cn__kb_init(kb);
    cn__kb_add(kb, node, strlen(node), false);
    cn__kb_sep(kb);
}

int cn__cat_delete_service(struct cn__cat_ctx *x, struct cn__svc_row *s)
{
    struct cn_state *st = x->st;
    struct cn__kb kb;
    struct cn_rb_node *n, *next;
    struct cn__s sid = s_of(s->v.id);
    int rc;
    node_prefix(&kb, s->v.node);
    for (n = cn__first_under(&st->checks, &kb); n; n = next) {
        struct cn__check_row *c = CN__ROW(n, struct cn__check_row, by_key);
        next = cn_rb_next(n);
        if (next && !cn__under(&st->checks, next, &kb))
            next = NULL;
        if (c->v.service_id[0] && s_eq_fold(c->v.service_id, &sid) &&
            (rc = cn__cat_delete_check(x, c)) != 0)
            return rc;
    }
    if ((rc = cn__state_swap(st, CN__UNDO_SVC, s, NULL)) < 0)
        return rc;
    return svcname_gc(x, s->v.name);
}

int cn__cat_delete_node(struct cn__cat_ctx *x, struct cn__node_row *node)
{
    struct cn_state *st = x->st;
    struct cn__kb kb;
    struct cn_rb_node *n, *next;
    int rc;
    node_prefix(&kb, node->v.name);
    for (n = cn__first_under(&st->svcs, &kb); n; n = next) {
        next = cn_rb_next(n);
        if (next && !cn__under(&st->svcs, next, &kb))
            next = NULL;
        rc = cn__cat_delete_service(x, CN__ROW(n, struct cn__svc_row, by_key));
        if (rc != 0)
            return rc;
    }
    for (n = cn__first_under(&st->checks, &kb); n; n = next) {
        next = cn_rb_next(n);
        if (next && !cn__under(&st->checks, next, &kb))
            next = NULL;
        rc = cn__cat_delete_check(x, CN__ROW(n, struct cn__check_row, by_key));
        if (rc != 0)
            return rc;
    }
    if ((rc = cn__state_swap(st, CN__UNDO_NODE, node, NULL)) < 0)
        return rc;
    return cn__sessions_of_node(x, node);
}

/* ---- register / deregister ---- */

/* RegisterRequest.ChangesNode. */
static bool changes_node(const struct cn__cmd *c, const struct cn__node_row *n)
{
    if (!n)
        return true;
    if (c->skip_node_update)
        return false;
    return !(s_eq(n->v.id, &c->node.id) && s_eq_fold(n->v.name, &c->node.name) &&
             s_eq(n->v.address, &c->node.address) &&
             s_eq(n->v.datacenter, &c->node.dc) &&
             pairs_eq(n->v.tagged_addresses, n->v.n_tagged_addresses,
                      &c->node.tagged) &&
             pairs_eq(n->v.meta, n->v.n_meta, &c->node.meta));
}

static bool is_any_addr(const struct cn__s *a)
{
    return s_eq("0.0.0.0", a) || s_eq("::", a) || s_eq("[::]", a);
}

/* Catalog.Register's checks before Raft (catalog_endpoint.go). */
static int register_precheck(struct cn__cat_ctx *x, const struct cn__cmd *c)
{
    if (c->node.name.n == 0)
        return CN__CAT_MUST_NODE;
    if (c->node.address.n == 0 && !c->skip_node_update)
        return CN__CAT_MUST_ADDRESS;
    if (c->node.id.n && !cn_uuid_valid(c->node.id.p, c->node.id.n)) {
        x->err.detail = c->node.id.n != 36 ? "uuid string is wrong length"
                                           : "uuid is improperly formatted";
        return CN__CAT_BAD_NODE_ID;
    }
    if (c->has_service) {
        if (c->svc.name.n == 0)
            return CN__CAT_SVC_NAME;
        if (is_any_addr(&c->svc.address))
            return CN__CAT_SVC_ADDRESS;
    }
    return 0;
}

int cn__cat_register(struct cn__cat_ctx *x, const struct cn__cmd *c)
{
    struct cn_state *st = x->st;
    const struct cn__node_row *node;
    const struct cn__svc_row *svc;
    const struct cn__check_row *chk;
    struct cn_mp_reader r = c->checks;
    int rc = register_precheck(x, c);
    if (rc != 0)
        return rc;
    /* ensureRegistrationTxn wraps what goes wrong below. */
    node = cn__node_find(st, c->node.name.p, c->node.name.n);
    x->err.prefix = "failed inserting node: ";
    if (changes_node(c, node) &&
        (rc = cn__cat_ensure_node(x, &c->node, &node)) != 0)
        return rc;
    x->err.prefix = "failed inserting service: ";
    if (c->has_service &&
        (rc = cn__cat_ensure_service(x, &c->node.name, &c->svc, &svc)) != 0)
        return rc;
    x->err.prefix = "failed inserting check: ";
    for (uint32_t i = 0; i < c->n_checks; i++) {
        struct cn__check_in in;
        rc = cn__check_read(&r, &in);
        CN_ASSERT(rc == 0); /* Validated by the decoder. */
        if (in.node.n == 0)
            in.node = c->node.name;   /* checkPreApply */
        if ((rc = cn__cat_ensure_check(x, &in, &chk)) != 0)
            return rc;
    }
    x->err.prefix = NULL;
    return 0;
}

int cn__cat_deregister(struct cn__cat_ctx *x, const struct cn__s *node,
                       const struct cn__s *service_id, const struct cn__s *check_id)
{
    struct cn_state *st = x->st;
    if (node->n == 0)
        return CN__CAT_MUST_NODE;
    if (service_id->n) {
        struct cn__svc_row *s = cn__svc_find(st, node->p, node->n, service_id->p,
                                             service_id->n);
        return s ? cn__cat_delete_service(x, s) : 0;
    }
    if (check_id->n) {
        struct cn__check_row *ch = cn__check_find(st, node->p, node->n,
                                                  check_id->p, check_id->n);
        return ch ? cn__cat_delete_check(x, ch) : 0;
    }
    struct cn__node_row *n = cn__node_find(st, node->p, node->n);
    return n ? cn__cat_delete_node(x, n) : 0;
}

/* ---- error texts ---- */

static void put_s(struct cn_buf *b, const struct cn__s *s)
{
    cn_buf_append(b, s->p, s->n);
}

static void put_q(struct cn_buf *b, const struct cn__s *s)
{
    cn__quote(b, (const uint8_t *)s->p, s->n);
}

static void txn_text(const struct cn__cat_err *e, int why, struct cn_buf *b)
{
    bool node = strcmp(e->detail, "node") == 0;
    if (why == CN__CAT_MISSING) {
        cn_buf_printf(b, "%s ", e->detail);
        put_q(b, &e->a);
    } else {
        cn_buf_printf(b, "failed to %s %s ", why == CN__CAT_STALE ? "set" : "delete",
                      e->detail);
        put_q(b, &e->a);
    }
    if (!node) {
        cn_buf_puts(b, " on node ");
        put_q(b, &e->b);
    }
    cn_buf_puts(b, why == CN__CAT_MISSING ? " doesn't exist" : ", index is stale");
}

void cn__cat_error(const struct cn__cat_err *e, int why, struct cn_buf *b)
{
    if (e->prefix)
        cn_buf_puts(b, e->prefix);
    switch (why) {
    case CN__CAT_NO_NODE: cn_buf_puts(b, "Missing node registration"); break;
    case CN__CAT_NO_SERVICE: cn_buf_puts(b, "Missing service registration"); break;
    case CN__CAT_MUST_NODE: cn_buf_puts(b, "Must provide node"); break;
    case CN__CAT_MUST_ADDRESS:
        cn_buf_puts(b, "Must provide address if SkipNodeUpdate is not set");
        break;
    case CN__CAT_BAD_NODE_ID: cn_buf_printf(b, "Bad node ID: %s", e->detail); break;
    case CN__CAT_SVC_NAME: cn_buf_puts(b, "Must provide service name with ID"); break;
    case CN__CAT_SVC_ADDRESS: cn_buf_puts(b, "Invalid service address"); break;
    case CN__CAT_NAME_TAKEN:
        cn_buf_puts(b, "Node name ");
        put_s(b, &e->a);
        cn_buf_puts(b, " is reserved by node ");
        put_s(b, &e->b);
        cn_buf_puts(b, " with name ");
        put_s(b, &e->c);
        cn_buf_puts(b, " (");
        put_s(b, &e->d);
        cn_buf_puts(b, ")");
        break;
    case CN__CAT_STALE:
    case CN__CAT_STALE_DELETE:
    case CN__CAT_MISSING:
        txn_text(e, why, b);
        break;
    case CN__CAT_SESS_CHECK:
        cn_buf_puts(b, "Missing check '");
        put_s(b, &e->a);
        cn_buf_puts(b, "' registration");
        break;
    case CN__CAT_SESS_CRITICAL:
        cn_buf_puts(b, "Check '");
        put_s(b, &e->a);
        cn_buf_puts(b, "' is in critical state");
        break;
    case CN__CAT_SESS_TTL:
        if (e->detail) { /* Unparsable (Go's time.ParseDuration text). */
            cn_buf_puts(b, "Session TTL '");
            put_s(b, &e->a);
            cn_buf_puts(b, "' invalid: time: invalid duration ");
            put_q(b, &e->a);
        } else {
            cn_buf_printf(b, "Invalid Session TTL '%lld', must be between "
                          "[10s=24h0m0s]", (long long)e->num);
        }
        break;
    case CN__CAT_SESS_EXISTS: cn_buf_puts(b, "Session ID already exists"); break;
    case CN__CAT_SVC_META:
        cn_buf_puts(b, "Invalid Service Meta for node ");
        put_s(b, &e->a);
        cn_buf_puts(b, " and serviceID ");
        put_s(b, &e->b);
        cn_buf_puts(b, ": ");
        if (e->c.n || e->d.n || strncmp(e->detail, "Node", 4) != 0) {
            cn_buf_puts(b, "Couldn't load metadata pair ('");
            put_s(b, &e->c);
            cn_buf_puts(b, "', '");
            put_s(b, &e->d);
            cn_buf_puts(b, "'): ");
        }
        cn_buf_puts(b, e->detail);
        break;
    default:
        CN_UNREACHABLE();
    }
}

/* ---- commit: per-name indexes and watches ---- */

static void bump_name(struct cn_state *st, const uint8_t *name_lc, size_t len,
                      uint64_t index)
{
    struct cn_rb_node *n = cn_rb_find(&st->svcnames, name_lc, len);
    if (n)
        CN__ROW(n, struct cn__svcname_row, node)->index = index;
    cn__watch_touch_name(&st->watches, CN_WATCH_SERVICE, name_lc, len);
}

static void bump_node(struct cn_state *st, const uint8_t *node_lc, size_t len,
                      uint64_t index)
{
    struct cn__kb kb;
    cn__watch_touch_name(&st->watches, CN_WATCH_NODE, node_lc, len);
    cn__kb_init(&kb);
    memcpy(kb.b, node_lc, len); /* Already lower-cased. */
    kb.len = (uint32_t)len;
    cn__kb_sep(&kb);
    for (struct cn_rb_node *n = cn__first_under(&st->svcs, &kb);
         n && cn__under(&st->svcs, n, &kb); n = cn_rb_next(n)) {
        const struct cn__svc_row *s = CN__ROW(n, struct cn__svc_row, by_key);
        bump_name(st, s->nkey.p, s->name_lc_len, index);
    }
}

void cn__cat_commit(struct cn_state *st, const struct cn__undo *u,
                    uint64_t index, unsigned *tables)
{
    void *rows[2] = {u->old_row, u->new_row};
    for (int i = 0; i < 2; i++) {
        if (!rows[i])
            continue;
        switch (u->table) {
        case CN__UNDO_NODE: {
            const struct cn__node_row *r = rows[i];
            *tables |= 1u << CN_TABLE_NODES;
            bump_node(st, r->name_lc.p, r->name_lc.len, index);
            break;
        }
        case CN__UNDO_SVC: {
            const struct cn__svc_row *r = rows[i];
            *tables |= 1u << CN_TABLE_SERVICES;
            cn__watch_touch_name(&st->watches, CN_WATCH_NODE, r->key.p,
                                 r->node_lc_len);
            bump_name(st, r->nkey.p, r->name_lc_len, index);
            break;
        }
        case CN__UNDO_CHECK: {
            const struct cn__check_row *r = rows[i];
            *tables |= 1u << CN_TABLE_CHECKS;
            if (r->svc_lc_len) {
                cn__watch_touch_name(&st->watches, CN_WATCH_NODE, r->key.p,
                                     r->node_lc_len);
                bump_name(st, r->skey.p, r->svc_lc_len, index);
            } else {
                bump_node(st, r->key.p, r->node_lc_len, index);
            }
            break;
        }
        case CN__UNDO_SVCNAME:
            if (i == 0 && !u->new_row)
                st->svc_extinction_index = index;
            break;
        case CN__UNDO_SESSION: {
            const struct cn__session *r = rows[i];
            *tables |= 1u << CN_TABLE_SESSIONS;
            cn__watch_touch_name(&st->watches, CN_WATCH_NODE, r->nkey.p,
                                 r->node_lc_len);
            break;
        }
        default:
            break; /* Locks and lock delays have no readers to wake. */
        }
    }
}
