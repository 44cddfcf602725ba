/* server/leader.c - what only the leader does, driven by its timers.
 *
 * - Session TTLs (Consul's agent/consul/session_ttl.go): every session
 *   with a TTL expires TTL x 2 after its creation or last renewal; the
 *   leader then proposes SESSION_DESTROY (which releases or deletes its
 *   locks and starts their lock delays at the leader's clock). Renewals
 *   are not Raft writes, so a new leader starts every TTL over. The table
 *   follows the sessions table through a state watch (mark and sweep).
 * - KV tombstone reaping (Consul's tombstone GC, TombstoneTTL 15 min):
 *   once a minute the leader samples the KV table index; a sample older
 *   than 15 minutes is reaped with one TOMBSTONE_REAP entry, and only if
 *   KV changed since the last reap.
 * Lock-delay enforcement happens where acquires are proposed (kvs.c).
 */
#include <errno.h>
#include <stdio.h>

#include "server_int.h"

#define TOMBSTONE_TTL_MS (15 * 60 * 1000)
#define REAP_SAMPLE_MS (60 * 1000)
#define REAP_SAMPLES (TOMBSTONE_TTL_MS / REAP_SAMPLE_MS + 1)

struct cn__leader {
    struct cn_server *srv;
    bool leading;
    struct cn__ttl_table ttl;
    uv_timer_t ttl_timer;
    uv_timer_t reap_timer;
    struct cn_watch sess_watch;
    uint64_t samples[REAP_SAMPLES]; /* KV table index, one per minute. */
    unsigned n_samples, next_sample;
    uint64_t last_reap_index;
    uint64_t expired;               /* Sessions destroyed by TTL. */
    int closing_handles;
};

static uint64_t now_ms(struct cn__leader *l)
{
    return uv_now(l->srv->loop);
}

static void arm_ttl_timer(struct cn__leader *l);

static void propose(struct cn__leader *l, const struct cn_buf *cmd, const char *what)
{
    int rc = cn_raft_node_propose(l->srv->raft, cmd->data, cmd->len, NULL, NULL, NULL);
    if (rc < 0)
        CN_WARN("leader: could not propose %s: %s", what, cn_strerror(rc));
}

static void on_ttl_timer(uv_timer_t *t)
{
    struct cn__leader *l = t->data;
    char id[CN_SESSION_ID_BYTES + 1];
    struct cn_buf cmd;
    if (!l->leading || !cn_server_is_leader(l->srv))
        return;
    cn_buf_init(&cmd, 4096);
    while (cn__ttl_pop_expired(&l->ttl, now_ms(l), id)) {
        cn_buf_reset(&cmd);
        if (cn_state_cmd_session_destroy(&cmd, id, cn_time_wall_ms()) < 0)
            continue;
        CN_INFO("leader: session %s expired (TTL not renewed)", id);
        l->expired++;
        propose(l, &cmd, "session expiry");
    }
    cn_buf_close(&cmd);
    arm_ttl_timer(l);
}

static void arm_ttl_timer(struct cn__leader *l)
{
    uint64_t next = cn__ttl_next(&l->ttl), now = now_ms(l);
    if (!l->leading || next == 0) {
        uv_timer_stop(&l->ttl_timer);
        return;
    }
    uv_timer_start(&l->ttl_timer, on_ttl_timer, next > now ? next - now : 0, 0);
}

struct sync_ctx {
    struct cn__leader *l;
    int rc;
};

static int visit_session(void *ctx, const struct cn_session *s)
{
    struct sync_ctx *x = ctx;
    uint64_t ttl_ms;
    if (cn__ttl_ms(s->ttl, &ttl_ms) < 0)
        return 0;
    if (cn__ttl_has(&x->l->ttl, s->id)) {
        cn__ttl_mark(&x->l->ttl, s->id);
        return 0;
    }
    /* New to this leader: created now, or we just took over. */
    int rc = cn__ttl_set(&x->l->ttl, s->id,
                         now_ms(x->l) + ttl_ms * CN_SESSION_TTL_MULTIPLIER);
    if (rc < 0)
        x->rc = rc;
    return 0;
}

static void on_sessions_changed(struct cn_watch *w);

/* Brings the TTL table in line with the sessions table. */
static void sync_sessions(struct cn__leader *l)
{
    struct sync_ctx x = {l, 0};
    cn__ttl_begin_mark(&l->ttl);
    cn_state_sessions_list(l->srv->state, visit_session, &x);
    cn__ttl_sweep(&l->ttl);
    if (x.rc < 0)
        CN_WARN("leader: session TTL table: %s", cn_strerror(x.rc));
    l->sess_watch.fn = on_sessions_changed;
    l->sess_watch.ctx = l;
    if (cn_state_watch_table(l->srv->state, &l->sess_watch, CN_TABLE_SESSIONS) < 0)
        CN_WARN("leader: cannot watch sessions; TTLs follow on the next change");
    arm_ttl_timer(l);
}

static void on_sessions_changed(struct cn_watch *w)
{
    struct cn__leader *l = w->ctx;
    if (l->leading)
        sync_sessions(l);
}

void cn__leader_session_renewed(struct cn_server *s, const struct cn_session *sess)
{
    struct cn__leader *l = s->leader;
    uint64_t ttl_ms;
    if (!l || !l->leading || cn__ttl_ms(sess->ttl, &ttl_ms) < 0)
        return;
    if (cn__ttl_set(&l->ttl, sess->id, now_ms(l) + ttl_ms * CN_SESSION_TTL_MULTIPLIER) == 0)
        arm_ttl_timer(l);
}

/* ---- tombstones ---- */

static void on_reap_timer(uv_timer_t *t)
{
    struct cn__leader *l = t->data;
    struct cn_buf cmd;
    uint64_t oldest;
    if (!l->leading || !cn_server_is_leader(l->srv))
        return;
    l->samples[l->next_sample] = cn_state_kv_table_index(l->srv->state);
    l->next_sample = (l->next_sample + 1) % REAP_SAMPLES;
    if (l->n_samples < REAP_SAMPLES) {
        l->n_samples++;
        return;
    }
    /* The slot about to be overwritten holds the oldest sample. */
    oldest = l->samples[l->next_sample];
    if (oldest <= l->last_reap_index)
        return;
    cn_buf_init(&cmd, 64);
    if (cn_state_cmd_tombstone_reap(&cmd, oldest) == 0) {
        propose(l, &cmd, "tombstone reap");
        l->last_reap_index = oldest;
    }
    cn_buf_close(&cmd);
}

/* ---- life cycle ---- */

static void start(struct cn__leader *l)
{
    l->leading = true;
    l->n_samples = l->next_sample = 0;
    cn__ttl_close(&l->ttl); /* Every TTL starts over (Consul's resetSessionTimers). */
    sync_sessions(l);
    uv_timer_start(&l->reap_timer, on_reap_timer, REAP_SAMPLE_MS, REAP_SAMPLE_MS);
    CN_INFO("leader: duties started (%zu TTL sessions)", cn__ttl_count(&l->ttl));
}

static void stop(struct cn__leader *l)
{
    l->leading = false;
    cn_state_watch_cancel(l->srv->state, &l->sess_watch);
    uv_timer_stop(&l->ttl_timer);
    uv_timer_stop(&l->reap_timer);
    cn__ttl_close(&l->ttl);
}

void cn__leader_changed(struct cn_server *s)
{
    struct cn__leader *l = s->leader;
    bool lead = cn_server_is_leader(s) && !s->closing;
    if (!l || lead == l->leading)
        return;
    if (lead)
        start(l);
    else
        stop(l);
}

int cn__leader_init(struct cn_server *s)
{
    struct cn__leader *l = cn_calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->srv = s;
    cn__ttl_init(&l->ttl);
    uv_timer_init(s->loop, &l->ttl_timer);
    uv_timer_init(s->loop, &l->reap_timer);
    l->ttl_timer.data = l->reap_timer.data = l;
    s->leader = l;
    return 0;
}

static void on_leader_timer_closed(uv_handle_t *h)
{
    struct cn__leader *l = h->data;
    struct cn_server *s = l->srv;
    if (--l->closing_handles == 0) /* Close callbacks come in any order. */
        cn_free(l);
    s->open_handles--;
    cn__server_maybe_closed(s);
}

void cn__leader_close(struct cn_server *s)
{
    struct cn__leader *l = s->leader;
    if (!l)
        return;
    stop(l);
    s->leader = NULL;
    s->open_handles += 2;
    l->closing_handles = 2;
    uv_close((uv_handle_t *)&l->ttl_timer, on_leader_timer_closed);
    uv_close((uv_handle_t *)&l->reap_timer, on_leader_timer_closed);
}
