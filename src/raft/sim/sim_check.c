/* raft/sim/sim_check.c - the simulator's oracle: Raft's safety properties
 * (paper Figure 3) checked incrementally, so that every step can be checked
 * in O(1) per new entry.
 *
 * Logs are compared through chain hashes: chain(i) = H(chain(i-1), entry i),
 * so equal chains at an index mean equal prefixes (up to hash collisions,
 * which a 64-bit mix makes negligible for a test oracle).
 *   Election Safety      term -> the one leader seen in it.
 *   Leader Append-Only   a leader's batch never truncates its log.
 *   Log Matching         (index, term) -> chain, for every entry any
 *                        server ever wrote.
 *   Leader Completeness  a leader of term T holds the prefix that leaders
 *                        of terms < T saw committed.
 *   State Machine Safety a global committed prefix; every commit index a
 *                        server reports and every entry it applies must
 *                        agree with it.
 *   Acknowledged writes  a proposal acked at index i holds i in the prefix.
 *   Linearizable reads   a read served at index R: R covers everything
 *                        committed before it was issued, and is committed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t sim_chain(uint64_t prev, const struct cn_raft_entry *e)
{
    uint64_t h = mix(prev ^ 0x9e3779b97f4a7c15ull);
    h = mix(h ^ e->term);
    h = mix(h ^ ((uint64_t)e->kind << 32) ^ e->len);
    if (e->len)
        h = mix(h ^ cn_hash(e->data, e->len));
    return h;
}

uint64_t sim_entry_cmd(const struct cn_raft_entry *e)
{
    uint64_t c = 0;
    if (e->kind != CN_RAFT_ENTRY_NORMAL || e->len < 8)
        return 0;
    memcpy(&c, e->data, 8);
    return c;
}

/* ---- a small map ------------------------------------------------------ */

static void kv_grow(struct sim_kv *m);

static size_t kv_slot(const struct sim_kv *m, uint64_t a, uint64_t b)
{
    size_t i = (size_t)mix(a * 31 + b) & (m->cap - 1);
    while (m->used[i] && (m->k1[i] != a || m->k2[i] != b))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static bool kv_get(struct sim_kv *m, uint64_t a, uint64_t b, uint64_t *v)
{
    size_t i;
    if (m->cap == 0)
        return false;
    i = kv_slot(m, a, b);
    if (!m->used[i])
        return false;
    *v = m->v[i];
    return true;
}

static void kv_put(struct sim_kv *m, uint64_t a, uint64_t b, uint64_t v)
{
    size_t i;
    if (m->n * 2 >= m->cap)
        kv_grow(m);
    i = kv_slot(m, a, b);
    if (!m->used[i]) {
        m->used[i] = 1;
        m->k1[i] = a;
        m->k2[i] = b;
        m->n++;
    }
    m->v[i] = v;
}

static void kv_grow(struct sim_kv *m)
{
    struct sim_kv old = *m;
    m->cap = old.cap ? old.cap * 2 : 256;
    m->n = 0;
    m->k1 = calloc(m->cap, 8);
    m->k2 = calloc(m->cap, 8);
    m->v = calloc(m->cap, 8);
    m->used = calloc(m->cap, 1);
    CN_ASSERT(m->k1 && m->k2 && m->v && m->used);
    for (size_t i = 0; i < old.cap; i++)
        if (old.used[i])
            kv_put(m, old.k1[i], old.k2[i], old.v[i]);
    sim_kv_close(&old);
}

void sim_kv_close(struct sim_kv *m)
{
    free(m->k1);
    free(m->k2);
    free(m->v);
    free(m->used);
    memset(m, 0, sizeof *m);
}

/* ---- shadow logs ------------------------------------------------------ */

void sim_shadow_reset(struct sim_shadow *sh, uint64_t base, uint64_t chain,
                      uint64_t term)
{
    sh->base = base;
    sh->base_chain = chain;
    sh->base_term = term;
    sh->n = 0;
}

int sim_shadow_push(struct sim_shadow *sh, uint64_t chain, uint64_t cmd,
                    uint64_t term)
{
    if (sh->n == sh->cap) {
        sh->cap = sh->cap ? sh->cap * 2 : 256;
        sh->chain = realloc(sh->chain, sh->cap * 8);
        sh->cmd = realloc(sh->cmd, sh->cap * 8);
        sh->term = realloc(sh->term, sh->cap * 8);
        CN_ASSERT(sh->chain && sh->cmd && sh->term);
    }
    sh->chain[sh->n] = chain;
    sh->cmd[sh->n] = cmd;
    sh->term[sh->n] = term;
    sh->n++;
    return 0;
}

void sim_shadow_close(struct sim_shadow *sh)
{
    free(sh->chain);
    free(sh->cmd);
    free(sh->term);
    memset(sh, 0, sizeof *sh);
}

/* Chain at index, or UINT64_MAX when the shadow does not hold it. */
uint64_t sim_shadow_chain(const struct sim_shadow *sh, uint64_t index)
{
    if (index == sh->base)
        return sh->base_chain;
    if (index < sh->base || index > sh->base + sh->n)
        return UINT64_MAX;
    return sh->chain[index - sh->base - 1];
}

/* ---- committed prefix ------------------------------------------------- */

static void cl_extend(struct sim *s, const struct sim_shadow *sh, uint64_t to)
{
    while (s->cl_len < to) {
        uint64_t i = s->cl_len + 1;
        if (i >= s->cl_cap) {
            s->cl_cap = s->cl_cap ? s->cl_cap * 2 : 1024;
            s->cl_chain = realloc(s->cl_chain, s->cl_cap * 8);
            s->cl_cmd = realloc(s->cl_cmd, s->cl_cap * 8);
            CN_ASSERT(s->cl_chain && s->cl_cmd);
        }
        s->cl_chain[i] = sim_shadow_chain(sh, i);
        s->cl_cmd[i] = sh->cmd[i - sh->base - 1];
        s->cl_len = i;
    }
}

/* A server says `commit`: its log up to there is the committed prefix. */
static void check_commit(struct sim *s, uint32_t slot, uint64_t commit)
{
    struct sim_node *n = &s->nodes[slot];
    const struct sim_shadow *sh = &n->sh;
    uint64_t at = CN_MIN(commit, s->cl_len);

    if (commit > sh->base + sh->n) {
        sim_fail(s, "n%llu commit %llu beyond its log %llu",
                 (unsigned long long)n->id, (unsigned long long)commit,
                 (unsigned long long)(sh->base + sh->n));
        return;
    }
    if (at < sh->base) {
        /* Snapshots are taken of applied, hence committed, state. */
        sim_fail(s, "n%llu holds a snapshot at %llu beyond anything known "
                 "committed (%llu)", (unsigned long long)n->id,
                 (unsigned long long)sh->base, (unsigned long long)s->cl_len);
        return;
    }
    if (at > 0 && sim_shadow_chain(sh, at) != s->cl_chain[at]) {
        sim_fail(s, "STATE MACHINE SAFETY: n%llu committed log differs from "
                 "the committed prefix at index %llu",
                 (unsigned long long)n->id, (unsigned long long)at);
        return;
    }
    if (commit > s->cl_len)
        cl_extend(s, sh, commit);
}

/* ---- per step: roles -------------------------------------------------- */

void sim_check_roles(struct sim *s)
{
    for (uint32_t i = 0; i < s->n_nodes && !s->violation[0]; i++) {
        struct sim_node *n = &s->nodes[i];
        struct cn_raft_status st;
        uint64_t who;
        if (!n->up || n->r->role != CN_RAFT_LEADER) /* Peek: every step. */
            continue;
        cn_raft_status(n->r, &st);
        if (kv_get(&s->leaders, st.term, 0, &who)) {
            if (who != n->id)
                sim_fail(s, "ELECTION SAFETY: n%llu and n%llu both leaders "
                         "in term %llu", (unsigned long long)who,
                         (unsigned long long)n->id,
                         (unsigned long long)st.term);
        } else {
            kv_put(&s->leaders, st.term, 0, n->id);
            s->n_elections++;
            sim_new_leader(s, i);
        }
    }
}

/* ---- per batch: logs --------------------------------------------------- */

static void check_leader_complete(struct sim *s, uint32_t slot, uint64_t term)
{
    const struct sim_shadow *sh = &s->nodes[slot].sh;
    uint64_t k = 0, c;

    for (size_t i = 0; i < s->term_commit.cap; i++)
        if (s->term_commit.used[i] && s->term_commit.k1[i] < term)
            k = CN_MAX(k, s->term_commit.v[i]);
    if (k == 0 || k < sh->base)
        return;
    c = sim_shadow_chain(sh, k);
    if (k > s->cl_len || c != s->cl_chain[k])
        sim_fail(s, "LEADER COMPLETENESS: leader n%llu of term %llu lacks "
                 "the entries committed up to %llu by earlier leaders",
                 (unsigned long long)s->nodes[slot].id,
                 (unsigned long long)term, (unsigned long long)k);
}

/* ---- the commit rule: no committed entry may be lost ------------------ */

static bool up_to_date(uint64_t ai, uint64_t at, uint64_t bi, uint64_t bt)
{
    return at > bt || (at == bt && ai >= bi);
}

/* The last entry a voter compares candidates against: its log in memory
 * or on disk (it may crash back to it), whichever is more up-to-date; the
 * argument below holds for both. */
static void voter_last(const struct sim_node *v, uint64_t *idx, uint64_t *term)
{
    sim_disk_last(&v->disk, idx, term);
    if (v->up) {
        const struct sim_shadow *sh = &v->sh;
        uint64_t mi = sh->base + sh->n;
        uint64_t mt = sh->n ? sh->term[sh->n - 1] : sh->base_term;
        if (up_to_date(mi, mt, *idx, *term)) {
            *idx = mi;
            *term = mt;
        }
    }
}

/* Could `cand`, with a log ending at (li, lt), win an election in its
 * own configuration? */
static bool electable(struct sim *s, const struct cn_raft_conf *conf,
                      uint32_t cand, uint64_t li, uint64_t lt)
{
    uint32_t votes = 0, voters = 0;
    bool self = false;
    for (uint32_t i = 0; i < conf->n; i++) {
        uint64_t vi, vt;
        uint32_t v = (uint32_t)conf->members[i].id - 1;
        if (conf->members[i].role != CN_RAFT_VOTER)
            continue;
        voters++;
        self |= v == cand;
        voter_last(&s->nodes[v], &vi, &vt);
        if (v == cand || up_to_date(li, lt, vi, vt))
            votes++;
    }
    return self && votes >= voters / 2 + 1;
}

/* The newest configuration on a disk (what the server restarts with). */
static void disk_conf(const struct sim_disk *d, struct cn_raft_conf *out)
{
    for (size_t i = d->n; i-- > 0;) {
        if (d->first + i <= d->snap_index)
            break;
        if (d->ents[i].kind == CN_RAFT_ENTRY_CONF &&
            cn_raft_conf_decode(d->ents[i].data, d->ents[i].len, out) == 0)
            return;
    }
    if (d->snap_index)
        *out = d->snap_conf;
    else
        memset(out, 0, sizeof *out);
}

/* A leader just committed up to c. Leader Completeness rests on this: no
 * server whose log lacks entry c can collect a quorum of votes in its own
 * configuration, since every such quorum overlaps the one that holds c
 * behind an entry of the committing term (paper 5.4.3; with single-server
 * changes and the 2015 fix, thesis 4.1). Every server's log is checked in
 * memory and on disk. This fails at once on the Figure 8 bug (counting
 * an old term's replicas) and the 2015 membership bug, where waiting for
 * the loss itself would need a long chain of unlikely failures. */
static void check_commit_safe(struct sim *s, uint32_t slot, uint64_t c)
{
    uint64_t want = s->cl_chain[c];
    struct cn_raft_conf conf;

    for (uint32_t k = 0; k < s->n_nodes && !s->violation[0]; k++) {
        const struct sim_node *n = &s->nodes[k];
        for (int ver = 0; ver < 2; ver++) {
            uint64_t li, lt, have;
            if (ver == 0) {
                if (!n->up)
                    continue;
                li = n->sh.base + n->sh.n;
                lt = n->sh.n ? n->sh.term[n->sh.n - 1] : n->sh.base_term;
                have = c <= n->sh.base ? want : sim_shadow_chain(&n->sh, c);
                conf = *cn_raft_conf(n->r);
            } else {
                sim_disk_last(&n->disk, &li, &lt);
                have = c <= n->disk.snap_index ? want : sim_disk_chain(&n->disk, c);
                disk_conf(&n->disk, &conf);
            }
            if (have == want || !electable(s, &conf, k, li, lt))
                continue;
            sim_fail(s, "COMMIT RULE: n%u committed %llu in term %llu, but "
                     "n%u (%s log, last %llu/%llu) lacks it and could win an "
                     "election", slot + 1, (unsigned long long)c,
                     (unsigned long long)s->nodes[slot].r->term, k + 1,
                     ver ? "disk" : "memory", (unsigned long long)li,
                     (unsigned long long)lt);
        }
    }
}

static void shadow_append(struct sim *s, uint32_t slot,
                          const struct cn_raft_entry *e)
{
    struct sim_shadow *sh = &s->nodes[slot].sh;
    uint64_t prev = sim_shadow_chain(sh, e->index - 1), c, seen;

    CN_ASSERT(prev != UINT64_MAX);
    c = sim_chain(prev, e);
    if (kv_get(&s->logmatch, e->index, e->term, &seen)) {
        if (seen != c)
            sim_fail(s, "LOG MATCHING: n%llu entry %llu term %llu differs "
                     "from another log's (or precedes a different prefix)",
                     (unsigned long long)s->nodes[slot].id,
                     (unsigned long long)e->index, (unsigned long long)e->term);
    } else {
        kv_put(&s->logmatch, e->index, e->term, c);
    }
    sim_shadow_push(sh, c, sim_entry_cmd(e), e->term);
}

static uint64_t snap_chain(const struct cn_raft_snapshot *snap)
{
    uint64_t c = 0;
    if (snap->len >= 16)
        memcpy(&c, snap->data + 8, 8);
    return c;
}

void sim_check_batch(struct sim *s, uint32_t slot, const struct cn_raft_ready *rd)
{
    struct sim_node *n = &s->nodes[slot];
    struct sim_shadow *sh = &n->sh;
    struct cn_raft_status st;

    cn_raft_status(n->r, &st);
    if (rd->snapshot) {
        if (st.role == CN_RAFT_LEADER)
            sim_fail(s, "LEADER APPEND-ONLY: leader n%llu installs a snapshot",
                     (unsigned long long)n->id);
        sim_shadow_reset(sh, rd->snapshot->index, snap_chain(rd->snapshot),
                         rd->snapshot->term);
        check_commit(s, slot, rd->snapshot->index);
    }
    if (rd->n_entries) {
        uint64_t first = rd->entries[0].index;
        if (first <= sh->base || first > sh->base + sh->n + 1) {
            sim_fail(s, "n%llu batch entries start at %llu, log is %llu..%llu",
                     (unsigned long long)n->id, (unsigned long long)first,
                     (unsigned long long)sh->base,
                     (unsigned long long)(sh->base + sh->n));
            return;
        }
        if (first <= sh->base + sh->n) {
            if (st.role == CN_RAFT_LEADER)
                sim_fail(s, "LEADER APPEND-ONLY: leader n%llu truncates its "
                         "log at %llu", (unsigned long long)n->id,
                         (unsigned long long)first);
            sh->n = first - sh->base - 1;
        }
        for (size_t i = 0; i < rd->n_entries && !s->violation[0]; i++)
            shadow_append(s, slot, &rd->entries[i]);
    }
    if (s->violation[0])
        return;
    if (st.last_index != sh->base + sh->n)
        sim_fail(s, "n%llu log ends at %llu but its batches say %llu",
                 (unsigned long long)n->id, (unsigned long long)st.last_index,
                 (unsigned long long)(sh->base + sh->n));
    check_commit(s, slot, st.commit);
    if (st.role == CN_RAFT_LEADER && !s->violation[0]) {
        uint64_t c;
        if (!kv_get(&s->term_commit, st.term, 0, &c) || c < st.commit)
            kv_put(&s->term_commit, st.term, 0, st.commit);
        if (st.commit > n->seen_commit) {
            check_commit_safe(s, slot, st.commit);
            sim_leader_committed(s, slot);
        }
        check_leader_complete(s, slot, st.term);
    }
    n->seen_commit = st.commit;
}

/* ---- per batch: what the application sees ------------------------------ */

static void op_done(struct sim *s, uint64_t cookie, uint32_t slot,
                    uint8_t state, uint64_t index)
{
    struct sim_op *op;
    if (cookie == 0 || cookie >= s->ops_n) {
        sim_fail(s, "unknown cookie %llu", (unsigned long long)cookie);
        return;
    }
    op = &s->ops[cookie];
    if (op->state != OP_PENDING || op->node != slot) {
        sim_fail(s, "cookie %llu completed twice or on the wrong node "
                 "(state %u, node n%u, now n%u)", (unsigned long long)cookie,
                 op->state, op->node + 1, slot + 1);
        return;
    }
    op->state = state;
    op->index = index;
}

static void apply_entries(struct sim *s, uint32_t slot,
                          const struct cn_raft_ready *rd)
{
    struct sim_node *n = &s->nodes[slot];

    for (size_t i = 0; i < rd->n_committed && !s->violation[0]; i++) {
        const struct cn_raft_entry *e = &rd->committed[i];
        if (e->index != n->applied + 1) {
            sim_fail(s, "n%llu applies %llu after %llu",
                     (unsigned long long)n->id, (unsigned long long)e->index,
                     (unsigned long long)n->applied);
            return;
        }
        n->app_chain = sim_chain(n->app_chain, e);
        n->applied = e->index;
        if (e->index > s->cl_len || s->cl_chain[e->index] != n->app_chain) {
            sim_fail(s, "STATE MACHINE SAFETY: n%llu applied entry %llu that "
                     "differs from the committed history",
                     (unsigned long long)n->id, (unsigned long long)e->index);
            return;
        }
        if (e->cookie) {
            struct sim_op *op = &s->ops[e->cookie < s->ops_n ? e->cookie : 0];
            op_done(s, e->cookie, slot, OP_ACKED, e->index);
            if ((op->kind == OP_PROPOSE || op->kind == OP_SENTINEL) &&
                sim_entry_cmd(e) != op->cmd)
                sim_fail(s, "cookie %llu came back with another command",
                         (unsigned long long)e->cookie);
            s->n_acked++;
        }
    }
}

void sim_check_apply(struct sim *s, uint32_t slot, const struct cn_raft_ready *rd)
{
    struct sim_node *n = &s->nodes[slot];

    if (rd->snapshot) {
        uint64_t idx = 0, chain = 0;
        const uint8_t *d = rd->snapshot->data;
        if (rd->snapshot->len < 16) {
            sim_fail(s, "n%llu got a snapshot of %zu bytes",
                     (unsigned long long)n->id, rd->snapshot->len);
            return;
        }
        memcpy(&idx, d, 8);
        memcpy(&chain, d + 8, 8);
        for (size_t k = 16; k < rd->snapshot->len; k++)
            if (d[k] != (uint8_t)(chain >> ((k % 8) * 8) ^ k)) {
                sim_fail(s, "n%llu snapshot image corrupt at byte %zu",
                         (unsigned long long)n->id, k);
                return;
            }
        if (idx != rd->snapshot->index || idx > s->cl_len ||
            s->cl_chain[idx] != chain) {
            sim_fail(s, "STATE MACHINE SAFETY: n%llu restores a snapshot at "
                     "%llu that is not the committed history",
                     (unsigned long long)n->id, (unsigned long long)idx);
            return;
        }
        n->applied = idx;
        n->app_chain = chain;
    }
    apply_entries(s, slot, rd);
    for (size_t i = 0; i < rd->n_reads && !s->violation[0]; i++) {
        const struct cn_raft_read_state *r = &rd->reads[i];
        struct sim_op *op = &s->ops[r->cookie < s->ops_n ? r->cookie : 0];
        op_done(s, r->cookie, slot, OP_ACKED, r->index);
        if (r->index < op->min_index || r->index > s->cl_len ||
            r->index > n->applied)
            sim_fail(s, "LINEARIZABILITY: read %llu on n%llu served at index "
                     "%llu; %llu was committed before it was issued (now "
                     "%llu, applied %llu)", (unsigned long long)r->cookie,
                     (unsigned long long)n->id, (unsigned long long)r->index,
                     (unsigned long long)op->min_index,
                     (unsigned long long)s->cl_len,
                     (unsigned long long)n->applied);
        s->n_reads_ok++;
    }
    for (size_t i = 0; i < rd->n_failed && !s->violation[0]; i++) {
        op_done(s, rd->failed[i].cookie, slot, OP_FAILED, 0);
        s->n_failed++;
    }
}

/* After the liveness phase: acknowledged writes are where they were acked,
 * and no command landed twice. */
int sim_check_final(struct sim *s)
{
    for (uint64_t c = 1; c < s->ops_n && !s->violation[0]; c++) {
        const struct sim_op *op = &s->ops[c];
        if (op->state == OP_PENDING) {
            sim_fail(s, "LIVENESS: request %llu (kind %u on n%u) still pending "
                     "after the liveness phase", (unsigned long long)c,
                     op->kind, op->node + 1);
        } else if (op->state == OP_ACKED && op->kind == OP_PROPOSE &&
                   (op->index > s->cl_len || s->cl_cmd[op->index] != op->cmd)) {
            sim_fail(s, "ACKED WRITE LOST: proposal %llu acked at %llu is not "
                     "in the committed history", (unsigned long long)c,
                     (unsigned long long)op->index);
        }
    }
    {
        struct sim_kv seen = {0};
        uint64_t v;
        for (uint64_t i = 1; i <= s->cl_len && !s->violation[0]; i++) {
            if (s->cl_cmd[i] == 0)
                continue;
            if (kv_get(&seen, s->cl_cmd[i], 0, &v))
                sim_fail(s, "command %llu applied twice (%llu and %llu)",
                         (unsigned long long)s->cl_cmd[i],
                         (unsigned long long)v, (unsigned long long)i);
            kv_put(&seen, s->cl_cmd[i], 0, i);
        }
        sim_kv_close(&seen);
    }
    return s->violation[0] ? 1 : 0;
}
