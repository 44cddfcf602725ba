/* raft/core_test.c - unit tests of the pure core: the paper's hard cases
 * (Figure 7 follower logs, Figure 8, a partitioned old leader, a removed
 * server that keeps campaigning), the ready contract, ReadIndex batching,
 * leadership transfer, snapshots, membership rules, cookies, input
 * validation and allocation failures. A small in-memory cluster steps the
 * cores; the simulator (sim/) does the randomized rest.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "raft_int.h"

#define TC_MAX 7

struct tc {
    struct cn_raft *r[TC_MAX];
    int n;
    bool cut[TC_MAX + 1][TC_MAX + 1];     /* [from][to] by id */
    bool (*drop)(const struct cn_raft_msg *m);
    uint64_t strip_term; /* Deliver appends without entries of this term. */
    bool allow_enomem;   /* Allocation failures are being injected. */
    uint64_t applied[TC_MAX];
    uint64_t applied_term[TC_MAX][64];   /* Term of each applied index. */
    uint64_t failed[16], n_failed;
    int failed_rc[16];
    uint64_t reads[256], n_reads, read_index[256];
    size_t msgs_now_seen, msgs_seen;
};

static struct cn_raft_conf voters(int n)
{
    struct cn_raft_conf c;
    memset(&c, 0, sizeof c);
    c.n = (uint32_t)n;
    for (int i = 0; i < n; i++) {
        c.members[i].id = (uint64_t)i + 1;
        c.members[i].role = CN_RAFT_VOTER;
    }
    return c;
}

static struct cn_raft_config cfg_for(uint64_t id)
{
    struct cn_raft_config c = {.id = id, .election_ticks = 10, .seed = 7};
    return c;
}

static void tc_boot(struct tc *c, int n, const struct cn_raft_config *base)
{
    struct cn_raft_conf conf = voters(n);
    memset(c, 0, sizeof *c);
    c->n = n;
    for (int i = 0; i < n; i++) {
        struct cn_raft_config cfg = base ? *base : cfg_for((uint64_t)i + 1);
        cfg.id = (uint64_t)i + 1;
        assert_int_equal(cn_raft_new(&c->r[i], &cfg, NULL), 0);
        assert_int_equal(cn_raft_bootstrap(c->r[i], &conf), 0);
    }
}

static void tc_free(struct tc *c)
{
    for (int i = 0; i < c->n; i++)
        cn_raft_free(c->r[i]);
}

static void deliver(struct tc *c, const struct cn_raft_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cn_raft_msg t = m[i];
        if (c->cut[m[i].from][m[i].to] || (c->drop && c->drop(&m[i])))
            continue;
        while (c->strip_term && t.n_entries &&
               t.entries[t.n_entries - 1].term == c->strip_term)
            t.n_entries--; /* As if the tail went in a lost message. */
        int rc = cn_raft_step(c->r[m[i].to - 1], &t);
        assert_true(rc == 0 || (c->allow_enomem && rc == -ENOMEM));
    }
}

/* Runs every node's ready loop until nothing is left to do. */
static void tc_pump(struct tc *c)
{
    for (int round = 0; round < 200; round++) {
        bool any = false;
        for (int i = 0; i < c->n; i++) {
            struct cn_raft_ready rd;
            if (!c->r[i] || !cn_raft_has_ready(c->r[i]))
                continue;
            any = true;
            if (c->allow_enomem && cn_raft_ready(c->r[i], &rd) == -ENOMEM)
                continue; /* Retried next round. */
            if (!c->allow_enomem)
                assert_int_equal(cn_raft_ready(c->r[i], &rd), 0);
            c->msgs_now_seen += rd.n_msgs_now;
            c->msgs_seen += rd.n_msgs;
            deliver(c, rd.msgs_now, rd.n_msgs_now);
            deliver(c, rd.msgs, rd.n_msgs);
            if (rd.snapshot)
                c->applied[i] = rd.snapshot->index;
            for (size_t k = 0; k < rd.n_committed; k++) {
                assert_int_equal(rd.committed[k].index, c->applied[i] + 1);
                c->applied[i]++;
                if (c->applied[i] < 64)
                    c->applied_term[i][c->applied[i]] = rd.committed[k].term;
            }
            for (size_t k = 0; k < rd.n_reads && c->n_reads < 256; k++) {
                c->read_index[c->n_reads] = rd.reads[k].index;
                c->reads[c->n_reads++] = rd.reads[k].cookie;
            }
            for (size_t k = 0; k < rd.n_failed && c->n_failed < 16; k++) {
                c->failed_rc[c->n_failed] = rd.failed[k].rc;
                c->failed[c->n_failed++] = rd.failed[k].cookie;
            }
            cn_raft_advance(c->r[i], &rd);
        }
        if (!any)
            return;
    }
    fail_msg("cluster did not quiesce");
}

static struct cn_raft_status st_of(struct tc *c, int i)
{
    struct cn_raft_status st;
    cn_raft_status(c->r[i], &st);
    return st;
}

/* Ticks node i (only) until it leads. */
static void tc_elect(struct tc *c, int i)
{
    for (int t = 0; t < 100 && st_of(c, i).role != CN_RAFT_LEADER; t++) {
        cn_raft_tick(c->r[i]);
        tc_pump(c);
    }
    assert_int_equal(st_of(c, i).role, CN_RAFT_LEADER);
}

static void tc_tick_all(struct tc *c, int ticks)
{
    for (int t = 0; t < ticks; t++) {
        for (int i = 0; i < c->n; i++)
            if (c->r[i])
                cn_raft_tick(c->r[i]);
        tc_pump(c);
    }
}

static void isolate(struct tc *c, uint64_t id, bool on)
{
    for (int j = 1; j <= c->n; j++) {
        c->cut[id][j] = on;
        c->cut[j][id] = on;
    }
}

/* ---- elections and the ready contract ---------------------------------- */

static void test_elect_and_commit(void **state)
{
    struct tc c;
    uint64_t idx;
    (void)state;
    tc_boot(&c, 3, NULL);
    tc_elect(&c, 0);
    assert_int_equal(st_of(&c, 0).term, 2);
    assert_int_equal(st_of(&c, 0).commit, 2); /* Bootstrap conf + no-op. */
    assert_int_equal(cn_raft_propose(c.r[0], "x", 1, 11, &idx), 0);
    assert_int_equal(idx, 3);
    tc_pump(&c);
    tc_tick_all(&c, 1); /* A heartbeat carries the commit to followers. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(c.applied[i], 3);
    assert_int_equal(cn_raft_propose(c.r[1], "x", 1, 12, NULL), CN_ENOLEADER);
    tc_free(&c);
}

static void test_ready_contract(void **state)
{
    struct cn_raft *r;
    struct cn_raft_config cfg = cfg_for(2);
    struct cn_raft_conf conf = voters(3);
    struct cn_raft_ready rd;
    struct cn_raft_msg vote = {
        .type = CN_RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 5,
        .index = 1, .log_term = 1,
    };
    (void)state;
    assert_int_equal(cn_raft_new(&r, &cfg, NULL), 0);
    assert_int_equal(cn_raft_bootstrap(r, &conf), 0);
    assert_int_equal(cn_raft_ready(r, &rd), 0);
    assert_true(rd.must_sync);
    assert_int_equal(rd.n_entries, 1); /* The bootstrap configuration. */
    cn_raft_advance(r, &rd);
    assert_int_equal(cn_raft_step(r, &vote), 0);
    assert_int_equal(cn_raft_ready(r, &rd), 0);
    /* The grant promises a durable vote: it waits for the sync. */
    assert_true(rd.hs_changed && rd.must_sync);
    assert_int_equal(rd.term, 5);
    assert_int_equal(rd.vote, 1);
    assert_int_equal(rd.n_msgs_now, 0);
    assert_int_equal(rd.n_msgs, 1);
    assert_int_equal(rd.msgs[0].type, CN_RAFT_MSG_VOTE_RESP);
    assert_false(rd.msgs[0].flags & CN_RAFT_F_REJECT);
    cn_raft_advance(r, &rd);
    /* A second candidate in the same term is refused. */
    vote.from = 3;
    assert_int_equal(cn_raft_step(r, &vote), 0);
    assert_int_equal(cn_raft_ready(r, &rd), 0);
    assert_false(rd.hs_changed);
    assert_true(rd.msgs[0].flags & CN_RAFT_F_REJECT);
    cn_raft_advance(r, &rd);
    cn_raft_free(r);
}

static void test_leader_sends_before_sync(void **state)
{
    struct tc c;
    struct cn_raft_ready rd;
    (void)state;
    tc_boot(&c, 3, NULL);
    tc_elect(&c, 0);
    assert_int_equal(cn_raft_propose(c.r[0], "ab", 2, 1, NULL), 0);
    assert_int_equal(cn_raft_ready(c.r[0], &rd), 0);
    /* Thesis 10.2.1: AppendEntries leave while the leader's write syncs. */
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.n_msgs_now, 2);
    assert_int_equal(rd.msgs_now[0].type, CN_RAFT_MSG_APPEND);
    deliver(&c, rd.msgs_now, rd.n_msgs_now);
    cn_raft_advance(c.r[0], &rd);
    tc_pump(&c);
    assert_int_equal(st_of(&c, 0).commit, 3);
    tc_free(&c);
}

/* ---- Figure 7: the followers' logs (a)-(f) ------------------------------ */

static const uint8_t fig7_leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
static const uint8_t fig7_a[] = {1, 1, 1, 4, 4, 5, 5, 6, 6};
static const uint8_t fig7_b[] = {1, 1, 1, 4};
static const uint8_t fig7_c[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6};
static const uint8_t fig7_d[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7};
static const uint8_t fig7_e[] = {1, 1, 1, 4, 4, 4, 4};
static const uint8_t fig7_f[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};

/* A server restored with a log of the given terms; entry 1 holds the
 * configuration of n voters. */
static struct cn_raft *restored(uint64_t id, int n, const uint8_t *terms,
                                size_t len, uint64_t term,
                                const struct cn_raft_config *base)
{
    struct cn_raft_entry ents[16];
    struct cn_raft_conf conf = voters(n);
    struct cn_buf b;
    struct cn_raft_config cfg = base ? *base : cfg_for(id);
    struct cn_raft_restore rs = {.term = term, .entries = ents, .n_entries = len};
    struct cn_raft *r;

    cfg.id = id;
    cn_buf_init(&b, 4096);
    assert_int_equal(cn_raft_conf_encode(&conf, &b), 0);
    memset(ents, 0, sizeof ents);
    for (size_t i = 0; i < len; i++) {
        ents[i].index = i + 1;
        ents[i].term = terms[i];
        ents[i].kind = CN_RAFT_ENTRY_NORMAL;
    }
    ents[0].kind = CN_RAFT_ENTRY_CONF;
    ents[0].data = b.data;
    ents[0].len = (uint32_t)b.len;
    assert_int_equal(cn_raft_new(&r, &cfg, &rs), 0);
    cn_buf_close(&b);
    return r;
}

static void test_figure7_follower_logs(void **state)
{
    static const struct { const uint8_t *t; size_t n; } f[] = {
        {fig7_leader, sizeof fig7_leader}, {fig7_a, sizeof fig7_a},
        {fig7_b, sizeof fig7_b}, {fig7_c, sizeof fig7_c},
        {fig7_d, sizeof fig7_d}, {fig7_e, sizeof fig7_e},
        {fig7_f, sizeof fig7_f},
    };
    struct tc c;
    (void)state;
    memset(&c, 0, sizeof c);
    c.n = 7;
    for (int i = 0; i < 7; i++)
        c.r[i] = restored((uint64_t)i + 1, 7, f[i].t, f[i].n, 7, NULL);
    tc_elect(&c, 0); /* Wins with (a), (b), (e), (f): (c), (d) refuse. */
    assert_int_equal(st_of(&c, 0).term, 8);
    tc_tick_all(&c, 3);
    for (int i = 0; i < 7; i++) {
        struct cn_raft_status st = st_of(&c, i);
        assert_int_equal(st.last_index, 11); /* Leader's 10 + its no-op. */
        assert_int_equal(st.commit, 11);
        for (uint64_t k = 1; k <= 10; k++)
            assert_int_equal(cn__log_term(&c.r[i]->log, k), fig7_leader[k - 1]);
        assert_int_equal(cn__log_term(&c.r[i]->log, 11), 8);
    }
    tc_free(&c);
}

/* ---- Figure 8: old-term entries are not committed by counting ---------- */

static void test_figure8_commit_rule(void **state)
{
    static const uint8_t s12[] = {1, 2}, s34[] = {1}, s5[] = {1, 3};
    struct cn_raft_config base = cfg_for(1);
    struct tc c;
    (void)state;
    base.max_msg_entries = 1;
    memset(&c, 0, sizeof c);
    c.n = 5;
    c.r[0] = restored(1, 5, s12, 2, 3, &base);
    c.r[1] = restored(2, 5, s12, 2, 3, &base);
    c.r[2] = restored(3, 5, s34, 1, 3, &base);
    c.r[3] = restored(4, 5, s34, 1, 3, &base);
    c.r[4] = restored(5, 5, s5, 2, 3, &base);
    isolate(&c, 5, true);
    c.strip_term = 4;
    tc_elect(&c, 0); /* Term 4 (paper Figure 8 (c)). */
    tc_tick_all(&c, 3);
    /* Entry 2 (term 2) is now on S1, S2, S3 and S4: a majority, but not of
     * this term, so it is not committed (Figure 8 (d) may overwrite it). */
    assert_int_equal(cn__log_term(&c.r[2]->log, 2), 2);
    assert_int_equal(st_of(&c, 0).commit, 0);
    /* S1 goes away; S5 (last term 3) wins with S2-S4 and overwrites 2. */
    isolate(&c, 1, true);
    isolate(&c, 5, false);
    c.strip_term = 0;
    for (int i = 1; i < 4; i++) { /* S1's lease is over; S2-S4 stay put. */
        c.r[i]->election_elapsed = c.r[i]->cfg.election_ticks;
        c.r[i]->election_timeout = 1000;
    }
    tc_elect(&c, 4);
    tc_tick_all(&c, 3);
    for (int i = 1; i < 5; i++) {
        assert_int_equal(cn__log_term(&c.r[i]->log, 2), 3);
        assert_true(c.applied[i] >= 2);
        assert_int_equal(c.applied_term[i][2], 3);
    }
    for (int i = 0; i < 5; i++) /* Nobody ever applied (2, term 2). */
        assert_int_not_equal(c.applied_term[i][2], 2);
    tc_free(&c);
}

/* ---- a partitioned old leader ----------------------------------------- */

static void test_partitioned_old_leader(void **state)
{
    struct tc c;
    uint64_t idx_old, idx_new;
    (void)state;
    tc_boot(&c, 5, NULL);
    tc_elect(&c, 0);
    isolate(&c, 1, true);
    assert_int_equal(cn_raft_propose(c.r[0], "old", 3, 7, &idx_old), 0);
    assert_int_equal(cn_raft_read(c.r[0], 8), 0);
    tc_pump(&c);
    /* Check-quorum (thesis 6.2): within two election timeouts (the first
     * check may still count acks from before the cut). */
    for (int t = 0; t < 20; t++) {
        cn_raft_tick(c.r[0]);
        tc_pump(&c);
    }
    assert_int_equal(st_of(&c, 0).role, CN_RAFT_FOLLOWER);
    assert_int_equal(c.n_failed, 2); /* Both cookies: outcome unknown. */
    assert_int_equal(c.failed_rc[0], CN_ENOLEADER);
    assert_int_equal(c.n_reads, 0); /* The read never confirmed. */
    for (int t = 0; t < 100 && st_of(&c, 1).role != CN_RAFT_LEADER; t++) {
        for (int i = 1; i < 5; i++)
            cn_raft_tick(c.r[i]);
        tc_pump(&c);
    }
    assert_int_equal(st_of(&c, 1).role, CN_RAFT_LEADER);
    assert_int_equal(cn_raft_propose(c.r[1], "new", 3, 9, &idx_new), 0);
    tc_pump(&c);
    assert_int_equal(idx_new, idx_old + 1); /* After its own no-op. */
    isolate(&c, 1, false);
    tc_tick_all(&c, 5);
    assert_int_equal(st_of(&c, 1).role, CN_RAFT_LEADER);
    for (int i = 0; i < 5; i++) {
        const struct cn_raft_entry *e = cn__log_at(&c.r[i]->log, idx_old);
        assert_int_equal(e->kind, CN_RAFT_ENTRY_NOOP); /* "old" is gone. */
        assert_int_equal(c.applied[i], idx_new);
    }
    tc_free(&c);
}

/* ---- a removed server that keeps campaigning --------------------------- */

static void removed_server(bool pre_vote)
{
    struct cn_raft_config base = cfg_for(1);
    struct tc c;
    struct cn_raft_stats s4;
    uint64_t term;

    base.disable_pre_vote = !pre_vote;
    tc_boot(&c, 4, &base);
    tc_elect(&c, 0);
    isolate(&c, 4, true);
    assert_int_equal(cn_raft_change(c.r[0], CN_RAFT_REMOVE, 4, NULL, 0, 5, NULL), 0);
    tc_tick_all(&c, 2);
    assert_int_equal(cn_raft_conf(c.r[0])->n, 3);
    assert_non_null(cn_raft_conf_find(cn_raft_conf(c.r[3]), 4));
    term = st_of(&c, 0).term;
    isolate(&c, 4, false);
    tc_tick_all(&c, 200); /* Node 4 never heard of its removal. */
    cn_raft_stats(c.r[3], &s4);
    assert_true(s4.pre_elections + s4.elections > 5);
    assert_int_equal(st_of(&c, 0).role, CN_RAFT_LEADER);
    for (int i = 0; i < 3; i++)
        assert_int_equal(st_of(&c, i).term, term);
    if (pre_vote)
        assert_int_equal(st_of(&c, 3).term, term); /* Pre-vote: no inflation. */
    else
        assert_true(st_of(&c, 3).term > term); /* Lease alone protects. */
    tc_free(&c);
}

static void test_removed_server_prevote(void **state)
{
    (void)state;
    removed_server(true);
}

static void test_removed_server_no_prevote(void **state)
{
    (void)state;
    removed_server(false);
}

/* ---- ReadIndex -------------------------------------------------------- */

static void test_read_index_batched(void **state)
{
    struct tc c;
    struct cn_raft_ready rd;
    size_t hb = 0;
    (void)state;
    tc_boot(&c, 3, NULL);
    tc_elect(&c, 0);
    for (uint64_t k = 1; k <= 100; k++)
        assert_int_equal(cn_raft_read(c.r[0], k), 0);
    assert_int_equal(cn_raft_ready(c.r[0], &rd), 0);
    for (size_t i = 0; i < rd.n_msgs_now; i++)
        hb += rd.msgs_now[i].type == CN_RAFT_MSG_HEARTBEAT;
    assert_int_equal(hb, 2); /* One round for all 100 reads. */
    assert_int_equal(rd.n_reads, 0);
    deliver(&c, rd.msgs_now, rd.n_msgs_now);
    cn_raft_advance(c.r[0], &rd);
    tc_pump(&c);
    assert_int_equal(c.n_reads, 100);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(c.read_index[i], st_of(&c, 0).commit);
    assert_int_equal(cn_raft_read(c.r[1], 1000), CN_ENOLEADER);
    tc_free(&c);
}

static bool drop_appends(const struct cn_raft_msg *m)
{
    return m->type == CN_RAFT_MSG_APPEND;
}

/* Thesis 6.4 step 1: a new leader serves no read before its no-op commits
 * (it does not know the commit index until then). */
static void test_read_waits_for_noop(void **state)
{
    struct tc c;
    (void)state;
    tc_boot(&c, 3, NULL);
    c.drop = drop_appends;
    tc_elect(&c, 0);
    assert_true(st_of(&c, 0).commit < c.r[0]->term_start);
    assert_int_equal(cn_raft_read(c.r[0], 42), 0);
    tc_tick_all(&c, 3);
    assert_int_equal(c.n_reads, 0);
    c.drop = NULL;
    tc_tick_all(&c, 3);
    assert_int_equal(c.n_reads, 1);
    assert_int_equal(c.reads[0], 42);
    assert_int_equal(c.read_index[0], c.r[0]->term_start);
    tc_free(&c);
}

/* ---- leadership transfer ---------------------------------------------- */

static void test_transfer(void **state)
{
    struct tc c;
    uint64_t term;
    (void)state;
    tc_boot(&c, 3, NULL);
    tc_elect(&c, 0);
    term = st_of(&c, 0).term;
    assert_int_equal(cn_raft_transfer(c.r[0], 1), -EINVAL);
    assert_int_equal(cn_raft_transfer(c.r[0], 3), 0);
    assert_int_equal(cn_raft_propose(c.r[0], "x", 1, 1, NULL), CN_ESTATE);
    tc_pump(&c);
    assert_int_equal(st_of(&c, 2).role, CN_RAFT_LEADER);
    assert_int_equal(st_of(&c, 2).term, term + 1);
    assert_int_equal(st_of(&c, 0).role, CN_RAFT_FOLLOWER);
    assert_int_equal(st_of(&c, 0).leader, 3);
    tc_free(&c);
}

/* ---- snapshots -------------------------------------------------------- */

static bool drop_first_snapshot_resp(const struct cn_raft_msg *m)
{
    static int seen;
    return m->type == CN_RAFT_MSG_SNAPSHOT_RESP && seen++ == 1;
}

static void test_snapshot_chunked(void **state)
{
    struct cn_raft_config base = cfg_for(1);
    static const uint8_t image[100] = {1, 2, 3};
    struct tc c;
    struct cn_raft_stats st;
    (void)state;
    base.snapshot_chunk_bytes = 16;
    tc_boot(&c, 3, &base);
    tc_elect(&c, 0);
    isolate(&c, 3, true);
    for (int k = 0; k < 20; k++)
        assert_int_equal(cn_raft_propose(c.r[0], "abcd", 4, 0, NULL), 0);
    tc_tick_all(&c, 2);
    assert_int_equal(c.applied[0], 22);
    assert_int_equal(cn_raft_compact(c.r[0], 23, image, sizeof image, 0), -EINVAL);
    assert_int_equal(cn_raft_compact(c.r[0], 20, image, sizeof image, 0), 0);
    assert_int_equal(st_of(&c, 0).first_index, 21);
    c.drop = drop_first_snapshot_resp; /* The transfer resumes. */
    isolate(&c, 3, false);
    tc_tick_all(&c, 30);
    cn_raft_stats(c.r[2], &st);
    assert_int_equal(st.snapshots_installed, 1);
    assert_int_equal(st_of(&c, 2).snap_index, 20);
    assert_int_equal(c.r[2]->snap.len, sizeof image);
    assert_memory_equal(c.r[2]->snap.data, image, sizeof image);
    assert_int_equal(c.applied[2], 22);
    assert_int_equal(cn_raft_conf(c.r[2])->n, 3);
    tc_free(&c);
}

/* ---- membership -------------------------------------------------------- */

static void test_membership_rules(void **state)
{
    struct tc c;
    struct cn_raft_config cfg = cfg_for(4);
    uint64_t idx;
    (void)state;
    tc_boot(&c, 3, NULL);
    c.n = 4;
    assert_int_equal(cn_raft_new(&c.r[3], &cfg, NULL), 0); /* Joins empty. */
    c.drop = drop_appends;
    tc_elect(&c, 1);
    /* Leader, but its no-op is not committed yet: no change (2015 fix). */
    assert_true(st_of(&c, 1).commit < c.r[1]->term_start);
    assert_int_equal(cn_raft_change(c.r[1], CN_RAFT_ADD_LEARNER, 4, "a:1", 3, 1, NULL),
                     CN_ESTATE);
    c.drop = NULL;
    tc_tick_all(&c, 1);
    assert_int_equal(cn_raft_change(c.r[1], CN_RAFT_ADD_LEARNER, 4, "a:1", 3, 1, &idx), 0);
    /* One change at a time. */
    assert_int_equal(cn_raft_change(c.r[1], CN_RAFT_ADD_VOTER, 4, NULL, 0, 2, NULL),
                     CN_ESTATE);
    tc_tick_all(&c, 3);
    assert_int_equal(c.applied[3], idx);
    assert_false(st_of(&c, 3).is_voter);
    assert_int_equal(cn_raft_change(c.r[1], CN_RAFT_ADD_VOTER, 4, NULL, 0, 2, NULL), 0);
    tc_tick_all(&c, 3);
    assert_true(st_of(&c, 3).is_voter);
    assert_int_equal(cn_raft_conf(c.r[3])->n, 4);
    assert_memory_equal(cn_raft_conf_find(cn_raft_conf(c.r[3]), 4)->addr, "a:1", 3);
    assert_int_equal(cn_raft_change(c.r[1], CN_RAFT_ADD_VOTER, 4, NULL, 0, 3, NULL),
                     -EINVAL);
    /* The leader removes itself: it steps down once that commits. */
    assert_int_equal(cn_raft_change(c.r[1], CN_RAFT_REMOVE, 2, NULL, 0, 4, NULL), 0);
    tc_tick_all(&c, 3);
    assert_int_equal(st_of(&c, 1).role, CN_RAFT_FOLLOWER);
    assert_false(st_of(&c, 1).is_voter);
    tc_tick_all(&c, 60);
    {
        int leaders = 0;
        for (int i = 0; i < 4; i++)
            leaders += st_of(&c, i).role == CN_RAFT_LEADER;
        assert_int_equal(leaders, 1);
        assert_int_not_equal(st_of(&c, 1).role, CN_RAFT_LEADER);
    }
    tc_free(&c);
}

/* ---- untrusted input --------------------------------------------------- */

static void test_malformed_dropped(void **state)
{
    struct tc c;
    struct cn_raft_stats st;
    struct cn_raft_entry e = {.index = 7, .term = 2, .kind = CN_RAFT_ENTRY_NORMAL};
    struct cn_raft_msg m = {
        .type = CN_RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 2,
        .index = 5, .log_term = 2, .n_entries = 1, .entries = &e,
    };
    uint64_t before;
    (void)state;
    tc_boot(&c, 3, NULL);
    tc_elect(&c, 0);
    tc_pump(&c);
    cn_raft_stats(c.r[1], &st);
    before = st.dropped_malformed;
    assert_int_equal(cn_raft_step(c.r[1], &m), 0); /* Index 7 after prev 5. */
    e.index = 6;
    e.term = 3; /* Above the message's term. */
    assert_int_equal(cn_raft_step(c.r[1], &m), 0);
    e.term = 1; /* Below prev's term. */
    assert_int_equal(cn_raft_step(c.r[1], &m), 0);
    e.term = 2;
    e.kind = 9;
    assert_int_equal(cn_raft_step(c.r[1], &m), 0);
    e.kind = CN_RAFT_ENTRY_CONF; /* Undecodable configuration. */
    assert_int_equal(cn_raft_step(c.r[1], &m), 0);
    m.to = 3; /* Misaddressed. */
    assert_int_equal(cn_raft_step(c.r[1], &m), 0);
    m.to = 2;
    m.from = 2; /* From ourselves. */
    assert_int_equal(cn_raft_step(c.r[1], &m), 0);
    cn_raft_stats(c.r[1], &st);
    assert_int_equal(st.dropped_malformed, before + 7);
    /* The leader gets an ack for an entry it never had. */
    {
        struct cn_raft_msg ack = {
            .type = CN_RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = 2,
            .index = 1000,
        };
        cn_raft_stats(c.r[0], &st);
        before = st.dropped_malformed;
        assert_int_equal(cn_raft_step(c.r[0], &ack), 0);
        ack.type = CN_RAFT_MSG_HEARTBEAT_RESP;
        ack.ctx = 99; /* A read round never sent. */
        assert_int_equal(cn_raft_step(c.r[0], &ack), 0);
        cn_raft_stats(c.r[0], &st);
        assert_int_equal(st.dropped_malformed, before + 2);
        assert_int_equal(st_of(&c, 0).commit, 2);
    }
    tc_free(&c);
}

static void test_restore_validation(void **state)
{
    struct cn_raft *r;
    struct cn_raft_config cfg = cfg_for(1);
    struct cn_raft_conf conf = voters(3);
    struct cn_raft_entry ents[3] = {
        {.index = 5, .term = 2, .kind = CN_RAFT_ENTRY_NORMAL},
        {.index = 6, .term = 2, .kind = CN_RAFT_ENTRY_NORMAL},
        {.index = 7, .term = 3, .kind = CN_RAFT_ENTRY_NORMAL},
    };
    struct cn_raft_restore rs = {
        .term = 3, .snap_index = 5, .snap_term = 2, .snap_conf = &conf,
        .entries = ents, .n_entries = 3,
    };
    struct cn_raft_status st;
    (void)state;
    assert_int_equal(cn_raft_new(&r, &cfg, &rs), 0);
    cn_raft_status(r, &st);
    assert_int_equal(st.commit, 5);
    assert_int_equal(st.last_index, 7);
    assert_int_equal(st.first_index, 6);
    assert_true(st.is_voter);
    cn_raft_free(r);
    ents[0].term = 1; /* Disagrees with the snapshot's term. */
    assert_int_equal(cn_raft_new(&r, &cfg, &rs), CN_ECORRUPT);
    ents[0].term = 2;
    ents[2].index = 9; /* A hole. */
    assert_int_equal(cn_raft_new(&r, &cfg, &rs), CN_ECORRUPT);
    ents[2].index = 7;
    ents[2].term = 1; /* Terms going back. */
    assert_int_equal(cn_raft_new(&r, &cfg, &rs), CN_ECORRUPT);
    ents[2].term = 9; /* A term beyond the hard state: adopted, vote reset. */
    rs.vote = 2;
    assert_int_equal(cn_raft_new(&r, &cfg, &rs), 0);
    cn_raft_status(r, &st);
    assert_int_equal(st.term, 9);
    assert_int_equal(st.vote, 0);
    cn_raft_free(r);
    rs.snap_index = 3; /* Log starts after a gap behind the snapshot. */
    assert_int_equal(cn_raft_new(&r, &cfg, &rs), CN_ECORRUPT);
    cfg.heartbeat_ticks = 20; /* Not below the election timeout. */
    assert_int_equal(cn_raft_new(&r, &cfg, NULL), -EINVAL);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    /* Each allocation in turn fails once; every call reports -ENOMEM or
     * succeeds, and the cluster still reaches the same end state. */
    for (long k = 0; k < 200; k++) {
        struct tc c;
        int rc;
        tc_boot(&c, 3, NULL);
        tc_elect(&c, 0);
        cn_alloc_fail_after(k);
        rc = cn_raft_propose(c.r[0], "abc", 3, 1, NULL);
        if (rc == 0)
            rc = cn_raft_read(c.r[0], 2);
        cn_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == -ENOMEM);
        tc_tick_all(&c, 2);
        assert_int_equal(st_of(&c, 0).role, CN_RAFT_LEADER);
        tc_free(&c);
    }
}

/* Allocation failures inside replication and a chunked snapshot install:
 * every call reports -ENOMEM or works, and once memory is back the cluster
 * converges to one log. */
static void test_alloc_failures_replication(void **state)
{
    static const uint8_t image[40] = {9};
    struct cn_raft_config base = cfg_for(1);
    (void)state;
    base.snapshot_chunk_bytes = 16;
    for (long k = 0; k < 120; k++) {
        struct tc c;
        uint64_t last;
        tc_boot(&c, 3, &base);
        tc_elect(&c, 0);
        isolate(&c, 3, true);
        for (int p = 0; p < 6; p++)
            assert_int_equal(cn_raft_propose(c.r[0], "abcdef", 6, 0, NULL), 0);
        tc_tick_all(&c, 2);
        assert_int_equal(cn_raft_compact(c.r[0], 6, image, sizeof image, 0), 0);
        for (int p = 0; p < 3; p++)
            assert_int_equal(cn_raft_propose(c.r[0], "xy", 2, 0, NULL), 0);
        isolate(&c, 3, false);
        c.allow_enomem = true;
        cn_alloc_fail_after(k);
        tc_tick_all(&c, 3);
        cn_alloc_fail_after(-1);
        tc_tick_all(&c, 1); /* Drain what queued while failing. */
        c.allow_enomem = false;
        tc_tick_all(&c, 30);
        last = st_of(&c, 0).last_index;
        for (int i = 0; i < 3; i++) {
            assert_int_equal(st_of(&c, i).commit, last);
            assert_int_equal(c.applied[i], last);
        }
        tc_free(&c);
    }
}

/* ---- codec ------------------------------------------------------------- */

static void roundtrip(const struct cn_raft_msg *m)
{
    struct cn_buf b;
    struct cn_raft_msg d;

    cn_buf_init(&b, CN_RAFT_MSG_BYTES_MAX);
    assert_int_equal(cn_raft_msg_encode(m, &b), 0);
    assert_int_equal(cn_raft_msg_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.type, m->type);
    assert_int_equal(d.flags, m->flags);
    assert_int_equal(d.term, m->term);
    assert_int_equal(d.from, m->from);
    assert_int_equal(d.to, m->to);
    assert_int_equal(d.n_entries, m->n_entries);
    for (uint32_t k = 0; k < m->n_entries; k++) {
        assert_int_equal(d.entries[k].index, m->entries[k].index);
        assert_int_equal(d.entries[k].term, m->entries[k].term);
        assert_int_equal(d.entries[k].kind, m->entries[k].kind);
        assert_int_equal(d.entries[k].len, m->entries[k].len);
        if (m->entries[k].len)
            assert_memory_equal(d.entries[k].data, m->entries[k].data,
                                m->entries[k].len);
    }
    assert_int_equal(d.len, m->len);
    if (m->len)
        assert_memory_equal(d.data, m->data, m->len);
    /* Every strict prefix and one extra byte are refused. */
    for (size_t cut = 0; cut < b.len; cut++)
        assert_int_equal(cn_raft_msg_decode(b.data, cut, &d) < 0, 1);
    assert_int_equal(cn_buf_putc(&b, 0), 0);
    assert_int_equal(cn_raft_msg_decode(b.data, b.len, &d), CN_EMALFORMED);
    cn_raft_msg_release(&d);
    cn_buf_close(&b);
}

static void test_codec(void **state)
{
    uint8_t payload[300];
    struct cn_raft_entry e[3] = {
        {.index = 11, .term = 4, .kind = CN_RAFT_ENTRY_NORMAL, .len = 5,
         .data = (uint8_t *)"hello"},
        {.index = 12, .term = 4, .kind = CN_RAFT_ENTRY_NOOP},
        {.index = 13, .term = 5, .kind = CN_RAFT_ENTRY_NORMAL, .len = 300,
         .data = payload},
    };
    struct cn_raft_msg m = {.from = 1, .to = 2, .term = 5};
    uint8_t junk[64];
    struct cn_raft_msg d;
    (void)state;
    memset(payload, 0x5a, sizeof payload);
    for (unsigned t = CN_RAFT_MSG_APPEND; t < CN_RAFT_MSG_TYPE_MAX; t++) {
        memset(&m, 0, sizeof m);
        m.type = (uint8_t)t;
        m.from = 1;
        m.to = 2;
        m.term = 5;
        m.flags = CN_RAFT_F_REJECT;
        if (t == CN_RAFT_MSG_APPEND) {
            m.index = 10;
            m.log_term = 4;
            m.commit = 9;
            m.entries = e;
            m.n_entries = 3;
        } else if (t == CN_RAFT_MSG_SNAPSHOT) {
            m.index = 10;
            m.log_term = 4;
            m.total = 1000;
            m.conf_len = 20;
            m.offset = 300;
            m.data = payload;
            m.len = 200;
        }
        roundtrip(&m);
    }
    memset(junk, 0xff, sizeof junk);
    assert_int_equal(cn_raft_msg_decode(junk, sizeof junk, &d), CN_EMALFORMED);
    junk[0] = CN_RAFT_WIRE_VERSION;
    junk[1] = CN_RAFT_MSG_APPEND;
    junk[2] = junk[3] = 0;
    assert_int_equal(cn_raft_msg_decode(junk, sizeof junk, &d), CN_EMALFORMED);
    m.type = 0;
    assert_int_equal(cn_raft_msg_encode(&m, &(struct cn_buf){0}), -EINVAL);
}

static void test_conf_codec(void **state)
{
    struct cn_raft_conf c = voters(3), d;
    struct cn_buf b;
    (void)state;
    c.members[1].role = CN_RAFT_LEARNER;
    c.members[2].addr_len = 9;
    memcpy(c.members[2].addr, "host:8300", 9);
    cn_buf_init(&b, 4096);
    assert_int_equal(cn_raft_conf_encode(&c, &b), 0);
    assert_int_equal(cn_raft_conf_decode(b.data, b.len, &d), 0);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(cn_raft_conf_decode(b.data, b.len - 1, &d), CN_EMALFORMED);
    c.members[1].id = 1; /* Duplicate id. */
    assert_false(cn_raft_conf_valid(&c));
    assert_int_equal(cn_raft_conf_encode(&c, &b), -EINVAL);
    b.data[11] = 7; /* An unknown role. */
    assert_int_equal(cn_raft_conf_decode(b.data, b.len, &d), CN_EMALFORMED);
    cn_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elect_and_commit),
        cmocka_unit_test(test_ready_contract),
        cmocka_unit_test(test_leader_sends_before_sync),
        cmocka_unit_test(test_figure7_follower_logs),
        cmocka_unit_test(test_figure8_commit_rule),
        cmocka_unit_test(test_partitioned_old_leader),
        cmocka_unit_test(test_removed_server_prevote),
        cmocka_unit_test(test_removed_server_no_prevote),
        cmocka_unit_test(test_read_index_batched),
        cmocka_unit_test(test_read_waits_for_noop),
        cmocka_unit_test(test_transfer),
        cmocka_unit_test(test_snapshot_chunked),
        cmocka_unit_test(test_membership_rules),
        cmocka_unit_test(test_malformed_dropped),
        cmocka_unit_test(test_restore_validation),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_alloc_failures_replication),
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_conf_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
