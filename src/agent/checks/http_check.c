/* agent/checks/http_check.c - HTTP(S) checks (Consul's CheckHTTP).
 *
 * At start the URL, method and headers are checked and the header lines
 * built once (prep); a definition Go would refuse at request time (bad
 * URL, invalid header) is not refused here but makes every run critical
 * with Go's error text, as in Consul.
 *
 * A run is an op holding one cn_http_call at a time. Redirects follow
 * net/http's Client: up to 10 hops within one overall Timeout; 301/302/303
 * turn the method into GET (HEAD stays) and drop the body, 307/308 keep
 * both; Authorization and Cookie headers go only to the same host or a
 * subdomain; a custom Host header survives only a relative Location.
 * With DisableRedirects the 3xx response itself is the result.
 *
 * Output: "HTTP <method> <url>: <status line> Output: <body tail>" with at
 * most OutputMaxSize bytes of body (the client keeps the tail in a ring,
 * like Consul's circbuf), or Go-worded transport errors:
 * `Get "<url>": dial tcp 127.0.0.1:1: connect: connection refused`.
 */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "checks_int.h"

#define USER_AGENT "Consul Health Check"   /* checks.UserAgent */
#define ACCEPT "text/plain, text/*, */*"

struct http_prep {
    char *error;              /* Set: every run is critical with this. */
    struct cn__url url;
    const char *method;       /* def->method or "GET" (borrowed from def). */
    char *lines;              /* "Name: value\0" back to back... */
    const char **line_v;      /* ...and pointers into it. */
    size_t n_lines;
    char *host_override;      /* A Host header's value, or NULL. */
    bool user_auth;           /* An Authorization header was given. */
};

struct http_op {
    struct cn_check_op op;
    struct cn_http_call *call;
    struct cn__url cur;       /* This hop's URL. */
    char *cur_str;            /* Its text, for errors (NULL: def->http). */
    const char *method;       /* This hop's method (static or def's). */
    bool send_body;
    bool keep_host;           /* Custom Host still applies. */
    bool strip_auth;          /* Hop left the original host. */
    int hops;
    uint64_t deadline_ms;
    char errmsg[CN_ERRMSG_MAX];
};

/* ---- prepare ---- */

static bool is_tchar(unsigned char ch)
{
    /* RFC 7230 token characters (httpguts.IsTokenRune). */
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool valid_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

static bool valid_value(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

static const struct cn_check_header *find_header(const struct cn_check_def *d,
                                                 const char *name)
{
    for (size_t i = 0; i < d->n_headers; i++)
        if (strcasecmp(d->headers[i].name, name) == 0 && d->headers[i].n_values > 0)
            return &d->headers[i];
    return NULL;
}

/* Headers net/http writes itself and ignores in Request.Header. */
static bool skipped(const char *name)
{
    static const char *const names[] = {"Host", "Content-Length", "Transfer-Encoding",
                                        "Trailer", "Connection", "User-Agent"};
    for (size_t i = 0; i < CN_ARRAY_LEN(names); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static int set_error(struct http_prep *p, const char *fmt, ...) CN_PRINTF(2, 3);

static int set_error(struct http_prep *p, const char *fmt, ...)
{
    char buf[CN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->error = cn_strndup(buf, strlen(buf));
    return p->error ? 0 : -ENOMEM;
}

static int add_line(struct cn_buf *b, size_t *n, const char *name, const char *value)
{
    (*n)++;
    int rc = cn_buf_printf(b, "%s: %s", name, value);
    return rc ? rc : cn_buf_putc(b, 0);
}

/* Builds the lines sent on every hop except Host and Authorization. */
static int build_lines(struct http_prep *p, const struct cn_check_def *d)
{
    struct cn_buf b;
    const struct cn_check_header *ua = find_header(d, "User-Agent");
    const struct cn_check_header *acc = find_header(d, "Accept");
    const struct cn_check_header *host = find_header(d, "Host");
    size_t n = 0, off = 0;
    char op[16];
    int rc = 0;

    cn__url_op(p->method, op, sizeof op);
    for (size_t i = 0; i < d->n_headers; i++) {
        const struct cn_check_header *h = &d->headers[i];
        if (!valid_token(h->name))
            return set_error(p, "%s \"%.120s\": net/http: invalid header field name "
                             "\"%.60s\"", op, d->http, h->name);
        for (size_t j = 0; j < h->n_values; j++)
            if (!valid_value(h->values[j]))
                return set_error(p, "%s \"%.120s\": net/http: invalid header field value "
                                 "for \"%.60s\"", op, d->http, h->name);
    }
    cn_buf_init(&b, CN_CHECK_DEF_BYTES_MAX);
    for (size_t i = 0; i < d->n_headers && rc == 0; i++) {
        const struct cn_check_header *h = &d->headers[i];
        if (skipped(h->name))
            continue;
        for (size_t j = 0; j < h->n_values && rc == 0; j++)
            rc = add_line(&b, &n, h->name, h->values[j]);
    }
    /* Header.Get looks at the first value only. */
    if (rc == 0)
        rc = add_line(&b, &n, "User-Agent", ua && *ua->values[0] ? ua->values[0] : USER_AGENT);
    if (rc == 0 && !(acc && *acc->values[0]))
        rc = add_line(&b, &n, "Accept", ACCEPT);
    if (rc == 0 && host && *host->values[0]) {
        p->host_override = cn_strndup(host->values[0], strlen(host->values[0]));
        rc = p->host_override ? 0 : -ENOMEM;
    }
    p->user_auth = find_header(d, "Authorization") != NULL;
    if (rc == 0)
        p->line_v = cn_calloc(n, sizeof *p->line_v);
    if (rc < 0 || !p->line_v) {
        cn_buf_close(&b);
        return rc < 0 ? rc : -ENOMEM;
    }
    p->lines = (char *)b.data;
    for (size_t i = 0; i < n; i++) {
        p->line_v[i] = p->lines + off;
        off += strlen(p->lines + off) + 1;
    }
    p->n_lines = n;
    return 0;
}

static void http_free_prep(void *prep)
{
    struct http_prep *p = prep;
    if (!p)
        return;
    cn_free(p->error);
    cn__url_free(&p->url);
    cn_free(p->lines);
    cn_free(p->line_v);
    cn_free(p->host_override);
    cn_free(p);
}

static int http_prepare(struct cn_check *c, char *errmsg)
{
    const struct cn_check_def *d = c->def;
    struct http_prep *p = cn_calloc(1, sizeof *p);
    char err[CN_ERRMSG_MAX];
    int rc;

    if (!p)
        return -ENOMEM;
    c->prep = p;
    p->method = d->method && *d->method ? d->method : "GET";
    if (!valid_token(p->method)) {
        rc = set_error(p, "net/http: invalid method \"%.60s\"", p->method);
    } else if (cn__url_parse(d->http, &p->url, p->method, err) < 0) {
        rc = set_error(p, "%s", err);
    } else {
        rc = build_lines(p, d);
    }
    if (rc < 0) {
        http_free_prep(p);
        c->prep = NULL;
        return cn_errf_rc(errmsg, rc, "checks: %s", cn_strerror(rc));
    }
    return 0;
}

/* ---- a run ---- */

static void op_free(struct http_op *o)
{
    cn__url_free(&o->cur);
    cn_free(o->cur_str);
    cn__check_op_end(&o->op);
    cn_free(o);
}

static void op_abort(struct cn_check_op *op)
{
    struct http_op *o = (struct http_op *)op;
    if (o->call)
        cn_http_client_cancel(o->call); /* Runs on_done, which frees o. */
}

static void finish(struct http_op *o, enum cn_check_status s, const char *out, size_t n)
{
    cn__check_result(&o->op, s, out, n, 0);
    op_free(o);
}

static void finish_err(struct http_op *o, const char *fmt, ...) CN_PRINTF(2, 3);

static void finish_err(struct http_op *o, const char *fmt, ...)
{
    char buf[CN_ERRMSG_MAX + 256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    finish(o, CN_CHECK_CRITICAL, buf, CN_MIN((size_t)n, sizeof buf - 1));
}

static const char *cur_url(const struct http_op *o, const struct cn_check *c)
{
    return o->cur_str ? o->cur_str : c->def->http;
}

/* Host as net/http compares it for redirects: no port, lower case. */
static bool same_or_sub_host(const char *dst, const char *src)
{
    size_t dn = strlen(dst), sn = strlen(src);
    if (dn == sn)
        return strcasecmp(dst, src) == 0;
    return dn > sn && dst[dn - sn - 1] == '.' && strcasecmp(dst + dn - sn, src) == 0;
}

static int hop_lines(struct http_op *o, const struct http_prep *p, const char ***out,
                     size_t *n_out, char *host_line, char *auth_line)
{
    const char **v = cn_calloc(p->n_lines + 2, sizeof *v);
    size_t n = 0;
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < p->n_lines; i++) {
        if (o->strip_auth && (strncasecmp(p->line_v[i], "Authorization:", 14) == 0 ||
                              strncasecmp(p->line_v[i], "Cookie:", 7) == 0 ||
                              strncasecmp(p->line_v[i], "Cookie2:", 8) == 0 ||
                              strncasecmp(p->line_v[i], "Www-Authenticate:", 17) == 0))
            continue;
        v[n++] = p->line_v[i];
    }
    snprintf(host_line, CN_ERRMSG_MAX, "Host: %.200s",
             o->keep_host && p->host_override ? p->host_override : o->cur.authority);
    v[n++] = host_line;
    if (o->cur.userinfo && !p->user_auth) {
        /* URL userinfo becomes basic auth (Request.SetBasicAuth). */
        char dec[192];
        int dn = (int)CN_MIN(strlen(o->cur.userinfo), sizeof dec / 2);
        dn = cn_url_decode(o->cur.userinfo, (size_t)dn, dec, false);
        if (dn >= 0 && (size_t)cn_base64_encoded_len((size_t)dn) + 24 < CN_ERRMSG_MAX) {
            memcpy(auth_line, "Authorization: Basic ", 21);
            cn_base64_encode((const uint8_t *)dec, (size_t)dn, auth_line + 21);
            auth_line[21 + cn_base64_encoded_len((size_t)dn)] = '\0';
            v[n++] = auth_line;
        }
    }
    *out = v;
    *n_out = n;
    return 0;
}

static void on_done(void *ctx, int rc, struct cn_http_response *resp);

static void start_hop(struct http_op *o)
{
    struct cn_check *c = o->op.check;
    const struct http_prep *p = c->prep;
    const struct cn_check_def *d = c->def;
    uint64_t now = uv_now(c->r->loop);
    char host_line[CN_ERRMSG_MAX], auth_line[CN_ERRMSG_MAX], op_name[16];
    struct cn_http_client_req req;
    const char **lines;
    size_t n_lines;
    int rc;

    cn__url_op(p->method, op_name, sizeof op_name);
    if (now >= o->deadline_ms) {
        finish_err(o, "%s \"%s\": context deadline exceeded (Client.Timeout exceeded "
                   "while awaiting headers)", op_name, cur_url(o, c));
        return;
    }
    memset(&req, 0, sizeof req);
    req.method = o->method;
    req.host = o->cur.host;
    req.port = o->cur.port;
    req.target = o->cur.target;
    req.body = o->send_body ? d->body : NULL;
    req.body_len = o->send_body ? d->body_len : 0;
    req.timeout_ms = o->deadline_ms - now;
    req.resp_body_bytes_max = c->output_max;
    req.flags = CN_HTTP_CLIENT_BODY_TAIL;
    req.tls = o->cur.https;
    req.tls_server_name = d->tls_server_name;
    req.errmsg = o->errmsg;
    if (req.tls) {
        rc = cn__check_tls(c->r, d->tls_skip_verify, &req.tls_ctx, o->errmsg);
        if (rc < 0) {
            finish_err(o, "%s \"%s\": %s", op_name, cur_url(o, c), o->errmsg);
            return;
        }
    }
    rc = hop_lines(o, p, &lines, &n_lines, host_line, auth_line);
    if (rc == 0) {
        req.headers = lines;
        req.n_headers = n_lines;
        o->errmsg[0] = '\0';
        rc = cn_http_client_start(c->r->loop, &req, on_done, o, &o->call);
        cn_free(lines);
    }
    if (rc < 0)
        finish_err(o, "%s \"%s\": %s", op_name, cur_url(o, c),
                   o->errmsg[0] ? o->errmsg : cn_strerror(rc));
}

static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 ||
           status == 308;
}

/* Follows a Location (net/http Client.do). Returns false if resp is the
 * final answer. */
static bool follow(struct http_op *o, const struct cn_http_response *resp)
{
    struct cn_check *c = o->op.check;
    const struct http_prep *p = c->prep;
    const char *loc = cn_http_response_header(resp, "location");
    char *next = NULL, err[CN_ERRMSG_MAX], op_name[16];
    struct cn__url u;

    if (c->def->disable_redirects || !is_redirect(resp->status) || !loc || !*loc)
        return false;
    cn__url_op(p->method, op_name, sizeof op_name);
    if (cn__url_resolve(&o->cur, loc, &next) < 0) {
        finish_err(o, "%s \"%s\": failed to parse Location header \"%.100s\"", op_name,
                   cur_url(o, c), loc);
        return true;
    }
    if (o->hops >= CN_CHECK_REDIRECTS_MAX) {
        finish_err(o, "%s \"%.200s\": stopped after %d redirects", op_name, next,
                   CN_CHECK_REDIRECTS_MAX);
        cn_free(next);
        return true;
    }
    if (cn__url_parse(next, &u, p->method, err) < 0) {
        finish_err(o, "%s", err);
        cn_free(next);
        return true;
    }
    o->hops++;
    if (resp->status <= 303) {
        o->send_body = false;
        if (strcmp(o->method, "GET") != 0 && strcmp(o->method, "HEAD") != 0)
            o->method = "GET";
    }
    o->keep_host = o->keep_host && !cn__url_is_abs(loc);
    o->strip_auth = o->strip_auth || !same_or_sub_host(u.host, p->url.host);
    cn__url_free(&o->cur);
    cn_free(o->cur_str);
    o->cur = u;
    o->cur_str = next;
    start_hop(o);
    return true;
}

static void report_response(struct http_op *o, const struct cn_http_response *resp)
{
    struct cn_check *c = o->op.check;
    const struct http_prep *p = c->prep;
    enum cn_check_status s = CN_CHECK_CRITICAL;
    struct cn_buf out;

    if (resp->status >= 200 && resp->status <= 299)
        s = CN_CHECK_PASSING;
    else if (resp->status == 429) /* Too Many Requests (RFC 6585) */
        s = CN_CHECK_WARNING;
    cn_buf_init(&out, CN_CHECK_OUTPUT_BYTES_MAX + CN_CHECK_DEF_BYTES_MAX);
    if (cn_buf_printf(&out, "HTTP %s %s: %d%s%s Output: ", p->method, c->def->http,
                      resp->status, *resp->reason ? " " : "", resp->reason) < 0 ||
        cn_buf_append(&out, resp->body, resp->body_len) < 0) {
        cn_buf_close(&out);
        finish_err(o, "HTTP %s %s: %d (no memory for output)", p->method, c->def->http,
                   resp->status);
        return;
    }
    out.data[out.len] = '\0'; /* cn_buf always keeps room for it. */
    finish(o, s, (const char *)out.data, out.len);
    cn_buf_close(&out);
}

static void on_done(void *ctx, int rc, struct cn_http_response *resp)
{
    struct http_op *o = ctx;
    struct cn_check *c = o->op.check;
    char op_name[16];

    o->call = NULL;
    if (!c) { /* Stopped while in flight. */
        op_free(o);
        return;
    }
    if (rc < 0) {
        cn__url_op(((struct http_prep *)c->prep)->method, op_name, sizeof op_name);
        finish_err(o, "%s \"%s\": %s", op_name, cur_url(o, c),
                   o->errmsg[0] ? o->errmsg : cn_strerror(rc));
        return;
    }
    if (!follow(o, resp))
        report_response(o, resp);
}

static void http_run(struct cn_check *c)
{
    struct http_prep *p = c->prep;
    struct http_op *o;
    char err[CN_ERRMSG_MAX];

    o = cn_calloc(1, sizeof *o);
    if (!o) {
        struct cn_check_op tmp;
        cn__check_op_begin(c, &tmp, NULL);
        cn__check_result(&tmp, CN_CHECK_CRITICAL, "out of memory", 13, 0);
        cn__check_op_end(&tmp);
        return;
    }
    cn__check_op_begin(c, &o->op, op_abort);
    if (p->error) {
        finish(o, CN_CHECK_CRITICAL, p->error, strlen(p->error));
        return;
    }
    o->method = p->method;
    o->send_body = true;
    o->keep_host = true;
    o->deadline_ms = uv_now(c->r->loop) + c->timeout_ms;
    if (cn__url_parse(c->def->http, &o->cur, p->method, err) < 0) {
        finish(o, CN_CHECK_CRITICAL, err, strlen(err));
        return;
    }
    start_hop(o);
}

const struct cn__check_kind cn__check_http = {
    .prepare = http_prepare,
    .run = http_run,
    .free_prep = http_free_prep,
};
