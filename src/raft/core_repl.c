/* raft/core_repl.c - the leader: per-follower progress (probe, pipelined
 * replicate with an in-flight window, snapshot; thesis 10.2 and etcd's
 * tracker), fast backtracking, heartbeats, check-quorum (thesis 6.2), the
 * commit rule (paper 5.4.2 / Figure 8), ReadIndex rounds (thesis 6.4) and
 * chunked InstallSnapshot. Pure.
 */
#include <errno.h>

#include "raft_int.h"

void cn__raft_peer_reset(struct cn_raft *r, struct cn__raft_peer *p)
{
    p->match = 0;
    p->next = cn__log_last(&r->log) + 1;
    p->state = CN_PR_PROBE;
    p->probe_sent = false;
    p->recent_active = false;
    p->read_ack = 0;
    p->infl_head = p->infl_count = 0;
    p->snap_index = p->snap_offset = 0;
    p->snap_wait = 0;
}

static void infl_free_to(struct cn_raft *r, struct cn__raft_peer *p,
                         uint64_t index)
{
    while (p->infl_count > 0 && p->infl[p->infl_head] <= index) {
        p->infl_head = (p->infl_head + 1) % r->cfg.inflight_max;
        p->infl_count--;
    }
}

static void infl_add(struct cn_raft *r, struct cn__raft_peer *p, uint64_t last)
{
    CN_ASSERT(p->infl_count < r->cfg.inflight_max);
    p->infl[(p->infl_head + p->infl_count) % r->cfg.inflight_max] = last;
    p->infl_count++;
}

static void become_probe(struct cn__raft_peer *p, uint64_t next)
{
    p->state = CN_PR_PROBE;
    p->next = next;
    p->probe_sent = false;
    p->infl_head = p->infl_count = 0;
}

static void become_replicate(struct cn__raft_peer *p)
{
    p->state = CN_PR_REPLICATE;
    p->next = p->match + 1;
    p->infl_head = p->infl_count = 0;
}

/* ---- snapshots -------------------------------------------------------- */

/* Sends the chunk at p->snap_offset of the image (conf bytes, then data).
 * The bytes are copied now, so a later compaction cannot pull them away. */
static void send_chunk(struct cn_raft *r, struct cn__raft_peer *p)
{
    uint64_t conf_len = r->snap_conf_bytes.len;
    uint64_t total = conf_len + r->snap.len, off = p->snap_offset;
    uint64_t len = CN_MIN(total - off, (uint64_t)r->cfg.snapshot_chunk_bytes);
    size_t at = r->out_bytes.len;
    struct cn_raft_msg m = {
        .type = CN_RAFT_MSG_SNAPSHOT, .to = p->id, .index = r->snap.index,
        .log_term = r->snap.term, .total = total, .conf_len = (uint32_t)conf_len,
        .offset = off, .len = (uint32_t)len,
    };

    CN_ASSERT(p->snap_index == r->snap.index);
    CN_ASSERT(off <= total);
    if (off < conf_len) {
        uint64_t k = CN_MIN(len, conf_len - off);
        if (cn_buf_append(&r->out_bytes, r->snap_conf_bytes.data + off, k) < 0 ||
            cn_buf_append(&r->out_bytes, r->snap.data, len - k) < 0)
            goto fail;
    } else if (cn_buf_append(&r->out_bytes, r->snap.data + (off - conf_len),
                             len) < 0) {
        goto fail;
    }
    p->snap_wait = 0;
    cn__raft_send(r, &m, at);
    return;
fail:
    r->out_bytes.len = at; /* Retried on a later tick. */
}

static void start_snapshot(struct cn_raft *r, struct cn__raft_peer *p)
{
    CN_ASSERT(r->snap.index > 0);
    CN_ASSERT(r->snap.index >= r->log.prev_index);
    p->state = CN_PR_SNAPSHOT;
    p->snap_index = r->snap.index;
    p->snap_offset = 0;
    p->infl_head = p->infl_count = 0;
    r->stats.snapshots_sent++;
    cn__raft_logf(r, CN_LOG_INFO, "%llu sending snapshot index=%llu to %llu",
                  (unsigned long long)r->id, (unsigned long long)r->snap.index,
                  (unsigned long long)p->id);
    send_chunk(r, p);
}

int cn__raft_on_snapshot_resp(struct cn_raft *r, const struct cn_raft_msg *m)
{
    struct cn__raft_peer *p = cn__raft_peer(r, m->from);

    p->recent_active = true;
    if (p->state != CN_PR_SNAPSHOT || m->index != p->snap_index) {
        r->stats.dropped_stale++;
        return 0;
    }
    if (m->flags & CN_RAFT_F_DONE) {
        if (m->index > p->match)
            p->match = m->index;
        become_probe(p, p->match + 1);
        cn__raft_maybe_commit(r);
        if (r->role == CN_RAFT_LEADER)
            cn__raft_send_append(r, p, true);
        return 0;
    }
    if (p->snap_index != r->snap.index) {
        start_snapshot(r, p); /* We compacted again meanwhile. */
        return 0;
    }
    if (m->offset > r->snap_conf_bytes.len + r->snap.len) {
        cn__raft_malformed(r, m, "offset beyond the snapshot");
        return 0;
    }
    p->snap_offset = m->offset;
    send_chunk(r, p);
    return 0;
}

/* ---- AppendEntries ---------------------------------------------------- */

/* Sends what p needs next. empty_ok: send even without entries (a probe
 * of prev, or to learn a replicate peer lost something). Returns 1 when a
 * message with entries went out. */
int cn__raft_send_append(struct cn_raft *r, struct cn__raft_peer *p,
                         bool empty_ok)
{
    uint64_t prev, last = cn__log_last(&r->log), n = 0, bytes = 0;
    struct cn_raft_msg m = {.type = CN_RAFT_MSG_APPEND};

    if (p->id == r->id || p->state == CN_PR_SNAPSHOT)
        return 0;
    if (p->state == CN_PR_PROBE && p->probe_sent)
        return 0;
    if (p->state == CN_PR_REPLICATE && p->infl_count >= r->cfg.inflight_max)
        return 0;
    CN_ASSERT(p->next >= 1 && p->next <= last + 1);
    prev = p->next - 1;
    if (prev < r->log.prev_index) {
        start_snapshot(r, p); /* The entries p needs are compacted away. */
        return 0;
    }
    while (prev + n < last && n < r->cfg.max_msg_entries) {
        const struct cn_raft_entry *e = cn__log_at(&r->log, prev + n + 1);
        if (n > 0 && bytes + e->len > r->cfg.max_msg_bytes)
            break;
        bytes += e->len;
        n++;
    }
    if (n == 0 && !empty_ok && p->state == CN_PR_REPLICATE)
        return 0;
    m.to = p->id;
    m.index = prev;
    m.log_term = cn__log_term(&r->log, prev);
    m.commit = r->commit;
    m.n_entries = (uint32_t)n;
    if (cn__raft_send(r, &m, prev + 1) < 0)
        return 0;
    if (p->state == CN_PR_REPLICATE) {
        if (n > 0) {
            p->next = prev + n + 1;
            infl_add(r, p, prev + n);
        }
    } else {
        p->probe_sent = true;
    }
    return n > 0;
}

void cn__raft_bcast(struct cn_raft *r)
{
    CN_ASSERT(r->role == CN_RAFT_LEADER);
    r->need_bcast = false;
    for (uint32_t i = 0; i < r->n_peers; i++) {
        struct cn__raft_peer *p = &r->peers[i];
        if (p->id == r->id)
            continue;
        /* Pipelining: fill the window. */
        while (cn__raft_send_append(r, p, false) > 0 &&
               p->state == CN_PR_REPLICATE)
            ;
    }
}

/* Where p's log may diverge from ours, from its hint (the term it holds at
 * the rejected index and where that term starts in its log). */
static uint64_t hint_next(const struct cn_raft *r, const struct cn_raft_msg *m)
{
    uint64_t i = CN_MIN(m->index, cn__log_last(&r->log));

    if (m->hint_term == 0)
        return m->hint_index; /* Its log ends before the rejected index. */
    while (i > r->log.prev_index && cn__log_term(&r->log, i) > m->hint_term)
        i--;
    if (cn__log_term(&r->log, i) == m->hint_term)
        return i + 1; /* We share its term up to i: resume after it. */
    return CN_MIN(m->hint_index, i + 1);
}

static void transfer_check(struct cn_raft *r, struct cn__raft_peer *p)
{
    if (r->transfer_to == p->id && p->match == cn__log_last(&r->log)) {
        struct cn_raft_msg m = {.type = CN_RAFT_MSG_TIMEOUT_NOW, .to = p->id};
        cn__raft_send(r, &m, 0);
    }
}

static int on_append_reject(struct cn_raft *r, struct cn__raft_peer *p,
                            const struct cn_raft_msg *m)
{
    uint64_t next;

    if (m->index == 0) {
        /* A term notice (core.c step_term) that crossed our new term. */
        r->stats.dropped_stale++;
        return 0;
    }
    if (m->index > cn__log_last(&r->log)) {
        cn__raft_malformed(r, m, "rejects an index never sent");
        return 0;
    }
    if (p->state == CN_PR_SNAPSHOT || m->index <= p->match ||
        (p->state == CN_PR_PROBE && m->index != p->next - 1)) {
        r->stats.dropped_stale++;
        return 0;
    }
    next = hint_next(r, m);
    next = CN_MAX(next, p->match + 1);
    next = CN_MIN(next, m->index); /* Strictly back: it refused prev. */
    become_probe(p, next);
    cn__raft_send_append(r, p, true);
    return 0;
}

int cn__raft_on_append_resp(struct cn_raft *r, const struct cn_raft_msg *m)
{
    struct cn__raft_peer *p = cn__raft_peer(r, m->from);

    p->recent_active = true;
    if (m->flags & CN_RAFT_F_REJECT)
        return on_append_reject(r, p, m);
    if (m->index > cn__log_last(&r->log)) {
        cn__raft_malformed(r, m, "acks an entry we never had");
        return 0;
    }
    if (m->index > p->match) {
        p->match = m->index;
        if (p->next <= p->match)
            p->next = p->match + 1;
        infl_free_to(r, p, m->index);
        if (p->state == CN_PR_PROBE ||
            (p->state == CN_PR_SNAPSHOT && p->match >= p->snap_index))
            become_replicate(p);
        cn__raft_maybe_commit(r);
        if (r->role != CN_RAFT_LEADER)
            return 0; /* Committed our own removal. */
        transfer_check(r, p);
    } else {
        infl_free_to(r, p, m->index);
        if (p->state == CN_PR_PROBE && m->index == p->match && p->match > 0 &&
            p->next == p->match + 1)
            become_replicate(p);
    }
    while (cn__raft_send_append(r, p, false) > 0 && p->state == CN_PR_REPLICATE)
        ;
    return 0;
}

/* ---- commit ----------------------------------------------------------- */

/* Paper 5.4.2: only an entry of the current term is committed by counting
 * replicas; earlier ones commit with it (Figure 8). */
void cn__raft_maybe_commit(struct cn_raft *r)
{
    uint64_t m[CN_RAFT_MEMBERS_MAX], idx;
    uint32_t n = 0, q = cn__raft_quorum(r);

    CN_ASSERT(r->role == CN_RAFT_LEADER);
    for (uint32_t i = 0; i < r->n_peers; i++) {
        const struct cn__raft_peer *p = &r->peers[i];
        if (p->role != CN_RAFT_VOTER)
            continue;
        m[n++] = p->id == r->id ? r->stable : p->match;
    }
    if (n == 0)
        return;
    for (uint32_t i = 1; i < n; i++) /* Insertion sort, descending. */
        for (uint32_t j = i; j > 0 && m[j] > m[j - 1]; j--) {
            uint64_t t = m[j];
            m[j] = m[j - 1];
            m[j - 1] = t;
        }
    CN_ASSERT(q <= n);
    idx = m[q - 1];
    if (idx <= r->commit)
        return;
    if (cn__log_term(&r->log, idx) != r->term &&
        !CN_MUTANT(CN_MUT_COMMIT_OLD_TERM))
        return;
    for (uint64_t i = CN_MAX(r->commit + 1, r->term_start); i <= idx; i++) {
        uint32_t len = cn__log_at(&r->log, i)->len;
        r->uncommitted_bytes -= CN_MIN(r->uncommitted_bytes, (uint64_t)len);
    }
    r->commit = idx;
    if (r->commit >= r->term_start) {
        /* Reads that waited for our no-op get an index now. */
        struct cn__raft_read *rd = r->reads_wait.p;
        for (size_t i = 0; i < r->reads_wait.n; i++)
            if (rd[i].index == 0) {
                rd[i].index = r->commit;
                rd[i].round = r->read_round_sent + 1;
            }
    }
    if (r->conf_index <= r->commit && !cn__raft_is_voter(r)) {
        /* Thesis 4.2.2: a leader removed by a committed change steps down. */
        cn__raft_logf(r, CN_LOG_INFO, "%llu removed from the configuration: "
                      "stepping down", (unsigned long long)r->id);
        cn__raft_become_follower(r, r->term, CN_RAFT_NONE);
    }
}

/* ---- ReadIndex rounds ------------------------------------------------- */

static void read_confirm(struct cn_raft *r)
{
    uint64_t acks[CN_RAFT_MEMBERS_MAX], q_round;
    uint32_t n = 0, q = cn__raft_quorum(r);
    struct cn__raft_read *rd = r->reads_wait.p;
    size_t k = 0;

    for (uint32_t i = 0; i < r->n_peers; i++) {
        const struct cn__raft_peer *p = &r->peers[i];
        if (p->role == CN_RAFT_VOTER)
            acks[n++] = p->id == r->id ? r->read_round_sent : p->read_ack;
    }
    if (n < q || r->reads_wait.n == 0)
        return;
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && acks[j] > acks[j - 1]; j--) {
            uint64_t t = acks[j];
            acks[j] = acks[j - 1];
            acks[j - 1] = t;
        }
    q_round = acks[q - 1];
    /* Waiting reads are in round order: confirm a prefix. */
    while (k < r->reads_wait.n && rd[k].index != 0 && rd[k].round <= q_round) {
        if (cn__vec_push(&r->reads_ok, &rd[k]) < 0)
            break; /* Retried on the next acknowledgement. */
        k++;
    }
    memmove(rd, rd + k, (r->reads_wait.n - k) * sizeof *rd);
    r->reads_wait.n -= k;
}

static void send_heartbeats(struct cn_raft *r)
{
    for (uint32_t i = 0; i < r->n_peers; i++) {
        const struct cn__raft_peer *p = &r->peers[i];
        struct cn_raft_msg m = {
            .type = CN_RAFT_MSG_HEARTBEAT, .to = p->id,
            .commit = CN_MIN(p->match, r->commit), .ctx = r->read_round_sent,
        };
        if (p->id != r->id)
            cn__raft_send(r, &m, 0);
    }
}

/* Reads issued since the last round share one heartbeat broadcast. */
void cn__raft_read_flush(struct cn_raft *r)
{
    const struct cn__raft_read *last;

    if (r->reads_wait.n == 0)
        return;
    last = (const struct cn__raft_read *)r->reads_wait.p + r->reads_wait.n - 1;
    if (last->round <= r->read_round_sent)
        return;
    CN_ASSERT(last->round == r->read_round_sent + 1);
    r->read_round_sent++;
    send_heartbeats(r);
    read_confirm(r);
}

int cn__raft_on_heartbeat_resp(struct cn_raft *r, const struct cn_raft_msg *m)
{
    struct cn__raft_peer *p = cn__raft_peer(r, m->from);

    if (m->ctx > r->read_round_sent) {
        cn__raft_malformed(r, m, "read round never sent");
        return 0;
    }
    p->recent_active = true;
    if (m->ctx > p->read_ack) {
        p->read_ack = m->ctx;
        read_confirm(r);
    }
    if (p->state == CN_PR_PROBE)
        p->probe_sent = false;
    if (p->match < cn__log_last(&r->log)) {
        if (p->state == CN_PR_REPLICATE && p->infl_count >= r->cfg.inflight_max)
            infl_free_to(r, p, p->infl[p->infl_head]); /* Free the oldest. */
        cn__raft_send_append(r, p, true);
    }
    return 0;
}

/* ---- leader tick ------------------------------------------------------ */

static bool check_quorum(struct cn_raft *r)
{
    uint32_t active = 0;

    for (uint32_t i = 0; i < r->n_peers; i++) {
        struct cn__raft_peer *p = &r->peers[i];
        if (p->role == CN_RAFT_VOTER && (p->id == r->id || p->recent_active))
            active++;
        if (p->id != r->id)
            p->recent_active = false;
    }
    return active >= cn__raft_quorum(r);
}

void cn__raft_tick_leader(struct cn_raft *r)
{
    CN_ASSERT(r->role == CN_RAFT_LEADER);
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->transfer_to != CN_RAFT_NONE &&
        ++r->transfer_elapsed >= r->cfg.election_ticks) {
        cn__raft_logf(r, CN_LOG_INFO, "%llu leadership transfer to %llu timed out",
                      (unsigned long long)r->id,
                      (unsigned long long)r->transfer_to);
        r->transfer_to = CN_RAFT_NONE;
    }
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        if (!check_quorum(r)) {
            /* Thesis 6.2: a leader cut off from a quorum steps down. */
            cn__raft_logf(r, CN_LOG_INFO, "%llu lost quorum: stepping down",
                          (unsigned long long)r->id);
            cn__raft_become_follower(r, r->term, CN_RAFT_NONE);
            return;
        }
    }
    for (uint32_t i = 0; i < r->n_peers; i++) {
        struct cn__raft_peer *p = &r->peers[i];
        /* A lost chunk is sent again after a few quiet ticks. */
        if (p->state == CN_PR_SNAPSHOT &&
            ++p->snap_wait >= 3 * r->cfg.heartbeat_ticks) {
            if (p->snap_index != r->snap.index)
                start_snapshot(r, p);
            else
                send_chunk(r, p);
        }
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        send_heartbeats(r);
    }
}
