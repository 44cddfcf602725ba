/* raft/sim/sim_client.c - what drives a simulated cluster from outside:
 * clients (proposals and ReadIndex reads, mostly to a leader, sometimes to
 * whoever), operators (membership changes, leadership transfers) and the
 * nemesis that strikes leaders at awkward moments.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

/* ---- clients and operators -------------------------------------------- */

static bool usable(struct sim *s, uint32_t slot)
{
    return s->nodes[slot].up && !s->nodes[slot].busy;
}

static bool is_leader(struct sim *s, uint32_t slot)
{
    struct cn_raft_status st;
    if (!s->nodes[slot].up)
        return false;
    cn_raft_status(s->nodes[slot].r, &st);
    return st.role == CN_RAFT_LEADER;
}

/* Mostly a leader (clients find it), sometimes anyone (they guess). */
int sim_target(struct sim *s, bool leader_only)
{
    uint32_t cand[SIM_NODES_MAX], n = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (usable(s, i) && is_leader(s, i))
            cand[n++] = i;
    if (n && (leader_only || cn_prng_below(&s->prng, 10) < 8))
        return (int)cand[cn_prng_below(&s->prng, n)];
    if (leader_only)
        return -1;
    n = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (usable(s, i))
            cand[n++] = i;
    return n ? (int)cand[cn_prng_below(&s->prng, n)] : -1;
}

uint64_t sim_op_new(struct sim *s, uint8_t kind, uint32_t slot)
{
    if (s->ops_n == s->ops_cap) {
        s->ops_cap = s->ops_cap ? s->ops_cap * 2 : 256;
        s->ops = realloc(s->ops, s->ops_cap * sizeof *s->ops);
        CN_ASSERT(s->ops);
    }
    memset(&s->ops[s->ops_n], 0, sizeof *s->ops);
    s->ops[s->ops_n].kind = kind;
    s->ops[s->ops_n].node = slot;
    return s->ops_n; /* Committed by op_commit when the call succeeds. */
}

static void op_commit(struct sim *s) { s->ops[s->ops_n++].state = OP_PENDING; }

int sim_propose(struct sim *s, uint32_t slot, uint8_t kind)
{
    uint8_t data[32];
    size_t len = 8 + (size_t)cn_prng_below(&s->prng, 17);
    uint64_t cookie = sim_op_new(s, kind, slot), cmd = ++s->next_cmd, index;
    int rc;

    memcpy(data, &cmd, 8);
    for (size_t i = 8; i < len; i++)
        data[i] = (uint8_t)cn_prng_next(&s->prng);
    rc = cn_raft_propose(sim_core(s, slot), data, len, cookie, &index);
    sim_tracef(s, "CLIENT propose cmd=%llu on n%u: %s index=%llu",
               (unsigned long long)cmd, slot + 1, rc ? cn_strerror(rc) : "ok",
               (unsigned long long)(rc ? 0 : index));
    if (rc == 0) {
        s->ops[cookie].cmd = cmd;
        op_commit(s);
    }
    return rc;
}

static void client_read(struct sim *s, uint32_t slot)
{
    uint64_t cookie = sim_op_new(s, OP_READ, slot);
    int rc = cn_raft_read(sim_core(s, slot), cookie);

    sim_tracef(s, "CLIENT read %llu on n%u (committed %llu): %s",
               (unsigned long long)cookie, slot + 1,
               (unsigned long long)s->cl_len, rc ? cn_strerror(rc) : "ok");
    if (rc == 0) {
        s->ops[cookie].min_index = s->cl_len;
        op_commit(s);
    }
}

static void change(struct sim *s, uint32_t slot)
{
    static const char *names[] = {"?", "add-voter", "add-learner", "remove"};
    enum cn_raft_change_op op = (enum cn_raft_change_op)(1 + cn_prng_below(&s->prng, 3));
    uint64_t id = 1 + cn_prng_below(&s->prng, s->n_nodes), index;
    const struct cn_raft_conf *c = cn_raft_conf(s->nodes[slot].r);
    uint32_t voters = 0;
    uint64_t cookie;
    char addr[32];
    int rc;

    for (uint32_t i = 0; i < c->n; i++)
        voters += c->members[i].role == CN_RAFT_VOTER;
    if (op != CN_RAFT_ADD_VOTER && voters <= 2) {
        const struct cn_raft_member *m = cn_raft_conf_find(c, id);
        if (m && m->role == CN_RAFT_VOTER)
            return; /* Keep some fault tolerance. */
    }
    cookie = sim_op_new(s, OP_CHANGE, slot);
    snprintf(addr, sizeof addr, "10.0.0.%llu:8300", (unsigned long long)id);
    rc = cn_raft_change(sim_core(s, slot), op, id, addr, strlen(addr), cookie, &index);
    sim_tracef(s, "OPERATOR %s n%llu on n%u: %s", names[op],
               (unsigned long long)id, slot + 1, rc ? cn_strerror(rc) : "ok");
    if (rc == 0) {
        op_commit(s);
        s->n_confs++;
    }
}

bool sim_roll(struct sim *s, uint32_t per_10k)
{
    return per_10k && cn_prng_below(&s->prng, 10000) < per_10k;
}

void sim_clients(struct sim *s)
{
    int t;
    if (sim_roll(s, s->p.prop_pm) && (t = sim_target(s, false)) >= 0)
        sim_propose(s, (uint32_t)t, OP_PROPOSE);
    if (sim_roll(s, s->p.read_pm) && (t = sim_target(s, false)) >= 0)
        client_read(s, (uint32_t)t);
    if (sim_roll(s, s->p.conf_pm) && (t = sim_target(s, true)) >= 0)
        change(s, (uint32_t)t);
    if (sim_roll(s, s->p.transfer_pm) && (t = sim_target(s, true)) >= 0) {
        uint64_t to = cn_prng_below(&s->prng, s->n_nodes + 1);
        int rc = cn_raft_transfer(sim_core(s, (uint32_t)t), to);
        sim_tracef(s, "OPERATOR transfer n%u -> n%llu: %s", t + 1,
                   (unsigned long long)to, rc ? cn_strerror(rc) : "ok");
        s->n_transfers += rc == 0;
    }
}

/* ---- the run ---------------------------------------------------------- */

/* The nemesis (Jepsen's word): a fresh leader is crashed or cut off within
 * a round trip or two, before its first entries spread. Leaders that
 * keep failing early leave the divergent logs of Figure 8 behind. */
void sim_new_leader(struct sim *s, uint32_t slot)
{
    if (s->live || s->nem_at > s->now || !s->p.nemesis_pct ||
        cn_prng_below(&s->prng, 100) >= s->p.nemesis_pct)
        return;
    if (cn_prng_chance(&s->prng, 1, 2)) /* Before its no-op spreads... */
        s->nem_at = s->now + 1 + cn_prng_below(&s->prng, 2 * s->p.delay_max + 1);
    else /* ...or while it re-replicates an old term's entries. */
        s->nem_at = s->now + 1 + cn_prng_below(&s->prng, 400);
    s->nem_slot = slot;
}

/* ...and sometimes right after a leader commits, while its next appends
 * are still in flight (isolation drops them at delivery). */
void sim_leader_committed(struct sim *s, uint32_t slot)
{
    if (s->live || s->nem_at > s->now || !s->p.nemesis_pct ||
        cn_prng_below(&s->prng, 1000) >= s->p.nemesis_pct)
        return;
    s->nem_at = s->now + 1;
    s->nem_slot = slot;
}

void sim_nemesis(struct sim *s)
{
    uint32_t v = s->nem_slot;
    uint64_t until;

    if (s->nem_at == 0 || s->nem_at != s->now || !s->nodes[v].up)
        return;
    s->nem_at = 0;
    if (cn_prng_chance(&s->prng, 1, 2)) {
        sim_crash(s, v);
        return;
    }
    until = s->now + 50 + cn_prng_below(&s->prng, 1000);
    for (uint32_t j = 0; j < s->n_nodes; j++) {
        if (j == v)
            continue;
        s->blocked_until[v][j] = CN_MAX(s->blocked_until[v][j], until);
        s->blocked_until[j][v] = CN_MAX(s->blocked_until[j][v], until);
    }
    sim_tracef(s, "NEMESIS isolate leader n%u until %llu", v + 1,
               (unsigned long long)until);
}

