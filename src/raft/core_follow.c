/* raft/core_follow.c - the follower's side: AppendEntries (paper Figure 2,
 * receiver rules 1-5, with a conflict hint for fast backtracking),
 * heartbeats, and assembling a chunked InstallSnapshot. Pure.
 *
 * Every field of an incoming append is checked first (msg_valid ->
 * cn__raft_append_valid): a message that could not come from a correct
 * leader is dropped and counted, never asserted on.
 */
#include <errno.h>

#include "raft_int.h"

bool cn__raft_append_valid(const struct cn_raft *r, const struct cn_raft_msg *m)
{
    uint64_t prev_term = m->log_term;

    (void)r;
    if (m->log_term > m->term || (m->index == 0) != (m->log_term == 0))
        return false;
    if (m->n_entries > CN_RAFT_MSG_ENTRIES_MAX ||
        m->index > UINT64_MAX - CN_RAFT_MSG_ENTRIES_MAX ||
        (m->n_entries && !m->entries))
        return false;
    for (uint32_t k = 0; k < m->n_entries; k++) {
        const struct cn_raft_entry *e = &m->entries[k];
        if (e->index != m->index + 1 + k || e->term < prev_term ||
            e->term > m->term || e->term == 0 || e->len > CN_RAFT_ENTRY_BYTES_MAX ||
            (e->len && !e->data) || e->kind < CN_RAFT_ENTRY_NORMAL ||
            e->kind > CN_RAFT_ENTRY_NOOP)
            return false;
        if (e->kind == CN_RAFT_ENTRY_CONF) {
            struct cn_raft_conf c;
            if (cn_raft_conf_decode(e->data, e->len, &c) < 0)
                return false;
        }
        prev_term = e->term;
    }
    return true;
}

static int reply(struct cn_raft *r, const struct cn_raft_msg *m, uint64_t index,
                 bool reject, uint64_t hint_index, uint64_t hint_term)
{
    struct cn_raft_msg resp = {
        .type = CN_RAFT_MSG_APPEND_RESP, .to = m->from, .index = index,
        .flags = reject ? CN_RAFT_F_REJECT : 0,
        .hint_index = hint_index, .hint_term = hint_term,
    };
    return cn__raft_send(r, &resp, 0);
}

static int reject(struct cn_raft *r, const struct cn_raft_msg *m)
{
    uint64_t last = cn__log_last(&r->log), t, i;

    if (m->index > last)
        return reply(r, m, m->index, true, last + 1, 0);
    /* Our term at prev and the first index of that term: the leader skips
     * the whole term in one round trip (paper 5.3, end). Entries up to
     * commit match any leader's, so the scan stops there. */
    t = cn__log_term(&r->log, m->index);
    i = m->index;
    while (i - 1 > r->commit && i - 1 > r->log.prev_index &&
           cn__log_term(&r->log, i - 1) == t)
        i--;
    return reply(r, m, m->index, true, i, t);
}

static void truncate_from(struct cn_raft *r, uint64_t index)
{
    CN_ASSERT(index > r->commit);
    cn__raft_logf(r, CN_LOG_DEBUG, "%llu truncating log from %llu",
                  (unsigned long long)r->id, (unsigned long long)index);
    cn__log_truncate_after(&r->log, index - 1);
    if (r->stable >= index)
        r->stable = index - 1;
    if (r->conf_index >= index)
        cn__raft_conf_recompute(r);
}

int cn__raft_on_append(struct cn_raft *r, const struct cn_raft_msg *m)
{
    uint64_t last_new = m->index + m->n_entries;
    bool match;

    if (m->index < r->commit)
        return reply(r, m, r->commit, false, 0, 0); /* Already have these. */
    match = cn__log_term(&r->log, m->index) == m->log_term &&
            m->index <= cn__log_last(&r->log);
    if (CN_MUTANT(CN_MUT_NO_PREV_CHECK) && m->index <= cn__log_last(&r->log))
        match = true;
    if (!match)
        return reject(r, m);
    for (uint32_t k = 0; k < m->n_entries; k++) {
        const struct cn_raft_entry *e = &m->entries[k];
        int rc;
        if (e->index <= cn__log_last(&r->log)) {
            if (cn__log_term(&r->log, e->index) == e->term)
                continue;
            if (e->index <= r->commit) {
                cn__raft_malformed(r, m, "rewrites a committed entry");
                return 0;
            }
            truncate_from(r, e->index);
        }
        rc = cn__log_append(&r->log, e);
        if (rc < 0)
            return rc; /* Consistent so far; the leader retries. */
        if (e->kind == CN_RAFT_ENTRY_CONF) {
            struct cn_raft_conf c;
            rc = cn_raft_conf_decode(e->data, e->len, &c);
            CN_ASSERT(rc == 0); /* Checked in cn__raft_append_valid. */
            cn__raft_conf_apply(r, &c, e->index);
        }
    }
    if (m->commit > r->commit)
        r->commit = CN_MAX(r->commit, CN_MIN(m->commit, last_new));
    return reply(r, m, last_new, false, 0, 0);
}

int cn__raft_on_heartbeat(struct cn_raft *r, const struct cn_raft_msg *m)
{
    struct cn_raft_msg resp = {
        .type = CN_RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .ctx = m->ctx,
    };

    /* The leader sends min(our match, its commit): our log matches its
     * up to there. */
    if (m->commit > r->commit)
        r->commit = CN_MAX(r->commit, CN_MIN(m->commit, cn__log_last(&r->log)));
    return cn__raft_send(r, &resp, 0);
}

/* ---- InstallSnapshot -------------------------------------------------- */

static void rx_reset(struct cn_raft *r)
{
    cn_buf_close(&r->rx.buf);
    memset(&r->rx, 0, sizeof r->rx);
    cn_buf_init(&r->rx.buf, 0);
}

static int snap_reply(struct cn_raft *r, const struct cn_raft_msg *m,
                      uint64_t offset, bool done)
{
    struct cn_raft_msg resp = {
        .type = CN_RAFT_MSG_SNAPSHOT_RESP, .to = m->from, .index = m->index,
        .offset = offset, .flags = done ? CN_RAFT_F_DONE : 0,
    };
    return cn__raft_send(r, &resp, 0);
}

/* The image is whole: replace log and state (paper Figure 13, rules 6-8). */
static int install(struct cn_raft *r, const struct cn_raft_msg *m)
{
    struct cn_raft_conf conf;
    struct cn_buf cb;
    uint8_t *img;
    size_t len;

    if (cn_raft_conf_decode(r->rx.buf.data, r->rx.conf_len, &conf) < 0) {
        cn__raft_malformed(r, m, "snapshot configuration");
        rx_reset(r);
        return 0;
    }
    if (cn__log_term(&r->log, m->index) == m->log_term &&
        m->index <= cn__log_last(&r->log)) {
        /* We hold that entry: keep our log, just learn the commit. */
        r->commit = CN_MAX(r->commit, m->index);
        rx_reset(r);
        return reply(r, m, m->index, false, 0, 0);
    }
    cn_buf_init(&cb, r->snap_conf_bytes.max);
    if (cn_buf_append(&cb, r->rx.buf.data, r->rx.conf_len) < 0) {
        cn_buf_close(&cb);
        return -ENOMEM; /* Nothing changed; the leader resends. */
    }
    len = r->rx.buf.len;
    img = cn_buf_steal(&r->rx.buf, &len);
    if (!img) {
        cn_buf_close(&cb);
        return -ENOMEM;
    }
    cn_buf_close(&r->snap_conf_bytes);
    r->snap_conf_bytes = cb;
    if (r->snap_owned)
        cn_free(r->snap_buf);
    r->snap_buf = img;
    r->snap_owned = true;
    r->snap.index = m->index;
    r->snap.term = m->log_term;
    r->snap.conf = conf;
    r->snap.data = img + r->rx.conf_len;
    r->snap.len = len - r->rx.conf_len;
    cn__log_reset(&r->log, m->index, m->log_term);
    r->stable = r->commit = r->applied = m->index;
    r->snap_pending = true;
    cn__raft_conf_apply(r, &conf, m->index);
    r->stats.snapshots_installed++;
    cn__raft_logf(r, CN_LOG_INFO, "%llu installed snapshot index=%llu term=%llu",
                  (unsigned long long)r->id, (unsigned long long)m->index,
                  (unsigned long long)m->log_term);
    rx_reset(r);
    return snap_reply(r, m, m->total, true);
}

int cn__raft_on_snapshot(struct cn_raft *r, const struct cn_raft_msg *m)
{
    struct cn__raft_rx *rx = &r->rx;
    int rc;

    if (m->index <= r->commit) {
        rx_reset(r);
        return reply(r, m, r->commit, false, 0, 0);
    }
    /* A chunk continues the image only if everything about it matches:
     * two leaders' images of one index need not be byte-identical. */
    if (rx->buf.max == 0 || rx->index != m->index || rx->term != m->log_term ||
        rx->total != m->total || rx->conf_len != m->conf_len ||
        rx->from != m->from || rx->msg_term != m->term) {
        if (m->offset != 0)
            return snap_reply(r, m, 0, false);
        rx_reset(r);
        rx->index = m->index;
        rx->term = m->log_term;
        rx->total = m->total;
        rx->conf_len = m->conf_len;
        rx->from = m->from;
        rx->msg_term = m->term;
        cn_buf_init(&rx->buf, (size_t)m->total);
    }
    if (m->offset != rx->buf.len)
        return snap_reply(r, m, rx->buf.len, false); /* Resume from there. */
    rc = cn_buf_append(&rx->buf, m->data, m->len);
    if (rc < 0) {
        rx_reset(r);
        return rc == -ENOMEM ? rc : 0;
    }
    if (rx->buf.len < rx->total)
        return snap_reply(r, m, rx->buf.len, false);
    return install(r, m);
}
