/* state/cmd.c - command encoding and decoding.
 *
 * Wire form (MessagePack after one type byte; these bytes go into the Raft
 * log, so the form is fixed: new fields mean a new command type):
 *   CN_CMD_KV             op
 *   CN_CMD_TXN            [now_ms, [op, ...]]  (at most CN_TXN_OPS_MAX)
 *   CN_CMD_TOMBSTONE_REAP uint
 *   op = [verb uint, key bin, value bin, flags uint, index uint,
 *         session str | nil]
 *        or a 4-element catalog op (cat_cmd.c)
 * The decoder is strict (exact array sizes, no trailing bytes, every limit
 * re-checked) because a command may come from a peer's log.
 */
#include <errno.h>

#include "cat_int.h"

bool cn__verb_txn_only(unsigned verb)
{
    return verb >= CN_KV_GET && verb <= CN_KV_CHECK_NOT_EXISTS;
}

bool cn__verb_read_only(unsigned verb)
{
    return cn__verb_txn_only(verb);
}

static bool verb_valid(unsigned verb)
{
    return verb >= CN_KV_SET && verb <= CN_KV_DELETE_CAS;
}

/* A write to one key needs a key (the HTTP layer answers "Missing key
 * name"; an empty key could never be read back through /v1/kv/). */
static bool verb_needs_key(unsigned verb)
{
    return verb == CN_KV_SET || verb == CN_KV_CAS || verb == CN_KV_LOCK ||
           verb == CN_KV_UNLOCK;
}

static int op_check(const struct cn_kv_op *op, bool in_txn)
{
    size_t slen = op->session ? strnlen(op->session, CN_SESSION_ID_BYTES + 1) : 0;
    if (!verb_valid((unsigned)op->verb))
        return CN_EMALFORMED;
    if (!in_txn && cn__verb_txn_only((unsigned)op->verb))
        return CN_EMALFORMED;
    if (op->key_len > CN_KV_KEY_BYTES_MAX || (op->key_len && !op->key))
        return CN_EMALFORMED;
    if (op->key_len == 0 && verb_needs_key((unsigned)op->verb))
        return CN_EMALFORMED;
    if (op->value_len > CN_KV_VALUE_BYTES_MAX || (op->value_len && !op->value))
        return CN_EMALFORMED;
    if (slen > CN_SESSION_ID_BYTES)
        return CN_EMALFORMED;
    return 0;
}

static void put_op(struct cn_mp_writer *w, const struct cn_kv_op *op)
{
    cn_mp_put_array(w, 6);
    cn_mp_put_uint(w, (uint64_t)op->verb);
    cn_mp_put_bin(w, op->key, op->key_len);
    cn_mp_put_bin(w, op->value, op->value_len);
    cn_mp_put_uint(w, op->flags);
    cn_mp_put_uint(w, op->index);
    if (op->session && op->session[0])
        cn_mp_put_cstr(w, op->session);
    else
        cn_mp_put_nil(w);
}

static int finish(struct cn_buf *out, size_t start, struct cn_mp_writer *w)
{
    if (w->err) {
        out->len = start; /* Nothing half-written. */
        return w->err;
    }
    return 0;
}

int cn_state_cmd_kv(struct cn_buf *out, const struct cn_kv_op *op)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    uint8_t type = CN_CMD_KV;
    int rc = op_check(op, false);
    if (rc < 0)
        return rc;
    cn_mp_writer_init(&w, out);
    cn_mp_put_raw(&w, &type, 1);
    put_op(&w, op);
    return finish(out, start, &w);
}

int cn_state_cmd_txn(struct cn_buf *out, const struct cn_kv_op *ops,
                     size_t n_ops)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    uint8_t type = CN_CMD_TXN;
    if (n_ops > CN_TXN_OPS_MAX)
        return CN_EMALFORMED;
    for (size_t i = 0; i < n_ops; i++) {
        int rc = op_check(&ops[i], true);
        if (rc < 0)
            return rc;
    }
    cn_mp_writer_init(&w, out);
    cn_mp_put_raw(&w, &type, 1);
    cn_mp_put_array(&w, 2);
    cn_mp_put_uint(&w, 0);
    cn_mp_put_array(&w, (uint32_t)n_ops);
    for (size_t i = 0; i < n_ops; i++)
        put_op(&w, &ops[i]);
    return finish(out, start, &w);
}

int cn_state_cmd_txn_ops(struct cn_buf *out, const struct cn_txn_op *ops,
                         size_t n_ops, uint64_t now_ms)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    uint8_t type = CN_CMD_TXN;
    int rc = 0;
    if (n_ops > CN_TXN_OPS_MAX)
        return CN_EMALFORMED;
    for (size_t i = 0; i < n_ops; i++)
        if (ops[i].kind == CN_TXN_KV && (rc = op_check(&ops[i].kv, true)) < 0)
            return rc;
    cn_mp_writer_init(&w, out);
    cn_mp_put_raw(&w, &type, 1);
    cn_mp_put_array(&w, 2);
    cn_mp_put_uint(&w, now_ms);
    cn_mp_put_array(&w, (uint32_t)n_ops);
    for (size_t i = 0; i < n_ops && rc == 0; i++) {
        if (ops[i].kind == CN_TXN_KV)
            put_op(&w, &ops[i].kv);
        else
            rc = cn__cat_op_put(&w, &ops[i]);
    }
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    return finish(out, start, &w);
}

bool cn_state_txn_ops_read_only(const struct cn_txn_op *ops, size_t n_ops)
{
    for (size_t i = 0; i < n_ops; i++) {
        if (ops[i].kind == CN_TXN_KV ? !cn__verb_read_only((unsigned)ops[i].kv.verb)
                                     : ops[i].verb != CN_CAT_GET)
            return false;
    }
    return true;
}

int cn_state_cmd_tombstone_reap(struct cn_buf *out, uint64_t up_to_index)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    uint8_t type = CN_CMD_TOMBSTONE_REAP;
    cn_mp_writer_init(&w, out);
    cn_mp_put_raw(&w, &type, 1);
    cn_mp_put_uint(&w, up_to_index);
    return finish(out, start, &w);
}

bool cn_state_txn_is_read_only(const struct cn_kv_op *ops, size_t n_ops)
{
    for (size_t i = 0; i < n_ops; i++)
        if (!cn__verb_read_only((unsigned)ops[i].verb))
            return false;
    return true;
}

/* ---- decoding ---- */

static int read_op(struct cn_mp_reader *r, struct cn__op *op, bool in_txn)
{
    uint32_t n;
    uint64_t verb;
    memset(op, 0, sizeof *op);
    if (cn_mp_read_array(r, &n) < 0 || n != 6)
        return CN_EMALFORMED;
    if (cn_mp_read_uint(r, &verb) < 0 || !verb_valid((unsigned)verb) ||
        verb > CN_KV_DELETE_CAS)
        return CN_EMALFORMED;
    op->verb = (uint8_t)verb;
    if (!in_txn && cn__verb_txn_only(op->verb))
        return CN_EMALFORMED;
    if (cn_mp_read_str(r, &op->key, &op->key_len) < 0 ||
        op->key_len > CN_KV_KEY_BYTES_MAX ||
        (op->key_len == 0 && verb_needs_key(op->verb)))
        return CN_EMALFORMED;
    if (cn_mp_read_str(r, &op->value, &op->value_len) < 0 ||
        op->value_len > CN_KV_VALUE_BYTES_MAX)
        return CN_EMALFORMED;
    if (cn_mp_read_uint(r, &op->flags) < 0 || cn_mp_read_uint(r, &op->index) < 0)
        return CN_EMALFORMED;
    if (cn_mp_read_nil(r) == 0)
        return 0;
    if (cn_mp_read_str(r, &op->session, &op->session_len) < 0 ||
        op->session_len == 0 || op->session_len > CN_SESSION_ID_BYTES ||
        memchr(op->session, 0, op->session_len))
        return CN_EMALFORMED;
    return 0;
}

int cn__cmd_decode(const uint8_t *cmd, size_t cmd_len, struct cn__cmd *out)
{
    struct cn_mp_reader r;
    int rc = 0;
    if (cmd_len < 1)
        return CN_EMALFORMED;
    out->type = cmd[0];
    out->n_ops = 0;
    out->now_ms = 0;
    cn_mp_reader_init(&r, cmd + 1, cmd_len - 1);
    switch (cmd[0]) {
    case CN_CMD_KV:
        rc = read_op(&r, &out->ops[0], false);
        out->n_ops = 1;
        break;
    case CN_CMD_TXN: {
        uint32_t n;
        if (cn_mp_read_array(&r, &n) < 0 || n != 2 ||
            cn_mp_read_uint(&r, &out->now_ms) < 0 ||
            cn_mp_read_array(&r, &n) < 0 || n > CN_TXN_OPS_MAX)
            return CN_EMALFORMED;
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            struct cn_mp_reader peek = r;
            uint32_t m;
            if (cn_mp_read_array(&peek, &m) == 0 && m == 4)
                rc = cn__cat_op_read(&r, &out->ops[i]);
            else
                rc = read_op(&r, &out->ops[i], true);
        }
        out->n_ops = n;
        break;
    }
    case CN_CMD_TOMBSTONE_REAP:
        rc = cn_mp_read_uint(&r, &out->reap_index);
        break;
    default:
        rc = cn__cat_cmd_decode(&r, cmd[0], out);
        break;
    }
    if (rc < 0 || cn_mp_left(&r) != 0)
        return CN_EMALFORMED;
    return 0;
}
