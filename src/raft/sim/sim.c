/* raft/sim/sim.c - one simulated run: parameters from the seed, nodes with
 * simulated disks, the shell's ready loop, clients, crashes and restarts,
 * and the liveness phase. See sim.h for the model.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

#define RING_LINES 400
static char *ring[RING_LINES];
static size_t ring_next;

void sim_tracef(struct sim *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int k;

    if (!s->trace)
        return;
    k = snprintf(line, sizeof line, "%7llu ", (unsigned long long)s->now);
    va_start(ap, fmt);
    vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
    va_end(ap);
    if (s->trace == 1) {
        puts(line);
        return;
    }
    if (s->trace == 3) { /* Fingerprint only (the determinism check). */
        s->trace_hash = cn_hash(line, strlen(line)) ^ (s->trace_hash * 31);
        return;
    }
    free(ring[ring_next % RING_LINES]);
    ring[ring_next % RING_LINES] = strdup(line);
    ring_next++;
}

void sim_trace_dump(FILE *f);
void sim_trace_dump(FILE *f)
{
    size_t start = ring_next > RING_LINES ? ring_next - RING_LINES : 0;
    for (size_t i = start; i < ring_next; i++) {
        fprintf(f, "%s\n", ring[i % RING_LINES]);
        free(ring[i % RING_LINES]);
        ring[i % RING_LINES] = NULL;
    }
    ring_next = 0;
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
    va_list ap;
    if (s->violation[0])
        return;
    va_start(ap, fmt);
    vsnprintf(s->violation, sizeof s->violation, fmt, ap);
    va_end(ap);
    sim_tracef(s, "VIOLATION: %s", s->violation);
}

static void sim_log(void *ctx, enum cn_log_level level, const char *line)
{
    struct sim *s = ctx;
    (void)level;
    sim_tracef(s, "n%u %s", s->log_node + 1, line);
}

struct cn_raft *sim_core(struct sim *s, uint32_t slot)
{
    s->log_node = slot;
    return s->nodes[slot].r;
}

static uint32_t pick(struct sim *s, const uint32_t *choices, size_t n)
{
    return choices[cn_prng_below(&s->prng, n)];
}
#define PICK(s, ...) pick((s), (const uint32_t[]){__VA_ARGS__}, \
                          sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

static void params(struct sim *s, uint32_t nodes_override)
{
    struct sim_params *p = &s->p;
    static const uint32_t sizes[] = {3, 5, 7};

    p->nodes = nodes_override ? nodes_override : sizes[s->seed % 3];
    p->spares = PICK(s, 0, 1, 2);
    p->drop_pm = PICK(s, 0, 0, 10, 50, 200);
    p->dup_pm = PICK(s, 0, 0, 20, 100);
    p->delay_min = 1;
    p->delay_max = PICK(s, 2, 5, 15, 40);
    p->long_delay_pm = PICK(s, 0, 5, 30);
    p->long_delay_max = PICK(s, 100, 400);
    p->part_pm = PICK(s, 0, 5, 20, 50, 150);
    p->crash_pm = PICK(s, 0, 5, 20, 50, 150);
    p->down_max = PICK(s, 30, 100, 500, 2000);
    p->sync_max = PICK(s, 0, 2, 5, 20);
    p->prop_pm = PICK(s, 50, 200, 1000);
    p->read_pm = PICK(s, 0, 50, 300);
    p->conf_pm = PICK(s, 0, 0, 10, 40);
    p->transfer_pm = PICK(s, 0, 5, 20);
    p->snap_every = PICK(s, 0, 5, 20, 100);
    p->snap_trailing = PICK(s, 0, 0, 2, 10);
    p->snap_filler_max = PICK(s, 0, 64, 300);
    p->max_msg_entries = PICK(s, 1, 2, 8, 64);
    p->inflight_max = PICK(s, 1, 4, 64);
    p->chunk_bytes = PICK(s, 8, 32, 4096);
    p->election_ticks = PICK(s, 5, 10);
    p->nemesis_pct = PICK(s, 0, 30, 70, 100);
    p->main_steps = 2000 + cn_prng_below(&s->prng, 3000);
    p->live_steps = 400ull * SIM_TICK * p->election_ticks / 10 + 4000;
    if (p->nodes + p->spares > SIM_NODES_MAX)
        p->spares = SIM_NODES_MAX - p->nodes;
}

/* ---- disks ------------------------------------------------------------ */

static uint64_t disk_last(const struct sim_disk *d)
{
    return d->first + d->n - 1;
}

static void disk_truncate(struct sim_disk *d, uint64_t after)
{
    while (d->n > 0 && disk_last(d) > after)
        free(d->ents[--d->n].data);
}

uint64_t sim_disk_chain(const struct sim_disk *d, uint64_t index)
{
    if (index + 1 == d->first)
        return d->base_chain;
    if (index >= d->first && index <= disk_last(d))
        return d->ents[index - d->first].chain;
    if (d->snap_index && index == d->snap_index && d->snap_len >= 16) {
        uint64_t c;
        memcpy(&c, d->snap_data + 8, 8);
        return c;
    }
    return UINT64_MAX;
}

void sim_disk_last(const struct sim_disk *d, uint64_t *index, uint64_t *term)
{
    if (d->n && disk_last(d) >= d->snap_index) {
        *index = disk_last(d);
        *term = d->ents[d->n - 1].term;
    } else {
        *index = d->snap_index;
        *term = d->snap_term;
    }
}

static void disk_append(struct sim_disk *d, const struct cn_raft_entry *e)
{
    struct sim_dentry *de;
    uint64_t prev = d->n ? d->ents[d->n - 1].chain : d->base_chain;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->ents = realloc(d->ents, d->cap * sizeof *d->ents);
        CN_ASSERT(d->ents);
    }
    de = &d->ents[d->n++];
    de->term = e->term;
    de->chain = sim_chain(prev, e);
    de->kind = e->kind;
    de->len = e->len;
    de->data = e->len ? malloc(e->len) : NULL;
    if (e->len)
        memcpy(de->data, e->data, e->len);
}

static void disk_drop_through(struct sim_disk *d, uint64_t index)
{
    size_t k = 0;
    while (k < d->n && d->first + k <= index) {
        d->base_chain = d->ents[k].chain;
        d->base_term = d->ents[k].term;
        free(d->ents[k++].data);
    }
    memmove(d->ents, d->ents + k, (d->n - k) * sizeof *d->ents);
    d->n -= k;
    d->first += k;
}

static void disk_set_snap(struct sim_disk *d, uint64_t index, uint64_t term,
                          const struct cn_raft_conf *conf, const uint8_t *data,
                          size_t len)
{
    free(d->snap_data);
    d->snap_index = index;
    d->snap_term = term;
    d->snap_conf = *conf;
    d->snap_data = malloc(len ? len : 1);
    memcpy(d->snap_data, data, len);
    d->snap_len = len;
}

static void disk_close(struct sim_disk *d)
{
    disk_truncate(d, 0);
    free(d->ents);
    free(d->snap_data);
    memset(d, 0, sizeof *d);
}

/* Step 2 of the ready contract. torn: the crash hit mid-batch, so only
 * part of it (but never out of order within the log) reached the disk. */
static void persist(struct sim *s, struct sim_node *n,
                    const struct cn_raft_ready *rd, bool torn)
{
    struct sim_disk *d = &n->disk;
    size_t k = rd->n_entries;

    if (rd->snapshot) {
        if (torn && cn_prng_chance(&s->prng, 1, 2))
            goto hs;
        disk_set_snap(d, rd->snapshot->index, rd->snapshot->term,
                      &rd->snapshot->conf, rd->snapshot->data, rd->snapshot->len);
        disk_truncate(d, 0);
        d->first = rd->snapshot->index + 1;
        memcpy(&d->base_chain, rd->snapshot->data + 8, 8);
        d->base_term = rd->snapshot->term;
    }
    if (torn)
        k = (size_t)cn_prng_below(&s->prng, rd->n_entries + 1);
    if (rd->n_entries) {
        uint64_t first = rd->entries[0].index;
        if (first <= disk_last(d) && (k > 0 || !torn || cn_prng_chance(&s->prng, 1, 2)))
            disk_truncate(d, first - 1);
        if (k > 0 && first != disk_last(d) + 1) {
            sim_fail(s, "n%llu batch entries at %llu do not follow its disk "
                     "log ending at %llu", (unsigned long long)n->id,
                     (unsigned long long)first, (unsigned long long)disk_last(d));
            return;
        }
        for (size_t i = 0; i < k; i++)
            disk_append(d, &rd->entries[i]);
    }
hs:
    if (rd->hs_changed && (!torn || cn_prng_chance(&s->prng, 1, 2))) {
        d->term = rd->term;
        d->vote = rd->vote;
    }
}

/* ---- nodes ------------------------------------------------------------ */

static struct cn_raft_config node_config(struct sim *s, uint32_t slot)
{
    struct cn_raft_config c = {
        .id = slot + 1,
        .election_ticks = s->p.election_ticks,
        .heartbeat_ticks = 1,
        .max_msg_entries = s->p.max_msg_entries,
        .inflight_max = s->p.inflight_max,
        .snapshot_chunk_bytes = s->p.chunk_bytes,
        .seed = s->seed * 7919 + slot * 131 + s->nodes[slot].incarnation,
        .logger = &s->logger,
    };
    return c;
}

static void start_fresh(struct sim *s, uint32_t slot)
{
    struct sim_node *n = &s->nodes[slot];
    struct cn_raft_config c = node_config(s, slot);
    int rc = cn_raft_new(&n->r, &c, NULL);

    CN_ASSERT(rc == 0);
    n->disk.first = 1;
    if (slot < s->p.nodes) {
        struct cn_raft_conf conf;
        memset(&conf, 0, sizeof conf);
        for (uint32_t i = 0; i < s->p.nodes; i++) {
            conf.members[i].id = i + 1;
            conf.members[i].role = CN_RAFT_VOTER;
            conf.members[i].addr_len = (uint8_t)snprintf(
                conf.members[i].addr, sizeof conf.members[i].addr,
                "10.0.0.%u:8300", i + 1);
        }
        conf.n = s->p.nodes;
        rc = cn_raft_bootstrap(sim_core(s, slot), &conf);
        CN_ASSERT(rc == 0);
        /* The shell makes the bootstrap durable before it starts serving
         * (the configuration is the data directory's first write). */
        rc = cn_raft_ready(n->r, &n->rd);
        CN_ASSERT(rc == 0 && n->rd.n_entries == 1 && n->rd.n_msgs == 0);
        sim_check_batch(s, slot, &n->rd);
        persist(s, n, &n->rd, false);
        cn_raft_advance(n->r, &n->rd);
    }
    n->up = true;
    n->tick_phase = (uint32_t)cn_prng_below(&s->prng, SIM_TICK);
}

static void restart(struct sim *s, uint32_t slot)
{
    struct sim_node *n = &s->nodes[slot];
    struct sim_disk *d = &n->disk;
    struct cn_raft_config c;
    struct cn_raft_restore rs = {
        .term = d->term, .vote = d->vote, .snap_index = d->snap_index,
        .snap_term = d->snap_term, .snap_conf = &d->snap_conf,
    };
    struct cn_raft_entry *ents = calloc(d->n ? d->n : 1, sizeof *ents);
    uint64_t chain = 0;
    int rc;

    n->incarnation++;
    c = node_config(s, slot);
    for (size_t i = 0; i < d->n; i++) {
        ents[i].index = d->first + i;
        ents[i].term = d->ents[i].term;
        ents[i].kind = d->ents[i].kind;
        ents[i].len = d->ents[i].len;
        ents[i].data = d->ents[i].data;
    }
    rs.entries = ents;
    rs.n_entries = d->n;
    if (d->snap_index) {
        n->core_snap = malloc(d->snap_len ? d->snap_len : 1);
        memcpy(n->core_snap, d->snap_data, d->snap_len);
        rs.snap_data = n->core_snap;
        rs.snap_len = d->snap_len;
        memcpy(&chain, d->snap_data + 8, 8);
    }
    s->log_node = slot;
    rc = cn_raft_new(&n->r, &c, &rs);
    if (rc < 0) {
        sim_fail(s, "n%llu cannot restart from its disk: %s",
                 (unsigned long long)n->id, cn_strerror(rc));
        free(ents);
        return;
    }
    sim_shadow_reset(&n->sh, d->snap_index, chain, d->snap_term);
    for (size_t i = 0; i < d->n; i++) {
        if (ents[i].index <= d->snap_index)
            continue;
        chain = sim_chain(chain, &ents[i]);
        sim_shadow_push(&n->sh, chain, sim_entry_cmd(&ents[i]), ents[i].term);
    }
    free(ents);
    n->applied = n->seen_commit = d->snap_index;
    n->app_chain = d->snap_index ? n->sh.base_chain : 0;
    n->up = true;
    sim_tracef(s, "RESTART n%llu term=%llu vote=%llu snap=%llu log=%llu..%llu",
               (unsigned long long)n->id, (unsigned long long)d->term,
               (unsigned long long)d->vote, (unsigned long long)d->snap_index,
               (unsigned long long)d->first, (unsigned long long)disk_last(d));
}

void sim_collect_stats(struct sim *s, const struct cn_raft *r)
{
    struct cn_raft_stats st;
    if (!r)
        return;
    cn_raft_stats(r, &st);
    s->n_installs += st.snapshots_installed;
    s->n_malformed += st.dropped_malformed;
    s->n_lease_drops += st.dropped_lease;
}

void sim_crash(struct sim *s, uint32_t slot)
{
    struct sim_node *n = &s->nodes[slot];

    sim_tracef(s, "CRASH n%llu%s", (unsigned long long)n->id,
               n->busy ? " (mid-sync: batch torn)" : "");
    if (n->busy)
        persist(s, n, &n->rd, true);
    sim_collect_stats(s, n->r);
    cn_raft_free(n->r);
    n->r = NULL;
    free(n->core_snap);
    n->core_snap = NULL;
    for (size_t i = 0; i < n->inbox_n; i++)
        free(n->inbox[i].bytes);
    n->inbox_n = 0;
    n->busy = false;
    n->deferred_ticks = 0;
    n->up = false;
    n->restart_at = s->now + 1 + cn_prng_below(&s->prng, s->p.down_max);
    for (uint64_t c = 1; c < s->ops_n; c++)
        if (s->ops[c].state == OP_PENDING && s->ops[c].node == slot)
            s->ops[c].state = OP_LOST; /* Its client saw the connection die. */
    s->n_crashes++;
}

/* The application snapshots its state now and then (sim.h: the image is
 * [index][chain][filler], the filler a checkable pattern). */
static void maybe_snapshot(struct sim *s, uint32_t slot)
{
    struct sim_node *n = &s->nodes[slot];
    size_t len;
    uint8_t *img;
    int rc;

    if (!s->p.snap_every || n->applied < n->disk.snap_index + s->p.snap_every)
        return;
    len = 16 + (size_t)cn_prng_below(&s->prng, s->p.snap_filler_max + 1);
    img = malloc(len);
    memcpy(img, &n->applied, 8);
    memcpy(img + 8, &n->app_chain, 8);
    for (size_t k = 16; k < len; k++)
        img[k] = (uint8_t)(n->app_chain >> ((k % 8) * 8) ^ k);
    rc = cn_raft_compact(sim_core(s, slot), n->applied, img, len, s->p.snap_trailing);
    if (rc < 0) {
        sim_fail(s, "n%llu compact at %llu: %s", (unsigned long long)n->id,
                 (unsigned long long)n->applied, cn_strerror(rc));
        free(img);
        return;
    }
    free(n->core_snap); /* The core let go of it in cn_raft_compact. */
    n->core_snap = img;
    disk_set_snap(&n->disk, n->applied, n->r->snap.term, &n->r->snap.conf,
                  img, len);
    if (n->applied > s->p.snap_trailing)
        disk_drop_through(&n->disk, n->applied - s->p.snap_trailing);
    s->n_snaps++;
}

/* Steps 2-7 of the contract, once the batch's sync is done. */
static void complete(struct sim *s, uint32_t slot)
{
    struct sim_node *n = &s->nodes[slot];
    struct cn_raft_ready *rd = &n->rd;

    persist(s, n, rd, false);
    for (size_t i = 0; i < rd->n_msgs; i++)
        sim_net_send(s, slot, &rd->msgs[i]);
    sim_check_apply(s, slot, rd);
    if (rd->snapshot) {
        free(n->core_snap); /* The core now holds its own copy. */
        n->core_snap = NULL;
    }
    cn_raft_advance(sim_core(s, slot), rd);
    n->busy = false;
    if (!s->violation[0])
        maybe_snapshot(s, slot);
}

static void take_ready(struct sim *s, uint32_t slot)
{
    struct sim_node *n = &s->nodes[slot];
    int rc = cn_raft_ready(sim_core(s, slot), &n->rd);

    if (rc < 0) {
        sim_fail(s, "ready: %s", cn_strerror(rc));
        return;
    }
    if (s->trace) {
        const struct cn_raft_ready *rd = &n->rd;
        sim_tracef(s, "n%u batch: %s%llu/%llu entries=%llu..%llu%s apply=%llu..%llu "
                   "now=%zu after-sync=%zu reads=%zu failed=%zu",
                   slot + 1, rd->hs_changed ? "HS term/vote=" : "term/vote=",
                   (unsigned long long)rd->term, (unsigned long long)rd->vote,
                   (unsigned long long)(rd->n_entries ? rd->entries[0].index : 0),
                   (unsigned long long)(rd->n_entries ? rd->entries[rd->n_entries - 1].index : 0),
                   rd->snapshot ? " SNAPSHOT" : "",
                   (unsigned long long)(rd->n_committed ? rd->committed[0].index : 0),
                   (unsigned long long)(rd->n_committed ? rd->committed[rd->n_committed - 1].index : 0),
                   rd->n_msgs_now, rd->n_msgs, rd->n_reads, rd->n_failed);
    }
    sim_check_batch(s, slot, &n->rd);
    for (size_t i = 0; i < n->rd.n_msgs_now; i++)
        sim_net_send(s, slot, &n->rd.msgs_now[i]);
    n->busy = true;
    if (n->rd.must_sync && s->p.sync_max)
        n->sync_at = s->now + cn_prng_below(&s->prng, s->p.sync_max + 1);
    else
        n->sync_at = s->now;
    if (n->sync_at == s->now)
        complete(s, slot);
}

static void process(struct sim *s, uint32_t slot)
{
    struct sim_node *n = &s->nodes[slot];

    for (int rounds = 0; rounds < 8 && n->up && !s->violation[0]; rounds++) {
        if (n->busy) {
            if (n->sync_at > s->now)
                return;
            complete(s, slot);
            continue;
        }
        if (n->inbox_n) {
            size_t k = n->inbox_n;
            n->inbox_n = 0;
            for (size_t i = 0; i < k; i++) {
                if (!s->violation[0])
                    sim_node_step_bytes(s, slot, n->inbox[i].bytes, n->inbox[i].len);
                free(n->inbox[i].bytes);
            }
        }
        for (; n->deferred_ticks > 0; n->deferred_ticks--)
            cn_raft_tick(sim_core(s, slot));
        if (!cn_raft_has_ready(n->r))
            return;
        take_ready(s, slot);
    }
}

static void step(struct sim *s)
{
    uint32_t order[SIM_NODES_MAX];
    uint64_t x;

    if (!s->live) {
        sim_nemesis(s);
        if (sim_roll(s, s->p.crash_pm)) {
            /* Half the time the leader: that is where the hard cases are. */
            int v = cn_prng_chance(&s->prng, 1, 2) ? sim_target(s, true) : -1;
            if (v < 0)
                v = (int)cn_prng_below(&s->prng, s->n_nodes);
            if (s->nodes[v].up)
                sim_crash(s, (uint32_t)v);
        }
        sim_net_faults(s);
        sim_clients(s);
    }
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (!s->nodes[i].up && s->nodes[i].restart_at <= s->now)
            restart(s, i);
    sim_net_deliver_due(s);
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        struct sim_node *n = &s->nodes[i];
        if (!n->up || s->now % SIM_TICK != n->tick_phase)
            continue;
        if (n->busy)
            n->deferred_ticks++;
        else
            cn_raft_tick(sim_core(s, i));
    }
    /* A uniformly random order from one draw (9! < 2^64). */
    x = cn_prng_next(&s->prng);
    for (uint32_t i = 0; i < s->n_nodes; i++)
        order[i] = i;
    for (uint32_t i = s->n_nodes; i > 1; i--) {
        uint32_t j = (uint32_t)(x % i), t = order[i - 1];
        x /= i;
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < s->n_nodes && !s->violation[0]; i++)
        process(s, order[i]);
    if (!s->violation[0])
        sim_check_roles(s);
}

static bool pending_ops(const struct sim *s)
{
    for (uint64_t c = 1; c < s->ops_n; c++)
        if (s->ops[c].state == OP_PENDING)
            return true;
    return false;
}

/* Liveness: with faults healed, a leader that has committed in its term
 * commits a fresh proposal, every voter of its configuration applies it,
 * and every request still pending completes. */
static bool converged(struct sim *s)
{
    const struct sim_op *op;
    const struct cn_raft_conf *c;
    int l = sim_target(s, true);

    if (l < 0)
        return false;
    if (s->sentinel == 0 || s->ops[s->sentinel].state == OP_FAILED ||
        s->ops[s->sentinel].state == OP_LOST) {
        struct cn_raft_status st;
        cn_raft_status(s->nodes[l].r, &st);
        if (st.commit < s->nodes[l].r->term_start)
            return false;
        s->sentinel = s->ops_n;
        if (sim_propose(s, (uint32_t)l, OP_SENTINEL) != 0)
            s->sentinel = 0;
        return false;
    }
    op = &s->ops[s->sentinel];
    if (op->state != OP_ACKED || pending_ops(s))
        return false;
    c = cn_raft_conf(s->nodes[l].r);
    for (uint32_t i = 0; i < c->n; i++) {
        const struct sim_node *n = &s->nodes[c->members[i].id - 1];
        if (c->members[i].role == CN_RAFT_VOTER && n->applied < op->index)
            return false;
    }
    return true;
}

void sim_init(struct sim *s, uint64_t seed, uint32_t nodes_override, int trace)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->trace = trace;
    cn_prng_seed(&s->prng, seed);
    params(s, nodes_override);
    s->logger.fn = sim_log;
    s->logger.ctx = s;
    s->logger.level = trace ? CN_LOG_DEBUG : CN_LOG_OFF;
    s->n_nodes = s->p.nodes + s->p.spares;
    sim_op_new(s, 0, 0);
    s->ops_n = 1; /* Cookie 0 means none. */
    cn_buf_init(&s->enc, CN_RAFT_MSG_BYTES_MAX);
    {
        const struct sim_params *p = &s->p;
        sim_tracef(s, "SEED %llu nodes=%u spares=%u drop=%u/1000 dup=%u/1000 "
                   "delay=%u..%u part=%u crash=%u sync<=%u snap_every=%u "
                   "msg_entries=%u inflight=%u chunk=%u election=%u nemesis=%u%% "
                   "steps=%llu",
                   (unsigned long long)s->seed, p->nodes, p->spares, p->drop_pm,
                   p->dup_pm, p->delay_min, p->delay_max, p->part_pm, p->crash_pm,
                   p->sync_max, p->snap_every, p->max_msg_entries, p->inflight_max,
                   p->chunk_bytes, p->election_ticks, p->nemesis_pct,
                   (unsigned long long)p->main_steps);
    }
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        s->nodes[i].id = i + 1;
        start_fresh(s, i);
    }
}

void sim_close(struct sim *s)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        struct sim_node *n = &s->nodes[i];
        sim_collect_stats(s, n->r);
        cn_raft_free(n->r);
        free(n->core_snap);
        for (size_t k = 0; k < n->inbox_n; k++)
            free(n->inbox[k].bytes);
        free(n->inbox);
        disk_close(&n->disk);
        sim_shadow_close(&n->sh);
    }
    sim_net_close(s);
    sim_kv_close(&s->leaders);
    sim_kv_close(&s->logmatch);
    sim_kv_close(&s->term_commit);
    free(s->cl_chain);
    free(s->cl_cmd);
    free(s->ops);
    cn_buf_close(&s->enc);
}

int sim_run(struct sim *s)
{
    const struct sim_params *p = &s->p;
    uint64_t end;

    for (s->now = 0; s->now < p->main_steps && !s->violation[0]; s->now++)
        step(s);
    if (s->violation[0])
        return 1;
    s->live = true;
    sim_net_heal(s);
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (!s->nodes[i].up)
            s->nodes[i].restart_at = s->now;
    end = s->now + p->live_steps;
    for (; s->now < end && !s->violation[0]; s->now++) {
        step(s);
        if (!s->violation[0] && converged(s))
            break;
    }
    if (s->violation[0])
        return 1;
    if (s->now >= end) {
        sim_fail(s, "LIVENESS: no convergence %llu steps after healing "
                 "(leader: %s, sentinel: %s, pending requests: %s)",
                 (unsigned long long)p->live_steps,
                 sim_target(s, true) >= 0 ? "yes" : "no",
                 s->sentinel && s->ops[s->sentinel].state == OP_ACKED ? "acked" : "no",
                 pending_ops(s) ? "yes" : "no");
        return 1;
    }
    sim_tracef(s, "CONVERGED at %llu", (unsigned long long)s->now);
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        struct cn_raft_stats st;
        cn_raft_stats(s->nodes[i].r, &st);
        if (st.dropped_malformed) /* Every peer here is correct. */
            sim_fail(s, "n%u dropped %llu messages of correct peers as "
                     "malformed", i + 1,
                     (unsigned long long)st.dropped_malformed);
    }
    return sim_check_final(s);
}
