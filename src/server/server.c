/* server/server.c - server life cycle and RPC dispatch. */
#include <errno.h>
#include <stdio.h>

#include "server_int.h"

int cn_server_new(struct cn_server **out, uv_loop_t *loop,
                  const struct cn_server_config *cfg, char *errmsg)
{
    struct cn_server *s = cn_calloc(1, sizeof *s);
    struct cn_state_config scfg = {.log = *cn_log_process()};
    int rc;

    if (!s)
        return cn_errf_rc(errmsg, -ENOMEM, "server");
    s->loop = loop;
    s->cfg = *cfg;
    snprintf(s->node_name, sizeof s->node_name, "%s", cfg->node_name);
    snprintf(s->datacenter, sizeof s->datacenter, "%s", cfg->datacenter);
    snprintf(s->rpc_addr, sizeof s->rpc_addr, "%s", cfg->rpc_addr);
    s->cfg.node_name = s->node_name;
    s->cfg.datacenter = s->datacenter;
    s->cfg.rpc_addr = s->rpc_addr;
    cn_prng_seed(&s->prng, cn_rand_u64());
    cn_buf_init(&s->scratch, CN_RPC_ARGS_BYTES_MAX);
    if (!cfg->dev) {
        cn_free(s);
        return cn_errf_rc(errmsg, CN_EUNSUPPORTED,
                          "server mode without -dev needs Raft (replicated-server issue)");
    }
    rc = cn_state_new(&s->state, &scfg);
    if (rc < 0) {
        cn_free(s);
        return cn_errf_rc(errmsg, rc, "state store");
    }
    *out = s;
    return 0;
}

void cn__server_maybe_closed(struct cn_server *s)
{
    if (s->open_handles > 0)
        return;
    void (*cb)(void *) = s->close_cb;
    void *arg = s->close_arg;
    cn_state_free(s->state);
    cn_buf_close(&s->scratch);
    cn_free(s);
    if (cb)
        cb(arg);
}

void cn_server_close(struct cn_server *s, void (*cb)(void *), void *arg)
{
    s->closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    cn__bq_cancel_all(s); /* Each parked timer close counts as a handle. */
    cn__server_maybe_closed(s);
}

bool cn_server_is_leader(const struct cn_server *s) { return s->cfg.dev; }

const char *cn_server_leader(const struct cn_server *s)
{
    return cn_server_is_leader(s) ? s->rpc_addr : "";
}

const struct cn_state *cn_server_state(const struct cn_server *s) { return s->state; }

void cn_server_get_stats(const struct cn_server *s, struct cn_server_stats *out)
{
    *out = s->stats;
}

void cn__server_reply(struct cn_server *s, struct cn_rpc_call *call, int rc,
                      const char *errmsg)
{
    (void)s;
    call->rc = rc;
    if (rc < 0)
        snprintf(call->errmsg, sizeof call->errmsg, "%s",
                 errmsg && *errmsg ? errmsg : cn_strerror(rc));
    call->callee_priv = NULL;
    call->done(call);
}

void cn__server_meta(struct cn_server *s, struct cn_rpc_call *call,
                     uint64_t index, enum cn_consistency c)
{
    /* X-Consul-Index is never 0 (consul-compat.md 2.2). */
    call->meta.index = index ? index : 1;
    call->meta.known_leader = cn_server_leader(s)[0] != '\0';
    call->meta.last_contact_ms = 0; /* We are the leader. */
    call->meta.consistency = c;
}

int cn__server_apply(struct cn_server *s, const uint8_t *cmd, size_t len,
                     struct cn_buf *reply, uint64_t *index_out)
{
    uint64_t index = cn_state_last_index(s->state) + 1;
    int rc;
    if (!cn_server_is_leader(s))
        return CN_ENOLEADER;
    rc = cn_state_apply(s->state, index, cmd, len, reply);
    s->stats.applies++;
    if (rc < 0)
        s->stats.apply_errors++;
    if (index_out)
        *index_out = index;
    return rc;
}

static void status_leader(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_mp_writer w;
    cn_mp_writer_init(&w, &call->reply);
    cn_mp_put_cstr(&w, cn_server_leader(s));
    cn__server_reply(s, call, w.err, NULL);
}

static void status_peers(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_mp_writer w;
    cn_mp_writer_init(&w, &call->reply);
    cn_mp_put_array(&w, 1);
    cn_mp_put_cstr(&w, s->rpc_addr);
    cn__server_reply(s, call, w.err, NULL);
}

void cn_server_call(struct cn_server *s, struct cn_rpc_call *call)
{
    CN_ASSERT(call->done != NULL);
    cn_buf_reset(&call->reply);
    call->rc = 0;
    call->errmsg[0] = '\0';
    memset(&call->meta, 0, sizeof call->meta);
    if (s->closing) {
        cn__server_reply(s, call, CN_ECLOSED, "server shutting down");
        return;
    }
    switch (call->method) {
    case CN_RPC_STATUS_LEADER: status_leader(s, call); return;
    case CN_RPC_STATUS_PEERS: status_peers(s, call); return;
    case CN_RPC_KVS_APPLY: cn__kvs_apply(s, call); return;
    case CN_RPC_KVS_GET:
    case CN_RPC_KVS_LIST:
    case CN_RPC_KVS_KEYS:
        s->stats.reads++;
        cn__kvs_read(s, call, false);
        return;
    case CN_RPC_TXN: cn__txn(s, call); return;
    case CN_RPC_TXN_READ: cn__txn_read(s, call); return;
    case CN_RPC_METHOD_MAX: break;
    }
    cn__server_reply(s, call, CN_EUNSUPPORTED, "unknown RPC method");
}
