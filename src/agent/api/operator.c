/* agent/api/operator.c - Raft operator endpoints, /v1/snapshot, /v1/agent/leave
 * (consul-compat.md 5.6, 5.7). */
#include <errno.h>
#include <stdio.h>

#include "agent/agent_int.h"

/* ---- GET /v1/operator/raft/configuration ---- */

static void raft_config_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    struct cn_json_enc e;
    uint32_t n;
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_array(&r, &n) < 0)
        goto bad;
    cn__api_json_init(req, &e);
    cn_json_obj_begin(&e);
    cn_json_key(&e, "Servers");
    cn_json_arr_begin(&e);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *id, *node, *addr;
        uint32_t idl, nl, al, k;
        bool leader, voter;
        uint64_t last;
        if (cn_mp_read_array(&r, &k) < 0 || k != 6 || cn_mp_read_str(&r, &id, &idl) < 0 ||
            cn_mp_read_str(&r, &node, &nl) < 0 || cn_mp_read_str(&r, &addr, &al) < 0 ||
            cn_mp_read_bool(&r, &leader) < 0 || cn_mp_read_bool(&r, &voter) < 0 ||
            cn_mp_read_uint(&r, &last) < 0)
            goto bad;
        cn_json_obj_begin(&e);
        cn_json_key(&e, "ID");
        cn_json_str(&e, id, idl);
        cn_json_key(&e, "Node");
        cn_json_str(&e, node, nl);
        cn_json_key(&e, "Address");
        cn_json_str(&e, addr, al);
        cn_json_kv_bool(&e, "Leader", leader);
        cn_json_kv_str(&e, "ProtocolVersion", "3");
        cn_json_kv_bool(&e, "Voter", voter);
        cn_json_kv_u64(&e, "LastIndex", last);
        cn_json_obj_end(&e);
    }
    cn_json_arr_end(&e);
    cn_json_kv_u64(&e, "Index", call->meta.index);
    cn_json_obj_end(&e);
    cn__api_json_send(req, &e, 200);
    return;
bad:
    cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
}

void cn__api_raft_configuration(struct cn_http_req *req)
{
    struct cn_query_opts q;
    struct cn_rpc_call *call;
    struct cn_mp_writer w;
    if (cn__api_query_opts(req, &q) < 0)
        return;
    call = cn__api_call_new(req, CN_RPC_RAFT_CONFIG, raft_config_done);
    if (!call) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    cn_mp_writer_init(&w, &call->args);
    cn_rpc_opts_encode(&w, &q);
    cn__api_call_start(req, call);
}

/* ---- DELETE /v1/operator/raft/peer?id=|address= ---- */

static void empty_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    if (cn__api_call_failed(req, call))
        return;
    cn_http_finish(req, 200); /* Empty 200, as Consul. */
}

void cn__api_raft_peer(struct cn_http_req *req)
{
    const struct cn_http_param *id = cn_http_param(req, "id");
    const struct cn_http_param *addr = cn_http_param(req, "address");
    struct cn_rpc_call *call;
    struct cn_mp_writer w;
    if ((!id || !id->value_len) && (!addr || !addr->value_len)) {
        cn_http_error(req, 400, "Must specify either ?id with the server's ID or ?address "
                                "with IP:port of peer to remove");
        return;
    }
    call = cn__api_call_new(req, CN_RPC_RAFT_REMOVE, empty_done);
    if (!call) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    cn_mp_writer_init(&w, &call->args);
    cn_mp_put_array(&w, 2);
    cn_mp_put_str(&w, id ? id->value : "", id ? id->value_len : 0);
    cn_mp_put_str(&w, addr ? addr->value : "", addr ? addr->value_len : 0);
    cn__api_call_start(req, call);
}

/* ---- /v1/snapshot: GET saves, PUT restores ---- */

static void snapshot_saved(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_buf *b = cn_http_body(req);
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    /* The reply is the image; hand the buffer over instead of copying. */
    struct cn_buf tmp = *b;
    *b = call->reply;
    call->reply = tmp;
    b->max = CN_SNAPSHOT_IMAGE_BYTES_MAX;
    cn_http_set_header(req, "Content-Type", "application/octet-stream");
    cn_http_finish(req, 200);
}

void cn__api_snapshot(struct cn_http_req *req)
{
    struct cn_query_opts q;
    struct cn_rpc_call *call;
    struct cn_mp_writer w;
    if (req->method == CN_HTTP_PUT) {
        call = cn__api_call_new(req, CN_RPC_SNAPSHOT_RESTORE, empty_done);
        if (!call) {
            cn_http_fail(req, -ENOMEM, NULL);
            return;
        }
        call->args.max = CN_SNAPSHOT_IMAGE_BYTES_MAX;
        if (cn_buf_append(&call->args, req->body, req->body_len) < 0) {
            cn_rpc_call_close(call);
            cn_http_fail(req, CN_ETOOBIG, "Snapshot too large");
            return;
        }
        cn__api_call_start(req, call);
        return;
    }
    if (cn__api_query_opts(req, &q) < 0)
        return;
    call = cn__api_call_new(req, CN_RPC_SNAPSHOT_SAVE, snapshot_saved);
    if (!call) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    call->reply.max = CN_SNAPSHOT_IMAGE_BYTES_MAX;
    cn_mp_writer_init(&w, &call->args);
    cn_rpc_opts_encode(&w, &q);
    cn__api_call_start(req, call);
}

/* ---- PUT /v1/agent/leave ---- */

static void free_handle(uv_handle_t *h)
{
    cn_free(h);
}

static void on_leave_timer(uv_timer_t *t)
{
    cn__agent_leave(t->data);
    uv_close((uv_handle_t *)t, free_handle);
}

void cn__api_agent_leave(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    uv_timer_t *t = cn_alloc(sizeof *t);
    if (!t) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    /* Answer first (empty 200), then leave from the next loop turn. */
    uv_timer_init(a->loop, t);
    t->data = a;
    uv_timer_start(t, on_leave_timer, 1, 0);
    cn_http_finish(req, 200);
}
