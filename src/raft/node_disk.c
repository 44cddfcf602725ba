/* raft/node_disk.c - the shell's disk side: recovery, the writer thread
 * (group commit), forked snapshots and log compaction. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node_int.h"

#define SNAP_POLL_MS 20

/* ---- recovery ---- */

struct collect {
    struct cn_raft_entry *v;
    size_t n, cap;
    struct cn_buf data;      /* Entry bytes, back to back. */
};

static int collect_entry(void *ctx, const struct cn_wal_entry *e)
{
    struct collect *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 1024;
        struct cn_raft_entry *nv = cn_realloc(c->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        c->v = nv;
        c->cap = nc;
    }
    /* data holds offsets until the buffer stops moving. */
    c->v[c->n] = (struct cn_raft_entry){.index = e->index, .term = e->term, .kind = e->kind,
                                        .len = (uint32_t)e->len,
                                        .data = (uint8_t *)(uintptr_t)c->data.len};
    if (cn_buf_append(&c->data, e->data, e->len) < 0)
        return -ENOMEM;
    c->n++;
    return 0;
}

static int recover_disk(struct cn_raft_node *n, struct cn_raft_config *rc_cfg, char *errmsg)
{
    struct cn_wal_config wc = {0};
    struct cn_wal_recovered rec;
    struct cn_snap_meta sm;
    struct cn_raft_conf conf;
    struct cn_raft_restore rs;
    struct collect c = {0};
    int rc;

    memset(&rs, 0, sizeof rs);
    cn_buf_init(&c.data, (size_t)1 << 40);
    rc = cn_snap_load_latest(n->cfg.data_dir, &n->snap_map, &sm, errmsg);
    if (rc == 0) {
        if (cn_raft_conf_decode(sm.conf, sm.conf_len, &conf) < 0) {
            rc = cn_errf_rc(errmsg, CN_ECORRUPT, "snapshot %llu: bad configuration",
                            (unsigned long long)sm.index);
            goto out;
        }
        rc = n->cfg.fsm.restore(n->cfg.fsm.ctx, sm.data, sm.data_len);
        if (rc < 0) {
            cn_errf_rc(errmsg, rc, "restore snapshot %llu", (unsigned long long)sm.index);
            goto out;
        }
        rs.snap_index = sm.index;
        rs.snap_term = sm.term;
        rs.snap_conf = &conf;
        rs.snap_data = sm.data;
        rs.snap_len = sm.data_len;
        n->snap_index = n->applied = sm.index;
        n->applied_term = sm.term;
        n->applied_conf = conf;
    } else if (rc != CN_ENOTFOUND) {
        goto out;
    }
    rc = cn_wal_open(&n->wal, n->cfg.data_dir, &wc, collect_entry, &c, &rec, errmsg);
    if (rc < 0)
        goto out;
    if (rec.torn_bytes)
        CN_WARN("raft: cut a torn WAL tail of %llu bytes (an unacknowledged write)",
                (unsigned long long)rec.torn_bytes);
    for (size_t i = 0; i < c.n; i++)
        c.v[i].data = c.data.data + (uintptr_t)c.v[i].data;
    /* Entries wholly behind the snapshot are not needed by the core. */
    size_t skip = 0;
    while (skip < c.n && c.v[skip].index < rs.snap_index)
        skip++;
    rs.term = rec.term;
    rs.vote = rec.vote;
    rs.entries = c.v + skip;
    rs.n_entries = c.n - skip;
    rc = cn_raft_new(&n->core, rc_cfg, &rs);
    if (rc < 0)
        cn_errf_rc(errmsg, rc, "raft state in %s is inconsistent", n->cfg.data_dir);
    else
        CN_INFO("raft: recovered term=%llu vote=%llx snapshot=%llu log=%llu..%llu",
                (unsigned long long)rec.term, (unsigned long long)rec.vote,
                (unsigned long long)rs.snap_index, (unsigned long long)rec.first_index,
                (unsigned long long)rec.last_index);
out:
    cn_free(c.v);
    cn_buf_close(&c.data);
    if (rc < 0) {
        cn_wal_close(n->wal);
        n->wal = NULL;
        cn_snap_release(n->snap_map);
        n->snap_map = NULL;
    }
    return rc;
}

static void *writer_main(void *arg);
static void on_writer_done(uv_async_t *a);

int cn__raft_node_recover(struct cn_raft_node *n, char *errmsg)
{
    struct cn_raft_config rc_cfg = {
        .id = n->cfg.id, .election_ticks = n->cfg.election_ticks,
        .heartbeat_ticks = n->cfg.heartbeat_ticks, .seed = n->cfg.seed,
        .logger = cn_log_process(),
    };
    int rc;
    cn_buf_init(&n->snap_mem, (size_t)1 << 40);
    cn_buf_init(&n->snap_mem_old, (size_t)1 << 40);
    if (!n->cfg.data_dir) {
        rc = cn_raft_new(&n->core, &rc_cfg, NULL);
        return rc < 0 ? cn_errf_rc(errmsg, rc, "raft core") : 0;
    }
    rc = recover_disk(n, &rc_cfg, errmsg);
    if (rc < 0)
        return rc;
    pthread_mutex_init(&n->wr.mu, NULL);
    pthread_cond_init(&n->wr.cv, NULL);
    cn_buf_init(&n->wr.conf_bytes, CN_SNAP_CONF_BYTES_MAX);
    uv_async_init(n->loop, &n->wr.done, on_writer_done);
    n->wr.done.data = n;
    n->handles++;
    n->wr.running = true;
    if ((rc = pthread_create(&n->wr.thread, NULL, writer_main, n)) != 0) {
        n->wr.running = false;
        return cn_errf_rc(errmsg, -rc, "start the WAL writer thread");
    }
    return 0;
}

/* ---- the writer thread ---- */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Step 2 of the contract: snapshot, then log change, then hard state;
 * one fdatasync covers the log. Runs on the writer thread; the loop
 * thread does not touch the core or the WAL meanwhile. */
static int persist(struct cn_raft_node *n, const struct cn_raft_ready *rd, char *errmsg)
{
    struct writer *wr = &n->wr;
    int rc;
    if (rd->snapshot) {
        struct cn_snap_writer *sw;
        cn_buf_reset(&wr->conf_bytes);
        if ((rc = cn_raft_conf_encode(&rd->snapshot->conf, &wr->conf_bytes)) < 0)
            return cn_errf_rc(errmsg, rc, "encode snapshot configuration");
        rc = cn_snap_begin(&sw, n->cfg.data_dir, rd->snapshot->index, rd->snapshot->term,
                           wr->conf_bytes.data, wr->conf_bytes.len, rd->snapshot->len, errmsg);
        if (rc == 0 && (rc = cn_snap_write(sw, rd->snapshot->data, rd->snapshot->len, errmsg)) < 0)
            cn_snap_abort(sw);
        else if (rc == 0)
            rc = cn_snap_commit(sw, true, errmsg);
        if (rc < 0 || (rc = cn_wal_reset(n->wal, errmsg)) < 0)
            return rc;
    }
    if (rd->n_entries) {
        uint64_t first = rd->entries[0].index;
        struct cn_wal_entry we[64];
        if (cn_wal_last_index(n->wal) >= first &&
            (rc = cn_wal_truncate_after(n->wal, first - 1, errmsg)) < 0)
            return rc;
        for (size_t i = 0; i < rd->n_entries;) {
            size_t k = 0;
            for (; k < CN_ARRAY_LEN(we) && i + k < rd->n_entries; k++) {
                const struct cn_raft_entry *e = &rd->entries[i + k];
                we[k] = (struct cn_wal_entry){.index = e->index, .term = e->term,
                                              .kind = e->kind, .data = e->data, .len = e->len};
            }
            if ((rc = cn_wal_append(n->wal, we, k, errmsg)) < 0)
                return rc;
            i += k;
        }
        n->stats.pub.entries_persisted += rd->n_entries;
    }
    if ((rc = cn_wal_sync(n->wal, errmsg)) < 0)
        return rc;
    n->stats.pub.fsyncs++;
    if (rd->hs_changed && (rc = cn_wal_set_meta(n->wal, rd->term, rd->vote, errmsg)) < 0)
        return rc;
    return 0;
}

static void *writer_main(void *arg)
{
    struct cn_raft_node *n = arg;
    struct writer *wr = &n->wr;
    sigset_t all;
    sigfillset(&all); /* Signals go to the loop thread. */
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        bool job;
        uint64_t compact;
        pthread_mutex_lock(&wr->mu);
        while (!wr->quit && !wr->has_job && !wr->compact_up_to)
            pthread_cond_wait(&wr->cv, &wr->mu);
        job = wr->has_job;
        compact = wr->compact_up_to;
        wr->compact_up_to = 0;
        if (wr->quit && !job) {
            pthread_mutex_unlock(&wr->mu);
            break;
        }
        pthread_mutex_unlock(&wr->mu);
        if (job) {
            uint64_t t0 = now_us();
            wr->rc = persist(n, &n->rd, wr->errmsg);
            wr->sync_us = now_us() - t0;
        }
        if (compact) {
            char err[CN_ERRMSG_MAX];
            if (cn_wal_compact(n->wal, compact, err) < 0)
                CN_WARN("raft: log compaction: %s", err); /* Retried next snapshot. */
        }
        if (job) {
            pthread_mutex_lock(&wr->mu);
            wr->has_job = false;
            pthread_mutex_unlock(&wr->mu);
            uv_async_send(&wr->done);
        }
    }
    return NULL;
}

void cn__raft_node_writer_submit(struct cn_raft_node *n)
{
    pthread_mutex_lock(&n->wr.mu);
    CN_ASSERT(!n->wr.has_job);
    n->wr.has_job = true;
    pthread_cond_signal(&n->wr.cv);
    pthread_mutex_unlock(&n->wr.mu);
}

static void on_writer_done(uv_async_t *a)
{
    struct cn_raft_node *n = a->data;
    bool done;
    pthread_mutex_lock(&n->wr.mu);
    done = !n->wr.has_job;
    pthread_mutex_unlock(&n->wr.mu);
    if (!done || !n->busy || n->stopping)
        return;
    n->stats.pub.sync_us_last = n->wr.sync_us;
    if (n->wr.sync_us > n->stats.pub.sync_us_max)
        n->stats.pub.sync_us_max = n->wr.sync_us;
    cn__raft_node_batch_synced(n, n->wr.rc, n->wr.errmsg);
}

static void request_compaction(struct cn_raft_node *n, uint64_t up_to)
{
    if (!n->wal || !n->wr.running || up_to == 0)
        return;
    pthread_mutex_lock(&n->wr.mu);
    n->wr.compact_up_to = up_to;
    pthread_cond_signal(&n->wr.cv);
    pthread_mutex_unlock(&n->wr.mu);
}

void cn__raft_node_writer_stop(struct cn_raft_node *n)
{
    if (!n->wr.running)
        return;
    pthread_mutex_lock(&n->wr.mu);
    n->wr.quit = true;
    pthread_cond_signal(&n->wr.cv);
    pthread_mutex_unlock(&n->wr.mu);
    pthread_join(n->wr.thread, NULL); /* A batch in flight completes first. */
    n->wr.running = false;
    uv_close((uv_handle_t *)&n->wr.done, cn__raft_node_on_closed);
}

/* ---- snapshots ---- */

/* A lone in-memory server (-dev) compacts without an image, so cheaply:
 * often, and keeping no trailing entries (there is no follower to feed). */
static uint64_t threshold(const struct cn_raft_node *n)
{
    if (n->cfg.single_in_memory)
        return 1024;
    return n->cfg.snapshot_threshold ? n->cfg.snapshot_threshold : 16384;
}

static uint64_t trailing(const struct cn_raft_node *n)
{
    if (n->cfg.single_in_memory)
        return 1;
    return n->cfg.trailing_logs ? n->cfg.trailing_logs : 10240;
}

static int buf_write(void *ctx, const void *p, size_t len)
{
    return cn_buf_append(ctx, p, len);
}

/* Hands a snapshot's bytes to the core, which then trims its log. */
static void compact_core(struct cn_raft_node *n, uint64_t index, const uint8_t *data,
                         size_t len)
{
    int rc = cn_raft_compact(n->core, index, data, len, trailing(n));
    if (rc < 0) {
        CN_WARN("raft: compacting at %llu: %s", (unsigned long long)index, cn_strerror(rc));
        return;
    }
    n->snap_index = index;
    n->stats.pub.snapshots_taken++;
    if (index > trailing(n))
        request_compaction(n, index - trailing(n));
    /* The core just freed the log prefix (often most of the heap's
     * recent growth): hand the free pages back to the kernel. */
    malloc_trim(0);
}

static void snapshot_in_memory(struct cn_raft_node *n)
{
    struct cn_buf tmp;
    if (n->cfg.single_in_memory) {
        compact_core(n, n->applied, NULL, 0);
        return;
    }
    tmp = n->snap_mem_old;
    n->snap_mem_old = n->snap_mem;
    n->snap_mem = tmp;
    cn_buf_reset(&n->snap_mem);
    if (n->cfg.fsm.snapshot(n->cfg.fsm.ctx, buf_write, &n->snap_mem) < 0) {
        CN_WARN("raft: in-memory snapshot failed");
        return;
    }
    compact_core(n, n->applied, n->snap_mem.data, n->snap_mem.len);
    cn_buf_close(&n->snap_mem_old); /* The core let go of it. */
    cn_buf_init(&n->snap_mem_old, (size_t)1 << 40);
}

/* The child: serialise the state (a frozen copy-on-write image of the
 * parent's memory) and write the snapshot file. Never returns. */
static void snapshot_child(struct cn_raft_node *n, uint64_t index, uint64_t term,
                           const struct cn_buf *conf)
{
    struct cn_buf data;
    struct cn_snap_writer *sw;
    char err[CN_ERRMSG_MAX];
    int rc;
    cn_buf_init(&data, (size_t)1 << 40);
    rc = n->cfg.fsm.snapshot(n->cfg.fsm.ctx, buf_write, &data);
    if (rc == 0)
        rc = cn_snap_begin(&sw, n->cfg.data_dir, index, term, conf->data, conf->len, data.len,
                           err);
    if (rc == 0 && (rc = cn_snap_write(sw, data.data, data.len, err)) < 0)
        cn_snap_abort(sw);
    else if (rc == 0)
        rc = cn_snap_commit(sw, true, err);
    _exit(rc == 0 ? 0 : 1);
}

static void on_snap_poll(uv_timer_t *t)
{
    struct cn_raft_node *n = t->data;
    struct cn_snap_loaded *l;
    struct cn_snap_meta m;
    char err[CN_ERRMSG_MAX];
    int status;
    pid_t r = waitpid(n->snap_pid, &status, WNOHANG);

    if (r == 0)
        return; /* Still writing. */
    uv_timer_stop(t);
    n->snap_pid = 0;
    if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        CN_WARN("raft: snapshot child failed; will retry");
        return;
    }
    if (n->busy || n->stopping) {
        /* The core may not be touched now; the next check retries (the
         * file stays and is picked up, or a newer one replaces it). */
        n->last_snap_check_ms = 0;
        return;
    }
    if (cn_snap_load_latest(n->cfg.data_dir, &l, &m, err) < 0) {
        CN_WARN("raft: cannot read the new snapshot: %s", err);
        return;
    }
    if (m.index != n->snap_pending_index) {
        cn_snap_release(l);
        return;
    }
    compact_core(n, m.index, m.data, m.data_len);
    cn_snap_release(n->snap_map); /* The core let go of the old one. */
    n->snap_map = l;
    CN_INFO("raft: snapshot at index %llu (%zu bytes)", (unsigned long long)m.index, m.data_len);
}

void cn__raft_node_maybe_snapshot(struct cn_raft_node *n)
{
    uint64_t now = uv_now(n->loop), interval;
    struct cn_buf conf;
    pid_t pid;

    if (n->busy || n->stopping || n->snap_pid || n->applied < n->snap_index + threshold(n))
        return;
    interval = n->cfg.snapshot_interval_ms ? n->cfg.snapshot_interval_ms : 5000;
    if (n->cfg.single_in_memory)
        interval = 0;
    if (n->last_snap_check_ms && now - n->last_snap_check_ms < interval)
        return;
    n->last_snap_check_ms = now;
    if (!n->wal) {
        snapshot_in_memory(n);
        return;
    }
    cn_buf_init(&conf, CN_SNAP_CONF_BYTES_MAX);
    if (cn_raft_conf_encode(&n->applied_conf, &conf) < 0) {
        cn_buf_close(&conf);
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        snapshot_child(n, n->applied, n->applied_term, &conf);
    cn_buf_close(&conf);
    if (pid < 0) {
        CN_WARN("raft: fork for a snapshot: %s", strerror(errno));
        return;
    }
    n->snap_pid = pid;
    n->snap_pending_index = n->applied;
    n->snap_pending_term = n->applied_term;
    if (!n->snap_timer_open) {
        uv_timer_init(n->loop, &n->snap_timer);
        n->snap_timer.data = n;
        n->snap_timer_open = true;
        n->handles++;
    }
    uv_timer_start(&n->snap_timer, on_snap_poll, SNAP_POLL_MS, SNAP_POLL_MS);
}

void cn__raft_node_snapshot_installed(struct cn_raft_node *n)
{
    /* The core now holds the leader's snapshot; ours are free. */
    cn_snap_release(n->snap_map);
    n->snap_map = NULL;
    cn_buf_close(&n->snap_mem);
    cn_buf_init(&n->snap_mem, (size_t)1 << 40);
    n->last_snap_check_ms = uv_now(n->loop);
}

void cn__raft_node_snapshot_stop(struct cn_raft_node *n)
{
    if (n->snap_pid) {
        kill(n->snap_pid, SIGKILL);
        waitpid(n->snap_pid, NULL, 0);
        n->snap_pid = 0;
    }
    if (n->snap_timer_open) {
        n->snap_timer_open = false;
        uv_close((uv_handle_t *)&n->snap_timer, cn__raft_node_on_closed);
    }
}

void cn__raft_node_free(struct cn_raft_node *n)
{
    struct input *in;
    cn_raft_free(n->core);
    cn_wal_close(n->wal);
    cn_snap_release(n->snap_map);
    cn_buf_close(&n->snap_mem);
    cn_buf_close(&n->snap_mem_old);
    cn_buf_close(&n->encode);
    cn_buf_close(&n->reply);
    cn_buf_close(&n->wr.conf_bytes);
    while ((in = n->q_head) != NULL) {
        n->q_head = in->next;
        cn_free(in);
    }
    cn_map_close(&n->waiters);
    if (n->cfg.data_dir) {
        pthread_mutex_destroy(&n->wr.mu);
        pthread_cond_destroy(&n->wr.cv);
    }
    cn_free(n);
}
