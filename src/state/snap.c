/* state/snap.c - snapshot and restore.
 *
 * Stream (MessagePack values back to back, then a raw trailer):
 *   header   [ "cairn-state", version 2, last_index, kv_index, nodes_index,
 *              services_index, checks_index, sessions_index,
 *              service_extinction_index ]
 *   sections, in this order, each [ name, n ] then n rows:
 *     "nodes"    [ node, create, modify ]                 (node wire form)
 *     "services" [ node_name, service, create, modify ]
 *     "svcnames" [ name, index ]                  (per-service-name index)
 *     "checks"   [ check, service_name, [service_tags], create, modify ]
 *     "sessions" [ session, create, modify ]
 *     "kv"       [ key, value | nil (tombstone), flags, create_index,
 *                  modify_index, lock_index, session | nil ]
 *     "delays"   [ key, until_ms ]
 *   trailer  4 bytes, big-endian CRC32C (Castagnoli) of everything before.
 * Rows go out in index order, so equal stores give byte-identical
 * streams. Wire forms are cat_cmd.c's; lock rows are derived (from the KV
 * rows' sessions) and not written.
 *
 * Snapshot is synchronous over the live tables (the caller runs it on the
 * loop thread or over a fork()ed copy; see DESIGN.md 2). Restore checks
 * the CRC first, then parses into a scratch store, validating every row
 * as if it came from a stranger (limits, uniqueness, references, index
 * bounds), and swaps it in only when all of it is good; then every armed
 * watch fires.
 */
#include <errno.h>

#include "cat_int.h"

#define SNAP_MAGIC "cairn-state"
#define SNAP_VERSION 2
#define SNAP_CHUNK_BYTES (64u << 10)   /* Flush threshold for fn. */
/* The buffer must hold one whole row on top of a chunk: a KV row (max key
 * and value) or a catalog row (its limits are smaller). */
#define SNAP_BUF_BYTES_MAX \
    (SNAP_CHUNK_BYTES + CN_KV_KEY_BYTES_MAX + CN_KV_VALUE_BYTES_MAX + 256)

static const char *const sections[] = {"nodes", "services", "svcnames", "checks",
                                       "sessions", "kv", "delays"};

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

static void maybe_flush(struct snap_out *s)
{
    if (s->buf.len >= SNAP_CHUNK_BYTES || s->w.err)
        flush(s);
}

static void put_kv_row(struct cn_mp_writer *w, const struct cn__kv_row *r)
{
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

static void put_row(struct snap_out *s, int section, const struct cn_rb_node *n)
{
    struct cn_mp_writer *w = &s->w;
    switch (section) {
    case 0: {
        const struct cn__node_row *r = CN__ROW(n, const struct cn__node_row, by_name);
        cn_mp_put_array(w, 3);
        cn__put_node(w, &r->v);
        cn_mp_put_uint(w, r->v.create_index);
        cn_mp_put_uint(w, r->v.modify_index);
        break;
    }
    case 1: {
        const struct cn__svc_row *r = CN__ROW(n, const struct cn__svc_row, by_key);
        cn_mp_put_array(w, 4);
        cn_mp_put_cstr(w, r->v.node);
        cn__put_svc(w, &r->v);
        cn_mp_put_uint(w, r->v.create_index);
        cn_mp_put_uint(w, r->v.modify_index);
        break;
    }
    case 2: {
        const struct cn__svcname_row *r = CN__ROW(n, const struct cn__svcname_row, node);
        cn_mp_put_array(w, 2);
        cn_mp_put_str(w, r->name_lc.p, r->name_lc.len);
        cn_mp_put_uint(w, r->index);
        break;
    }
    case 3: {
        const struct cn__check_row *r = CN__ROW(n, const struct cn__check_row, by_key);
        cn_mp_put_array(w, 5);
        cn__put_check(w, &r->v);
        cn_mp_put_cstr(w, r->v.service_name);
        cn_mp_put_array(w, r->v.n_service_tags);
        for (uint32_t i = 0; i < r->v.n_service_tags; i++)
            cn_mp_put_cstr(w, r->v.service_tags[i]);
        cn_mp_put_uint(w, r->v.create_index);
        cn_mp_put_uint(w, r->v.modify_index);
        break;
    }
    case 4: {
        const struct cn__session *r = CN__ROW(n, const struct cn__session, by_id);
        cn_mp_put_array(w, 3);
        cn__put_session(w, &r->v);
        cn_mp_put_uint(w, r->v.create_index);
        cn_mp_put_uint(w, r->v.modify_index);
        break;
    }
    case 5:
        put_kv_row(w, CN__ROW(n, const struct cn__kv_row, node));
        break;
    default: {
        const struct cn__delay_row *r = CN__ROW(n, const struct cn__delay_row, node);
        cn_mp_put_array(w, 2);
        cn_mp_put_bin(w, r->key.p, r->key.len);
        cn_mp_put_uint(w, r->until_ms);
        break;
    }
    }
}

static const struct cn_rbtree *section_tree(const struct cn_state *st, int i)
{
    const struct cn_rbtree *t[] = {&st->nodes, &st->svcs, &st->svcnames,
                                   &st->checks, &st->sessions, &st->kv,
                                   &st->delays};
    return t[i];
}

int cn_state_snapshot(const struct cn_state *st, cn_state_write_fn *fn,
                      void *ctx)
{
    struct snap_out s = {.fn = fn, .ctx = ctx};
    uint8_t trailer[4];
    const uint64_t head[] = {st->last_index, st->kv_index, st->nodes_index,
                             st->services_index, st->checks_index,
                             st->sessions_index, st->svc_extinction_index};
    cn_buf_init(&s.buf, SNAP_BUF_BYTES_MAX);
    cn_mp_writer_init(&s.w, &s.buf);
    cn_mp_put_array(&s.w, 2 + CN_ARRAY_LEN(head));
    cn_mp_put_cstr(&s.w, SNAP_MAGIC);
    cn_mp_put_uint(&s.w, SNAP_VERSION);
    for (size_t i = 0; i < CN_ARRAY_LEN(head); i++)
        cn_mp_put_uint(&s.w, head[i]);
    for (int sec = 0; sec < (int)CN_ARRAY_LEN(sections) && !s.err; sec++) {
        const struct cn_rbtree *t = section_tree(st, sec);
        cn_mp_put_array(&s.w, 2);
        cn_mp_put_cstr(&s.w, sections[sec]);
        cn_mp_put_uint(&s.w, t->count);
        for (struct cn_rb_node *n = cn_rb_first(t); n && !s.err; n = cn_rb_next(n)) {
            put_row(&s, sec, n);
            maybe_flush(&s);
        }
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
    const struct cn__kv_row *prev_kv;
};

/* [create, modify] of a row, within its table's index. */
static int read_indexes(struct cn_mp_reader *r, uint64_t table_index,
                        uint64_t *create, uint64_t *modify)
{
    if (cn_mp_read_uint(r, create) < 0 || cn_mp_read_uint(r, modify) < 0 ||
        *create == 0 || *create > *modify || *modify > table_index)
        return CN_ECORRUPT;
    return 0;
}

static int read_node(struct snap_in *in)
{
    struct cn_state *t = &in->tmp;
    struct cn__node_in ni;
    struct cn__node_row *row;
    uint32_t n;
    uint64_t c, m;
    if (cn_mp_read_array(&in->r, &n) < 0 || n != 3 ||
        cn__node_read(&in->r, &ni) < 0 || ni.name.n == 0 ||
        read_indexes(&in->r, t->nodes_index, &c, &m) < 0 ||
        cn__node_find(t, ni.name.p, ni.name.n) ||
        (ni.id.n && cn__node_find_id(t, ni.id.p, ni.id.n)))
        return CN_ECORRUPT;
    if (!(row = cn__node_row_new(&ni)))
        return -ENOMEM;
    row->v.create_index = c;
    row->v.modify_index = m;
    cn__link(t, CN__UNDO_NODE, NULL, row);
    return 0;
}

static int read_service(struct snap_in *in)
{
    struct cn_state *t = &in->tmp;
    struct cn__svc_in si;
    struct cn__s node_name;
    const struct cn__node_row *node;
    struct cn__svc_row *row;
    struct cn__svcname_row *sn;
    uint32_t n;
    uint64_t c, m;
    if (cn_mp_read_array(&in->r, &n) < 0 || n != 4 ||
        cn__str_read(&in->r, &node_name, CN_CATALOG_STR_BYTES_MAX) < 0 ||
        cn__svc_read(&in->r, &si) < 0 || si.name.n == 0 ||
        read_indexes(&in->r, t->services_index, &c, &m) < 0 ||
        !(node = cn__node_find(t, node_name.p, node_name.n)) ||
        cn__svc_find(t, node_name.p, node_name.n, si.id.n ? si.id.p : si.name.p,
                     si.id.n ? si.id.n : si.name.n))
        return CN_ECORRUPT;
    if (!cn__svcname_find(t, si.name.p, si.name.n)) {
        if (!(sn = cn__svcname_row_new(&si.name)))
            return -ENOMEM;
        cn__link(t, CN__UNDO_SVCNAME, NULL, sn);
    }
    if (!(row = cn__svc_row_new(&si, &node_name)))
        return -ENOMEM;
    row->v.create_index = c;
    row->v.modify_index = m;
    cn__link(t, CN__UNDO_SVC, NULL, row);
    return 0;
}

static int read_svcname(struct snap_in *in)
{
    struct cn_state *t = &in->tmp;
    struct cn__s name;
    struct cn__svcname_row *sn;
    uint32_t n;
    uint64_t index;
    if (cn_mp_read_array(&in->r, &n) < 0 || n != 2 ||
        cn__str_read(&in->r, &name, CN_CATALOG_STR_BYTES_MAX) < 0 ||
        cn_mp_read_uint(&in->r, &index) < 0 || index == 0 ||
        index > t->last_index || !(sn = cn__svcname_find(t, name.p, name.n)) ||
        sn->index != 0)
        return CN_ECORRUPT;
    sn->index = index;
    return 0;
}

static int read_check(struct snap_in *in)
{
    struct cn_state *t = &in->tmp;
    struct cn__check_in ci;
    struct cn__s svc_name;
    struct cn__list tags;
    struct cn__check_ctx x = {NULL, NULL, &svc_name, &tags};
    struct cn__check_row *row;
    uint32_t n;
    uint64_t c, m;
    if (cn_mp_read_array(&in->r, &n) < 0 || n != 5 ||
        cn__check_read(&in->r, &ci) < 0 ||
        cn__str_read(&in->r, &svc_name, CN_CATALOG_STR_BYTES_MAX) < 0 ||
        cn__list_read(&in->r, &tags, 1) < 0 ||
        read_indexes(&in->r, t->checks_index, &c, &m) < 0 || ci.status == 0 ||
        (ci.id.n == 0 && ci.name.n) ||
        !(x.node = cn__node_find(t, ci.node.p, ci.node.n)) ||
        cn__check_find(t, ci.node.p, ci.node.n, ci.id.p, ci.id.n))
        return CN_ECORRUPT;
    /* A service check's service exists; a node check names none. */
    if (ci.service_id.n ? !cn__svc_find(t, ci.node.p, ci.node.n, ci.service_id.p,
                                        ci.service_id.n)
                        : (svc_name.n || tags.n))
        return CN_ECORRUPT;
    if (ci.service_id.n && svc_name.n == 0)
        return CN_ECORRUPT;
    if (!(row = cn__check_row_new(&ci, &x)))
        return -ENOMEM;
    row->v.create_index = c;
    row->v.modify_index = m;
    cn__link(t, CN__UNDO_CHECK, NULL, row);
    return 0;
}

static int read_session(struct snap_in *in)
{
    struct cn_state *t = &in->tmp;
    struct cn__sess_in si;
    const struct cn__node_row *node;
    struct cn__session *row;
    uint32_t n;
    uint64_t c, m;
    if (cn_mp_read_array(&in->r, &n) < 0 || n != 3 ||
        cn__sess_read(&in->r, &si) < 0 ||
        read_indexes(&in->r, t->sessions_index, &c, &m) < 0 ||
        !(node = cn__node_find(t, si.node.p, si.node.n)) ||
        cn__session_find(t, (const uint8_t *)si.id.p, si.id.n))
        return CN_ECORRUPT;
    if (!(row = cn__session_row_new(&si)))
        return -ENOMEM;
    row->v.create_index = c;
    row->v.modify_index = m;
    cn__link(t, CN__UNDO_SESSION, NULL, row);
    return 0;
}

static int read_kv(struct snap_in *in)
{
    struct cn_state *t = &in->tmp;
    struct cn_mp_reader *r = &in->r;
    const uint8_t *key, *value = NULL;
    uint32_t n, key_len, value_len = 0;
    uint64_t flags, create, modify, lock;
    const struct cn__session *s = NULL;
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
    if (cn_mp_read_nil(r) < 0) {
        const uint8_t *id;
        uint32_t id_len;
        if (tomb || cn_mp_read_str(r, &id, &id_len) < 0 ||
            !(s = cn__session_find(t, id, id_len)))
            return CN_ECORRUPT; /* A lock needs a live row and a session. */
    }
    if (modify == 0 || modify > t->kv_index)
        return CN_ECORRUPT;
    if (tomb ? (flags || create || lock) : (create == 0 || create > modify))
        return CN_ECORRUPT;
    if (in->prev_kv && cn_bytes_cmp(in->prev_kv->data, cn__kv_key_len(in->prev_kv),
                                    key, key_len) >= 0)
        return CN_ECORRUPT; /* Out of order or duplicate. */
    row = cn__kv_row_new(key, key_len, value, value_len, tomb);
    if (!row)
        return -ENOMEM;
    row->flags = flags;
    row->create_index = create;
    row->modify_index = modify;
    row->lock_index = lock;
    row->session = s;
    cn__kv_link(t, NULL, row);
    in->prev_kv = row;
    if (s) {
        struct cn__lock_row *l = cn__lock_row_new(s, key, key_len);
        if (!l)
            return -ENOMEM;
        cn__link(t, CN__UNDO_LOCK, NULL, l);
    }
    return 0;
}

static int read_delay(struct snap_in *in)
{
    struct cn_state *t = &in->tmp;
    const uint8_t *key;
    uint32_t n, key_len;
    uint64_t until;
    struct cn__delay_row *row;
    if (cn_mp_read_array(&in->r, &n) < 0 || n != 2 ||
        cn_mp_read_str(&in->r, &key, &key_len) < 0 || key_len == 0 ||
        key_len > CN_KV_KEY_BYTES_MAX || cn_mp_read_uint(&in->r, &until) < 0 ||
        cn_rb_find(&t->delays, key, key_len))
        return CN_ECORRUPT;
    if (!(row = cn__delay_row_new(key, key_len, until)))
        return -ENOMEM;
    cn__link(t, CN__UNDO_DELAY, NULL, row);
    return 0;
}

static int read_header(struct snap_in *in)
{
    struct cn_state *t = &in->tmp;
    uint64_t *head[] = {&t->last_index, &t->kv_index, &t->nodes_index,
                        &t->services_index, &t->checks_index,
                        &t->sessions_index, &t->svc_extinction_index};
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
    if (n != 2 + CN_ARRAY_LEN(head))
        return CN_ECORRUPT;
    for (size_t i = 0; i < CN_ARRAY_LEN(head); i++)
        if (cn_mp_read_uint(&in->r, head[i]) < 0 || *head[i] > t->last_index)
            return CN_ECORRUPT;
    return 0;
}

static int parse(struct snap_in *in)
{
    static int (*const readers[])(struct snap_in *) = {
        read_node, read_service, read_svcname, read_check, read_session,
        read_kv, read_delay};
    int rc = read_header(in);
    for (size_t sec = 0; rc == 0 && sec < CN_ARRAY_LEN(sections); sec++) {
        const uint8_t *name;
        uint32_t n, name_len;
        uint64_t rows;
        if (cn_mp_read_array(&in->r, &n) < 0 || n != 2 ||
            cn_mp_read_str(&in->r, &name, &name_len) < 0 ||
            name_len != strlen(sections[sec]) ||
            memcmp(name, sections[sec], name_len) != 0 ||
            cn_mp_read_uint(&in->r, &rows) < 0)
            return CN_ECORRUPT;
        for (uint64_t i = 0; rc == 0 && i < rows; i++)
            rc = readers[sec](in);
        if (rc == 0 && sec == 2) { /* Every name with instances has its index. */
            for (struct cn_rb_node *x = cn_rb_first(&in->tmp.svcnames); x;
                 x = cn_rb_next(x))
                if (CN__ROW(x, struct cn__svcname_row, node)->index == 0)
                    return CN_ECORRUPT;
        }
    }
    if (rc == 0 && cn_mp_left(&in->r) != 0)
        rc = CN_ECORRUPT;
    return rc;
}

/* Swaps every persistent table and index of a and b. */
static void swap_data(struct cn_state *a, struct cn_state *b)
{
#define SWAP_FIELD(f)           \
    do {                        \
        __typeof__(a->f) t_ = a->f; \
        a->f = b->f;            \
        b->f = t_;              \
    } while (0)
    SWAP_FIELD(last_index);
    SWAP_FIELD(kv);
    SWAP_FIELD(kv_index);
    SWAP_FIELD(kv_live);
    SWAP_FIELD(kv_bytes);
    SWAP_FIELD(nodes);
    SWAP_FIELD(nodes_by_id);
    SWAP_FIELD(svcs);
    SWAP_FIELD(svcs_by_name);
    SWAP_FIELD(checks);
    SWAP_FIELD(checks_by_svc);
    SWAP_FIELD(checks_by_status);
    SWAP_FIELD(svcnames);
    SWAP_FIELD(sessions);
    SWAP_FIELD(sessions_by_node);
    SWAP_FIELD(locks);
    SWAP_FIELD(delays);
    SWAP_FIELD(nodes_index);
    SWAP_FIELD(services_index);
    SWAP_FIELD(checks_index);
    SWAP_FIELD(sessions_index);
    SWAP_FIELD(svc_extinction_index);
#undef SWAP_FIELD
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
    cn__cat_init_trees(&in.tmp);
    rc = parse(&in);
    if (rc == 0)
        swap_data(st, &in.tmp); /* in.tmp now holds the old state. */
    cn__kv_free_all(&in.tmp);
    cn__cat_free_all(&in.tmp);
    if (rc < 0)
        return rc;
    cn_logf(&st->log, CN_LOG_INFO, "state: restored index=%llu keys=%zu nodes=%zu",
            (unsigned long long)st->last_index, st->kv_live, st->nodes.count);
    /* Indexes may have gone backwards: every blocked query re-runs. */
    st->in_apply = true;
    cn__watch_touch_all(&st->watches);
    cn__watch_fire(&st->watches);
    st->in_apply = false;
    return 0;
}
