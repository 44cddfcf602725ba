/* state/state.c - life cycle, cn_state_apply, and the undo log.
 *
 * Apply is decode -> run -> commit or roll back -> fire watches:
 *  - decode validates the whole command first (a malformed one changes
 *    nothing but still consumes its index, so every server agrees);
 *  - run mutates the live tables through cn__state_swap_kv(), which logs
 *    each (old row, new row) pair before swapping;
 *  - commit frees the old rows, moves the table index and moves the
 *    watches of every touched key to the firing list; roll back replays
 *    the log backwards and frees the new rows. So a rolled-back txn, a
 *    bytes_max refusal or an allocation failure in the middle of a big
 *    delete-tree all leave the store exactly as it was;
 *  - watches fire last, when the store (last index included) is final.
 */
#include <errno.h>

#include "cat_int.h"

#define SCRATCH_BYTES_MAX (256u << 10) /* Error texts: 4x a quoted max key. */
#define UNDO_KEEP_MAX 4096             /* Undo slots kept between commands. */

_Static_assert(4 * CN_KV_KEY_BYTES_MAX + 1024 < SCRATCH_BYTES_MAX,
               "an error text quoting two keys fits the scratch buffer");

int cn_state_new(struct cn_state **out, const struct cn_state_config *cfg)
{
    struct cn_state *st = cn_calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->log = cfg->log;
    st->bytes_max = cfg->bytes_max;
    cn_rb_init(&st->kv, cn__kv_key_fn);
    cn__cat_init_trees(st);
    cn_buf_init(&st->scratch, SCRATCH_BYTES_MAX);
    cn__watch_init(&st->watches);
    *out = st;
    return 0;
}

void cn_state_free(struct cn_state *st)
{
    if (!st)
        return;
    CN_ASSERT(!st->in_apply);
    cn__watch_close(&st->watches);
    cn__kv_free_all(st);
    cn__cat_free_all(st);
    cn_free(st->undo);
    cn_buf_close(&st->scratch);
    cn_free(st);
}

uint64_t cn_state_last_index(const struct cn_state *st)
{
    return st->last_index;
}

/* ---- undo log ---- */

int cn__state_swap(struct cn_state *st, enum cn__undo_table table,
                   void *old_row, void *new_row)
{
    CN_ASSERT(old_row || new_row);
    CN_ASSERT(st->in_apply);
    if (st->undo_len == st->undo_cap) {
        size_t cap = st->undo_cap ? st->undo_cap * 2 : 64;
        struct cn__undo *u = cn_realloc(st->undo, cap * sizeof *u);
        if (!u) {
            cn_free(new_row);
            return -ENOMEM;
        }
        st->undo = u;
        st->undo_cap = cap;
    }
    st->undo[st->undo_len++] = (struct cn__undo){(uint8_t)table, old_row, new_row};
    cn__link(st, table, old_row, new_row);
    return 0;
}

int cn__state_swap_kv(struct cn_state *st, struct cn__kv_row *old_row,
                      struct cn__kv_row *new_row)
{
    /* The lock table follows the row's holder (session.c). */
    int rc = cn__locks_update(st, old_row, new_row);
    if (rc < 0) {
        cn_free(new_row);
        return rc;
    }
    return cn__state_swap(st, CN__UNDO_KV, old_row, new_row);
}

static void undo_trim(struct cn_state *st)
{
    st->undo_len = 0;
    if (st->undo_cap > UNDO_KEEP_MAX) { /* After a huge delete-tree. */
        cn_free(st->undo);
        st->undo = NULL;
        st->undo_cap = 0;
    }
}

static void rollback(struct cn_state *st)
{
    for (size_t i = st->undo_len; i-- > 0;) {
        struct cn__undo *u = &st->undo[i];
        cn__link(st, u->table, u->new_row, u->old_row);
        cn_free(u->new_row);
    }
    undo_trim(st);
}

/* wake: false for a tombstone reap, which (like Consul's) moves no index
 * and wakes nobody. */
static void set_table(struct cn_state *st, unsigned table, uint64_t index)
{
    uint64_t *idx[] = {NULL, &st->kv_index, &st->nodes_index,
                       &st->services_index, &st->checks_index,
                       &st->sessions_index};
    CN_ASSERT(table > 0 && table < CN_ARRAY_LEN(idx));
    CN_ASSERT(index > *idx[table]);
    *idx[table] = index;
    cn__watch_touch_table(&st->watches, table);
}

static void commit(struct cn_state *st, uint64_t index, bool wake)
{
    unsigned tables = 0;
    if (st->undo_len == 0)
        return;
    for (size_t i = 0; wake && i < st->undo_len; i++) {
        const struct cn__undo *u = &st->undo[i];
        if (u->table == CN__UNDO_KV) {
            const struct cn__kv_row *r = u->new_row ? u->new_row : u->old_row;
            cn__watch_touch_kv(&st->watches, r->data, cn__kv_key_len(r));
            tables |= 1u << CN_TABLE_KV;
        } else {
            cn__cat_commit(st, u, index, &tables);
        }
    }
    for (unsigned t = CN_TABLE_KV; t <= CN_TABLE_SESSIONS; t++)
        if (tables & (1u << t))
            set_table(st, t, index);
    for (size_t i = 0; i < st->undo_len; i++)
        cn_free(st->undo[i].old_row);
    undo_trim(st);
}

/* ---- apply ---- */

int cn_state_apply(struct cn_state *st, uint64_t index, const uint8_t *cmd,
                   size_t cmd_len, struct cn_buf *reply)
{
    struct cn__cmd c;
    size_t start = reply ? reply->len : 0;
    uint64_t bytes_before = st->kv_bytes;
    bool failed;
    int rc;

    CN_ASSERT(index > st->last_index);
    CN_ASSERT(!st->in_apply); /* Not from a watch callback. */
    if (cn__cmd_decode(cmd, cmd_len, &c) < 0) {
        cn_logf(&st->log, CN_LOG_WARN,
                "state: malformed command at index %llu (%zu bytes)",
                (unsigned long long)index, cmd_len);
        st->last_index = index;
        return CN_EMALFORMED;
    }
    st->in_apply = true;
    rc = cn__exec(st, index, &c, reply, &failed);
    if (rc == -ENOMEM) {
        rollback(st);
        st->in_apply = false;
        return rc;
    }
    CN_ASSERT(rc == 0 || rc == CN_ETOOBIG);
    if (failed) {
        rollback(st);
    } else if (st->bytes_max && st->kv_bytes > bytes_before &&
               st->kv_bytes > st->bytes_max) {
        rollback(st);
        if (reply)
            reply->len = start;
        rc = CN_ELIMIT;
    } else {
        commit(st, index, c.type != CN_CMD_TOMBSTONE_REAP);
    }
    CN_ASSERT(st->undo_len == 0);
    st->last_index = index;
    cn__watch_fire(&st->watches);
    st->in_apply = false;
    return rc;
}

int cn_state_txn_read(struct cn_state *st, const uint8_t *cmd, size_t cmd_len,
                      struct cn_buf *reply)
{
    struct cn__cmd c;
    bool failed;
    int rc;
    if (cn__cmd_decode(cmd, cmd_len, &c) < 0 || c.type != CN_CMD_TXN)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < c.n_ops; i++)
        if (c.ops[i].kind == CN__OP_KV ? !cn__verb_read_only(c.ops[i].verb)
                                       : c.ops[i].cverb != CN_CAT_GET)
            return CN_EMALFORMED;
    rc = cn__exec(st, 0, &c, reply, &failed);
    CN_ASSERT(st->undo_len == 0); /* Reads never swap rows. */
    return rc;
}

static void verify_services(const struct cn_state *st)
{
    size_t instances = 0;
    for (struct cn_rb_node *n = cn_rb_first(&st->svcnames); n; n = cn_rb_next(n)) {
        const struct cn__svcname_row *sn = CN__ROW(n, const struct cn__svcname_row, node);
        CN_ASSERT(sn->count > 0); /* Names go with their last instance. */
        CN_ASSERT(sn->index > 0 && sn->index <= st->last_index);
        instances += sn->count;
    }
    CN_ASSERT(instances == st->svcs.count);
    CN_ASSERT(st->svcs_by_name.count == st->svcs.count);
    for (struct cn_rb_node *n = cn_rb_first(&st->svcs); n; n = cn_rb_next(n)) {
        const struct cn__svc_row *r = CN__ROW(n, const struct cn__svc_row, by_key);
        const struct cn__svcname_row *sn = cn__svcname_find(st, r->v.name, strlen(r->v.name));
        CN_ASSERT(cn__node_find(st, r->v.node, strlen(r->v.node)) != NULL);
        CN_ASSERT(sn != NULL);
        CN_ASSERT(r->v.create_index > 0 && r->v.create_index <= r->v.modify_index);
        CN_ASSERT(r->v.modify_index <= st->services_index);
    }
}

static void verify_checks(const struct cn_state *st)
{
    size_t svc_checks = 0;
    CN_ASSERT(st->checks_by_status.count == st->checks.count);
    for (struct cn_rb_node *n = cn_rb_first(&st->checks); n; n = cn_rb_next(n)) {
        const struct cn__check_row *r = CN__ROW(n, const struct cn__check_row, by_key);
        const char *sid = r->v.service_id;
        CN_ASSERT(cn__node_find(st, r->v.node, strlen(r->v.node)) != NULL);
        CN_ASSERT(!sid[0] || cn__svc_find(st, r->v.node, strlen(r->v.node), sid,
                                          strlen(sid)) != NULL);
        CN_ASSERT(r->v.status >= CN_HEALTH_PASSING && r->v.status <= CN_HEALTH_CRITICAL);
        CN_ASSERT(r->v.modify_index <= st->checks_index);
        svc_checks += r->svc_lc_len > 0;
    }
    CN_ASSERT(svc_checks == st->checks_by_svc.count);
}

static void verify_catalog(const struct cn_state *st)
{
    size_t with_id = 0, locked = 0;
    const uint64_t idx[] = {st->nodes_index, st->services_index, st->checks_index,
                            st->sessions_index, st->svc_extinction_index};
    for (size_t i = 0; i < CN_ARRAY_LEN(idx); i++)
        CN_ASSERT(idx[i] <= st->last_index);
    for (struct cn_rb_node *n = cn_rb_first(&st->nodes); n; n = cn_rb_next(n)) {
        const struct cn__node_row *r = CN__ROW(n, const struct cn__node_row, by_name);
        CN_ASSERT(r->v.create_index > 0 && r->v.create_index <= r->v.modify_index);
        CN_ASSERT(r->v.modify_index <= st->nodes_index);
        with_id += r->id_lc.len > 0;
    }
    CN_ASSERT(with_id == st->nodes_by_id.count);
    verify_services(st);
    verify_checks(st);
    CN_ASSERT(st->sessions_by_node.count == st->sessions.count);
    for (struct cn_rb_node *n = cn_rb_first(&st->sessions); n; n = cn_rb_next(n)) {
        const struct cn__session *r = CN__ROW(n, const struct cn__session, by_id);
        CN_ASSERT(cn__node_find(st, r->v.node, strlen(r->v.node)) != NULL);
        CN_ASSERT(r->v.modify_index <= st->sessions_index);
    }
    for (struct cn_rb_node *n = cn_rb_first(&st->kv); n; n = cn_rb_next(n))
        locked += CN__ROW(n, const struct cn__kv_row, node)->session != NULL;
    CN_ASSERT(locked == st->locks.count);
    for (struct cn_rb_node *n = cn_rb_first(&st->locks); n; n = cn_rb_next(n)) {
        const struct cn__lock_row *l = CN__ROW(n, const struct cn__lock_row, node);
        const struct cn__kv_row *kv = cn__kv_find_live(st, l->key.p + l->kv_key_off,
                                                       l->key.len - l->kv_key_off);
        CN_ASSERT(kv != NULL && kv->session == l->session);
        CN_ASSERT(cn__session_find(st, (const uint8_t *)l->session->v.id,
                                   strlen(l->session->v.id)) == l->session);
    }
}

void cn__state_verify(const struct cn_state *st)
{
    const struct cn__kv_row *prev = NULL;
    size_t live = 0, rows = 0;
    uint64_t bytes = 0;
    CN_ASSERT(st->kv_index <= st->last_index);
    CN_ASSERT(st->undo_len == 0 && !st->in_apply);
    for (struct cn_rb_node *n = cn_rb_first(&st->kv); n; n = cn_rb_next(n)) {
        const struct cn__kv_row *r = CN_CONTAINER_OF(n, struct cn__kv_row, node);
        uint32_t kl = cn__kv_key_len(r);
        CN_ASSERT(kl > 0 && kl <= CN_KV_KEY_BYTES_MAX);
        CN_ASSERT(r->value_len <= CN_KV_VALUE_BYTES_MAX);
        CN_ASSERT(r->modify_index > 0 && r->modify_index <= st->kv_index);
        if (cn__kv_is_tomb(r)) {
            CN_ASSERT(r->value_len == 0 && r->session == NULL);
            CN_ASSERT(r->create_index == 0 && r->lock_index == 0 && r->flags == 0);
        } else {
            CN_ASSERT(r->create_index > 0 && r->create_index <= r->modify_index);
            live++;
        }
        if (prev)
            CN_ASSERT(cn_bytes_cmp(prev->data, cn__kv_key_len(prev), r->data,
                                   kl) < 0);
        bytes += kl + r->value_len;
        rows++;
        prev = r;
    }
    CN_ASSERT(rows == st->kv.count);
    CN_ASSERT(live == st->kv_live);
    CN_ASSERT(bytes == st->kv_bytes);
    verify_catalog(st);
}

