/* state/cat_cmd.c - catalog and session commands: encoding and decoding.
 *
 * Wire forms (MessagePack arrays; see cmd.c for the KV ones):
 *   node     [id, name, address, datacenter, tagged [k, v, ...], meta [k, v, ...]]
 *   service  [id, name, kind, address, tags [...], addrs [[name, addr, port]...],
 *             meta [k, v, ...], port, w_passing, w_warning, tag_override,
 *             proxy bin|nil, connect bin|nil]
 *   check    [node, id, name, status, notes, output, service_id, type,
 *             interval, timeout, definition bin|nil, exposed_port]
 *   session  [id, name, node, lock_delay_ns, behavior, ttl, node_checks [...],
 *             service_checks [...]]
 *   CN_CMD_REGISTER        [now_ms, node, skip_node_update, service|nil, [check...]]
 *   CN_CMD_DEREGISTER      [now_ms, node, service_id, check_id]
 *   CN_CMD_SESSION_CREATE  session
 *   CN_CMD_SESSION_DESTROY [now_ms, id]
 *   txn catalog op         [64 node | 65 service | 66 check, verb, index,
 *                           node | [node_name, service] | check]
 * Decoding validates every limit and rejects NUL bytes in strings, so the
 * row builders (cat_rows.c) can trust what they re-read.
 */
#include <errno.h>

#include "cat_int.h"

/* ---- encoding ---- */

static bool str_ok(const char *s, size_t max)
{
    return !s || strnlen(s, max + 1) <= max;
}

/* An opaque blob must be exactly one MessagePack value: it is copied into
 * replies as it is. */
static bool blob_ok(const uint8_t *p, size_t n)
{
    struct cn_mp_reader r;
    if (!p)
        return true;
    if (n > CN_CATALOG_TEXT_BYTES_MAX)
        return false;
    cn_mp_reader_init(&r, p, n);
    return cn_mp_skip(&r) == 0 && cn_mp_left(&r) == 0;
}

static void put_s(struct cn_mp_writer *w, const char *s)
{
    cn_mp_put_cstr(w, s ? s : "");
}

static void put_blob(struct cn_mp_writer *w, const uint8_t *p, size_t n)
{
    if (p)
        cn_mp_put_bin(w, p, n);
    else
        cn_mp_put_nil(w);
}

static int pairs_check(const struct cn_pair *p, uint32_t n)
{
    if (n > CN_CATALOG_LIST_MAX || (n && !p))
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++)
        if (!p[i].key || !str_ok(p[i].key, CN_CATALOG_STR_BYTES_MAX) ||
            !str_ok(p[i].value, CN_CATALOG_STR_BYTES_MAX))
            return CN_EMALFORMED;
    return 0;
}

static void put_pairs(struct cn_mp_writer *w, const struct cn_pair *p,
                      uint32_t n)
{
    cn_mp_put_array(w, 2 * n);
    for (uint32_t i = 0; i < n; i++) {
        put_s(w, p[i].key);
        put_s(w, p[i].value);
    }
}

static int strv_check(const char *const *v, uint32_t n)
{
    if (n > CN_CATALOG_LIST_MAX || (n && !v))
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++)
        if (!v[i] || !str_ok(v[i], CN_CATALOG_STR_BYTES_MAX))
            return CN_EMALFORMED;
    return 0;
}

static void put_strv(struct cn_mp_writer *w, const char *const *v, uint32_t n)
{
    cn_mp_put_array(w, n);
    for (uint32_t i = 0; i < n; i++)
        put_s(w, v[i]);
}

static int node_check(const struct cn_node *n)
{
    if (!str_ok(n->id, CN_CATALOG_STR_BYTES_MAX) ||
        !str_ok(n->name, CN_CATALOG_STR_BYTES_MAX) ||
        !str_ok(n->address, CN_CATALOG_STR_BYTES_MAX) ||
        !str_ok(n->datacenter, CN_CATALOG_STR_BYTES_MAX))
        return CN_EMALFORMED;
    if (pairs_check(n->tagged_addresses, n->n_tagged_addresses) < 0)
        return CN_EMALFORMED;
    return pairs_check(n->meta, n->n_meta);
}

void cn__put_node(struct cn_mp_writer *w, const struct cn_node *n)
{
    cn_mp_put_array(w, 6);
    put_s(w, n->id);
    put_s(w, n->name);
    put_s(w, n->address);
    put_s(w, n->datacenter);
    put_pairs(w, n->tagged_addresses, n->n_tagged_addresses);
    put_pairs(w, n->meta, n->n_meta);
}

static int svc_check(const struct cn_service *s)
{
    const char *strs[] = {s->id, s->name, s->kind, s->address};
    for (size_t i = 0; i < CN_ARRAY_LEN(strs); i++)
        if (!str_ok(strs[i], CN_CATALOG_STR_BYTES_MAX))
            return CN_EMALFORMED;
    if (strv_check(s->tags, s->n_tags) < 0 || pairs_check(s->meta, s->n_meta) < 0)
        return CN_EMALFORMED;
    if (s->n_tagged_addresses > CN_CATALOG_LIST_MAX ||
        (s->n_tagged_addresses && !s->tagged_addresses))
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < s->n_tagged_addresses; i++)
        if (!s->tagged_addresses[i].name ||
            !str_ok(s->tagged_addresses[i].name, CN_CATALOG_STR_BYTES_MAX) ||
            !str_ok(s->tagged_addresses[i].address, CN_CATALOG_STR_BYTES_MAX))
            return CN_EMALFORMED;
    if (!blob_ok(s->proxy, s->proxy_len) || !blob_ok(s->connect, s->connect_len))
        return CN_EMALFORMED;
    return 0;
}

void cn__put_svc(struct cn_mp_writer *w, const struct cn_service *s)
{
    cn_mp_put_array(w, 13);
    put_s(w, s->id);
    put_s(w, s->name);
    put_s(w, s->kind);
    put_s(w, s->address);
    put_strv(w, s->tags, s->n_tags);
    cn_mp_put_array(w, s->n_tagged_addresses);
    for (uint32_t i = 0; i < s->n_tagged_addresses; i++) {
        cn_mp_put_array(w, 3);
        put_s(w, s->tagged_addresses[i].name);
        put_s(w, s->tagged_addresses[i].address);
        cn_mp_put_uint(w, s->tagged_addresses[i].port);
    }
    put_pairs(w, s->meta, s->n_meta);
    cn_mp_put_uint(w, s->port);
    cn_mp_put_uint(w, s->weight_passing);
    cn_mp_put_uint(w, s->weight_warning);
    cn_mp_put_bool(w, s->enable_tag_override);
    put_blob(w, s->proxy, s->proxy_len);
    put_blob(w, s->connect, s->connect_len);
}

static int check_check(const struct cn_check *c)
{
    const char *strs[] = {c->node, c->id, c->name, c->service_id, c->type,
                          c->interval, c->timeout};
    for (size_t i = 0; i < CN_ARRAY_LEN(strs); i++)
        if (!str_ok(strs[i], CN_CATALOG_STR_BYTES_MAX))
            return CN_EMALFORMED;
    if (!str_ok(c->notes, CN_CATALOG_TEXT_BYTES_MAX) ||
        !str_ok(c->output, CN_CATALOG_TEXT_BYTES_MAX) ||
        !blob_ok(c->definition, c->definition_len))
        return CN_EMALFORMED;
    if ((unsigned)c->status > CN_HEALTH_CRITICAL)
        return CN_EMALFORMED;
    return 0;
}

void cn__put_check(struct cn_mp_writer *w, const struct cn_check *c)
{
    cn_mp_put_array(w, 12);
    put_s(w, c->node);
    put_s(w, c->id);
    put_s(w, c->name);
    cn_mp_put_uint(w, (uint64_t)c->status);
    put_s(w, c->notes);
    put_s(w, c->output);
    put_s(w, c->service_id);
    put_s(w, c->type);
    put_s(w, c->interval);
    put_s(w, c->timeout);
    put_blob(w, c->definition, c->definition_len);
    cn_mp_put_uint(w, c->exposed_port);
}

static int finish(struct cn_buf *out, size_t start, struct cn_mp_writer *w)
{
    if (w->err)
        out->len = start;
    return w->err;
}

static void begin(struct cn_mp_writer *w, struct cn_buf *out, uint8_t type)
{
    cn_mp_writer_init(w, out);
    cn_mp_put_raw(w, &type, 1);
}

int cn_state_cmd_register(struct cn_buf *out, const struct cn_register *r,
                          uint64_t now_ms)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    if (node_check(&r->node) < 0 || (r->service && svc_check(r->service) < 0) ||
        r->n_checks > CN_REGISTER_CHECKS_MAX || (r->n_checks && !r->checks))
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < r->n_checks; i++)
        if (check_check(&r->checks[i]) < 0)
            return CN_EMALFORMED;
    begin(&w, out, CN_CMD_REGISTER);
    cn_mp_put_array(&w, 5);
    cn_mp_put_uint(&w, now_ms);
    cn__put_node(&w, &r->node);
    cn_mp_put_bool(&w, r->skip_node_update);
    if (r->service)
        cn__put_svc(&w, r->service);
    else
        cn_mp_put_nil(&w);
    cn_mp_put_array(&w, r->n_checks);
    for (uint32_t i = 0; i < r->n_checks; i++)
        cn__put_check(&w, &r->checks[i]);
    return finish(out, start, &w);
}

int cn_state_cmd_deregister(struct cn_buf *out, const struct cn_deregister *d,
                            uint64_t now_ms)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    if (!str_ok(d->node, CN_CATALOG_STR_BYTES_MAX) ||
        !str_ok(d->service_id, CN_CATALOG_STR_BYTES_MAX) ||
        !str_ok(d->check_id, CN_CATALOG_STR_BYTES_MAX))
        return CN_EMALFORMED;
    begin(&w, out, CN_CMD_DEREGISTER);
    cn_mp_put_array(&w, 4);
    cn_mp_put_uint(&w, now_ms);
    put_s(&w, d->node);
    put_s(&w, d->service_id);
    put_s(&w, d->check_id);
    return finish(out, start, &w);
}

int cn_state_cmd_session_create(struct cn_buf *out, const struct cn_session *s)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    if (!s->id || !cn_uuid_valid(s->id, strlen(s->id)) ||
        !str_ok(s->name, CN_CATALOG_STR_BYTES_MAX) ||
        !str_ok(s->node, CN_CATALOG_STR_BYTES_MAX) ||
        !str_ok(s->ttl, CN_DURATION_BYTES_MAX) ||
        (s->behavior != CN_SESSION_RELEASE && s->behavior != CN_SESSION_DELETE) ||
        strv_check(s->node_checks, s->n_node_checks) < 0 ||
        strv_check(s->service_checks, s->n_service_checks) < 0)
        return CN_EMALFORMED;
    begin(&w, out, CN_CMD_SESSION_CREATE);
    cn__put_session(&w, s);
    return finish(out, start, &w);
}

void cn__put_session(struct cn_mp_writer *w, const struct cn_session *s)
{
    cn_mp_put_array(w, 8);
    put_s(w, s->id);
    put_s(w, s->name);
    put_s(w, s->node);
    cn_mp_put_uint(w, s->lock_delay_ns);
    cn_mp_put_uint(w, (uint64_t)s->behavior);
    put_s(w, s->ttl);
    put_strv(w, s->node_checks, s->n_node_checks);
    put_strv(w, s->service_checks, s->n_service_checks);
}

int cn_state_cmd_session_destroy(struct cn_buf *out, const char *id,
                                 uint64_t now_ms)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    if (!id || !str_ok(id, CN_SESSION_ID_BYTES))
        return CN_EMALFORMED;
    begin(&w, out, CN_CMD_SESSION_DESTROY);
    cn_mp_put_array(&w, 2);
    cn_mp_put_uint(&w, now_ms);
    put_s(&w, id);
    return finish(out, start, &w);
}

/* A catalog op of a txn (cmd.c writes the KV ones). */
int cn__cat_op_put(struct cn_mp_writer *w, const struct cn_txn_op *op)
{
    int rc = 0;
    if (op->verb < CN_CAT_SET || op->verb > CN_CAT_DELETE_CAS)
        return CN_EMALFORMED;
    if (op->kind == CN_TXN_NODE || op->kind == CN_TXN_SERVICE)
        rc = node_check(&op->node);
    if (rc == 0 && op->kind == CN_TXN_SERVICE)
        rc = svc_check(&op->service);
    if (rc == 0 && op->kind == CN_TXN_CHECK)
        rc = check_check(&op->check);
    if (rc < 0)
        return rc;
    cn_mp_put_array(w, 4);
    cn_mp_put_uint(w, CN__OP_NODE + (unsigned)op->kind - CN_TXN_NODE);
    cn_mp_put_uint(w, (uint64_t)op->verb);
    cn_mp_put_uint(w, op->index);
    switch (op->kind) {
    case CN_TXN_NODE:
        cn__put_node(w, &op->node);
        break;
    case CN_TXN_SERVICE:
        cn_mp_put_array(w, 2);
        put_s(w, op->node.name);
        cn__put_svc(w, &op->service);
        break;
    case CN_TXN_CHECK:
        cn__put_check(w, &op->check);
        break;
    default:
        return CN_EMALFORMED;
    }
    return 0;
}

/* ---- decoding ---- */

int cn__str_read(struct cn_mp_reader *r, struct cn__s *out, uint32_t max)
{
    const uint8_t *p;
    uint32_t n;
    if (cn_mp_read_str(r, &p, &n) < 0 || n > max || (n && memchr(p, 0, n)))
        return CN_EMALFORMED;
    out->p = (const char *)p;
    out->n = n;
    return 0;
}

static int read_blob(struct cn_mp_reader *r, struct cn__s *out, bool *has)
{
    const uint8_t *p;
    uint32_t n;
    *has = false;
    memset(out, 0, sizeof *out);
    if (cn_mp_read_nil(r) == 0)
        return 0;
    if (cn_mp_read_str(r, &p, &n) < 0 || !blob_ok(p, n))
        return CN_EMALFORMED;
    out->p = (const char *)p;
    out->n = n;
    *has = true;
    return 0;
}

static int read_u32(struct cn_mp_reader *r, uint32_t *out)
{
    uint64_t v;
    if (cn_mp_read_uint(r, &v) < 0 || v > UINT32_MAX)
        return CN_EMALFORMED;
    *out = (uint32_t)v;
    return 0;
}

/* per: strings per element (1: a list, 2: a map, 3: addresses). */
int cn__list_read(struct cn_mp_reader *r, struct cn__list *out, int per)
{
    uint32_t n;
    struct cn__s s;
    if (cn_mp_read_array(r, &n) < 0)
        return CN_EMALFORMED;
    if (per == 2 && n % 2)
        return CN_EMALFORMED;
    out->n = per == 2 ? n / 2 : n;
    if (out->n > CN_CATALOG_LIST_MAX)
        return CN_EMALFORMED;
    out->r = *r;
    for (uint32_t i = 0; i < n; i++) {
        if (per == 3) {
            uint32_t k, port;
            if (cn_mp_read_array(r, &k) < 0 || k != 3 ||
                cn__str_read(r, &s, CN_CATALOG_STR_BYTES_MAX) < 0 ||
                cn__str_read(r, &s, CN_CATALOG_STR_BYTES_MAX) < 0 ||
                read_u32(r, &port) < 0)
                return CN_EMALFORMED;
        } else if (cn__str_read(r, &s, CN_CATALOG_STR_BYTES_MAX) < 0) {
            return CN_EMALFORMED;
        }
    }
    return 0;
}

void cn__list_str(struct cn_mp_reader *r, struct cn__s *out)
{
    int rc = cn__str_read(r, out, CN_CATALOG_STR_BYTES_MAX);
    CN_ASSERT(rc == 0); /* Validated when the command was decoded. */
}

int cn__node_read(struct cn_mp_reader *r, struct cn__node_in *o)
{
    uint32_t n;
    const uint32_t max = CN_CATALOG_STR_BYTES_MAX;
    if (cn_mp_read_array(r, &n) < 0 || n != 6 || cn__str_read(r, &o->id, max) < 0 ||
        cn__str_read(r, &o->name, max) < 0 || cn__str_read(r, &o->address, max) < 0 ||
        cn__str_read(r, &o->dc, max) < 0 || cn__list_read(r, &o->tagged, 2) < 0 ||
        cn__list_read(r, &o->meta, 2) < 0)
        return CN_EMALFORMED;
    return 0;
}

int cn__svc_read(struct cn_mp_reader *r, struct cn__svc_in *o)
{
    uint32_t n;
    const uint32_t max = CN_CATALOG_STR_BYTES_MAX;
    if (cn_mp_read_array(r, &n) < 0 || n != 13 || cn__str_read(r, &o->id, max) < 0 ||
        cn__str_read(r, &o->name, max) < 0 || cn__str_read(r, &o->kind, max) < 0 ||
        cn__str_read(r, &o->address, max) < 0 || cn__list_read(r, &o->tags, 1) < 0 ||
        cn__list_read(r, &o->taddrs, 3) < 0 || cn__list_read(r, &o->meta, 2) < 0 ||
        read_u32(r, &o->port) < 0 || read_u32(r, &o->weight_passing) < 0 ||
        read_u32(r, &o->weight_warning) < 0 ||
        cn_mp_read_bool(r, &o->enable_tag_override) < 0 ||
        read_blob(r, &o->proxy, &o->has_proxy) < 0 ||
        read_blob(r, &o->connect, &o->has_connect) < 0)
        return CN_EMALFORMED;
    return 0;
}

int cn__check_read(struct cn_mp_reader *r, struct cn__check_in *o)
{
    uint32_t n;
    uint64_t status;
    const uint32_t max = CN_CATALOG_STR_BYTES_MAX;
    if (cn_mp_read_array(r, &n) < 0 || n != 12 || cn__str_read(r, &o->node, max) < 0 ||
        cn__str_read(r, &o->id, max) < 0 || cn__str_read(r, &o->name, max) < 0 ||
        cn_mp_read_uint(r, &status) < 0 || status > CN_HEALTH_CRITICAL ||
        cn__str_read(r, &o->notes, CN_CATALOG_TEXT_BYTES_MAX) < 0 ||
        cn__str_read(r, &o->output, CN_CATALOG_TEXT_BYTES_MAX) < 0 ||
        cn__str_read(r, &o->service_id, max) < 0 || cn__str_read(r, &o->type, max) < 0 ||
        cn__str_read(r, &o->interval, max) < 0 || cn__str_read(r, &o->timeout, max) < 0 ||
        read_blob(r, &o->definition, &o->has_definition) < 0 ||
        read_u32(r, &o->exposed_port) < 0)
        return CN_EMALFORMED;
    o->status = (uint8_t)status;
    return 0;
}

int cn__sess_read(struct cn_mp_reader *r, struct cn__sess_in *o)
{
    uint32_t n;
    uint64_t behavior;
    const uint32_t max = CN_CATALOG_STR_BYTES_MAX;
    if (cn_mp_read_array(r, &n) < 0 || n != 8 ||
        cn__str_read(r, &o->id, CN_SESSION_ID_BYTES) < 0 ||
        !cn_uuid_valid(o->id.p, o->id.n) || cn__str_read(r, &o->name, max) < 0 ||
        cn__str_read(r, &o->node, max) < 0 || cn_mp_read_uint(r, &o->lock_delay_ns) < 0 ||
        cn_mp_read_uint(r, &behavior) < 0 ||
        (behavior != CN_SESSION_RELEASE && behavior != CN_SESSION_DELETE) ||
        cn__str_read(r, &o->ttl, CN_DURATION_BYTES_MAX) < 0 ||
        cn__list_read(r, &o->node_checks, 1) < 0 ||
        cn__list_read(r, &o->service_checks, 1) < 0)
        return CN_EMALFORMED;
    o->behavior = (uint8_t)behavior;
    return 0;
}

static int read_register(struct cn_mp_reader *r, struct cn__cmd *c)
{
    uint32_t n;
    struct cn__check_in chk;
    if (cn_mp_read_array(r, &n) < 0 || n != 5 || cn_mp_read_uint(r, &c->now_ms) < 0 ||
        cn__node_read(r, &c->node) < 0 ||
        cn_mp_read_bool(r, &c->skip_node_update) < 0)
        return CN_EMALFORMED;
    c->has_service = cn_mp_read_nil(r) != 0;
    if (c->has_service && cn__svc_read(r, &c->svc) < 0)
        return CN_EMALFORMED;
    if (cn_mp_read_array(r, &c->n_checks) < 0 ||
        c->n_checks > CN_REGISTER_CHECKS_MAX)
        return CN_EMALFORMED;
    c->checks = *r;
    for (uint32_t i = 0; i < c->n_checks; i++)
        if (cn__check_read(r, &chk) < 0)
            return CN_EMALFORMED;
    return 0;
}

int cn__cat_cmd_decode(struct cn_mp_reader *r, uint8_t type, struct cn__cmd *c)
{
    uint32_t n;
    const uint32_t max = CN_CATALOG_STR_BYTES_MAX;
    switch (type) {
    case CN_CMD_REGISTER:
        return read_register(r, c);
    case CN_CMD_DEREGISTER:
        if (cn_mp_read_array(r, &n) < 0 || n != 4 ||
            cn_mp_read_uint(r, &c->now_ms) < 0 || cn__str_read(r, &c->d_node, max) < 0 ||
            cn__str_read(r, &c->d_service, max) < 0 || cn__str_read(r, &c->d_check, max) < 0)
            return CN_EMALFORMED;
        return 0;
    case CN_CMD_SESSION_CREATE:
        return cn__sess_read(r, &c->sess);
    case CN_CMD_SESSION_DESTROY:
        if (cn_mp_read_array(r, &n) < 0 || n != 2 ||
            cn_mp_read_uint(r, &c->now_ms) < 0 ||
            cn__str_read(r, &c->sess_id, CN_SESSION_ID_BYTES) < 0)
            return CN_EMALFORMED;
        return 0;
    default:
        return CN_EMALFORMED;
    }
}

int cn__cat_op_read(struct cn_mp_reader *r, struct cn__op *op)
{
    uint32_t n;
    uint64_t kind, verb;
    struct cn__node_in node;
    struct cn__svc_in svc;
    struct cn__check_in chk;
    struct cn__s name;
    memset(op, 0, sizeof *op);
    if (cn_mp_read_array(r, &n) < 0 || n != 4 || cn_mp_read_uint(r, &kind) < 0 ||
        kind < CN__OP_NODE || kind > CN__OP_CHECK || cn_mp_read_uint(r, &verb) < 0 ||
        verb < CN_CAT_SET || verb > CN_CAT_DELETE_CAS ||
        cn_mp_read_uint(r, &op->index) < 0)
        return CN_EMALFORMED;
    op->kind = (uint8_t)kind;
    op->cverb = (uint8_t)verb;
    op->payload = *r;
    if (kind == CN__OP_NODE)
        return cn__node_read(r, &node);
    if (kind == CN__OP_CHECK)
        return cn__check_read(r, &chk);
    if (cn_mp_read_array(r, &n) < 0 || n != 2 ||
        cn__str_read(r, &name, CN_CATALOG_STR_BYTES_MAX) < 0)
        return CN_EMALFORMED;
    return cn__svc_read(r, &svc);
}
