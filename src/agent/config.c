/* agent/config.c - agent settings from JSON config files and flags.
 *
 * One table (haproxy's cfg_kw_list shape, not a strcmp chain) names each
 * setting's flag, its JSON key path and its type; flags and files go
 * through the same setters, so validation happens once per type. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"

enum kind { K_BOOL, K_STR, K_PORT, K_UINT, K_U64, K_LOGLEVEL, K_DURATION_MS,
            K_DURATION_MS32, K_LIST, K_JSON, K_TTL_MAP };

struct setting {
    const char *flag;      /* NULL: config files only. */
    const char *key;       /* JSON key path; NULL: flag only. */
    enum kind kind;
    size_t offset;
    size_t size;           /* K_STR buffer size. */
    const char *help;
};

#define OFF(f) offsetof(struct cn_agent_config, f)
#define STR(f) OFF(f), sizeof(((struct cn_agent_config *)0)->f)

static const struct setting settings[] = {
    {"dev", NULL, K_BOOL, OFF(dev), 0, "single in-memory server for development"},
    {"server", "server", K_BOOL, OFF(server), 0, "run as a server"},
    {"bootstrap-expect", "bootstrap_expect", K_UINT, OFF(bootstrap_expect), 0,
     "servers to wait for before bootstrapping"},
    {"node", "node_name", K_STR, STR(node_name), "node name (default: hostname)"},
    {"datacenter", "datacenter", K_STR, STR(datacenter), "datacenter (default: dc1)"},
    {"domain", "domain", K_STR, STR(domain), "DNS domain (default: consul.)"},
    {"alt-domain", "alt_domain", K_STR, STR(alt_domain), "alternate DNS domain (default: none)"},
    {"client", "client_addr", K_STR, STR(client_addr), "address for HTTP and DNS (default: 127.0.0.1)"},
    {"bind", "bind_addr", K_STR, STR(bind_addr), "address for cluster traffic"},
    {"advertise", "advertise_addr", K_STR, STR(advertise_addr), "address advertised to the cluster"},
    {"data-dir", "data_dir", K_STR, STR(data_dir), "directory for state (required unless -dev)"},
    {"http-port", "ports.http", K_PORT, OFF(http_port), 0, "HTTP API port (default 8500, -1 disables)"},
    {"dns-port", "ports.dns", K_PORT, OFF(dns_port), 0, "DNS port (default 8600, -1 disables)"},
    {"server-port", "ports.server", K_PORT, OFF(server_port), 0, "server RPC/Raft port (default 8300)"},
    {"serf-lan-port", "ports.serf_lan", K_PORT, OFF(serf_lan_port), 0, "LAN gossip port (default 8301)"},
    {"serf-wan-port", "ports.serf_wan", K_PORT, OFF(serf_wan_port), 0, "WAN gossip port (default 8302)"},
    {"log-level", "log_level", K_LOGLEVEL, OFF(log_level), 0, "trace|debug|info|warn|error (default info)"},
    {"log-json", "log_json", K_BOOL, OFF(log_json), 0, "log lines as JSON"},
    {"retry-join", "retry_join", K_LIST, OFF(retry_join), 0, "address of an agent to join, retried (repeatable)"},
    {"join", "start_join", K_LIST, OFF(retry_join), 0, "same as -retry-join"},
    {"retry-join-wan", "retry_join_wan", K_LIST, OFF(retry_join_wan), 0, "WAN address to join (repeatable)"},
    {"retry-interval", "retry_interval", K_DURATION_MS, OFF(retry_interval_ms), 0, "time between join attempts (default 30s)"},
    {"encrypt", "encrypt", K_STR, STR(encrypt), "base64 gossip encryption key"},
    {"recursor", "recursors", K_LIST, OFF(recursors), 0, "upstream DNS server (repeatable)"},
    {"node-meta", "node_meta", K_LIST, OFF(node_meta), 0, "node metadata key:value (repeatable)"},
    {"enable-script-checks", "enable_script_checks", K_BOOL, OFF(enable_script_checks), 0, "allow script checks"},
    {"enable-local-script-checks", "enable_local_script_checks", K_BOOL,
     OFF(enable_local_script_checks), 0, "allow script checks from config files only"},
    {"ui", "ui", K_BOOL, OFF(ui), 0, "serve the web UI (not available yet)"},
    {NULL, "limits.http_max_conns_per_client", K_UINT, OFF(http_max_conns_per_client), 0, ""},
    {NULL, "translate_wan_addrs", K_BOOL, OFF(translate_wan_addrs), 0, ""},
    {NULL, "dns_config.allow_stale", K_BOOL, OFF(dns_allow_stale), 0, ""},
    {NULL, "dns_config.max_stale", K_DURATION_MS, OFF(dns_max_stale_ms), 0, ""},
    {NULL, "dns_config.node_ttl", K_DURATION_MS, OFF(dns_node_ttl_ms), 0, ""},
    {NULL, "dns_config.service_ttl", K_TTL_MAP, OFF(dns_service_ttl), 0, ""},
    {NULL, "dns_config.udp_answer_limit", K_UINT, OFF(dns_udp_answer_limit), 0, ""},
    {NULL, "dns_config.a_record_limit", K_UINT, OFF(dns_a_record_limit), 0, ""},
    {NULL, "dns_config.only_passing", K_BOOL, OFF(dns_only_passing), 0, ""},
    {NULL, "dns_config.enable_truncate", K_BOOL, OFF(dns_enable_truncate), 0, ""},
    {NULL, "dns_config.enable_additional_node_meta_txt", K_BOOL, OFF(dns_node_meta_txt), 0, ""},
    {NULL, "dns_config.recursor_timeout", K_DURATION_MS, OFF(dns_recursor_timeout_ms), 0, ""},
    {NULL, "dns_config.soa.refresh", K_UINT, OFF(dns_soa_refresh), 0, ""},
    {NULL, "dns_config.soa.retry", K_UINT, OFF(dns_soa_retry), 0, ""},
    {NULL, "dns_config.soa.expire", K_UINT, OFF(dns_soa_expire), 0, ""},
    {NULL, "dns_config.soa.min_ttl", K_UINT, OFF(dns_soa_min_ttl), 0, ""},
    {"raft-snapshot-threshold", "raft_snapshot_threshold", K_U64, OFF(raft_snapshot_threshold), 0,
     "log entries between Raft snapshots (default 16384)"},
    {"raft-snapshot-interval", "raft_snapshot_interval", K_DURATION_MS,
     OFF(raft_snapshot_interval_ms), 0, "minimum time between Raft snapshots (default 5s)"},
    {"raft-trailing-logs", "raft_trailing_logs", K_U64, OFF(raft_trailing_logs), 0,
     "log entries kept behind a snapshot (default 10240)"},
    {"dead-server-grace", "autopilot.dead_server_grace", K_DURATION_MS,
     OFF(dead_server_grace_ms), 0, "failed servers leave the Raft configuration after (default 5m)"},
    {"raft-tick", "performance.raft_tick", K_DURATION_MS32, OFF(raft_tick_ms), 0,
     "Raft tick; elections time out after 10-20 ticks (default 50ms)"},
    {"config-file", NULL, K_LIST, OFF(config_files), 0, "JSON config file (repeatable)"},
    {"config-dir", NULL, K_LIST, OFF(config_dirs), 0, "directory of *.json config files (repeatable)"},
    {NULL, "service", K_JSON, OFF(services), 0, ""},
    {NULL, "services", K_JSON, OFF(services), 0, ""},
    {NULL, "check", K_JSON, OFF(checks), 0, ""},
    {NULL, "checks", K_JSON, OFF(checks), 0, ""},
};

static void defaults(struct cn_agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->datacenter, sizeof cfg->datacenter, "dc1");
    snprintf(cfg->domain, sizeof cfg->domain, "consul.");
    snprintf(cfg->client_addr, sizeof cfg->client_addr, "127.0.0.1");
    snprintf(cfg->bind_addr, sizeof cfg->bind_addr, "0.0.0.0");
    cfg->http_port = 8500;
    cfg->dns_port = 8600;
    cfg->server_port = 8300;
    cfg->serf_lan_port = 8301;
    cfg->serf_wan_port = 8302;
    cfg->log_level = CN_LOG_INFO;
    cfg->retry_interval_ms = 30000;
    /* Consul's DNS defaults (agent/config/default.go). */
    cfg->dns_allow_stale = true;
    cfg->dns_max_stale_ms = CN_DNS_MAX_STALE_DEFAULT_MS;
    cfg->dns_udp_answer_limit = 3;
    cfg->dns_node_meta_txt = true;
    cfg->dns_recursor_timeout_ms = 2000;
    cfg->dns_soa_refresh = 3600;
    cfg->dns_soa_retry = 600;
    cfg->dns_soa_expire = 86400;
    if (gethostname(cfg->node_name, sizeof cfg->node_name - 1) != 0)
        snprintf(cfg->node_name, sizeof cfg->node_name, "cairn");
}

static int list_add(struct cn_strlist *l, const char *s, size_t n)
{
    if (l->n >= CN_CONFIG_LIST_MAX)
        return CN_ELIMIT;
    l->v[l->n] = cn_strndup(s, n);
    if (!l->v[l->n])
        return -ENOMEM;
    l->n++;
    return 0;
}

/* Sets one value given as text (flags; JSON strings and numbers). */
static int set_text(struct cn_agent_config *cfg, const struct setting *s, const char *val)
{
    char *base = (char *)cfg + s->offset;
    uint64_t u;
    int64_t i;
    switch (s->kind) {
    case K_BOOL:
        if (!val || strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
            *(bool *)base = true;
        else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
            *(bool *)base = false;
        else
            return CN_EBADREQ;
        return 0;
    case K_STR:
        if (strlen(val) >= s->size)
            return CN_EBADREQ;
        snprintf(base, s->size, "%s", val);
        return 0;
    case K_PORT:
        if (cn_parse_i64(val, strlen(val), &i) < 0 || i < -1 || i > 65535)
            return CN_EBADREQ;
        *(int *)base = (int)i;
        return 0;
    case K_UINT:
        if (cn_parse_u64(val, strlen(val), &u) < 0 || u > 1000000)
            return CN_EBADREQ;
        *(unsigned *)base = (unsigned)u;
        return 0;
    case K_U64:
        if (cn_parse_u64(val, strlen(val), &u) < 0)
            return CN_EBADREQ;
        *(uint64_t *)base = u;
        return 0;
    case K_DURATION_MS32:
        if (cn_duration_parse(val, strlen(val), &i) < 0 || i < 1000000 ||
            i / 1000000 > 60000)
            return CN_EBADREQ;
        *(uint32_t *)base = (uint32_t)(i / 1000000);
        return 0;
    case K_LOGLEVEL:
        return cn_log_level_parse(val, (enum cn_log_level *)base) < 0 ? CN_EBADREQ : 0;
    case K_DURATION_MS:
        if (cn_duration_parse(val, strlen(val), &i) < 0 || i < 0)
            return CN_EBADREQ;
        *(uint64_t *)base = (uint64_t)i / 1000000u;
        return 0;
    case K_LIST:
        return list_add((struct cn_strlist *)base, val, strlen(val));
    case K_JSON:
    case K_TTL_MAP:
        return CN_EBADREQ;
    }
    return CN_EBADREQ;
}

/* ---- JSON files ---- */

static const struct setting *find_key(const char *path)
{
    for (size_t k = 0; k < CN_ARRAY_LEN(settings); k++)
        if (settings[k].key && strcmp(settings[k].key, path) == 0)
            return &settings[k];
    return NULL;
}

static bool is_key_prefix(const char *path)
{
    size_t n = strlen(path);
    for (size_t k = 0; k < CN_ARRAY_LEN(settings); k++)
        if (settings[k].key && strncmp(settings[k].key, path, n) == 0 &&
            settings[k].key[n] == '.')
            return true;
    return false;
}

/* dns_config.service_ttl: {"pattern": "duration", ...} -> "<seconds> <pattern>". */
static int set_ttl_map(struct cn_strlist *l, json_t *v)
{
    const char *k;
    json_t *x;
    if (!json_is_object(v))
        return CN_EBADREQ;
    json_object_foreach(v, k, x) {
        char entry[300];
        int64_t ns;
        const char *d = json_string_value(x);
        size_t kl = strlen(k);
        if (!d || kl == 0 || kl > 255 || strchr(k, ' ') ||
            cn_duration_parse(d, strlen(d), &ns) < 0 || ns < 0 ||
            ns / 1000000000 > UINT32_MAX)
            return CN_EBADREQ;
        snprintf(entry, sizeof entry, "%llu %s", (unsigned long long)(ns / 1000000000), k);
        int rc = list_add(l, entry, strlen(entry));
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int set_json_one(struct cn_agent_config *cfg, const struct setting *s, json_t *v)
{
    char num[32];
    if (s->kind == K_TTL_MAP)
        return set_ttl_map((struct cn_strlist *)((char *)cfg + s->offset), v);
    if (s->kind == K_JSON) {
        struct cn_strlist *l = (struct cn_strlist *)((char *)cfg + s->offset);
        size_t i;
        json_t *x;
        if (json_is_object(v))
            v = json_pack("[O]", v);
        else
            json_incref(v);
        if (!json_is_array(v)) {
            json_decref(v);
            return CN_EBADREQ;
        }
        json_array_foreach(v, i, x) {
            char *text = json_is_object(x) ? json_dumps(x, JSON_COMPACT) : NULL;
            int rc = text ? list_add(l, text, strlen(text)) : CN_EBADREQ;
            free(text);
            if (rc < 0) {
                json_decref(v);
                return rc;
            }
        }
        json_decref(v);
        return 0;
    }
    if (json_is_string(v))
        return set_text(cfg, s, json_string_value(v));
    if (json_is_boolean(v))
        return s->kind == K_BOOL ? set_text(cfg, s, json_is_true(v) ? "true" : "false")
                                 : CN_EBADREQ;
    if (json_is_integer(v) && s->kind != K_BOOL) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return set_text(cfg, s, num);
    }
    if (json_is_array(v) && s->kind == K_LIST) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            int rc = json_is_string(x) ? set_text(cfg, s, json_string_value(x)) : CN_EBADREQ;
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    return CN_EBADREQ;
}

static int apply_object(struct cn_agent_config *cfg, json_t *obj, const char *prefix,
                        const char *file, char *errmsg, int depth)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        char path[256];
        const struct setting *s;
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k);
        s = find_key(path);
        if (s) {
            int rc = set_json_one(cfg, s, v);
            if (rc == CN_ELIMIT)
                return cn_errf_rc(errmsg, rc, "%s: too many values for \"%s\"", file, path);
            if (rc < 0)
                return cn_errf_rc(errmsg, rc, "%s: invalid value for \"%s\"", file, path);
        } else if (json_is_object(v) && is_key_prefix(path) && depth < 4) {
            int rc = apply_object(cfg, v, path, file, errmsg, depth + 1);
            if (rc < 0)
                return rc;
        } else {
            /* Consul refuses unknown keys too: typos must not pass quietly. */
            return cn_errf_rc(errmsg, CN_EBADREQ,
                              "%s: unknown or unsupported config key \"%s\"", file, path);
        }
    }
    return 0;
}

static int load_file(struct cn_agent_config *cfg, const char *path, char *errmsg)
{
    json_error_t je;
    json_t *root;
    int rc;
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".hcl") == 0)
        return cn_errf_rc(errmsg, CN_EUNSUPPORTED,
                          "%s: HCL config files are not supported; use JSON", path);
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return cn_errf_rc(errmsg, CN_EBADREQ, "%s:%d: %s", path, je.line, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return cn_errf_rc(errmsg, CN_EBADREQ, "%s: top level must be an object", path);
    }
    rc = apply_object(cfg, root, "", path, errmsg, 0);
    json_decref(root);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(struct cn_agent_config *cfg, const char *dir, char *errmsg)
{
    char *names[CN_CONFIG_FILES_MAX];
    size_t n = 0;
    struct dirent *de;
    DIR *d = opendir(dir);
    int rc = 0;
    if (!d)
        return cn_errf_rc(errmsg, -errno, "config dir %s", dir);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 6 || (strcmp(de->d_name + l - 5, ".json") != 0 &&
                      strcmp(de->d_name + l - 4, ".hcl") != 0))
            continue;
        if (n == CN_CONFIG_FILES_MAX) {
            rc = cn_errf_rc(errmsg, CN_ELIMIT, "config dir %s: more than %d files", dir,
                            CN_CONFIG_FILES_MAX);
            break;
        }
        names[n] = cn_strndup(de->d_name, l);
        if (!names[n]) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[CN_PATH_BYTES_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == 0)
            rc = load_file(cfg, path, errmsg);
        cn_free(names[i]);
    }
    return rc;
}

/* ---- flags ---- */

static const struct setting *find_flag(const char *name, size_t n)
{
    for (size_t k = 0; k < CN_ARRAY_LEN(settings); k++)
        if (settings[k].flag && strlen(settings[k].flag) == n &&
            memcmp(settings[k].flag, name, n) == 0)
            return &settings[k];
    return NULL;
}

/* Walks argv; with apply=false only -config-* and -dev are taken. */
static int parse_flags(struct cn_agent_config *cfg, int argc, char **argv, bool config_pass,
                       char *errmsg)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq, *val = NULL;
        const struct setting *s;
        size_t name_len;
        if (arg[0] != '-' || arg[1] == '\0')
            return cn_errf_rc(errmsg, CN_EBADREQ, "unexpected argument \"%s\"", arg);
        arg += arg[1] == '-' ? 2 : 1;
        eq = strchr(arg, '=');
        name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        s = find_flag(arg, name_len);
        if (!s)
            return cn_errf_rc(errmsg, CN_EBADREQ, "unknown flag -%.*s", (int)name_len, arg);
        if (eq)
            val = eq + 1;
        else if (s->kind != K_BOOL) {
            if (i + 1 >= argc)
                return cn_errf_rc(errmsg, CN_EBADREQ, "flag -%s needs a value", s->flag);
            val = argv[++i];
        }
        bool is_config = s->offset == OFF(config_files) || s->offset == OFF(config_dirs) ||
                         s->offset == OFF(dev);
        if (is_config != config_pass)
            continue;
        int rc = set_text(cfg, s, val);
        if (rc < 0)
            return cn_errf_rc(errmsg, rc, "invalid value for -%s: \"%s\"", s->flag,
                              val ? val : "");
    }
    return 0;
}

int cn_agent_config_parse(struct cn_agent_config *cfg, int argc, char **argv, char *errmsg)
{
    int rc;
    defaults(cfg);
    /* Pass 1: where the config files are (and -dev, which sets defaults). */
    if ((rc = parse_flags(cfg, argc, argv, true, errmsg)) < 0)
        return rc;
    if (cfg->dev) {
        /* consul-compat.md 1.2: a server of its own, in memory, on
         * loopback, pretty JSON. */
        cfg->server = true;
        cfg->pretty_default = true;
        snprintf(cfg->bind_addr, sizeof cfg->bind_addr, "127.0.0.1");
    }
    for (size_t i = 0; i < cfg->config_files.n; i++)
        if ((rc = load_file(cfg, cfg->config_files.v[i], errmsg)) < 0)
            return rc;
    for (size_t i = 0; i < cfg->config_dirs.n; i++)
        if ((rc = load_dir(cfg, cfg->config_dirs.v[i], errmsg)) < 0)
            return rc;
    /* Pass 2: every other flag overrides the files. */
    if ((rc = parse_flags(cfg, argc, argv, false, errmsg)) < 0)
        return rc;
    if (!cfg->dev && cfg->data_dir[0] == '\0')
        return cn_errf_rc(errmsg, CN_EBADREQ, "must specify -data-dir or -dev");
    size_t dl = strlen(cfg->domain);
    if (dl && cfg->domain[dl - 1] != '.' && dl + 1 < sizeof cfg->domain) {
        cfg->domain[dl] = '.'; /* Fully qualified, as DNS answers need. */
        cfg->domain[dl + 1] = '\0';
    }
    return 0;
}

int cn_agent_config_reload_defs(const struct cn_agent_config *cur,
                                struct cn_agent_config *fresh, char *errmsg)
{
    int rc = 0;
    defaults(fresh);
    for (size_t i = 0; rc == 0 && i < cur->config_files.n; i++)
        rc = load_file(fresh, cur->config_files.v[i], errmsg);
    for (size_t i = 0; rc == 0 && i < cur->config_dirs.n; i++)
        rc = load_dir(fresh, cur->config_dirs.v[i], errmsg);
    return rc;
}

static void list_free(struct cn_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        cn_free(l->v[i]);
    l->n = 0;
}

void cn_agent_config_free(struct cn_agent_config *cfg)
{
    struct cn_strlist *lists[] = {&cfg->retry_join, &cfg->retry_join_wan, &cfg->recursors,
                                  &cfg->node_meta, &cfg->config_files, &cfg->config_dirs,
                                  &cfg->services, &cfg->checks, &cfg->dns_service_ttl};
    for (size_t i = 0; i < CN_ARRAY_LEN(lists); i++)
        list_free(lists[i]);
}

void cn_agent_config_usage(void)
{
    printf("Usage: cairn agent [options]\n\n"
           "  Starts a cairn agent (a client, or a server with -server). Settings come\n"
           "  from JSON config files, then flags (flags win).\n\nOptions:\n");
    for (size_t k = 0; k < CN_ARRAY_LEN(settings); k++) {
        const struct setting *s = &settings[k];
        if (!s->flag)
            continue;
        printf("  -%s%s\n      %s", s->flag, s->kind == K_BOOL ? "" : "=<value>", s->help);
        if (s->key)
            printf(" (config key: %s)", s->key);
        printf("\n");
    }
}
