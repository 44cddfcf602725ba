/* state/kv.c - the KV table: rows, reads, and the single-key verbs.
 *
 * Storage: one cn_rbtree of rows, ordered by key bytes (memcmp), so a
 * prefix is a seek plus an in-order walk. A row is a single allocation,
 * header + key + value (80 bytes of header on LP64): with 256-byte values
 * that is ~370 bytes per key including malloc's overhead, against ~600
 * for a node with separately allocated key and value buffers.
 *
 * Rows are immutable once linked: a write allocates the new row and swaps
 * it in through cn__state_swap_kv(), which logs (old, new) for rollback.
 *
 * Tombstones (consul-compat.md 3.1): a delete swaps the row for a
 * value-less tombstone whose ModifyIndex is the delete's index, so the
 * blocking index of any prefix above it never goes backwards. A
 * delete-tree leaves one tombstone at the prefix (like Consul) and drops
 * everything under it, tombstones too: any prefix longer than the deleted
 * one is then empty and reports the table index, which is newer. Reaping
 * (CN_CMD_TOMBSTONE_REAP) drops tombstones up to an index; Consul's reap
 * wakes no watcher and moves no index, and neither does ours.
 *
 * Semantics follow hashicorp/consul agent/consul/state/kvs.go: a write
 * equal to the stored row (LockIndex, Flags, Value, Session) is a no-op
 * that keeps ModifyIndex; a plain set keeps the lock holder but stores
 * LockIndex 0, as Consul's kvsSetTxn does.
 */
#include <errno.h>

#include "state_int.h"

void cn__kv_key_fn(const struct cn_rb_node *n, const uint8_t **key,
                   size_t *key_len)
{
    const struct cn__kv_row *r = CN_CONTAINER_OF(n, struct cn__kv_row, node);
    *key = r->data;
    *key_len = cn__kv_key_len(r);
}

struct cn__kv_row *cn__kv_find(const struct cn_state *st, const uint8_t *key,
                               size_t key_len)
{
    struct cn_rb_node *n = cn_rb_find(&st->kv, key, key_len);
    return n ? CN_CONTAINER_OF(n, struct cn__kv_row, node) : NULL;
}

struct cn__kv_row *cn__kv_find_live(const struct cn_state *st,
                                    const uint8_t *key, size_t key_len)
{
    struct cn__kv_row *r = cn__kv_find(st, key, key_len);
    return r && !cn__kv_is_tomb(r) ? r : NULL;
}

struct cn__kv_row *cn__kv_row_new(const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t value_len,
                                  bool tomb)
{
    struct cn__kv_row *r;
    CN_ASSERT(key_len <= CN_KV_KEY_BYTES_MAX);
    CN_ASSERT(value_len <= CN_KV_VALUE_BYTES_MAX);
    CN_ASSERT(!tomb || value_len == 0);
    r = cn_alloc(sizeof *r + key_len + value_len);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    r->key_bits = (uint32_t)key_len | (tomb ? CN__KV_TOMB : 0);
    r->value_len = (uint32_t)value_len;
    if (key_len)
        memcpy(r->data, key, key_len);
    if (value_len)
        memcpy(r->data + key_len, value, value_len);
    return r;
}

static uint64_t row_bytes(const struct cn__kv_row *r)
{
    return r ? (uint64_t)cn__kv_key_len(r) + r->value_len : 0;
}

void cn__kv_link(struct cn_state *st, struct cn__kv_row *old_row,
                 struct cn__kv_row *new_row)
{
    if (old_row && new_row) {
        cn_rb_replace(&st->kv, &old_row->node, &new_row->node);
    } else if (old_row) {
        cn_rb_remove(&st->kv, &old_row->node);
    } else if (new_row) {
        struct cn_rb_node *dup = cn_rb_insert(&st->kv, &new_row->node);
        CN_ASSERT(dup == NULL);
    }
    if (old_row && !cn__kv_is_tomb(old_row)) {
        CN_ASSERT(st->kv_live > 0);
        st->kv_live--;
    }
    if (new_row && !cn__kv_is_tomb(new_row))
        st->kv_live++;
    CN_ASSERT(st->kv_bytes >= row_bytes(old_row));
    st->kv_bytes = st->kv_bytes - row_bytes(old_row) + row_bytes(new_row);
}

void cn__kv_free_all(struct cn_state *st)
{
    struct cn_rb_node *n = cn_rb_first(&st->kv);
    while (n) {
        struct cn_rb_node *next = cn_rb_next(n);
        cn_rb_remove(&st->kv, n);
        cn_free(CN_CONTAINER_OF(n, struct cn__kv_row, node));
        n = next;
    }
    st->kv_live = 0;
    st->kv_bytes = 0;
}

void cn__kv_row_view(const struct cn__kv_row *r, struct cn_kv_entry *out)
{
    CN_ASSERT(!cn__kv_is_tomb(r));
    out->key = r->data;
    out->key_len = cn__kv_key_len(r);
    out->value = r->value_len ? cn__kv_value(r) : NULL;
    out->value_len = r->value_len;
    out->flags = r->flags;
    out->create_index = r->create_index;
    out->modify_index = r->modify_index;
    out->lock_index = r->lock_index;
    out->session = r->session ? cn__session_id(r->session) : NULL;
}

/* ---- reads ---- */

int cn_state_kv_get(const struct cn_state *st, const uint8_t *key,
                    size_t key_len, struct cn_kv_entry *out)
{
    const struct cn__kv_row *r = cn__kv_find_live(st, key, key_len);
    if (!r)
        return CN_ENOTFOUND;
    cn__kv_row_view(r, out);
    return 0;
}

int cn_state_kv_list(const struct cn_state *st, const uint8_t *prefix,
                     size_t prefix_len, cn_kv_visit_fn *fn, void *ctx)
{
    struct cn_rb_node *n = cn_rb_seek(&st->kv, prefix, prefix_len);
    for (; n; n = cn_rb_next(n)) {
        const struct cn__kv_row *r = CN_CONTAINER_OF(n, struct cn__kv_row, node);
        struct cn_kv_entry e;
        int rc;
        if (!cn_has_prefix(r->data, cn__kv_key_len(r), prefix, prefix_len))
            break;
        if (cn__kv_is_tomb(r))
            continue;
        cn__kv_row_view(r, &e);
        rc = fn(ctx, &e);
        if (rc)
            return rc;
    }
    return 0;
}

uint64_t cn_state_kv_key_index(const struct cn_state *st, const uint8_t *key,
                               size_t key_len)
{
    const struct cn__kv_row *r = cn__kv_find_live(st, key, key_len);
    return r ? r->modify_index : st->kv_index;
}

/* Consul's kvsListTxn: the empty prefix reports the table index without a
 * walk; otherwise the max ModifyIndex under the prefix, tombstones
 * included, falling back to the table index when nothing is there. */
uint64_t cn_state_kv_prefix_index(const struct cn_state *st,
                                  const uint8_t *prefix, size_t prefix_len)
{
    struct cn_rb_node *n;
    uint64_t max = 0;
    if (prefix_len == 0)
        return st->kv_index;
    for (n = cn_rb_seek(&st->kv, prefix, prefix_len); n; n = cn_rb_next(n)) {
        const struct cn__kv_row *r = CN_CONTAINER_OF(n, struct cn__kv_row, node);
        if (!cn_has_prefix(r->data, cn__kv_key_len(r), prefix, prefix_len))
            break;
        if (r->modify_index > max)
            max = r->modify_index;
    }
    CN_ASSERT(max <= st->kv_index);
    return max ? max : st->kv_index;
}

uint64_t cn_state_kv_table_index(const struct cn_state *st)
{
    return st->kv_index;
}

size_t cn_state_kv_count(const struct cn_state *st)
{
    return st->kv_live;
}

/* ---- entry map ---- */

void cn_state_kv_entry_encode(struct cn_mp_writer *w,
                              const struct cn_kv_entry *e, bool with_value)
{
    cn_mp_put_map(w, e->session ? 7 : 6);
    cn_mp_put_cstr(w, "LockIndex");
    cn_mp_put_uint(w, e->lock_index);
    cn_mp_put_cstr(w, "Key");
    cn_mp_put_str(w, e->key, e->key_len);
    cn_mp_put_cstr(w, "Flags");
    cn_mp_put_uint(w, e->flags);
    cn_mp_put_cstr(w, "Value");
    if (with_value && e->value_len)
        cn_mp_put_bin(w, e->value, e->value_len);
    else
        cn_mp_put_nil(w);
    if (e->session) {
        cn_mp_put_cstr(w, "Session");
        cn_mp_put_cstr(w, e->session);
    }
    cn_mp_put_cstr(w, "CreateIndex");
    cn_mp_put_uint(w, e->create_index);
    cn_mp_put_cstr(w, "ModifyIndex");
    cn_mp_put_uint(w, e->modify_index);
}

static bool name_is(const uint8_t *k, uint32_t kl, const char *name)
{
    return kl == strlen(name) && memcmp(k, name, kl) == 0;
}

static int decode_field(struct cn_mp_reader *r, const uint8_t *k, uint32_t kl,
                        struct cn_kv_entry *out)
{
    const uint8_t *p;
    uint32_t n;
    if (name_is(k, kl, "Key")) {
        if (cn_mp_read_str(r, &p, &n) < 0)
            return CN_EMALFORMED;
        out->key = p;
        out->key_len = n;
    } else if (name_is(k, kl, "Value") || name_is(k, kl, "Session")) {
        bool value = kl == 5;
        if (cn_mp_read_nil(r) == 0)
            return 0;
        if (cn_mp_read_str(r, &p, &n) < 0)
            return CN_EMALFORMED;
        if (value) {
            out->value = n ? p : NULL;
            out->value_len = n;
            return 0;
        }
        if (n == 0 || n > CN_SESSION_ID_BYTES || memchr(p, 0, n))
            return CN_EMALFORMED;
        memcpy(out->session_buf, p, n);
        out->session_buf[n] = '\0';
        out->session = out->session_buf;
    } else if (name_is(k, kl, "LockIndex")) {
        return cn_mp_read_uint(r, &out->lock_index);
    } else if (name_is(k, kl, "Flags")) {
        return cn_mp_read_uint(r, &out->flags);
    } else if (name_is(k, kl, "CreateIndex")) {
        return cn_mp_read_uint(r, &out->create_index);
    } else if (name_is(k, kl, "ModifyIndex")) {
        return cn_mp_read_uint(r, &out->modify_index);
    } else {
        return cn_mp_skip(r);
    }
    return 0;
}

int cn_state_kv_entry_decode(struct cn_mp_reader *r, struct cn_kv_entry *out)
{
    struct cn_kv_entry e;
    uint32_t n;
    memset(&e, 0, sizeof e);
    if (cn_mp_read_map(r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t kl;
        if (cn_mp_read_str(r, &k, &kl) < 0 || decode_field(r, k, kl, &e) < 0)
            return CN_EMALFORMED;
    }
    if (!e.key)
        return CN_EMALFORMED;
    *out = e;
    if (e.session)
        out->session = out->session_buf; /* e's buffer was copied. */
    return 0;
}
