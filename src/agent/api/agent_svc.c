/* agent/api/agent_svc.c - /v1/agent/ service and check endpoints
 * (consul-compat.md 5.6; Consul's agent/agent_endpoint.go). They read and
 * change the agent's local state (agent/local.h) directly; anti-entropy
 * carries the changes to the catalog. Writes answer an empty 200. */
#include <errno.h>
#include <stdio.h>

#include "agent/local.h"
#include "api_int.h"
#include "wait.h"

/* ---- AgentService JSON and its ContentHash ---- */

static void agent_service_body(struct cn_agent *a, struct cn_json_enc *e,
                               const struct cn__lsvc *s, const char *hash)
{
    const struct cn_service *v = &s->def.svc;
    struct cn_mp_reader r;
    cn_json_obj_begin(e);
    if (v->kind[0])
        cn_json_kv_str(e, "Kind", v->kind);
    cn_json_kv_str(e, "ID", v->id);
    cn_json_kv_str(e, "Service", v->name);
    cn_json_key(e, "Tags");
    cn_json_arr_begin(e);
    for (uint32_t i = 0; i < v->n_tags; i++)
        cn_json_cstr(e, v->tags[i]);
    cn_json_arr_end(e);
    cn_json_key(e, "Meta");
    cn_json_obj_begin(e);
    for (uint32_t i = 0; i < v->n_meta; i++)
        cn_json_kv_str(e, v->meta[i].key, v->meta[i].value);
    cn_json_obj_end(e);
    cn_json_kv_u64(e, "Port", v->port);
    cn_json_kv_str(e, "Address", v->address);
    if (v->n_tagged_addresses) {
        cn_json_key(e, "TaggedAddresses");
        cn_json_obj_begin(e);
        for (uint32_t i = 0; i < v->n_tagged_addresses; i++) {
            cn_json_key(e, v->tagged_addresses[i].name);
            cn_json_obj_begin(e);
            cn_json_kv_str(e, "Address", v->tagged_addresses[i].address);
            cn_json_kv_u64(e, "Port", v->tagged_addresses[i].port);
            cn_json_obj_end(e);
        }
        cn_json_obj_end(e);
    }
    cn_json_key(e, "Weights");
    cn_json_obj_begin(e);
    bool dflt = v->weight_passing == 0 && v->weight_warning == 0;
    cn_json_kv_u64(e, "Passing", dflt ? 1 : v->weight_passing);
    cn_json_kv_u64(e, "Warning", dflt ? 1 : v->weight_warning);
    cn_json_obj_end(e);
    cn_json_kv_bool(e, "EnableTagOverride", v->enable_tag_override);
    if (hash)
        cn_json_kv_str(e, "ContentHash", hash);
    if (v->proxy) {
        cn_json_key(e, "Proxy");
        cn_mp_reader_init(&r, v->proxy, v->proxy_len);
        cn__mp_to_json(&r, e, 0);
    }
    if (v->connect) {
        cn_json_key(e, "Connect");
        cn_mp_reader_init(&r, v->connect, v->connect_len);
        cn__mp_to_json(&r, e, 0);
    }
    cn_json_kv_str(e, "Datacenter", a->cfg.datacenter);
    cn_json_obj_end(e);
}

void cn__local_service_hash(struct cn_agent *a, const struct cn__lsvc *s, char out[17])
{
    struct cn_buf b;
    struct cn_json_enc e;
    cn_buf_init(&b, CN_HTTP_RESP_BYTES_MAX);
    cn_json_enc_init(&e, &b, false);
    agent_service_body(a, &e, s, NULL);
    cn__ae_hash_hex(b.data, b.len, out);
    cn_buf_close(&b);
}

void cn__local_agent_service_json(struct cn_agent *a, struct cn_json_enc *e,
                                  const struct cn__lsvc *s, bool with_hash)
{
    char hash[17];
    if (with_hash)
        cn__local_service_hash(a, s, hash);
    agent_service_body(a, e, s, with_hash ? hash : NULL);
}

/* ---- helpers ---- */

static void unknown_service(struct cn_http_req *req, const char *id)
{
    cn_http_error(req, 404, "Unknown service ID \"%.200s\". Ensure that the service ID is "
                            "passed, not the service name.", id);
}

static void unknown_check(struct cn_http_req *req, const char *id)
{
    cn_http_error(req, 404, "Unknown check ID \"%.200s\". Ensure that the check ID is passed, "
                            "not the check name.", id);
}

static void empty_ok(struct cn_http_req *req)
{
    cn_buf_reset(cn_http_body(req));
    cn_http_finish(req, 200);
}

/* Agent reads carry the meta headers too (consul-compat.md 10.1). */
static void local_meta(struct cn_http_req *req)
{
    struct cn_query_meta m = {.index = 1, .known_leader = true};
    cn__api_meta_headers(req, &m);
}

/* A filter element from an encoder into a scratch buffer. */
static json_t *json_of(const struct cn_buf *b)
{
    return json_loadb((const char *)b->data, b->len, 0, NULL);
}

/* ---- GET /v1/agent/services, /v1/agent/checks ---- */

void cn__api_agent_services(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    struct cn_filter *f;
    struct cn__lsvc **all;
    struct cn_json_enc e;
    char err[CN_ERRMSG_MAX];
    size_t n;
    if (cn__api_filter(req, &f) < 0)
        return;
    if (cn__local_services_sorted(a, &all, &n) < 0) {
        cn_filter_free(f);
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    local_meta(req);
    cn__api_json_init(req, &e);
    cn_json_obj_begin(&e);
    for (size_t i = 0; i < n; i++) {
        if (f) {
            struct cn_buf b;
            struct cn_json_enc fe;
            bool m = false;
            cn_buf_init(&b, CN_HTTP_RESP_BYTES_MAX);
            cn_json_enc_init(&fe, &b, false);
            agent_service_body(a, &fe, all[i], NULL);
            json_t *j = json_of(&b);
            cn_buf_close(&b);
            cn__filter_shape(j, CN__ELEM_AGENT_SERVICE);
            int rc = j ? cn_filter_match(f, j, &m, err) : -ENOMEM;
            json_decref(j);
            if (rc < 0) {
                cn_free(all);
                cn_filter_free(f);
                cn_http_error(req, 500, "%s", rc == -ENOMEM ? "out of memory" : err);
                return;
            }
            if (!m)
                continue;
        }
        cn_json_key(&e, all[i]->id);
        agent_service_body(a, &e, all[i], NULL);
    }
    cn_json_obj_end(&e);
    cn_free(all);
    cn_filter_free(f);
    cn__api_json_send(req, &e, 200);
}

static int check_mp(struct cn_agent *a, const struct cn__lchk *c, struct cn_buf *b)
{
    struct cn_check row;
    struct cn_mp_writer w;
    cn__local_check_row(a, c, &row);
    cn_buf_reset(b);
    cn_mp_writer_init(&w, b);
    cn_state_check_encode(&w, &row);
    return w.err;
}

void cn__api_agent_checks(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    struct cn_filter *f;
    struct cn__lchk **all;
    struct cn_json_enc e;
    struct cn_buf b;
    char err[CN_ERRMSG_MAX];
    size_t n;
    if (cn__api_filter(req, &f) < 0)
        return;
    if (cn__local_checks_sorted(a, &all, &n) < 0) {
        cn_filter_free(f);
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    local_meta(req);
    cn_buf_init(&b, CN_RPC_REPLY_BYTES_MAX);
    cn__api_json_init(req, &e);
    cn_json_obj_begin(&e);
    for (size_t i = 0; i < n; i++) {
        struct cn_mp_reader r;
        if (check_mp(a, all[i], &b) < 0)
            continue;
        cn_mp_reader_init(&r, b.data, b.len);
        int m = cn__filter_mp(f, &r, CN__ELEM_HEALTH_CHECK, err);
        if (m < 0) {
            cn_buf_close(&b);
            cn_free(all);
            cn_filter_free(f);
            cn_http_error(req, 500, "%s", err);
            return;
        }
        if (m == 0)
            continue;
        cn_json_key(&e, all[i]->id);
        cn__mp_to_json(&r, &e, 0);
    }
    cn_json_obj_end(&e);
    cn_buf_close(&b);
    cn_free(all);
    cn_filter_free(f);
    cn__api_json_send(req, &e, 200);
}

/* ---- GET /v1/agent/service/:id (hash-based blocking) ---- */

struct svc_wait {
    char id[CN_CATALOG_STR_BYTES_MAX + 1];
    char hash[17];
};

static void send_service(struct cn_http_req *req, const char *id)
{
    struct cn_agent *a = req->app;
    struct cn__lsvc *s = cn__local_service(a, id);
    struct cn_json_enc e;
    char hash[17];
    if (!s) {
        unknown_service(req, id);
        return;
    }
    cn__local_service_hash(a, s, hash);
    cn_http_set_header(req, "X-Consul-ContentHash", hash);
    cn__api_json_init(req, &e);
    agent_service_body(a, &e, s, hash);
    cn__api_json_send(req, &e, 200);
}

static bool service_wait(struct cn_http_req *req, void *arg, bool timed_out, bool probe)
{
    struct svc_wait *w = arg;
    struct cn_agent *a = req->app;
    (void)timed_out;
    if (probe) {
        struct cn__lsvc *s = cn__local_service(a, w->id);
        char hash[17];
        if (!s)
            return true;
        cn__local_service_hash(a, s, hash);
        return strcmp(hash, w->hash) != 0;
    }
    send_service(req, w->id);
    return true;
}

void cn__api_agent_service(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    const char *id = cn__api_suffix(req, "Missing service ID");
    const struct cn_http_param *hp = cn_http_param(req, "hash");
    struct cn_query_opts q;
    struct cn__lsvc *s;
    struct svc_wait *w;
    char hash[17];
    if (!id || cn__api_query_opts(req, &q) < 0)
        return;
    s = cn__local_service(a, id);
    if (!s || !hp || !hp->value_len) {
        send_service(req, id);
        return;
    }
    cn__local_service_hash(a, s, hash);
    w = cn_arena_alloc(&req->arena, sizeof *w);
    if (strcmp(hash, hp->value) != 0 || !w || strlen(id) >= sizeof w->id) {
        send_service(req, id);
        return;
    }
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->hash, sizeof w->hash, "%s", hash);
    if (cn__wait_park(req, q.wait_ms, service_wait, w) < 0)
        send_service(req, id);
}

/* ---- registration ---- */

static bool flag_value(struct cn_http_req *req, const char *name)
{
    const struct cn_http_param *p = cn_http_param(req, name);
    if (!p)
        return false;
    return !p->value_len || strcmp(p->value, "true") == 0 || strcmp(p->value, "1") == 0;
}

static json_t *body_json(struct cn_http_req *req)
{
    char err[CN_JSON_ERR_BYTES];
    json_t *root;
    if (cn_json_parse(req->body, req->body_len, &root, err) < 0) {
        cn_http_error(req, 400, "%s", err);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        cn_http_error(req, 400, "Request decode failed: expected an object");
        return NULL;
    }
    return root;
}

void cn__api_agent_service_register(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    char err[CN_ERRMSG_MAX];
    int status;
    json_t *root = body_json(req);
    if (!root)
        return;
    int rc = cn__local_add_service(a, root, CN_CHECK_SOURCE_REMOTE,
                                   flag_value(req, "replace-existing-checks"), true, err, &status);
    json_decref(root);
    if (rc < 0) {
        cn_http_error(req, status, "%s", err);
        return;
    }
    empty_ok(req);
}

void cn__api_agent_service_deregister(struct cn_http_req *req)
{
    const char *id = cn__api_suffix(req, "Missing service ID");
    if (!id)
        return;
    if (cn__local_remove_service(req->app, id, true) < 0)
        unknown_service(req, id);
    else
        empty_ok(req);
}

/* ?enable (required) and ?reason for both maintenance endpoints. */
static int maint_params(struct cn_http_req *req, bool *enable, const char **reason)
{
    const struct cn_http_param *p = cn_http_param(req, "enable");
    const struct cn_http_param *r = cn_http_param(req, "reason");
    if (!p) {
        cn_http_error(req, 400, "Missing value for enable");
        return CN_EBADREQ;
    }
    /* Go's strconv.ParseBool. */
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    int v = -1;
    for (size_t i = 0; i < CN_ARRAY_LEN(yes) && v < 0; i++)
        v = strcmp(p->value, yes[i]) == 0 ? 1 : strcmp(p->value, no[i]) == 0 ? 0 : -1;
    if (v >= 0)
        *enable = v == 1;
    else {
        cn_http_error(req, 400, "Invalid value for enable: \"%.64s\"", p->value);
        return CN_EBADREQ;
    }
    *reason = r ? r->value : "";
    return 0;
}

void cn__api_agent_service_maintenance(struct cn_http_req *req)
{
    const char *id = cn__api_suffix(req, "Missing service ID"), *reason;
    bool enable;
    if (!id || maint_params(req, &enable, &reason) < 0)
        return;
    int rc = cn__local_service_maint(req->app, id, enable, reason);
    if (rc == CN_ENOTFOUND)
        unknown_service(req, id);
    else if (rc < 0)
        cn_http_fail(req, rc, NULL);
    else
        empty_ok(req);
}

void cn__api_agent_maintenance(struct cn_http_req *req)
{
    const char *reason;
    bool enable;
    if (maint_params(req, &enable, &reason) < 0)
        return;
    int rc = cn__local_node_maint(req->app, enable, reason);
    if (rc < 0)
        cn_http_fail(req, rc, NULL);
    else
        empty_ok(req);
}

void cn__api_agent_check_register(struct cn_http_req *req)
{
    char err[CN_ERRMSG_MAX];
    int status;
    json_t *root = body_json(req);
    if (!root)
        return;
    int rc = cn__local_add_check(req->app, root, CN_CHECK_SOURCE_REMOTE, true, err, &status);
    json_decref(root);
    if (rc < 0)
        cn_http_error(req, status, "%s", err);
    else
        empty_ok(req);
}

void cn__api_agent_check_deregister(struct cn_http_req *req)
{
    const char *id = cn__api_suffix(req, "Missing check ID");
    if (!id)
        return;
    if (cn__local_remove_check(req->app, id, true) < 0)
        unknown_check(req, id);
    else
        empty_ok(req);
}

static void ttl_update(struct cn_http_req *req, const char *id, enum cn_check_status st,
                       const char *output)
{
    int rc = cn__local_ttl_update(req->app, id, st, output, strlen(output));
    if (rc == CN_ENOTFOUND)
        unknown_check(req, id);
    else if (rc == CN_ESTATE)
        cn_http_error(req, 500, "CheckID \"%.200s\" does not have associated TTL", id);
    else if (rc < 0)
        cn_http_fail(req, rc, NULL);
    else
        empty_ok(req);
}

static void ttl_verb(struct cn_http_req *req, enum cn_check_status st)
{
    const char *id = cn__api_suffix(req, "Missing check ID");
    const struct cn_http_param *note = cn_http_param(req, "note");
    if (id)
        ttl_update(req, id, st, note ? note->value : "");
}

void cn__api_agent_check_pass(struct cn_http_req *req) { ttl_verb(req, CN_CHECK_PASSING); }
void cn__api_agent_check_warn(struct cn_http_req *req) { ttl_verb(req, CN_CHECK_WARNING); }
void cn__api_agent_check_fail(struct cn_http_req *req) { ttl_verb(req, CN_CHECK_CRITICAL); }

void cn__api_agent_check_update(struct cn_http_req *req)
{
    const char *id = cn__api_suffix(req, "Missing check ID"), *status = NULL, *output = NULL;
    char err[CN_JSON_ERR_BYTES];
    enum cn_check_status st;
    json_t *root;
    if (!id || !(root = body_json(req)))
        return;
    if (cn_json_get_str(root, "Status", &status, NULL, err) < 0 ||
        cn_json_get_str(root, "Output", &output, NULL, err) < 0) {
        json_decref(root);
        cn_http_error(req, 400, "%s", err);
        return;
    }
    if (!status || cn_check_status_parse(status, strlen(status), &st) < 0) {
        cn_http_error(req, 400, "Invalid check status: '%.64s'", status ? status : "");
        json_decref(root);
        return;
    }
    char *out = cn_arena_strndup(&req->arena, output ? output : "", output ? strlen(output) : 0);
    json_decref(root);
    if (!out) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    ttl_update(req, id, st, out);
}

/* ---- GET /v1/agent/health/service/id/:id and name/:name ---- */

static int health_code(enum cn_health h)
{
    return h == CN_HEALTH_PASSING ? 200 : h == CN_HEALTH_WARNING ? 429 : 503;
}

static bool want_text(struct cn_http_req *req)
{
    const struct cn_http_param *f = cn_http_param(req, "format");
    const char *acc = cn_http_header(req, "accept");
    return (f && strcmp(f->value, "text") == 0) || (acc && strcmp(acc, "text/plain") == 0);
}

static void send_text(struct cn_http_req *req, int code, const char *text)
{
    struct cn_buf *b = cn_http_body(req);
    cn_buf_reset(b);
    cn_buf_puts(b, text);
    cn_http_set_header(req, "Content-Type", "text/plain");
    cn_http_finish(req, code);
}

static void service_checks_info(struct cn_agent *a, struct cn_json_enc *e, struct cn__lsvc *s,
                                struct cn_buf *scratch)
{
    enum cn_health h = cn__local_service_health(a, s);
    struct cn__lchk *maint = cn__local_check(a, CN_NODE_MAINT_CHECK_ID);
    cn_json_obj_begin(e);
    cn_json_kv_str(e, "AggregatedStatus", cn_state_health_name(h));
    cn_json_key(e, "Service");
    agent_service_body(a, e, s, NULL);
    cn_json_key(e, "Checks");
    cn_json_arr_begin(e);
    for (struct cn__lchk *c = maint; c; c = NULL) {
        struct cn_mp_reader r;
        if (check_mp(a, c, scratch) == 0) {
            cn_mp_reader_init(&r, scratch->data, scratch->len);
            cn__mp_to_json(&r, e, 0);
        }
    }
    for (struct cn__lchk *c = s->checks; c; c = c->svc_next) {
        struct cn_mp_reader r;
        if (check_mp(a, c, scratch) < 0)
            continue;
        cn_mp_reader_init(&r, scratch->data, scratch->len);
        cn__mp_to_json(&r, e, 0);
    }
    cn_json_arr_end(e);
    cn_json_obj_end(e);
}

void cn__api_agent_health_id(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    const char *id = cn__api_suffix(req, "Missing service ID");
    struct cn__lsvc *s;
    struct cn_json_enc e;
    struct cn_buf scratch;
    char reason[CN_CATALOG_STR_BYTES_MAX + 64];
    if (!id)
        return;
    s = cn__local_service(a, id);
    if (!s) {
        snprintf(reason, sizeof reason, "ServiceId %s not found", id);
        if (want_text(req)) {
            send_text(req, 404, reason);
            return;
        }
        cn__api_json_init(req, &e);
        static const char none[] =
            "{\"AggregatedStatus\":\"critical\",\"Service\":null,\"Checks\":null}";
        cn_json_raw(&e, none, sizeof none - 1);
        cn__api_json_send(req, &e, 404);
        return;
    }
    enum cn_health h = cn__local_service_health(a, s);
    if (want_text(req)) {
        send_text(req, health_code(h), cn_state_health_name(h));
        return;
    }
    cn_buf_init(&scratch, CN_RPC_REPLY_BYTES_MAX);
    cn__api_json_init(req, &e);
    service_checks_info(a, &e, s, &scratch);
    cn_buf_close(&scratch);
    cn__api_json_send(req, &e, health_code(h));
}

void cn__api_agent_health_name(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    const char *name = cn__api_suffix(req, "Missing service name");
    struct cn__lsvc **all;
    struct cn_json_enc e;
    struct cn_buf scratch;
    enum cn_health worst = CN_HEALTH_PASSING;
    size_t n, found = 0;
    char reason[CN_CATALOG_STR_BYTES_MAX + 64];
    if (!name)
        return;
    if (cn__local_services_sorted(a, &all, &n) < 0) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    cn_buf_init(&scratch, CN_RPC_REPLY_BYTES_MAX);
    cn__api_json_init(req, &e);
    cn_json_arr_begin(&e);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i]->def.svc.name, name) != 0)
            continue;
        enum cn_health h = cn__local_service_health(a, all[i]);
        worst = h > worst ? h : worst;
        found++;
        service_checks_info(a, &e, all[i], &scratch);
    }
    cn_json_arr_end(&e);
    cn_buf_close(&scratch);
    cn_free(all);
    if (!found) {
        snprintf(reason, sizeof reason, "ServiceName %s Not Found", name);
        if (want_text(req)) {
            send_text(req, 404, reason);
            return;
        }
        cn__api_json_send(req, &e, 404);
        return;
    }
    if (want_text(req)) {
        send_text(req, health_code(worst), cn_state_health_name(worst));
        return;
    }
    cn__api_json_send(req, &e, health_code(worst));
}

/* ---- PUT /v1/agent/reload ---- */

void cn__api_agent_reload(struct cn_http_req *req)
{
    char err[CN_ERRMSG_MAX];
    if (cn__agent_reload(req->app, err) < 0)
        cn_http_error(req, 500, "Failed to reload configs: %s", err);
    else
        empty_ok(req);
}
