/* cli/catalog.c - `cairn catalog datacenters|nodes|services` (Consul's
 * command/catalog: flags, column output, texts and exit codes). */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli_int.h"

static struct {
    char service[256], near[256], node[256], filter[4096];
    struct cli_list node_meta;
    bool detailed, tags;
} o;

/* GET path?query; the decoded JSON, or NULL after printing `what`.
 * 404 with `null_on_404` gives json null (a missing node). */
static json_t *get(const struct cli_http *h, const char *path, const char *query,
                   const char *what, bool null_on_404)
{
    struct cn_http_response *resp;
    json_t *v;
    if (cli_request(h, "GET", path, query, NULL, 0, &resp) < 0)
        return NULL;
    if (null_on_404 && resp->status == 404) {
        cn_http_response_free(resp);
        return json_null();
    }
    if (resp->status != 200) {
        fprintf(stderr, "%s: Unexpected response code: %d (%.*s)\n", what, resp->status,
                (int)CN_MIN(resp->body_len, 1024), (const char *)resp->body);
        cn_http_response_free(resp);
        return NULL;
    }
    v = json_loadb((const char *)resp->body, resp->body_len, JSON_DECODE_ANY, NULL);
    cn_http_response_free(resp);
    if (!v)
        fprintf(stderr, "%s: unexpected reply from agent\n", what);
    return v;
}

static int too_many(int argc, int argi)
{
    if (argi < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - argi);
        return 1;
    }
    return 0;
}

/* ?node-meta=k:v&near=..&filter=.. from the flags. */
static int build_query(struct cn_buf *q)
{
    cn_buf_init(q, CN_HTTP_HEAD_BYTES_MAX);
    for (size_t i = 0; i < o.node_meta.n; i++) {
        char k[256];
        const char *v;
        if (!cli_kv_split(o.node_meta.v[i], k, sizeof k, &v)) {
            fprintf(stderr, "invalid value \"%s\" for flag -node-meta: missing '='\n",
                    o.node_meta.v[i]);
            return -1;
        }
        cn_buf_puts(q, q->len ? "&node-meta=" : "node-meta=");
        cn_url_encode(q, k, strlen(k), false);
        cn_buf_puts(q, "%3A");
        cn_url_encode(q, v, strlen(v), false);
    }
    if (o.near[0]) {
        cn_buf_puts(q, q->len ? "&near=" : "near=");
        cn_url_encode(q, o.near, strlen(o.near), false);
    }
    if (o.filter[0]) {
        cn_buf_puts(q, q->len ? "&filter=" : "filter=");
        cn_url_encode(q, o.filter, strlen(o.filter), false);
    }
    if (cn_buf_putc(q, 0) < 0) {
        fprintf(stderr, "Error: query too long\n");
        return -1;
    }
    return 0;
}

/* ---- catalog datacenters ---- */

static const struct cli_cmd dc_cmd = {"catalog datacenters", "",
    "Lists the datacenters known to the agent.", NULL, 0, true};

static int catalog_datacenters(int argc, char **argv)
{
    struct cli_http h;
    json_t *v, *e;
    size_t i;
    int argi, rc;

    if ((rc = cli_parse(&dc_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (too_many(argc, argi))
        return 1;
    if (!(v = get(&h, "/v1/catalog/datacenters", "", "Error listing datacenters", false)))
        return 1;
    if (json_array_size(v) == 0) {
        fprintf(stderr, "No datacenters found\n");
        json_decref(v);
        return 1;
    }
    json_array_foreach(v, i, e)
        printf("%s\n", json_string_value(e) ? json_string_value(e) : "");
    json_decref(v);
    return 0;
}

/* ---- catalog nodes ---- */

static const struct cli_flag nodes_flags[] = {
    {"service", CLI_STR, o.service, sizeof o.service, "only nodes providing this service"},
    {"detailed", CLI_BOOL, &o.detailed, 0, "print full node IDs, tagged addresses and metadata"},
    {"near", CLI_STR, o.near, sizeof o.near, "sort by round-trip time from this node (_agent: this agent)"},
    {"node-meta", CLI_LIST, &o.node_meta, 0, "filter on node metadata key=value; may be repeated"},
    {"filter", CLI_STR, o.filter, sizeof o.filter, "filter expression (@file or - for stdin)"},
};
static const struct cli_cmd nodes_cmd = {"catalog nodes", "",
    "Lists the nodes in the datacenter.", nodes_flags, CN_ARRAY_LEN(nodes_flags), true};

/* "k=v, k2=v2" of a JSON object, sorted by key. */
static char *map_to_kv(const json_t *m)
{
    struct cn_buf b;
    const char *keys[256];
    size_t n = 0, len;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
        if (n < CN_ARRAY_LEN(keys))
            keys[n++] = k;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    cn_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        json_t *val = json_object_get(m, keys[i]);
        const char *s = json_string_value(val);
        if (!s && json_is_object(val)) /* Service-style tagged address. */
            s = json_string_value(json_object_get(val, "Address"));
        cn_buf_puts(&b, i ? ", " : "");
        cn_buf_puts(&b, keys[i]);
        cn_buf_putc(&b, '=');
        cn_buf_puts(&b, s ? s : "");
    }
    cn_buf_putc(&b, 0);
    return (char *)cn_buf_steal(&b, &len);
}

static int print_nodes(json_t *nodes, bool from_service)
{
    size_t rows = json_array_size(nodes) + 1, cols = o.detailed ? 6 : 4, i;
    const char **cells = calloc(rows * cols, sizeof *cells);
    char **owned = calloc(rows * 3, sizeof *owned);
    static const char *hdr[] = {"Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"};
    struct cn_buf out;
    json_t *n;
    int rc = -1;
    if (!cells || !owned)
        goto done;
    memcpy(cells, hdr, cols * sizeof *cells);
    json_array_foreach(nodes, i, n) {
        const char **row = cells + (i + 1) * cols;
        const char *id = json_string_value(json_object_get(n, "ID"));
        row[0] = json_string_value(json_object_get(n, "Node"));
        row[2] = json_string_value(json_object_get(n, "Address"));
        row[3] = json_string_value(json_object_get(n, "Datacenter"));
        if (o.detailed) {
            row[1] = id;
            row[4] = owned[i * 3] = map_to_kv(json_object_get(n, "TaggedAddresses"));
            row[5] = owned[i * 3 + 1] =
                map_to_kv(json_object_get(n, from_service ? "NodeMeta" : "Meta"));
        } else if ((owned[i * 3 + 2] = malloc(64))) {
            cli_short_id(id, owned[i * 3 + 2], 64);
            row[1] = owned[i * 3 + 2];
        }
    }
    cn_buf_init(&out, 1u << 30);
    rc = cli_columnize(&out, cells, rows, cols);
    if (rc == 0)
        fwrite(out.data, 1, out.len, stdout);
    cn_buf_close(&out);
done:
    for (i = 0; owned && i < rows * 3; i++)
        free(owned[i]);
    free(owned);
    free(cells);
    return rc;
}

static int catalog_nodes(int argc, char **argv)
{
    struct cli_http h;
    struct cn_buf q, path;
    json_t *v;
    int argi, rc;

    if ((rc = cli_parse(&nodes_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (too_many(argc, argi))
        return 1;
    if (o.filter[0] == '@' || strcmp(o.filter, "-") == 0) {
        uint8_t *f;
        size_t n;
        if (cli_read_value(o.filter, &f, &n, sizeof o.filter - 1) < 0) {
            fprintf(stderr, "Could not process filter argument\n");
            return 1;
        }
        memcpy(o.filter, f, n);
        o.filter[n] = '\0';
        cn_free(f);
    }
    if (build_query(&q) < 0) {
        cn_buf_close(&q);
        return 1;
    }
    cn_buf_init(&path, CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_puts(&path, o.service[0] ? "/v1/catalog/service/" : "/v1/catalog/nodes");
    cn_url_encode(&path, o.service, strlen(o.service), false);
    if (cn_buf_putc(&path, 0) < 0)
        v = NULL;
    else
        v = get(&h, (const char *)path.data, (const char *)q.data,
                o.service[0] ? "Error listing nodes for service" : "Error listing nodes", false);
    cn_buf_close(&path);
    cn_buf_close(&q);
    if (!v)
        return 1;
    if (json_array_size(v) == 0) {
        fprintf(stderr, "No nodes match the given query - try expanding your search.\n");
        json_decref(v);
        return 0;
    }
    rc = print_nodes(v, o.service[0] != '\0');
    json_decref(v);
    return rc < 0 ? 1 : 0;
}

/* ---- catalog services ---- */

static const struct cli_flag svcs_flags[] = {
    {"node", CLI_STR, o.node, sizeof o.node, "list the services of this node (name or ID)"},
    {"node-meta", CLI_LIST, &o.node_meta, 0, "only services on nodes with metadata key=value; may be repeated"},
    {"tags", CLI_BOOL, &o.tags, 0, "show each service's tags, comma-separated"},
};
static const struct cli_cmd svcs_cmd = {"catalog services", "",
    "Lists the services registered in the datacenter.", svcs_flags,
    CN_ARRAY_LEN(svcs_flags), true};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* name -> tags of a node's services (Consul merges per name). */
static json_t *node_services(json_t *node)
{
    json_t *out = json_object(), *svcs = json_object_get(node, "Services"), *s;
    const char *k;
    json_object_foreach(svcs, k, s) {
        const char *name = json_string_value(json_object_get(s, "Service"));
        json_t *tags;
        if (!name)
            continue;
        if (!(tags = json_object_get(out, name))) {
            tags = json_array();
            json_object_set_new(out, name, tags);
        }
        json_array_extend(tags, json_object_get(s, "Tags"));
    }
    return out;
}

static int print_services(json_t *svcs)
{
    size_t n = json_object_size(svcs), i = 0;
    const char **names = calloc(n + 1, sizeof *names), **cells = calloc(2 * n + 2, sizeof *cells);
    char **joined = calloc(n + 1, sizeof *joined);
    struct cn_buf out;
    const char *k;
    json_t *v;
    int rc = 0;
    if (!names || !cells || !joined) {
        free(names);
        free(cells);
        free(joined);
        return -1;
    }
    json_object_foreach(svcs, k, v)
        names[i++] = k;
    qsort(names, n, sizeof *names, cmp_str);
    cn_buf_init(&out, 1u << 30);
    for (i = 0; i < n && !o.tags; i++)
        printf("%s\n", names[i]);
    for (i = 0; i < n && o.tags; i++) {
        json_t *tags = json_object_get(svcs, names[i]);
        size_t nt = json_array_size(tags), len = 0;
        const char **t = calloc(nt + 1, sizeof *t);
        for (size_t j = 0; t && j < nt; j++) {
            t[j] = json_string_value(json_array_get(tags, j));
            t[j] = t[j] ? t[j] : "";
            len += strlen(t[j]) + 1;
        }
        if (t)
            qsort(t, nt, sizeof *t, cmp_str);
        if (t && (joined[i] = calloc(1, len + 1))) {
            size_t at = 0;
            for (size_t j = 0; j < nt; j++)
                at += (size_t)snprintf(joined[i] + at, len + 1 - at, "%s%s", j ? "," : "", t[j]);
        }
        free(t);
        cells[2 * i] = names[i];
        cells[2 * i + 1] = joined[i];
    }
    if (o.tags && (rc = cli_tabwrite2(&out, cells, n)) == 0)
        fwrite(out.data, 1, out.len, stdout);
    cn_buf_close(&out);
    for (i = 0; i < n; i++)
        free(joined[i]);
    free(joined);
    free(cells);
    free(names);
    return rc;
}

static int catalog_services(int argc, char **argv)
{
    struct cli_http h;
    struct cn_buf q, path;
    json_t *v = NULL, *svcs;
    int argi, rc;

    if ((rc = cli_parse(&svcs_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (too_many(argc, argi))
        return 1;
    if (build_query(&q) < 0) {
        cn_buf_close(&q);
        return 1;
    }
    cn_buf_init(&path, CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_puts(&path, o.node[0] ? "/v1/catalog/node/" : "/v1/catalog/services");
    cn_url_encode(&path, o.node, strlen(o.node), false);
    if (cn_buf_putc(&path, 0) == 0)
        v = get(&h, (const char *)path.data, (const char *)q.data,
                o.node[0] ? "Error listing services for node" : "Error listing services", true);
    cn_buf_close(&path);
    cn_buf_close(&q);
    if (!v)
        return 1;
    svcs = o.node[0] ? node_services(v) : json_incref(v);
    json_decref(v);
    if (json_object_size(svcs) == 0) {
        fprintf(stderr, "No services match the given query - try expanding your search.\n");
        json_decref(svcs);
        return 0;
    }
    rc = print_services(svcs);
    json_decref(svcs);
    return rc < 0 ? 1 : 0;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *synopsis;
} subs[] = {
    {"datacenters", catalog_datacenters, "Lists all known datacenters"},
    {"nodes", catalog_nodes, "Lists all nodes in the given datacenter"},
    {"services", catalog_services, "Lists all registered services in a datacenter"},
};

int cn__cli_catalog(int argc, char **argv)
{
    memset(&o, 0, sizeof o);
    for (size_t i = 0; argc >= 1 && i < CN_ARRAY_LEN(subs); i++)
        if (strcmp(argv[0], subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    printf("Usage: cairn catalog <subcommand> [options] [args]\n\n"
           "  Queries the catalog.\n\nSubcommands:\n");
    for (size_t i = 0; i < CN_ARRAY_LEN(subs); i++)
        printf("    %-12s %s\n", subs[i].name, subs[i].synopsis);
    return argc >= 1 && strcmp(argv[0], "-h") != 0 && strcmp(argv[0], "--help") != 0 &&
                   strcmp(argv[0], "-help") != 0 ? 1 : 0;
}
