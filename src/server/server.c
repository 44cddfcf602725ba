/* server/server.c - server life cycle, RPC dispatch, inbound calls. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server_int.h"

/* ---- op lists ---- */

void cn__op_link(struct cn__op **list, struct cn__op *op)
{
    op->prev = NULL;
    op->next = *list;
    if (*list)
        (*list)->prev = op;
    *list = op;
}

void cn__op_unlink(struct cn__op **list, struct cn__op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else if (*list == op)
        *list = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->next = op->prev = NULL;
}

/* ---- replies ---- */

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

void cn__server_meta(struct cn_server *s, struct cn_rpc_call *call, uint64_t index,
                     enum cn_consistency c)
{
    call->meta.index = cn__meta_index(index);
    call->meta.known_leader = cn_server_leader(s)[0] != '\0';
    call->meta.last_contact_ms =
        cn_server_is_leader(s) || !s->raft ? 0 : cn_raft_node_last_contact_ms(s->raft);
    call->meta.consistency = c;
}

/* ---- status ---- */

bool cn_server_is_leader(const struct cn_server *s)
{
    return s->raft && cn_raft_node_is_leader(s->raft);
}

const char *cn_server_leader(const struct cn_server *s)
{
    static char addr[64]; /* Loop thread only. */
    if (!s->raft)
        return "";
    cn__member_rpc_addr(cn_raft_node_leader_addr(s->raft), addr, sizeof addr);
    return addr;
}

const char *cn_server_rpc_addr(const struct cn_server *s) { return s->rpc_addr; }

int cn_server_port(const struct cn_server *s)
{
    return s->transport ? cn_transport_port(s->transport) : 0;
}

const struct cn_state *cn_server_state(const struct cn_server *s) { return s->state; }

void cn_server_get_stats(const struct cn_server *s, struct cn_server_stats *out)
{
    *out = s->stats;
}

static void status_leader(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_mp_writer w;
    cn_mp_writer_init(&w, &call->reply);
    cn_mp_put_cstr(&w, cn_server_leader(s));
    cn__server_reply(s, call, w.err, NULL);
}

/* Raft voters, as "ip:port" (consul-compat.md 5.7). */
static void status_peers(struct cn_server *s, struct cn_rpc_call *call)
{
    const struct cn_raft_conf *c = cn_raft_node_conf(s->raft);
    struct cn_mp_writer w;
    uint32_t voters = 0;
    char addr[64];
    for (uint32_t i = 0; c && i < c->n; i++)
        voters += c->members[i].role == CN_RAFT_VOTER;
    cn_mp_writer_init(&w, &call->reply);
    cn_mp_put_array(&w, voters);
    for (uint32_t i = 0; c && i < c->n; i++) {
        if (c->members[i].role != CN_RAFT_VOTER)
            continue;
        cn__member_rpc_addr(c->members[i].addr, addr, sizeof addr);
        cn_mp_put_cstr(&w, addr);
    }
    cn__server_reply(s, call, w.err, NULL);
}

static void catalog_datacenters(struct cn_server *s, struct cn_rpc_call *call)
{
    char dcs[64][64];
    size_t n = 0;
    struct cn_mp_writer w;
    if (s->cfg.datacenters)
        n = s->cfg.datacenters(s->cfg.pool_ctx, dcs, CN_ARRAY_LEN(dcs));
    if (n == 0)
        snprintf(dcs[n++], sizeof dcs[0], "%s", s->datacenter);
    cn_mp_writer_init(&w, &call->reply);
    cn_mp_put_array(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        cn_mp_put_cstr(&w, dcs[i]);
    cn__server_reply(s, call, w.err, NULL);
}

/* ---- dispatch ---- */

void cn_server_call(struct cn_server *s, struct cn_rpc_call *call)
{
    CN_ASSERT(call->done != NULL);
    cn_buf_reset(&call->reply);
    call->rc = 0;
    call->errmsg[0] = '\0';
    call->callee_priv = NULL;
    memset(&call->meta, 0, sizeof call->meta);
    if (s->closing) {
        cn__server_reply(s, call, CN_ECLOSED, "server shutting down");
        return;
    }
    if (call->dc[0] && strcmp(call->dc, s->datacenter) != 0 &&
        call->method != CN_RPC_CATALOG_DATACENTERS) {
        cn__route_remote_dc(s, call);
        return;
    }
    switch (call->method) {
    case CN_RPC_STATUS_LEADER: status_leader(s, call); return;
    case CN_RPC_STATUS_PEERS: status_peers(s, call); return;
    case CN_RPC_CATALOG_DATACENTERS: catalog_datacenters(s, call); return;
    case CN_RPC_KVS_APPLY: cn__kvs_apply(s, call); return;
    case CN_RPC_KVS_GET:
    case CN_RPC_KVS_LIST:
    case CN_RPC_KVS_KEYS:
        s->stats.reads++;
        cn__kvs_read(s, call, false);
        return;
    case CN_RPC_TXN: cn__txn(s, call); return;
    case CN_RPC_TXN_READ: cn__txn_read(s, call, false); return;
    case CN_RPC_SERVER_INFO: cn__cluster_info(s, call); return;
    case CN_RPC_RAFT_JOIN: cn__cluster_join(s, call); return;
    case CN_RPC_RAFT_CONFIG: cn__cluster_config(s, call, false); return;
    case CN_RPC_RAFT_REMOVE: cn__cluster_remove(s, call); return;
    case CN_RPC_SNAPSHOT_SAVE: cn__snapshot_save(s, call, false); return;
    case CN_RPC_SNAPSHOT_RESTORE: cn__snapshot_restore(s, call); return;
    case CN_RPC_CATALOG_REGISTER: cn__write_cmd(s, call, CN_CMD_REGISTER, true); return;
    case CN_RPC_CATALOG_DEREGISTER: cn__write_cmd(s, call, CN_CMD_DEREGISTER, true); return;
    case CN_RPC_SESSION_CREATE: cn__write_cmd(s, call, CN_CMD_SESSION_CREATE, false); return;
    case CN_RPC_SESSION_DESTROY: cn__write_cmd(s, call, CN_CMD_SESSION_DESTROY, true); return;
    case CN_RPC_CATALOG_NODES:
    case CN_RPC_CATALOG_SERVICES:
    case CN_RPC_CATALOG_SERVICE:
    case CN_RPC_CATALOG_NODE:
    case CN_RPC_HEALTH_NODE:
    case CN_RPC_HEALTH_CHECKS:
    case CN_RPC_HEALTH_SERVICE:
    case CN_RPC_HEALTH_STATE:
        s->stats.reads++;
        cn__catalog_read(s, call, false);
        return;
    case CN_RPC_SESSION_INFO:
    case CN_RPC_SESSION_LIST:
    case CN_RPC_SESSION_NODE:
        s->stats.reads++;
        cn__session_read(s, call, false);
        return;
    case CN_RPC_SESSION_RENEW: cn__session_renew(s, call, false); return;
    case CN_RPC_METHOD_MAX: break;
    }
    cn__server_reply(s, call, CN_EUNSUPPORTED, "unknown RPC method");
}

void cn_server_cancel(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn__op *op = call->callee_priv;
    if (!op)
        return;
    call->callee_priv = NULL;
    if (op->kind == OP_READ_DONE)
        return;
    op->call = NULL;
    if (op->kind == OP_BQ)
        cn__bq_cancel(s, (struct cn_bq *)op);
    else
        cn__route_cancel(s, op);
}

/* ---- calls from the transport ---- */

static void inbound_done(struct cn_rpc_call *call)
{
    struct inbound *in = CN_CONTAINER_OF(call, struct inbound, call);
    struct cn_server *s = in->srv;
    cn_transport_reply(s->transport, in->conn_id, in->id, call);
    if (in->prev)
        in->prev->next = in->next;
    else
        s->inbound = in->next;
    if (in->next)
        in->next->prev = in->prev;
    cn_rpc_call_close(call);
    cn_free(in);
}

static void on_rpc(void *ctx, uint64_t conn_id, uint64_t id, enum cn_rpc_method method,
                   bool forwarded, const char *dc, const uint8_t *args, size_t len)
{
    struct cn_server *s = ctx;
    struct inbound *in = cn_calloc(1, sizeof *in);
    if (!in)
        return; /* The caller times out. */
    cn_rpc_call_init(&in->call, method);
    if (method == CN_RPC_SNAPSHOT_RESTORE)
        in->call.args.max = CN_SNAPSHOT_BYTES_MAX + 4096;
    if (cn_buf_append(&in->call.args, args, len) < 0) {
        cn_rpc_call_close(&in->call);
        cn_free(in);
        return;
    }
    in->srv = s;
    in->conn_id = conn_id;
    in->id = id;
    in->call.done = inbound_done;
    in->call.forwarded = forwarded;
    snprintf(in->call.dc, sizeof in->call.dc, "%s", dc);
    in->next = s->inbound;
    if (s->inbound)
        s->inbound->prev = in;
    s->inbound = in;
    s->stats.inbound_calls++;
    cn_server_call(s, &in->call);
}

static void on_conn_closed(void *ctx, uint64_t conn_id)
{
    struct cn_server *s = ctx;
    struct inbound *in = s->inbound, *next;
    for (; in; in = next) {
        next = in->next;
        if (in->conn_id != conn_id)
            continue;
        cn_server_cancel(s, &in->call);
        if (in->prev)
            in->prev->next = in->next;
        else
            s->inbound = in->next;
        if (in->next)
            in->next->prev = in->prev;
        cn_rpc_call_close(&in->call);
        cn_free(in);
    }
}

static void on_raft_frame(void *ctx, const uint8_t *msg, size_t len)
{
    struct cn_server *s = ctx;
    cn_raft_node_receive(s->raft, msg, len);
}

/* ---- life cycle ---- */

/* Raft ids come from the node id (a UUID): its first 16 hex digits. */
static uint64_t raft_id_of(const char *uuid)
{
    uint64_t id = 0;
    for (int i = 0, k = 0; uuid[i] && k < 16; i++) {
        char c = uuid[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            continue;
        id = id << 4 | (uint64_t)v;
        k++;
    }
    return id ? id : 1;
}

static int start_transport(struct cn_server *s, char *errmsg)
{
    struct cn_transport_handlers h = {on_raft_frame, on_rpc, on_conn_closed, s};
    int rc = cn_transport_start(&s->transport, s->loop, s->bind_addr, s->cfg.port, &h, errmsg);
    if (rc < 0)
        return rc;
    snprintf(s->rpc_addr, sizeof s->rpc_addr, "%s:%d",
             s->cfg.advertise_addr && *s->cfg.advertise_addr ? s->cfg.advertise_addr
                                                             : s->bind_addr,
             cn_transport_port(s->transport));
    return 0;
}

static int start_raft(struct cn_server *s, char *errmsg)
{
    struct cn_raft_node_config rc = {
        .id = s->raft_id, .data_dir = s->cfg.dev ? NULL : s->data_dir,
        .transport = s->transport, .tick_ms = s->cfg.raft_tick_ms,
        .snapshot_threshold = s->cfg.snapshot_threshold,
        .snapshot_interval_ms = s->cfg.snapshot_interval_ms,
        .trailing_logs = s->cfg.trailing_logs, .single_in_memory = s->cfg.dev,
        .fsm = cn__server_fsm_ops, .seed = cn_prng_next(&s->prng),
    };
    rc.fsm.ctx = s;
    return cn_raft_node_start(&s->raft, s->loop, &rc, errmsg);
}

static void copy_config(struct cn_server *s, const struct cn_server_config *cfg)
{
    s->cfg = *cfg;
    snprintf(s->node_name, sizeof s->node_name, "%s", cfg->node_name);
    snprintf(s->datacenter, sizeof s->datacenter, "%s", cfg->datacenter);
    snprintf(s->node_id, sizeof s->node_id, "%s", cfg->node_id ? cfg->node_id : "");
    snprintf(s->data_dir, sizeof s->data_dir, "%s", cfg->data_dir ? cfg->data_dir : "");
    snprintf(s->bind_addr, sizeof s->bind_addr, "%s",
             cfg->bind_addr && *cfg->bind_addr ? cfg->bind_addr : "127.0.0.1");
    s->cfg.node_name = s->node_name;
    s->cfg.datacenter = s->datacenter;
    s->cfg.node_id = s->node_id;
    s->cfg.data_dir = s->data_dir;
    s->cfg.bind_addr = s->bind_addr;
    if (!s->cfg.dead_server_grace_ms)
        s->cfg.dead_server_grace_ms = 5 * 60 * 1000;
}

int cn_server_new(struct cn_server **out, uv_loop_t *loop, const struct cn_server_config *cfg,
                  char *errmsg)
{
    struct cn_server *s = cn_calloc(1, sizeof *s);
    struct cn_state_config scfg = {.log = *cn_log_process()};
    int rc;

    if (!s)
        return cn_errf_rc(errmsg, -ENOMEM, "server");
    s->loop = loop;
    copy_config(s, cfg);
    cn_prng_seed(&s->prng, cn_rand_u64());
    s->raft_id = raft_id_of(s->node_id);
    cn_buf_init(&s->restore.buf, CN_SNAPSHOT_BYTES_MAX);
    uv_timer_init(loop, &s->hold_timer);
    uv_timer_init(loop, &s->cluster_timer);
    s->hold_timer.data = s->cluster_timer.data = s;
    s->open_handles = 2;
    rc = cn_state_new(&s->state, &scfg);
    if (rc < 0) {
        cn_errf_rc(errmsg, rc, "state store");
        goto fail;
    }
    if ((rc = cn__leader_init(s)) < 0) {
        cn_errf_rc(errmsg, rc, "leader duties");
        goto fail;
    }
    if (cfg->dev) {
        snprintf(s->rpc_addr, sizeof s->rpc_addr, "%s:8300", s->bind_addr);
    } else if ((rc = start_transport(s, errmsg)) < 0) {
        goto fail;
    }
    if ((rc = start_raft(s, errmsg)) < 0 || (rc = cn__cluster_start(s, errmsg)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    cn_server_close(s, NULL, NULL);
    return rc;
}

void cn__server_maybe_closed(struct cn_server *s)
{
    if (!s->closing || s->open_handles > 0)
        return;
    void (*cb)(void *) = s->close_cb;
    void *arg = s->close_arg;
    cn__members_free(s);
    cn__memo_free(s);
    cn_state_free(s->state);
    cn_buf_close(&s->restore.buf);
    cn_free(s);
    if (cb)
        cb(arg);
}

void cn__server_handle_closed(uv_handle_t *h)
{
    struct cn_server *s = h->data;
    s->open_handles--;
    cn__server_maybe_closed(s);
}

static void on_part_stopped(void *arg)
{
    struct cn_server *s = arg;
    s->open_handles--;
    cn__server_maybe_closed(s);
}

void cn_server_close(struct cn_server *s, void (*cb)(void *), void *arg)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    cn__cluster_stop(s);
    cn__leader_close(s);
    cn__bq_cancel_all(s);
    cn__route_fail_all(s);
    while (s->inbound)
        on_conn_closed(s, s->inbound->conn_id);
    uv_close((uv_handle_t *)&s->hold_timer, cn__server_handle_closed);
    uv_close((uv_handle_t *)&s->cluster_timer, cn__server_handle_closed);
    if (s->raft) {
        s->open_handles++;
        cn_raft_node_stop(s->raft, on_part_stopped, s);
        s->raft = NULL;
    }
    if (s->transport) {
        s->open_handles++;
        cn_transport_stop(s->transport, on_part_stopped, s);
        s->transport = NULL;
    }
}
