/* state/snap.c - snapshot and restore.
 *
 * Stream (MessagePack values back to back, then a raw trailer):
 *   header  [ "cairn-state", version 1, last_index, kv_index, n_kv ]
 *   n_kv x  [ key bin, value bin | nil (tombstone), flags, create_index,
 *             modify_index, lock_index, session str | nil ]   (key order)
 *   trailer 4 bytes, big-endian CRC32C (Castagnoli) of everything before.
 * Rows go out in key order, so equal stores give byte-identical streams.
 *
 * Snapshot is synchronous over the live tables (the caller runs it on the
 * loop thread or over a fork()ed copy; see DESIGN.md 2). Restore checks
 * the CRC first, then parses into a scratch store, validating every row
 * (order, limits, index bounds) as if it came from a stranger, and swaps
 * it in only when all of it is good; then every armed watch fires.
 */
#include <errno.h>

#include "state_int.h"

#define SNAP_MAGIC "cairn-state"
#define SNAP_VERSION 1
#define SNAP_CHUNK_BYTES (64u << 10)   /* Flush threshold for fn. */
/* The buffer must hold one whole row (a max key and value plus framing)
 * on top of a chunk. */
#define SNAP_BUF_BYTES_MAX \
    (SNAP_CHUNK_BYTES + CN_KV_KEY_BYTES_MAX + CN_KV_VALUE_BYTES_MAX + 256)

struct snap_out {
    struct cn_buf buf;
    struct cn_mp_writer w;
    cn_state_write_fn *fn;
    void *ctx;
    uint32_t crc;
    int err;
};

static void flush(struct snap_out *s)
{
    if (s->err == 0 && s->w.err)
        s->err = s->w.err;
    if (s->err || s->buf.len == 0)
        return;
    s->crc = cn_crc32c(s->crc, s->buf.data, s->buf.len);
    s->err = s->fn(s->ctx, s->buf.data, s->buf.len);
    cn_buf_reset(&s->buf);
}

static void put_row(struct snap_out *s, const struct cn__kv_row *r)
{
    struct cn_mp_writer *w = &s->w;
    cn_mp_put_array(w, 7);
    cn_mp_put_bin(w, r->data, cn__kv_key_len(r));
    if (cn__kv_is_tomb(r))
        cn_mp_put_nil(w);
    else
        cn_mp_put_bin(w, cn__kv_value(r), r->value_len);
    cn_mp_put_uint(w, r->flags);
    cn_mp_put_uint(w, r->create_index);
    cn_mp_put_uint(w, r->modify_index);
    cn_mp_put_uint(w, r->lock_index);
    if (r->session)
        cn_mp_put_cstr(w, cn__session_id(r->session));
    else
        cn_mp_put_nil(w);
}

int cn_state_snapshot(const struct cn_state *st, cn_state_write_fn *fn,
                      void *ctx)
{
    struct snap_out s = {.fn = fn, .ctx = ctx};
    uint8_t trailer[4];
    cn_buf_init(&s.buf, SNAP_BUF_BYTES_MAX);
    cn_mp_writer_init(&s.w, &s.buf);
    cn_mp_put_array(&s.w, 5);
    cn_mp_put_cstr(&s.w, SNAP_MAGIC);
    cn_mp_put_uint(&s.w, SNAP_VERSION);
    cn_mp_put_uint(&s.w, st->last_index);
    cn_mp_put_uint(&s.w, st->kv_index);
    cn_mp_put_uint(&s.w, st->kv.count);
    for (struct cn_rb_node *n = cn_rb_first(&st->kv); n && !s.err;
         n = cn_rb_next(n)) {
        put_row(&s, CN_CONTAINER_OF(n, struct cn__kv_row, node));
        if (s.buf.len >= SNAP_CHUNK_BYTES || s.w.err)
            flush(&s);
    }
    flush(&s);
    if (s.err == 0) {
        trailer[0] = (uint8_t)(s.crc >> 24);
        trailer[1] = (uint8_t)(s.crc >> 16);
        trailer[2] = (uint8_t)(s.crc >> 8);
        trailer[3] = (uint8_t)s.crc;
        s.err = fn(ctx, trailer, sizeof trailer);
    }
    cn_buf_close(&s.buf);
    return s.err;
}

/* ---- restore ---- */

struct snap_in {
    struct cn_mp_reader r;
    struct cn_state tmp;     /* Only the data fields are used. */
    uint64_t last_index;
    uint64_t kv_index;
};

static int read_row(struct snap_in *in, const struct cn__kv_row *prev,
                    struct cn__kv_row **out)
{
    struct cn_mp_reader *r = &in->r;
    const uint8_t *key, *value = NULL;
    uint32_t n, key_len, value_len = 0;
    uint64_t flags, create, modify, lock;
    bool tomb;
    struct cn__kv_row *row;

    if (cn_mp_read_array(r, &n) < 0 || n != 7 ||
        cn_mp_read_str(r, &key, &key_len) < 0 || key_len == 0 ||
        key_len > CN_KV_KEY_BYTES_MAX)
        return CN_ECORRUPT;
    tomb = cn_mp_read_nil(r) == 0;
    if (!tomb && (cn_mp_read_str(r, &value, &value_len) < 0 ||
                  value_len > CN_KV_VALUE_BYTES_MAX))
        return CN_ECORRUPT;
    if (cn_mp_read_uint(r, &flags) < 0 || cn_mp_read_uint(r, &create) < 0 ||
        cn_mp_read_uint(r, &modify) < 0 || cn_mp_read_uint(r, &lock) < 0)
        return CN_ECORRUPT;
    /* No session table yet: no row can be locked. */
    if (cn_mp_read_nil(r) < 0)
        return CN_ECORRUPT;
    if (modify == 0 || modify > in->kv_index)
        return CN_ECORRUPT;
    if (tomb ? (flags || create || lock) : (create == 0 || create > modify))
        return CN_ECORRUPT;
    if (prev && cn_bytes_cmp(prev->data, cn__kv_key_len(prev), key,
                             key_len) >= 0)
        return CN_ECORRUPT; /* Out of order or duplicate. */
    row = cn__kv_row_new(key, key_len, value, value_len, tomb);
    if (!row)
        return -ENOMEM;
    row->flags = flags;
    row->create_index = create;
    row->modify_index = modify;
    row->lock_index = lock;
    *out = row;
    return 0;
}

static int read_header(struct snap_in *in, uint64_t *n_kv)
{
    const uint8_t *magic;
    uint32_t n, magic_len;
    uint64_t version;
    if (cn_mp_read_array(&in->r, &n) < 0 || n < 2 ||
        cn_mp_read_str(&in->r, &magic, &magic_len) < 0 ||
        magic_len != strlen(SNAP_MAGIC) ||
        memcmp(magic, SNAP_MAGIC, magic_len) != 0 ||
        cn_mp_read_uint(&in->r, &version) < 0)
        return CN_ECORRUPT;
    if (version != SNAP_VERSION)
        return CN_EUNSUPPORTED;
    if (n != 5 || cn_mp_read_uint(&in->r, &in->last_index) < 0 ||
        cn_mp_read_uint(&in->r, &in->kv_index) < 0 ||
        cn_mp_read_uint(&in->r, n_kv) < 0 || in->kv_index > in->last_index)
        return CN_ECORRUPT;
    return 0;
}

static int parse(struct snap_in *in)
{
    struct cn__kv_row *prev = NULL, *row;
    uint64_t n_kv;
    int rc = read_header(in, &n_kv);
    if (rc < 0)
        return rc;
    for (uint64_t i = 0; i < n_kv; i++) {
        rc = read_row(in, prev, &row);
        if (rc < 0)
            return rc;
        cn__kv_link(&in->tmp, NULL, row);
        prev = row;
    }
    return cn_mp_left(&in->r) == 0 ? 0 : CN_ECORRUPT;
}

int cn_state_restore(struct cn_state *st, const uint8_t *data, size_t len)
{
    struct snap_in in;
    uint32_t crc;
    int rc;

    CN_ASSERT(!st->in_apply);
    if (len < 4)
        return CN_ECORRUPT;
    crc = (uint32_t)data[len - 4] << 24 | (uint32_t)data[len - 3] << 16 |
          (uint32_t)data[len - 2] << 8 | data[len - 1];
    if (cn_crc32c(0, data, len - 4) != crc)
        return CN_ECORRUPT;
    memset(&in, 0, sizeof in);
    cn_mp_reader_init(&in.r, data, len - 4);
    cn_rb_init(&in.tmp.kv, cn__kv_key_fn);
    rc = parse(&in);
    if (rc < 0) {
        cn__kv_free_all(&in.tmp);
        return rc;
    }
    cn__kv_free_all(st);
    st->kv = in.tmp.kv;
    st->kv_live = in.tmp.kv_live;
    st->kv_bytes = in.tmp.kv_bytes;
    st->kv_index = in.kv_index;
    st->last_index = in.last_index;
    cn_logf(&st->log, CN_LOG_INFO, "state: restored index=%llu keys=%zu",
            (unsigned long long)st->last_index, st->kv_live);
    /* Indexes may have gone backwards: every blocked query re-runs. */
    st->in_apply = true;
    cn__watch_touch_all(&st->watches);
    cn__watch_fire(&st->watches);
    st->in_apply = false;
    return 0;
}
