/* raft/fuzz_msg.c - fuzz target for Raft messages off the wire.
 *
 * Decodes arbitrary bytes; a message that decodes must re-encode to the
 * same bytes (the layout has one encoding), and is then stepped into cores
 * in each role (follower with a log, candidate, leader), which must drop or
 * handle it without crashing or breaking their own invariants.
 */
#include <stdlib.h>

#include "raft_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cn_raft *mk(uint64_t id)
{
    struct cn_raft_conf conf;
    struct cn_raft_config cfg = {.id = id, .seed = 1, .election_ticks = 3};
    struct cn_raft *r;

    memset(&conf, 0, sizeof conf);
    conf.n = 3;
    for (uint32_t i = 0; i < 3; i++) {
        conf.members[i].id = i + 1;
        conf.members[i].role = CN_RAFT_VOTER;
    }
    if (cn_raft_new(&r, &cfg, NULL) < 0)
        abort();
    if (cn_raft_bootstrap(r, &conf) < 0)
        abort();
    return r;
}

static void drain(struct cn_raft *r)
{
    struct cn_raft_ready rd;
    while (cn_raft_has_ready(r)) {
        if (cn_raft_ready(r, &rd) < 0)
            return;
        cn_raft_advance(r, &rd);
    }
}

/* Node 2 as follower, candidate and leader (the last by ticking it into a
 * candidacy and granting it votes by hand). */
static void step_all(const struct cn_raft_msg *m)
{
    struct cn_raft *r = mk(2);
    struct cn_raft_msg vote = {.type = CN_RAFT_MSG_VOTE_RESP, .to = 2};

    drain(r);
    (void)cn_raft_step(r, m);
    drain(r);
    cn_raft_free(r);

    r = mk(2);
    drain(r);
    for (int t = 0; t < 10 && r->role == CN_RAFT_FOLLOWER; t++)
        cn_raft_tick(r);
    drain(r);
    if (r->role == CN_RAFT_PRE_CANDIDATE) {
        vote.type = CN_RAFT_MSG_PRE_VOTE_RESP;
        vote.from = 1;
        vote.term = r->term + 1;
        (void)cn_raft_step(r, &vote);
        drain(r);
    }
    (void)cn_raft_step(r, m); /* As a candidate. */
    drain(r);
    if (r->role == CN_RAFT_CANDIDATE) {
        vote.type = CN_RAFT_MSG_VOTE_RESP;
        vote.from = 3;
        vote.term = r->term;
        (void)cn_raft_step(r, &vote);
        drain(r);
    }
    (void)cn_raft_propose(r, "x", 1, 1, NULL);
    (void)cn_raft_read(r, 2);
    drain(r);
    (void)cn_raft_step(r, m); /* As a leader, if we got there. */
    drain(r);
    cn_raft_tick(r);
    drain(r);
    cn_raft_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn_raft_msg m;
    struct cn_buf b;

    if (cn_raft_msg_decode(data, size, &m) != 0)
        return 0;
    cn_buf_init(&b, CN_RAFT_MSG_BYTES_MAX);
    if (cn_raft_msg_encode(&m, &b) != 0)
        abort();
    if (b.len != size || memcmp(b.data, data, size) != 0)
        abort(); /* Decode and encode must agree byte for byte. */
    cn_buf_close(&b);
    /* Aim it at node 2 from node 1 or 3 so that it gets past addressing. */
    m.to = 2;
    if (m.from != 1 && m.from != 3)
        m.from = 1 + (m.term & 1) * 2;
    step_all(&m);
    cn_raft_msg_release(&m);
    return 0;
}
