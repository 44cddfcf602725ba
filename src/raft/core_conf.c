/* raft/core_conf.c - membership: single-server changes (thesis 4.1-4.3).
 *
 * A configuration is a log entry holding the whole member list; a server
 * uses the newest one in its log, committed or not (thesis 4.1), and falls
 * back to an older one if that entry is truncated. The leader appends a
 * change only when (a) it has committed an entry of its own term - the
 * 2015 fix: otherwise two leaders of different terms could each add one
 * server to different old configurations and commit disjoint quorums - and
 * (b) the previous change is committed, so at most one is ever pending.
 * Pure.
 */
#include <errno.h>

#include "raft_int.h"

/* Rebuilds the peer table from c, keeping the progress of servers that
 * stay. In-flight windows are dropped (a peer replicating falls back to
 * probing): changes are rare, and a window cannot move between slots. */
void cn__raft_conf_apply(struct cn_raft *r, const struct cn_raft_conf *c,
                         uint64_t index)
{
    struct cn__raft_peer old[CN_RAFT_MEMBERS_MAX];
    uint32_t n_old = r->n_peers;

    CN_ASSERT(cn_raft_conf_valid(c));
    CN_ASSERT(c->n <= CN_RAFT_MEMBERS_MAX);
    memcpy(old, r->peers, sizeof old);
    for (uint32_t i = 0; i < c->n; i++) {
        struct cn__raft_peer *p = &r->peers[i];
        uint64_t *ring = p->infl;
        bool found = false;
        for (uint32_t j = 0; j < n_old; j++) {
            if (old[j].id == c->members[i].id) {
                *p = old[j];
                found = true;
                break;
            }
        }
        if (!found) {
            memset(p, 0, sizeof *p);
            p->id = c->members[i].id;
            cn__raft_peer_reset(r, p);
        }
        p->infl = ring;
        p->infl_head = p->infl_count = 0;
        if (p->state == CN_PR_REPLICATE) {
            p->state = CN_PR_PROBE;
            p->next = p->match + 1;
            p->probe_sent = false;
        }
        p->role = c->members[i].role;
    }
    r->n_peers = c->n;
    if (&r->conf != c)
        r->conf = *c;
    r->conf_index = index;
    if (r->role == CN_RAFT_LEADER && r->transfer_to != CN_RAFT_NONE) {
        const struct cn_raft_member *t = cn_raft_conf_find(c, r->transfer_to);
        if (!t || t->role != CN_RAFT_VOTER)
            r->transfer_to = CN_RAFT_NONE;
    }
    cn__raft_logf(r, CN_LOG_INFO, "%llu configuration at %llu: %u members",
                  (unsigned long long)r->id, (unsigned long long)index, c->n);
}

/* The newest configuration at or before index: a CONF entry in the log,
 * else the snapshot's, else none (a server that has not joined). */
int cn__raft_conf_at(const struct cn_raft *r, uint64_t index,
                     struct cn_raft_conf *out)
{
    uint64_t stop = CN_MAX(r->log.prev_index, r->snap.index);

    for (uint64_t i = CN_MIN(index, cn__log_last(&r->log)); i > stop; i--) {
        const struct cn_raft_entry *e = cn__log_at(&r->log, i);
        if (e->kind == CN_RAFT_ENTRY_CONF) {
            int rc = cn_raft_conf_decode(e->data, e->len, out);
            CN_ASSERT(rc == 0); /* Validated before it entered the log. */
            return 0;
        }
    }
    if (r->snap.index > 0 && r->snap.index <= index) {
        *out = r->snap.conf;
        return 0;
    }
    memset(out, 0, sizeof *out);
    return 0;
}

void cn__raft_conf_recompute(struct cn_raft *r)
{
    struct cn_raft_conf c;
    uint64_t stop = CN_MAX(r->log.prev_index, r->snap.index);
    uint64_t at = r->snap.index;

    for (uint64_t i = cn__log_last(&r->log); i > stop; i--) {
        if (cn__log_at(&r->log, i)->kind == CN_RAFT_ENTRY_CONF) {
            at = i;
            break;
        }
    }
    cn__raft_conf_at(r, cn__log_last(&r->log), &c);
    cn__raft_conf_apply(r, &c, at);
}

static int conf_edit(struct cn_raft_conf *c, enum cn_raft_change_op op,
                     uint64_t id, const char *addr, size_t addr_len)
{
    uint32_t voters = 0, at = c->n;
    struct cn_raft_member *m = NULL;

    for (uint32_t i = 0; i < c->n; i++) {
        voters += c->members[i].role == CN_RAFT_VOTER;
        if (c->members[i].id == id)
            m = &c->members[i];
        if (c->members[i].id > id && at == c->n)
            at = i;
    }
    if (op == CN_RAFT_REMOVE) {
        if (!m || (m->role == CN_RAFT_VOTER && voters == 1))
            return -EINVAL;
        memmove(m, m + 1, (size_t)(c->members + c->n - (m + 1)) * sizeof *m);
        c->n--;
        return 0;
    }
    if (m) {
        uint8_t role = op == CN_RAFT_ADD_VOTER ? CN_RAFT_VOTER : CN_RAFT_LEARNER;
        if (m->role == role || (role == CN_RAFT_LEARNER && voters == 1))
            return -EINVAL;
        m->role = role;
    } else {
        if (c->n == CN_RAFT_MEMBERS_MAX)
            return CN_ELIMIT;
        memmove(&c->members[at + 1], &c->members[at],
                (c->n - at) * sizeof *c->members);
        m = &c->members[at];
        memset(m, 0, sizeof *m);
        m->id = id;
        m->role = op == CN_RAFT_ADD_VOTER ? CN_RAFT_VOTER : CN_RAFT_LEARNER;
        c->n++;
    }
    if (addr_len) {
        memcpy(m->addr, addr, addr_len);
        m->addr_len = (uint8_t)addr_len;
    }
    return 0;
}

int cn_raft_change(struct cn_raft *r, enum cn_raft_change_op op, uint64_t id,
                   const char *addr, size_t addr_len, uint64_t cookie,
                   uint64_t *index_out)
{
    struct cn_raft_conf c;
    struct cn_buf b;
    size_t len;
    uint8_t *data;
    int rc;

    CN_ASSERT(!r->in_ready);
    if (r->role != CN_RAFT_LEADER)
        return CN_ENOLEADER;
    if (r->transfer_to != CN_RAFT_NONE)
        return CN_ESTATE;
    if ((r->commit < r->term_start || r->conf_index > r->commit) &&
        !CN_MUTANT(CN_MUT_CONF_EARLY))
        return CN_ESTATE;
    if (id == CN_RAFT_NONE || addr_len > CN_RAFT_ADDR_BYTES_MAX ||
        (addr_len && !addr) || op < CN_RAFT_ADD_VOTER || op > CN_RAFT_REMOVE)
        return -EINVAL;
    c = r->conf;
    rc = conf_edit(&c, op, id, addr, addr_len);
    if (rc < 0)
        return rc;
    CN_ASSERT(cn_raft_conf_valid(&c));
    cn_buf_init(&b, 1u << 16);
    rc = cn_raft_conf_encode(&c, &b);
    if (rc < 0) {
        cn_buf_close(&b);
        return rc;
    }
    len = b.len;
    data = cn__log_dup(&r->log, b.data, len);
    cn_buf_close(&b);
    if (!data)
        return -ENOMEM;
    rc = cn__log_append_owned(&r->log, r->term, CN_RAFT_ENTRY_CONF, data,
                              (uint32_t)len, cookie);
    if (rc < 0)
        return rc;
    cn__raft_conf_apply(r, &c, cn__log_last(&r->log));
    r->need_bcast = true;
    if (index_out)
        *index_out = cn__log_last(&r->log);
    return 0;
}
