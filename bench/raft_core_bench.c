/* bench/raft_core_bench.c - committed entries per second through the pure
 * Raft core: a 3-node cluster in one thread, messages handed from core to
 * core in memory (no codec, no disk), proposals batched per loop turn.
 * This bounds what the core itself costs; the shell adds the WAL and the
 * transport on top.
 *
 *   raft_core_bench [seconds] [batch] [payload bytes]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "raft/raft.h"

#define NODES 3

#define COMPACT_EVERY 65536

static struct cn_raft *nodes[NODES];
static uint64_t applied[NODES], compacted[NODES];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void deliver(const struct cn_raft_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = cn_raft_step(nodes[m[i].to - 1], &m[i]);
        if (rc < 0) {
            fprintf(stderr, "step: %s\n", cn_strerror(rc));
            exit(1);
        }
    }
}

/* One shell loop turn for every node: ready, "persist" (nothing), send,
 * apply, advance. Messages go straight into the receiver's step while the
 * sender's batch (which owns the entries they point at) is still open. */
static void pump(void)
{
    for (int i = 0; i < NODES; i++) {
        struct cn_raft_ready rd;
        if (!cn_raft_has_ready(nodes[i]))
            continue;
        if (cn_raft_ready(nodes[i], &rd) < 0)
            exit(1);
        deliver(rd.msgs_now, rd.n_msgs_now);
        deliver(rd.msgs, rd.n_msgs);
        applied[i] += rd.n_committed;
        cn_raft_advance(nodes[i], &rd);
        /* Steady state: the application snapshots now and then (an empty
         * image here) and the log is trimmed, as in a real server. */
        if (applied[i] - compacted[i] >= COMPACT_EVERY) {
            if (cn_raft_compact(nodes[i], applied[i], NULL, 0, 0) < 0)
                exit(1);
            compacted[i] = applied[i];
        }
    }
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    int batch = argc > 2 ? atoi(argv[2]) : 1024;
    int payload = argc > 3 ? atoi(argv[3]) : 16;
    struct cn_raft_conf conf;
    uint8_t data[4096];
    uint64_t proposed = 0, cookie = 1, start_applied;
    double t0, t1;
    int leader = -1;

    if (secs <= 0 || batch < 1 || payload < 0 || payload > (int)sizeof data)
        return 2;
    memset(data, 0xab, sizeof data);
    memset(&conf, 0, sizeof conf);
    conf.n = NODES;
    for (int i = 0; i < NODES; i++) {
        conf.members[i].id = (uint64_t)i + 1;
        conf.members[i].role = CN_RAFT_VOTER;
    }
    for (int i = 0; i < NODES; i++) {
        struct cn_raft_config c = {
            .id = (uint64_t)i + 1, .seed = 42, .max_msg_entries = 4096,
            .max_msg_bytes = 4u << 20, .inflight_max = 256,
            .uncommitted_bytes_max = 1ull << 30,
        };
        if (cn_raft_new(&nodes[i], &c, NULL) < 0 ||
            cn_raft_bootstrap(nodes[i], &conf) < 0)
            return 1;
    }
    for (int t = 0; t < 1000 && leader < 0; t++) {
        cn_raft_tick(nodes[0]);
        pump();
        for (int i = 0; i < NODES; i++) {
            struct cn_raft_status st;
            cn_raft_status(nodes[i], &st);
            if (st.role == CN_RAFT_LEADER && st.commit >= st.last_index)
                leader = i;
        }
    }
    if (leader < 0) {
        fprintf(stderr, "no leader\n");
        return 1;
    }
    for (int k = 0; k < 4; k++) /* Hand out the no-op before counting. */
        pump();
    start_applied = applied[leader];
    t0 = now_s();
    do {
        for (int k = 0; k < 16; k++) {
            for (int b = 0; b < batch; b++) {
                if (cn_raft_propose(nodes[leader], data, (size_t)payload,
                                    cookie++, NULL) < 0)
                    break;
                proposed++;
            }
            pump();
        }
        t1 = now_s();
    } while (t1 - t0 < secs);
    for (int k = 0; k < 8; k++)
        pump();
    t1 = now_s();
    printf("raft_core_bench: 3 nodes in memory, batch %d, payload %d B: "
           "%llu committed in %.2f s = %.0f entries/s\n", batch, payload,
           (unsigned long long)(applied[leader] - start_applied), t1 - t0,
           (double)(applied[leader] - start_applied) / (t1 - t0));
    /* Every proposal committed, and the followers applied them too (a
     * heartbeat carries the last commit index to them). */
    cn_raft_tick(nodes[leader]);
    for (int k = 0; k < 4; k++)
        pump();
    for (int i = 0; i < NODES; i++) {
        if (applied[i] != applied[leader] ||
            applied[leader] - start_applied != proposed) {
            fprintf(stderr, "node %d applied %llu, leader %llu, proposed %llu\n",
                    i + 1, (unsigned long long)applied[i],
                    (unsigned long long)applied[leader],
                    (unsigned long long)proposed);
            return 1;
        }
    }
    for (int i = 0; i < NODES; i++)
        cn_raft_free(nodes[i]);
    return 0;
}
