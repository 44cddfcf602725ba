/* agent/api/session.c - /v1/session/... (consul-compat.md 5.3; Consul's
 * agent/session_endpoint.go, structs.Session). */
#include <errno.h>
#include <stdio.h>

#include "api_int.h"

/* Consul's lockDelayMinThreshold: smaller LockDelay values are seconds. */
#define LOCK_DELAY_SECONDS_BELOW 1000

static int decode_checks(struct cn_http_req *req, const json_t *root, struct cn_session *s,
                         char *err)
{
    json_t *sc = cn_json_get(root, "ServiceChecks"), *x;
    const char **ids;
    size_t i;
    int rc = cn__api_get_strs(&req->arena, root, "NodeChecks", &s->node_checks,
                              &s->n_node_checks, err);
    if (rc == 1) /* Deprecated spelling. */
        rc = cn__api_get_strs(&req->arena, root, "Checks", &s->node_checks,
                              &s->n_node_checks, err);
    if (rc < 0)
        return rc;
    /* Present at all (even []) replaces the default serfHealth. */
    if (rc == 1 && !cn_json_get(root, "ServiceChecks")) {
        static const char *const dflt[] = {"serfHealth"};
        s->node_checks = dflt;
        s->n_node_checks = 1;
    }
    if (!sc || json_is_null(sc))
        return 0;
    if (!json_is_array(sc) || json_array_size(sc) > CN_CATALOG_LIST_MAX) {
        cn_json_errf(err, "field \"ServiceChecks\": expected an array");
        return CN_EMALFORMED;
    }
    ids = cn_arena_alloc(&req->arena, (json_array_size(sc) + 1) * sizeof *ids);
    if (!ids)
        return -ENOMEM;
    json_array_foreach(sc, i, x) {
        ids[i] = NULL;
        if (cn_json_get_str(x, "ID", &ids[i], NULL, err) < 0 || !ids[i]) {
            cn_json_errf(err, "field \"ServiceChecks\": expected [{\"ID\": ...}]");
            return CN_EMALFORMED;
        }
    }
    s->service_checks = ids;
    s->n_service_checks = (uint32_t)json_array_size(sc);
    return 0;
}

static int decode_session(struct cn_http_req *req, const json_t *root, struct cn_session *s,
                          char *err)
{
    const char *behavior = NULL;
    int64_t delay = 15ll * 1000000000;
    json_t *ttl = cn_json_get(root, "TTL");
    int rc;
    if (cn_json_get_str(root, "Node", &s->node, NULL, err) < 0 ||
        cn_json_get_str(root, "Name", &s->name, NULL, err) < 0 ||
        cn_json_get_str(root, "Behavior", &behavior, NULL, err) < 0 ||
        cn_json_get_duration(root, "LockDelay", &delay, err) < 0)
        return CN_EMALFORMED;
    if (delay < 0)
        delay = 0;
    if (delay != 0 && delay < LOCK_DELAY_SECONDS_BELOW)
        delay *= 1000000000;
    s->lock_delay_ns = (uint64_t)delay;
    if (ttl && json_is_string(ttl)) {
        s->ttl = json_string_value(ttl);
    } else if (ttl && !json_is_null(ttl)) {
        cn_json_errf(err, "field \"TTL\": expected a duration string");
        return CN_EMALFORMED;
    }
    if ((rc = decode_checks(req, root, s, err)) < 0)
        return rc;
    s->behavior = CN_SESSION_RELEASE;
    if (behavior && strcmp(behavior, "delete") == 0) {
        s->behavior = CN_SESSION_DELETE;
    } else if (behavior && *behavior && strcmp(behavior, "release") != 0) {
        snprintf(err, CN_JSON_ERR_BYTES, "Invalid Behavior setting '%.64s'", behavior);
        return CN_ECONFLICT; /* Marker: a 500, as Consul's server error. */
    }
    return 0;
}

static void create_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    struct cn_json_enc e;
    const uint8_t *msg;
    uint32_t msg_len;
    bool ok;
    if (cn__api_call_failed(req, call))
        return;
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_bool(&r, &ok) == 0 && ok) {
        struct cn_mp_reader a;
        uint32_t n;
        const uint8_t *id;
        uint32_t idl;
        /* The command is [id, ...] after its type byte. */
        cn_mp_reader_init(&a, call->args.data + 1, call->args.len - 1);
        if (cn_mp_read_array(&a, &n) < 0 || cn_mp_read_str(&a, &id, &idl) < 0) {
            cn_http_fail(req, CN_EMALFORMED, "bad command");
            return;
        }
        cn__api_json_init(req, &e);
        cn_json_obj_begin(&e);
        cn_json_key(&e, "ID");
        cn_json_str(&e, id, idl);
        cn_json_obj_end(&e);
        cn__api_json_send(req, &e, 200);
    } else if (cn_mp_read_str(&r, &msg, &msg_len) == 0) {
        cn_http_error(req, 500, "%.*s", (int)CN_MIN(msg_len, 400), (const char *)msg);
    } else {
        cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
    }
}

void cn__api_session_create(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    char err[CN_JSON_ERR_BYTES], id[CN_UUID_STR_BYTES];
    struct cn_session s;
    struct cn_rpc_call *call;
    json_t *root = NULL;
    int rc;

    memset(&s, 0, sizeof s);
    if (req->body_len && cn_json_parse(req->body, req->body_len, &root, err) < 0) {
        cn_http_error(req, 400, "%s", err);
        return;
    }
    if (!root)
        root = json_object();
    rc = json_is_object(root) ? decode_session(req, root, &s, err) : CN_EMALFORMED;
    if (rc < 0) {
        if (!json_is_object(root))
            snprintf(err, sizeof err, "Request decode failed: expected an object");
        json_decref(root);
        cn_http_error(req, rc == CN_ECONFLICT ? 500 : rc == -ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    if (!s.node || !*s.node)
        s.node = a->cfg.node_name;
    cn_uuid_v4(id);
    s.id = id;
    call = cn__api_call_new(req, CN_RPC_SESSION_CREATE, create_done);
    rc = call ? cn_state_cmd_session_create(&call->args, &s) : -ENOMEM;
    json_decref(root);
    if (rc < 0) {
        if (call)
            cn_rpc_call_close(call);
        cn_http_fail(req, rc, rc == CN_EMALFORMED ? "Invalid session (a field is too long)" : NULL);
        return;
    }
    cn__api_call_start(req, call);
}

void cn__api_session_destroy(struct cn_http_req *req)
{
    const char *id = cn__api_suffix(req, "Missing session");
    struct cn_rpc_call *call;
    int rc;
    if (!id)
        return;
    call = cn__api_call_new(req, CN_RPC_SESSION_DESTROY, cn__api_write_done);
    rc = call ? cn_state_cmd_session_destroy(&call->args, id, 0) : -ENOMEM;
    if (rc < 0) {
        if (call)
            cn_rpc_call_close(call);
        /* Not a UUID: nothing can exist under it; destroy is idempotent. */
        if (rc == CN_EMALFORMED)
            cn__api_send_bool(req, true);
        else
            cn_http_fail(req, rc, NULL);
        return;
    }
    cn__api_call_start(req, call);
}

static void sessions_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    cn__api_send_list(req, call, NULL, CN__ELEM_NODE);
}

static void renew_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    if (cn__api_call_failed(req, call)) /* 404 "Session id 'x' not found". */
        return;
    cn__api_send_list(req, call, NULL, CN__ELEM_NODE);
}

void cn__api_session_renew(struct cn_http_req *req)
{
    const char *id = cn__api_suffix(req, "Missing session");
    if (id)
        cn__api_cat_read(req, CN_RPC_SESSION_RENEW, id, NULL, 0, NULL, 0, false, renew_done);
}

void cn__api_session_info(struct cn_http_req *req)
{
    const char *id = cn__api_suffix(req, "Missing session");
    if (id)
        cn__api_cat_read(req, CN_RPC_SESSION_INFO, id, NULL, 0, NULL, 0, false, sessions_done);
}

void cn__api_session_node(struct cn_http_req *req)
{
    const char *node = cn__api_suffix(req, "Missing node name");
    if (node)
        cn__api_cat_read(req, CN_RPC_SESSION_NODE, node, NULL, 0, NULL, 0, false,
                         sessions_done);
}

void cn__api_session_list(struct cn_http_req *req)
{
    cn__api_cat_read(req, CN_RPC_SESSION_LIST, "", NULL, 0, NULL, 0, false, sessions_done);
}
