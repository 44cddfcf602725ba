/* raft/core.c - the Raft core: lifetime, the step dispatcher, ticks, the
 * ready/advance batch, client inputs and status. Pure: no clock, no I/O,
 * no libc allocator or rand (scripts/lint.sh).
 *
 * Spec: Ongaro's thesis (Raft, 2014) and the paper's Figure 2; the shape
 * (step/tick/ready/advance, progress tracking, pre-vote + check-quorum)
 * follows etcd-io/raft. Roles and elections live in core_elect.c, the
 * leader's replication in core_repl.c, the follower's side in
 * core_follow.c, membership in core_conf.c, the log in core_log.c.
 */
#include <errno.h>
#include <stdio.h>

#include "raft_int.h"

#ifdef CN_RAFT_MUTANTS
unsigned cn__raft_mutants;
unsigned long cn__raft_mutant_hits;
#endif

/* ---- small helpers ---------------------------------------------------- */

int cn__vec_push(struct cn__vec *v, const void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *p = cn_realloc(v->p, cap * v->size);
        if (!p)
            return -ENOMEM;
        v->p = p;
        v->cap = cap;
    }
    memcpy((char *)v->p + v->n * v->size, item, v->size);
    v->n++;
    return 0;
}

static void vec_init(struct cn__vec *v, size_t size)
{
    memset(v, 0, sizeof *v);
    v->size = size;
}

static void vec_close(struct cn__vec *v)
{
    cn_free(v->p);
    v->p = NULL;
    v->n = v->cap = 0;
}

void cn__raft_logf(const struct cn_raft *r, enum cn_log_level lvl,
                   const char *fmt, ...)
{
    char line[CN_LOG_LINE_BYTES_MAX];
    va_list ap;

    if (!r->cfg.logger || !r->cfg.logger->fn || lvl < r->cfg.logger->level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cn_logf(r->cfg.logger, lvl, "raft: %s", line);
}

const char *cn_raft_role_name(enum cn_raft_role role)
{
    static const char *names[] = {"follower", "pre-candidate", "candidate",
                                  "leader"};
    return (unsigned)role < CN_ARRAY_LEN(names) ? names[role] : "?";
}

const char *cn_raft_msg_type_name(unsigned type)
{
    static const char *names[] = {
        "?", "APPEND", "APPEND_RESP", "VOTE", "VOTE_RESP", "PRE_VOTE",
        "PRE_VOTE_RESP", "HEARTBEAT", "HEARTBEAT_RESP", "SNAPSHOT",
        "SNAPSHOT_RESP", "TIMEOUT_NOW"};
    return type < CN_ARRAY_LEN(names) ? names[type] : "?";
}

void cn__raft_malformed(struct cn_raft *r, const struct cn_raft_msg *m,
                        const char *why)
{
    r->stats.dropped_malformed++;
    cn__raft_logf(r, CN_LOG_DEBUG, "%llu dropped %s from %llu term=%llu: %s",
                  (unsigned long long)r->id, cn_raft_msg_type_name(m->type),
                  (unsigned long long)m->from, (unsigned long long)m->term, why);
}

struct cn__raft_peer *cn__raft_peer(struct cn_raft *r, uint64_t id)
{
    for (uint32_t i = 0; i < r->n_peers; i++)
        if (r->peers[i].id == id)
            return &r->peers[i];
    return NULL;
}

bool cn__raft_is_voter(const struct cn_raft *r)
{
    const struct cn_raft_member *m = cn_raft_conf_find(&r->conf, r->id);
    return m && m->role == CN_RAFT_VOTER;
}

uint32_t cn__raft_quorum(const struct cn_raft *r)
{
    uint32_t voters = 0;
    for (uint32_t i = 0; i < r->conf.n; i++)
        voters += r->conf.members[i].role == CN_RAFT_VOTER;
    return voters / 2 + 1;
}

/* Queues m (from and, when zero, term filled in). Leader traffic may leave
 * before this batch is durable (thesis 10.2.1); everything else waits. A
 * message we cannot queue is dropped: Raft retransmits. */
int cn__raft_send(struct cn_raft *r, const struct cn_raft_msg *m,
                  uint64_t first)
{
    struct cn__raft_out o;
    int rc;

    CN_ASSERT(m->to != CN_RAFT_NONE);
    CN_ASSERT(m->to != r->id);
    memset(&o, 0, sizeof o);
    o.m = *m;
    o.m.from = r->id;
    if (o.m.term == 0)
        o.m.term = r->term;
    o.first = first;
    o.now = r->role == CN_RAFT_LEADER &&
            (m->type == CN_RAFT_MSG_APPEND || m->type == CN_RAFT_MSG_HEARTBEAT ||
             m->type == CN_RAFT_MSG_SNAPSHOT ||
             m->type == CN_RAFT_MSG_TIMEOUT_NOW);
    if (CN_MUTANT(CN_MUT_SEND_UNSYNCED))
        o.now = true;
    rc = cn__vec_push(&r->out, &o);
    return rc;
}

void cn__raft_reset_timeout(struct cn_raft *r)
{
    uint32_t e = r->cfg.election_ticks;
    r->election_timeout = e + (uint32_t)cn_prng_below(&r->prng, e);
    CN_ASSERT(r->election_timeout >= e && r->election_timeout < 2 * e);
}

/* ---- roles ------------------------------------------------------------ */

static void fail_push(struct cn_raft *r, uint64_t cookie, int rc, bool read)
{
    struct cn_raft_failed f = {.cookie = cookie, .rc = rc, .is_read = read};
    /* Out of memory here loses the notice: the shell's own request
     * timeout is the backstop (counted). */
    if (cookie != 0 && cn__vec_push(&r->failed, &f) < 0)
        r->stats.cookies_lost++;
}

/* Leaving the leader role: every cookie still waiting here fails (the
 * outcome of uncommitted entries is unknown), queued leader traffic goes. */
void cn__raft_fail_leader_work(struct cn_raft *r)
{
    struct cn__raft_read *rd;
    struct cn__raft_out *o = r->out.p;
    size_t keep = 0;

    for (uint64_t i = r->commit + 1; i <= cn__log_last(&r->log); i++) {
        struct cn_raft_entry *e = cn__log_at(&r->log, i);
        if (e->cookie) {
            fail_push(r, e->cookie, CN_ENOLEADER, false);
            e->cookie = 0;
        }
    }
    rd = r->reads_wait.p;
    for (size_t i = 0; i < r->reads_wait.n; i++)
        fail_push(r, rd[i].cookie, CN_ENOLEADER, true);
    rd = r->reads_ok.p;
    for (size_t i = 0; i < r->reads_ok.n; i++)
        fail_push(r, rd[i].cookie, CN_ENOLEADER, true);
    r->reads_wait.n = r->reads_ok.n = 0;
    for (size_t i = 0; i < r->out.n; i++) {
        uint8_t t = o[i].m.type;
        if (t == CN_RAFT_MSG_APPEND || t == CN_RAFT_MSG_HEARTBEAT ||
            t == CN_RAFT_MSG_SNAPSHOT || t == CN_RAFT_MSG_TIMEOUT_NOW)
            continue;
        o[keep++] = o[i];
    }
    r->out.n = keep;
    r->transfer_to = CN_RAFT_NONE;
    r->uncommitted_bytes = 0;
    r->need_bcast = false;
}

void cn__raft_become_follower(struct cn_raft *r, uint64_t term,
                              uint64_t leader)
{
    CN_ASSERT(term >= r->term);
    if (term > r->term) {
        r->term = term;
        r->vote = CN_RAFT_NONE;
    }
    if (r->role == CN_RAFT_LEADER)
        cn__raft_fail_leader_work(r);
    if (r->role != CN_RAFT_FOLLOWER || r->leader != leader) {
        r->soft_dirty = true;
        cn__raft_logf(r, CN_LOG_INFO, "%llu became follower term=%llu "
                      "leader=%llu", (unsigned long long)r->id,
                      (unsigned long long)r->term, (unsigned long long)leader);
    }
    r->role = CN_RAFT_FOLLOWER;
    r->leader = leader;
    r->election_elapsed = 0;
    cn__raft_reset_timeout(r);
}

void cn__raft_become_leader(struct cn_raft *r)
{
    int rc;

    CN_ASSERT(r->role == CN_RAFT_CANDIDATE);
    CN_ASSERT(r->vote == r->id);
    r->role = CN_RAFT_LEADER;
    r->leader = r->id;
    r->soft_dirty = true;
    r->stats.leader_changes++;
    for (uint32_t i = 0; i < r->n_peers; i++)
        cn__raft_peer_reset(r, &r->peers[i]);
    r->transfer_to = CN_RAFT_NONE;
    r->uncommitted_bytes = 0;
    r->read_round_sent = 0;
    r->heartbeat_elapsed = r->election_elapsed = 0;
    r->contact_ticks = 0;
    /* Thesis 6.4 / paper 8: a no-op of our term, so that we learn what is
     * committed and may then serve reads and change the configuration. */
    rc = cn__log_append_owned(&r->log, r->term, CN_RAFT_ENTRY_NOOP, NULL, 0, 0);
    if (rc < 0) {
        /* No memory for an empty entry: give up leadership, retry later. */
        cn__raft_become_follower(r, r->term, CN_RAFT_NONE);
        return;
    }
    r->term_start = cn__log_last(&r->log);
    r->need_bcast = true;
    cn__raft_logf(r, CN_LOG_INFO, "%llu became leader term=%llu index=%llu",
                  (unsigned long long)r->id, (unsigned long long)r->term,
                  (unsigned long long)r->term_start);
    cn__raft_maybe_commit(r);
}

/* ---- lifetime --------------------------------------------------------- */

static int config_check(struct cn_raft_config *c)
{
    if (c->id == CN_RAFT_NONE)
        return -EINVAL;
    if (!c->election_ticks)
        c->election_ticks = 10;
    if (!c->heartbeat_ticks)
        c->heartbeat_ticks = 1;
    if (!c->max_msg_entries)
        c->max_msg_entries = 512;
    if (!c->max_msg_bytes)
        c->max_msg_bytes = 1u << 20;
    if (!c->inflight_max)
        c->inflight_max = 64;
    if (!c->snapshot_chunk_bytes)
        c->snapshot_chunk_bytes = 256u << 10;
    if (!c->uncommitted_bytes_max)
        c->uncommitted_bytes_max = 64ull << 20;
    if (c->heartbeat_ticks >= c->election_ticks || c->election_ticks > 1000000)
        return -EINVAL;
    if (c->max_msg_entries > CN_RAFT_MSG_ENTRIES_MAX ||
        c->inflight_max > CN_RAFT_INFLIGHT_MAX ||
        c->snapshot_chunk_bytes > CN_RAFT_SNAPSHOT_CHUNK_BYTES_MAX ||
        c->max_msg_bytes > CN_RAFT_MSG_BYTES_MAX / 2)
        return -EINVAL;
    return 0;
}

static int restore_entries(struct cn_raft *r, const struct cn_raft_restore *rs)
{
    const struct cn_raft_entry *e = rs->entries;
    size_t n = rs->n_entries, k = 0;
    int rc;

    if (n == 0)
        return 0;
    if (e[0].index == 0 || e[0].index > rs->snap_index + 1)
        return CN_ECORRUPT; /* A gap between snapshot and log. */
    for (size_t i = 0; i < n; i++) {
        if (e[i].index != e[0].index + i || e[i].term == 0 ||
            (i && e[i].term < e[i - 1].term) || e[i].len > CN_RAFT_ENTRY_BYTES_MAX ||
            (e[i].len && !e[i].data) || e[i].kind < CN_RAFT_ENTRY_NORMAL ||
            e[i].kind > CN_RAFT_ENTRY_NOOP)
            return CN_ECORRUPT;
        if ((e[i].index == rs->snap_index && e[i].term != rs->snap_term) ||
            (e[i].index > rs->snap_index && e[i].term < rs->snap_term))
            return CN_ECORRUPT;
    }
    if (e[n - 1].index <= rs->snap_index)
        return 0; /* All covered by the snapshot. */
    /* Keep what the snapshot covers as trailing log; its first entry
     * becomes the (index, term) marker before the log. */
    if (e[0].index <= rs->snap_index) {
        cn__log_reset(&r->log, e[0].index, e[0].term);
        k = 1;
    }
    for (; k < n; k++) {
        if (e[k].kind == CN_RAFT_ENTRY_CONF) {
            struct cn_raft_conf c;
            if (cn_raft_conf_decode(e[k].data, e[k].len, &c) < 0)
                return CN_ECORRUPT;
        }
        rc = cn__log_append(&r->log, &e[k]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int restore(struct cn_raft *r, const struct cn_raft_restore *rs)
{
    int rc;

    if ((rs->vote && !rs->term) || (rs->snap_index && !rs->snap_term) ||
        (!rs->snap_index && rs->snap_term) ||
        (rs->snap_index && (!rs->snap_conf || !cn_raft_conf_valid(rs->snap_conf))) ||
        rs->snap_len > CN_RAFT_SNAPSHOT_BYTES_MAX ||
        (rs->snap_len && !rs->snap_data))
        return CN_ECORRUPT;
    r->term = rs->term;
    r->vote = rs->vote;
    if (rs->snap_index) {
        r->snap.index = rs->snap_index;
        r->snap.term = rs->snap_term;
        r->snap.conf = *rs->snap_conf;
        r->snap.data = rs->snap_data;
        r->snap.len = rs->snap_len;
        cn__log_reset(&r->log, rs->snap_index, rs->snap_term);
    }
    rc = restore_entries(r, rs);
    if (rc < 0)
        return rc;
    if (cn__log_last_term(&r->log) > r->term) {
        /* The entries' sync beat the term's (separate files): we never
         * voted in that term, or the vote would be durable too. */
        r->term = cn__log_last_term(&r->log);
        r->vote = CN_RAFT_NONE;
    }
    r->commit = r->applied = r->snap.index;
    r->stable = cn__log_last(&r->log);
    r->ready_term = rs->term;
    r->ready_vote = rs->vote;
    cn__raft_conf_recompute(r);
    return 0;
}

int cn_raft_new(struct cn_raft **out, const struct cn_raft_config *cfg,
                const struct cn_raft_restore *rs)
{
    struct cn_raft *r;
    struct cn_raft_config c = *cfg;
    int rc = config_check(&c);

    if (rc < 0)
        return rc;
    r = cn_calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->cfg = c;
    r->id = c.id;
    r->scratch = cn_calloc((size_t)CN_RAFT_MEMBERS_MAX * c.inflight_max,
                           sizeof(uint64_t));
    if (!r->scratch) {
        cn_free(r);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < CN_RAFT_MEMBERS_MAX; i++)
        r->peers[i].infl = (uint64_t *)(void *)r->scratch + (size_t)i * c.inflight_max;
    vec_init(&r->out, sizeof(struct cn__raft_out));
    vec_init(&r->failed, sizeof(struct cn_raft_failed));
    vec_init(&r->reads_wait, sizeof(struct cn__raft_read));
    vec_init(&r->reads_ok, sizeof(struct cn__raft_read));
    vec_init(&r->rd_msgs, sizeof(struct cn_raft_msg));
    vec_init(&r->rd_now, sizeof(struct cn_raft_msg));
    vec_init(&r->rd_reads, sizeof(struct cn_raft_read_state));
    vec_init(&r->rd_failed, sizeof(struct cn_raft_failed));
    cn_buf_init(&r->rx.buf, 0);
    cn_buf_init(&r->out_bytes, CN_RAFT_MSG_BYTES_MAX);
    cn_buf_init(&r->snap_conf_bytes, 4096);
    cn_prng_seed(&r->prng, c.seed ^ (c.id * 0x9e3779b97f4a7c15ull));
    if (rs) {
        rc = restore(r, rs);
        if (rc < 0) {
            cn__raft_logf(r, CN_LOG_ERROR, "restore: inconsistent durable "
                          "state (%s)", cn_strerror(rc));
            cn_raft_free(r);
            return rc;
        }
        if (r->snap.index && cn_raft_conf_encode(&r->snap.conf,
                                                 &r->snap_conf_bytes) < 0) {
            cn_raft_free(r);
            return -ENOMEM;
        }
    }
    r->role = CN_RAFT_FOLLOWER;
    cn__raft_reset_timeout(r);
    *out = r;
    return 0;
}

void cn_raft_free(struct cn_raft *r)
{
    if (!r)
        return;
    cn__log_close(&r->log);
    if (r->snap_owned)
        cn_free(r->snap_buf);
    cn_buf_close(&r->rx.buf);
    cn_buf_close(&r->out_bytes);
    cn_buf_close(&r->snap_conf_bytes);
    vec_close(&r->out);
    vec_close(&r->failed);
    vec_close(&r->reads_wait);
    vec_close(&r->reads_ok);
    vec_close(&r->rd_msgs);
    vec_close(&r->rd_now);
    vec_close(&r->rd_reads);
    vec_close(&r->rd_failed);
    cn_free(r->scratch);
    cn_free(r);
}

int cn_raft_bootstrap(struct cn_raft *r, const struct cn_raft_conf *conf)
{
    struct cn_buf b;
    size_t len;
    uint8_t *data;
    int rc;

    CN_ASSERT(!r->in_ready);
    if (r->term != 0 || cn__log_last(&r->log) != 0 || r->snap.index != 0)
        return CN_ESTATE;
    if (!cn_raft_conf_valid(conf) || conf->n == 0)
        return -EINVAL;
    cn_buf_init(&b, 4096);
    rc = cn_raft_conf_encode(conf, &b);
    if (rc < 0) {
        cn_buf_close(&b);
        return rc;
    }
    len = b.len;
    data = cn__log_dup(&r->log, b.data, len);
    cn_buf_close(&b);
    if (!data)
        return -ENOMEM;
    rc = cn__log_append_owned(&r->log, 1, CN_RAFT_ENTRY_CONF, data,
                              (uint32_t)len, 0);
    if (rc < 0)
        return rc;
    r->term = 1;
    cn__raft_conf_apply(r, conf, 1);
    return 0;
}

/* ---- step ------------------------------------------------------------- */

static bool msg_valid(const struct cn_raft *r, const struct cn_raft_msg *m)
{
    if (m->type < CN_RAFT_MSG_APPEND || m->type >= CN_RAFT_MSG_TYPE_MAX)
        return false;
    if (m->to != r->id || m->from == CN_RAFT_NONE || m->from == r->id ||
        m->term == 0 || (m->flags & ~CN_RAFT_F_ALL))
        return false;
    if (m->type != CN_RAFT_MSG_APPEND && m->n_entries != 0)
        return false;
    switch (m->type) {
    case CN_RAFT_MSG_APPEND:
        return cn__raft_append_valid(r, m);
    case CN_RAFT_MSG_VOTE:
    case CN_RAFT_MSG_PRE_VOTE:
        return m->log_term <= m->term && (m->index == 0) == (m->log_term == 0);
    case CN_RAFT_MSG_SNAPSHOT:
        return m->index > 0 && m->log_term > 0 && m->log_term <= m->term &&
               m->total > 0 && m->total <= CN_RAFT_SNAPSHOT_BYTES_MAX &&
               m->conf_len <= m->total && m->offset <= m->total &&
               m->len <= CN_RAFT_SNAPSHOT_CHUNK_BYTES_MAX &&
               m->len <= m->total - m->offset && (m->len == 0 || m->data);
    default:
        return true;
    }
}

/* A newer term demotes us first (Figure 2, Rules for Servers) - except a
 * vote request inside a leader's lease (thesis 4.2.3: a removed or
 * partitioned server must not disrupt a healthy cluster), and pre-votes,
 * which never change anyone's term (thesis 9.6). Returns false to drop. */
static bool step_term(struct cn_raft *r, const struct cn_raft_msg *m)
{
    uint8_t t = m->type;
    bool vote_req = t == CN_RAFT_MSG_VOTE || t == CN_RAFT_MSG_PRE_VOTE;
    bool from_leader = t == CN_RAFT_MSG_APPEND || t == CN_RAFT_MSG_HEARTBEAT ||
                       t == CN_RAFT_MSG_SNAPSHOT;

    if (m->term > r->term) {
        bool in_lease = r->leader != CN_RAFT_NONE &&
                        r->election_elapsed < r->cfg.election_ticks;
        if (vote_req && !(m->flags & CN_RAFT_F_TRANSFER) && in_lease) {
            r->stats.dropped_lease++;
            return false;
        }
        if (t == CN_RAFT_MSG_PRE_VOTE ||
            (t == CN_RAFT_MSG_PRE_VOTE_RESP && !(m->flags & CN_RAFT_F_REJECT)))
            return true;
        cn__raft_become_follower(r, m->term, from_leader ? m->from : CN_RAFT_NONE);
        return true;
    }
    if (m->term < r->term) {
        struct cn_raft_msg resp = {.to = m->from};
        if (from_leader) {
            /* Tell a stale leader our term so it steps down. */
            resp.type = CN_RAFT_MSG_APPEND_RESP;
            resp.flags = CN_RAFT_F_REJECT;
            cn__raft_send(r, &resp, 0);
        } else if (t == CN_RAFT_MSG_PRE_VOTE) {
            resp.type = CN_RAFT_MSG_PRE_VOTE_RESP;
            resp.flags = CN_RAFT_F_REJECT;
            cn__raft_send(r, &resp, 0);
        }
        r->stats.dropped_stale++;
        return false;
    }
    return true;
}

/* AppendEntries, heartbeat or snapshot from the leader of our term. */
static bool accept_leader(struct cn_raft *r, const struct cn_raft_msg *m)
{
    if (r->role == CN_RAFT_LEADER) {
        cn__raft_malformed(r, m, "two leaders in one term");
        return false;
    }
    if (r->role != CN_RAFT_FOLLOWER)
        cn__raft_become_follower(r, m->term, m->from);
    if (r->leader == CN_RAFT_NONE) {
        r->leader = m->from;
        r->soft_dirty = true;
    } else if (r->leader != m->from) {
        cn__raft_malformed(r, m, "another leader in this term");
        return false;
    }
    r->election_elapsed = 0;
    r->contact_ticks = 0;
    return true;
}

static int step_leader_resp(struct cn_raft *r, const struct cn_raft_msg *m)
{
    if (r->role != CN_RAFT_LEADER || !cn__raft_peer(r, m->from)) {
        r->stats.dropped_stale++;
        return 0;
    }
    switch (m->type) {
    case CN_RAFT_MSG_APPEND_RESP:
        return cn__raft_on_append_resp(r, m);
    case CN_RAFT_MSG_HEARTBEAT_RESP:
        return cn__raft_on_heartbeat_resp(r, m);
    default:
        return cn__raft_on_snapshot_resp(r, m);
    }
}

int cn_raft_step(struct cn_raft *r, const struct cn_raft_msg *m)
{
    CN_ASSERT(!r->in_ready);
    r->stats.msgs_in++;
    if (!msg_valid(r, m)) {
        cn__raft_malformed(r, m, "invalid fields");
        return 0;
    }
    if (!step_term(r, m))
        return 0;
    switch (m->type) {
    case CN_RAFT_MSG_APPEND:
        return accept_leader(r, m) ? cn__raft_on_append(r, m) : 0;
    case CN_RAFT_MSG_HEARTBEAT:
        return accept_leader(r, m) ? cn__raft_on_heartbeat(r, m) : 0;
    case CN_RAFT_MSG_SNAPSHOT:
        return accept_leader(r, m) ? cn__raft_on_snapshot(r, m) : 0;
    case CN_RAFT_MSG_APPEND_RESP:
    case CN_RAFT_MSG_HEARTBEAT_RESP:
    case CN_RAFT_MSG_SNAPSHOT_RESP:
        return step_leader_resp(r, m);
    case CN_RAFT_MSG_VOTE:
    case CN_RAFT_MSG_PRE_VOTE:
        return cn__raft_on_vote(r, m);
    case CN_RAFT_MSG_VOTE_RESP:
    case CN_RAFT_MSG_PRE_VOTE_RESP:
        return cn__raft_on_vote_resp(r, m);
    case CN_RAFT_MSG_TIMEOUT_NOW:
        return cn__raft_on_timeout_now(r, m);
    }
    CN_UNREACHABLE();
}

void cn_raft_tick(struct cn_raft *r)
{
    CN_ASSERT(!r->in_ready);
    if (r->role == CN_RAFT_LEADER) {
        cn__raft_tick_leader(r);
    } else {
        r->contact_ticks++;
        cn__raft_tick_election(r);
    }
}
