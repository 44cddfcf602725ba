/* state/catmodel_test.c - randomized test of catalog, sessions and locks
 * against a small reference model (fixed arrays, written from the spec:
 * consul-compat 5.1/5.3-5.5 and Consul's catalog.go/session.go).
 *
 * Universe: 4 nodes, service IDs s0/s1 per node with names "a"/"b",
 * checks c0/c1 (bound to a service or node-level) and serfHealth, 4
 * session IDs, 3 KV keys. Random registers (some failing and rolled
 * back), deregisters, session creates/destroys, and KV set/lock/unlock/
 * delete. After each command: replies, every row, lock holders, lock
 * delays, table indexes and per-service indexes must agree; a twin store
 * applies without replies and stays byte-identical; the store is replaced
 * by a restore of its snapshot now and then. STATE_CATMODEL_SEED=<n>
 * replays one seed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cat_test_util.h"

#define NN 4
#define NS 2
#define NC 3   /* c0, c1, serfHealth (index 2: node-level only) */
#define NSESS 4
#define NK 3

static const char *node_names[NN] = {"n0", "n1", "n2", "n3"};
static const char *svc_ids[NS] = {"s0", "s1"};
static const char *svc_names[2] = {"a", "b"};
static const char *check_ids[NC] = {"c0", "c1", "serfHealth"};
static const char *sess_ids[NSESS] = {
    "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
    "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004"};
static const char *kv_keys[NK] = {"k0", "k1", "k2"};

struct mnode { bool on; int addr; uint64_t create, modify; };
struct msvc { bool on; int name, port; uint64_t create, modify; };
struct mcheck { bool on; int svc; int status; int svc_name; uint64_t create, modify; };
struct msess { bool on; int node; int behavior; int checks; uint64_t delay_ms, create; };
struct mkv { bool live; int value, sess; uint64_t lock, create, modify, delay; };

struct model {
    struct mnode nodes[NN];
    struct msvc svcs[NN][NS];
    struct mcheck checks[NN][NC];
    struct msess sess[NSESS];
    struct mkv kv[NK];
    uint64_t last, t_nodes, t_svcs, t_checks, t_sess, t_kv, extinct;
    uint64_t name_index[2];
    /* Per command. */
    uint64_t idx, now;
    bool ch_nodes, ch_svcs, ch_checks, ch_sess, ch_kv;
    bool bump[2], touched_node[NN];
};

static int name_count(const struct model *m, int name)
{
    int n = 0;
    for (int i = 0; i < NN; i++)
        for (int j = 0; j < NS; j++)
            n += m->svcs[i][j].on && m->svcs[i][j].name == name;
    return n;
}

/* ---- model operations ---- */

static void m_kv_write(struct model *m, int k, int value, int sess, uint64_t lock)
{
    struct mkv *e = &m->kv[k];
    if (e->live && e->value == value && e->sess == sess && e->lock == lock)
        return;
    e->create = e->live ? e->create : m->idx;
    e->live = true;
    e->value = value;
    e->sess = sess;
    e->lock = lock;
    e->modify = m->idx;
    m->ch_kv = true;
}

static void m_destroy(struct model *m, int s)
{
    uint64_t delay = m->sess[s].delay_ms > 60000 ? 60000 : m->sess[s].delay_ms;
    for (int k = 0; k < NK; k++) {
        struct mkv *e = &m->kv[k];
        if (!e->live || e->sess != s)
            continue;
        if (m->sess[s].behavior == CN_SESSION_DELETE) {
            e->live = false;
            e->sess = -1;
            m->ch_kv = true;
        } else {
            m_kv_write(m, k, e->value, -1, e->lock);
        }
        if (delay)
            e->delay = m->now + delay;
    }
    m->sess[s].on = false;
    m->ch_sess = true;
}

static void m_sessions_of(struct model *m, int node, int check)
{
    for (int s = 0; s < NSESS; s++)
        if (m->sess[s].on && m->sess[s].node == node &&
            (check < 0 || (m->sess[s].checks >> check) & 1))
            m_destroy(m, s);
}

static void m_del_check(struct model *m, int n, int c)
{
    struct mcheck *ch = &m->checks[n][c];
    if (ch->svc >= 0)
        m->bump[ch->svc_name] = true;
    else
        m->touched_node[n] = true;
    ch->on = false;
    m->ch_checks = true;
    m_sessions_of(m, n, c);
}

static void m_del_svc(struct model *m, int n, int s)
{
    for (int c = 0; c < NC; c++)
        if (m->checks[n][c].on && m->checks[n][c].svc == s)
            m_del_check(m, n, c);
    m->bump[m->svcs[n][s].name] = true;
    m->svcs[n][s].on = false;
    m->ch_svcs = true;
    if (name_count(m, m->svcs[n][s].name) == 0)
        m->extinct = m->idx;
}

static void m_del_node(struct model *m, int n)
{
    for (int s = 0; s < NS; s++)
        if (m->svcs[n][s].on)
            m_del_svc(m, n, s);
    for (int c = 0; c < NC; c++)
        if (m->checks[n][c].on)
            m_del_check(m, n, c);
    m->nodes[n].on = false;
    m->ch_nodes = true;
    m->touched_node[n] = true;
    m_sessions_of(m, n, -1);
}

/* A register: node, optional service, checks (svc -1: node-level). */
struct reg {
    int node, addr;
    bool has_svc;
    int svc, name, port;
    int n_checks;
    int check[NC], check_svc[NC], status[NC];
};

static int m_register(struct model *m, const struct reg *r)
{
    struct mnode *n = &m->nodes[r->node];
    if (!n->on || n->addr != r->addr) {
        n->create = n->on ? n->create : m->idx;
        n->on = true;
        n->addr = r->addr;
        n->modify = m->idx;
        m->ch_nodes = true;
        m->touched_node[r->node] = true;
    }
    if (r->has_svc) {
        struct msvc *s = &m->svcs[r->node][r->svc];
        if (!s->on || s->name != r->name || s->port != r->port) {
            int old = s->on ? s->name : -1;
            if (s->on)
                m->bump[s->name] = true;
            s->create = s->on ? s->create : m->idx;
            s->on = true;
            s->name = r->name;
            s->port = r->port;
            s->modify = m->idx;
            m->ch_svcs = true;
            m->bump[r->name] = true;
            if (old >= 0 && name_count(m, old) == 0) /* Renamed away. */
                m->extinct = m->idx;
        }
    }
    for (int i = 0; i < r->n_checks; i++) {
        int c = r->check[i], sv = r->check_svc[i];
        struct mcheck *ch = &m->checks[r->node][c], nw;
        if (sv >= 0 && !m->svcs[r->node][sv].on)
            return 1; /* Missing service registration: roll back. */
        nw = (struct mcheck){true, sv, r->status[i],
                             sv >= 0 ? m->svcs[r->node][sv].name : -1, 0, 0};
        if (!ch->on || ch->svc != nw.svc || ch->status != nw.status ||
            ch->svc_name != nw.svc_name) {
            nw.create = ch->on ? ch->create : m->idx;
            nw.modify = m->idx;
            if (ch->on && ch->svc >= 0)    /* The old row's service too. */
                m->bump[ch->svc_name] = true;
            else if (ch->on)
                m->touched_node[r->node] = true;
            *ch = nw;
            m->ch_checks = true;
            if (sv >= 0)
                m->bump[nw.svc_name] = true;
            else
                m->touched_node[r->node] = true;
        }
        if (ch->status == CN_HEALTH_CRITICAL)
            m_sessions_of(m, r->node, c);
    }
    return 0;
}

static void m_commit(struct model *m)
{
    for (int n = 0; n < NN; n++)
        for (int s = 0; n < NN && s < NS; s++)
            if (m->touched_node[n] && m->svcs[n][s].on)
                m->bump[m->svcs[n][s].name] = true;
    for (int nm = 0; nm < 2; nm++)
        if (m->bump[nm] && name_count(m, nm) > 0)
            m->name_index[nm] = m->idx;
    if (m->ch_nodes) m->t_nodes = m->idx;
    if (m->ch_svcs) m->t_svcs = m->idx;
    if (m->ch_checks) m->t_checks = m->idx;
    if (m->ch_sess) m->t_sess = m->idx;
    if (m->ch_kv) m->t_kv = m->idx;
}

static void m_begin(struct model *m, uint64_t idx, uint64_t now)
{
    m->idx = idx;
    m->now = now;
    m->ch_nodes = m->ch_svcs = m->ch_checks = m->ch_sess = m->ch_kv = false;
    memset(m->bump, 0, sizeof m->bump);
    memset(m->touched_node, 0, sizeof m->touched_node);
    for (int k = 0; now && k < NK; k++) /* Ended delays are pruned. */
        if (m->kv[k].delay && m->kv[k].delay <= now)
            m->kv[k].delay = 0;
}

/* ---- the same through the store ---- */

static int s_register(struct cn_state *st, const struct reg *r, uint64_t now)
{
    struct cn_register cr;
    struct cn_service s;
    struct cn_check ch[NC];
    static const char *addrs[2] = {"10.0.0.1", "10.0.0.2"};
    memset(&cr, 0, sizeof cr);
    memset(&s, 0, sizeof s);
    memset(ch, 0, sizeof ch);
    cr.node.name = node_names[r->node];
    cr.node.address = addrs[r->addr];
    if (r->has_svc) {
        s.id = svc_ids[r->svc];
        s.name = svc_names[r->name];
        s.port = (uint32_t)r->port;
        cr.service = &s;
    }
    for (int i = 0; i < r->n_checks; i++) {
        ch[i].id = check_ids[r->check[i]];
        ch[i].name = "check";
        ch[i].service_id = r->check_svc[i] >= 0 ? svc_ids[r->check_svc[i]] : NULL;
        ch[i].status = (enum cn_health)r->status[i];
    }
    cr.checks = ch;
    cr.n_checks = (uint32_t)r->n_checks;
    return t_register(st, &cr, now);
}

static void rand_reg(struct cn_prng *p, struct reg *r)
{
    memset(r, 0, sizeof *r);
    r->node = (int)cn_prng_below(p, NN);
    r->addr = (int)cn_prng_below(p, 2);
    r->has_svc = cn_prng_chance(p, 2, 3);
    r->svc = (int)cn_prng_below(p, NS);
    r->name = (int)cn_prng_below(p, 2);
    r->port = 80 + (int)cn_prng_below(p, 2);
    r->n_checks = (int)cn_prng_below(p, NC + 1);
    for (int i = 0; i < r->n_checks; i++) {
        r->check[i] = i == 0 ? (int)cn_prng_below(p, NC) : (r->check[i - 1] + 1) % NC;
        r->check_svc[i] = r->check[i] == 2 ? -1 : (int)cn_prng_below(p, NS + 1) - 1;
        r->status[i] = 1 + (int)cn_prng_below(p, 3);
    }
}

/* ---- comparing ---- */

static void check_all(const struct model *m, struct cn_state *st)
{
    assert_int_equal(cn_state_last_index(st), m->last);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_NODES), m->t_nodes);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SERVICES), m->t_svcs);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_CHECKS), m->t_checks);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SESSIONS), m->t_sess);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_KV), m->t_kv);
    for (int nm = 0; nm < 2; nm++) {
        uint64_t want = name_count(m, nm) ? m->name_index[nm]
                        : m->extinct ? m->extinct
                        : CN_MAX(m->t_nodes, CN_MAX(m->t_svcs, m->t_checks));
        assert_int_equal(cn_state_service_index(st, svc_names[nm]), want);
    }
    for (int n = 0; n < NN; n++) {
        struct cn_node v;
        int rc = cn_state_node_get(st, node_names[n], &v);
        assert_int_equal(rc == 0, m->nodes[n].on);
        if (rc == 0) {
            assert_int_equal(v.create_index, m->nodes[n].create);
            assert_int_equal(v.modify_index, m->nodes[n].modify);
        }
    }
    cn__state_verify(st);
}

struct svc_seen {
    const struct model *m;
    int n;
};

static int svc_cmp(void *ctx, const struct cn_node *node, const struct cn_service *s)
{
    struct svc_seen *x = ctx;
    int n = node->name[1] - '0', i = s->id[1] - '0';
    const struct msvc *ms = &x->m->svcs[n][i];
    assert_true(ms->on);
    assert_string_equal(s->name, svc_names[ms->name]);
    assert_int_equal(s->port, (uint32_t)ms->port);
    assert_int_equal(s->create_index, ms->create);
    assert_int_equal(s->modify_index, ms->modify);
    x->n++;
    return 0;
}

static int check_cmp(void *ctx, const struct cn_check *c)
{
    struct svc_seen *x = ctx;
    int n = c->node[1] - '0', i = strcmp(c->id, "serfHealth") == 0 ? 2 : c->id[1] - '0';
    const struct mcheck *mc = &x->m->checks[n][i];
    assert_true(mc->on);
    assert_int_equal(c->status, mc->status);
    assert_string_equal(c->service_id, mc->svc >= 0 ? svc_ids[mc->svc] : "");
    assert_string_equal(c->service_name, mc->svc_name >= 0 ? svc_names[mc->svc_name] : "");
    assert_int_equal(c->create_index, mc->create);
    assert_int_equal(c->modify_index, mc->modify);
    x->n++;
    return 0;
}

static void check_rows(const struct model *m, struct cn_state *st)
{
    struct svc_seen x = {m, 0};
    int want = 0;
    assert_int_equal(cn_state_services_list(st, svc_cmp, &x), 0);
    for (int n = 0; n < NN; n++)
        for (int s = 0; s < NS; s++)
            want += m->svcs[n][s].on;
    assert_int_equal(x.n, want);
    x.n = 0;
    want = 0;
    assert_int_equal(cn_state_checks_in_state(st, 0, check_cmp, &x), 0);
    for (int n = 0; n < NN; n++)
        for (int c = 0; c < NC; c++)
            want += m->checks[n][c].on;
    assert_int_equal(x.n, want);
    for (int s = 0; s < NSESS; s++) {
        struct cn_session v;
        int rc = cn_state_session_get(st, sess_ids[s], &v);
        assert_int_equal(rc == 0, m->sess[s].on);
        if (rc == 0) {
            assert_string_equal(v.node, node_names[m->sess[s].node]);
            assert_int_equal(v.create_index, m->sess[s].create);
        }
    }
    for (int k = 0; k < NK; k++) {
        struct cn_kv_entry e;
        const struct mkv *mk = &m->kv[k];
        int rc = cn_state_kv_get(st, (const uint8_t *)kv_keys[k], 2, &e);
        assert_int_equal(rc == 0, mk->live);
        if (rc == 0) {
            assert_int_equal(e.value_len, 1);
            assert_int_equal(e.value[0], '0' + mk->value);
            if (mk->sess >= 0)
                assert_string_equal(e.session, sess_ids[mk->sess]);
            else
                assert_null(e.session);
            assert_int_equal(e.lock_index, mk->lock);
            assert_int_equal(e.create_index, mk->create);
            assert_int_equal(e.modify_index, mk->modify);
        }
        assert_int_equal(cn_state_kv_lock_delay(st, (const uint8_t *)kv_keys[k], 2),
                         mk->delay);
    }
}

/* ---- driver ---- */

static int m_session(struct model *m, int s, int node, int behavior, int checks,
                     uint64_t delay_ms)
{
    if (!m->nodes[node].on)
        return 1;
    if (m->sess[s].on)
        return 1;
    for (int c = 0; c < NC; c++) {
        if (!((checks >> c) & 1))
            continue;
        if (!m->checks[node][c].on || m->checks[node][c].status == CN_HEALTH_CRITICAL)
            return 1;
    }
    m->sess[s] = (struct msess){true, node, behavior, checks, delay_ms, m->idx};
    m->ch_sess = true;
    return 0;
}

static int s_session(struct cn_state *st, int s, int node, int behavior,
                     int checks, uint64_t delay_ms)
{
    struct cn_session v;
    struct cn_buf cmd;
    const char *ids[NC];
    uint32_t n = 0;
    int rc;
    memset(&v, 0, sizeof v);
    for (int c = 0; c < NC; c++)
        if ((checks >> c) & 1)
            ids[n++] = check_ids[c];
    v.id = sess_ids[s];
    v.node = node_names[node];
    v.behavior = (enum cn_session_behavior)behavior;
    v.lock_delay_ns = delay_ms * 1000000;
    v.node_checks = ids;
    v.n_node_checks = n;
    cn_buf_init(&cmd, 1 << 16);
    assert_int_equal(cn_state_cmd_session_create(&cmd, &v), 0);
    rc = t_apply_cmd(st, &cmd);
    cn_buf_close(&cmd);
    return rc;
}

/* KV: 0 set, 1 lock, 2 unlock, 3 delete. Reply: 1 true, 0 false, -1 error. */
static int m_kv(struct model *m, int verb, int k, int value, int s)
{
    struct mkv *e = &m->kv[k];
    switch (verb) {
    case 0:
        m_kv_write(m, k, value, e->live ? e->sess : -1, 0);
        return 1;
    case 1:
        if (!m->sess[s].on)
            return -1;
        if (e->live && e->sess >= 0 && e->sess != s)
            return 0;
        m_kv_write(m, k, value, s, !e->live ? 1 : e->sess == s ? e->lock : e->lock + 1);
        return 1;
    case 2:
        if (!e->live || e->sess != s)
            return 0;
        m_kv_write(m, k, value, -1, e->lock);
        return 1;
    default:
        if (e->live) {
            e->live = false;
            e->sess = -1;
            m->ch_kv = true;
        }
        return 1;
    }
}

static int s_kv(struct cn_state *st, int verb, int k, int value, int s)
{
    static const enum cn_kv_verb verbs[] = {CN_KV_SET, CN_KV_LOCK, CN_KV_UNLOCK,
                                            CN_KV_DELETE};
    char v[2] = {(char)('0' + value), 0};
    struct cn_kv_op op = t_op(verbs[verb], kv_keys[k], v);
    if (verb == 1 || verb == 2)
        op.session = sess_ids[s];
    return t_kv_op(st, &op, NULL, 0);
}

static int s_dereg(struct cn_state *st, const char *node, const char *svc,
                   const char *check, uint64_t now)
{
    struct cn_deregister d = {node, svc, check};
    struct cn_buf cmd;
    int rc;
    cn_buf_init(&cmd, 1 << 16);
    assert_int_equal(cn_state_cmd_deregister(&cmd, &d, now), 0);
    rc = t_apply_cmd(st, &cmd);
    cn_buf_close(&cmd);
    return rc;
}

/* One random command on both; returns the reply (1, 0 or -1). Commands
 * that carry a clock (register, deregister, destroy) prune lock delays. */
static int step(struct cn_prng *p, struct model *m, struct cn_state *st,
                uint64_t now)
{
    uint64_t kind = cn_prng_below(p, 100);
    int want, got;
    if (kind < 35) {
        struct reg r;
        rand_reg(p, &r);
        m_begin(m, m->last + 1, now);
        want = m_register(m, &r) ? -1 : 1;
        got = s_register(st, &r, now);
    } else if (kind < 45) {
        int n = (int)cn_prng_below(p, NN), what = (int)cn_prng_below(p, 3);
        int i = (int)cn_prng_below(p, what == 1 ? NS : NC);
        m_begin(m, m->last + 1, now);
        if (m->nodes[n].on) {
            if (what == 0)
                m_del_node(m, n);
            else if (what == 1 && m->svcs[n][i].on)
                m_del_svc(m, n, i);
            else if (what == 2 && m->checks[n][i].on)
                m_del_check(m, n, i);
        }
        want = 1;
        got = s_dereg(st, node_names[n], what == 1 ? svc_ids[i] : NULL,
                      what == 2 ? check_ids[i] : NULL, now);
    } else if (kind < 60) {
        int s = (int)cn_prng_below(p, NSESS), n = (int)cn_prng_below(p, NN);
        int b = 1 + (int)cn_prng_below(p, 2), c = (int)cn_prng_below(p, 8);
        uint64_t delay = cn_prng_below(p, 3) * 40000;
        m_begin(m, m->last + 1, 0);
        want = m_session(m, s, n, b, c, delay) ? -1 : 1;
        got = s_session(st, s, n, b, c, delay);
    } else if (kind < 68) {
        int s = (int)cn_prng_below(p, NSESS);
        m_begin(m, m->last + 1, now);
        if (m->sess[s].on)
            m_destroy(m, s);
        want = 1;
        got = t_destroy(st, sess_ids[s], now);
    } else {
        int verb = (int)cn_prng_below(p, 4), k = (int)cn_prng_below(p, NK);
        int value = (int)cn_prng_below(p, 3), s = (int)cn_prng_below(p, NSESS);
        m_begin(m, m->last + 1, 0);
        want = m_kv(m, verb, k, value, s);
        got = s_kv(st, verb, k, value, s);
    }
    assert_int_equal(got, want);
    return want;
}

static void run(uint64_t seed, long steps)
{
    struct cn_state *st = t_new(0);
    struct model m, saved;
    struct cn_prng p;
    struct cn_buf snap;
    cn_prng_seed(&p, seed);
    memset(&m, 0, sizeof m);
    for (int k = 0; k < NK; k++)
        m.kv[k].sess = -1;
    for (long i = 0; i < steps; i++) {
        saved = m;
        if (step(&p, &m, st, 1000 * (uint64_t)(i + 1)) == 1) {
            m_commit(&m);
        } else { /* Refused or rolled back: only the index moved. */
            uint64_t idx = m.idx;
            m = saved;
            m.idx = idx;
        }
        m.last = m.idx;
        check_all(&m, st);
        check_rows(&m, st);
        if (i % 300 == 299) {
            struct cn_state *fresh = t_new(0);
            t_snap(st, &snap);
            assert_int_equal(cn_state_restore(fresh, snap.data, snap.len), 0);
            assert_true(t_same_snap(fresh, &snap));
            cn_state_free(st);
            st = fresh;
            cn_buf_close(&snap);
        }
    }
    cn_state_free(st);
}

static void test_catalog_model(void **state)
{
    const char *env_seed = getenv("STATE_CATMODEL_SEED");
    const char *env_steps = getenv("STATE_CATMODEL_STEPS");
    long steps = env_steps ? strtol(env_steps, NULL, 10) : 3000;
    (void)state;
    if (env_seed) {
        run(strtoull(env_seed, NULL, 10), steps);
        return;
    }
    for (uint64_t seed = 1; seed <= 4; seed++) {
        fprintf(stderr, "catmodel: seed %llu\n", (unsigned long long)seed);
        run(seed, steps);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
