/* state/model_test.c - randomized test of the KV store against a simple
 * reference model (arrays and linear scans, written from the spec, not
 * from the implementation). Thousands of random commands, txns included;
 * after each one the replies, every key, every prefix index and the table
 * indexes must agree. A second store applies the same commands without a
 * reply and must stay byte-identical (snapshots); the store under test is
 * periodically replaced by a restore of its own snapshot.
 *
 * Reproduce a failure with STATE_MODEL_SEED=<seed> (printed on failure);
 * STATE_MODEL_STEPS=<n> runs longer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_util.h"

/* ---- the model ---- */

#define NKEYS 80   /* All strings over {a,b,/} of length 1..4 not starting with '/'. */
static char keys[NKEYS][8];
static size_t key_lens[NKEYS];

enum { M_NONE, M_LIVE, M_TOMB };

struct mrow {
    int state;
    char val[8];
    size_t vlen;
    uint64_t flags, create, modify, lock;
};

struct model {
    struct mrow rows[NKEYS];
    uint64_t last, kv_index;
};

static void make_keys(void)
{
    static const char alpha[] = "ab/";
    int n = 0;
    for (int len = 1; len <= 4; len++) {
        int total = 1;
        for (int i = 0; i < len; i++)
            total *= 3;
        for (int code = 0; code < total; code++) {
            char k[8];
            int c = code;
            for (int i = len - 1; i >= 0; i--, c /= 3)
                k[i] = alpha[c % 3];
            k[len] = '\0';
            if (k[0] == '/')
                continue;
            memcpy(keys[n], k, (size_t)len + 1);
            key_lens[n] = (size_t)len;
            n++;
        }
    }
    CN_ASSERT(n == NKEYS);
}

static int key_id(const uint8_t *k, size_t len)
{
    for (int i = 0; i < NKEYS; i++)
        if (key_lens[i] == len && memcmp(keys[i], k, len) == 0)
            return i;
    return -1;
}

static bool under(int id, const char *p, size_t plen)
{
    return cn_has_prefix(keys[id], key_lens[id], p, plen);
}

/* One expected result entry. */
struct mres {
    const char *key;
    size_t key_len;
    bool with_value;
    struct mrow row;
};

struct mout {
    struct mres res[NKEYS * 8];
    int n_res;
    int err_ops[16];
    int n_err;
    int kv_reply; /* 1 true, 0 false, -1 error string. */
};

static void add_res(struct mout *o, int id, const struct mrow *r, bool with_value)
{
    struct mres *x = &o->res[o->n_res++];
    x->key = keys[id];
    x->key_len = key_lens[id];
    x->with_value = with_value;
    x->row = *r;
}

/* Runs one op on m at idx. 0 ok, 1 failed, -1 an error string (no
 * session). Mirrors consul-compat 5.1/5.2 and Consul's kvs.go. */
static int m_op(struct model *m, uint64_t idx, const struct cn_kv_op *op,
                struct mout *o, bool *changed)
{
    int id = op->key_len ? key_id(op->key, op->key_len) : -1;
    struct mrow *r = id >= 0 ? &m->rows[id] : NULL;
    bool live = r && r->state == M_LIVE;
    switch (op->verb) {
    case CN_KV_CAS:
        if (op->index == 0 ? live : (!live || r->modify != op->index))
            return 1;
        /* fallthrough */
    case CN_KV_SET:
        if (live && r->lock == 0 && r->flags == op->flags &&
            r->vlen == op->value_len && memcmp(r->val, op->value, op->value_len) == 0) {
            add_res(o, id, r, false);
            return 0;
        }
        r->create = live ? r->create : idx;
        r->state = M_LIVE;
        r->modify = idx;
        r->lock = 0;
        r->flags = op->flags;
        memcpy(r->val, op->value, op->value_len);
        r->vlen = op->value_len;
        *changed = true;
        add_res(o, id, r, false);
        return 0;
    case CN_KV_LOCK:
    case CN_KV_UNLOCK:
        if (!op->session)
            return -1;
        if (op->verb == CN_KV_LOCK)
            return -1; /* No sessions exist: invalid session. */
        return 1;      /* Nothing can be held. */
    case CN_KV_DELETE_CAS:
        if (!live)
            return 0;
        if (r->modify != op->index)
            return 1;
        /* fallthrough */
    case CN_KV_DELETE:
        if (live) {
            memset(r, 0, sizeof *r);
            r->state = M_TOMB;
            r->modify = idx;
            *changed = true;
        }
        return 0;
    case CN_KV_DELETE_TREE: {
        bool any = false;
        for (int i = 0; i < NKEYS; i++)
            any |= under(i, (const char *)op->key, op->key_len) &&
                   m->rows[i].state == M_LIVE;
        if (!any)
            return 0;
        for (int i = 0; i < NKEYS; i++)
            if (under(i, (const char *)op->key, op->key_len))
                memset(&m->rows[i], 0, sizeof m->rows[i]);
        if (r) {
            r->state = M_TOMB;
            r->modify = idx;
        }
        *changed = true;
        return 0;
    }
    case CN_KV_GET:
        if (!live)
            return 1;
        add_res(o, id, r, true);
        return 0;
    case CN_KV_GET_OR_EMPTY:
        if (live) {
            add_res(o, id, r, true);
        } else {
            struct mrow z = {0};
            z.flags = op->flags;
            z.modify = op->index;
            add_res(o, id, &z, false);
        }
        return 0;
    case CN_KV_GET_TREE:
        return 2; /* The caller walks it (in key order). */
    case CN_KV_CHECK_INDEX:
        if (!live || r->modify != op->index)
            return 1;
        add_res(o, id, r, false);
        return 0;
    case CN_KV_CHECK_SESSION:
        if (!live || op->session)
            return 1;
        add_res(o, id, r, false);
        return 0;
    case CN_KV_CHECK_NOT_EXISTS:
        return live ? 1 : 0;
    }
    CN_UNREACHABLE();
}

static int by_key(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return cn_bytes_cmp(keys[x], key_lens[x], keys[y], key_lens[y]);
}

static void m_get_tree(const struct model *m, const struct cn_kv_op *op,
                       struct mout *o)
{
    int ids[NKEYS], n = 0;
    for (int i = 0; i < NKEYS; i++)
        if (m->rows[i].state == M_LIVE && under(i, (const char *)op->key, op->key_len))
            ids[n++] = i;
    qsort(ids, (size_t)n, sizeof ids[0], by_key);
    for (int i = 0; i < n; i++)
        add_res(o, ids[i], &m->rows[ids[i]], true);
}

/* A whole command: ops all-or-nothing. */
static void m_apply(struct model *m, uint64_t idx, const struct cn_kv_op *ops,
                    size_t n, bool is_txn, struct mout *o)
{
    struct model copy = *m;
    bool changed = false;
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < n; i++) {
        int rc = m_op(&copy, idx, &ops[i], o, &changed);
        if (rc == 2) {
            m_get_tree(&copy, &ops[i], o);
            rc = 0;
        }
        if (!is_txn)
            o->kv_reply = rc == 0 ? 1 : rc == 1 ? 0 : -1;
        if (rc != 0)
            o->err_ops[o->n_err++] = (int)i;
    }
    if (idx)
        m->last = idx;
    if (o->n_err == 0 && idx) {
        if (changed)
            copy.kv_index = idx;
        copy.last = idx;
        *m = copy;
    }
}

static void m_reap(struct model *m, uint64_t idx, uint64_t up_to)
{
    for (int i = 0; i < NKEYS; i++)
        if (m->rows[i].state == M_TOMB && m->rows[i].modify <= up_to)
            memset(&m->rows[i], 0, sizeof m->rows[i]);
    m->last = idx;
}

static uint64_t m_prefix_index(const struct model *m, const char *p, size_t plen)
{
    uint64_t max = 0;
    if (plen == 0)
        return m->kv_index;
    for (int i = 0; i < NKEYS; i++)
        if (m->rows[i].state != M_NONE && under(i, p, plen) &&
            m->rows[i].modify > max)
            max = m->rows[i].modify;
    return max ? max : m->kv_index;
}

/* ---- comparing ---- */

static void check_store(const struct model *m, struct cn_state *st)
{
    size_t live = 0;
    assert_int_equal(cn_state_last_index(st), m->last);
    assert_int_equal(cn_state_kv_table_index(st), m->kv_index);
    assert_int_equal(cn_state_kv_prefix_index(st, NULL, 0), m->kv_index);
    for (int i = 0; i < NKEYS; i++) {
        const struct mrow *r = &m->rows[i];
        const uint8_t *k = (const uint8_t *)keys[i];
        struct cn_kv_entry e;
        int rc = cn_state_kv_get(st, k, key_lens[i], &e);
        if (r->state == M_LIVE) {
            live++;
            assert_int_equal(rc, 0);
            assert_int_equal(e.value_len, r->vlen);
            if (r->vlen)
                assert_memory_equal(e.value, r->val, r->vlen);
            assert_int_equal(e.flags, r->flags);
            assert_int_equal(e.create_index, r->create);
            assert_int_equal(e.modify_index, r->modify);
            assert_int_equal(e.lock_index, r->lock);
            assert_null(e.session);
        } else {
            assert_int_equal(rc, CN_ENOTFOUND);
        }
        assert_int_equal(cn_state_kv_key_index(st, k, key_lens[i]),
                         r->state == M_LIVE ? r->modify : m->kv_index);
        assert_int_equal(cn_state_kv_prefix_index(st, k, key_lens[i]),
                         m_prefix_index(m, keys[i], key_lens[i]));
    }
    assert_int_equal(cn_state_kv_count(st), live);
}

static void check_results(const struct mout *o, const struct t_txn *t)
{
    assert_int_equal(t->ok, o->n_err == 0);
    if (!t->ok) {
        assert_int_equal(t->n_errors, (uint32_t)o->n_err);
        for (int i = 0; i < o->n_err; i++)
            assert_int_equal(t->err_op[i], (uint64_t)o->err_ops[i]);
        return;
    }
    assert_int_equal(t->n_results, (uint32_t)o->n_res);
    for (int i = 0; i < o->n_res; i++) {
        const struct cn_kv_entry *e = &t->results[i];
        const struct mres *x = &o->res[i];
        assert_false(t->result_nil[i]);
        assert_int_equal(e->key_len, x->key_len);
        assert_memory_equal(e->key, x->key, x->key_len);
        assert_int_equal(e->value_len, x->with_value ? x->row.vlen : 0);
        if (x->with_value && x->row.vlen)
            assert_memory_equal(e->value, x->row.val, x->row.vlen);
        assert_int_equal(e->flags, x->row.flags);
        assert_int_equal(e->create_index, x->row.create);
        assert_int_equal(e->modify_index, x->row.modify);
        assert_int_equal(e->lock_index, x->row.lock);
    }
}

/* ---- random commands ---- */

static void rand_op(struct cn_prng *p, const struct model *m, bool in_txn,
                    struct cn_kv_op *op)
{
    static const char *vals[] = {"", "x", "yy", "zzz"};
    static const enum cn_kv_verb txn_verbs[] = {
        CN_KV_SET, CN_KV_SET, CN_KV_CAS, CN_KV_DELETE, CN_KV_DELETE_CAS,
        CN_KV_DELETE_TREE, CN_KV_GET, CN_KV_GET_OR_EMPTY, CN_KV_GET_TREE,
        CN_KV_CHECK_INDEX, CN_KV_CHECK_SESSION, CN_KV_CHECK_NOT_EXISTS,
        CN_KV_LOCK, CN_KV_UNLOCK};
    static const enum cn_kv_verb kv_verbs[] = {
        CN_KV_SET, CN_KV_SET, CN_KV_SET, CN_KV_CAS, CN_KV_CAS, CN_KV_DELETE,
        CN_KV_DELETE, CN_KV_DELETE_CAS, CN_KV_DELETE_TREE, CN_KV_LOCK,
        CN_KV_UNLOCK};
    int id = (int)cn_prng_below(p, NKEYS);
    const char *v = vals[cn_prng_below(p, 4)];
    memset(op, 0, sizeof *op);
    op->verb = in_txn ? txn_verbs[cn_prng_below(p, CN_ARRAY_LEN(txn_verbs))]
                      : kv_verbs[cn_prng_below(p, CN_ARRAY_LEN(kv_verbs))];
    op->key = (const uint8_t *)keys[id];
    /* Trees also on short prefixes and, rarely, everything. */
    op->key_len = op->verb == CN_KV_DELETE_TREE || op->verb == CN_KV_GET_TREE
                      ? cn_prng_below(p, key_lens[id] + 1) : key_lens[id];
    if (op->verb == CN_KV_DELETE_TREE && op->key_len == 0 &&
        !cn_prng_chance(p, 1, 8))
        op->key_len = key_lens[id];
    op->value = (const uint8_t *)v;
    op->value_len = strlen(v);
    op->flags = cn_prng_below(p, 3);
    switch (cn_prng_below(p, 4)) {
    case 0: op->index = 0; break;
    case 1: op->index = m->rows[id].modify; break;
    case 2: op->index = cn_prng_below(p, m->last + 2); break;
    default: op->index = m->rows[id].state == M_LIVE ? m->rows[id].modify : 1;
    }
    if ((op->verb == CN_KV_LOCK || op->verb == CN_KV_UNLOCK ||
         op->verb == CN_KV_CHECK_SESSION) && cn_prng_chance(p, 2, 3))
        op->session = "0b5ad0a8-30e7-4e0c-8b4e-3a0a4c1f2e11";
}

static struct t_txn tx;

static void run(uint64_t seed, long steps)
{
    struct cn_state *st = t_new(0), *shadow = t_new(0);
    struct model m;
    struct mout o;
    struct cn_prng p;
    struct cn_buf cmd, reply, snap;
    cn_prng_seed(&p, seed);
    memset(&m, 0, sizeof m);
    cn_buf_init(&cmd, 1 << 20);
    cn_buf_init(&reply, 1 << 20);
    for (long step = 0; step < steps; step++) {
        uint64_t idx = m.last + 1 + cn_prng_below(&p, 2); /* Gaps are legal. */
        uint64_t kind = cn_prng_below(&p, 100);
        struct cn_kv_op ops[8];
        size_t n = 1 + cn_prng_below(&p, 8);
        cmd.len = reply.len = 0;
        if (kind < 3) {
            uint64_t up_to = cn_prng_below(&p, idx);
            assert_int_equal(cn_state_cmd_tombstone_reap(&cmd, up_to), 0);
            assert_int_equal(cn_state_apply(st, idx, cmd.data, cmd.len, &reply), 0);
            m_reap(&m, idx, up_to);
        } else if (kind < 55) {
            rand_op(&p, &m, false, &ops[0]);
            m_apply(&m, idx, ops, 1, false, &o);
            assert_int_equal(cn_state_cmd_kv(&cmd, &ops[0]), 0);
            assert_int_equal(cn_state_apply(st, idx, cmd.data, cmd.len, &reply), 0);
            struct cn_mp_reader r;
            bool b;
            cn_mp_reader_init(&r, reply.data, reply.len);
            if (o.kv_reply >= 0) {
                assert_int_equal(cn_mp_read_bool(&r, &b), 0);
                assert_int_equal(b, o.kv_reply == 1);
            } else {
                const uint8_t *s;
                uint32_t sl;
                assert_int_equal(cn_mp_read_str(&r, &s, &sl), 0);
            }
        } else {
            bool ro = kind >= 90;
            for (size_t i = 0; i < n; i++)
                rand_op(&p, &m, true, &ops[i]);
            if (ro) {
                for (size_t i = 0; i < n; i++)
                    if (!cn_state_txn_is_read_only(&ops[i], 1)) {
                        ops[i].verb = CN_KV_GET_OR_EMPTY;
                        if (ops[i].key_len == 0) /* Was a tree prefix. */
                            ops[i].key_len = 1;
                    }
                m_apply(&m, 0, ops, n, true, &o);
                assert_int_equal(t_txn(st, ops, n, true, &tx), 0);
                check_results(&o, &tx);
                cn_buf_close(&tx.reply);
                continue; /* No index used: the shadow skips it too. */
            }
            m_apply(&m, idx, ops, n, true, &o);
            memset(&tx, 0, sizeof tx);
            cn_buf_init(&tx.reply, 1 << 20);
            assert_int_equal(cn_state_cmd_txn(&cmd, ops, n), 0);
            assert_int_equal(cn_state_apply(st, idx, cmd.data, cmd.len, &tx.reply), 0);
            t_txn_decode(&tx);
            check_results(&o, &tx);
            cn_buf_close(&tx.reply);
        }
        assert_int_equal(cn_state_apply(shadow, idx, cmd.data, cmd.len, NULL), 0);
        check_store(&m, st);
        if (step % 500 == 499) {
            struct cn_state *fresh = t_new(0);
            t_snap(st, &snap);
            assert_true(t_same_snap(shadow, &snap));
            assert_int_equal(cn_state_restore(fresh, snap.data, snap.len), 0);
            cn_state_free(st);
            st = fresh;
            check_store(&m, st);
            cn_buf_close(&snap);
        }
    }
    cn_buf_close(&cmd);
    cn_buf_close(&reply);
    cn_state_free(st);
    cn_state_free(shadow);
}

static void test_model(void **state)
{
    const char *env_seed = getenv("STATE_MODEL_SEED");
    const char *env_steps = getenv("STATE_MODEL_STEPS");
    long steps = env_steps ? strtol(env_steps, NULL, 10) : 4000;
    (void)state;
    make_keys();
    if (env_seed) {
        run(strtoull(env_seed, NULL, 10), steps);
        return;
    }
    for (uint64_t seed = 1; seed <= 5; seed++) {
        fprintf(stderr, "model: seed %llu\n", (unsigned long long)seed);
        run(seed, steps);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
