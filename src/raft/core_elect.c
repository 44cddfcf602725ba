/* raft/core_elect.c - elections: the follower's timer, pre-vote (thesis
 * 9.6), RequestVote (paper Figure 2 and 5.4.1), and TimeoutNow for
 * leadership transfer (thesis 3.10). Pure.
 */
#include "raft_int.h"

enum { VOTE_NONE = 0, VOTE_GRANTED = 1, VOTE_REJECTED = 2 };

/* Counts the voters' answers: +1 won, -1 lost, 0 undecided. */
static int tally(const struct cn_raft *r)
{
    uint32_t voters = 0, yes = 0, no = 0, q = cn__raft_quorum(r);

    for (uint32_t i = 0; i < r->n_peers; i++) {
        const struct cn__raft_peer *p = &r->peers[i];
        if (p->role != CN_RAFT_VOTER)
            continue;
        voters++;
        yes += p->vote == VOTE_GRANTED;
        no += p->vote == VOTE_REJECTED;
    }
    CN_ASSERT(yes + no <= voters);
    if (yes >= q)
        return 1;
    if (no > voters - q)
        return -1;
    return 0;
}

void cn__raft_campaign(struct cn_raft *r, bool pre, bool transfer)
{
    uint64_t vote_term;
    int won;

    CN_ASSERT(cn__raft_is_voter(r));
    CN_ASSERT(r->role != CN_RAFT_LEADER);
    if (pre) {
        r->role = CN_RAFT_PRE_CANDIDATE;
        vote_term = r->term + 1; /* Asked for, not taken. */
        r->stats.pre_elections++;
    } else {
        r->role = CN_RAFT_CANDIDATE;
        r->term++;
        r->vote = r->id;
        vote_term = r->term;
        r->stats.elections++;
    }
    r->leader = CN_RAFT_NONE;
    r->soft_dirty = true;
    r->election_elapsed = 0;
    cn__raft_reset_timeout(r);
    cn__raft_logf(r, CN_LOG_INFO, "%llu became %s term=%llu last=%llu/%llu",
                  (unsigned long long)r->id, cn_raft_role_name(r->role),
                  (unsigned long long)vote_term,
                  (unsigned long long)cn__log_last(&r->log),
                  (unsigned long long)cn__log_last_term(&r->log));
    for (uint32_t i = 0; i < r->n_peers; i++)
        r->peers[i].vote = r->peers[i].id == r->id ? VOTE_GRANTED : VOTE_NONE;
    won = tally(r);
    if (won > 0) {
        if (pre)
            cn__raft_campaign(r, false, transfer);
        else
            cn__raft_become_leader(r);
        return;
    }
    for (uint32_t i = 0; i < r->n_peers; i++) {
        const struct cn__raft_peer *p = &r->peers[i];
        struct cn_raft_msg m = {
            .type = pre ? CN_RAFT_MSG_PRE_VOTE : CN_RAFT_MSG_VOTE,
            .to = p->id,
            .term = vote_term,
            .index = cn__log_last(&r->log),
            .log_term = cn__log_last_term(&r->log),
            .flags = transfer ? CN_RAFT_F_TRANSFER : 0,
        };
        if (p->id == r->id || p->role != CN_RAFT_VOTER)
            continue;
        cn__raft_send(r, &m, 0);
    }
}

void cn__raft_tick_election(struct cn_raft *r)
{
    CN_ASSERT(r->role != CN_RAFT_LEADER);
    if (r->election_elapsed < UINT32_MAX)
        r->election_elapsed++;
    /* Learners and servers outside the configuration never campaign; their
     * clock keeps running so that the leader's lease (step_term) lapses. */
    if (r->election_elapsed < r->election_timeout || !cn__raft_is_voter(r))
        return;
    r->election_elapsed = 0;
    cn__raft_campaign(r, !r->cfg.disable_pre_vote, false);
}

/* RequestVote and PreVote. Granting a real vote changes the hard state, so
 * the answer queues behind the sync (cn__raft_send). */
int cn__raft_on_vote(struct cn_raft *r, const struct cn_raft_msg *m)
{
    bool pre = m->type == CN_RAFT_MSG_PRE_VOTE;
    uint64_t last = cn__log_last(&r->log), last_term = cn__log_last_term(&r->log);
    bool up_to_date = m->log_term > last_term ||
                      (m->log_term == last_term && m->index >= last);
    bool can_vote = r->vote == m->from ||
                    (r->vote == CN_RAFT_NONE && r->leader == CN_RAFT_NONE) ||
                    (pre && m->term > r->term);
    struct cn_raft_msg resp = {
        .type = pre ? CN_RAFT_MSG_PRE_VOTE_RESP : CN_RAFT_MSG_VOTE_RESP,
        .to = m->from,
    };

    if (CN_MUTANT(CN_MUT_VOTE_ANY_LOG))
        up_to_date = true;
    if (CN_MUTANT(CN_MUT_DOUBLE_VOTE) && r->role == CN_RAFT_FOLLOWER)
        can_vote = true;
    CN_ASSERT(m->term >= r->term);
    if (can_vote && up_to_date) {
        resp.term = m->term; /* A granted pre-vote echoes the asked term. */
        if (!pre) {
            r->vote = m->from;
            r->election_elapsed = 0;
        }
    } else {
        resp.term = r->term;
        resp.flags = CN_RAFT_F_REJECT;
    }
    cn__raft_logf(r, CN_LOG_DEBUG, "%llu %s %s from %llu term=%llu",
                  (unsigned long long)r->id,
                  resp.flags ? "rejected" : "granted",
                  cn_raft_msg_type_name(m->type), (unsigned long long)m->from,
                  (unsigned long long)m->term);
    return cn__raft_send(r, &resp, 0);
}

int cn__raft_on_vote_resp(struct cn_raft *r, const struct cn_raft_msg *m)
{
    bool pre = m->type == CN_RAFT_MSG_PRE_VOTE_RESP;
    struct cn__raft_peer *p = cn__raft_peer(r, m->from);
    int won;

    if (pre ? r->role != CN_RAFT_PRE_CANDIDATE : r->role != CN_RAFT_CANDIDATE) {
        r->stats.dropped_stale++;
        return 0;
    }
    /* A granted pre-vote names the term we asked for (ours + 1); anything
     * else is left over from an earlier round. */
    if (pre && !(m->flags & CN_RAFT_F_REJECT) && m->term != r->term + 1) {
        r->stats.dropped_stale++;
        return 0;
    }
    if (!p || p->role != CN_RAFT_VOTER || p->vote != VOTE_NONE) {
        r->stats.dropped_stale++;
        return 0;
    }
    p->vote = (m->flags & CN_RAFT_F_REJECT) ? VOTE_REJECTED : VOTE_GRANTED;
    won = tally(r);
    if (won > 0) {
        if (pre)
            cn__raft_campaign(r, false, false);
        else
            cn__raft_become_leader(r);
    } else if (won < 0) {
        cn__raft_become_follower(r, r->term, CN_RAFT_NONE);
    }
    return 0;
}

int cn__raft_on_timeout_now(struct cn_raft *r, const struct cn_raft_msg *m)
{
    if (r->role != CN_RAFT_FOLLOWER || m->from != r->leader ||
        !cn__raft_is_voter(r)) {
        r->stats.dropped_stale++;
        return 0;
    }
    cn__raft_logf(r, CN_LOG_INFO, "%llu timeout-now from %llu: campaigning",
                  (unsigned long long)r->id, (unsigned long long)m->from);
    /* Thesis 3.10: no pre-vote, and voters skip the lease check. */
    cn__raft_campaign(r, false, true);
    return 0;
}
