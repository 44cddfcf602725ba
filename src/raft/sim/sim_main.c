/* raft/sim/sim_main.c - raft_sim: replay one seed or run a campaign.
 *
 *   raft_sim --seed N [--trace]       one run; --trace prints every event
 *   raft_sim --seeds N [--first S]    seeds S .. S+N-1 (cluster size from
 *                                     the seed: 3, 5, 7 in turn)
 *   --nodes K          force the cluster size (3..7)
 *   --mutant NAME      plant a bug (raft_sim_mutant only)
 *   --expect-fail      succeed iff some seed fails (mutant tests)
 *   --quiet            only the summary line
 *   --determinism N    run seeds 1..N twice each with the full trace
 *                      fingerprinted: replays must be identical
 * A failing seed prints its violation, the last trace lines of a replay,
 * and the command that replays it exactly.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

void sim_trace_dump(FILE *f);

static const struct {
    const char *name;
    unsigned bit;
} mutants[] = {
    {"commit_old_term", CN_MUT_COMMIT_OLD_TERM},
    {"double_vote", CN_MUT_DOUBLE_VOTE},
    {"send_unsynced", CN_MUT_SEND_UNSYNCED},
    {"read_no_quorum", CN_MUT_READ_NO_QUORUM},
    {"vote_any_log", CN_MUT_VOTE_ANY_LOG},
    {"no_prev_check", CN_MUT_NO_PREV_CHECK},
    {"conf_early", CN_MUT_CONF_EARLY},
};

static uint64_t cur_seed;
static uint32_t opt_nodes;
static const char *opt_mutant;
static bool opt_expect_fail;
static const char *argv0;

static void replay_hint(FILE *f, uint64_t seed)
{
    fprintf(f, "replay: %s --seed %llu --trace", argv0,
            (unsigned long long)seed);
    if (opt_nodes)
        fprintf(f, " --nodes %u", opt_nodes);
    if (opt_mutant)
        fprintf(f, " --mutant %s", opt_mutant);
    if (!opt_nodes && !opt_mutant)
        fprintf(f, "   (or: make sim SEED=%llu)", (unsigned long long)seed);
    fprintf(f, "\n");
}

/* A core assertion aborts the process: say which seed did it. */
static void on_abort(int sig)
{
    (void)sig;
    fprintf(stderr, "seed %llu: the core hit an assertion\n",
            (unsigned long long)cur_seed);
    replay_hint(stderr, cur_seed);
    if (opt_expect_fail) {
        fprintf(stderr, "mutant %s caught (core assertion) at seed %llu\n",
                opt_mutant ? opt_mutant : "-", (unsigned long long)cur_seed);
        _exit(0);
    }
    _exit(2);
}

static int usage(void)
{
    fprintf(stderr, "usage: raft_sim (--seed N [--trace] | --seeds N "
            "[--first S] | --determinism N) [--nodes K] [--mutant NAME] "
            "[--expect-fail] [--quiet]\nmutants:");
    for (size_t i = 0; i < CN_ARRAY_LEN(mutants); i++)
        fprintf(stderr, " %s", mutants[i].name);
    fprintf(stderr, "\n");
    return 2;
}

static int set_mutant(const char *name)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(mutants); i++) {
        if (strcmp(name, mutants[i].name) == 0) {
#ifdef CN_RAFT_MUTANTS
            cn__raft_mutants |= mutants[i].bit;
            return 0;
#else
            fprintf(stderr, "--mutant needs raft_sim_mutant (this build has "
                    "no planted bugs)\n");
            return -1;
#endif
        }
    }
    fprintf(stderr, "unknown mutant %s\n", name);
    return -1;
}

static uint64_t last_hash;

static int run_one(uint64_t seed, int trace, struct sim *out_stats)
{
    struct sim *s = malloc(sizeof *s);
    int rc;

    CN_ASSERT(s);
    cur_seed = seed;
    sim_init(s, seed, opt_nodes, trace);
    s->trace = trace;
    rc = sim_run(s);
    if (rc && trace != 1)
        fprintf(stderr, "FAIL seed %llu (nodes %u): %s\n",
                (unsigned long long)seed, s->p.nodes, s->violation);
    if (rc && trace == 1)
        printf("FAIL seed %llu: %s\n", (unsigned long long)seed, s->violation);
    sim_close(s); /* Folds the cores' own counters in. */
    if (out_stats) {
        out_stats->n_msgs += s->n_msgs;
        out_stats->n_dropped += s->n_dropped;
        out_stats->n_crashes += s->n_crashes;
        out_stats->n_parts += s->n_parts;
        out_stats->n_acked += s->n_acked;
        out_stats->n_reads_ok += s->n_reads_ok;
        out_stats->n_failed += s->n_failed;
        out_stats->n_confs += s->n_confs;
        out_stats->n_transfers += s->n_transfers;
        out_stats->n_snaps += s->n_snaps;
        out_stats->n_elections += s->n_elections;
        out_stats->n_installs += s->n_installs;
        out_stats->n_malformed += s->n_malformed;
        out_stats->n_lease_drops += s->n_lease_drops;
    }
    last_hash = s->trace_hash ^ s->now;
    free(s);
    return rc;
}

static int determinism(uint64_t n)
{
    for (uint64_t seed = 1; seed <= n; seed++) {
        uint64_t h1, h2;
        run_one(seed, 3, NULL);
        h1 = last_hash;
        run_one(seed, 3, NULL);
        h2 = last_hash;
        if (h1 != h2 || h1 == 0) {
            printf("seed %llu does not replay identically\n",
                   (unsigned long long)seed);
            return 1;
        }
    }
    printf("raft_sim: %llu seeds replayed identically\n", (unsigned long long)n);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int campaign(uint64_t first, uint64_t count, bool quiet)
{
    struct sim tot;
    double t0 = now_s();
    uint64_t done = 0, failed = 0;

    memset(&tot, 0, sizeof tot);
    for (uint64_t seed = first; seed < first + count; seed++) {
        int rc = run_one(seed, 0, &tot);
        done++;
        if (rc) {
            failed++;
            fprintf(stderr, "--- last trace lines of seed %llu ---\n",
                    (unsigned long long)seed);
            run_one(seed, 2, NULL);
            sim_trace_dump(stderr);
            replay_hint(stderr, seed);
            break;
        }
        if (!quiet && done % 10000 == 0)
            fprintf(stderr, "... %llu seeds, %.1f s\n",
                    (unsigned long long)done, now_s() - t0);
    }
    printf("raft_sim: %llu seeds from %llu%s%s: %llu failed, %.1f s "
           "(elections %llu, acked %llu, reads %llu, failed-requests %llu, "
           "crashes %llu, partitions %llu, conf changes %llu, transfers %llu, "
           "snapshots %llu, installs %llu, messages %llu, dropped %llu, "
           "lease-ignored votes %llu, malformed %llu)\n",
           (unsigned long long)done, (unsigned long long)first,
           opt_mutant ? ", mutant " : "", opt_mutant ? opt_mutant : "",
           (unsigned long long)failed, now_s() - t0,
           (unsigned long long)tot.n_elections, (unsigned long long)tot.n_acked,
           (unsigned long long)tot.n_reads_ok, (unsigned long long)tot.n_failed,
           (unsigned long long)tot.n_crashes, (unsigned long long)tot.n_parts,
           (unsigned long long)tot.n_confs, (unsigned long long)tot.n_transfers,
           (unsigned long long)tot.n_snaps, (unsigned long long)tot.n_installs,
           (unsigned long long)tot.n_msgs, (unsigned long long)tot.n_dropped,
           (unsigned long long)tot.n_lease_drops,
           (unsigned long long)tot.n_malformed);
#ifdef CN_RAFT_MUTANTS
    if (opt_mutant)
        printf("mutant %s acted %lu times\n", opt_mutant, cn__raft_mutant_hits);
#endif
    if (opt_expect_fail) {
        if (failed) {
            printf("mutant %s caught at seed %llu (within %llu seeds)\n",
                   opt_mutant ? opt_mutant : "-",
                   (unsigned long long)(first + done - 1),
                   (unsigned long long)done);
            return 0;
        }
        printf("mutant %s NOT caught in %llu seeds\n",
               opt_mutant ? opt_mutant : "-", (unsigned long long)done);
        return 1;
    }
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    uint64_t seed = 0, seeds = 0, first = 1, det = 0;
    bool have_seed = false, trace = false, quiet = false;

    argv0 = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--trace") == 0) {
            trace = true;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(a, "--expect-fail") == 0) {
            opt_expect_fail = true;
        } else if (v && strcmp(a, "--seed") == 0) {
            if (cn_parse_u64(v, strlen(v), &seed) < 0)
                return usage();
            have_seed = true;
            i++;
        } else if (v && strcmp(a, "--seeds") == 0) {
            if (cn_parse_u64(v, strlen(v), &seeds) < 0 || seeds == 0)
                return usage();
            i++;
        } else if (v && strcmp(a, "--determinism") == 0) {
            if (cn_parse_u64(v, strlen(v), &det) < 0 || det == 0)
                return usage();
            i++;
        } else if (v && strcmp(a, "--first") == 0) {
            if (cn_parse_u64(v, strlen(v), &first) < 0)
                return usage();
            i++;
        } else if (v && strcmp(a, "--nodes") == 0) {
            uint64_t n;
            if (cn_parse_u64(v, strlen(v), &n) < 0 || n < 1 || n > 7)
                return usage();
            opt_nodes = (uint32_t)n;
            i++;
        } else if (v && strcmp(a, "--mutant") == 0) {
            opt_mutant = v;
            if (set_mutant(v) < 0)
                return 2;
            i++;
        } else {
            return usage();
        }
    }
    signal(SIGABRT, on_abort);
    if (have_seed) {
        int rc = run_one(seed, trace ? 1 : 0, NULL);
        if (!rc)
            printf("seed %llu: ok\n", (unsigned long long)seed);
        else if (!trace)
            replay_hint(stderr, seed);
        return opt_expect_fail ? !rc : rc;
    }
    if (det)
        return determinism(det);
    if (!seeds)
        return usage();
    return campaign(first, seeds, quiet);
}
