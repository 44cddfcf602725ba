/* cli/services.c - `cairn services register|deregister` and `cairn maint`
 * (Consul's command/services and command/maint: flags, texts, exit codes).
 * Service files are JSON config files with a "service" object or a
 * "services" array; HCL is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli_int.h"

/* A service definition file (the agent takes 256 KiB per definition). */
#define CLI_SVCFILE_BYTES_MAX (16 << 20)

static struct {
    char name[256], id[256], address[256], reason[1024], service[256];
    uint64_t port;
    struct cli_list tags, meta;
    bool enable, disable;
} o;

/* Consul's api error text: "Unexpected response code: 404 (body)". */
static void api_error(const char *what, const struct cn_http_response *resp)
{
    fprintf(stderr, "%s: Unexpected response code: %d (%.*s)\n", what, resp->status,
            (int)CN_MIN(resp->body_len, 1024), (const char *)resp->body);
}

/* A member of obj, matching key case-insensitively (config files use
 * snake/lower case, the API PascalCase). */
static json_t *get_ci(json_t *obj, const char *key)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
        if (strcasecmp(k, key) == 0)
            return v;
    return NULL;
}

static const char *str_ci(json_t *obj, const char *key)
{
    return json_string_value(get_ci(obj, key));
}

/* Loads FILE's service definitions into a new array. */
static json_t *load_file(const char *path)
{
    json_error_t je;
    json_t *root, *one, *many, *out;
    size_t n = strlen(path);
    if (n >= 4 && strcmp(path + n - 4, ".hcl") == 0) {
        fprintf(stderr, "Error: Error decoding \"%s\": HCL service files are not supported, "
                "use JSON\n", path);
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > CLI_SVCFILE_BYTES_MAX) {
        fprintf(stderr, "Error: Error decoding \"%s\": file larger than %d bytes\n", path,
                CLI_SVCFILE_BYTES_MAX);
        return NULL;
    }
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fprintf(stderr, "Error: Error decoding \"%s\": %s (line %d)\n", path, je.text, je.line);
        return NULL;
    }
    out = json_array();
    one = get_ci(root, "service");
    many = get_ci(root, "services");
    if (json_is_object(one))
        json_array_append(out, one);
    for (size_t i = 0; json_is_array(many) && i < json_array_size(many); i++)
        if (json_is_object(json_array_get(many, i)))
            json_array_append(out, json_array_get(many, i));
    json_decref(root);
    if (json_array_size(out) == 0) {
        fprintf(stderr, "Error: Config file \"%s\" has no service definitions\n", path);
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Flag values fill what a file's definition leaves out (Consul's
 * CombineArgs); with no file, they are the definition. */
static int combine(json_t *svc)
{
    json_t *meta = get_ci(svc, "meta"), *tags = get_ci(svc, "tags");
    if (o.id[0] && !get_ci(svc, "id"))
        json_object_set_new(svc, "ID", json_string(o.id));
    if (o.name[0] && !get_ci(svc, "name"))
        json_object_set_new(svc, "Name", json_string(o.name));
    if (o.address[0] && !get_ci(svc, "address"))
        json_object_set_new(svc, "Address", json_string(o.address));
    if (o.port && !get_ci(svc, "port"))
        json_object_set_new(svc, "Port", json_integer((json_int_t)o.port));
    if (o.meta.n && !json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(svc, "Meta", meta);
    }
    for (size_t i = 0; i < o.meta.n; i++) {
        char k[256];
        const char *v;
        if (!cli_kv_split(o.meta.v[i], k, sizeof k, &v)) {
            fprintf(stderr, "invalid value \"%s\" for flag -meta: missing '='\n", o.meta.v[i]);
            return -1;
        }
        json_object_set_new(meta, k, json_string(v));
    }
    if (o.tags.n && !json_is_array(tags)) {
        tags = json_array();
        json_object_set_new(svc, "Tags", tags);
    }
    for (size_t i = 0; i < o.tags.n; i++)
        json_array_append_new(tags, json_string(o.tags.v[i]));
    return 0;
}

static const struct cli_flag reg_flags[] = {
    {"name", CLI_STR, o.name, sizeof o.name, "name of the service to register (flag-based registration)"},
    {"id", CLI_STR, o.id, sizeof o.id, "ID of the service (default: -name)"},
    {"address", CLI_STR, o.address, sizeof o.address, "address of the service"},
    {"port", CLI_U64, &o.port, 0, "port of the service"},
    {"tag", CLI_LIST, &o.tags, 0, "tag to add to the service; may be repeated"},
    {"meta", CLI_LIST, &o.meta, 0, "metadata as key=value; may be repeated"},
};
static const struct cli_cmd reg_cmd = {"services register", "[FILE.json...]",
    "Registers services with the local agent from JSON config files (a \"service\"\n"
    "  object or a \"services\" array) or from flags.", reg_flags, CN_ARRAY_LEN(reg_flags), true};

static int register_one(const struct cli_http *h, json_t *svc)
{
    struct cn_http_response *resp;
    char *body = json_dumps(svc, JSON_COMPACT);
    const char *name = str_ci(svc, "name");
    int ok;
    if (!body)
        return -1;
    if (cli_request(h, "PUT", "/v1/agent/service/register", "", body, strlen(body), &resp) < 0) {
        free(body);
        return -1;
    }
    free(body);
    ok = resp->status == 200;
    if (!ok) {
        char what[512];
        snprintf(what, sizeof what, "Error registering service \"%s\"", name ? name : "");
        api_error(what, resp);
    } else {
        printf("Registered service: %s\n", name ? name : "");
    }
    cn_http_response_free(resp);
    return ok ? 0 : -1;
}

static int services_register(int argc, char **argv)
{
    struct cli_http h;
    json_t *svcs;
    int argi, rc, ret = 0;

    memset(&o, 0, sizeof o);
    if ((rc = cli_parse(&reg_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (argi >= argc && !o.name[0]) {
        fprintf(stderr, "Service registration requires at least one argument or flags.\n");
        return 1;
    }
    if (argi < argc && o.name[0]) {
        fprintf(stderr, "Service registration requires arguments or -id, not both.\n");
        return 1;
    }
    svcs = json_array();
    for (int i = argi; i < argc; i++) {
        json_t *f = load_file(argv[i]);
        if (!f) {
            json_decref(svcs);
            return 1;
        }
        json_array_extend(svcs, f);
        json_decref(f);
    }
    if (argi >= argc)
        json_array_append_new(svcs, json_object());
    for (size_t i = 0; i < json_array_size(svcs) && ret == 0; i++) {
        json_t *svc = json_array_get(svcs, i);
        if (combine(svc) < 0 || register_one(&h, svc) < 0)
            ret = 1;
    }
    json_decref(svcs);
    return ret;
}

static const struct cli_flag dereg_flags[] = {
    {"id", CLI_STR, o.id, sizeof o.id, "ID of the service to deregister (not with FILE arguments)"},
};
static const struct cli_cmd dereg_cmd = {"services deregister", "[FILE.json...]",
    "Deregisters services from the local agent, by -id or by the definitions in\n"
    "  FILEs (their ID, else their name).", dereg_flags, CN_ARRAY_LEN(dereg_flags), true};

static int deregister_one(const struct cli_http *h, const char *id)
{
    struct cn_http_response *resp;
    struct cn_buf path;
    int ok;
    cn_buf_init(&path, CN_HTTP_HEAD_BYTES_MAX);
    if (cn_buf_puts(&path, "/v1/agent/service/deregister/") < 0 ||
        cn_url_encode(&path, id, strlen(id), false) < 0 || cn_buf_putc(&path, 0) < 0) {
        cn_buf_close(&path);
        fprintf(stderr, "Error: service ID too long\n");
        return -1;
    }
    if (cli_request(h, "PUT", (const char *)path.data, "", NULL, 0, &resp) < 0) {
        cn_buf_close(&path);
        return -1;
    }
    cn_buf_close(&path);
    ok = resp->status == 200;
    if (!ok) {
        char what[512];
        snprintf(what, sizeof what, "Error deregistering service \"%s\"", id);
        api_error(what, resp);
    } else {
        printf("Deregistered service: %s\n", id);
    }
    cn_http_response_free(resp);
    return ok ? 0 : -1;
}

static int services_deregister(int argc, char **argv)
{
    struct cli_http h;
    int argi, rc, ret = 0;

    memset(&o, 0, sizeof o);
    if ((rc = cli_parse(&dereg_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (argi >= argc && !o.id[0]) {
        fprintf(stderr, "Service deregistration requires at least one argument or -id.\n");
        return 1;
    }
    if (argi < argc && o.id[0]) {
        fprintf(stderr, "Service deregistration requires arguments or -id, not both.\n");
        return 1;
    }
    if (o.id[0])
        return deregister_one(&h, o.id) < 0 ? 1 : 0;
    for (int i = argi; i < argc && ret == 0; i++) {
        json_t *svcs = load_file(argv[i]), *svc;
        size_t k;
        if (!svcs)
            return 1;
        json_array_foreach(svcs, k, svc) {
            const char *id = str_ci(svc, "id");
            if (!id || !*id)
                id = str_ci(svc, "name");
            if (id && *id && ret == 0 && deregister_one(&h, id) < 0)
                ret = 1;
        }
        json_decref(svcs);
    }
    return ret;
}

int cn__cli_services(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "register") == 0)
        return services_register(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "deregister") == 0)
        return services_deregister(argc - 1, argv + 1);
    printf("Usage: cairn services <subcommand> [options] [args]\n\n"
           "  Registers and deregisters services with the local agent.\n\n"
           "Subcommands:\n"
           "    deregister    Deregister services with the local agent\n"
           "    register      Register services with the local agent\n");
    return argc >= 1 && strcmp(argv[0], "-h") != 0 && strcmp(argv[0], "--help") != 0 &&
                   strcmp(argv[0], "-help") != 0 ? 1 : 0;
}

/* ---- maint ---- */

static const struct cli_flag maint_flags[] = {
    {"enable", CLI_BOOL, &o.enable, 0, "enable maintenance mode"},
    {"disable", CLI_BOOL, &o.disable, 0, "disable maintenance mode"},
    {"reason", CLI_STR, o.reason, sizeof o.reason, "text describing the maintenance reason"},
    {"service", CLI_STR, o.service, sizeof o.service, "control maintenance mode of this service ID"},
};
static const struct cli_cmd maint_cmd = {"maint", "",
    "Places the node or one service into maintenance mode (a critical check),\n"
    "  or takes it out. Without -enable/-disable, lists what is in maintenance.",
    maint_flags, CN_ARRAY_LEN(maint_flags), true};

/* Reads a JSON object reply of GET path; NULL after printing `what`. */
static json_t *get_json(const struct cli_http *h, const char *path, const char *what)
{
    struct cn_http_response *resp;
    json_t *v;
    if (cli_request(h, "GET", path, "", NULL, 0, &resp) < 0)
        return NULL;
    if (resp->status != 200) {
        api_error(what, resp);
        cn_http_response_free(resp);
        return NULL;
    }
    v = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
    cn_http_response_free(resp);
    if (!json_is_object(v)) {
        fprintf(stderr, "%s: unexpected reply from agent\n", what);
        json_decref(v);
        return NULL;
    }
    return v;
}

static int maint_list(const struct cli_http *h)
{
    json_t *self = get_json(h, "/v1/agent/self", "Error querying Consul agent"), *checks, *c;
    const char *node, *id;
    if (!self)
        return 1;
    node = json_string_value(json_object_get(json_object_get(self, "Config"), "NodeName"));
    checks = get_json(h, "/v1/agent/checks", "Error getting checks");
    if (!checks) {
        json_decref(self);
        return 1;
    }
    c = json_object_get(checks, "_node_maintenance");
    if (c)
        printf("Node:\n  Name:   %s\n  Reason: %s\n\n", node ? node : "",
               json_string_value(json_object_get(c, "Notes")) ?: "");
    json_object_foreach(checks, id, c) {
        const char *sid = json_string_value(json_object_get(c, "ServiceID"));
        if (strncmp(id, "_service_maintenance:", 21) == 0)
            printf("Service:\n  ID:     %s\n  Reason: %s\n\n", sid ? sid : id + 21,
                   json_string_value(json_object_get(c, "Notes")) ?: "");
    }
    json_decref(checks);
    json_decref(self);
    return 0;
}

static int maint_toggle(const struct cli_http *h)
{
    struct cn_http_response *resp;
    struct cn_buf path, q;
    char what[512];
    int ret = 1;

    cn_buf_init(&path, CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_init(&q, CN_HTTP_HEAD_BYTES_MAX);
    if (o.service[0])
        cn_buf_puts(&path, "/v1/agent/service/maintenance/");
    else
        cn_buf_puts(&path, "/v1/agent/maintenance");
    cn_url_encode(&path, o.service, strlen(o.service), false);
    cn_buf_puts(&q, o.enable ? "enable=true" : "enable=false");
    if (o.reason[0]) {
        cn_buf_puts(&q, "&reason=");
        cn_url_encode(&q, o.reason, strlen(o.reason), false);
    }
    if (cn_buf_putc(&path, 0) < 0 || cn_buf_putc(&q, 0) < 0) {
        fprintf(stderr, "Error: request too large\n");
    } else if (cli_request(h, "PUT", (const char *)path.data, (const char *)q.data, NULL, 0,
                           &resp) == 0) {
        if (resp->status != 200) {
            snprintf(what, sizeof what, "Error %s %s maintenance", o.enable ? "enabling" : "disabling",
                     o.service[0] ? "service" : "node");
            api_error(what, resp);
        } else if (o.service[0]) {
            printf("Service maintenance is now %s for \"%s\"\n", o.enable ? "enabled" : "disabled",
                   o.service);
            ret = 0;
        } else {
            printf("Node maintenance is now %s\n", o.enable ? "enabled" : "disabled");
            ret = 0;
        }
        cn_http_response_free(resp);
    }
    cn_buf_close(&path);
    cn_buf_close(&q);
    return ret;
}

int cn__cli_maint(int argc, char **argv)
{
    struct cli_http h;
    int argi, rc;

    memset(&o, 0, sizeof o);
    if ((rc = cli_parse(&maint_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (o.enable && o.disable) {
        fprintf(stderr, "Only one of -enable or -disable may be provided\n");
        return 1;
    }
    if (!o.enable && o.reason[0]) {
        fprintf(stderr, "Reason may only be provided with -enable\n");
        return 1;
    }
    if (!o.enable && !o.disable && o.service[0]) {
        fprintf(stderr, "Service requires either -enable or -disable\n");
        return 1;
    }
    if (!o.enable && !o.disable)
        return maint_list(&h);
    return maint_toggle(&h);
}
