/* state/kv_ops.c - the KV verbs (consul-compat.md 5.1, 5.2), one function
 * each, modelled on hashicorp/consul agent/consul/state/kvs.go and txn.go.
 *
 * Each verb returns <0 (-ENOMEM: the caller rolls the command back), 0 on
 * success, or a CN__WHY_* reason the op failed; *res is the row the op
 * reports (NULL: no result). Failures change nothing.
 */
#include <errno.h>

#include "state_int.h"

static bool value_eq(const struct cn__kv_row *r, const struct cn__op *op)
{
    return r->value_len == op->value_len &&
           (op->value_len == 0 ||
            memcmp(cn__kv_value(r), op->value, op->value_len) == 0);
}

static bool session_is(const struct cn__session *s, const uint8_t *id,
                       uint32_t id_len)
{
    const char *sid;
    if (!s)
        return id_len == 0;
    sid = cn__session_id(s);
    return strlen(sid) == id_len && memcmp(sid, id, id_len) == 0;
}

/* kvsSetTxn: writes op's value and flags with the given lock fields; an
 * unchanged row is left alone (ModifyIndex kept). */
static int write_row(struct cn_state *st, uint64_t index,
                     const struct cn__op *op, struct cn__kv_row *cur,
                     uint64_t lock_index, const struct cn__session *session,
                     const struct cn__kv_row **res)
{
    struct cn__kv_row *live = cur && !cn__kv_is_tomb(cur) ? cur : NULL, *r;
    int rc;
    CN_ASSERT(index > 0);
    if (live && live->lock_index == lock_index && live->flags == op->flags &&
        live->session == session && value_eq(live, op)) {
        *res = live;
        return 0;
    }
    r = cn__kv_row_new(op->key, op->key_len, op->value, op->value_len, false);
    if (!r)
        return -ENOMEM;
    r->create_index = live ? live->create_index : index;
    r->modify_index = index;
    r->lock_index = lock_index;
    r->flags = op->flags;
    r->session = session;
    rc = cn__state_swap_kv(st, cur, r);
    if (rc < 0)
        return rc;
    *res = r;
    return 0;
}

static int kv_set(struct cn_state *st, uint64_t index, const struct cn__op *op,
                  const struct cn__kv_row **res)
{
    struct cn__kv_row *cur = cn__kv_find(st, op->key, op->key_len);
    const struct cn__session *keep =
        cur && !cn__kv_is_tomb(cur) ? cur->session : NULL;
    return write_row(st, index, op, cur, 0, keep, res);
}

static int kv_cas(struct cn_state *st, uint64_t index, const struct cn__op *op,
                  const struct cn__kv_row **res)
{
    struct cn__kv_row *live = cn__kv_find_live(st, op->key, op->key_len);
    if (op->index == 0 ? live != NULL
                       : (!live || live->modify_index != op->index))
        return CN__WHY_STALE;
    return kv_set(st, index, op, res);
}

static int kv_lock(struct cn_state *st, uint64_t index, const struct cn__op *op,
                   const struct cn__kv_row **res)
{
    struct cn__kv_row *cur;
    const struct cn__session *s;
    uint64_t lock_index = 1;
    if (op->session_len == 0)
        return CN__WHY_NO_SESSION;
    s = cn__session_find(st, op->session, op->session_len);
    if (!s)
        return CN__WHY_BAD_SESSION;
    cur = cn__kv_find(st, op->key, op->key_len);
    if (cur && !cn__kv_is_tomb(cur)) {
        if (cur->session == s)
            lock_index = cur->lock_index;       /* Already ours. */
        else if (cur->session)
            return CN__WHY_HELD;
        else
            lock_index = cur->lock_index + 1;
    }
    return write_row(st, index, op, cur, lock_index, s, res);
}

static int kv_unlock(struct cn_state *st, uint64_t index,
                     const struct cn__op *op, const struct cn__kv_row **res)
{
    struct cn__kv_row *live;
    if (op->session_len == 0)
        return CN__WHY_NO_SESSION;
    live = cn__kv_find_live(st, op->key, op->key_len);
    if (!live || !live->session ||
        !session_is(live->session, op->session, op->session_len))
        return CN__WHY_NOT_HELD;
    return write_row(st, index, op, live, live->lock_index, NULL, res);
}

int cn__kv_delete_row(struct cn_state *st, uint64_t index,
                      struct cn__kv_row *live)
{
    struct cn__kv_row *t;
    CN_ASSERT(live && !cn__kv_is_tomb(live));
    t = cn__kv_row_new(live->data, cn__kv_key_len(live), NULL, 0, true);
    if (!t)
        return -ENOMEM;
    t->modify_index = index;
    return cn__state_swap_kv(st, live, t);
}

static int kv_delete(struct cn_state *st, uint64_t index,
                     const struct cn__op *op)
{
    struct cn__kv_row *live = cn__kv_find_live(st, op->key, op->key_len);
    if (!live)
        return 0; /* Deleting a missing key is a success that changes nothing. */
    return cn__kv_delete_row(st, index, live);
}

/* kvsDeleteCASTxn: a missing key counts as deleted (true); otherwise the
 * index must match (0 never matches a stored row). */
static int kv_delete_cas(struct cn_state *st, uint64_t index,
                         const struct cn__op *op)
{
    struct cn__kv_row *live = cn__kv_find_live(st, op->key, op->key_len);
    if (!live)
        return 0;
    if (live->modify_index != op->index)
        return CN__WHY_STALE;
    return cn__kv_delete_row(st, index, live);
}

int cn__kv_delete_tree(struct cn_state *st, uint64_t index,
                       const uint8_t *prefix, size_t prefix_len)
{
    struct cn_rb_node *n, *first = cn_rb_seek(&st->kv, prefix, prefix_len);
    struct cn__kv_row *t;
    bool any = false;
    int rc;
    for (n = first; n && !any; n = cn_rb_next(n)) {
        const struct cn__kv_row *r = CN_CONTAINER_OF(n, struct cn__kv_row, node);
        if (!cn_has_prefix(r->data, cn__kv_key_len(r), prefix, prefix_len))
            break;
        any = !cn__kv_is_tomb(r);
    }
    if (!any)
        return 0; /* Nothing live: no change, no index (like Consul). */
    for (n = first; n;) {
        struct cn_rb_node *next = cn_rb_next(n);
        struct cn__kv_row *r = CN_CONTAINER_OF(n, struct cn__kv_row, node);
        if (!cn_has_prefix(r->data, cn__kv_key_len(r), prefix, prefix_len))
            break;
        rc = cn__state_swap_kv(st, r, NULL);
        if (rc < 0)
            return rc;
        n = next;
    }
    if (prefix_len == 0)
        return 0; /* Everything is gone; the table index speaks for all. */
    t = cn__kv_row_new(prefix, prefix_len, NULL, 0, true);
    if (!t)
        return -ENOMEM;
    t->modify_index = index;
    return cn__state_swap_kv(st, NULL, t);
}

int cn__kv_reap(struct cn_state *st, uint64_t up_to)
{
    struct cn_rb_node *n = cn_rb_first(&st->kv);
    while (n) {
        struct cn_rb_node *next = cn_rb_next(n);
        struct cn__kv_row *r = CN_CONTAINER_OF(n, struct cn__kv_row, node);
        if (cn__kv_is_tomb(r) && r->modify_index <= up_to) {
            int rc = cn__state_swap_kv(st, r, NULL);
            if (rc < 0)
                return rc;
        }
        n = next;
    }
    return 0;
}

static int kv_check(struct cn_state *st, const struct cn__op *op,
                    const struct cn__kv_row **res)
{
    const struct cn__kv_row *live = cn__kv_find_live(st, op->key, op->key_len);
    switch (op->verb) {
    case CN_KV_GET:
        if (!live)
            return CN__WHY_MISSING;
        break;
    case CN_KV_GET_OR_EMPTY:
        break; /* NULL result: the caller reports the op's own entry. */
    case CN_KV_CHECK_INDEX:
        if (!live)
            return CN__WHY_MISSING;
        if (live->modify_index != op->index)
            return CN__WHY_INDEX;
        break;
    case CN_KV_CHECK_SESSION:
        if (!live)
            return CN__WHY_MISSING;
        if (!session_is(live->session, op->session, op->session_len))
            return CN__WHY_SESSION;
        break;
    case CN_KV_CHECK_NOT_EXISTS:
        if (live)
            return CN__WHY_EXISTS;
        return 0;
    default:
        CN_UNREACHABLE();
    }
    *res = live;
    return 0;
}

int cn__kv_exec(struct cn_state *st, uint64_t index, const struct cn__op *op,
                const struct cn__kv_row **res)
{
    *res = NULL;
    CN_ASSERT(index > 0 || cn__verb_read_only(op->verb));
    switch (op->verb) {
    case CN_KV_SET:
        return kv_set(st, index, op, res);
    case CN_KV_CAS:
        return kv_cas(st, index, op, res);
    case CN_KV_LOCK:
        return kv_lock(st, index, op, res);
    case CN_KV_UNLOCK:
        return kv_unlock(st, index, op, res);
    case CN_KV_DELETE:
        return kv_delete(st, index, op);
    case CN_KV_DELETE_CAS:
        return kv_delete_cas(st, index, op);
    case CN_KV_DELETE_TREE:
        return cn__kv_delete_tree(st, index, op->key, op->key_len);
    case CN_KV_GET:
    case CN_KV_GET_OR_EMPTY:
    case CN_KV_CHECK_INDEX:
    case CN_KV_CHECK_SESSION:
    case CN_KV_CHECK_NOT_EXISTS:
        return kv_check(st, op, res);
    default:
        CN_UNREACHABLE(); /* GET_TREE is walked by the caller. */
    }
}
