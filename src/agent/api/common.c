/* agent/api/common.c - query options, RPC plumbing, JSON replies. */
#include <errno.h>
#include <stdio.h>

#include "agent/agent_int.h"

int cn__api_query_opts(struct cn_http_req *req, struct cn_query_opts *q)
{
    const struct cn_http_param *p;
    bool stale = cn_http_flag(req, "stale"), consistent = cn_http_flag(req, "consistent");
    int64_t ns;

    memset(q, 0, sizeof *q);
    p = cn_http_param(req, "index");
    if (p && p->value_len && cn_parse_u64(p->value, p->value_len, &q->min_index) < 0) {
        cn_http_error(req, 400, "Invalid index");
        return CN_EBADREQ;
    }
    p = cn_http_param(req, "wait");
    if (p && p->value_len) {
        if (cn_duration_parse(p->value, p->value_len, &ns) < 0) {
            cn_http_error(req, 400, "Invalid wait time");
            return CN_EBADREQ;
        }
        /* <= 0 means the default; above the maximum is clamped. */
        if (ns > 0)
            q->wait_ms = (uint64_t)ns / 1000000u;
        if (ns > 0 && q->wait_ms == 0)
            q->wait_ms = 1;
        if (q->wait_ms > CN_QUERY_WAIT_MAX_MS)
            q->wait_ms = CN_QUERY_WAIT_MAX_MS;
    }
    p = cn_http_param(req, "max_stale");
    if (p && p->value_len) {
        if (cn_duration_parse(p->value, p->value_len, &ns) < 0 || ns < 0) {
            cn_http_error(req, 400, "Invalid max_stale value");
            return CN_EBADREQ;
        }
        q->max_stale_ms = (uint64_t)ns / 1000000u;
        stale = true;
    }
    if (stale && consistent) {
        cn_http_error(req, 400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
        return CN_EBADREQ;
    }
    if (cn_http_flag(req, "cached") && consistent) {
        cn_http_error(req, 400, "Cannot specify ?cached with ?consistent, conflicting semantics.");
        return CN_EBADREQ;
    }
    q->consistency = stale ? CN_CONSISTENCY_STALE
                           : consistent ? CN_CONSISTENCY_CONSISTENT : CN_CONSISTENCY_DEFAULT;
    return 0;
}

struct api_call {
    struct cn_rpc_call call;
    struct cn_http_req *req;
    cn__api_done_fn *done;
    /* Response cache (rcache.c): key when cacheable, the cached answer
     * offered to the server (if_index), a reference held until the end. */
    const char *ckey;
    size_t ckey_len;
    struct cn_http_blob *hit;
};

/* The server kept the index of our cached answer: send that. */
static void send_hit(struct api_call *ac)
{
    struct cn_http_req *req = ac->req;
    cn__rcache_touch(req->app, ac->ckey, ac->ckey_len);
    cn__api_meta_headers(req, &ac->call.meta);
    cn_http_set_header(req, "Content-Type", "application/json");
    cn_http_finish_blob(req, 200, ac->hit);
}

static void on_call_done(struct cn_rpc_call *call)
{
    struct api_call *ac = CN_CONTAINER_OF(call, struct api_call, call);
    struct cn_http_req *req = ac->req;
    if (call->rc == CN_ENOTMODIFIED && ac->hit)
        send_hit(ac);
    else if (call->rc == CN_ENOTMODIFIED)
        cn_http_error(req, 500, "unexpected not-modified reply"); /* We sent no index. */
    else
        ac->done(req, call); /* Finishes req. */
    cn_http_blob_unref(ac->hit);
    cn_rpc_call_close(call);
}

static void on_req_cancel(struct cn_http_req *req)
{
    struct api_call *ac = req->handler_ctx;
    cn__agent_rpc_cancel(req->app, &ac->call);
    cn_http_blob_unref(ac->hit);
    cn_rpc_call_close(&ac->call);
}

void cn__api_cache_offer(struct cn_http_req *req, struct cn_rpc_call *call,
                         struct cn_query_opts *q)
{
    struct api_call *ac = CN_CONTAINER_OF(call, struct api_call, call);
    if (!cn__rcache_lookup(req, call->method, &ac->ckey, &ac->ckey_len, &ac->hit,
                           &q->if_index))
        ac->ckey = NULL;
}

bool cn__api_cache_fresh(struct cn_http_req *req, const struct cn_rpc_call *call)
{
    struct api_call *ac = CN_CONTAINER_OF(call, struct api_call, call);
    struct cn_http_blob *b;
    uint64_t index = 0;
    if (!ac->ckey || !(b = cn__rcache_find(req->app, ac->ckey, ac->ckey_len, &index)))
        return false;
    if (index != call->meta.index) {
        cn_http_blob_unref(b);
        return false;
    }
    cn_http_blob_unref(ac->hit);
    ac->hit = b; /* Released with the call, like an offered answer. */
    send_hit(ac);
    return true;
}

void cn__api_json_send_list(struct cn_http_req *req, struct cn_json_enc *e,
                            const struct cn_rpc_call *call)
{
    struct api_call *ac = CN_CONTAINER_OF(call, struct api_call, call);
    struct cn_http_blob *b;
    if (e->err || !ac->ckey || cn_http_body(req)->len + 1 < CN_RCACHE_BODY_MIN) {
        cn__api_json_send(req, e, 200);
        return;
    }
    cn_json_finish(e);
    if (e->err) {
        cn__api_json_send(req, e, 200); /* Answers the error. */
        return;
    }
    cn_http_set_header(req, "Content-Type", "application/json");
    if (!(b = cn_http_blob_take(cn_http_body(req)))) {
        cn_http_finish(req, 200); /* No memory for a blob: answer uncached. */
        return;
    }
    cn__rcache_put(req->app, ac->ckey, ac->ckey_len, call->meta.index, b);
    cn_http_finish_blob(req, 200, b);
    cn_http_blob_unref(b);
}

struct cn_rpc_call *cn__api_call_new(struct cn_http_req *req,
                                     enum cn_rpc_method method,
                                     cn__api_done_fn *done)
{
    struct api_call *ac = cn_arena_alloc(&req->arena, sizeof *ac);
    if (!ac)
        return NULL;
    memset(ac, 0, sizeof *ac);
    cn_rpc_call_init(&ac->call, method);
    ac->call.done = on_call_done;
    const struct cn_http_param *dc = cn_http_param(req, "dc");
    if (dc && dc->value_len && dc->value_len < sizeof ac->call.dc)
        memcpy(ac->call.dc, dc->value, dc->value_len + 1);
    ac->req = req;
    ac->done = done;
    req->handler_ctx = ac;
    return &ac->call;
}

void cn__api_call_start(struct cn_http_req *req, struct cn_rpc_call *call)
{
    cn_http_on_cancel(req, on_req_cancel);
    cn__agent_rpc(req->app, call);
}

bool cn__api_call_failed(struct cn_http_req *req, struct cn_rpc_call *call)
{
    if (call->rc >= 0)
        return false;
    cn_http_fail(req, call->rc, call->errmsg[0] ? call->errmsg : NULL);
    return true;
}

void cn__api_meta_headers(struct cn_http_req *req, const struct cn_query_meta *m)
{
    static const char *names[] = {"leader", "stale", "consistent"};
    cn_http_set_header_u64(req, "X-Consul-Index", m->index ? m->index : 1);
    cn_http_set_header(req, "X-Consul-KnownLeader", m->known_leader ? "true" : "false");
    cn_http_set_header_u64(req, "X-Consul-LastContact", m->last_contact_ms);
    cn_http_set_header(req, "X-Consul-Effective-Consistency",
                       names[(unsigned)m->consistency < 3 ? m->consistency : 0]);
}

void cn__api_json_init(struct cn_http_req *req, struct cn_json_enc *e)
{
    struct cn_agent *a = req->app;
    cn_buf_reset(cn_http_body(req));
    cn_json_enc_init(e, cn_http_body(req), req->pretty || a->cfg.pretty_default);
}

void cn__api_json_send(struct cn_http_req *req, struct cn_json_enc *e, int status)
{
    if (e->err) {
        cn_http_fail(req, e->err == -EMSGSIZE ? CN_ETOOBIG : e->err,
                     e->err == -EMSGSIZE ? "Response too large" : NULL);
        return;
    }
    cn_json_finish(e);
    cn_http_set_header(req, "Content-Type", "application/json");
    cn_http_finish(req, status);
}

void cn__api_send_bool(struct cn_http_req *req, bool v)
{
    struct cn_json_enc e;
    cn__api_json_init(req, &e);
    cn_json_bool(&e, v);
    cn__api_json_send(req, &e, 200);
}
