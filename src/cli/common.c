/* cli/common.c - flag parsing and the HTTP plumbing every command uses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli_int.h"

static char common_token_file[CN_PATH_BYTES_MAX];
static char common_http_addr[512];

static const struct cli_flag http_flags[] = {
    {"http-addr", CLI_STR, common_http_addr, sizeof common_http_addr,
     "address of the agent (default 127.0.0.1:8500; env CAIRN_HTTP_ADDR, CONSUL_HTTP_ADDR)"},
    {"token", CLI_STR, NULL, 0, "ACL token (env CONSUL_HTTP_TOKEN)"},
    {"token-file", CLI_STR, common_token_file, sizeof common_token_file, "file holding the ACL token"},
    {"datacenter", CLI_STR, NULL, 0, "datacenter to query (default: the agent's)"},
    {"stale", CLI_BOOL, NULL, 0, "allow any server to answer reads"},
};

void cli_usage(const struct cli_cmd *cmd)
{
    printf("Usage: cairn %s [options] %s\n\n  %s\n", cmd->name, cmd->args, cmd->synopsis);
    if (cmd->n_flags) {
        printf("\nCommand options:\n");
        for (size_t i = 0; i < cmd->n_flags; i++)
            printf("  -%s%s\n      %s\n", cmd->flags[i].name,
                   cmd->flags[i].kind == CLI_BOOL ? "" : "=<value>", cmd->flags[i].help);
    }
    if (cmd->http) {
        printf("\nHTTP API options:\n");
        for (size_t i = 0; i < CN_ARRAY_LEN(http_flags); i++)
            printf("  -%s%s\n      %s\n", http_flags[i].name,
                   http_flags[i].kind == CLI_BOOL ? "" : "=<value>", http_flags[i].help);
    }
}

/* host:port, optionally with http:// (https is not supported yet). */
static int parse_addr(const char *addr, struct cli_http *h)
{
    const char *p = addr, *colon;
    int64_t port = 8500;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://")) {
        fprintf(stderr, "Error: unsupported address scheme in \"%s\" (only http://)\n", addr);
        return -1;
    }
    colon = strrchr(p, ':');
    if (colon) {
        if (cn_parse_i64(colon + 1, strcspn(colon + 1, "/"), &port) < 0 || port <= 0 ||
            port > 65535) {
            fprintf(stderr, "Error: invalid port in address \"%s\"\n", addr);
            return -1;
        }
    }
    size_t hl = colon ? (size_t)(colon - p) : strcspn(p, "/");
    if (hl == 0 || hl >= sizeof h->host) {
        fprintf(stderr, "Error: invalid address \"%s\"\n", addr);
        return -1;
    }
    memcpy(h->host, p, hl);
    h->host[hl] = 0;
    h->port = (int)port;
    return 0;
}

static int set_flag(const struct cli_flag *f, void *dst, const char *val)
{
    switch (f->kind) {
    case CLI_BOOL:
        *(bool *)dst = !val || strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
        if (val && !*(bool *)dst && strcmp(val, "false") != 0 && strcmp(val, "0") != 0)
            return -1;
        return 0;
    case CLI_STR:
        if (strlen(val) >= f->size)
            return -1;
        snprintf(dst, f->size, "%s", val);
        return 0;
    case CLI_U64:
        return cn_parse_u64(val, strlen(val), dst) < 0 ? -1 : 0;
    case CLI_LIST: {
        struct cli_list *l = dst;
        if (l->n >= CLI_LIST_MAX)
            return -1;
        l->v[l->n++] = val;
        return 0;
    }
    }
    return -1;
}

static void *http_flag_dst(const struct cli_flag *f, struct cli_http *h, size_t *size)
{
    *size = f->size;
    if (strcmp(f->name, "token") == 0) {
        *size = sizeof h->token;
        return h->token;
    }
    if (strcmp(f->name, "datacenter") == 0) {
        *size = sizeof h->datacenter;
        return h->datacenter;
    }
    if (strcmp(f->name, "stale") == 0)
        return &h->stale;
    return f->dst;
}

static int load_token_file(struct cli_http *h)
{
    FILE *fp = fopen(common_token_file, "r");
    size_t n;
    if (!fp) {
        fprintf(stderr, "Error loading token file: %s\n", strerror(errno));
        return -1;
    }
    n = fread(h->token, 1, sizeof h->token - 1, fp);
    fclose(fp);
    h->token[n] = 0;
    h->token[strcspn(h->token, "\r\n")] = 0;
    return 0;
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv,
              struct cli_http *h, int *argi)
{
    const char *env;
    int i;

    memset(h, 0, sizeof *h);
    common_http_addr[0] = common_token_file[0] = 0;
    env = getenv("CAIRN_HTTP_ADDR");
    if (!env || !*env)
        env = getenv("CONSUL_HTTP_ADDR");
    snprintf(common_http_addr, sizeof common_http_addr, "%s", env && *env ? env : "127.0.0.1:8500");
    env = getenv("CONSUL_HTTP_TOKEN");
    if (env)
        snprintf(h->token, sizeof h->token, "%s", env);

    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *eq, *val = NULL;
        const struct cli_flag *f = NULL;
        void *dst = NULL;
        size_t nl, size = 0;
        if (a[0] != '-' || a[1] == 0)
            break; /* First positional argument. */
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        a += a[1] == '-' ? 2 : 1;
        if (strcmp(a, "h") == 0 || strcmp(a, "help") == 0) {
            cli_usage(cmd);
            return 1;
        }
        eq = strchr(a, '=');
        nl = eq ? (size_t)(eq - a) : strlen(a);
        for (size_t k = 0; k < cmd->n_flags && !f; k++)
            if (strlen(cmd->flags[k].name) == nl && memcmp(cmd->flags[k].name, a, nl) == 0) {
                f = &cmd->flags[k];
                dst = f->dst;
                size = f->size;
            }
        for (size_t k = 0; cmd->http && k < CN_ARRAY_LEN(http_flags) && !f; k++)
            if (strlen(http_flags[k].name) == nl && memcmp(http_flags[k].name, a, nl) == 0) {
                f = &http_flags[k];
                dst = http_flag_dst(f, h, &size);
            }
        if (!f) {
            fprintf(stderr, "flag provided but not defined: -%.*s\n", (int)nl, a);
            cli_usage(cmd);
            return -1;
        }
        if (eq)
            val = eq + 1;
        else if (f->kind != CLI_BOOL) {
            if (++i >= argc) {
                fprintf(stderr, "flag needs an argument: -%s\n", f->name);
                return -1;
            }
            val = argv[i];
        }
        struct cli_flag tmp = *f;
        tmp.size = size;
        if (set_flag(&tmp, dst, val) < 0) {
            fprintf(stderr, "invalid value \"%s\" for flag -%s\n", val ? val : "", f->name);
            return -1;
        }
    }
    if (cmd->http) {
        if (parse_addr(common_http_addr, h) < 0)
            return -1;
        if (common_token_file[0] && load_token_file(h) < 0)
            return -1;
    }
    *argi = i;
    return 0;
}

int cli_request(const struct cli_http *h, const char *method, const char *path,
                const char *query, const void *body, size_t body_len,
                struct cn_http_response **resp)
{
    struct cn_buf target;
    char hdr[600], err[CN_ERRMSG_MAX];
    const char *hdrs[1];
    bool q = query && *query;
    int rc;

    cn_buf_init(&target, CN_HTTP_HEAD_BYTES_MAX);
    rc = cn_buf_puts(&target, path);
    if (rc == 0 && (q || h->datacenter[0] || h->stale))
        rc = cn_buf_putc(&target, '?');
    if (rc == 0 && q)
        rc = cn_buf_puts(&target, query);
    if (rc == 0 && h->datacenter[0]) {
        rc = cn_buf_puts(&target, q ? "&dc=" : "dc=");
        if (rc == 0)
            rc = cn_url_encode(&target, h->datacenter, strlen(h->datacenter), false);
        q = true;
    }
    if (rc == 0 && h->stale)
        rc = cn_buf_puts(&target, q ? "&stale" : "stale");
    if (rc == 0)
        rc = cn_buf_putc(&target, 0);
    if (rc < 0) {
        cn_buf_close(&target);
        fprintf(stderr, "Error: request too large\n");
        return -1;
    }
    snprintf(hdr, sizeof hdr, "X-Consul-Token: %s", h->token);
    hdrs[0] = hdr;
    struct cn_http_client_req cr = {
        .method = method, .host = h->host, .port = h->port,
        .target = (const char *)target.data, .headers = hdrs,
        .n_headers = h->token[0] ? 1 : 0, .body = body, .body_len = body_len,
        .timeout_ms = 11 * 60 * 1000, /* Blocking queries can wait 10 min. */
    };
    rc = cn_http_client_do_sync(&cr, resp, err);
    cn_buf_close(&target);
    if (rc < 0) {
        fprintf(stderr, "Error connecting to the agent: %s\n", err);
        return -1;
    }
    return 0;
}

void cli_http_error(const char *what, const struct cn_http_response *resp)
{
    fprintf(stderr, "Error! %s: Unexpected response code: %d (%.*s)\n", what,
            resp->status, (int)CN_MIN(resp->body_len, 1024), (const char *)resp->body);
}

int cli_read_value(const char *arg, uint8_t **out, size_t *len, size_t max)
{
    struct cn_buf b;
    FILE *fp = NULL;
    char chunk[65536];
    int rc = 0;

    cn_buf_init(&b, max);
    if (strcmp(arg, "-") == 0) {
        fp = stdin;
    } else if (arg[0] == '@') {
        fp = fopen(arg + 1, "rb");
        if (!fp) {
            fprintf(stderr, "Error! Failed to read file %s: %s\n", arg + 1, strerror(errno));
            return -1;
        }
    } else {
        rc = cn_buf_puts(&b, arg);
    }
    while (fp && rc == 0) {
        size_t n = fread(chunk, 1, sizeof chunk, fp);
        if (n == 0)
            break;
        rc = cn_buf_append(&b, chunk, n);
    }
    if (fp && fp != stdin)
        fclose(fp);
    if (rc < 0) {
        cn_buf_close(&b);
        fprintf(stderr, "Error! Value too large (max %zu bytes)\n", max);
        return -1;
    }
    *out = cn_buf_steal(&b, len);
    return *out ? 0 : -1;
}
