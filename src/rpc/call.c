/* rpc/call.c - call buffers and argument codecs shared by both ends. */
#include "rpc.h"

void cn_rpc_call_init(struct cn_rpc_call *call, enum cn_rpc_method method)
{
    memset(call, 0, sizeof *call);
    call->method = method;
    cn_buf_init(&call->args, CN_RPC_ARGS_BYTES_MAX);
    cn_buf_init(&call->reply, CN_RPC_REPLY_BYTES_MAX);
}

void cn_rpc_call_close(struct cn_rpc_call *call)
{
    cn_buf_close(&call->args);
    cn_buf_close(&call->reply);
}

void cn_rpc_opts_encode(struct cn_mp_writer *w, const struct cn_query_opts *o)
{
    cn_mp_put_array(w, 5);
    cn_mp_put_uint(w, o->min_index);
    cn_mp_put_uint(w, o->wait_ms);
    cn_mp_put_uint(w, o->max_stale_ms);
    cn_mp_put_uint(w, (uint64_t)o->consistency);
    cn_mp_put_uint(w, o->if_index);
}

int cn_rpc_opts_decode(struct cn_mp_reader *r, struct cn_query_opts *o)
{
    uint32_t n;
    uint64_t c;
    o->if_index = 0;
    if (cn_mp_read_array(r, &n) < 0 || n != 5 ||
        cn_mp_read_uint(r, &o->min_index) < 0 ||
        cn_mp_read_uint(r, &o->wait_ms) < 0 ||
        cn_mp_read_uint(r, &o->max_stale_ms) < 0 ||
        cn_mp_read_uint(r, &c) < 0 || c > CN_CONSISTENCY_CONSISTENT ||
        cn_mp_read_uint(r, &o->if_index) < 0)
        return CN_EMALFORMED;
    o->consistency = (enum cn_consistency)c;
    return 0;
}

int cn_rpc_kvs_args_encode(struct cn_buf *out, const uint8_t *key,
                           size_t key_len, const char *sep, size_t sep_len,
                           const struct cn_query_opts *o)
{
    struct cn_mp_writer w;
    cn_mp_writer_init(&w, out);
    cn_mp_put_array(&w, 3);
    cn_mp_put_bin(&w, key, key_len);
    cn_mp_put_bin(&w, sep ? sep : "", sep ? sep_len : 0);
    cn_rpc_opts_encode(&w, o);
    return w.err;
}

int cn_rpc_kvs_args_decode(const uint8_t *p, size_t len,
                           struct cn_rpc_kvs_args *out)
{
    struct cn_mp_reader r;
    uint32_t n;
    cn_mp_reader_init(&r, p, len);
    if (cn_mp_read_array(&r, &n) < 0 || n != 3 ||
        cn_mp_read_str(&r, &out->key, &out->key_len) < 0 ||
        cn_mp_read_str(&r, &out->sep, &out->sep_len) < 0 ||
        cn_rpc_opts_decode(&r, &out->q) < 0 || cn_mp_left(&r) != 0)
        return CN_EMALFORMED;
    if (out->key_len > CN_KV_KEY_BYTES_MAX)
        return CN_ETOOBIG;
    return 0;
}

int cn_rpc_txn_args_encode(struct cn_buf *out, const uint8_t *cmd,
                           size_t cmd_len, const struct cn_query_opts *o)
{
    struct cn_mp_writer w;
    cn_mp_writer_init(&w, out);
    cn_mp_put_array(&w, 2);
    cn_mp_put_bin(&w, cmd, cmd_len);
    cn_rpc_opts_encode(&w, o);
    return w.err;
}

int cn_rpc_txn_args_decode(const uint8_t *p, size_t len, const uint8_t **cmd,
                           uint32_t *cmd_len, struct cn_query_opts *o)
{
    struct cn_mp_reader r;
    uint32_t n;
    cn_mp_reader_init(&r, p, len);
    if (cn_mp_read_array(&r, &n) < 0 || n != 2 ||
        cn_mp_read_str(&r, cmd, cmd_len) < 0 || cn_rpc_opts_decode(&r, o) < 0 ||
        cn_mp_left(&r) != 0)
        return CN_EMALFORMED;
    return 0;
}
