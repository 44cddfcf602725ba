/* bench/kvprobe.h - shared by kvprobe.c (main, ready, watch) and
 * kvprobe_fanout.c (park, failover). */
#ifndef KVPROBE_H
#define KVPROBE_H

#include <netinet/in.h>
#include <sys/types.h>

#include "bench_util.h"

struct probe_opts {
    const char *addr;
    struct sockaddr_in sa;
    enum b_proto proto;
    int runs;             /* ready runs / watch trials. */
    int conns;            /* park: parked queries. */
    int per_ip;           /* park: connections per loopback source address. */
    pid_t pid;            /* park: server pid (RSS); failover: pid to SIGKILL. */
    const char *key;
    const char *wait;     /* ?wait= of parked queries. */
    double timeout_s;
    unsigned park_us;     /* watch: delay between parking and writing. */
    const char *endpoints;  /* failover: comma-separated HOST:PORT list. */
    const char *log_path;   /* ready: child stdout/stderr. */
    char **cmd;             /* ready: argv after "--". */
};

extern struct probe_opts po;

int probe_ready(void);
int probe_watch(void);
int probe_park(void);
int probe_failover(void);

/* Helpers shared by the modes (kvprobe.c). */
size_t probe_fmt_consul_put(char *out, size_t cap, const char *key, const char *value);
size_t probe_fmt_consul_block(char *out, size_t cap, const char *key,
                              unsigned long long index, const char *wait);
/* GET the key now; *index = X-Consul-Index (404 is fine). 0 or -1. */
int probe_consul_index(int fd, const char *key, unsigned long long *index);
void probe_print_dist(const char *name, int64_t *v, size_t n, const char *unit_key);

#endif
