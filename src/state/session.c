/* state/session.c - sessions, the locks they hold, and lock delays.
 *
 * Semantics of hashicorp/consul agent/consul/state/session.go:
 *  - create needs the node, and every check it names (NodeChecks and
 *    ServiceChecks, on the session's node) registered and not critical;
 *  - invalidation (destroy, node deregistered, a named check deleted or
 *    critical) releases (behavior "release": Session cleared, LockIndex
 *    kept, ModifyIndex moves) or deletes ("delete") every key the session
 *    holds, and puts each such key in lock-delay until now + LockDelay
 *    (capped at 60 s). Time comes from the command (now_ms): the store has
 *    no clock. The leader reads cn_state_kv_lock_delay() before it
 *    proposes an acquire, as Consul's KVS endpoint does.
 * A lock table (session ID, key) finds a session's keys without a scan;
 * cn__locks_update keeps it in step with every KV row swap.
 */
#include <errno.h>
#include <strings.h>

#include "cat_int.h"

static int check_ttl(struct cn__cat_ctx *x, const struct cn__s *ttl)
{
    int64_t ns;
    if (ttl->n == 0)
        return 0;
    x->err.a = *ttl;
    if (cn_duration_parse(ttl->p, ttl->n, &ns) < 0) {
        x->err.detail = "parse";
        return CN__CAT_SESS_TTL;
    }
    if (ns != 0 && (ns < CN_SESSION_TTL_MIN_NS || ns > CN_SESSION_TTL_MAX_NS)) {
        x->err.detail = NULL;
        x->err.num = ns;
        return CN__CAT_SESS_TTL;
    }
    return 0;
}

/* validateSessionChecksTxn. */
static int check_list(struct cn__cat_ctx *x, const struct cn__node_row *node,
                      const struct cn__list *l)
{
    struct cn_mp_reader r = l->r;
    for (uint32_t i = 0; i < l->n; i++) {
        const struct cn__check_row *c;
        struct cn__s id;
        cn__list_str(&r, &id);
        c = cn__check_find(x->st, node->v.name, strlen(node->v.name), id.p, id.n);
        x->err.a = id;
        if (!c)
            return CN__CAT_SESS_CHECK;
        if (c->v.status == CN_HEALTH_CRITICAL)
            return CN__CAT_SESS_CRITICAL;
    }
    return 0;
}

int cn__session_create(struct cn__cat_ctx *x, const struct cn__sess_in *in)
{
    const struct cn__node_row *node = cn__node_find(x->st, in->node.p, in->node.n);
    struct cn__session *row;
    int rc;
    if (!node)
        return CN__CAT_NO_NODE;
    if ((rc = check_ttl(x, &in->ttl)) != 0)
        return rc;
    if (cn__session_find(x->st, (const uint8_t *)in->id.p, in->id.n))
        return CN__CAT_SESS_EXISTS; /* IDs are the proposer's; never reuse. */
    if ((rc = check_list(x, node, &in->node_checks)) != 0 ||
        (rc = check_list(x, node, &in->service_checks)) != 0)
        return rc;
    row = cn__session_row_new(in);
    if (!row)
        return -ENOMEM;
    row->v.create_index = x->index;
    row->v.modify_index = x->index;
    return cn__state_swap(x->st, CN__UNDO_SESSION, NULL, row);
}

static int set_delay(struct cn__cat_ctx *x, const uint8_t *key, size_t len,
                     uint64_t until_ms)
{
    struct cn_rb_node *n = cn_rb_find(&x->st->delays, key, len);
    struct cn__delay_row *old = n ? CN__ROW(n, struct cn__delay_row, node) : NULL;
    struct cn__delay_row *row = cn__delay_row_new(key, len, until_ms);
    if (!row)
        return -ENOMEM;
    return cn__state_swap(x->st, CN__UNDO_DELAY, old, row);
}

/* Releases or deletes the key a lock row points at. */
static int drop_lock(struct cn__cat_ctx *x, const struct cn__session *s,
                     const struct cn__lock_row *l, uint64_t delay_ms)
{
    const uint8_t *key = l->key.p + l->kv_key_off;
    size_t len = l->key.len - l->kv_key_off;
    struct cn__kv_row *kv = cn__kv_find_live(x->st, key, len), *r;
    int rc;
    CN_ASSERT(kv != NULL && kv->session == s);
    if (s->v.behavior == CN_SESSION_DELETE) {
        rc = cn__kv_delete_row(x->st, x->index, kv);
    } else {
        r = cn__kv_row_new(kv->data, len, cn__kv_value(kv), kv->value_len, false);
        if (!r)
            return -ENOMEM;
        r->create_index = kv->create_index;
        r->modify_index = x->index;
        r->lock_index = kv->lock_index;
        r->flags = kv->flags;
        rc = cn__state_swap_kv(x->st, kv, r);
    }
    if (rc < 0 || delay_ms == 0)
        return rc;
    return set_delay(x, key, len, x->now_ms + delay_ms);
}

int cn__session_destroy(struct cn__cat_ctx *x, struct cn__session *s)
{
    struct cn_state *st = x->st;
    uint64_t delay_ns = CN_MIN(s->v.lock_delay_ns,
                               (uint64_t)CN_SESSION_LOCK_DELAY_MAX_NS);
    size_t id_len = strlen(s->v.id);
    uint8_t prefix[CN_SESSION_ID_BYTES + 1];
    struct cn_rb_node *n, *next;
    int rc;
    CN_ASSERT(id_len <= CN_SESSION_ID_BYTES);
    memcpy(prefix, s->v.id, id_len);
    prefix[id_len] = '\0';
    for (n = cn_rb_seek(&st->locks, prefix, id_len + 1); n; n = next) {
        const struct cn__lock_row *l = CN__ROW(n, struct cn__lock_row, node);
        if (!cn_has_prefix(l->key.p, l->key.len, prefix, id_len + 1))
            break;
        next = cn_rb_next(n);
        if ((rc = drop_lock(x, s, l, delay_ns / 1000000)) < 0)
            return rc;
    }
    return cn__state_swap(st, CN__UNDO_SESSION, s, NULL);
}

static bool names_check(const struct cn_session *s, const char *id)
{
    const char *const *lists[2] = {s->node_checks, s->service_checks};
    uint32_t ns[2] = {s->n_node_checks, s->n_service_checks};
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < ns[k]; i++)
            if (strcasecmp(lists[k][i], id) == 0)
                return true;
    return false;
}

static int node_sessions(struct cn__cat_ctx *x, const char *node,
                         const char *check_id)
{
    struct cn_state *st = x->st;
    struct cn__kb kb;
    struct cn_rb_node *n, *next;
    int rc;
    cn__kb_init(&kb);
    cn__kb_add(&kb, node, strlen(node), false);
    cn__kb_sep(&kb);
    for (n = cn__first_under(&st->sessions_by_node, &kb); n; n = next) {
        struct cn__session *s = CN__ROW(n, struct cn__session, by_node);
        next = cn_rb_next(n);
        if (next && !cn__under(&st->sessions_by_node, next, &kb))
            next = NULL;
        if (check_id && !names_check(&s->v, check_id))
            continue;
        if ((rc = cn__session_destroy(x, s)) < 0)
            return rc;
    }
    return 0;
}

int cn__sessions_for_check(struct cn__cat_ctx *x, const struct cn__check_row *c)
{
    return node_sessions(x, c->v.node, c->v.id);
}

int cn__sessions_of_node(struct cn__cat_ctx *x, const struct cn__node_row *n)
{
    return node_sessions(x, n->v.name, NULL);
}

int cn__locks_update(struct cn_state *st, const struct cn__kv_row *old_row,
                     const struct cn__kv_row *new_row)
{
    const struct cn__session *a = old_row && !cn__kv_is_tomb(old_row)
                                      ? old_row->session : NULL;
    const struct cn__session *b = new_row && !cn__kv_is_tomb(new_row)
                                      ? new_row->session : NULL;
    const struct cn__kv_row *k = old_row ? old_row : new_row;
    int rc;
    if (a == b)
        return 0;
    if (a) {
        uint8_t buf[CN_SESSION_ID_BYTES + 1 + CN_KV_KEY_BYTES_MAX];
        size_t id_len = strlen(a->v.id), klen = cn__kv_key_len(k);
        struct cn_rb_node *n;
        CN_ASSERT(id_len <= CN_SESSION_ID_BYTES && klen <= CN_KV_KEY_BYTES_MAX);
        memcpy(buf, a->v.id, id_len);
        buf[id_len] = '\0';
        memcpy(buf + id_len + 1, k->data, klen);
        n = cn_rb_find(&st->locks, buf, id_len + 1 + klen);
        CN_ASSERT(n != NULL);
        rc = cn__state_swap(st, CN__UNDO_LOCK, CN__ROW(n, struct cn__lock_row, node),
                            NULL);
        if (rc < 0)
            return rc;
    }
    if (b) {
        struct cn__lock_row *l = cn__lock_row_new(b, k->data, cn__kv_key_len(k));
        if (!l)
            return -ENOMEM;
        return cn__state_swap(st, CN__UNDO_LOCK, NULL, l);
    }
    return 0;
}

int cn__delays_prune(struct cn_state *st, uint64_t now_ms)
{
    struct cn_rb_node *n = cn_rb_first(&st->delays), *next;
    for (; n; n = next) {
        struct cn__delay_row *d = CN__ROW(n, struct cn__delay_row, node);
        next = cn_rb_next(n);
        if (d->until_ms <= now_ms) {
            int rc = cn__state_swap(st, CN__UNDO_DELAY, d, NULL);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

uint64_t cn_state_kv_lock_delay(const struct cn_state *st, const uint8_t *key,
                                size_t key_len)
{
    struct cn_rb_node *n = cn_rb_find(&st->delays, key, key_len);
    return n ? CN__ROW(n, const struct cn__delay_row, node)->until_ms : 0;
}

/* ---- reads ---- */

int cn_state_session_get(const struct cn_state *st, const char *id,
                         struct cn_session *out)
{
    const struct cn__session *s = cn__session_find(st, (const uint8_t *)id,
                                                   strlen(id));
    if (!s)
        return CN_ENOTFOUND;
    *out = s->v;
    return 0;
}

int cn_state_sessions_list(const struct cn_state *st, cn_session_visit_fn *fn,
                           void *ctx)
{
    for (struct cn_rb_node *n = cn_rb_first(&st->sessions); n; n = cn_rb_next(n)) {
        int rc = fn(ctx, &CN__ROW(n, const struct cn__session, by_id)->v);
        if (rc)
            return rc;
    }
    return 0;
}

int cn_state_node_sessions(const struct cn_state *st, const char *node,
                           cn_session_visit_fn *fn, void *ctx)
{
    struct cn__kb kb;
    size_t len = strlen(node);
    if (len > CN_CATALOG_STR_BYTES_MAX)
        return 0;
    cn__kb_init(&kb);
    cn__kb_add(&kb, node, len, false);
    cn__kb_sep(&kb);
    for (struct cn_rb_node *n = cn__first_under(&st->sessions_by_node, &kb);
         n && cn__under(&st->sessions_by_node, n, &kb); n = cn_rb_next(n)) {
        int rc = fn(ctx, &CN__ROW(n, const struct cn__session, by_node)->v);
        if (rc)
            return rc;
    }
    return 0;
}
