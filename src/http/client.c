/* http/client.c - a small HTTP/1.1 client on libuv + http-parser.
 *
 * One connection per request ("Connection: close"), like Consul's health
 * checks; the CLI uses the synchronous wrapper on a private loop. The
 * response is bounded: headers by CN_HTTP_HEAD_BYTES_MAX, the body by
 * resp_body_bytes_max. cb runs exactly once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_int.h"

struct client {
    uv_loop_t *loop;
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write;
    http_parser parser;
    struct cn_buf out;       /* Request bytes. */
    struct cn_buf head;      /* Header pieces, as server.c. */
    size_t piece_off;
    enum head_piece piece;
    struct cn_buf body;
    struct cn_http_response *resp;
    cn_http_client_cb *cb;
    void *ctx;
    int port;
    int handles;             /* Open handles; freed at 0. */
    int rc;                  /* Result handed to cb. */
    bool done;               /* cb has run. */
    bool complete;           /* Whole response parsed. */
    char readbuf[16384];
};

static void client_finish(struct client *c, int rc);

static void client_free(struct client *c)
{
    cn_buf_close(&c->out);
    cn_buf_close(&c->head);
    cn_buf_close(&c->body);
    cn_free(c);
}

/* handles counts tcp, timer and the pending resolver request. */
static void on_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    if (--c->handles == 0)
        client_free(c);
}

static void client_close(struct client *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_closed);
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static int build_response(struct client *c)
{
    struct cn_http_response *r = cn_calloc(1, sizeof *r);
    size_t off = 0, n = 0;
    if (!r)
        return -ENOMEM;
    cn_arena_init(&r->arena, 4 * CN_HTTP_HEAD_BYTES_MAX);
    r->status = (int)c->parser.status_code;
    /* Count pairs, then copy names (lower-cased) and values. */
    for (size_t o = 0; o + 4 <= c->head.len; n++) {
        uint32_t len;
        memcpy(&len, c->head.data + o, 4);
        o += 4 + (size_t)len + 1;
    }
    n /= 2;
    r->n_headers = n;
    r->headers = n ? cn_arena_alloc(&r->arena, n * sizeof *r->headers) : NULL;
    if (n && !r->headers)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        uint32_t nl, vl;
        char *name, *val;
        memcpy(&nl, c->head.data + off, 4);
        name = cn_arena_strndup(&r->arena, (char *)c->head.data + off + 4, nl);
        off += 4 + (size_t)nl + 1;
        memcpy(&vl, c->head.data + off, 4);
        val = cn_arena_strndup(&r->arena, (char *)c->head.data + off + 4, vl);
        off += 4 + (size_t)vl + 1;
        if (!name || !val)
            goto oom;
        for (char *p = name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        r->headers[i].name = name;
        r->headers[i].value = val;
        r->headers[i].value_len = vl;
    }
    r->body = cn_buf_steal(&c->body, &r->body_len);
    if (!r->body)
        goto oom;
    c->resp = r;
    return 0;
oom:
    cn_arena_close(&r->arena);
    cn_free(r);
    return -ENOMEM;
}

static void client_finish(struct client *c, int rc)
{
    if (c->done)
        return;
    c->done = true;
    if (rc == 0)
        rc = build_response(c);
    c->cb(c->ctx, rc, rc == 0 ? c->resp : NULL);
    if (c->resp)
        cn_http_response_free(c->resp);
    c->resp = NULL;
    client_close(c);
}

/* ---- response parsing ---- */

static int piece_switch(struct client *c, enum head_piece next)
{
    uint32_t len;
    if (c->piece != PIECE_NONE) {
        len = (uint32_t)(c->head.len - c->piece_off - 4);
        memcpy(c->head.data + c->piece_off, &len, 4);
        if (cn_buf_putc(&c->head, 0) < 0)
            return -1;
    }
    c->piece = next;
    if (next == PIECE_NONE)
        return 0;
    c->piece_off = c->head.len;
    len = 0;
    return cn_buf_append(&c->head, &len, 4) < 0 ? -1 : 0;
}

static int on_hfield(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;
    if (c->piece != PIECE_FIELD && piece_switch(c, PIECE_FIELD) < 0)
        return -1;
    return cn_buf_append(&c->head, at, len) < 0 ? -1 : 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;
    if (c->piece != PIECE_VALUE && piece_switch(c, PIECE_VALUE) < 0)
        return -1;
    return cn_buf_append(&c->head, at, len) < 0 ? -1 : 0;
}

static int on_hdone(http_parser *p)
{
    struct client *c = p->data;
    return piece_switch(c, PIECE_NONE);
}

static int on_cbody(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;
    return cn_buf_append(&c->body, at, len) < 0 ? -1 : 0;
}

static int on_cdone(http_parser *p)
{
    struct client *c = p->data;
    c->complete = true;
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_headers_complete = on_hdone,
    .on_body = on_cbody,
    .on_message_complete = on_cdone,
};

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    struct client *c = h->data;
    (void)sz;
    *b = uv_buf_init(c->readbuf, sizeof c->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct client *c = s->data;
    if (c->done || n == 0)
        return;
    if (n < 0) {
        /* EOF ends a response without Content-Length. */
        if (n == UV_EOF)
            http_parser_execute(&c->parser, &resp_settings, NULL, 0);
        client_finish(c, c->complete ? 0 : (n == UV_EOF ? CN_EMALFORMED : (int)n));
        return;
    }
    size_t used = http_parser_execute(&c->parser, &resp_settings, b->base, (size_t)n);
    if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || used != (size_t)n) {
        client_finish(c, c->body.len >= c->body.max ? CN_ETOOBIG : CN_EMALFORMED);
        return;
    }
    if (c->complete)
        client_finish(c, 0);
}

static void on_written(uv_write_t *w, int status)
{
    struct client *c = w->data;
    if (status < 0)
        client_finish(c, status);
}

static void on_connected(uv_connect_t *cr, int status)
{
    struct client *c = cr->data;
    uv_buf_t b;
    if (c->done)
        return;
    if (status < 0) {
        client_finish(c, status);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    c->write.data = c;
    int rc = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        client_finish(c, rc);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    struct client *c = g->data;
    int rc = status;
    if (c->done) {
        if (res)
            uv_freeaddrinfo(res);
        if (--c->handles == 0)
            client_free(c);
        return;
    }
    c->handles--;
    if (rc == 0) {
        c->connect.data = c;
        rc = uv_tcp_connect(&c->connect, &c->tcp, res->ai_addr, on_connected);
    }
    if (res)
        uv_freeaddrinfo(res);
    if (rc < 0)
        client_finish(c, rc);
}

static void on_timeout(uv_timer_t *t)
{
    client_finish(t->data, CN_ETIMEOUT);
}

static int format_request(struct client *c, const struct cn_http_client_req *r)
{
    struct cn_buf *o = &c->out;
    int rc = cn_buf_printf(o, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n"
                              "User-Agent: cairn/%s\r\nConnection: close\r\n",
                           r->method, r->target, r->host, r->port, CN_VERSION);
    for (size_t i = 0; rc == 0 && i < r->n_headers; i++)
        rc = cn_buf_printf(o, "%s\r\n", r->headers[i]);
    if (rc == 0 && (r->body_len || strcmp(r->method, "PUT") == 0 ||
                    strcmp(r->method, "POST") == 0))
        rc = cn_buf_printf(o, "Content-Length: %zu\r\n", r->body_len);
    if (rc == 0)
        rc = cn_buf_append(o, "\r\n", 2);
    if (rc == 0 && r->body_len)
        rc = cn_buf_append(o, r->body, r->body_len);
    return rc;
}

int cn_http_client_do(uv_loop_t *loop, const struct cn_http_client_req *r,
                      cn_http_client_cb *cb, void *ctx)
{
    struct client *c = cn_calloc(1, sizeof *c);
    struct addrinfo hints;
    char port[8];
    int rc;

    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->cb = cb;
    c->ctx = ctx;
    c->port = r->port;
    cn_buf_init(&c->out, CN_HTTP_BODY_BYTES_MAX + CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_init(&c->head, CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_init(&c->body, r->resp_body_bytes_max ? r->resp_body_bytes_max
                                                 : CN_HTTP_RESP_BYTES_MAX);
    rc = format_request(c, r);
    if (rc < 0) {
        cn_buf_close(&c->out);
        cn_free(c);
        return rc;
    }
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 3; /* tcp, timer, and the resolver request. */
    uv_timer_start(&c->timer, on_timeout, r->timeout_ms ? r->timeout_ms : 10000, 0);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", r->port);
    c->gai.data = c;
    rc = uv_getaddrinfo(loop, &c->gai, on_resolved, r->host, port, &hints);
    if (rc < 0) {
        c->done = true; /* Error returned: cb never runs. */
        c->handles--;
        client_close(c);
        return rc;
    }
    return 0;
}

/* ---- synchronous wrapper ---- */

struct sync_ctx {
    int rc;
    struct cn_http_response *resp;
};

static void sync_cb(void *ctx, int rc, struct cn_http_response *resp)
{
    struct sync_ctx *s = ctx;
    s->rc = rc;
    if (rc == 0) {
        /* Take ownership: copy the struct; client frees only the shell. */
        s->resp = cn_alloc(sizeof *s->resp);
        if (!s->resp) {
            s->rc = -ENOMEM;
            return;
        }
        *s->resp = *resp;
        resp->body = NULL;
        cn_arena_init(&resp->arena, 0); /* Moved. */
    }
}

int cn_http_client_do_sync(const struct cn_http_client_req *r,
                           struct cn_http_response **resp, char *errmsg)
{
    uv_loop_t loop;
    struct sync_ctx s = {0, NULL};
    int rc;

    uv_loop_init(&loop);
    rc = cn_http_client_do(&loop, r, sync_cb, &s);
    if (rc == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        rc = s.rc;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rc < 0)
        return cn_errf_rc(errmsg, rc, "%s http://%s:%d%s", r->method, r->host,
                          r->port, r->target);
    *resp = s.resp;
    return 0;
}

void cn_http_response_free(struct cn_http_response *resp)
{
    if (!resp)
        return;
    cn_arena_close(&resp->arena);
    cn_free(resp->body);
    cn_free(resp);
}

const char *cn_http_response_header(const struct cn_http_response *r,
                                    const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}
