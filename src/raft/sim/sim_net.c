/* raft/sim/sim_net.c - the simulated network: a time-ordered heap of
 * encoded messages, with drops, duplicates, random delays (hence
 * reordering) and partitions (symmetric splits, isolated nodes, one-way
 * links) that heal after a while.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

static bool heap_less(const struct sim_msg *a, const struct sim_msg *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct sim_msg m)
{
    size_t i;
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 256;
        s->heap = realloc(s->heap, s->heap_cap * sizeof *s->heap);
        CN_ASSERT(s->heap);
    }
    i = s->heap_n++;
    s->heap[i] = m;
    while (i > 0 && heap_less(&s->heap[i], &s->heap[(i - 1) / 2])) {
        struct sim_msg t = s->heap[i];
        s->heap[i] = s->heap[(i - 1) / 2];
        s->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static struct sim_msg heap_pop(struct sim *s)
{
    struct sim_msg top = s->heap[0];
    size_t i = 0;
    s->heap[0] = s->heap[--s->heap_n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->heap_n && heap_less(&s->heap[l], &s->heap[m]))
            m = l;
        if (r < s->heap_n && heap_less(&s->heap[r], &s->heap[m]))
            m = r;
        if (m == i)
            break;
        struct sim_msg t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
    return top;
}

void sim_net_close(struct sim *s)
{
    for (size_t i = 0; i < s->heap_n; i++)
        free(s->heap[i].bytes);
    free(s->heap);
    s->heap = NULL;
    s->heap_n = s->heap_cap = 0;
}

void sim_msg_describe(const struct cn_raft_msg *m, char *out, size_t n)
{
    int k = snprintf(out, n, "%s %llu->%llu t%llu", cn_raft_msg_type_name(m->type),
                     (unsigned long long)m->from, (unsigned long long)m->to,
                     (unsigned long long)m->term);
    if (k < 0 || (size_t)k >= n)
        return;
    switch (m->type) {
    case CN_RAFT_MSG_APPEND:
        snprintf(out + k, n - k, " prev=%llu/%llu n=%u commit=%llu",
                 (unsigned long long)m->index, (unsigned long long)m->log_term,
                 m->n_entries, (unsigned long long)m->commit);
        break;
    case CN_RAFT_MSG_APPEND_RESP:
        snprintf(out + k, n - k, " %s index=%llu hint=%llu/%llu",
                 (m->flags & CN_RAFT_F_REJECT) ? "REJECT" : "ok",
                 (unsigned long long)m->index, (unsigned long long)m->hint_index,
                 (unsigned long long)m->hint_term);
        break;
    case CN_RAFT_MSG_VOTE:
    case CN_RAFT_MSG_PRE_VOTE:
        snprintf(out + k, n - k, " last=%llu/%llu%s", (unsigned long long)m->index,
                 (unsigned long long)m->log_term,
                 (m->flags & CN_RAFT_F_TRANSFER) ? " transfer" : "");
        break;
    case CN_RAFT_MSG_VOTE_RESP:
    case CN_RAFT_MSG_PRE_VOTE_RESP:
        snprintf(out + k, n - k, " %s",
                 (m->flags & CN_RAFT_F_REJECT) ? "REJECT" : "granted");
        break;
    case CN_RAFT_MSG_HEARTBEAT:
        snprintf(out + k, n - k, " commit=%llu ctx=%llu",
                 (unsigned long long)m->commit, (unsigned long long)m->ctx);
        break;
    case CN_RAFT_MSG_HEARTBEAT_RESP:
        snprintf(out + k, n - k, " ctx=%llu", (unsigned long long)m->ctx);
        break;
    case CN_RAFT_MSG_SNAPSHOT:
        snprintf(out + k, n - k, " snap=%llu/%llu off=%llu len=%u total=%llu",
                 (unsigned long long)m->index, (unsigned long long)m->log_term,
                 (unsigned long long)m->offset, m->len,
                 (unsigned long long)m->total);
        break;
    case CN_RAFT_MSG_SNAPSHOT_RESP:
        snprintf(out + k, n - k, " snap=%llu off=%llu%s",
                 (unsigned long long)m->index, (unsigned long long)m->offset,
                 (m->flags & CN_RAFT_F_DONE) ? " DONE" : "");
        break;
    default:
        break;
    }
}

static bool blocked(const struct sim *s, uint32_t from, uint32_t to)
{
    return s->blocked_until[from][to] > s->now;
}

static uint64_t delay(struct sim *s)
{
    const struct sim_params *p = &s->p;
    if (!s->live && p->long_delay_pm &&
        cn_prng_below(&s->prng, 1000) < p->long_delay_pm)
        return p->delay_min + cn_prng_below(&s->prng, p->long_delay_max + 1);
    return p->delay_min + cn_prng_below(&s->prng, p->delay_max - p->delay_min + 1);
}

void sim_net_send(struct sim *s, uint32_t from, const struct cn_raft_msg *m)
{
    uint32_t to = (uint32_t)(m->to - 1);
    int copies = 1, rc;

    s->n_msgs++;
    if (m->to == 0 || m->to > s->n_nodes) {
        sim_fail(s, "n%u sent to unknown server %llu", from + 1,
                 (unsigned long long)m->to);
        return;
    }
    cn_buf_reset(&s->enc);
    rc = cn_raft_msg_encode(m, &s->enc);
    if (rc < 0) {
        sim_fail(s, "encode failed: %s", cn_strerror(rc));
        return;
    }
    if (!s->live && s->p.dup_pm && cn_prng_below(&s->prng, 1000) < s->p.dup_pm)
        copies = 2;
    for (int c = 0; c < copies; c++) {
        struct sim_msg sm;
        bool cut = blocked(s, from, to), lost = !cut && !s->live &&
            s->p.drop_pm && cn_prng_below(&s->prng, 1000) < s->p.drop_pm;
        if (s->trace) {
            char d[256];
            sim_msg_describe(m, d, sizeof d);
            sim_tracef(s, "send %s%s%s", d, c ? " (duplicate)" : "",
                       cut ? " (partitioned)" : lost ? " (lost)" : "");
        }
        if (cut || lost) {
            s->n_dropped++;
            continue;
        }
        sm.at = s->now + delay(s);
        sm.seq = ++s->msg_seq;
        sm.from = from;
        sm.to = to;
        sm.len = s->enc.len;
        sm.bytes = malloc(sm.len);
        CN_ASSERT(sm.bytes);
        memcpy(sm.bytes, s->enc.data, sm.len);
        heap_push(s, sm);
    }
}

static void inbox_push(struct sim_node *n, uint8_t *bytes, size_t len)
{
    if (n->inbox_n == n->inbox_cap) {
        n->inbox_cap = n->inbox_cap ? n->inbox_cap * 2 : 32;
        n->inbox = realloc(n->inbox, n->inbox_cap * sizeof *n->inbox);
        CN_ASSERT(n->inbox);
    }
    n->inbox[n->inbox_n].bytes = bytes;
    n->inbox[n->inbox_n].len = len;
    n->inbox_n++;
}

void sim_node_step_bytes(struct sim *s, uint32_t slot, const uint8_t *p,
                         size_t len)
{
    struct sim_node *n = &s->nodes[slot];
    struct cn_raft_msg m;
    int rc = cn_raft_msg_decode(p, len, &m);

    if (rc < 0) {
        sim_fail(s, "decode of our own encoding failed: %s", cn_strerror(rc));
        return;
    }
    if (s->trace) {
        char d[256];
        sim_msg_describe(&m, d, sizeof d);
        sim_tracef(s, "recv %s", d);
    }
    s->log_node = slot;
    rc = cn_raft_step(n->r, &m);
    cn_raft_msg_release(&m);
    if (rc < 0)
        sim_fail(s, "n%llu step failed: %s", (unsigned long long)n->id,
                 cn_strerror(rc));
}

void sim_net_deliver_due(struct sim *s)
{
    while (s->heap_n > 0 && s->heap[0].at <= s->now && !s->violation[0]) {
        struct sim_msg m = heap_pop(s);
        struct sim_node *n = &s->nodes[m.to];
        if (!n->up || blocked(s, m.from, m.to)) {
            s->n_dropped++;
            free(m.bytes);
            continue;
        }
        if (n->busy) {
            inbox_push(n, m.bytes, m.len); /* Stepped after the sync. */
            continue;
        }
        sim_node_step_bytes(s, m.to, m.bytes, m.len);
        free(m.bytes);
    }
}

static void block(struct sim *s, uint32_t a, uint32_t b, uint64_t until)
{
    if (a != b)
        s->blocked_until[a][b] = CN_MAX(s->blocked_until[a][b], until);
}

/* Starts a partition now and then: a split, an isolated node (often the
 * leader), or a few one-way links. Each heals on its own. */
void sim_net_faults(struct sim *s)
{
    uint64_t until;
    uint32_t kind, n = s->n_nodes;

    if (!s->p.part_pm || cn_prng_below(&s->prng, 10000) >= s->p.part_pm)
        return;
    until = s->now + 50 + cn_prng_below(&s->prng, 3000);
    kind = (uint32_t)cn_prng_below(&s->prng, 4);
    s->n_parts++;
    if (kind == 0) {
        bool side[SIM_NODES_MAX];
        for (uint32_t i = 0; i < n; i++)
            side[i] = cn_prng_chance(&s->prng, 1, 2);
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < n; j++)
                if (side[i] != side[j])
                    block(s, i, j, until);
        sim_tracef(s, "PARTITION split until %llu", (unsigned long long)until);
    } else if (kind == 1 || kind == 2) {
        uint32_t v = (uint32_t)cn_prng_below(&s->prng, n);
        if (kind == 1) { /* Prefer a leader. */
            for (uint32_t i = 0; i < n; i++) {
                struct cn_raft_status st;
                if (!s->nodes[i].up)
                    continue;
                cn_raft_status(s->nodes[i].r, &st);
                if (st.role == CN_RAFT_LEADER)
                    v = i;
            }
        }
        for (uint32_t j = 0; j < n; j++) {
            block(s, v, j, until);
            block(s, j, v, until);
        }
        sim_tracef(s, "PARTITION isolate n%u until %llu", v + 1,
                   (unsigned long long)until);
    } else {
        uint32_t links = 1 + (uint32_t)cn_prng_below(&s->prng, n);
        for (uint32_t k = 0; k < links; k++) {
            uint32_t a = (uint32_t)cn_prng_below(&s->prng, n);
            uint32_t b = (uint32_t)cn_prng_below(&s->prng, n);
            block(s, a, b, until);
            sim_tracef(s, "PARTITION one-way n%u -/-> n%u until %llu", a + 1,
                       b + 1, (unsigned long long)until);
        }
    }
}

void sim_net_heal(struct sim *s)
{
    memset(s->blocked_until, 0, sizeof s->blocked_until);
    sim_tracef(s, "HEAL all partitions");
}
