/* agent/agent.h - the cairn agent: config, HTTP API, local server.
 *
 * An agent runs one libuv loop. In -dev (and later -server) mode it embeds
 * a server (src/server) and sends every RPC to it in-process; client
 * agents (gossip issue) will forward the same calls to servers over RPC.
 */
#ifndef CN_AGENT_H
#define CN_AGENT_H

#include "base/base.h"

struct cn_agent_config {
    bool dev;
    bool server;
    unsigned bootstrap_expect;
    char node_name[128];
    char datacenter[64];
    char client_addr[64];        /* HTTP and DNS bind. */
    char bind_addr[64];          /* Cluster bind. */
    char data_dir[CN_PATH_BYTES_MAX];
    int http_port;               /* -1 disables. */
    int dns_port;
    int server_port;
    int serf_lan_port;
    enum cn_log_level log_level;
    bool log_json;
    bool pretty_default;         /* -dev pretty-prints every JSON reply. */
};

/* Parses `cairn agent` flags (argv after "agent"). 0, or a negative code
 * with a one-line reason in errmsg. */
int cn_agent_config_parse(struct cn_agent_config *cfg, int argc,
                          char **argv, char *errmsg);
void cn_agent_config_usage(void);

/* Runs the agent until SIGINT/SIGTERM; returns the process exit code. */
int cn_agent_run(const struct cn_agent_config *cfg);

#endif
