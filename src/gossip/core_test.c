/* gossip/core_test.c - the pure core on a tiny lossless in-test network:
 * join, failure detection, refutation, leave, user events, tags,
 * malformed input, allocation failures. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gossip_int.h"

#define NODES_MAX 5

struct pkt {
    int to;
    struct cn__gaddr from;
    uint8_t *data;
    size_t len;
};

struct net {
    struct cn__gcore *c[NODES_MAX];
    bool up[NODES_MAX];
    int n;
    uint64_t now;
    struct pkt q[4096];
    size_t nq;
    bool dup;  /* deliver every datagram twice */
    bool left[NODES_MAX];
    int left_rc[NODES_MAX];
    int ev_count[NODES_MAX][8];
    char last_failed[NODES_MAX][32], last_user[NODES_MAX][32], last_tag[NODES_MAX][32];
    /* queries: answer inbound ones? counts of what each node saw */
    bool answer[NODES_MAX];
    int q_in[NODES_MAX], q_ack[NODES_MAX], q_resp[NODES_MAX], q_done[NODES_MAX];
    char q_last_in[NODES_MAX][32];
    uint8_t q_last_resp[NODES_MAX][256];
    size_t q_last_resp_len[NODES_MAX];
};

static void addr_of(int i, struct cn__gaddr *a)
{
    memset(a, 0, sizeof *a);
    a->ip[0] = 127;
    a->ip[3] = (uint8_t)(i + 1);
    a->len = 4;
    a->port = 7946;
}

static int node_of(const struct cn__gaddr *a) { return a->ip[3] - 1; }

static void events(struct net *t, int i)
{
    struct cn_gossip_event *ev;
    void **blobs;
    size_t n;
    cn__gcore_take_events(t->c[i], &ev, &blobs, &n);
    for (size_t k = 0; k < n; k++) {
        t->ev_count[i][ev[k].type]++;
        if (ev[k].type == CN_GOSSIP_EV_FAILED)
            snprintf(t->last_failed[i], 32, "%s", ev[k].member.name);
        if (ev[k].type == CN_GOSSIP_EV_USER)
            snprintf(t->last_user[i], 32, "%s", ev[k].user_name);
        if (ev[k].type == CN_GOSSIP_EV_UPDATE && ev[k].member.n_tags)
            snprintf(t->last_tag[i], 32, "%s=%s", ev[k].member.tags[0].key,
                     ev[k].member.tags[0].value);
    }
    cn__gcore_events_free(ev, blobs, n);
}

static void queries(struct net *t, int i)
{
    struct cn__gqitem *it;
    size_t n;
    cn__gcore_take_queries(t->c[i], &it, &n);
    for (size_t k = 0; k < n; k++) {
        switch (it[k].kind) {
        case CN__GQ_IN: {
            char ans[16];
            t->q_in[i]++;
            snprintf(t->q_last_in[i], 32, "%s", it[k].name);
            snprintf(ans, sizeof ans, "ans-n%d", i);
            if (t->answer[i])
                assert_int_equal(cn__gcore_query_respond(t->c[i], t->now, &it[k].tok,
                                                         (const uint8_t *)ans, strlen(ans)), 0);
            break;
        }
        case CN__GQ_ACK:
            t->q_ack[i]++;
            break;
        case CN__GQ_RESP:
            t->q_resp[i]++;
            assert_true(it[k].len <= sizeof t->q_last_resp[i]);
            if (it[k].len)
                memcpy(t->q_last_resp[i], it[k].payload, it[k].len);
            t->q_last_resp_len[i] = it[k].len;
            break;
        default:
            assert_int_equal(it[k].kind, CN__GQ_DONE);
            t->q_done[i]++;
        }
    }
    cn__gcore_queries_free(it, n);
}

static void drain(struct net *t, int i)
{
    struct cn__gready rd;
    events(t, i);
    queries(t, i);
    cn__gcore_ready(t->c[i], &rd);
    for (size_t k = 0; k < rd.n_pkts; k++) {
        for (int copy = 0; copy < (t->dup ? 2 : 1); copy++) {
            assert_true(t->nq < CN_ARRAY_LEN(t->q));
            t->q[t->nq].to = node_of(&rd.pkts[k].to);
            addr_of(i, &t->q[t->nq].from);
            t->q[t->nq].data = cn_memdup(rd.pkts[k].data, rd.pkts[k].len);
            t->q[t->nq].len = rd.pkts[k].len;
            t->nq++;
        }
    }
    for (size_t k = 0; k < rd.n_streams; k++) {
        int j = node_of(&rd.streams[k].to);
        uint32_t id = rd.streams[k].id;
        struct cn_buf reply;
        struct cn__gaddr from;
        addr_of(i, &from);
        cn_buf_init(&reply, CN_GOSSIP_INFLATE_BYTES_MAX);
        if (j >= 0 && j < t->n && t->up[j]) {
            cn__gcore_stream_in(t->c[j], t->now, &from, rd.streams[k].data,
                                rd.streams[k].len, &reply);
            cn__gcore_stream_done(t->c[i], t->now, id, 0, reply.data, reply.len);
        } else {
            cn__gcore_stream_done(t->c[i], t->now, id, -ECONNREFUSED, NULL, 0);
        }
        cn_buf_close(&reply);
    }
    if (rd.leave_done) {
        t->left[i] = true;
        t->left_rc[i] = rd.leave_rc;
    }
    cn__gcore_advance(t->c[i], &rd);
    events(t, i);
    queries(t, i);
}

static void run(struct net *t, uint64_t ms)
{
    uint64_t end = t->now + ms;
    while (t->now < end) {
        t->now += 10;
        for (int i = 0; i < t->n; i++) {
            if (!t->up[i])
                continue;
            cn__gcore_tick(t->c[i], t->now);
            drain(t, i);
        }
        for (int round = 0; round < 8 && t->nq; round++) {
            size_t n = t->nq;
            struct pkt batch[4096];
            memcpy(batch, t->q, n * sizeof batch[0]);
            t->nq = 0;
            for (size_t k = 0; k < n; k++) {
                int j = batch[k].to;
                if (j >= 0 && j < t->n && t->up[j]) {
                    cn__gcore_recv(t->c[j], t->now, &batch[k].from, batch[k].data, batch[k].len);
                    drain(t, j);
                }
                cn_free(batch[k].data);
            }
        }
    }
}

static struct net *net_new(int n)
{
    struct net *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->n = n;
    t->now = 1000;
    for (int i = 0; i < n; i++) {
        char name[16];
        struct cn__gcore_config cfg = { .name = name, .seed = (uint64_t)i + 7, .compress = true,
                                        .reconnect_timeout_ms = 3600000,
                                        .tombstone_timeout_ms = 3600000 };
        snprintf(name, sizeof name, "n%d", i);
        addr_of(i, &cfg.addr);
        cn__gossip_timing_init(&cfg.t, CN_GOSSIP_LAN);
        assert_int_equal(cn__gcore_new(&t->c[i], &cfg, t->now), 0);
        t->up[i] = true;
    }
    return t;
}

static void net_free(struct net *t)
{
    for (int i = 0; i < t->n; i++)
        cn__gcore_free(t->c[i]);
    for (size_t k = 0; k < t->nq; k++)
        cn_free(t->q[k].data);
    free(t);
}

static void join(struct net *t, int i, int j)
{
    struct cn__gaddr a;
    uint32_t id;
    addr_of(j, &a);
    assert_int_equal(cn__gcore_join(t->c[i], t->now, &a, &id), 0);
    drain(t, i);
    cn__gcore_joined(t->c[i], t->now);
    drain(t, i);
}

static struct net *cluster(int n)
{
    struct net *t = net_new(n);
    for (int i = 1; i < n; i++)
        join(t, i, i - 1);
    run(t, 5000);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            char name[16];
            snprintf(name, sizeof name, "n%d", j);
            assert_int_equal(cn__gcore_serf_status(t->c[i], name), CN_GOSSIP_ALIVE);
        }
    return t;
}

static void test_join_converges(void **state)
{
    struct net *t = cluster(4);
    (void)state;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t->ev_count[i][CN_GOSSIP_EV_JOIN], 4);  /* self included */
        assert_int_equal(cn__gcore_member_count(t->c[i]), 4);
    }
    net_free(t);
}

static void test_failure_detected_after_suspicion(void **state)
{
    struct net *t = cluster(4);
    uint64_t t0 = t->now, done = 0;
    (void)state;
    t->up[3] = false;
    while (t->now < t0 + 40000 && !done) {
        run(t, 100);
        if (cn__gcore_serf_status(t->c[0], "n3") == CN_GOSSIP_FAILED &&
            cn__gcore_serf_status(t->c[1], "n3") == CN_GOSSIP_FAILED &&
            cn__gcore_serf_status(t->c[2], "n3") == CN_GOSSIP_FAILED)
            done = t->now;
    }
    assert_true(done != 0);
    /* Never faster than Lifeguard's minimum: 4 x max(1, log10 4) x 1 s. */
    assert_true(done - t0 >= 4000);
    assert_string_equal(t->last_failed[0], "n3");
    net_free(t);
}

static void test_refutes_suspicion_of_self(void **state)
{
    struct net *t = cluster(2);
    uint8_t buf[128];
    struct cn_buf b = { .data = buf, .cap = sizeof buf, .max = sizeof buf };
    struct cn_mp_writer w;
    uint32_t inc0, inc1;
    struct cn__gaddr from;
    struct cn__gm_accuse s = { .node = { (const uint8_t *)"n0", 2 },
                               .from = { (const uint8_t *)"n1", 2 } };
    (void)state;
    assert_int_equal(cn__gcore_ml_state(t->c[0], "n0", &inc0), CN__ML_ALIVE);
    s.inc = inc0 + 5;
    cn__gm_writer(&w, &b);
    cn__gm_put_accuse(&w, CN__GM_SUSPECT, &s);
    addr_of(1, &from);
    assert_int_equal(cn__gcore_recv(t->c[0], t->now, &from, b.data, b.len), 0);
    assert_int_equal(cn__gcore_ml_state(t->c[0], "n0", &inc1), CN__ML_ALIVE);
    assert_int_equal(inc1, inc0 + 6);  /* beats the accusation */
    assert_int_equal(cn__gcore_health(t->c[0]), 1);
    drain(t, 0);
    run(t, 2000);
    /* The peer learned the refutation: alive with the new incarnation. */
    assert_int_equal(cn__gcore_ml_state(t->c[1], "n0", &inc0), CN__ML_ALIVE);
    assert_int_equal(inc0, inc1);
    net_free(t);
}

static void test_leave_is_left(void **state)
{
    struct net *t = cluster(3);
    (void)state;
    assert_int_equal(cn__gcore_leave(t->c[2], t->now, 5000), 0);
    assert_int_equal(cn__gcore_leave(t->c[2], t->now, 5000), -EALREADY);
    for (int k = 0; k < 100 && !t->left[2]; k++)
        run(t, 50);
    assert_true(t->left[2]);
    assert_int_equal(t->left_rc[2], 0);
    run(t, 1000);
    assert_int_equal(cn__gcore_serf_status(t->c[0], "n2"), CN_GOSSIP_LEFT);
    assert_int_equal(cn__gcore_serf_status(t->c[1], "n2"), CN_GOSSIP_LEFT);
    assert_int_equal(t->ev_count[0][CN_GOSSIP_EV_LEAVE], 1);
    assert_int_equal(t->ev_count[0][CN_GOSSIP_EV_FAILED], 0);
    net_free(t);
}

static void test_user_event_once(void **state)
{
    struct net *t = cluster(4);
    (void)state;
    t->dup = true;  /* every datagram arrives twice */
    assert_int_equal(cn__gcore_user_event(t->c[0], t->now, "deploy", (const uint8_t *)"v1", 2,
                                          false), 0);
    drain(t, 0);
    run(t, 3000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t->ev_count[i][CN_GOSSIP_EV_USER], 1);
        assert_string_equal(t->last_user[i], "deploy");
    }
    uint8_t big[600] = { 0 };
    assert_int_equal(cn__gcore_user_event(t->c[0], t->now, "x", big, sizeof big, false),
                     -EMSGSIZE);
    net_free(t);
}

static void test_tags_update(void **state)
{
    struct net *t = cluster(3);
    struct cn_gossip_tag tags[] = { { "role", "consul" } };
    (void)state;
    assert_int_equal(cn__gcore_set_tags(t->c[0], t->now, tags, 1), 0);
    drain(t, 0);
    run(t, 2000);
    assert_int_equal(t->ev_count[1][CN_GOSSIP_EV_UPDATE], 1);
    assert_string_equal(t->last_tag[1], "role=consul");
    assert_int_equal(t->ev_count[2][CN_GOSSIP_EV_UPDATE], 1);
    net_free(t);
}

static void test_force_leave_failed(void **state)
{
    struct net *t = cluster(3);
    (void)state;
    t->up[2] = false;
    run(t, 30000);
    assert_int_equal(cn__gcore_serf_status(t->c[0], "n2"), CN_GOSSIP_FAILED);
    assert_int_equal(cn__gcore_force_leave(t->c[0], t->now, "n2"), 0);
    assert_int_equal(cn__gcore_force_leave(t->c[0], t->now, "nope"), -ENOENT);
    drain(t, 0);
    run(t, 2000);
    assert_int_equal(cn__gcore_serf_status(t->c[0], "n2"), CN_GOSSIP_LEFT);
    assert_int_equal(cn__gcore_serf_status(t->c[1], "n2"), CN_GOSSIP_LEFT);
    net_free(t);
}

static void test_malformed_counted(void **state)
{
    struct net *t = cluster(2);
    struct cn__gcore_counters before, after;
    struct cn__gaddr from;
    static const uint8_t junk[][8] = {
        { 0x04, 0x81, 0xa1 }, { 0x07, 0x03, 0x00 }, { 0x09, 0x80 }, { 0xf4, 0x01, 'x' },
        { 0x0c, 1, 2, 3, 4, 0 }, { 0x08, 0x00, 0xa1 },
    };
    (void)state;
    addr_of(1, &from);
    cn__gcore_counters(t->c[0], &before);
    for (size_t i = 0; i < CN_ARRAY_LEN(junk); i++)
        if (cn__gcore_recv(t->c[0], t->now, &from, junk[i], sizeof junk[i]) >= 0)
            fail_msg("junk #%zu accepted", i);
    cn__gcore_counters(t->c[0], &after);
    assert_int_equal(after.bad_pkts - before.bad_pkts, CN_ARRAY_LEN(junk));
    /* Membership untouched. */
    assert_int_equal(cn__gcore_member_count(t->c[0]), 2);
    net_free(t);
}

/* ---- queries ---- */

static void query(struct net *t, int i, const char *name, const char *payload,
                  const struct cn_gossip_query_params *p)
{
    struct cn__gquery_params qp = { .name = name, .payload = (const uint8_t *)payload,
                                    .len = payload ? strlen(payload) : 0, .p = p };
    uint32_t h;
    assert_int_equal(cn__gcore_query(t->c[i], t->now, &qp, &h), 0);
    drain(t, i);
}

static void test_query_acks_responses_dedup(void **state)
{
    struct net *t = cluster(4);
    struct cn_gossip_query_params p = { .timeout_ms = 2000, .request_ack = true };
    struct cn__gcore_counters ctr;
    (void)state;
    t->dup = true;  /* every datagram twice: queries and replies de-duplicated */
    for (int i = 0; i < 4; i++)
        t->answer[i] = true;
    query(t, 0, "deploy", "v1", &p);
    run(t, 1900);
    assert_int_equal(t->q_ack[0], 4);   /* ourselves included */
    assert_int_equal(t->q_resp[0], 4);
    assert_int_equal(t->q_done[0], 0);
    run(t, 200);
    assert_int_equal(t->q_done[0], 1);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t->q_in[i], 1);
        assert_string_equal(t->q_last_in[i], "deploy");
    }
    cn__gcore_counters(t->c[0], &ctr);
    assert_true(ctr.query_resp_dup >= 4);
    /* Replies after the timeout are dropped: nothing more arrives. */
    run(t, 2000);
    assert_int_equal(t->q_resp[0], 4);
    assert_int_equal(t->q_done[0], 1);
    /* Relay factor 2: every reply also comes through two other members,
     * which forward it; the asker still counts each responder once. */
    t->dup = false;
    memset(t->q_ack, 0, sizeof t->q_ack);
    memset(t->q_resp, 0, sizeof t->q_resp);
    p.relay_factor = 2;
    query(t, 0, "deploy", "v2", &p);
    run(t, 2500);
    assert_int_equal(t->q_ack[0], 4);
    assert_int_equal(t->q_resp[0], 4);
    {
        uint64_t relayed = 0;
        for (int i = 0; i < 4; i++) {
            cn__gcore_counters(t->c[i], &ctr);
            relayed += ctr.query_relayed;
        }
        assert_true(relayed >= 8);  /* >= 2 copies of >= 4 replies */
    }
    net_free(t);
}

static void test_query_filters(void **state)
{
    struct net *t = cluster(4);
    const char *only[] = { "n2", "n3" };
    struct cn_gossip_tag role = { "role", "web" }, want = { "role", "^we+b$" };
    struct cn_gossip_query_params p = { .filter_nodes = only, .n_filter_nodes = 2,
                                        .timeout_ms = 1000, .request_ack = true };
    (void)state;
    for (int i = 0; i < 4; i++)
        t->answer[i] = true;
    query(t, 0, "q1", NULL, &p);
    run(t, 1500);
    assert_int_equal(t->q_ack[0], 2);
    assert_int_equal(t->q_resp[0], 2);
    assert_int_equal(t->q_in[0] + t->q_in[1], 0);
    assert_int_equal(t->q_in[2] + t->q_in[3], 2);
    /* Tag regex: only n1 carries role=web. */
    assert_int_equal(cn__gcore_set_tags(t->c[1], t->now, &role, 1), 0);
    run(t, 2000);
    memset(&p, 0, sizeof p);
    p.filter_tags = &want;
    p.n_filter_tags = 1;
    p.timeout_ms = 1000;
    t->q_resp[0] = 0;
    query(t, 0, "q2", NULL, &p);
    run(t, 1500);
    assert_int_equal(t->q_resp[0], 1);
    assert_memory_equal(t->q_last_resp[0], "ans-n1", 6);
    net_free(t);
}

static void test_query_internal(void **state)
{
    struct net *t = cluster(3);
    struct cn_gossip_query_params p = { .timeout_ms = 1000, .request_ack = true };
    struct cn_mp_reader r;
    uint32_t n;
    const uint8_t *s;
    uint32_t len;
    (void)state;
    for (int i = 0; i < 3; i++)
        t->answer[i] = true;
    /* _serf_ping: acks only, never handed to the shell. */
    query(t, 0, "_serf_ping", NULL, &p);
    run(t, 1500);
    assert_int_equal(t->q_ack[0], 3);
    assert_int_equal(t->q_resp[0], 0);
    assert_int_equal(t->q_in[0] + t->q_in[1] + t->q_in[2], 0);
    /* _serf_conflict about n2: n0 and n1 answer with their record of n2. */
    query(t, 0, "_serf_conflict", "n2", &p);
    run(t, 1500);
    assert_int_equal(t->q_resp[0], 2);
    assert_int_equal(t->q_last_resp[0][0], CN__SM_CONFLICT);
    cn_mp_reader_init(&r, t->q_last_resp[0] + 1, t->q_last_resp_len[0] - 1);
    assert_int_equal(cn_mp_read_map(&r, &n), 0);
    assert_int_equal(n, 11);
    assert_int_equal(cn_mp_read_str(&r, &s, &len), 0);
    assert_memory_equal(s, "Name", 4);
    assert_int_equal(cn_mp_read_str(&r, &s, &len), 0);
    assert_memory_equal(s, "n2", 2);
    /* Keyring queries go to the shell; unknown internal ones nowhere. */
    query(t, 0, "_serf_list-keys", NULL, &p);
    query(t, 0, "_serf_bogus", NULL, &p);
    run(t, 1500);
    assert_int_equal(t->q_in[1], 1);
    assert_string_equal(t->q_last_in[1], "_serf_list-keys");
    net_free(t);
}

static void test_query_limits(void **state)
{
    struct net *t = cluster(2);
    static char big[1100];
    struct cn__gquery_params qp = { .name = "q", .payload = (const uint8_t *)big,
                                    .len = 1000 };
    struct cn_gossip_query_token tok = { .addr_len = 4, .port = 7946, .deadline_ms = t->now };
    uint32_t h;
    (void)state;
    memset(big, 'x', sizeof big);
    assert_int_equal(cn__gcore_query(t->c[0], t->now, &qp, &h), -EMSGSIZE);
    qp.len = 900;
    assert_int_equal(cn__gcore_query(t->c[0], t->now, &qp, &h), 0);
    qp.name = "";
    assert_int_equal(cn__gcore_query(t->c[0], t->now, &qp, &h), -EINVAL);
    tok.addr[0] = 127;
    tok.addr[3] = 2;
    assert_int_equal(cn__gcore_query_respond(t->c[0], t->now, &tok, (const uint8_t *)big,
                                             1000), -EMSGSIZE);
    assert_int_equal(cn__gcore_query_respond(t->c[0], t->now, &tok, NULL, 0), 0);
    assert_int_equal(cn__gcore_query_respond(t->c[0], t->now + 1, &tok, NULL, 0), -ETIMEDOUT);
    /* serf default: GossipInterval 200 ms * 16 * ceil(log10(2 + 1)). */
    assert_int_equal(cn__gcore_query_default_timeout(t->c[0]), 3200);
    net_free(t);
}

static void test_query_malformed_counted(void **state)
{
    struct net *t = cluster(2);
    struct cn__gcore_counters before, after;
    struct cn__gaddr from;
    /* [8][4] query: ID too big; Filters not an array; [8][5] response with
     * a string ID; a query whose Name is a number. */
    static const uint8_t junk[][16] = {
        { 0x08, 0x04, 0x81, 0xa2, 'I', 'D', 0xcf, 1, 0, 0, 0, 0, 0, 0, 0 },
        { 0x08, 0x04, 0x81, 0xa7, 'F', 'i', 'l', 't', 'e', 'r', 's', 0x05 },
        { 0x08, 0x05, 0x81, 0xa2, 'I', 'D', 0xa1, 'x' },
        { 0x08, 0x04, 0x81, 0xa4, 'N', 'a', 'm', 'e', 0x05 },
    };
    (void)state;
    addr_of(1, &from);
    cn__gcore_counters(t->c[0], &before);
    for (size_t i = 0; i < CN_ARRAY_LEN(junk); i++)
        if (cn__gcore_recv(t->c[0], t->now, &from, junk[i], sizeof junk[i]) >= 0)
            fail_msg("junk #%zu accepted", i);
    cn__gcore_counters(t->c[0], &after);
    assert_int_equal(after.query_bad - before.query_bad, CN_ARRAY_LEN(junk));
    assert_int_equal(after.queries_in, before.queries_in);
    net_free(t);
}

/* A relayed response ([8][9] header + [5] response) is forwarded to its
 * destination; a relay wrapping anything but a response is refused. */
static void test_query_relay_forwarded(void **state)
{
    struct net *t = cluster(3);
    struct cn__gaddr dest, from;
    struct cn__sm_qresp r = { .ltime = 1, .id = 2, .from = { (const uint8_t *)"n2", 2 } };
    struct cn_buf inner, b;
    struct cn_mp_writer w;
    struct cn__gcore_counters before, after;
    (void)state;
    addr_of(1, &dest);
    addr_of(2, &from);
    cn_buf_init(&inner, 4096);
    cn_buf_init(&b, 4096);
    cn__gm_writer(&w, &inner);
    cn__sm_put_qresp(&w, &r);
    assert_int_equal(cn__sm_relay_encode(&b, &dest, "n1", inner.data + 1, inner.len - 1), 0);
    cn__gcore_counters(t->c[0], &before);
    assert_int_equal(cn__gcore_recv(t->c[0], t->now, &from, b.data, b.len), 0);
    cn__gcore_counters(t->c[0], &after);
    assert_int_equal(after.query_relayed - before.query_relayed, 1);
    /* Wrapping a user event instead: dropped and counted. */
    cn_buf_reset(&b);
    inner.data[1] = CN__SM_EVENT;
    assert_int_equal(cn__sm_relay_encode(&b, &dest, "n1", inner.data + 1, inner.len - 1), 0);
    assert_true(cn__gcore_recv(t->c[0], t->now, &from, b.data, b.len) < 0);
    cn__gcore_counters(t->c[0], &after);
    assert_int_equal(after.query_relayed - before.query_relayed, 1);
    assert_int_equal(after.query_bad - before.query_bad, 1);
    cn_buf_close(&inner);
    cn_buf_close(&b);
    net_free(t);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (long k = 0; k < 400; k += 3) {
        struct cn__gcore *c = NULL;
        struct cn__gcore_config cfg = { .name = "x", .seed = 1, .compress = true };
        struct cn__gaddr peer;
        struct cn_buf reply;
        uint32_t id;
        addr_of(0, &cfg.addr);
        addr_of(1, &peer);
        cn__gossip_timing_init(&cfg.t, CN_GOSSIP_LAN);
        cn_alloc_fail_after(k);
        if (cn__gcore_new(&c, &cfg, 1000) == 0) {
            struct cn__gready rd;
            cn_buf_init(&reply, 1 << 20);
            (void)cn__gcore_user_event(c, 1000, "e", (const uint8_t *)"p", 1, false);
            if (cn__gcore_join(c, 1000, &peer, &id) == 0) {
                cn__gcore_ready(c, &rd);
                /* Feed our own join state back as the "reply". */
                if (rd.n_streams)
                    (void)cn__gcore_stream_in(c, 1000, &peer, rd.streams[0].data,
                                              rd.streams[0].len, &reply);
            }
            cn__gcore_tick(c, 5000);
            cn__gcore_ready(c, &rd);
            cn__gcore_advance(c, &rd);
            cn_buf_close(&reply);
            cn__gcore_free(c);
        }
        cn_alloc_fail_after(-1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_converges),
        cmocka_unit_test(test_failure_detected_after_suspicion),
        cmocka_unit_test(test_refutes_suspicion_of_self),
        cmocka_unit_test(test_leave_is_left),
        cmocka_unit_test(test_user_event_once),
        cmocka_unit_test(test_tags_update),
        cmocka_unit_test(test_force_leave_failed),
        cmocka_unit_test(test_malformed_counted),
        cmocka_unit_test(test_query_acks_responses_dedup),
        cmocka_unit_test(test_query_filters),
        cmocka_unit_test(test_query_internal),
        cmocka_unit_test(test_query_limits),
        cmocka_unit_test(test_query_malformed_counted),
        cmocka_unit_test(test_query_relay_forwarded),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
