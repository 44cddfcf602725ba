/* state/txn.c - runs a decoded command and builds the proposer's reply.
 *
 * Txn semantics (hashicorp/consul agent/consul/state/txn.go txnDispatch):
 * every op runs, in order, against the state left by the ops before it;
 * a failing op records an error and the run goes on, so the reply lists
 * every failure; if there is any, the caller rolls the whole command back.
 * Results follow txnKVS: get/get-or-empty/get-tree carry values, the other
 * verbs report the row without its value, deletes and check-not-exists
 * report nothing.
 *
 * Whether an op fails never depends on the reply (followers pass none);
 * the error texts are only built when a reply is wanted.
 */
#include <errno.h>
#include <stdio.h>

#include "cat_int.h"

/* ---- reply builder ---- */

struct out {
    struct cn_buf *b;        /* NULL: nobody waits for a reply. */
    size_t start;            /* b->len on entry. */
    struct cn_mp_writer w;
    size_t count_at;         /* Offset of the array32 count to patch. */
    uint32_t count;
    bool txn;                /* Results wanted (CN_CMD_TXN). */
    bool failed;
};

static void put_array32(struct out *o)
{
    static const uint8_t hdr[5] = {0xdd, 0, 0, 0, 0};
    cn_mp_put_raw(&o->w, hdr, sizeof hdr);
    o->count_at = o->b->len - 4;
    o->count = 0;
}

static void out_begin(struct out *o, struct cn_buf *b, uint8_t type)
{
    memset(o, 0, sizeof *o);
    o->b = b;
    if (!b)
        return;
    o->start = b->len;
    cn_mp_writer_init(&o->w, b);
    o->txn = type == CN_CMD_TXN;
    if (!o->txn)
        return;
    cn_mp_put_map(&o->w, 2);
    cn_mp_put_cstr(&o->w, "Results");
    put_array32(o);
}

/* The first failure throws the results away and starts the error list. */
static void out_fail(struct out *o)
{
    if (o->failed)
        return;
    o->failed = true;
    if (!o->b)
        return;
    o->b->len = o->start;
    o->w.err = 0;
    cn_mp_put_map(&o->w, 2);
    cn_mp_put_cstr(&o->w, "Results");
    cn_mp_put_nil(&o->w);
    cn_mp_put_cstr(&o->w, "Errors");
    put_array32(o);
}

static void patch_count(struct out *o)
{
    if (o->w.err)
        return;
    CN_ASSERT(o->count_at + 4 <= o->b->len);
    o->b->data[o->count_at] = (uint8_t)(o->count >> 24);
    o->b->data[o->count_at + 1] = (uint8_t)(o->count >> 16);
    o->b->data[o->count_at + 2] = (uint8_t)(o->count >> 8);
    o->b->data[o->count_at + 3] = (uint8_t)o->count;
}

static void out_result(struct out *o, const struct cn_kv_entry *e,
                       bool with_value)
{
    if (!o->b || !o->txn || o->failed)
        return;
    cn_mp_put_map(&o->w, 1);
    cn_mp_put_cstr(&o->w, "KV");
    cn_state_kv_entry_encode(&o->w, e, with_value);
    o->count++;
}

/* ---- error texts, as Consul words them ---- */

/* Go's %q for a byte string: printable ASCII and valid multi-byte UTF-8
 * pass through; quotes, backslashes, control bytes and invalid UTF-8 are
 * escaped. (Go also escapes non-printable Unicode runes; we do not.) */
void cn__quote(struct cn_buf *b, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    cn_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        bool ok = len > 1 && i + len <= n && c >= 0xc2 && c <= 0xf4;
        for (size_t k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xc0) == 0x80;
        if (ok) {
            cn_buf_append(b, s + i, len);
            i += len;
            continue;
        }
        i++;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            cn_buf_append(b, e, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            cn_buf_putc(b, c);
        } else {
            const char *esc = c == '\a' ? "\\a" : c == '\b' ? "\\b"
                            : c == '\f' ? "\\f" : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                            : c == '\v' ? "\\v" : NULL;
            char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            if (esc)
                cn_buf_append(b, esc, 2);
            else
                cn_buf_append(b, x, 4);
        }
    }
    cn_buf_putc(b, '"');
}

static void text_key(struct cn_buf *b, const char *before,
                     const struct cn__op *op, const char *after)
{
    cn_buf_puts(b, before);
    cn__quote(b, op->key, op->key_len);
    cn_buf_puts(b, after);
}

static void error_text(struct cn_state *st, const struct cn__op *op, int why,
                       struct cn_buf *b)
{
    const struct cn__kv_row *live = cn__kv_find_live(st, op->key, op->key_len);
    switch (why) {
    case CN__WHY_STALE:
        text_key(b, op->verb == CN_KV_CAS ? "failed to set key "
                                          : "failed to delete key ",
                 op, ", index is stale");
        break;
    case CN__WHY_HELD:
        text_key(b, "failed to lock key ", op, ", lock is already held");
        break;
    case CN__WHY_NOT_HELD:
        text_key(b, "failed to unlock key ", op,
                 ", lock isn't held, or is held by another session");
        break;
    case CN__WHY_NO_SESSION:
        cn_buf_puts(b, "missing session");
        break;
    case CN__WHY_BAD_SESSION:
        cn_buf_puts(b, "invalid session ");
        cn__quote(b, op->session, op->session_len);
        break;
    case CN__WHY_MISSING:
        text_key(b, op->verb == CN_KV_CHECK_INDEX ? "failed to check index, key "
                    : op->verb == CN_KV_CHECK_SESSION
                        ? "failed to check session, key " : "key ",
                 op, " doesn't exist");
        break;
    case CN__WHY_EXISTS:
        text_key(b, "key ", op, " exists");
        break;
    case CN__WHY_INDEX:
        text_key(b, "failed index check for key ", op, ", current modify index ");
        cn_buf_put_u64(b, live ? live->modify_index : 0);
        cn_buf_puts(b, " != ");
        cn_buf_put_u64(b, op->index);
        break;
    case CN__WHY_SESSION: {
        const char *cur = live && live->session ? cn__session_id(live->session) : "";
        text_key(b, "failed session check for key ", op, ", current session ");
        cn__quote(b, (const uint8_t *)cur, strlen(cur));
        cn_buf_puts(b, " != ");
        cn__quote(b, op->session, op->session_len);
        break;
    }
    default:
        CN_UNREACHABLE();
    }
}

/* The text of any failure: KV ones from the op, catalog ones from x. */
static void any_text(struct cn_state *st, const struct cn__op *op, int why,
                     const struct cn__cat_ctx *x, struct cn_buf *b)
{
    if (why >= CN__CAT_NO_NODE)
        cn__cat_error(&x->err, why, b);
    else
        error_text(st, op, why, b);
}

static void out_error(struct cn_state *st, struct out *o, uint32_t op_index,
                      const struct cn__op *op, int why,
                      const struct cn__cat_ctx *x)
{
    out_fail(o);
    if (!o->b)
        return;
    cn_buf_reset(&st->scratch);
    any_text(st, op, why, x, &st->scratch);
    cn_mp_put_map(&o->w, 2);
    cn_mp_put_cstr(&o->w, "OpIndex");
    cn_mp_put_uint(&o->w, op_index);
    cn_mp_put_cstr(&o->w, "What");
    cn_mp_put_str(&o->w, st->scratch.data, st->scratch.len);
    o->count++;
}

/* A catalog result: {"Node": ...} / {"Service": ...} / {"Check": ...}. */
static void out_cat(struct out *o, uint8_t kind, const void *row)
{
    if (!o->b || !o->txn || o->failed || !row)
        return;
    cn_mp_put_map(&o->w, 1);
    switch (kind) {
    case CN__OP_NODE:
        cn_mp_put_cstr(&o->w, "Node");
        cn_state_node_encode(&o->w, &((const struct cn__node_row *)row)->v);
        break;
    case CN__OP_SVC:
        cn_mp_put_cstr(&o->w, "Service");
        cn_state_node_service_encode(&o->w, &((const struct cn__svc_row *)row)->v);
        break;
    default:
        cn_mp_put_cstr(&o->w, "Check");
        cn_state_check_encode(&o->w, &((const struct cn__check_row *)row)->v);
        break;
    }
    o->count++;
}

/* ---- running catalog ops (txn.go txnNode/txnService/txnCheck) ---- */

static int cat_cas(struct cn__cat_ctx *x, uint64_t index, uint64_t cur_modify,
                   bool exists)
{
    (void)x;
    if (index == 0 ? exists : (!exists || cur_modify != index))
        return CN__CAT_STALE;
    return 0;
}

static int run_node_op(struct cn__cat_ctx *x, const struct cn__op *op,
                       const void **res)
{
    struct cn__node_in in;
    struct cn_mp_reader r = op->payload;
    struct cn__node_row *cur;
    int rc = cn__node_read(&r, &in);
    CN_ASSERT(rc == 0);
    x->err.detail = "node";
    x->err.a = in.name;
    cur = cn__node_find(x->st, in.name.p, in.name.n);
    switch (op->cverb) {
    case CN_CAT_GET:
        if (in.id.n)
            cur = cn__node_find_id(x->st, in.id.p, in.id.n);
        *res = cur;
        return cur ? 0 : CN__CAT_MISSING;
    case CN_CAT_CAS:
        if ((rc = cat_cas(x, op->index, cur ? cur->v.modify_index : 0, cur)) != 0)
            return rc;
        /* fallthrough */
    case CN_CAT_SET:
        return cn__cat_ensure_node(x, &in, (const struct cn__node_row **)res);
    case CN_CAT_DELETE_CAS:
        if (!cur || cur->v.modify_index != op->index)
            return CN__CAT_STALE_DELETE;
        /* fallthrough */
    default:
        return cur ? cn__cat_delete_node(x, cur) : 0;
    }
}

static int run_svc_op(struct cn__cat_ctx *x, const struct cn__op *op,
                      const void **res)
{
    struct cn__svc_in in;
    struct cn__s node;
    struct cn_mp_reader r = op->payload;
    struct cn__svc_row *cur;
    uint32_t n;
    int rc = cn_mp_read_array(&r, &n);
    cn__list_str(&r, &node);
    rc |= cn__svc_read(&r, &in);
    CN_ASSERT(rc == 0);
    x->err.detail = "service";
    x->err.a = in.id.n ? in.id : in.name;
    x->err.b = node;
    cur = cn__svc_find(x->st, node.p, node.n, x->err.a.p, x->err.a.n);
    switch (op->cverb) {
    case CN_CAT_GET:
        *res = cur;
        return cur ? 0 : CN__CAT_MISSING;
    case CN_CAT_CAS:
        if ((rc = cat_cas(x, op->index, cur ? cur->v.modify_index : 0, cur)) != 0)
            return rc;
        /* fallthrough */
    case CN_CAT_SET:
        return cn__cat_ensure_service(x, &node, &in, (const struct cn__svc_row **)res);
    case CN_CAT_DELETE_CAS:
        if (!cur || cur->v.modify_index != op->index)
            return CN__CAT_STALE_DELETE;
        /* fallthrough */
    default:
        return cur ? cn__cat_delete_service(x, cur) : 0;
    }
}

static int run_check_op(struct cn__cat_ctx *x, const struct cn__op *op,
                        const void **res)
{
    struct cn__check_in in;
    struct cn_mp_reader r = op->payload;
    struct cn__check_row *cur;
    int rc = cn__check_read(&r, &in);
    CN_ASSERT(rc == 0);
    x->err.detail = "check";
    x->err.a = in.id.n ? in.id : in.name;
    x->err.b = in.node;
    cur = cn__check_find(x->st, in.node.p, in.node.n, x->err.a.p, x->err.a.n);
    switch (op->cverb) {
    case CN_CAT_GET:
        *res = cur;
        return cur ? 0 : CN__CAT_MISSING;
    case CN_CAT_CAS:
        if ((rc = cat_cas(x, op->index, cur ? cur->v.modify_index : 0, cur)) != 0)
            return rc;
        /* fallthrough */
    case CN_CAT_SET:
        return cn__cat_ensure_check(x, &in, (const struct cn__check_row **)res);
    case CN_CAT_DELETE_CAS:
        if (!cur || cur->v.modify_index != op->index)
            return CN__CAT_STALE_DELETE;
        /* fallthrough */
    default:
        return cur ? cn__cat_delete_check(x, cur) : 0;
    }
}

static int run_cat_op(struct cn__cat_ctx *x, const struct cn__op *op,
                      struct out *o)
{
    const void *res = NULL;
    int rc;
    memset(&x->err, 0, sizeof x->err);
    CN_ASSERT(x->index > 0 || op->cverb == CN_CAT_GET);
    if (op->kind == CN__OP_NODE)
        rc = run_node_op(x, op, &res);
    else if (op->kind == CN__OP_SVC)
        rc = run_svc_op(x, op, &res);
    else
        rc = run_check_op(x, op, &res);
    if (rc == 0 && op->cverb != CN_CAT_DELETE && op->cverb != CN_CAT_DELETE_CAS)
        out_cat(o, op->kind, res);
    return rc;
}

/* ---- running ops ---- */

struct tree_ctx {
    struct out *o;
};

static int tree_visit(void *ctx, const struct cn_kv_entry *e)
{
    out_result(((struct tree_ctx *)ctx)->o, e, true);
    return 0;
}

/* 0 ok, >0 a CN__WHY_* failure, <0 -ENOMEM. */
static int run_op(struct cn_state *st, uint64_t index, const struct cn__op *op,
                  struct out *o, struct cn__cat_ctx *x)
{
    const struct cn__kv_row *row;
    struct cn_kv_entry e;
    int rc;
    if (op->kind != CN__OP_KV)
        return run_cat_op(x, op, o);
    if (op->verb == CN_KV_GET_TREE) {
        struct tree_ctx tc = {o};
        if (o->b && o->txn && !o->failed)
            cn_state_kv_list(st, op->key, op->key_len, tree_visit, &tc);
        return 0;
    }
    rc = cn__kv_exec(st, index, op, &row);
    if (rc != 0)
        return rc;
    if (row) {
        cn__kv_row_view(row, &e);
        out_result(o, &e, op->verb == CN_KV_GET || op->verb == CN_KV_GET_OR_EMPTY);
    } else if (op->verb == CN_KV_GET_OR_EMPTY) {
        /* Consul answers with the op's own entry, value blanked. */
        memset(&e, 0, sizeof e);
        e.key = op->key;
        e.key_len = op->key_len;
        e.flags = op->flags;
        e.modify_index = op->index;
        if (op->session_len) {
            memcpy(e.session_buf, op->session, op->session_len);
            e.session_buf[op->session_len] = '\0';
            e.session = e.session_buf;
        }
        out_result(o, &e, false);
    }
    return 0;
}

/* A single KV command answers true/false, or an error string for the
 * failures Consul's FSM returns as errors (no/unknown session). */
/* Catalog and session commands answer true, or the error's text. */
static void cat_reply(struct cn_state *st, struct out *o, int why,
                      const struct cn__cat_ctx *x)
{
    if (!o->b)
        return;
    if (why == 0) {
        cn_mp_put_bool(&o->w, true);
        return;
    }
    cn_buf_reset(&st->scratch);
    cn__cat_error(&x->err, why, &st->scratch);
    cn_mp_put_str(&o->w, st->scratch.data, st->scratch.len);
}

static int run_cat_cmd(struct cn__cat_ctx *x, const struct cn__cmd *c)
{
    struct cn__session *s;
    switch (c->type) {
    case CN_CMD_REGISTER:
        return cn__cat_register(x, c);
    case CN_CMD_DEREGISTER:
        return cn__cat_deregister(x, &c->d_node, &c->d_service, &c->d_check);
    case CN_CMD_SESSION_CREATE:
        return cn__session_create(x, &c->sess);
    case CN_CMD_SESSION_DESTROY:
        s = (struct cn__session *)cn__session_find(x->st,
                                                   (const uint8_t *)c->sess_id.p,
                                                   c->sess_id.n);
        return s ? cn__session_destroy(x, s) : 0;
    default:
        CN_UNREACHABLE();
    }
}

static void kv_reply(struct cn_state *st, struct out *o,
                     const struct cn__op *op, int why)
{
    if (!o->b)
        return;
    if (why == CN__WHY_NO_SESSION || why == CN__WHY_BAD_SESSION) {
        cn_buf_reset(&st->scratch);
        error_text(st, op, why, &st->scratch);
        cn_mp_put_str(&o->w, st->scratch.data, st->scratch.len);
    } else {
        cn_mp_put_bool(&o->w, why == 0);
    }
}

int cn__exec(struct cn_state *st, uint64_t index, const struct cn__cmd *c,
             struct cn_buf *reply, bool *failed)
{
    struct out o;
    struct cn__cat_ctx x = {.st = st, .index = index, .now_ms = c->now_ms};
    int rc = 0;
    *failed = false;
    out_begin(&o, reply, c->type);
    /* Lock delays that ran out by the proposer's clock go first. */
    if (index && c->now_ms && (rc = cn__delays_prune(st, c->now_ms)) < 0)
        return rc;
    if (c->type >= CN_CMD_REGISTER) {
        rc = run_cat_cmd(&x, c);
        if (rc >= 0) {
            *failed = rc > 0;
            cat_reply(st, &o, rc, &x);
            rc = 0;
        }
    } else if (c->type == CN_CMD_TOMBSTONE_REAP) {
        rc = cn__kv_reap(st, c->reap_index);
        if (rc == 0 && o.b)
            cn_mp_put_nil(&o.w);
    } else if (c->type == CN_CMD_KV) {
        rc = run_op(st, index, &c->ops[0], &o, &x);
        if (rc >= 0) {
            *failed = rc > 0;
            kv_reply(st, &o, &c->ops[0], rc);
            rc = 0;
        }
    } else {
        for (uint32_t i = 0; i < c->n_ops && rc >= 0; i++) {
            rc = run_op(st, index, &c->ops[i], &o, &x);
            if (rc > 0) {
                out_error(st, &o, i, &c->ops[i], rc, &x);
                *failed = true;
                rc = 0;
            }
        }
        if (rc == 0 && o.b) {
            patch_count(&o);
            if (!o.failed) {
                cn_mp_put_cstr(&o.w, "Errors");
                cn_mp_put_nil(&o.w);
            }
        }
    }
    if (rc < 0) {
        if (o.b)
            o.b->len = o.start;
        return rc;
    }
    if (o.b && o.w.err) {
        o.b->len = o.start;
        return CN_ETOOBIG;
    }
    return 0;
}
