/* http/req.c - request parsing helpers, response building, status table. */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "http_int.h"

void cn__http_conn_write(struct cn_http_conn *c, int status);
void cn__http_conn_set_cancel(struct cn_http_conn *c, cn_http_cancel_fn *fn);

/* Per-request arena cap: decoded path, params and headers of one head. */
#define REQ_ARENA_BYTES_MAX (4 * CN_HTTP_HEAD_BYTES_MAX)

void cn__http_req_init(struct cn_http_req *req)
{
    memset(req, 0, sizeof *req);
    cn_arena_init(&req->arena, REQ_ARENA_BYTES_MAX);
    cn_buf_init(&req->resp_headers, CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_init(&req->resp_body, CN_HTTP_RESP_BYTES_MAX);
    cn_buf_init(&req->resp_gz, CN_HTTP_RESP_BYTES_MAX);
    req->token = "";
    req->raw_query = "";
}

void cn__http_req_reset(struct cn_http_req *req)
{
    void *app = req->app;
    char ip[sizeof req->client_ip];
    struct cn_arena arena = req->arena;
    struct cn_buf rh = req->resp_headers, rb = req->resp_body, gz = req->resp_gz;

    memcpy(ip, req->client_ip, sizeof ip);
    cn_arena_reset(&arena);
    cn_buf_reset(&rh);
    cn_buf_reset(&rb);
    cn_buf_reset(&gz);
    if (rb.cap > (256 << 10)) /* Don't hold a big response's memory. */
        cn_buf_close(&rb);
    if (gz.cap > (256 << 10))
        cn_buf_close(&gz);
    cn_http_blob_unref(req->resp_blob);
    memset(req, 0, sizeof *req);
    req->app = app;
    memcpy(req->client_ip, ip, sizeof ip);
    req->arena = arena;
    req->resp_headers = rh;
    req->resp_body = rb;
    req->resp_gz = gz;
    req->token = "";
    req->raw_query = "";
}

void cn__http_req_close(struct cn_http_req *req)
{
    cn_arena_close(&req->arena);
    cn_buf_close(&req->resp_headers);
    cn_buf_close(&req->resp_body);
    cn_buf_close(&req->resp_gz);
    cn_http_blob_unref(req->resp_blob);
    req->resp_blob = NULL;
}

/* ---- head pieces -> request fields ---- */

struct piece {
    const char *p;
    uint32_t len;
};

static bool next_piece(const struct cn_buf *head, size_t *off, struct piece *out)
{
    uint32_t len;
    if (*off + 4 > head->len)
        return false;
    memcpy(&len, head->data + *off, 4);
    CN_ASSERT(*off + 4 + len + 1 <= head->len); /* Written by server.c. */
    out->p = (const char *)head->data + *off + 4;
    out->len = len;
    *off += 4 + (size_t)len + 1;
    return true;
}

static int parse_params(struct cn_http_req *req, const char *q, size_t n)
{
    size_t count = 0, i = 0;
    if (n == 0)
        return 0;
    for (size_t k = 0; k < n; k++)
        count += q[k] == '&';
    count++;
    if (count > CN_HTTP_QUERY_PARAMS_MAX)
        return 431;
    req->params = cn_arena_alloc(&req->arena, count * sizeof *req->params);
    if (!req->params)
        return 500;
    while (i <= n) {
        size_t end = i, eq;
        struct cn_http_param *pm;
        char *name, *val;
        int nl, vl;
        while (end < n && q[end] != '&')
            end++;
        if (end == i) { /* Empty segment: "a&&b". */
            i = end + 1;
            continue;
        }
        for (eq = i; eq < end && q[eq] != '='; eq++)
            ;
        name = cn_arena_alloc(&req->arena, eq - i + 1);
        val = cn_arena_alloc(&req->arena, eq < end ? end - eq : 1);
        if (!name || !val)
            return 500;
        nl = cn_url_decode(q + i, eq - i, name, true);
        vl = eq < end ? cn_url_decode(q + eq + 1, end - eq - 1, val, true) : 0;
        if (nl < 0 || vl < 0)
            return 400;
        val[vl] = 0;
        pm = &req->params[req->n_params++];
        pm->name = name;
        pm->value = val;
        pm->value_len = (size_t)vl;
        pm->has_value = eq < end;
        i = end + 1;
    }
    return 0;
}

static int parse_target(struct cn_http_req *req, const struct piece *url,
                        const char **reason)
{
    struct http_parser_url u;
    const char *path = "/";
    size_t path_len = 1;
    char *dec;
    int n, rc;

    http_parser_url_init(&u);
    if (http_parser_parse_url(url->p, url->len, 0, &u) != 0) {
        *reason = "Malformed request target";
        return 400;
    }
    if (u.field_set & (1 << UF_PATH)) {
        path = url->p + u.field_data[UF_PATH].off;
        path_len = u.field_data[UF_PATH].len;
    }
    dec = cn_arena_alloc(&req->arena, path_len + 1);
    if (!dec)
        return 500;
    n = cn_url_decode(path, path_len, dec, false);
    if (n < 0) {
        *reason = "Malformed percent-encoding in path";
        return 400;
    }
    dec[n] = 0;
    req->path = dec;
    req->path_len = (size_t)n;
    if (u.field_set & (1 << UF_QUERY)) {
        const char *q = url->p + u.field_data[UF_QUERY].off;
        size_t ql = u.field_data[UF_QUERY].len;
        req->raw_query = cn_arena_strndup(&req->arena, q, ql);
        if (!req->raw_query)
            return 500;
        rc = parse_params(req, q, ql);
        if (rc) {
            *reason = rc == 400 ? "Malformed percent-encoding in query"
                                : "Too many query parameters";
            return rc;
        }
    }
    return 0;
}

int cn__http_req_build(struct cn_http_req *req, const struct cn_buf *head,
                       const char **reason)
{
    struct piece url, name, value;
    size_t off = 0, count = 0, off2;
    int rc;

    *reason = "Bad request";
    if (!next_piece(head, &off, &url)) {
        *reason = "Missing request target";
        return 400;
    }
    rc = parse_target(req, &url, reason);
    if (rc)
        return rc;
    off2 = off;
    while (next_piece(head, &off2, &name) && next_piece(head, &off2, &value))
        count++;
    if (count > CN_HTTP_HEADERS_MAX) {
        *reason = "Too many header fields";
        return 431;
    }
    if (count) {
        req->headers = cn_arena_alloc(&req->arena, count * sizeof *req->headers);
        if (!req->headers)
            return 500;
    }
    while (next_piece(head, &off, &name) && next_piece(head, &off, &value)) {
        struct cn_http_header *h = &req->headers[req->n_headers++];
        char *lower = cn_arena_alloc(&req->arena, (size_t)name.len + 1);
        if (!lower)
            return 500;
        for (uint32_t i = 0; i < name.len; i++) {
            char ch = name.p[i];
            lower[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        lower[name.len] = 0;
        h->name = lower;
        h->value = value.p; /* NUL-terminated inside head, which outlives req use. */
        h->value_len = value.len;
    }
    return 0;
}

/* ---- lookups ---- */

const struct cn_http_param *cn_http_param(const struct cn_http_req *req,
                                          const char *name)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return &req->params[i];
    return NULL;
}

bool cn_http_flag(const struct cn_http_req *req, const char *name)
{
    return cn_http_param(req, name) != NULL;
}

const char *cn_http_header(const struct cn_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* ---- response ---- */

void cn_http_set_header(struct cn_http_req *req, const char *name,
                        const char *value)
{
    CN_ASSERT(strpbrk(name, "\r\n:") == NULL);
    CN_ASSERT(strpbrk(value, "\r\n") == NULL);
    cn_buf_puts(&req->resp_headers, name);
    cn_buf_append(&req->resp_headers, ": ", 2);
    cn_buf_puts(&req->resp_headers, value);
    cn_buf_append(&req->resp_headers, "\r\n", 2);
}

void cn_http_set_header_u64(struct cn_http_req *req, const char *name,
                            uint64_t v)
{
    char tmp[24];
    cn_u64_to_str(v, tmp);
    cn_http_set_header(req, name, tmp);
}

void cn_http_finish(struct cn_http_req *req, int status)
{
    cn__http_conn_write(cn__http_conn_of(req), status);
}

void cn_http_finish_blob(struct cn_http_req *req, int status, struct cn_http_blob *b)
{
    cn_http_blob_unref(req->resp_blob);
    req->resp_blob = cn_http_blob_ref(b);
    cn_http_finish(req, status);
}

void cn_http_error(struct cn_http_req *req, int status, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cn_buf_reset(&req->resp_body);
    cn_http_set_header(req, "Content-Type", "text/plain; charset=utf-8");
    cn_buf_puts(&req->resp_body, msg);
    cn_http_finish(req, status);
}

/* The one table from error codes to statuses (STYLE.md 2.3). */
int cn_http_status_for(int rc)
{
    switch (rc) {
    case CN_EMALFORMED:
    case CN_EBADREQ:
    case -EINVAL:
        return 400;
    case CN_EDENIED:
        return 403;
    case CN_ENOTFOUND:
    case -ENOENT:
        return 404;
    case CN_ECONFLICT:
        return 409;
    case CN_ETOOBIG:
    case -EMSGSIZE:
        return 413;
    case CN_ELIMIT:
        return 429;
    case CN_EUNSUPPORTED:
        return 501;
    case CN_ETIMEOUT:
        return 504;
    default:
        return 500; /* Includes CN_ENOLEADER and CN_ENODC, as Consul. */
    }
}

void cn_http_fail(struct cn_http_req *req, int rc, const char *msg)
{
    cn_http_error(req, cn_http_status_for(rc), "%s", msg ? msg : cn_strerror(rc));
}

const char *cn_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

void cn_http_on_cancel(struct cn_http_req *req, cn_http_cancel_fn *fn)
{
    cn__http_conn_set_cancel(cn__http_conn_of(req), fn);
}

/* ---- middlewares ---- */

static void access_log_after(struct cn_http_req *req, int status)
{
    uint64_t us = (cn_time_mono_ns() - req->start_ns) / 1000;
    CN_LOG(CN_LOG_DEBUG, "http: request method=%s path=%s status=%d from=%s latency_us=%llu",
           req->method_name ? req->method_name : "-", req->path ? req->path : "-",
           status, req->client_ip, (unsigned long long)us);
}

const struct cn_http_mw cn_http_mw_access_log = {NULL, access_log_after};

/* Token precedence (consul-compat.md 2.1): ?token= > X-Consul-Token >
 * Authorization: Bearer; an empty ?token= falls through. */
static bool token_before(struct cn_http_req *req)
{
    const struct cn_http_param *p = cn_http_param(req, "token");
    const char *h;
    if (p && p->value_len) {
        req->token = p->value;
        return true;
    }
    h = cn_http_header(req, "x-consul-token");
    if (h && *h) {
        req->token = h;
        return true;
    }
    h = cn_http_header(req, "authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0 && h[7]) {
        req->token = h + 7;
        return true;
    }
    req->token = "";
    return true;
}

const struct cn_http_mw cn_http_mw_token = {token_before, NULL};

static bool pretty_before(struct cn_http_req *req)
{
    if (cn_http_flag(req, "pretty"))
        req->pretty = true;
    return true;
}

const struct cn_http_mw cn_http_mw_pretty = {pretty_before, NULL};
