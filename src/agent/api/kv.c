/* agent/api/kv.c - /v1/kv/ (consul-compat.md 5.1). */
#include <errno.h>
#include <stdio.h>

#include "agent/agent_int.h"
#include "state/state.h"

/* ---- GET ---- */

static void kv_entry_json(struct cn_json_enc *e, const struct cn_kv_entry *kv)
{
    /* Consul's DirEntry field order. */
    cn_json_obj_begin(e);
    cn_json_kv_u64(e, "LockIndex", kv->lock_index);
    cn_json_key(e, "Key");
    cn_json_str(e, kv->key, kv->key_len);
    cn_json_kv_u64(e, "Flags", kv->flags);
    cn_json_key(e, "Value");
    cn_json_b64(e, kv->value, kv->value_len, true);
    if (kv->session)
        cn_json_kv_str(e, "Session", kv->session);
    cn_json_kv_u64(e, "CreateIndex", kv->create_index);
    cn_json_kv_u64(e, "ModifyIndex", kv->modify_index);
    cn_json_obj_end(e);
}

static void send_raw(struct cn_http_req *req, const struct cn_kv_entry *kv)
{
    struct cn_buf *b = cn_http_body(req);
    cn_buf_reset(b);
    if (cn_buf_append(b, kv->value, kv->value_len) < 0) {
        cn_http_fail(req, CN_ETOOBIG, "Response too large");
        return;
    }
    cn_http_set_header(req, "Content-Type", "text/plain");
    cn_http_set_header(req, "X-Content-Type-Options", "nosniff");
    cn_http_set_header(req, "Content-Security-Policy", "sandbox");
    cn_http_finish(req, 200);
}

static void kv_get_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    struct cn_json_enc e;
    uint32_t n;
    bool keys = call->method == CN_RPC_KVS_KEYS;

    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_array(&r, &n) < 0) {
        cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
        return;
    }
    /* Missing key, empty prefix: 404 with the index headers still set;
     * ?keys on the root prefix answers [] instead. */
    if (n == 0 && !(keys && req->suffix_len == 0)) {
        cn_http_finish(req, 404);
        return;
    }
    if (call->method == CN_RPC_KVS_GET && cn_http_flag(req, "raw")) {
        struct cn_kv_entry kv;
        if (cn_state_kv_entry_decode(&r, &kv) < 0)
            cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
        else
            send_raw(req, &kv);
        return;
    }
    cn__api_json_init(req, &e);
    cn_json_arr_begin(&e);
    for (uint32_t i = 0; i < n; i++) {
        if (keys) {
            const uint8_t *k;
            uint32_t kl;
            if (cn_mp_read_str(&r, &k, &kl) < 0)
                break;
            cn_json_str(&e, k, kl);
        } else {
            struct cn_kv_entry kv;
            if (cn_state_kv_entry_decode(&r, &kv) < 0)
                break;
            kv_entry_json(&e, &kv);
        }
    }
    cn_json_arr_end(&e);
    cn__api_json_send(req, &e, 200);
}

static void kv_get(struct cn_http_req *req)
{
    struct cn_query_opts q;
    struct cn_rpc_call *call;
    const struct cn_http_param *sep;
    enum cn_rpc_method m = CN_RPC_KVS_GET;
    bool recurse = cn_http_flag(req, "recurse"), keys = cn_http_flag(req, "keys");

    if (cn__api_query_opts(req, &q) < 0)
        return;
    if (keys)
        m = CN_RPC_KVS_KEYS;
    else if (recurse)
        m = CN_RPC_KVS_LIST;
    else if (req->suffix_len == 0) {
        cn_http_error(req, 400, "Missing key name");
        return;
    }
    sep = cn_http_param(req, "separator");
    if (!sep)
        sep = cn_http_param(req, "seperator"); /* Consul's historic spelling. */
    call = cn__api_call_new(req, m, kv_get_done);
    if (!call || cn_rpc_kvs_args_encode(&call->args, (const uint8_t *)req->suffix,
                                        req->suffix_len, keys && sep ? sep->value : NULL,
                                        keys && sep ? sep->value_len : 0, &q) < 0) {
        if (call)
            cn_rpc_call_close(call);
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    cn__api_call_start(req, call);
}

/* ---- PUT / DELETE ---- */

static void kv_write_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    bool ok;
    if (cn__api_call_failed(req, call))
        return;
    const uint8_t *msg;
    uint32_t msg_len;
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_bool(&r, &ok) == 0) {
        cn__api_send_bool(req, ok);
    } else if (cn_mp_read_str(&r, &msg, &msg_len) == 0) {
        /* An FSM error (e.g. `invalid session "x"`): Consul answers 500. */
        cn_http_error(req, 500, "%.*s", (int)CN_MIN(msg_len, 400), (const char *)msg);
    } else {
        cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
    }
}

/* At most one of the named flags may be present (Consul's
 * conflictingFlags): 400 "Conflicting flags: <query>\n". */
static bool conflicting(struct cn_http_req *req, const char *a, const char *b,
                        const char *c)
{
    int n = cn_http_flag(req, a) + cn_http_flag(req, b) + (c && cn_http_flag(req, c));
    if (n <= 1)
        return false;
    cn_http_error(req, 400, "Conflicting flags: %s\n", req->raw_query);
    return true;
}

static int param_u64(struct cn_http_req *req, const char *name, uint64_t *out)
{
    const struct cn_http_param *p = cn_http_param(req, name);
    if (!p)
        return 1;
    if (cn_parse_u64(p->value, p->value_len, out) < 0) {
        cn_http_error(req, 400, "Invalid %s: \"%.64s\"", name, p->value);
        return CN_EBADREQ;
    }
    return 0;
}

static int put_op(struct cn_http_req *req, struct cn_kv_op *op)
{
    const struct cn_http_param *p;
    int rc;
    if (conflicting(req, "cas", "acquire", "release"))
        return CN_EBADREQ;
    op->verb = CN_KV_SET;
    op->value = req->body;
    op->value_len = req->body_len;
    if ((rc = param_u64(req, "flags", &op->flags)) < 0)
        return rc;
    if ((rc = param_u64(req, "cas", &op->index)) < 0)
        return rc;
    if (rc == 0)
        op->verb = CN_KV_CAS;
    if ((p = cn_http_param(req, "acquire")) != NULL) {
        op->verb = CN_KV_LOCK;
        op->session = p->value;
    } else if ((p = cn_http_param(req, "release")) != NULL) {
        op->verb = CN_KV_UNLOCK;
        op->session = p->value;
    }
    return 0;
}

static int delete_op(struct cn_http_req *req, struct cn_kv_op *op)
{
    int rc;
    if (conflicting(req, "recurse", "cas", NULL))
        return CN_EBADREQ;
    op->verb = cn_http_flag(req, "recurse") ? CN_KV_DELETE_TREE : CN_KV_DELETE;
    if ((rc = param_u64(req, "cas", &op->index)) < 0)
        return rc;
    if (rc == 0)
        op->verb = CN_KV_DELETE_CAS;
    return 0;
}

static void kv_write(struct cn_http_req *req)
{
    struct cn_kv_op op;
    struct cn_rpc_call *call;
    int rc;

    memset(&op, 0, sizeof op);
    op.key = (const uint8_t *)req->suffix;
    op.key_len = req->suffix_len;
    rc = req->method == CN_HTTP_DELETE ? delete_op(req, &op) : put_op(req, &op);
    if (rc < 0)
        return;
    if (op.key_len == 0 && op.verb != CN_KV_DELETE_TREE) {
        cn_http_error(req, 400, "Missing key name");
        return;
    }
    call = cn__api_call_new(req, CN_RPC_KVS_APPLY, kv_write_done);
    if (!call) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    rc = cn_state_cmd_kv(&call->args, &op);
    if (rc < 0) {
        cn_rpc_call_close(call);
        if (rc == CN_EMALFORMED && op.key_len > CN_KV_KEY_BYTES_MAX)
            cn_http_error(req, 400, "Key too long (%zu > %d bytes)", op.key_len,
                          CN_KV_KEY_BYTES_MAX);
        else
            cn_http_fail(req, rc, NULL);
        return;
    }
    cn__api_call_start(req, call);
}

void cn__api_kv(struct cn_http_req *req)
{
    if (req->method == CN_HTTP_GET || req->method == CN_HTTP_HEAD)
        kv_get(req);
    else
        kv_write(req);
}
