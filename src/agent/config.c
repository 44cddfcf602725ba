/* agent/config.c - `cairn agent` flags, table-driven (haproxy's
 * cfg_kw_list, not a strcmp chain). Flags take Consul's names and both
 * `-flag=value` and `-flag value`; `--flag` is the same as `-flag`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent.h"

enum flag_kind { F_BOOL, F_STR, F_PORT, F_UINT, F_LOGLEVEL };

struct flag {
    const char *name;
    enum flag_kind kind;
    size_t offset;         /* Into struct cn_agent_config. */
    size_t size;           /* For F_STR: buffer size. */
    const char *help;
};

#define OFF(f) offsetof(struct cn_agent_config, f)
#define STR(f) OFF(f), sizeof(((struct cn_agent_config *)0)->f)

static const struct flag flags[] = {
    {"dev", F_BOOL, OFF(dev), 0, "single in-memory server for development"},
    {"server", F_BOOL, OFF(server), 0, "run as a server"},
    {"bootstrap-expect", F_UINT, OFF(bootstrap_expect), 0, "servers to wait for before bootstrapping"},
    {"node", F_STR, STR(node_name), "node name (default: hostname)"},
    {"datacenter", F_STR, STR(datacenter), "datacenter (default: dc1)"},
    {"client", F_STR, STR(client_addr), "address for HTTP and DNS (default: 127.0.0.1)"},
    {"bind", F_STR, STR(bind_addr), "address for cluster traffic"},
    {"data-dir", F_STR, STR(data_dir), "directory for state (required unless -dev)"},
    {"http-port", F_PORT, OFF(http_port), 0, "HTTP API port (default 8500, -1 disables)"},
    {"dns-port", F_PORT, OFF(dns_port), 0, "DNS port (default 8600, -1 disables)"},
    {"server-port", F_PORT, OFF(server_port), 0, "server RPC/Raft port (default 8300)"},
    {"serf-lan-port", F_PORT, OFF(serf_lan_port), 0, "LAN gossip port (default 8301)"},
    {"log-level", F_LOGLEVEL, OFF(log_level), 0, "trace|debug|info|warn|error (default info)"},
    {"log-json", F_BOOL, OFF(log_json), 0, "log lines as JSON"},
};

static void defaults(struct cn_agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->datacenter, sizeof cfg->datacenter, "dc1");
    snprintf(cfg->client_addr, sizeof cfg->client_addr, "127.0.0.1");
    snprintf(cfg->bind_addr, sizeof cfg->bind_addr, "0.0.0.0");
    cfg->http_port = 8500;
    cfg->dns_port = 8600;
    cfg->server_port = 8300;
    cfg->serf_lan_port = 8301;
    cfg->log_level = CN_LOG_INFO;
    if (gethostname(cfg->node_name, sizeof cfg->node_name - 1) != 0)
        snprintf(cfg->node_name, sizeof cfg->node_name, "cairn");
}

static int set_flag(struct cn_agent_config *cfg, const struct flag *f,
                    const char *val, char *errmsg)
{
    char *base = (char *)cfg + f->offset;
    uint64_t u;
    int64_t i;

    switch (f->kind) {
    case F_BOOL:
        if (!val || strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
            *(bool *)base = true;
        else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
            *(bool *)base = false;
        else
            goto bad;
        return 0;
    case F_STR:
        if (strlen(val) >= f->size)
            goto bad;
        snprintf(base, f->size, "%s", val);
        return 0;
    case F_PORT:
        if (cn_parse_i64(val, strlen(val), &i) < 0 || i < -1 || i > 65535)
            goto bad;
        *(int *)base = (int)i;
        return 0;
    case F_UINT:
        if (cn_parse_u64(val, strlen(val), &u) < 0 || u > 1000)
            goto bad;
        *(unsigned *)base = (unsigned)u;
        return 0;
    case F_LOGLEVEL:
        if (cn_log_level_parse(val, (enum cn_log_level *)base) < 0)
            goto bad;
        return 0;
    }
bad:
    cn_errf(errmsg, "invalid value for -%s: \"%s\"", f->name, val ? val : "");
    return CN_EBADREQ;
}

int cn_agent_config_parse(struct cn_agent_config *cfg, int argc, char **argv,
                          char *errmsg)
{
    defaults(cfg);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq, *val = NULL;
        const struct flag *f = NULL;
        size_t name_len;

        if (arg[0] != '-' || arg[1] == '\0') {
            cn_errf(errmsg, "unexpected argument \"%s\"", arg);
            return CN_EBADREQ;
        }
        arg += arg[1] == '-' ? 2 : 1;
        eq = strchr(arg, '=');
        name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        for (size_t k = 0; k < CN_ARRAY_LEN(flags); k++) {
            if (strlen(flags[k].name) == name_len &&
                memcmp(flags[k].name, arg, name_len) == 0) {
                f = &flags[k];
                break;
            }
        }
        if (!f) {
            cn_errf(errmsg, "unknown flag -%.*s", (int)name_len, arg);
            return CN_EBADREQ;
        }
        if (eq) {
            val = eq + 1;
        } else if (f->kind != F_BOOL) {
            if (i + 1 >= argc) {
                cn_errf(errmsg, "flag -%s needs a value", f->name);
                return CN_EBADREQ;
            }
            val = argv[++i];
        }
        if (set_flag(cfg, f, val, errmsg) < 0)
            return CN_EBADREQ;
    }
    if (cfg->dev) {
        /* consul-compat.md 1.2: a server of its own, in memory, on
         * loopback, pretty JSON, debug logs unless asked otherwise. */
        cfg->server = true;
        cfg->pretty_default = true;
        snprintf(cfg->bind_addr, sizeof cfg->bind_addr, "127.0.0.1");
    }
    if (!cfg->dev && cfg->data_dir[0] == '\0') {
        cn_errf(errmsg, "must specify -data-dir or -dev");
        return CN_EBADREQ;
    }
    return 0;
}

void cn_agent_config_usage(void)
{
    printf("Usage: cairn agent [options]\n\n"
           "  Starts a cairn agent (a client, or a server with -server).\n\n"
           "Options:\n");
    for (size_t k = 0; k < CN_ARRAY_LEN(flags); k++) {
        const struct flag *f = &flags[k];
        printf("  -%s%s\n      %s\n", f->name, f->kind == F_BOOL ? "" : "=<value>",
               f->help);
    }
}
