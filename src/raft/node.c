/* raft/node.c - the Raft shell on libuv (see node.h for the design). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node_int.h"
#include "rpc/rpc.h"

/* ---- waiters: cookie -> completion ---- */

static struct waiter *waiter_add(struct cn_raft_node *n, cn_raft_node_done_fn *done,
                                 void *ctx, enum waiter_kind kind)
{
    struct waiter *w = cn_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cookie = ++n->next_cookie;
    w->done = done;
    w->ctx = ctx;
    w->kind = kind;
    if (cn_map_put(&n->waiters, &w->cookie, sizeof w->cookie, w, NULL) < 0) {
        cn_free(w);
        return NULL;
    }
    return w;
}

static struct waiter *waiter_take(struct cn_raft_node *n, uint64_t cookie)
{
    if (!cookie)
        return NULL;
    return cn_map_del(&n->waiters, &cookie, sizeof cookie);
}

static void waiter_finish(struct waiter *w, int rc, uint64_t index, const struct cn_buf *reply)
{
    if (w->done)
        w->done(w->ctx, rc, index, reply);
    cn_free(w);
}

void cn_raft_node_forget(struct cn_raft_node *n, uint64_t cookie)
{
    struct waiter *w = cn_map_get(&n->waiters, &cookie, sizeof cookie);
    if (w)
        w->done = NULL; /* Completes silently. */
}

/* ---- sending ---- */

static const char *member_addr(const struct cn_raft_node *n, uint64_t id)
{
    const struct cn_raft_conf *c = cn_raft_conf(n->core);
    const struct cn_raft_member *m = c ? cn_raft_conf_find(c, id) : NULL;
    if (m && m->addr_len)
        return m->addr;
    /* A server being added may not be in the newest conf yet; try the
     * addresses we were told about. */
    for (size_t i = 0; i < n->n_known; i++)
        if (n->known[i].id == id)
            return n->known[i].addr;
    return NULL;
}

static void send_msgs(struct cn_raft_node *n, const struct cn_raft_msg *msgs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const char *member = member_addr(n, msgs[i].to);
        char addr[CN_RAFT_ADDR_BYTES_MAX];
        if (!member || !n->cfg.transport) {
            n->stats.dropped_unaddressed++;
            continue;
        }
        cn_buf_reset(&n->encode);
        if (cn_raft_msg_encode(&msgs[i], &n->encode) < 0) {
            CN_WARN("raft: cannot encode %s to %llx", cn_raft_msg_type_name(msgs[i].type),
                    (unsigned long long)msgs[i].to);
            continue;
        }
        size_t al = strcspn(member, "/"); /* "ip:port/label" */
        memcpy(addr, member, al);
        addr[al] = '\0';
        (void)cn_transport_send_raft(n->cfg.transport, addr, n->encode.data, n->encode.len);
    }
}

/* ---- inputs (queued while a batch is being synced) ---- */

static void step_decoded(struct cn_raft_node *n, const uint8_t *p, size_t len)
{
    struct cn_raft_msg m;
    if (cn_raft_msg_decode(p, len, &m) < 0) {
        n->stats.dropped_malformed++;
        return;
    }
    if (m.to != n->cfg.id)
        n->stats.dropped_misaddressed++; /* The core asserts on these. */
    else
        (void)cn_raft_step(n->core, &m);
    cn_raft_msg_release(&m);
}

static int queue_input(struct cn_raft_node *n, enum input_kind kind, uint64_t cookie,
                       const void *data, size_t len)
{
    struct input *in;
    if (n->queued_bytes > CN_RAFT_NODE_QUEUE_BYTES_MAX - len)
        return CN_ELIMIT;
    in = cn_alloc(sizeof *in + len);
    if (!in)
        return -ENOMEM;
    in->next = NULL;
    in->kind = kind;
    in->cookie = cookie;
    in->len = len;
    if (len)
        memcpy(in->data, data, len);
    if (n->q_tail)
        n->q_tail->next = in;
    else
        n->q_head = in;
    n->q_tail = in;
    n->queued_bytes += len;
    n->queued++;
    if (n->queued > n->stats.pub.queued_inputs_max)
        n->stats.pub.queued_inputs_max = n->queued;
    return 0;
}

static void fail_cookie(struct cn_raft_node *n, uint64_t cookie, int rc)
{
    struct waiter *w = waiter_take(n, cookie);
    if (w)
        waiter_finish(w, rc, 0, NULL);
}

/* Feeds one queued input to the core (not busy). */
static void replay(struct cn_raft_node *n, struct input *in)
{
    uint64_t index;
    int rc;
    switch (in->kind) {
    case IN_MSG:
        step_decoded(n, in->data, in->len);
        return;
    case IN_PROPOSE:
        rc = cn_raft_propose(n->core, in->data, in->len, in->cookie, &index);
        if (rc < 0)
            fail_cookie(n, in->cookie, rc);
        return;
    case IN_READ:
        rc = cn_raft_read(n->core, in->cookie);
        if (rc < 0)
            fail_cookie(n, in->cookie, rc);
        return;
    case IN_CHANGE: {
        const struct change_req *cr = (const void *)in->data;
        rc = cn_raft_change(n->core, cr->op, cr->id, cr->addr, strlen(cr->addr), in->cookie,
                            &index);
        if (rc < 0)
            fail_cookie(n, in->cookie, rc);
        return;
    }
    }
}

static void replay_queued(struct cn_raft_node *n)
{
    while (n->pending_ticks > 0) {
        n->pending_ticks--;
        cn_raft_tick(n->core);
    }
    while (!n->busy && n->q_head) {
        struct input *in = n->q_head;
        n->q_head = in->next;
        if (!n->q_head)
            n->q_tail = NULL;
        n->queued_bytes -= in->len;
        n->queued--;
        replay(n, in);
        cn_free(in);
    }
}

void cn_raft_node_receive(struct cn_raft_node *n, const uint8_t *msg, size_t len)
{
    if (n->stopping)
        return;
    if (n->busy) {
        if (queue_input(n, IN_MSG, 0, msg, len) < 0)
            n->stats.dropped_queue_full++; /* Raft retransmits. */
        return;
    }
    step_decoded(n, msg, len);
}

static int submit(struct cn_raft_node *n, enum input_kind kind, const void *data, size_t len,
                  cn_raft_node_done_fn *done, void *ctx, uint64_t *cookie)
{
    struct waiter *w;
    uint64_t index;
    int rc;

    if (n->stopping)
        return CN_ECLOSED;
    if (kind != IN_CHANGE && !cn_raft_node_is_leader(n))
        return CN_ENOLEADER;
    w = waiter_add(n, done, ctx, kind == IN_READ ? W_READ : W_PROPOSAL);
    if (!w)
        return -ENOMEM;
    if (n->busy) {
        rc = queue_input(n, kind, w->cookie, data, len);
    } else if (kind == IN_PROPOSE) {
        rc = cn_raft_propose(n->core, data, len, w->cookie, &index);
    } else if (kind == IN_READ) {
        rc = cn_raft_read(n->core, w->cookie);
    } else {
        const struct change_req *cr = data;
        rc = cn_raft_change(n->core, cr->op, cr->id, cr->addr, strlen(cr->addr), w->cookie,
                            &index);
    }
    if (rc < 0) {
        w = waiter_take(n, w->cookie);
        cn_free(w); /* Error returned: done never runs. */
        return rc;
    }
    if (cookie)
        *cookie = w->cookie;
    return 0;
}

int cn_raft_node_propose(struct cn_raft_node *n, const void *data, size_t len,
                         cn_raft_node_done_fn *done, void *ctx, uint64_t *cookie)
{
    return submit(n, IN_PROPOSE, data, len, done, ctx, cookie);
}

int cn_raft_node_read(struct cn_raft_node *n, cn_raft_node_done_fn *done, void *ctx,
                      uint64_t *cookie)
{
    return submit(n, IN_READ, NULL, 0, done, ctx, cookie);
}

int cn_raft_node_change(struct cn_raft_node *n, enum cn_raft_change_op op, uint64_t id,
                        const char *addr, cn_raft_node_done_fn *done, void *ctx)
{
    struct change_req cr = {.op = op, .id = id};
    if (strlen(addr) >= sizeof cr.addr)
        return -EINVAL;
    if (n->cfg.single_in_memory && op != CN_RAFT_REMOVE)
        return CN_EUNSUPPORTED;
    snprintf(cr.addr, sizeof cr.addr, "%s", addr);
    cn__raft_node_remember(n, id, addr);
    return submit(n, IN_CHANGE, &cr, sizeof cr, done, ctx, NULL);
}

int cn_raft_node_transfer(struct cn_raft_node *n, uint64_t to)
{
    if (n->busy) {
        n->pending_transfer = to ? to : UINT64_MAX;
        return 0;
    }
    return cn_raft_transfer(n->core, to);
}

void cn_raft_node_elect_now(struct cn_raft_node *n)
{
    const struct cn_raft_conf *c = cn_raft_conf(n->core);
    uint32_t voters = 0;
    for (uint32_t i = 0; c && i < c->n; i++)
        voters += c->members[i].role == CN_RAFT_VOTER;
    if (voters != 1 || !cn_raft_conf_find(c, n->cfg.id))
        return;
    /* Election timeouts are below 2 x election_ticks; pre-vote and vote
     * rounds with ourselves complete within a batch each. */
    for (int i = 0; i < 200 && !cn_raft_node_is_leader(n); i++) {
        cn__raft_node_pump(n);
        if (n->busy)
            return; /* A disk batch: the loop finishes the election. */
        cn_raft_tick(n->core);
    }
    cn__raft_node_pump(n);
}

int cn_raft_node_bootstrap(struct cn_raft_node *n, const struct cn_raft_conf *conf)
{
    if (n->busy)
        return CN_ESTATE;
    for (uint32_t i = 0; i < conf->n; i++)
        cn__raft_node_remember(n, conf->members[i].id, conf->members[i].addr);
    return cn_raft_bootstrap(n->core, conf);
}

/* ---- the ready batch ---- */

static void apply_committed(struct cn_raft_node *n, const struct cn_raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_committed; i++) {
        const struct cn_raft_entry *e = &rd->committed[i];
        struct waiter *w = waiter_take(n, e->cookie);
        int rc = 0;
        cn_buf_reset(&n->reply);
        if (e->kind == CN_RAFT_ENTRY_NORMAL) {
            rc = n->cfg.fsm.apply(n->cfg.fsm.ctx, e->index, e->data, e->len,
                                  w && w->done ? &n->reply : NULL);
        } else if (e->kind == CN_RAFT_ENTRY_CONF) {
            struct cn_raft_conf c;
            if (cn_raft_conf_decode(e->data, e->len, &c) == 0)
                n->applied_conf = c;
            n->conf_changed = true;
        }
        n->applied = e->index;
        n->applied_term = e->term;
        if (w)
            waiter_finish(w, rc == CN_ETOOBIG ? rc : (rc < 0 ? rc : 0), e->index, &n->reply);
    }
}

static void answer_reads(struct cn_raft_node *n, const struct cn_raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_reads; i++) {
        struct waiter *w = waiter_take(n, rd->reads[i].cookie);
        if (!w)
            continue;
        if (rd->reads[i].index <= n->applied) {
            waiter_finish(w, 0, rd->reads[i].index, NULL);
        } else { /* Safe once applied catches up: park it. */
            w->read_index = rd->reads[i].index;
            w->next = n->deferred_reads;
            n->deferred_reads = w;
        }
    }
    struct waiter **pp = &n->deferred_reads;
    while (*pp) {
        struct waiter *w = *pp;
        if (w->read_index <= n->applied) {
            *pp = w->next;
            waiter_finish(w, 0, w->read_index, NULL);
        } else {
            pp = &w->next;
        }
    }
}

/* Steps 3-7 of the contract, once the durable part is done. */
static void finish_batch(struct cn_raft_node *n)
{
    struct cn_raft_ready *rd = &n->rd;
    struct cn_raft_status before;

    cn_raft_status(n->core, &before);
    send_msgs(n, rd->msgs, rd->n_msgs);
    if (rd->snapshot) {
        int rc = n->cfg.fsm.restore(n->cfg.fsm.ctx, rd->snapshot->data, rd->snapshot->len);
        CN_ASSERT(rc == 0); /* The leader's snapshot passed its CRC; a local
                             * failure here would fork our state. */
        n->applied = rd->snapshot->index;
        n->applied_term = rd->snapshot->term;
        n->applied_conf = rd->snapshot->conf;
        n->snap_index = rd->snapshot->index;
        n->stats.pub.snapshots_installed++;
    }
    apply_committed(n, rd);
    answer_reads(n, rd);
    for (size_t i = 0; i < rd->n_failed; i++)
        fail_cookie(n, rd->failed[i].cookie, rd->failed[i].rc);
    cn_raft_advance(n->core, rd);
    if (rd->snapshot)
        cn__raft_node_snapshot_installed(n);
    n->busy = false;
    n->stats.pub.batches++;
    if (rd->soft_changed || n->conf_changed) {
        n->conf_changed = false;
        cn__raft_node_refresh_leader(n);
        if (n->cfg.fsm.changed)
            n->cfg.fsm.changed(n->cfg.fsm.ctx);
    }
    if (n->pending_transfer) {
        uint64_t to = n->pending_transfer == UINT64_MAX ? 0 : n->pending_transfer;
        n->pending_transfer = 0;
        (void)cn_raft_transfer(n->core, to);
    }
    replay_queued(n);
    cn__raft_node_maybe_snapshot(n);
}

void cn__raft_node_pump(struct cn_raft_node *n)
{
    /* Bounded per call: other loop work (and the next tick) gets a turn
     * even if the core keeps producing batches. */
    for (int batches = 0; batches < 64 && !n->busy && !n->stopping &&
                          cn_raft_has_ready(n->core); batches++) {
        if (cn_raft_ready(n->core, &n->rd) < 0)
            return; /* -ENOMEM: nothing taken; the next turn retries. */
        n->busy = true;
        send_msgs(n, n->rd.msgs_now, n->rd.n_msgs_now);
        if (n->rd.must_sync && n->wal) {
            cn__raft_node_writer_submit(n);
            return; /* finish_batch runs when the writer is done. */
        }
        finish_batch(n);
    }
}

void cn__raft_node_batch_synced(struct cn_raft_node *n, int rc, const char *errmsg)
{
    if (rc < 0) {
        /* The disk refused a write we promised to make durable. Going on
         * could acknowledge what is not on disk; stop hard, as etcd does. */
        CN_ERROR("raft: persisting a batch failed: %s; exiting", errmsg);
        fflush(NULL);
        _exit(1);
    }
    n->stats.pub.synced_batches++;
    finish_batch(n);
    cn__raft_node_pump(n);
}

static void on_check(uv_check_t *h)
{
    cn__raft_node_pump(h->data);
}

static void on_tick(uv_timer_t *t)
{
    struct cn_raft_node *n = t->data;
    if (n->busy) {
        if (n->pending_ticks < 1000)
            n->pending_ticks++;
        return;
    }
    cn_raft_tick(n->core);
    cn__raft_node_pump(n);
    /* Also when idle: a lone server has no batches to trigger it. */
    cn__raft_node_maybe_snapshot(n);
}

/* ---- status ---- */

void cn_raft_node_status(const struct cn_raft_node *n, struct cn_raft_status *st)
{
    cn_raft_status(n->core, st);
}

const struct cn_raft_conf *cn_raft_node_conf(const struct cn_raft_node *n)
{
    return cn_raft_conf(n->core);
}

bool cn_raft_node_is_leader(const struct cn_raft_node *n)
{
    struct cn_raft_status st;
    cn_raft_status(n->core, &st);
    return st.role == CN_RAFT_LEADER;
}

bool cn_raft_node_is_fresh(const struct cn_raft_node *n)
{
    struct cn_raft_status st;
    cn_raft_status(n->core, &st);
    return st.last_index == 0 && st.snap_index == 0 && st.term == 0;
}

void cn__raft_node_refresh_leader(struct cn_raft_node *n)
{
    struct cn_raft_status st;
    const char *addr;
    cn_raft_status(n->core, &st);
    addr = st.leader ? member_addr(n, st.leader) : NULL;
    snprintf(n->leader_addr, sizeof n->leader_addr, "%s", addr ? addr : "");
}

const char *cn_raft_node_leader_addr(const struct cn_raft_node *n)
{
    /* Looked up on every call: the leader may become known before the
     * configuration naming it arrives, with no later change event. */
    cn__raft_node_refresh_leader((struct cn_raft_node *)n);
    return n->leader_addr;
}

uint64_t cn_raft_node_last_contact_ms(const struct cn_raft_node *n)
{
    struct cn_raft_status st;
    cn_raft_status(n->core, &st);
    return st.last_contact_ticks * n->tick_ms;
}

void cn_raft_node_get_stats(const struct cn_raft_node *n, struct cn_raft_node_stats *out)
{
    *out = n->stats.pub;
}

void cn_raft_node_learn(struct cn_raft_node *n, uint64_t id, const char *addr)
{
    cn__raft_node_remember(n, id, addr);
}

void cn__raft_node_remember(struct cn_raft_node *n, uint64_t id, const char *addr)
{
    for (size_t i = 0; i < n->n_known; i++) {
        if (n->known[i].id == id) {
            snprintf(n->known[i].addr, sizeof n->known[i].addr, "%s", addr);
            return;
        }
    }
    if (n->n_known < CN_ARRAY_LEN(n->known)) {
        n->known[n->n_known].id = id;
        snprintf(n->known[n->n_known].addr, sizeof n->known[n->n_known].addr, "%s", addr);
        n->n_known++;
    }
}

/* ---- life cycle ---- */

int cn_raft_node_start(struct cn_raft_node **out, uv_loop_t *loop,
                       const struct cn_raft_node_config *cfg, char *errmsg)
{
    struct cn_raft_node *n = cn_calloc(1, sizeof *n);
    int rc;

    if (!n)
        return cn_errf_rc(errmsg, -ENOMEM, "raft node");
    n->loop = loop;
    n->cfg = *cfg;
    n->tick_ms = cfg->tick_ms ? cfg->tick_ms : 50;
    cn_map_init(&n->waiters);
    cn_buf_init(&n->encode, CN_FRAME_BYTES_MAX);
    cn_buf_init(&n->reply, CN_RPC_REPLY_BYTES_MAX);
    rc = cn__raft_node_recover(n, errmsg); /* node_disk.c: snapshot + WAL -> core */
    if (rc < 0) {
        cn_buf_close(&n->encode);
        cn_buf_close(&n->reply);
        cn_map_close(&n->waiters);
        cn_free(n);
        return rc;
    }
    cn__raft_node_refresh_leader(n);
    uv_timer_init(loop, &n->ticker);
    n->ticker.data = n;
    uv_timer_start(&n->ticker, on_tick, n->tick_ms, n->tick_ms);
    uv_check_init(loop, &n->check);
    n->check.data = n;
    uv_check_start(&n->check, on_check);
    n->handles += 2; /* ticker, check; the writer's async counted in recovery */
    *out = n;
    return 0;
}

void cn__raft_node_on_closed(uv_handle_t *h)
{
    struct cn_raft_node *n = h->data;
    if (--n->handles > 0)
        return;
    void (*cb)(void *) = n->stop_cb;
    void *arg = n->stop_arg;
    cn__raft_node_free(n);
    if (cb)
        cb(arg);
}

static void fail_all(struct cn_raft_node *n)
{
    uint32_t pos = 0;
    void *v;
    struct waiter *ws[256];
    size_t k;
    /* Collect then finish: callbacks may touch the map. */
    do {
        k = 0;
        pos = 0;
        while (k < CN_ARRAY_LEN(ws) && cn_map_next(&n->waiters, &pos, NULL, NULL, &v))
            ws[k++] = v;
        for (size_t i = 0; i < k; i++) {
            cn_map_del(&n->waiters, &ws[i]->cookie, sizeof ws[i]->cookie);
            waiter_finish(ws[i], CN_ECLOSED, 0, NULL);
        }
    } while (k > 0);
    while (n->deferred_reads) { /* Taken from the map, waiting on apply. */
        struct waiter *w = n->deferred_reads;
        n->deferred_reads = w->next;
        waiter_finish(w, CN_ECLOSED, 0, NULL);
    }
}

void cn_raft_node_stop(struct cn_raft_node *n, void (*cb)(void *), void *arg)
{
    n->stopping = true;
    n->stop_cb = cb;
    n->stop_arg = arg;
    cn__raft_node_writer_stop(n); /* Joins; a batch in flight finishes first. */
    fail_all(n);
    uv_close((uv_handle_t *)&n->ticker, cn__raft_node_on_closed);
    uv_close((uv_handle_t *)&n->check, cn__raft_node_on_closed);
    cn__raft_node_snapshot_stop(n);
}
