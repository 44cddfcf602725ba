/* agent/agent.h - the cairn agent: config, HTTP API, local server.
 *
 * An agent runs one libuv loop. In -dev (and later -server) mode it embeds
 * a server (src/server) and sends every RPC to it in-process; client
 * agents (gossip issue) will forward the same calls to servers over RPC.
 *
 * Configuration comes from defaults, then JSON config files (-config-file,
 * and every *.json of each -config-dir in lexical order; later files
 * override scalars and append to lists), then command-line flags, which
 * override everything (Consul's order). Keys and flags take Consul's names.
 */
#ifndef CN_AGENT_H
#define CN_AGENT_H

#include "base/base.h"

#define CN_CONFIG_LIST_MAX 256      /* Entries of one list setting (services too). */
#define CN_CONFIG_FILES_MAX 64      /* Files read from all -config-dirs. */
#define CN_CONFIG_FILE_BYTES_MAX (1 << 20)
/* dns_config.max_stale default (Consul's 87600h: effectively unbounded). */
#define CN_DNS_MAX_STALE_DEFAULT_MS (87600ull * 3600 * 1000)

struct cn_strlist {
    char *v[CN_CONFIG_LIST_MAX];    /* cn_alloc'd strings. */
    size_t n;
};

struct cn_agent_config {
    bool dev;
    bool server;
    unsigned bootstrap_expect;
    char node_name[128];
    char datacenter[64];
    char domain[128];
    char alt_domain[128];        /* "" = none. */
    char client_addr[64];        /* HTTP and DNS bind. */
    char bind_addr[64];          /* Cluster bind. */
    char advertise_addr[64];     /* "" = bind_addr. */
    char data_dir[CN_PATH_BYTES_MAX];
    int http_port;               /* -1 disables. */
    int dns_port;
    int server_port;
    int serf_lan_port;
    int serf_wan_port;
    enum cn_log_level log_level;
    bool log_json;
    bool pretty_default;         /* -dev pretty-prints every JSON reply. */
    bool enable_script_checks;
    bool enable_local_script_checks;
    bool ui;
    char encrypt[64];            /* Base64 gossip key. */
    uint64_t retry_interval_ms;
    uint32_t raft_tick_ms;          /* 0: 50 ms (elections in 0.5-1 s). */
    uint64_t raft_snapshot_threshold;
    uint64_t raft_snapshot_interval_ms;
    uint64_t raft_trailing_logs;
    uint64_t dead_server_grace_ms;  /* Failed servers leave Raft after this. */
    unsigned http_max_conns_per_client;
    /* DNS (dns_config.*, translate_wan_addrs; consul-compat.md 6). */
    bool dns_allow_stale;
    uint64_t dns_max_stale_ms;
    uint64_t dns_node_ttl_ms;
    unsigned dns_udp_answer_limit;
    unsigned dns_a_record_limit;
    bool dns_only_passing;
    bool dns_enable_truncate;
    bool dns_node_meta_txt;
    uint64_t dns_recursor_timeout_ms;
    unsigned dns_soa_refresh, dns_soa_retry, dns_soa_expire, dns_soa_min_ttl;
    bool translate_wan_addrs;
    struct cn_strlist dns_service_ttl;  /* "<seconds> <pattern>" */
    struct cn_strlist retry_join;
    struct cn_strlist retry_join_wan;
    struct cn_strlist recursors;
    struct cn_strlist node_meta; /* "key:value" */
    struct cn_strlist config_files;  /* As given; dirs expanded at load. */
    struct cn_strlist config_dirs;
    /* Service and check definitions from config files, as JSON text
     * (one object each), for the agent's local state. */
    struct cn_strlist services;
    struct cn_strlist checks;
};

/* Parses `cairn agent` flags (argv after "agent") and the config files
 * they name. 0, or a negative code with a one-line reason in errmsg
 * (naming the file for config-file errors). */
int cn_agent_config_parse(struct cn_agent_config *cfg, int argc,
                          char **argv, char *errmsg);
void cn_agent_config_free(struct cn_agent_config *cfg);
/* Reload: re-reads the config files and dirs `cur` names into `fresh`
 * (defaults + files; flags are not re-applied). Only the service and
 * check definitions are used. Free fresh even on error. */
int cn_agent_config_reload_defs(const struct cn_agent_config *cur,
                                struct cn_agent_config *fresh, char *errmsg);
void cn_agent_config_usage(void);

/* Runs the agent until SIGINT/SIGTERM; returns the process exit code.
 * Reloads replace the service and check definition lists; on return cfg
 * holds the current ones, so the caller's cn_agent_config_free() frees
 * exactly what is left. */
int cn_agent_run(struct cn_agent_config *cfg);

#endif
