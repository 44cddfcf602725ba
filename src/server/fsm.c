/* server/fsm.c - the state machine Raft drives, and snapshot save/restore.
 *
 * Committed NORMAL entries go to cn_state_apply(), except the server's own
 * restore commands. A user snapshot (`cairn snapshot restore`, PUT
 * /v1/snapshot) is restored through the log, so every server ends in the
 * same state without a side channel: the leader proposes RESTORE_BEGIN
 * (total size, CRC32C), RESTORE_CHUNK entries (at most 256 KiB each, in
 * order) and RESTORE_END; each server stages the chunks and, at END,
 * replaces its state with them if size and CRC match. Snapshots are not
 * taken while a restore is staged (they could not capture the staging).
 */
#include <errno.h>
#include <stdio.h>

#include "raft/snap.h"
#include "server_int.h"

enum {
    CMD_RESTORE_BEGIN = 0xF0,
    CMD_RESTORE_CHUNK = 0xF1,
    CMD_RESTORE_END = 0xF2,
};
#define RESTORE_CHUNK_BYTES (256u << 10)

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Deterministic on every server: the same entries, the same outcome. */
static int apply_restore(struct cn_server *s, const uint8_t *d, size_t len,
                         struct cn_buf *reply)
{
    struct restore_stage *st = &s->restore;
    struct cn_mp_writer w;
    int rc = 0;
    switch (d[0]) {
    case CMD_RESTORE_BEGIN:
        if (len != 13)
            return CN_EMALFORMED;
        cn_buf_reset(&st->buf);
        st->total = get_le(d + 1, 8);
        st->crc = (uint32_t)get_le(d + 9, 4);
        st->active = st->total <= CN_SNAPSHOT_BYTES_MAX;
        break;
    case CMD_RESTORE_CHUNK:
        if (st->active && cn_buf_append(&st->buf, d + 1, len - 1) < 0)
            st->active = false;
        break;
    case CMD_RESTORE_END:
        if (!st->active || st->buf.len != st->total ||
            cn_crc32c(0, st->buf.data, st->buf.len) != st->crc) {
            rc = CN_ECORRUPT;
        } else {
            /* Restored rows keep their indexes: an older image brings
             * back indexes whose memoized replies show other rows. */
            cn__memo_free(s);
            rc = cn_state_restore(s->state, st->buf.data, st->buf.len);
        }
        st->active = false;
        cn_buf_close(&st->buf);
        cn_buf_init(&st->buf, CN_SNAPSHOT_BYTES_MAX);
        if (reply) {
            cn_mp_writer_init(&w, reply);
            cn_mp_put_int(&w, rc);
        }
        if (rc == 0)
            CN_INFO("server: state restored from a snapshot (%llu bytes)",
                    (unsigned long long)st->total);
        return 0;
    }
    return 0;
}

static int fsm_apply(void *ctx, uint64_t index, const uint8_t *data, size_t len,
                     struct cn_buf *reply)
{
    struct cn_server *s = ctx;
    if (len > 0 && data[0] >= CMD_RESTORE_BEGIN && data[0] <= CMD_RESTORE_END)
        return apply_restore(s, data, len, reply);
    return cn_state_apply(s->state, index, data, len, reply);
}

static int fsm_snapshot(void *ctx, int (*write)(void *, const void *, size_t), void *wctx)
{
    struct cn_server *s = ctx;
    if (s->restore.active)
        return CN_ESTATE; /* Retried at the next snapshot check. */
    return cn_state_snapshot(s->state, write, wctx);
}

static int fsm_restore(void *ctx, const uint8_t *data, size_t len)
{
    struct cn_server *s = ctx;
    cn__memo_free(s);
    return cn_state_restore(s->state, data, len);
}

static void fsm_changed(void *ctx)
{
    struct cn_server *s = ctx;
    cn__route_leader_changed(s);
    cn__cluster_changed(s);
    cn__leader_changed(s);
}

const struct cn_raft_fsm cn__server_fsm_ops = {
    .apply = fsm_apply,
    .snapshot = fsm_snapshot,
    .restore = fsm_restore,
    .changed = fsm_changed,
};

/* ---- snapshot save: the image is a snap-file (raft/snap.h) ---- */

static int image_write(void *ctx, const void *p, size_t n)
{
    return cn_buf_append(ctx, p, n);
}

void cn__snapshot_save(struct cn_server *s, struct cn_rpc_call *call, bool timed_out)
{
    struct cn_query_opts q = {0};
    struct cn_mp_reader r;
    struct cn_raft_status st;
    struct cn_buf conf, data;
    uint8_t *hdr;
    size_t hl;
    int rc;

    cn_mp_reader_init(&r, call->args.data, call->args.len);
    if (call->args.len && cn_rpc_opts_decode(&r, &q) < 0) {
        cn__server_reply(s, call, CN_EMALFORMED, "invalid snapshot arguments");
        return;
    }
    (void)timed_out;
    if (cn__route_read(s, call, q.consistency, cn__snapshot_save))
        return;
    cn_raft_node_status(s->raft, &st);
    cn_buf_init(&conf, CN_SNAP_CONF_BYTES_MAX);
    cn_buf_init(&data, CN_SNAPSHOT_BYTES_MAX);
    rc = cn_raft_conf_encode(cn_raft_node_conf(s->raft), &conf);
    if (rc == 0)
        rc = cn_state_snapshot(s->state, image_write, &data);
    hdr = rc == 0 ? cn_alloc(64 + conf.len) : NULL;
    if (rc == 0 && !hdr)
        rc = -ENOMEM;
    if (rc == 0) {
        uint8_t crc[4];
        uint64_t index = cn_state_last_index(s->state);
        hl = cn_snap_header(hdr, index, st.term, conf.data, conf.len, data.len);
        call->reply.max = CN_SNAPSHOT_BYTES_MAX + 4096;
        uint32_t c = cn_crc32c(cn_crc32c(0, hdr, hl), data.data, data.len);
        put_le(crc, c, 4);
        if (cn_buf_append(&call->reply, hdr, hl) < 0 ||
            cn_buf_append(&call->reply, data.data, data.len) < 0 ||
            cn_buf_append(&call->reply, crc, 4) < 0)
            rc = CN_ETOOBIG;
        if (rc == 0)
            cn__server_meta(s, call, index, q.consistency);
    }
    cn_free(hdr);
    cn_buf_close(&conf);
    cn_buf_close(&data);
    cn__server_reply(s, call, rc, rc == CN_ETOOBIG ? "snapshot too large" : NULL);
}

/* ---- snapshot restore: BEGIN, CHUNKs, END through the log ---- */

static void restore_done(void *ctx, int rc, uint64_t index, const struct cn_buf *reply)
{
    struct op_wait *w = ctx;
    struct cn_server *s = w->op.srv;
    struct cn_rpc_call *call = w->op.call;
    struct cn_mp_reader r;
    int64_t result = 0;
    cn_free(w);
    if (!call)
        return;
    call->callee_priv = NULL;
    if (rc == 0 && reply) {
        cn_mp_reader_init(&r, reply->data, reply->len);
        if (cn_mp_read_int(&r, &result) == 0 && result < 0)
            rc = (int)result;
    }
    if (rc == 0)
        cn__server_meta(s, call, index, CN_CONSISTENCY_DEFAULT);
    cn__server_reply(s, call, rc, rc == CN_ECORRUPT ? "snapshot rejected: corrupt data" : NULL);
}

void cn__snapshot_restore(struct cn_server *s, struct cn_rpc_call *call)
{
    struct cn_snap_meta m;
    uint8_t *cmd;
    struct op_wait *w;
    int rc;

    if (cn_snap_parse(call->args.data, call->args.len, &m) < 0) {
        cn__server_reply(s, call, CN_EBADREQ, "Invalid snapshot: bad header or checksum");
        return;
    }
    if (!cn_server_is_leader(s)) {
        cn__route_write(s, call, NULL, 0); /* Forwards or holds. */
        return;
    }
    cmd = cn_alloc(1 + RESTORE_CHUNK_BYTES);
    if (!cmd) {
        cn__server_reply(s, call, -ENOMEM, NULL);
        return;
    }
    cmd[0] = CMD_RESTORE_BEGIN;
    put_le(cmd + 1, m.data_len, 8);
    put_le(cmd + 9, cn_crc32c(0, m.data, m.data_len), 4);
    rc = cn_raft_node_propose(s->raft, cmd, 13, NULL, NULL, NULL);
    for (size_t off = 0; rc == 0 && off < m.data_len; off += RESTORE_CHUNK_BYTES) {
        size_t n = CN_MIN(RESTORE_CHUNK_BYTES, m.data_len - off);
        cmd[0] = CMD_RESTORE_CHUNK;
        memcpy(cmd + 1, m.data + off, n);
        rc = cn_raft_node_propose(s->raft, cmd, 1 + n, NULL, NULL, NULL);
    }
    w = rc == 0 ? cn_calloc(1, sizeof *w) : NULL;
    if (rc == 0 && !w)
        rc = -ENOMEM;
    if (rc == 0) {
        w->op.kind = OP_PROPOSE;
        w->op.srv = s;
        w->op.call = call;
        cmd[0] = CMD_RESTORE_END;
        rc = cn_raft_node_propose(s->raft, cmd, 1, restore_done, w, &w->cookie);
        if (rc == 0) {
            cn_free(cmd);
            call->callee_priv = w;
            return;
        }
        cn_free(w);
    }
    cn_free(cmd);
    cn__server_reply(s, call, rc, "restore could not be proposed");
}
