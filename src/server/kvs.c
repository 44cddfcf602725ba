/* server/kvs.c - KVS and Txn endpoints (consul-compat.md 5.1, 5.2). */
#include <errno.h>

#include "server_int.h"

/* ---- writes ---- */

/* An acquire of a key in lock delay is refused on the leader before it
 * is proposed, against the leader's clock (Consul's KVS.Apply). The
 * command is [verb, key, value, flags, index, session] after its type. */
static bool in_lock_delay(struct cn_server *s, const uint8_t *cmd, size_t len)
{
    struct cn_mp_reader r;
    uint32_t n;
    uint64_t verb, until;
    const uint8_t *key;
    uint32_t key_len;
    cn_mp_reader_init(&r, cmd + 1, len - 1);
    if (cn_mp_read_array(&r, &n) < 0 || n != 6 || cn_mp_read_uint(&r, &verb) < 0 ||
        verb != CN_KV_LOCK || cn_mp_read_str(&r, &key, &key_len) < 0)
        return false; /* Not an acquire; the state validates the rest. */
    until = cn_state_kv_lock_delay(s->state, key, key_len);
    return until != 0 && cn_time_wall_ms() < until;
}

void cn__kvs_apply(struct cn_server *s, struct cn_rpc_call *call)
{
    /* Agents may only send KV commands through this method. */
    if (call->args.len == 0 || call->args.data[0] != CN_CMD_KV) {
        cn__server_reply(s, call, CN_EMALFORMED, "not a KV command");
        return;
    }
    if (cn_server_is_leader(s) && in_lock_delay(s, call->args.data, call->args.len)) {
        struct cn_mp_writer w;
        cn_mp_writer_init(&w, &call->reply);
        cn_mp_put_bool(&w, false);
        cn__server_meta(s, call, cn_state_last_index(s->state), CN_CONSISTENCY_DEFAULT);
        cn__server_reply(s, call, w.err, NULL);
        return;
    }
    cn__route_write(s, call, call->args.data, call->args.len);
}

void cn__txn(struct cn_server *s, struct cn_rpc_call *call)
{
    const uint8_t *cmd;
    uint32_t cmd_len;
    struct cn_query_opts q;
    int rc = cn_rpc_txn_args_decode(call->args.data, call->args.len, &cmd, &cmd_len, &q);
    if (rc < 0 || cmd_len == 0 || cmd[0] != CN_CMD_TXN) {
        cn__server_reply(s, call, CN_EMALFORMED, "invalid txn");
        return;
    }
    if (!cn_server_is_leader(s)) {
        cn__route_write(s, call, cmd, cmd_len); /* Forwards the args. */
        return;
    }
    /* The leader's clock for what catalog ops invalidate (lock delays). */
    struct cn_buf stamped;
    cn_buf_init(&stamped, CN_RPC_ARGS_BYTES_MAX);
    rc = cn__stamp_now(cmd, cmd_len, cn_time_wall_ms(), &stamped);
    if (rc < 0)
        cn__server_reply(s, call, CN_EMALFORMED, "invalid txn");
    else
        cn__route_write(s, call, stamped.data, stamped.len);
    cn_buf_close(&stamped);
}

void cn__txn_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out)
{
    const uint8_t *cmd;
    uint32_t cmd_len;
    struct cn_query_opts q;
    int rc = cn_rpc_txn_args_decode(call->args.data, call->args.len, &cmd, &cmd_len, &q);
    (void)timed_out;
    if (rc < 0 || cmd_len == 0 || cmd[0] != CN_CMD_TXN) {
        cn__server_reply(s, call, CN_EMALFORMED, "invalid txn");
        return;
    }
    if (cn__route_read(s, call, q.consistency, cn__txn_read))
        return;
    rc = cn_state_txn_read(s->state, cmd, cmd_len, &call->reply);
    if (rc == 0)
        cn__server_meta(s, call, cn_state_last_index(s->state), q.consistency);
    cn__server_reply(s, call, rc, rc == CN_EMALFORMED ? "invalid txn" : NULL);
}

/* ---- reads ---- */

struct list_ctx {
    struct cn_mp_writer *w;
    uint32_t count;
    const uint8_t *prefix;
    size_t prefix_len;
    const uint8_t *sep;
    size_t sep_len;
    const uint8_t *last;     /* Last key emitted in keys mode (dedup). */
    size_t last_len;
};

static int visit_entry(void *ctx, const struct cn_kv_entry *e)
{
    struct list_ctx *lc = ctx;
    cn_state_kv_entry_encode(lc->w, e, true);
    lc->count++;
    return lc->w->err;
}

static const uint8_t *find_sep(const uint8_t *s, size_t n, const uint8_t *sep,
                               size_t sep_len)
{
    if (sep_len == 0 || n < sep_len)
        return NULL;
    for (size_t i = 0; i + sep_len <= n; i++)
        if (memcmp(s + i, sep, sep_len) == 0)
            return s + i;
    return NULL;
}

/* ?keys&separator=/: a key is cut just after the first separator past the
 * prefix; sorted order makes duplicates adjacent (consul-compat.md 5.1). */
static int visit_key(void *ctx, const struct cn_kv_entry *e)
{
    struct list_ctx *lc = ctx;
    size_t len = e->key_len;
    const uint8_t *cut = find_sep(e->key + lc->prefix_len, e->key_len - lc->prefix_len,
                                  lc->sep, lc->sep_len);
    if (cut)
        len = (size_t)(cut - e->key) + lc->sep_len;
    if (lc->last && lc->last_len == len && memcmp(lc->last, e->key, len) == 0)
        return 0;
    cn_mp_put_bin(lc->w, e->key, len);
    lc->last = e->key;
    lc->last_len = len;
    lc->count++;
    return lc->w->err;
}

static int arm_key(struct cn_server *s, struct cn_watch *w, void *arg)
{
    const struct cn_rpc_kvs_args *a = arg;
    return cn_state_watch_kv(s->state, w, CN_WATCH_KV_KEY, a->key, a->key_len);
}

static int arm_prefix(struct cn_server *s, struct cn_watch *w, void *arg)
{
    const struct cn_rpc_kvs_args *a = arg;
    return cn_state_watch_kv(s->state, w, CN_WATCH_KV_PREFIX, a->key, a->key_len);
}

/* Writes a MessagePack array whose length is only known at the end: a
 * 5-byte array32 header is reserved and patched. */
static int encode_list(struct cn_server *s, struct cn_rpc_call *call,
                       const struct cn_rpc_kvs_args *a)
{
    struct cn_mp_writer w;
    struct list_ctx lc = {.w = &w, .prefix = a->key, .prefix_len = a->key_len,
                          .sep = a->sep, .sep_len = a->sep_len};
    uint8_t hdr[5] = {0xdd, 0, 0, 0, 0};
    int rc;

    cn_buf_reset(&call->reply);
    cn_mp_writer_init(&w, &call->reply);
    if (call->method == CN_RPC_KVS_GET) {
        struct cn_kv_entry e;
        if (cn_state_kv_get(s->state, a->key, a->key_len, &e) == 0) {
            cn_mp_put_array(&w, 1);
            cn_state_kv_entry_encode(&w, &e, true);
        } else {
            cn_mp_put_array(&w, 0);
        }
        return w.err;
    }
    cn_mp_put_raw(&w, hdr, sizeof hdr);
    rc = cn_state_kv_list(s->state, a->key, a->key_len,
                          call->method == CN_RPC_KVS_KEYS ? visit_key : visit_entry,
                          &lc);
    if (rc == 0)
        rc = w.err;
    if (rc < 0)
        return rc == -EMSGSIZE ? CN_ETOOBIG : rc;
    call->reply.data[1] = (uint8_t)(lc.count >> 24);
    call->reply.data[2] = (uint8_t)(lc.count >> 16);
    call->reply.data[3] = (uint8_t)(lc.count >> 8);
    call->reply.data[4] = (uint8_t)lc.count;
    return 0;
}

void cn__kvs_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out)
{
    struct cn_rpc_kvs_args a;
    uint64_t index;
    int rc = cn_rpc_kvs_args_decode(call->args.data, call->args.len, &a);
    if (rc < 0) {
        cn__server_reply(s, call, rc, "invalid KVS arguments");
        return;
    }
    if (cn__route_read(s, call, a.q.consistency, cn__kvs_read))
        return;
    index = call->method == CN_RPC_KVS_GET
                ? cn_state_kv_key_index(s->state, a.key, a.key_len)
                : cn_state_kv_prefix_index(s->state, a.key, a.key_len);
    if (cn__bq_park_if_needed(s, call, &a.q, index, timed_out, cn__kvs_read,
                              call->method == CN_RPC_KVS_GET ? arm_key : arm_prefix,
                              &a))
        return;
    rc = encode_list(s, call, &a);
    if (rc == 0)
        cn__server_meta(s, call, index, a.q.consistency);
    cn__server_reply(s, call, rc, rc == CN_ETOOBIG ? "result too large" : NULL);
}
