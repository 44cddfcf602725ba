/* agent/api/catalog.c - /v1/catalog/... (consul-compat.md 5.4; Consul's
 * agent/catalog_endpoint.go), and the helpers the catalog, health and
 * session handlers share: repeated query parameters, read calls, and the
 * decoders of Node / Service / Check bodies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "api_int.h"

/* ---- query helpers ---- */

size_t cn__api_params(struct cn_http_req *req, const char *name, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_params && n < max; i++)
        if (strcmp(req->params[i].name, name) == 0)
            out[n++] = req->params[i].value;
    return n;
}

size_t cn__api_node_meta(struct cn_http_req *req, const char **kv, size_t max_pairs)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_params && n < max_pairs; i++) {
        const struct cn_http_param *p = &req->params[i];
        const char *colon;
        if (strcmp(p->name, "node-meta") != 0)
            continue;
        colon = memchr(p->value, ':', p->value_len);
        if (!colon) {
            kv[2 * n] = p->value;
            kv[2 * n + 1] = "";
        } else {
            kv[2 * n] = cn_arena_strndup(&req->arena, p->value, (size_t)(colon - p->value));
            kv[2 * n + 1] = colon + 1;
            if (!kv[2 * n])
                continue;
        }
        n++;
    }
    return n;
}

const char *cn__api_suffix(struct cn_http_req *req, const char *what)
{
    if (req->suffix_len == 0) {
        if (what)
            cn_http_error(req, 400, "%s", what);
        return NULL;
    }
    const char *s = cn_arena_strndup(&req->arena, req->suffix, req->suffix_len);
    if (!s)
        cn_http_fail(req, -ENOMEM, NULL);
    return s;
}

void cn__api_cat_read(struct cn_http_req *req, enum cn_rpc_method m, const char *name,
                      const char *const *tags, size_t n_tags, const char *const *meta,
                      size_t n_meta, bool passing, cn__api_done_fn *done)
{
    struct cn_query_opts q;
    struct cn_rpc_call *call;
    int rc;
    if (cn__api_query_opts(req, &q) < 0)
        return;
    call = cn__api_call_new(req, m, done);
    if (!call) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    cn__api_cache_offer(req, call, &q);
    rc = cn_rpc_cat_args_encode(&call->args, name, tags, n_tags, meta, n_meta, passing, &q);
    if (rc < 0) {
        cn_rpc_call_close(call);
        cn_http_fail(req, rc, rc == CN_ETOOBIG ? "too many query parameters" : NULL);
        return;
    }
    cn__api_call_start(req, call);
}

void cn__api_write_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    const uint8_t *msg;
    uint32_t msg_len;
    bool ok;
    if (cn__api_call_failed(req, call))
        return;
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_bool(&r, &ok) == 0)
        cn__api_send_bool(req, ok);
    else if (cn_mp_read_str(&r, &msg, &msg_len) == 0)
        cn_http_error(req, 500, "%.*s", (int)CN_MIN(msg_len, 400), (const char *)msg);
    else
        cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
}

/* ---- body decoders ---- */

static bool meta_key_ok(const char *k)
{
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
              (*k >= '0' && *k <= '9') || *k == '_' || *k == '-'))
            return false;
    return true;
}

int cn__api_meta_validate(const struct cn_pair *m, uint32_t n, bool allow_consul_prefix,
                          char *err, size_t err_size)
{
    if (n > 64) {
        snprintf(err, err_size, "Node metadata cannot contain more than 64 key/value pairs");
        return CN_EBADREQ;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *why = NULL, *k = m[i].key;
        if (!*k)
            why = "Key cannot be blank";
        else if (!meta_key_ok(k))
            why = "Key contains invalid characters";
        else if (strlen(k) > 128)
            why = "Key is too long (limit: 128 characters)";
        else if (strncmp(k, "consul-", 7) == 0 && !allow_consul_prefix &&
                 strcmp(k, "consul-network-segment") != 0 && strcmp(k, "consul-version") != 0)
            why = "Key prefix 'consul-' is reserved for internal use";
        else if (strlen(m[i].value) > 512)
            why = "Value is too long (limit: 512 characters)";
        if (why) {
            snprintf(err, err_size, "Couldn't load metadata pair ('%.128s', '%.64s'): %s", k,
                     m[i].value, why);
            return CN_EBADREQ;
        }
    }
    return 0;
}

int cn__api_get_strs(struct cn_arena *a, const json_t *obj, const char *name,
                     const char *const **out, uint32_t *n, char *err)
{
    json_t *v = cn_json_get(obj, name), *x;
    const char **arr;
    size_t i;
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_array(v) || json_array_size(v) > CN_CATALOG_LIST_MAX) {
        cn_json_errf(err, "field \"%s\": expected an array of at most %d strings", name,
                     CN_CATALOG_LIST_MAX);
        return CN_EMALFORMED;
    }
    arr = cn_arena_alloc(a, (json_array_size(v) + 1) * sizeof *arr);
    if (!arr)
        return -ENOMEM;
    json_array_foreach(v, i, x) {
        if (!json_is_string(x)) {
            cn_json_errf(err, "field \"%s\": expected strings", name);
            return CN_EMALFORMED;
        }
        arr[i] = json_string_value(x);
    }
    *out = arr;
    *n = (uint32_t)json_array_size(v);
    return 0;
}

int cn__api_get_pairs(struct cn_arena *a, const json_t *obj, const char *name,
                      const struct cn_pair **out, uint32_t *n, char *err)
{
    json_t *v = cn_json_get(obj, name), *x;
    struct cn_pair *arr;
    const char *k;
    size_t i = 0;
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_object(v) || json_object_size(v) > CN_CATALOG_LIST_MAX) {
        cn_json_errf(err, "field \"%s\": expected an object of at most %d strings", name,
                     CN_CATALOG_LIST_MAX);
        return CN_EMALFORMED;
    }
    arr = cn_arena_alloc(a, (json_object_size(v) + 1) * sizeof *arr);
    if (!arr)
        return -ENOMEM;
    json_object_foreach(v, k, x) {
        if (!json_is_string(x)) {
            cn_json_errf(err, "field \"%s\": expected string values", name);
            return CN_EMALFORMED;
        }
        arr[i].key = k;
        arr[i].value = json_string_value(x);
        i++;
    }
    *out = arr;
    *n = (uint32_t)i;
    return 0;
}

static int get_blob(struct cn_arena *a, const json_t *obj, const char *name,
                    const uint8_t **out, size_t *len)
{
    json_t *v = cn_json_get(obj, name);
    struct cn_buf b;
    struct cn_mp_writer w;
    if (!v || !json_is_object(v))
        return 0;
    cn_buf_init(&b, CN_CATALOG_TEXT_BYTES_MAX);
    cn_mp_writer_init(&w, &b);
    if (cn__json_to_mp(v, &w, 0) < 0 || w.err) {
        cn_buf_close(&b);
        return CN_EMALFORMED;
    }
    uint8_t *p = cn_arena_alloc(a, b.len ? b.len : 1);
    if (!p) {
        cn_buf_close(&b);
        return -ENOMEM;
    }
    memcpy(p, b.data, b.len);
    *out = p;
    *len = b.len;
    cn_buf_close(&b);
    return 0;
}

static int get_svc_addrs(struct cn_arena *a, const json_t *obj, struct cn_service *svc,
                         char *err)
{
    json_t *v = cn_json_get(obj, "TaggedAddresses"), *x;
    struct cn_svc_addr *arr;
    const char *k;
    size_t i = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v) || json_object_size(v) > CN_CATALOG_LIST_MAX) {
        cn_json_errf(err, "field \"TaggedAddresses\": expected an object");
        return CN_EMALFORMED;
    }
    arr = cn_arena_alloc(a, (json_object_size(v) + 1) * sizeof *arr);
    if (!arr)
        return -ENOMEM;
    json_object_foreach(v, k, x) {
        uint64_t port = 0;
        const char *addr = "";
        if (!json_is_object(x) || cn_json_get_str(x, "Address", &addr, NULL, err) < 0 ||
            cn_json_get_u64(x, "Port", &port, err) < 0 || port > 65535) {
            cn_json_errf(err, "field \"TaggedAddresses\": expected {\"Address\",\"Port\"}");
            return CN_EMALFORMED;
        }
        arr[i].name = k;
        arr[i].address = addr;
        arr[i].port = (uint32_t)port;
        i++;
    }
    svc->tagged_addresses = arr;
    svc->n_tagged_addresses = (uint32_t)i;
    return 0;
}

static int get_weights(const json_t *obj, struct cn_service *svc, char *err)
{
    json_t *w = cn_json_get(obj, "Weights");
    uint64_t p = 1, wa = 1;
    if (!w || json_is_null(w))
        return 0;
    if (!json_is_object(w) || cn_json_get_u64(w, "Passing", &p, err) < 0 ||
        cn_json_get_u64(w, "Warning", &wa, err) < 0) {
        cn_json_errf(err, "field \"Weights\": expected {\"Passing\",\"Warning\"}");
        return CN_EMALFORMED;
    }
    if (p < 1 || p > 65535 || wa > 65535) {
        snprintf(err, CN_JSON_ERR_BYTES, "Invalid Weights: Passing must be greater than 0");
        return CN_EBADREQ;
    }
    svc->weight_passing = (uint32_t)p;
    svc->weight_warning = (uint32_t)wa;
    return 0;
}

int cn__api_decode_service(struct cn_arena *a, const json_t *obj, bool agent_form,
                           struct cn_service *svc, char *err)
{
    uint64_t port = 0;
    bool eto = false;
    int rc;
    memset(svc, 0, sizeof *svc);
    if (!json_is_object(obj)) {
        cn_json_errf(err, "Service: expected an object");
        return CN_EMALFORMED;
    }
    if (cn_json_get_str(obj, "ID", &svc->id, NULL, err) < 0 ||
        cn_json_get_str(obj, agent_form ? "Name" : "Service", &svc->name, NULL, err) < 0 ||
        cn_json_get_str(obj, "Kind", &svc->kind, NULL, err) < 0 ||
        cn_json_get_str(obj, "Address", &svc->address, NULL, err) < 0 ||
        cn_json_get_u64(obj, "Port", &port, err) < 0 ||
        cn_json_get_bool(obj, "EnableTagOverride", &eto, err) < 0)
        return CN_EMALFORMED;
    if (port > 65535) {
        cn_json_errf(err, "field \"Port\": out of range");
        return CN_EMALFORMED;
    }
    svc->port = (uint32_t)port;
    svc->enable_tag_override = eto;
    if ((rc = cn__api_get_strs(a, obj, "Tags", &svc->tags, &svc->n_tags, err)) < 0 ||
        (rc = cn__api_get_pairs(a, obj, "Meta", &svc->meta, &svc->n_meta, err)) < 0 ||
        (rc = get_svc_addrs(a, obj, svc, err)) < 0 || (rc = get_weights(obj, svc, err)) < 0)
        return rc;
    if (get_blob(a, obj, "Proxy", &svc->proxy, &svc->proxy_len) < 0 ||
        get_blob(a, obj, "Connect", &svc->connect, &svc->connect_len) < 0) {
        cn_json_errf(err, "field \"Proxy\"/\"Connect\": too large");
        return CN_EMALFORMED;
    }
    return 0;
}

int cn__api_decode_check(struct cn_arena *a, const json_t *obj, struct cn_check *c, char *err)
{
    const char *status = NULL;
    memset(c, 0, sizeof *c);
    if (!json_is_object(obj)) {
        cn_json_errf(err, "Check: expected an object");
        return CN_EMALFORMED;
    }
    if (cn_json_get_str(obj, "Node", &c->node, NULL, err) < 0 ||
        cn_json_get_str(obj, "CheckID", &c->id, NULL, err) < 0 ||
        cn_json_get_str(obj, "Name", &c->name, NULL, err) < 0 ||
        cn_json_get_str(obj, "Status", &status, NULL, err) < 0 ||
        cn_json_get_str(obj, "Notes", &c->notes, NULL, err) < 0 ||
        cn_json_get_str(obj, "Output", &c->output, NULL, err) < 0 ||
        cn_json_get_str(obj, "ServiceID", &c->service_id, NULL, err) < 0 ||
        cn_json_get_str(obj, "Type", &c->type, NULL, err) < 0 ||
        cn_json_get_str(obj, "Interval", &c->interval, NULL, err) < 0 ||
        cn_json_get_str(obj, "Timeout", &c->timeout, NULL, err) < 0)
        return CN_EMALFORMED;
    if (!c->id)
        cn_json_get_str(obj, "ID", &c->id, NULL, err);
    if (status && *status) {
        enum cn_health h;
        if (cn_state_health_parse(status, &h) < 0 || h == 0) {
            snprintf(err, CN_JSON_ERR_BYTES, "Invalid check status: '%.40s'", status);
            return CN_EBADREQ;
        }
        c->status = h;
    }
    if (get_blob(a, obj, "Definition", &c->definition, &c->definition_len) < 0) {
        cn_json_errf(err, "field \"Definition\": too large");
        return CN_EMALFORMED;
    }
    return 0;
}

int cn__api_decode_node(struct cn_arena *a, const json_t *obj, struct cn_node *n, char *err)
{
    int rc;
    memset(n, 0, sizeof *n);
    if (cn_json_get_str(obj, "ID", &n->id, NULL, err) < 0 ||
        cn_json_get_str(obj, "Node", &n->name, NULL, err) < 0 ||
        cn_json_get_str(obj, "Address", &n->address, NULL, err) < 0 ||
        cn_json_get_str(obj, "Datacenter", &n->datacenter, NULL, err) < 0)
        return CN_EMALFORMED;
    if ((rc = cn__api_get_pairs(a, obj, "TaggedAddresses", &n->tagged_addresses,
                                &n->n_tagged_addresses, err)) < 0)
        return rc;
    rc = cn__api_get_pairs(a, obj, "NodeMeta", &n->meta, &n->n_meta, err);
    if (rc == 1)
        rc = cn__api_get_pairs(a, obj, "Meta", &n->meta, &n->n_meta, err);
    return rc < 0 ? rc : 0;
}

/* ---- PUT /v1/catalog/register, /v1/catalog/deregister ---- */

static int decode_register(struct cn_http_req *req, const json_t *root, struct cn_register *r,
                           struct cn_service *svc, char *err)
{
    json_t *sv = cn_json_get(root, "Service"), *chk = cn_json_get(root, "Check");
    json_t *chks = cn_json_get(root, "Checks");
    size_t n = (chk && json_is_object(chk) ? 1 : 0) + (json_is_array(chks) ? json_array_size(chks) : 0);
    struct cn_check *checks;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = cn__api_decode_node(&req->arena, root, &r->node, err)) < 0 ||
        cn_json_get_bool(root, "SkipNodeUpdate", &r->skip_node_update, err) < 0)
        return CN_EMALFORMED;
    if (!r->node.datacenter || !*r->node.datacenter) {
        /* Consul fills in the datacenter the request is for. */
        const struct cn_http_param *dc = cn_http_param(req, "dc");
        const struct cn_agent *ag = req->app;
        r->node.datacenter = dc && dc->value[0] ? dc->value : ag->cfg.datacenter;
    }
    if (sv && !json_is_null(sv)) {
        if ((rc = cn__api_decode_service(&req->arena, sv, false, svc, err)) < 0)
            return rc;
        r->service = svc;
    }
    if (n > CN_REGISTER_CHECKS_MAX) {
        cn_json_errf(err, "too many checks");
        return CN_EMALFORMED;
    }
    checks = cn_arena_alloc(&req->arena, (n + 1) * sizeof *checks);
    if (!checks)
        return -ENOMEM;
    if (chk && json_is_object(chk) && (rc = cn__api_decode_check(&req->arena, chk, &checks[r->n_checks++], err)) < 0)
        return rc;
    for (size_t i = 0; json_is_array(chks) && i < json_array_size(chks); i++)
        if ((rc = cn__api_decode_check(&req->arena, json_array_get(chks, i),
                                       &checks[r->n_checks++], err)) < 0)
            return rc;
    r->checks = checks;
    return 0;
}

static int validate_register(const struct cn_register *r, char *err)
{
    /* Consul's Catalog.Register checks (500 from the server). */
    if (!r->node.name || !*r->node.name || !r->node.address || !*r->node.address) {
        snprintf(err, CN_JSON_ERR_BYTES, "Must provide node and address");
        return 500;
    }
    if (r->service && (!r->service->name || !*r->service->name)) {
        snprintf(err, CN_JSON_ERR_BYTES, "Must provide service name with ID");
        return 500;
    }
    if (cn__api_meta_validate(r->node.meta, r->node.n_meta, false, err, CN_JSON_ERR_BYTES) < 0)
        return 500;
    if (r->service &&
        cn__api_meta_validate(r->service->meta, r->service->n_meta, false, err,
                              CN_JSON_ERR_BYTES) < 0)
        return 500;
    return 0;
}

void cn__api_catalog_register(struct cn_http_req *req)
{
    char err[CN_JSON_ERR_BYTES];
    struct cn_register r;
    struct cn_service svc;
    struct cn_rpc_call *call;
    json_t *root;
    int rc, status;

    if (cn_json_parse(req->body, req->body_len, &root, err) < 0) {
        cn_http_error(req, 400, "%s", err);
        return;
    }
    rc = json_is_object(root) ? decode_register(req, root, &r, &svc, err) : CN_EMALFORMED;
    if (rc < 0) {
        json_decref(root);
        if (rc == -ENOMEM)
            cn_http_fail(req, rc, NULL);
        else
            cn_http_error(req, 400, "%s", json_is_object(root) || rc != CN_EMALFORMED ? err : "Request decode failed: expected an object");
        return;
    }
    if ((status = validate_register(&r, err)) != 0) {
        json_decref(root);
        cn_http_error(req, status, "%s", err);
        return;
    }
    call = cn__api_call_new(req, CN_RPC_CATALOG_REGISTER, cn__api_write_done);
    rc = call ? cn_state_cmd_register(&call->args, &r, 0) : -ENOMEM;
    json_decref(root);
    if (rc < 0) {
        if (call)
            cn_rpc_call_close(call);
        cn_http_fail(req, rc, rc == CN_EMALFORMED ? "Invalid registration (a field is too long or has a NUL byte)" : NULL);
        return;
    }
    cn__api_call_start(req, call);
}

void cn__api_catalog_deregister(struct cn_http_req *req)
{
    char err[CN_JSON_ERR_BYTES];
    struct cn_deregister d = {0};
    struct cn_rpc_call *call;
    json_t *root;
    int rc;
    if (cn_json_parse(req->body, req->body_len, &root, err) < 0) {
        cn_http_error(req, 400, "%s", err);
        return;
    }
    if (cn_json_get_str(root, "Node", &d.node, NULL, err) < 0 ||
        cn_json_get_str(root, "ServiceID", &d.service_id, NULL, err) < 0 ||
        cn_json_get_str(root, "CheckID", &d.check_id, NULL, err) < 0) {
        json_decref(root);
        cn_http_error(req, 400, "%s", err);
        return;
    }
    if (!d.node || !*d.node) {
        json_decref(root);
        cn_http_error(req, 500, "Must provide node");
        return;
    }
    call = cn__api_call_new(req, CN_RPC_CATALOG_DEREGISTER, cn__api_write_done);
    rc = call ? cn_state_cmd_deregister(&call->args, &d, 0) : -ENOMEM;
    json_decref(root);
    if (rc < 0) {
        if (call)
            cn_rpc_call_close(call);
        cn_http_fail(req, rc, NULL);
        return;
    }
    cn__api_call_start(req, call);
}

/* ---- reads ---- */

void cn__api_catalog_datacenters(struct cn_http_req *req)
{
    cn__api_status_call(req, CN_RPC_CATALOG_DATACENTERS);
}

static void list_done(struct cn_http_req *req, struct cn_rpc_call *call, enum cn__elem kind)
{
    struct cn_filter *f = NULL;
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    if (cn__api_filter(req, &f) < 0)
        return;
    cn__api_send_list(req, call, f, kind);
    cn_filter_free(f);
}

static void nodes_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    list_done(req, call, CN__ELEM_NODE);
}

static void service_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    list_done(req, call, CN__ELEM_SERVICE_NODE);
}

static bool filter_ok(struct cn_http_req *req)
{
    struct cn_filter *f;
    if (cn__api_filter(req, &f) < 0)
        return false; /* Refused before any blocking. */
    cn_filter_free(f);
    return true;
}

void cn__api_catalog_nodes(struct cn_http_req *req)
{
    const char *meta[2 * CN_RPC_CAT_META_MAX];
    size_t nm = cn__api_node_meta(req, meta, CN_RPC_CAT_META_MAX);
    if (filter_ok(req))
        cn__api_cat_read(req, CN_RPC_CATALOG_NODES, "", NULL, 0, meta, nm, false, nodes_done);
}

void cn__api_catalog_service(struct cn_http_req *req)
{
    const char *tags[CN_RPC_CAT_TAGS_MAX], *meta[2 * CN_RPC_CAT_META_MAX];
    const char *name = cn__api_suffix(req, "Missing service name");
    size_t nt, nm;
    if (!name || !filter_ok(req))
        return;
    nt = cn__api_params(req, "tag", tags, CN_RPC_CAT_TAGS_MAX);
    nm = cn__api_node_meta(req, meta, CN_RPC_CAT_META_MAX);
    cn__api_cat_read(req, CN_RPC_CATALOG_SERVICE, name, tags, nt, meta, nm, false, service_done);
}

/* /v1/catalog/services from every instance (with ?filter or ?node-meta):
 * name -> union of tags in first-seen order, names sorted bytewise. */
struct svc_agg {
    const uint8_t *name;
    uint32_t name_len;
    json_t *tags;
};

static int agg_cmp(const void *a, const void *b)
{
    const struct svc_agg *x = a, *y = b;
    return cn_bytes_cmp(x->name, x->name_len, y->name, y->name_len);
}

static int agg_add(struct svc_agg *agg, size_t *n, json_t *elem)
{
    json_t *name = json_object_get(elem, "ServiceName"), *tags = json_object_get(elem, "ServiceTags");
    json_t *t;
    size_t i, k;
    const char *s = json_string_value(name);
    size_t sl = json_string_length(name);
    if (!s)
        return 0;
    for (i = 0; i < *n; i++)
        if (agg[i].name_len == sl && memcmp(agg[i].name, s, sl) == 0)
            break;
    if (i == *n) {
        agg[i].name = (const uint8_t *)s;
        agg[i].name_len = (uint32_t)sl;
        agg[i].tags = json_array();
        (*n)++;
    }
    json_array_foreach(tags, k, t) {
        bool seen = false;
        size_t j;
        json_t *u;
        json_array_foreach(agg[i].tags, j, u)
            seen = seen || json_equal(u, t);
        if (!seen)
            json_array_append(agg[i].tags, t);
    }
    return 0;
}

static void services_list_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_filter *f = NULL;
    struct cn_mp_reader r;
    struct cn_json_enc e;
    struct svc_agg *agg;
    json_t *keep;
    char err[CN_ERRMSG_MAX];
    uint32_t n;
    size_t na = 0;
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    if (cn__api_filter(req, &f) < 0)
        return;
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_array(&r, &n) < 0 || !(keep = json_array())) {
        cn_filter_free(f);
        cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
        return;
    }
    agg = cn_calloc(n + 1, sizeof *agg);
    for (uint32_t i = 0; agg && i < n; i++) {
        json_t *elem = cn__mp_to_jansson(&r, 0);
        bool m = true;
        if (!elem)
            break;
        cn__filter_shape(elem, CN__ELEM_SERVICE_NODE);
        if (f && cn_filter_match(f, elem, &m, err) < 0) {
            json_decref(elem);
            cn_free(agg);
            json_decref(keep);
            cn_filter_free(f);
            cn_http_error(req, 500, "%s", err);
            return;
        }
        if (m)
            agg_add(agg, &na, elem);
        json_array_append_new(keep, elem); /* agg borrows its name. */
    }
    cn_filter_free(f);
    if (!agg) {
        json_decref(keep);
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    qsort(agg, na, sizeof *agg, agg_cmp);
    cn__api_json_init(req, &e);
    cn_json_obj_begin(&e);
    for (size_t i = 0; i < na; i++) {
        char key[CN_CATALOG_STR_BYTES_MAX + 1];
        snprintf(key, sizeof key, "%.*s", (int)agg[i].name_len, (const char *)agg[i].name);
        cn_json_key(&e, key);
        cn_json_value(&e, agg[i].tags);
        json_decref(agg[i].tags);
    }
    cn_json_obj_end(&e);
    cn_free(agg);
    json_decref(keep);
    cn__api_json_send(req, &e, 200);
}

static void services_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    struct cn_json_enc e;
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    cn__api_json_init(req, &e);
    if (cn__mp_to_json(&r, &e, 0) < 0) {
        cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
        return;
    }
    cn__api_json_send(req, &e, 200);
}

void cn__api_catalog_services(struct cn_http_req *req)
{
    const char *meta[2 * CN_RPC_CAT_META_MAX];
    size_t nm = cn__api_node_meta(req, meta, CN_RPC_CAT_META_MAX);
    const struct cn_http_param *fp = cn_http_param(req, "filter");
    if (!filter_ok(req))
        return;
    if (nm || (fp && fp->value_len))
        cn__api_cat_read(req, CN_RPC_CATALOG_SERVICE, "", NULL, 0, meta, nm, false,
                         services_list_done);
    else
        cn__api_cat_read(req, CN_RPC_CATALOG_SERVICES, "", NULL, 0, NULL, 0, false,
                         services_done);
}

/* {Node, Services: [...]} | nil -> map form (node/:n) or list form. */
static void node_reply(struct cn_http_req *req, struct cn_rpc_call *call, bool list_form)
{
    struct cn_filter *f = NULL;
    struct cn_mp_reader r;
    struct cn_json_enc e;
    char err[CN_ERRMSG_MAX];
    uint32_t n, ns;
    const uint8_t *k;
    uint32_t kl;
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    if (cn__api_filter(req, &f) < 0)
        return;
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    cn__api_json_init(req, &e);
    if (cn_mp_read_nil(&r) == 0) {
        cn_filter_free(f);
        cn_json_null(&e); /* Unknown node: 200 null (consul-compat 10.4). */
        cn__api_json_send(req, &e, 200);
        return;
    }
    if (cn_mp_read_map(&r, &n) < 0 || n != 2 || cn_mp_read_str(&r, &k, &kl) < 0)
        goto bad;
    cn_json_obj_begin(&e);
    cn_json_key(&e, "Node");
    if (cn__mp_to_json(&r, &e, 0) < 0 || cn_mp_read_str(&r, &k, &kl) < 0 ||
        cn_mp_read_array(&r, &ns) < 0)
        goto bad;
    cn_json_key(&e, "Services");
    list_form ? cn_json_arr_begin(&e) : cn_json_obj_begin(&e);
    for (uint32_t i = 0; i < ns; i++) {
        int m = cn__filter_mp(f, &r, CN__ELEM_NODE_SERVICE, err);
        if (m < 0) {
            cn_filter_free(f);
            cn_http_error(req, 500, "%s", err);
            return;
        }
        if (m == 0) {
            if (cn_mp_skip(&r) < 0)
                goto bad;
            continue;
        }
        if (!list_form) {
            json_t *svc = cn__mp_to_jansson(&(struct cn_mp_reader){r.p, r.end}, 0);
            const char *id = json_string_value(json_object_get(svc, "ID"));
            cn_json_key(&e, id ? id : "");
            json_decref(svc);
        }
        if (cn__mp_to_json(&r, &e, 0) < 0)
            goto bad;
    }
    list_form ? cn_json_arr_end(&e) : cn_json_obj_end(&e);
    cn_json_obj_end(&e);
    cn_filter_free(f);
    cn__api_json_send(req, &e, 200);
    return;
bad:
    cn_filter_free(f);
    cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
}

static void node_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    node_reply(req, call, false);
}

static void node_services_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    node_reply(req, call, true);
}

void cn__api_catalog_node(struct cn_http_req *req)
{
    const char *name = cn__api_suffix(req, "Missing node name");
    if (name && filter_ok(req))
        cn__api_cat_read(req, CN_RPC_CATALOG_NODE, name, NULL, 0, NULL, 0, false, node_done);
}

void cn__api_catalog_node_services(struct cn_http_req *req)
{
    const char *name = cn__api_suffix(req, "Missing node name");
    if (name && filter_ok(req))
        cn__api_cat_read(req, CN_RPC_CATALOG_NODE, name, NULL, 0, NULL, 0, false,
                         node_services_done);
}
