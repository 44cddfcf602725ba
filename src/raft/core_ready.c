/* raft/core_ready.c - the ready/advance batch, client inputs (propose,
 * read, transfer, compact) and status. Pure. The contract is in raft.h.
 */
#include <errno.h>

#include "raft_int.h"

/* ---- client inputs ---------------------------------------------------- */

int cn_raft_propose(struct cn_raft *r, const void *data, size_t len,
                    uint64_t cookie, uint64_t *index_out)
{
    uint8_t *copy = NULL;
    int rc;

    CN_ASSERT(!r->in_ready);
    if (r->role != CN_RAFT_LEADER)
        return CN_ENOLEADER;
    if (r->transfer_to != CN_RAFT_NONE)
        return CN_ESTATE;
    if (len > CN_RAFT_ENTRY_BYTES_MAX || len > r->cfg.max_msg_bytes)
        return -EMSGSIZE;
    /* Bounded memory under overload (etcd's MaxUncommittedEntriesSize);
     * one entry always fits. No overflow: both terms are bounded. */
    if (r->uncommitted_bytes > 0 &&
        r->uncommitted_bytes + len > r->cfg.uncommitted_bytes_max)
        return CN_ELIMIT;
    if (len > 0) {
        copy = cn__log_dup(&r->log, data, len);
        if (!copy)
            return -ENOMEM;
    }
    rc = cn__log_append_owned(&r->log, r->term, CN_RAFT_ENTRY_NORMAL, copy,
                              (uint32_t)len, cookie);
    if (rc < 0)
        return rc;
    r->uncommitted_bytes += len;
    r->need_bcast = true;
    if (index_out)
        *index_out = cn__log_last(&r->log);
    return 0;
}

int cn_raft_read(struct cn_raft *r, uint64_t cookie)
{
    struct cn__raft_read rd = {.cookie = cookie};
    int rc;

    CN_ASSERT(!r->in_ready);
    if (r->role != CN_RAFT_LEADER)
        return CN_ENOLEADER;
    if (r->reads_wait.n + r->reads_ok.n >= CN_RAFT_READS_MAX)
        return CN_ELIMIT;
    /* Thesis 6.4 step 1: until our no-op commits we do not know the
     * commit index; the read waits and gets one then (maybe_commit). */
    if (r->commit >= r->term_start) {
        rd.index = r->commit;
        rd.round = r->read_round_sent + 1;
    }
    if (CN_MUTANT(CN_MUT_READ_NO_QUORUM) && rd.index)
        return cn__vec_push(&r->reads_ok, &rd);
    rc = cn__vec_push(&r->reads_wait, &rd);
    return rc;
}

int cn_raft_transfer(struct cn_raft *r, uint64_t to)
{
    struct cn__raft_peer *p = NULL;

    CN_ASSERT(!r->in_ready);
    if (r->role != CN_RAFT_LEADER)
        return CN_ENOLEADER;
    if (to == CN_RAFT_NONE) {
        for (uint32_t i = 0; i < r->n_peers; i++) {
            struct cn__raft_peer *q = &r->peers[i];
            if (q->id != r->id && q->role == CN_RAFT_VOTER &&
                (!p || q->match > p->match))
                p = q;
        }
    } else if (to != r->id) {
        p = cn__raft_peer(r, to);
    }
    if (!p || p->role != CN_RAFT_VOTER)
        return -EINVAL;
    r->transfer_to = p->id;
    r->transfer_elapsed = 0;
    cn__raft_logf(r, CN_LOG_INFO, "%llu transferring leadership to %llu",
                  (unsigned long long)r->id, (unsigned long long)p->id);
    if (p->match == cn__log_last(&r->log)) {
        struct cn_raft_msg m = {.type = CN_RAFT_MSG_TIMEOUT_NOW, .to = p->id};
        cn__raft_send(r, &m, 0);
    } else {
        cn__raft_send_append(r, p, true);
    }
    return 0;
}

int cn_raft_compact(struct cn_raft *r, uint64_t index, const uint8_t *data,
                    size_t len, uint64_t trailing)
{
    struct cn_raft_conf conf;
    struct cn_buf cb;
    uint64_t keep_from;
    int rc;

    CN_ASSERT(!r->in_ready);
    if (index > r->applied || index <= r->snap.index ||
        index < r->log.prev_index || len > CN_RAFT_SNAPSHOT_BYTES_MAX ||
        (len && !data))
        return -EINVAL;
    CN_ASSERT(index <= r->stable);
    rc = cn__raft_conf_at(r, index, &conf);
    if (rc < 0)
        return rc;
    cn_buf_init(&cb, r->snap_conf_bytes.max);
    rc = cn_raft_conf_encode(&conf, &cb);
    if (rc < 0) {
        cn_buf_close(&cb);
        return rc; /* Nothing changed. */
    }
    cn_buf_close(&r->snap_conf_bytes);
    r->snap_conf_bytes = cb;
    if (r->snap_owned)
        cn_free(r->snap_buf);
    r->snap_owned = false;
    r->snap_buf = NULL;
    r->snap.index = index;
    r->snap.term = cn__log_term(&r->log, index);
    r->snap.conf = conf;
    r->snap.data = data;
    r->snap.len = len;
    CN_ASSERT(r->snap.term != 0);
    keep_from = index > trailing ? index - trailing : 0;
    if (keep_from > r->log.prev_index)
        cn__log_compact(&r->log, keep_from);
    return 0;
}

/* ---- ready / advance --------------------------------------------------- */

bool cn_raft_has_ready(const struct cn_raft *r)
{
    if (r->in_ready)
        return false;
    if (r->out.n || r->failed.n || r->reads_ok.n || r->snap_pending ||
        r->soft_dirty)
        return true;
    if (r->term != r->ready_term || r->vote != r->ready_vote)
        return true;
    if (r->stable < cn__log_last(&r->log) || r->applied < r->commit)
        return true;
    if (r->role == CN_RAFT_LEADER && r->need_bcast)
        return true;
    if (r->role == CN_RAFT_LEADER && r->reads_wait.n) {
        const struct cn__raft_read *last =
            (const struct cn__raft_read *)r->reads_wait.p + r->reads_wait.n - 1;
        return last->round > r->read_round_sent;
    }
    return false;
}

/* Points queued messages at the log and chunk bytes; drops what went stale
 * (entries compacted since it was queued). */
static int resolve_msgs(struct cn_raft *r)
{
    struct cn__raft_out *o = r->out.p;
    int rc = 0;

    for (size_t i = 0; i < r->out.n && rc == 0; i++) {
        struct cn_raft_msg m = o[i].m;
        if (m.type == CN_RAFT_MSG_APPEND && m.n_entries > 0) {
            if (o[i].first <= r->log.prev_index ||
                o[i].first + m.n_entries - 1 > cn__log_last(&r->log))
                continue;
            m.entries = cn__log_at(&r->log, o[i].first);
        } else if (m.type == CN_RAFT_MSG_SNAPSHOT) {
            m.data = m.len ? r->out_bytes.data + o[i].first : NULL;
        }
        r->stats.msgs_out++;
        rc = cn__vec_push(o[i].now ? &r->rd_now : &r->rd_msgs, &m);
    }
    return rc;
}

static int collect_reads(struct cn_raft *r)
{
    const struct cn__raft_read *rd = r->reads_ok.p;

    for (size_t i = 0; i < r->reads_ok.n; i++) {
        struct cn_raft_read_state s = {.cookie = rd[i].cookie,
                                       .index = rd[i].index};
        CN_ASSERT(rd[i].index <= r->commit);
        if (cn__vec_push(&r->rd_reads, &s) < 0)
            return -ENOMEM;
    }
    return 0;
}

int cn_raft_ready(struct cn_raft *r, struct cn_raft_ready *rd)
{
    uint64_t last;
    int rc;

    CN_ASSERT(!r->in_ready);
    if (r->role == CN_RAFT_LEADER) {
        if (r->need_bcast)
            cn__raft_bcast(r);
        cn__raft_read_flush(r);
    }
    r->rd_msgs.n = r->rd_now.n = r->rd_reads.n = 0;
    rc = resolve_msgs(r);
    if (rc == 0)
        rc = collect_reads(r);
    if (rc < 0) {
        r->rd_msgs.n = r->rd_now.n = r->rd_reads.n = 0;
        return rc;
    }
    memset(rd, 0, sizeof *rd);
    last = cn__log_last(&r->log);
    CN_ASSERT(r->stable >= r->log.prev_index);
    CN_ASSERT(r->applied >= r->log.prev_index || r->applied == r->commit);
    CN_ASSERT(r->commit <= last);
    rd->msgs_now = r->rd_now.p;
    rd->n_msgs_now = r->rd_now.n;
    rd->msgs = r->rd_msgs.p;
    rd->n_msgs = r->rd_msgs.n;
    rd->term = r->term;
    rd->vote = r->vote;
    rd->hs_changed = r->term != r->ready_term || r->vote != r->ready_vote;
    rd->snapshot = r->snap_pending ? &r->snap : NULL;
    if (r->stable < last) {
        rd->entries = cn__log_at(&r->log, r->stable + 1);
        rd->n_entries = last - r->stable;
    }
    if (r->applied < r->commit) {
        rd->committed = cn__log_at(&r->log, r->applied + 1);
        rd->n_committed = r->commit - r->applied;
    }
    rd->reads = r->rd_reads.p;
    rd->n_reads = r->rd_reads.n;
    /* Swap the failure list in: new failures queue behind the batch. */
    r->rd_failed.n = 0;
    { struct cn__vec t = r->rd_failed; r->rd_failed = r->failed; r->failed = t; }
    rd->failed = r->rd_failed.p;
    rd->n_failed = r->rd_failed.n;
    rd->must_sync = rd->hs_changed || rd->snapshot || rd->n_entries;
    rd->soft_changed = r->soft_dirty;
    r->rd_stable = last;
    r->rd_applied = r->commit;
    r->rd_snap = r->snap_pending;
    r->in_ready = true;
    return 0;
}

void cn_raft_advance(struct cn_raft *r, const struct cn_raft_ready *rd)
{
    CN_ASSERT(r->in_ready);
    CN_ASSERT(rd->term == r->term);
    r->in_ready = false;
    r->ready_term = rd->term;
    r->ready_vote = rd->vote;
    r->stable = r->rd_stable;
    r->applied = r->rd_applied;
    if (r->rd_snap)
        r->snap_pending = false;
    r->soft_dirty = false;
    r->out.n = 0;
    r->reads_ok.n = 0;
    r->rd_failed.n = 0;
    cn_buf_reset(&r->out_bytes);
    /* The leader's own log counts toward commit only once durable. */
    if (r->role == CN_RAFT_LEADER)
        cn__raft_maybe_commit(r);
}

/* ---- status ----------------------------------------------------------- */

void cn_raft_status(const struct cn_raft *r, struct cn_raft_status *st)
{
    memset(st, 0, sizeof *st);
    st->id = r->id;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->commit = r->commit;
    st->applied = r->applied;
    st->first_index = r->log.prev_index + 1;
    st->last_index = cn__log_last(&r->log);
    st->snap_index = r->snap.index;
    st->snap_term = r->snap.term;
    st->last_contact_ticks = r->role == CN_RAFT_LEADER ? 0 : r->contact_ticks;
    st->transfer_to = r->transfer_to;
    st->is_voter = cn__raft_is_voter(r);
}

const struct cn_raft_conf *cn_raft_conf(const struct cn_raft *r)
{
    return &r->conf;
}

void cn_raft_stats(const struct cn_raft *r, struct cn_raft_stats *out)
{
    *out = r->stats;
}
