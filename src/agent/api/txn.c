/* agent/api/txn.c - PUT /v1/txn (consul-compat.md 5.2). */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "agent/agent_int.h"
#include "api_int.h"
#include "state/state.h"

static const struct {
    const char *name;
    enum cn_kv_verb verb;
} verbs[] = {
    {"set", CN_KV_SET},
    {"cas", CN_KV_CAS},
    {"lock", CN_KV_LOCK},
    {"unlock", CN_KV_UNLOCK},
    {"get", CN_KV_GET},
    {"get-or-empty", CN_KV_GET_OR_EMPTY},
    {"get-tree", CN_KV_GET_TREE},
    {"check-index", CN_KV_CHECK_INDEX},
    {"check-session", CN_KV_CHECK_SESSION},
    {"check-not-exists", CN_KV_CHECK_NOT_EXISTS},
    {"delete", CN_KV_DELETE},
    {"delete-tree", CN_KV_DELETE_TREE},
    {"delete-cas", CN_KV_DELETE_CAS},
};

static const struct {
    const char *name;
    enum cn_cat_verb verb;
} cat_verbs[] = {
    {"set", CN_CAT_SET}, {"cas", CN_CAT_CAS}, {"get", CN_CAT_GET},
    {"delete", CN_CAT_DELETE}, {"delete-cas", CN_CAT_DELETE_CAS},
};

/* {"Node"|"Service"|"Check": {"Verb", ...}} (consul-compat.md 5.2): the
 * object's ModifyIndex is the CAS index. */
static int decode_cat_op(struct cn_arena *arena, const json_t *elem, size_t i,
                         struct cn_txn_op *op, char *err)
{
    const json_t *o;
    const char *verb = NULL, *kind;
    json_t *obj;
    int rc = 0;
    if ((o = cn_json_get(elem, "Node"))) {
        op->kind = CN_TXN_NODE;
        kind = "Node";
    } else if ((o = cn_json_get(elem, "Service"))) {
        op->kind = CN_TXN_SERVICE;
        kind = "Service";
    } else if ((o = cn_json_get(elem, "Check"))) {
        op->kind = CN_TXN_CHECK;
        kind = "Check";
    } else {
        cn_json_errf(err, "operation %zu: no KV, Node, Service or Check", i);
        return 400;
    }
    if (!json_is_object(o) || cn_json_get_str(o, "Verb", &verb, NULL, err) < 0) {
        cn_json_errf(err, "operation %zu: %s must be an object with a Verb", i, kind);
        return 400;
    }
    for (size_t k = 0; verb && k < CN_ARRAY_LEN(cat_verbs); k++)
        if (strcmp(cat_verbs[k].name, verb) == 0)
            op->verb = cat_verbs[k].verb;
    if (!op->verb) {
        snprintf(err, CN_JSON_ERR_BYTES, "unknown %s verb \"%.40s\"", kind, verb ? verb : "");
        return 400;
    }
    obj = cn_json_get(o, kind);
    if (!json_is_object(obj)) {
        cn_json_errf(err, "operation %zu: missing %s.%s", i, kind, kind);
        return 400;
    }
    cn_json_get_u64(obj, "ModifyIndex", &op->index, err);
    if (op->kind == CN_TXN_NODE) {
        rc = cn__api_decode_node(arena, obj, &op->node, err);
    } else if (op->kind == CN_TXN_SERVICE) {
        rc = cn_json_get_str(o, "Node", &op->node.name, NULL, err);
        if (rc >= 0)
            rc = cn__api_decode_service(arena, obj, false, &op->service, err);
    } else {
        rc = cn__api_decode_check(arena, obj, &op->check, err);
    }
    return rc < 0 ? 400 : 0;
}

/* Decodes one {"KV": {...}} (or catalog) element into op. 0, or an HTTP
 * status with the reason in err. */
static int decode_op(struct cn_arena *arena, const json_t *elem, size_t i,
                     struct cn_txn_op *top, char *err)
{
    const json_t *kv = cn_json_get(elem, "KV");
    const char *verb = NULL, *key = NULL, *session = NULL;
    struct cn_kv_op *op = &top->kv;
    size_t key_len = 0;
    uint8_t *value = NULL;
    int rc;

    if (!json_is_object(elem)) {
        cn_json_errf(err, "operation %zu: expected an object", i);
        return 400;
    }
    memset(top, 0, sizeof *top);
    if (!kv)
        return decode_cat_op(arena, elem, i, top, err);
    top->kind = CN_TXN_KV;
    if ((rc = cn_json_get_str(kv, "Verb", &verb, NULL, err)) < 0 ||
        (rc = cn_json_get_str(kv, "Key", &key, &key_len, err)) < 0 ||
        (rc = cn_json_get_u64(kv, "Flags", &op->flags, err)) < 0 ||
        (rc = cn_json_get_u64(kv, "Index", &op->index, err)) < 0 ||
        (rc = cn_json_get_str(kv, "Session", &session, NULL, err)) < 0)
        return 400;
    rc = cn_json_get_b64(kv, "Value", arena, &value, &op->value_len, err);
    if (rc == CN_ETOOBIG)
        return 413;
    if (rc < 0)
        return 400;
    op->verb = 0;
    for (size_t k = 0; verb && k < CN_ARRAY_LEN(verbs); k++)
        if (strcmp(verbs[k].name, verb) == 0)
            op->verb = verbs[k].verb;
    if (!op->verb) {
        snprintf(err, CN_JSON_ERR_BYTES, "unknown KV verb \"%.40s\"", verb ? verb : "");
        return 400;
    }
    if (op->value_len > CN_KV_VALUE_BYTES_MAX) {
        snprintf(err, CN_JSON_ERR_BYTES, "Value for key \"%.64s\" is too large (%zu > %d bytes)",
                 key ? key : "", op->value_len, CN_KV_VALUE_BYTES_MAX);
        return 413;
    }
    op->key = (const uint8_t *)(key ? key : "");
    op->key_len = key_len;
    op->value = value;
    op->session = session;
    return 0;
}

/* ---- reply: state msgpack -> Consul JSON ---- */

static int results_json(struct cn_mp_reader *r, struct cn_json_enc *e)
{
    uint32_t n;
    if (cn_mp_read_nil(r) == 0) {
        cn_json_null(e);
        return 0;
    }
    if (cn_mp_read_array(r, &n) < 0)
        return CN_EMALFORMED;
    cn_json_arr_begin(e);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m;
        const uint8_t *k;
        uint32_t kl;
        struct cn_kv_entry kv;
        if (cn_mp_read_map(r, &m) < 0 || m != 1 || cn_mp_read_str(r, &k, &kl) < 0)
            return CN_EMALFORMED;
        cn_json_obj_begin(e);
        if (!(kl == 2 && memcmp(k, "KV", 2) == 0)) {
            /* Node / Service / Check: the state's encoders' shape. */
            char key[16];
            snprintf(key, sizeof key, "%.*s", (int)CN_MIN(kl, 15u), (const char *)k);
            cn_json_key(e, key);
            if (cn__mp_to_json(r, e, 0) < 0)
                return CN_EMALFORMED;
            cn_json_obj_end(e);
            continue;
        }
        cn_json_key(e, "KV");
        if (cn_mp_read_nil(r) == 0) {
            cn_json_null(e);
        } else {
            if (cn_state_kv_entry_decode(r, &kv) < 0)
                return CN_EMALFORMED;
            cn_json_obj_begin(e);
            cn_json_kv_u64(e, "LockIndex", kv.lock_index);
            cn_json_key(e, "Key");
            cn_json_str(e, kv.key, kv.key_len);
            cn_json_kv_u64(e, "Flags", kv.flags);
            cn_json_key(e, "Value");
            cn_json_b64(e, kv.value, kv.value_len, true);
            if (kv.session)
                cn_json_kv_str(e, "Session", kv.session);
            cn_json_kv_u64(e, "CreateIndex", kv.create_index);
            cn_json_kv_u64(e, "ModifyIndex", kv.modify_index);
            cn_json_obj_end(e);
        }
        cn_json_obj_end(e);
    }
    cn_json_arr_end(e);
    return 0;
}

static int errors_json(struct cn_mp_reader *r, struct cn_json_enc *e, bool *any)
{
    uint32_t n;
    *any = false;
    if (cn_mp_read_nil(r) == 0) {
        cn_json_null(e);
        return 0;
    }
    if (cn_mp_read_array(r, &n) < 0)
        return CN_EMALFORMED;
    *any = n > 0;
    cn_json_arr_begin(e);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m;
        uint64_t op_index = 0;
        const uint8_t *what = (const uint8_t *)"", *k;
        uint32_t what_len = 0, kl;
        if (cn_mp_read_map(r, &m) < 0)
            return CN_EMALFORMED;
        for (uint32_t j = 0; j < m; j++) {
            if (cn_mp_read_str(r, &k, &kl) < 0)
                return CN_EMALFORMED;
            if (kl == 7 && memcmp(k, "OpIndex", 7) == 0) {
                if (cn_mp_read_uint(r, &op_index) < 0)
                    return CN_EMALFORMED;
            } else if (kl == 4 && memcmp(k, "What", 4) == 0) {
                if (cn_mp_read_str(r, &what, &what_len) < 0)
                    return CN_EMALFORMED;
            } else if (cn_mp_skip(r) < 0) {
                return CN_EMALFORMED;
            }
        }
        cn_json_obj_begin(e);
        cn_json_kv_u64(e, "OpIndex", op_index);
        cn_json_key(e, "What");
        cn_json_str(e, what, what_len);
        cn_json_obj_end(e);
    }
    cn_json_arr_end(e);
    return 0;
}

static void txn_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    struct cn_json_enc e;
    uint32_t n;
    bool failed = false;
    int rc = 0;

    if (cn__api_call_failed(req, call))
        return;
    if (call->method == CN_RPC_TXN_READ)
        cn__api_meta_headers(req, &call->meta);
    cn__api_json_init(req, &e);
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_map(&r, &n) < 0)
        rc = CN_EMALFORMED;
    cn_json_obj_begin(&e);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        const uint8_t *k;
        uint32_t kl;
        if (cn_mp_read_str(&r, &k, &kl) < 0) {
            rc = CN_EMALFORMED;
        } else if (kl == 7 && memcmp(k, "Results", 7) == 0) {
            cn_json_key(&e, "Results");
            rc = results_json(&r, &e);
        } else if (kl == 6 && memcmp(k, "Errors", 6) == 0) {
            cn_json_key(&e, "Errors");
            rc = errors_json(&r, &e, &failed);
        } else {
            rc = cn_mp_skip(&r);
        }
    }
    if (rc < 0) {
        cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
        return;
    }
    cn_json_obj_end(&e);
    /* A rolled-back transaction answers 409 with the same shape. */
    cn__api_json_send(req, &e, failed ? 409 : 200);
}

int cn__api_txn_decode(const uint8_t *body, size_t len, struct cn_arena *arena,
                       struct cn_buf *cmd, bool *read_only, char *err)
{
    struct cn_txn_op *ops;
    json_t *root;
    size_t n;
    int status = 0;

    if (cn_json_parse(body, len, &root, err) < 0) {
        char tmp[CN_JSON_ERR_BYTES];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, CN_JSON_ERR_BYTES, "Failed to parse body: %.150s",
                 tmp + strlen("Request decode failed: "));
        return 400;
    }
    if (!json_is_array(root)) {
        json_decref(root);
        snprintf(err, CN_JSON_ERR_BYTES, "Failed to parse body: expected a JSON array of operations");
        return 400;
    }
    n = json_array_size(root);
    if (n > CN_TXN_OPS_MAX) {
        json_decref(root);
        snprintf(err, CN_JSON_ERR_BYTES, "Transaction contains too many operations (%zu > %d)", n,
                 CN_TXN_OPS_MAX);
        return 413;
    }
    ops = cn_arena_alloc(arena, (n ? n : 1) * sizeof *ops);
    if (!ops)
        status = 500;
    for (size_t i = 0; status == 0 && i < n; i++)
        status = decode_op(arena, json_array_get(root, i), i, &ops[i], err);
    if (status == 0) {
        int rc = cn_state_cmd_txn_ops(cmd, ops, n, 0);
        if (rc == CN_EMALFORMED) {
            snprintf(err, CN_JSON_ERR_BYTES, "Invalid transaction operation");
            status = 400;
        } else if (rc < 0) {
            snprintf(err, CN_JSON_ERR_BYTES, "%s", cn_strerror(rc));
            status = rc == -EMSGSIZE ? 413 : 500;
        } else {
            *read_only = cn_state_txn_ops_read_only(ops, n);
        }
    }
    json_decref(root); /* ops borrowed its strings; they are encoded now. */
    return status;
}

void cn__api_txn(struct cn_http_req *req)
{
    char err[CN_JSON_ERR_BYTES];
    struct cn_query_opts q;
    struct cn_rpc_call *call;
    struct cn_buf cmd;
    bool read_only = false;
    int status;

    if (cn__api_query_opts(req, &q) < 0)
        return;
    cn_buf_init(&cmd, CN_RPC_ARGS_BYTES_MAX);
    status = cn__api_txn_decode(req->body, req->body_len, &req->arena, &cmd, &read_only, err);
    if (status) {
        cn_buf_close(&cmd);
        cn_http_error(req, status, "%s", err);
        return;
    }
    call = cn__api_call_new(req, read_only ? CN_RPC_TXN_READ : CN_RPC_TXN, txn_done);
    status = call ? cn_rpc_txn_args_encode(&call->args, cmd.data, cmd.len, &q) : -ENOMEM;
    cn_buf_close(&cmd);
    if (status < 0) {
        if (call)
            cn_rpc_call_close(call);
        cn_http_fail(req, status, NULL);
        return;
    }
    cn__api_call_start(req, call);
}
