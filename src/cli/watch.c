/* cli/watch.c - `cairn watch` (Consul's command/watch and watch/ plan):
 * a blocking-query loop over one view. Without a handler the current
 * value is printed (JSON, 4-space indent) and the command exits, as
 * Consul's does; with one, the handler runs with the JSON on stdin and
 * CONSUL_INDEX in its environment on the first result and on every change
 * (an index bump with an equal result is not a change). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_int.h"

static struct {
    char type[32], key[1024], prefix[1024], service[256], tag[256], state[32];
    char passingonly[8];
    bool passing, shell;
} o;

static int put_enc(struct cn_buf *b, const char *s)
{
    return cn_url_encode(b, s, strlen(s), true);
}

static int need(const char *v, const char *what, char *err, size_t n)
{
    if (v && *v)
        return 0;
    snprintf(err, n, "Must specify a single %s to watch", what);
    return -1;
}

int cli_watch_endpoint(const struct cli_watch_params *p, struct cn_buf *path,
                       struct cn_buf *query, char *err, size_t n)
{
    const char *t = p->type ? p->type : "";
    int rc = 0;
    if (strcmp(t, "key") == 0) {
        if (need(p->key, "key", err, n) < 0)
            return -1;
        rc = cn_buf_puts(path, "/v1/kv/") | put_enc(path, p->key);
    } else if (strcmp(t, "keyprefix") == 0) {
        if (need(p->prefix, "prefix", err, n) < 0)
            return -1;
        rc = cn_buf_puts(path, "/v1/kv/") | put_enc(path, p->prefix) | cn_buf_puts(query, "recurse");
    } else if (strcmp(t, "services") == 0) {
        rc = cn_buf_puts(path, "/v1/catalog/services");
    } else if (strcmp(t, "nodes") == 0) {
        rc = cn_buf_puts(path, "/v1/catalog/nodes");
    } else if (strcmp(t, "service") == 0) {
        if (need(p->service, "service", err, n) < 0)
            return -1;
        rc = cn_buf_puts(path, "/v1/health/service/") | put_enc(path, p->service);
        if (p->tag && *p->tag)
            rc |= cn_buf_puts(query, "tag=") | put_enc(query, p->tag);
        if (p->passing)
            rc |= cn_buf_puts(query, query->len ? "&passing" : "passing");
    } else if (strcmp(t, "checks") == 0) {
        bool svc = p->service && *p->service, st = p->state && *p->state;
        if (svc && st) {
            snprintf(err, n, "Cannot specify service and state");
            return -1;
        }
        if (svc)
            rc = cn_buf_puts(path, "/v1/health/checks/") | put_enc(path, p->service);
        else
            rc = cn_buf_puts(path, "/v1/health/state/") | put_enc(path, st ? p->state : "any");
    } else {
        snprintf(err, n, "Unsupported watch type: %s", t);
        return -1;
    }
    if (rc < 0) {
        snprintf(err, n, "Watch parameters too long");
        return -1;
    }
    return 0;
}

static const struct cli_flag watch_flags[] = {
    {"type", CLI_STR, o.type, sizeof o.type, "watch type: key, keyprefix, services, nodes, service or checks"},
    {"key", CLI_STR, o.key, sizeof o.key, "key to watch (type key)"},
    {"prefix", CLI_STR, o.prefix, sizeof o.prefix, "key prefix to watch (type keyprefix)"},
    {"service", CLI_STR, o.service, sizeof o.service, "service to watch (type service; optional for checks)"},
    {"tag", CLI_STR, o.tag, sizeof o.tag, "service tag to filter on (type service)"},
    {"passingonly", CLI_STR, o.passingonly, sizeof o.passingonly, "true: only instances passing all checks (type service)"},
    {"passing", CLI_BOOL, &o.passing, 0, "same as -passingonly=true"},
    {"state", CLI_STR, o.state, sizeof o.state, "check state to watch (type checks; default any)"},
    {"shell", CLI_BOOL, &o.shell, 0, "run the handler with $SHELL -c (default true)"},
};
static const struct cli_cmd watch_cmd = {"watch", "[HANDLER...]",
    "Watches a view for changes. With HANDLER, runs it with the view's JSON on\n"
    "  stdin on the first result and on every change; otherwise prints the\n"
    "  current value and exits.", watch_flags, CN_ARRAY_LEN(watch_flags), true};

/* The view's data from one reply: a key watch gets the entry (or null),
 * list views get the decoded body (null for a 404). */
static json_t *view_data(struct cn_http_response *resp)
{
    json_t *v;
    if (resp->status == 404)
        return json_null();
    cli_fix_big_flags((char *)resp->body, resp->body_len);
    v = json_loadb((const char *)resp->body, resp->body_len, JSON_DECODE_ANY, NULL);
    if (v && strcmp(o.type, "key") == 0) {
        json_t *e = json_incref(json_array_get(v, 0));
        json_decref(v);
        return e ? e : json_null();
    }
    return v;
}

static int run_handler(char **args, int n, bool shell, const json_t *data, uint64_t index)
{
    char env[64], why[128];
    FILE *in = tmpfile();
    char *raw = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    char *text = raw ? cli_unfix_big_flags(raw) : NULL;
    int pid, status;
    free(raw);
    if (!in || !text || fputs(text, in) < 0 || fputc('\n', in) < 0 || fflush(in) != 0 ||
        fseek(in, 0, SEEK_SET) != 0) {
        fprintf(stderr, "Error encoding output: %s\n", strerror(errno));
        if (in)
            fclose(in);
        free(text);
        return -1;
    }
    free(text);
    snprintf(env, sizeof env, "CONSUL_INDEX=%" PRIu64, index);
    pid = cli_spawn(args, n, shell, fileno(in), env, false);
    fclose(in);
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    cli_wait_status_text(status, why, sizeof why);
    if (why[0]) {
        fprintf(stderr, "Error executing handler: %s\n", why);
        return -1;
    }
    return 0;
}

static uint64_t reply_index(const struct cn_http_response *resp)
{
    const char *s = cn_http_response_header(resp, "x-consul-index");
    uint64_t idx = 0;
    if (s)
        cn_parse_u64(s, strlen(s), &idx);
    return idx;
}

static void on_shutdown(int sig)
{
    (void)sig;
    _exit(0); /* Consul's watch exits 0 on interrupt. */
}

/* One blocking GET of the view at index; *resp on success. */
static int fetch(const struct cli_http *h, const struct cn_buf *path, const struct cn_buf *query,
                 uint64_t index, struct cn_http_response **resp)
{
    char q[CN_HTTP_HEAD_BYTES_MAX];
    int n = snprintf(q, sizeof q, "%.*s", (int)query->len, (const char *)query->data);
    if (index && n >= 0 && (size_t)n < sizeof q)
        snprintf(q + n, sizeof q - (size_t)n, "%sindex=%" PRIu64, n ? "&" : "", index);
    return cli_request(h, "GET", (const char *)path->data, q, NULL, 0, resp);
}

static int watch_loop(const struct cli_http *h, const struct cn_buf *path,
                      const struct cn_buf *query, char **args, int n, bool shell)
{
    uint64_t index = 0;
    unsigned backoff = 0;
    json_t *last = NULL;
    for (;;) {
        struct cn_http_response *resp = NULL;
        uint64_t got;
        json_t *data;
        if (fetch(h, path, query, index, &resp) < 0 ||
            (resp->status != 200 && resp->status != 404) || !(data = view_data(resp))) {
            if (resp && resp->status != 200 && resp->status != 404)
                fprintf(stderr, "Error querying Consul agent: Unexpected response code: %d (%.*s)\n",
                        resp->status, (int)CN_MIN(resp->body_len, 1024), (const char *)resp->body);
            cn_http_response_free(resp);
            if (!last && index == 0) {
                if (!resp)
                    fprintf(stderr, "Error querying Consul agent\n");
                return 1;
            }
            backoff = CN_MIN(backoff ? backoff * 2 : 1, 20u); /* Seconds. */
            sleep(backoff);
            continue;
        }
        backoff = 0;
        got = reply_index(resp);
        cn_http_response_free(resp);
        if (last && (got == index || json_equal(last, data))) {
            index = got < index ? 0 : got;
            json_decref(data);
            continue;
        }
        index = got;
        json_decref(last);
        last = data;
        if (n == 0) {
            char *raw = json_dumps(data, JSON_INDENT(4) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
            char *s = raw ? cli_unfix_big_flags(raw) : NULL;
            printf("%s\n", s ? s : "null");
            free(raw);
            free(s);
            json_decref(last);
            return 0;
        }
        if (run_handler(args, n, shell, data, index) < 0) {
            json_decref(last);
            return 1;
        }
    }
}

int cn__cli_watch(int argc, char **argv)
{
    struct cli_http h;
    struct cn_buf path, query;
    char err[256];
    int argi, rc;

    memset(&o, 0, sizeof o);
    o.shell = true;
    if ((rc = cli_parse(&watch_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (!o.type[0]) {
        fprintf(stderr, "Watch type must be specified\n\n");
        cli_usage(&watch_cmd);
        return 1;
    }
    if (o.passingonly[0]) {
        if (strcmp(o.passingonly, "true") == 0 || strcmp(o.passingonly, "1") == 0)
            o.passing = true;
        else if (strcmp(o.passingonly, "false") != 0 && strcmp(o.passingonly, "0") != 0) {
            fprintf(stderr, "Failed to parse passingonly flag: invalid syntax\n");
            return 1;
        }
    }
    struct cli_watch_params p = {o.type, o.key, o.prefix, o.service, o.tag, o.state, o.passing};
    cn_buf_init(&path, CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_init(&query, CN_HTTP_HEAD_BYTES_MAX);
    if (cli_watch_endpoint(&p, &path, &query, err, sizeof err) < 0 || cn_buf_putc(&path, 0) < 0) {
        fprintf(stderr, "%s\n", err);
        cn_buf_close(&path);
        cn_buf_close(&query);
        return 1;
    }
    signal(SIGINT, on_shutdown);
    signal(SIGTERM, on_shutdown);
    rc = watch_loop(&h, &path, &query, argv + argi, argc - argi, o.shell);
    cn_buf_close(&path);
    cn_buf_close(&query);
    return rc;
}
