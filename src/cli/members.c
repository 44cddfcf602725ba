/* cli/members.c - `cairn members`, `join`, `force-leave`, `event`,
 * `keygen`, `keyring` (Consul's flags, columns and texts; consul-compat.md 9). */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli_int.h"

static struct {
    bool wan, detailed, prune, list, local_only;
    char status[256], name[256], node[256], service[256], tag[256];
    char install[64], use[64], remove[64];
} o;

/* Fetches a JSON array or object; NULL after printing an error. */
static json_t *get_json(const struct cli_http *h, const char *path, const char *query,
                        const char *what)
{
    struct cn_http_response *resp;
    json_error_t je;
    json_t *v;
    if (cli_request(h, "GET", path, query, NULL, 0, &resp) < 0)
        return NULL;
    if (resp->status != 200) {
        cli_http_error(what, resp);
        cn_http_response_free(resp);
        return NULL;
    }
    v = json_loadb((const char *)resp->body, resp->body_len, 0, &je);
    cn_http_response_free(resp);
    if (!v)
        fprintf(stderr, "Error! %s: unexpected reply: %s\n", what, je.text);
    return v;
}

static const char *tag_of(json_t *m, const char *k)
{
    const char *v = json_string_value(json_object_get(json_object_get(m, "Tags"), k));
    return v ? v : "";
}

static const char *status_name(json_int_t s)
{
    static const char *const names[] = {"none", "alive", "leaving", "left", "failed"};
    return s >= 0 && s < 5 ? names[s] : "unknown";
}

/* ---- members ---- */

static const struct cli_flag members_flags[] = {
    {"wan", CLI_BOOL, &o.wan, 0, "List members of the WAN pool (servers)"},
    {"detailed", CLI_BOOL, &o.detailed, 0, "Show every tag of each member"},
    {"status", CLI_STR, o.status, sizeof o.status, "Only members whose status matches this regexp"},
};
static const struct cli_cmd members_cmd = {"members", "",
    "Outputs the members of the cluster the agent is part of.", members_flags,
    CN_ARRAY_LEN(members_flags), true};

struct row {
    char col[9][256];
};

static void member_row(json_t *m, struct row *r)
{
    const char *build = tag_of(m, "build"), *role = tag_of(m, "role");
    const char *colon = strchr(build, ':');
    const char *addr = json_string_value(json_object_get(m, "Addr"));
    json_int_t port = json_integer_value(json_object_get(m, "Port"));
    memset(r, 0, sizeof *r);
    snprintf(r->col[0], 256, "%s", json_string_value(json_object_get(m, "Name")) ?: "");
    snprintf(r->col[1], 256, strchr(addr ? addr : "", ':') ? "[%s]:%lld" : "%s:%lld",
             addr ? addr : "", (long long)port);
    snprintf(r->col[2], 256, "%s",
             status_name(json_integer_value(json_object_get(m, "Status"))));
    if (o.detailed) {
        const char *k;
        json_t *v;
        size_t n = 0;
        json_object_foreach(json_object_get(m, "Tags"), k, v) {
            int w = snprintf(r->col[3] + n, 256 - n, "%s%s=%s", n ? "," : "", k,
                             json_string_value(v) ?: "");
            if (w < 0 || (size_t)w >= 256 - n)
                break;
            n += (size_t)w;
        }
        return;
    }
    snprintf(r->col[3], 256, "%s", strcmp(role, "consul") == 0 ? "server" : "client");
    snprintf(r->col[4], 256, "%.*s", colon ? (int)(colon - build) : (int)strlen(build), build);
    snprintf(r->col[5], 256, "%s", tag_of(m, "vsn")[0] ? tag_of(m, "vsn") : "2");
    snprintf(r->col[6], 256, "%s", tag_of(m, "dc"));
    snprintf(r->col[7], 256, "%s", "default");
    snprintf(r->col[8], 256, "%s", strcmp(role, "consul") == 0 ? "<all>" : "<default>");
}

static void print_rows(struct row *rows, size_t n, size_t ncol)
{
    size_t w[9] = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < ncol; c++)
            w[c] = CN_MAX(w[c], strlen(rows[i].col[c]));
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c + 1 < ncol; c++)
            printf("%-*s  ", (int)w[c], rows[i].col[c]);
        printf("%s\n", rows[i].col[ncol - 1]);
    }
}

static int members(int argc, char **argv)
{
    static const char *const hdr[] = {"Node", "Address", "Status", "Type", "Build",
                                      "Protocol", "DC", "Partition", "Segment"};
    struct cli_http h;
    struct row *rows;
    regex_t re;
    json_t *v, *m;
    size_t i, n = 0, ncol;
    int argi, rc;

    memset(&o, 0, sizeof o);
    if ((rc = cli_parse(&members_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (o.status[0] && regcomp(&re, o.status, REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "Failed to compile status regexp %s\n", o.status);
        return 1;
    }
    v = get_json(&h, "/v1/agent/members", o.wan ? "wan=1" : "", "Error retrieving members");
    if (!json_is_array(v)) {
        json_decref(v);
        if (o.status[0])
            regfree(&re);
        return 1;
    }
    rows = calloc(json_array_size(v) + 1, sizeof *rows);
    if (!rows)
        abort();
    ncol = o.detailed ? 4 : o.wan ? 7 : 9;
    for (size_t c = 0; c < ncol; c++)
        snprintf(rows[0].col[c], 256, "%s", o.detailed && c == 3 ? "Tags" : hdr[c]);
    n = 1;
    json_array_foreach(v, i, m) {
        member_row(m, &rows[n]);
        if (o.status[0] && regexec(&re, rows[n].col[2], 0, NULL, 0) != 0)
            continue;
        n++;
    }
    /* Consul sorts by partition, then servers first, then by name. */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a + 1; b < n; b++) {
            int sa = strcmp(rows[a].col[3], "server") == 0, sb = strcmp(rows[b].col[3], "server") == 0;
            if (sb > sa || (sa == sb && strcmp(rows[b].col[0], rows[a].col[0]) < 0)) {
                struct row t = rows[a];
                rows[a] = rows[b];
                rows[b] = t;
            }
        }
    if (n > 1)
        print_rows(rows, n, ncol);
    free(rows);
    json_decref(v);
    if (o.status[0])
        regfree(&re);
    return n > 1 ? 0 : 2;  /* Consul: 2 when no member matched. */
}

/* ---- join ---- */

static const struct cli_flag join_flags[] = {
    {"wan", CLI_BOOL, &o.wan, 0, "Join the WAN pool (servers)"},
};
static const struct cli_cmd join_cmd = {"join", "ADDRESS...",
    "Tells the agent to join the cluster through one or more existing members.", join_flags,
    CN_ARRAY_LEN(join_flags), true};

static int join(int argc, char **argv)
{
    struct cli_http h;
    int argi, rc, joined = 0;
    memset(&o, 0, sizeof o);
    if ((rc = cli_parse(&join_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (argi >= argc) {
        fprintf(stderr, "At least one address to join must be specified.\n");
        cli_usage(&join_cmd);
        return 1;
    }
    for (int i = argi; i < argc; i++) {
        struct cn_http_response *resp;
        char path[512];
        if (snprintf(path, sizeof path, "/v1/agent/join/%s", argv[i]) >= (int)sizeof path) {
            fprintf(stderr, "Error joining address '%s': too long\n", argv[i]);
            continue;
        }
        if (cli_request(&h, "PUT", path, o.wan ? "wan=1" : "", NULL, 0, &resp) < 0)
            return 1;
        if (resp->status == 200)
            joined++;
        else
            fprintf(stderr, "Error joining address '%s': %.*s\n", argv[i],
                    (int)CN_MIN(resp->body_len, 1024), (const char *)resp->body);
        cn_http_response_free(resp);
    }
    if (joined == 0) {
        fprintf(stderr, "Failed to join any nodes.\n");
        return 1;
    }
    printf("Successfully joined cluster by contacting %d nodes.\n", joined);
    return 0;
}

/* ---- force-leave ---- */

static const struct cli_flag fl_flags[] = {
    {"wan", CLI_BOOL, &o.wan, 0, "Force-leave a member of the WAN pool"},
    {"prune", CLI_BOOL, &o.prune, 0, "Remove the member from the list entirely"},
};
static const struct cli_cmd fl_cmd = {"force-leave", "NODE",
    "Forces a failed member of the cluster into the left state.", fl_flags,
    CN_ARRAY_LEN(fl_flags), true};

static int force_leave(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    char path[512], query[32];
    int argi, rc;
    memset(&o, 0, sizeof o);
    if ((rc = cli_parse(&fl_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (argc - argi != 1) {
        fprintf(stderr, "A single node name must be specified to force leave.\n");
        cli_usage(&fl_cmd);
        return 1;
    }
    if (snprintf(path, sizeof path, "/v1/agent/force-leave/%s", argv[argi]) >= (int)sizeof path) {
        fprintf(stderr, "Error force leaving: node name too long\n");
        return 1;
    }
    snprintf(query, sizeof query, "%s%s%s", o.prune ? "prune=1" : "",
             o.prune && o.wan ? "&" : "", o.wan ? "wan=1" : "");
    if (cli_request(&h, "PUT", path, query, NULL, 0, &resp) < 0)
        return 1;
    rc = resp->status == 200 ? 0 : 1;
    if (rc)
        fprintf(stderr, "Error force leaving: %.*s\n", (int)CN_MIN(resp->body_len, 1024),
                (const char *)resp->body);
    cn_http_response_free(resp);
    return rc;
}

/* ---- event ---- */

static const struct cli_flag event_flags[] = {
    {"name", CLI_STR, o.name, sizeof o.name, "Name of the event (required)"},
    {"node", CLI_STR, o.node, sizeof o.node, "Regexp to filter on node names"},
    {"service", CLI_STR, o.service, sizeof o.service, "Regexp to filter on service names"},
    {"tag", CLI_STR, o.tag, sizeof o.tag, "Regexp to filter on service tags (needs -service)"},
};
static const struct cli_cmd event_cmd = {"event", "[PAYLOAD]",
    "Dispatches a custom user event across the datacenter.", event_flags,
    CN_ARRAY_LEN(event_flags), true};

static int add_param(struct cn_buf *q, const char *k, const char *v)
{
    if (!v[0])
        return 0;
    if (q->len && cn_buf_putc(q, '&') < 0)
        return -1;
    if (cn_buf_puts(q, k) < 0 || cn_buf_putc(q, '=') < 0)
        return -1;
    return cn_url_encode(q, v, strlen(v), false);
}

static int event(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    struct cn_buf q;
    char path[512];
    const char *payload = "";
    json_t *v;
    json_error_t je;
    int argi, rc;
    memset(&o, 0, sizeof o);
    if ((rc = cli_parse(&event_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (!o.name[0]) {
        fprintf(stderr, "Event name must be specified\n");
        cli_usage(&event_cmd);
        return 1;
    }
    if (o.tag[0] && !o.service[0]) {
        fprintf(stderr, "Cannot provide tag filter without service filter.\n");
        return 1;
    }
    if (argc - argi > 1) {
        fprintf(stderr, "Too many command line arguments.\n");
        return 1;
    }
    if (argi < argc)
        payload = argv[argi];
    cn_buf_init(&q, 2048);
    if (add_param(&q, "node", o.node) < 0 || add_param(&q, "service", o.service) < 0 ||
        add_param(&q, "tag", o.tag) < 0 || cn_buf_putc(&q, 0) < 0 ||
        snprintf(path, sizeof path, "/v1/event/fire/%s", o.name) >= (int)sizeof path) {
        fprintf(stderr, "Error: request too large\n");
        cn_buf_close(&q);
        return 1;
    }
    rc = cli_request(&h, "PUT", path, (const char *)q.data, payload, strlen(payload), &resp);
    cn_buf_close(&q);
    if (rc < 0)
        return 1;
    if (resp->status != 200) {
        fprintf(stderr, "Error firing event: %.*s\n", (int)CN_MIN(resp->body_len, 1024),
                (const char *)resp->body);
        cn_http_response_free(resp);
        return 1;
    }
    v = json_loadb((const char *)resp->body, resp->body_len, 0, &je);
    cn_http_response_free(resp);
    printf("Event ID: %s\n", json_string_value(json_object_get(v, "ID")) ?: "");
    json_decref(v);
    return 0;
}

/* ---- keygen ---- */

static const struct cli_cmd keygen_cmd = {"keygen", "",
    "Generates a new 32-byte gossip encryption key (base64), for -encrypt.", NULL, 0, false};

static int keygen(int argc, char **argv)
{
    struct cli_http h;
    uint8_t key[32];
    char b64[64];
    int argi, rc;
    if ((rc = cli_parse(&keygen_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (cn_rand_bytes(key, sizeof key) < 0) {
        fprintf(stderr, "Error reading random data: %s\n", strerror(errno));
        return 1;
    }
    cn_base64_encode(key, sizeof key, b64);
    b64[cn_base64_encoded_len(sizeof key)] = '\0';
    printf("%s\n", b64);
    return 0;
}

/* ---- keyring ---- */

static const struct cli_flag keyring_flags[] = {
    {"list", CLI_BOOL, &o.list, 0, "List the gossip encryption keys of every member"},
    {"install", CLI_STR, o.install, sizeof o.install, "Install a new key on every member"},
    {"use", CLI_STR, o.use, sizeof o.use, "Make an installed key the primary one"},
    {"remove", CLI_STR, o.remove, sizeof o.remove, "Remove a key from every member"},
    {"local-only", CLI_BOOL, &o.local_only, 0, "With -list: only this agent's keyring"},
};
static const struct cli_cmd keyring_cmd = {"keyring", "",
    "Manages the gossip encryption keys of the cluster (exactly one of -list, -install,\n"
    "  -use, -remove).", keyring_flags, CN_ARRAY_LEN(keyring_flags), true};

/* One pool's keys as Consul prints them: "  KEY [n/total]". */
static void print_pool(const json_t *r)
{
    const char *k;
    json_t *v;
    json_int_t total = json_integer_value(json_object_get(r, "NumNodes"));
    const char *dc = json_string_value(json_object_get(r, "Datacenter"));
    if (json_is_true(json_object_get(r, "WAN")))
        printf("\nWAN:\n");
    else
        printf("\n%s (LAN):\n", dc ? dc : "");
    json_object_foreach(json_object_get(r, "Keys"), k, v)
        printf("  %s [%lld/%lld]\n", k, (long long)json_integer_value(v), (long long)total);
}

static int keyring(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    char body[128];
    const char *method = NULL, *key = NULL, *banner = NULL;
    int argi, rc, ops;
    if ((rc = cli_parse(&keyring_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    ops = o.list + !!o.install[0] + !!o.use[0] + !!o.remove[0];
    if (ops != 1) {
        fprintf(stderr, "Exactly one of -list, -install, -use, or -remove must be provided\n");
        return 1;
    }
    if (o.list) {
        json_t *v = get_json(&h, "/v1/operator/keyring", o.local_only ? "local-only=true" : "",
                             "listing keys");
        size_t i;
        json_t *r;
        if (!v)
            return 1;
        printf("==> Gathering installed encryption keys...\n");
        json_array_foreach(v, i, r)
            print_pool(r);
        json_decref(v);
        return 0;
    }
    if (o.install[0]) {
        method = "POST", key = o.install, banner = "Installing new gossip encryption key...";
    } else if (o.use[0]) {
        method = "PUT", key = o.use, banner = "Changing primary gossip encryption key...";
    } else {
        method = "DELETE", key = o.remove, banner = "Removing gossip encryption key...";
    }
    printf("==> %s\n", banner);
    snprintf(body, sizeof body, "{\"Key\":\"%s\"}", key);
    if (strchr(key, '"') || strchr(key, '\\')) {
        fprintf(stderr, "error: invalid key\n");
        return 1;
    }
    if (cli_request(&h, method, "/v1/operator/keyring", "", body, strlen(body), &resp) < 0)
        return 1;
    rc = resp->status == 200 ? 0 : 1;
    if (rc)
        fprintf(stderr, "error: %.*s\n", (int)resp->body_len, (const char *)resp->body);
    cn_http_response_free(resp);
    return rc;
}

int cn__cli_members(int argc, char **argv) { return members(argc, argv); }
int cn__cli_join(int argc, char **argv) { return join(argc, argv); }
int cn__cli_force_leave(int argc, char **argv) { return force_leave(argc, argv); }
int cn__cli_event(int argc, char **argv) { return event(argc, argv); }
int cn__cli_keygen(int argc, char **argv) { return keygen(argc, argv); }
int cn__cli_keyring(int argc, char **argv) { return keyring(argc, argv); }
