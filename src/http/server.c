/* http/server.c - connections: accept, parse, dispatch, write, close.
 *
 * Life of a connection (one request in flight at a time):
 *
 *   READING --message complete--> HANDLING --finish--> WRITING --write cb-->
 *      ^                                                          |
 *      +------------- parse held-back input, or wait ------------+
 *
 * Input that arrives while HANDLING/WRITING (pipelining) is held in
 * `pending` (bounded by CN_HTTP_PIPELINE_BYTES_MAX; reading pauses past
 * it) and parsed when the response has been written, so responses go out
 * in request order. EOF or a read error while HANDLING means the client
 * left: the parked request's cancel callback runs and the connection is
 * freed; a parked request without one is kept as a zombie until its
 * handler finishes it, so no handler ever holds a dangling pointer.
 *
 * The head is accumulated as pieces "[u32 len][bytes][NUL]" (URL, then
 * field/value pairs) in conn->head, because http-parser may deliver any
 * piece in fragments across reads; lengths make NUL bytes harmless.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_int.h"

static http_parser_settings parser_settings;

struct cn_http_conn *cn__http_conn_of(struct cn_http_req *req)
{
    return CN_CONTAINER_OF(req, struct cn_http_conn, req);
}

static void conn_close(struct cn_http_conn *c);
static void on_conn_handle_closed(uv_handle_t *h);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void conn_feed(struct cn_http_conn *c, const char *data, size_t len,
                      bool from_pending);
static void conn_send_error(struct cn_http_conn *c, int status,
                            const char *reason);

/* ---- timers ---- */

/* Bounds on the lingering close: time and bytes drained. */
#define LINGER_MS 2000
#define LINGER_BYTES_MAX (4u << 20)

static void on_timer(uv_timer_t *t)
{
    struct cn_http_conn *c = t->data;
    if (c->state == CONN_LINGER) {
        conn_close(c);
        return;
    }
    if (c->state != CONN_READING)
        return;
    if (c->head_started || c->msg_done) {
        /* Slowloris: the head or body did not arrive in time. */
        c->srv->stats.bad_requests++;
        c->keep_alive = false;
        conn_send_error(c, 408, "Request timeout");
    } else {
        conn_close(c); /* Idle keep-alive connection. */
    }
}

static void arm_timer(struct cn_http_conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* ---- parser callbacks ---- */

static struct cn_http_conn *conn_of_parser(http_parser *p) { return p->data; }

/* Closes the current piece (writes its length and NUL) and opens one. */
static int piece_switch(struct cn_http_conn *c, enum head_piece next)
{
    uint32_t len;
    int rc;
    if (c->piece != PIECE_NONE) {
        len = (uint32_t)(c->head.len - c->piece_off - 4);
        memcpy(c->head.data + c->piece_off, &len, 4);
        rc = cn_buf_putc(&c->head, 0);
        if (rc < 0)
            return rc;
    }
    c->piece = next;
    if (next == PIECE_NONE)
        return 0;
    c->piece_off = c->head.len;
    len = 0;
    return cn_buf_append(&c->head, &len, 4);
}

static int head_data(http_parser *p, enum head_piece kind, const char *at,
                     size_t len)
{
    struct cn_http_conn *c = conn_of_parser(p);
    int rc = 0;
    if (c->piece != kind)
        rc = piece_switch(c, kind);
    if (rc == 0)
        rc = cn_buf_append(&c->head, at, len);
    if (rc < 0) {
        c->reject_status = rc == -EMSGSIZE ? 431 : 500;
        c->reject_reason = rc == -EMSGSIZE ? "Request header fields too large"
                                           : "Out of memory";
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct cn_http_conn *c = conn_of_parser(p);
    c->head_started = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    return head_data(p, PIECE_URL, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    return head_data(p, PIECE_FIELD, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    return head_data(p, PIECE_VALUE, at, len);
}

static void write_interim(struct cn_http_conn *c, const char *text)
{
    uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));
    /* Best effort, tiny, and the socket buffer is empty at this point;
     * a short try_write only means curl waits its 1 s and sends anyway. */
    (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
}

static int on_headers_complete(http_parser *p)
{
    struct cn_http_conn *c = conn_of_parser(p);
    struct cn_http_req *req = &c->req;
    const char *reason = NULL, *expect;
    int status;

    if (piece_switch(c, PIECE_NONE) < 0) {
        c->reject_status = 431;
        c->reject_reason = "Request header fields too large";
        return -1;
    }
    req->method = 0;
    switch (p->method) {
    case HTTP_GET: req->method = CN_HTTP_GET; break;
    case HTTP_HEAD: req->method = CN_HTTP_HEAD; break;
    case HTTP_PUT: req->method = CN_HTTP_PUT; break;
    case HTTP_POST: req->method = CN_HTTP_POST; break;
    case HTTP_DELETE: req->method = CN_HTTP_DELETE; break;
    case HTTP_OPTIONS: req->method = CN_HTTP_OPTIONS; break;
    case HTTP_PATCH: req->method = CN_HTTP_PATCH; break;
    default: break;
    }
    req->method_name = http_method_str((enum http_method)p->method);
    status = cn__http_req_build(req, &c->head, &reason);
    if (status != 0) {
        c->reject_status = status;
        c->reject_reason = reason;
        return -1;
    }
    req->route = cn__http_route_find(c->srv->cfg.routes, c->srv->cfg.n_routes,
                                     req->path, req->path_len);
    if (req->route) {
        size_t rl = strlen(req->route->path);
        req->suffix = req->path + rl; /* "" for exact routes. */
        req->suffix_len = req->path_len - rl;
    }
    /* Unrouted requests may still carry a small body we read and drop. */
    c->body_max = req->route ? req->route->body_bytes_max : 4096;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->body_max) {
        static char msg[128];
        snprintf(msg, sizeof msg,
                 "Request body(%llu bytes) too large, max size: %zu bytes",
                 (unsigned long long)p->content_length, c->body_max);
        c->reject_status = 413;
        c->reject_reason = msg;
        return -1;
    }
    c->body.max = c->body_max;
    expect = cn_http_header(req, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1)
        write_interim(c, "HTTP/1.1 100 Continue\r\n\r\n");
    arm_timer(c, CN_HTTP_BODY_TIMEOUT_MS);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct cn_http_conn *c = conn_of_parser(p);
    int rc = cn_buf_append(&c->body, at, len);
    if (rc < 0) {
        c->reject_status = rc == -EMSGSIZE ? 413 : 500;
        c->reject_reason = rc == -EMSGSIZE ? "Request body too large"
                                           : "Out of memory";
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct cn_http_conn *c = conn_of_parser(p);
    c->msg_done = true;
    c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    http_parser_pause(p, 1); /* Stop here; the rest waits its turn. */
    return 0;
}

__attribute__((constructor)) static void settings_init(void)
{
    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;
}

/* ---- dispatch ---- */

static void conn_reset_for_next(struct cn_http_conn *c)
{
    cn__http_req_reset(&c->req);
    cn_buf_reset(&c->head);
    if (c->head.cap > 8192) /* Don't keep a huge head's memory parked. */
        cn_buf_close(&c->head);
    cn_buf_reset(&c->body);
    if (c->body.cap > 65536)
        cn_buf_close(&c->body);
    c->piece = PIECE_NONE;
    c->head_started = false;
    c->msg_done = false;
    c->reject_status = 0;
    c->reject_reason = NULL;
    c->cancel_fn = NULL;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
}

/* Go's ServeMux answers a path with //, /./ or /../ with a 301 to the
 * cleaned path (consul-compat.md 2.1); clients then retry there. */
static bool redirect_unclean(struct cn_http_conn *c)
{
    struct cn_http_req *req = &c->req;
    struct cn_buf loc;
    char *clean;
    size_t clean_len;

    clean = cn_arena_alloc(&req->arena, req->path_len + 2);
    if (!clean || cn__http_path_clean(req->path, req->path_len, clean, &clean_len))
        return false;
    cn_buf_init(&loc, CN_HTTP_HEAD_BYTES_MAX);
    if (cn_url_encode(&loc, clean, clean_len, true) == 0 &&
        (!*req->raw_query || (cn_buf_putc(&loc, '?') == 0 &&
                              cn_buf_puts(&loc, req->raw_query) == 0)) &&
        cn_buf_putc(&loc, 0) == 0 && !strpbrk((char *)loc.data, "\r\n")) {
        cn_http_set_header(req, "Location", (char *)loc.data);
        cn_buf_close(&loc);
        cn_http_finish(req, 301);
        return true;
    }
    cn_buf_close(&loc);
    cn_http_error(req, 400, "Malformed request path");
    return true;
}

static void dispatch(struct cn_http_conn *c)
{
    struct cn_http_req *req = &c->req;
    struct cn_http_server *s = c->srv;
    const struct cn_route *rt = req->route;

    uv_timer_stop(&c->timer);
    c->state = CONN_HANDLING;
    s->stats.requests++;
    /* body is NUL-terminated for convenience (not counted). */
    if (cn_buf_reserve(&c->body, 0) == 0 && c->body.data)
        c->body.data[c->body.len] = 0;
    req->body = c->body.data ? c->body.data : (const uint8_t *)"";
    req->body_len = c->body.len;
    req->start_ns = cn_time_mono_ns();
    if (redirect_unclean(c))
        return;
    for (size_t i = 0; i < s->cfg.n_mws; i++) {
        if (s->cfg.mws[i]->before && !s->cfg.mws[i]->before(req))
            return; /* The middleware finished the request. */
    }
    if (!rt) {
        cn_http_error(req, 404,
                      "Invalid URL path: not a recognized HTTP API endpoint");
        return;
    }
    if (req->method == CN_HTTP_OPTIONS || !(rt->methods & req->method)) {
        char allow[96];
        cn__http_allow_value(rt->methods, allow, sizeof allow);
        cn_http_set_header(req, "Allow", allow);
        if (req->method == CN_HTTP_OPTIONS) {
            cn_http_finish(req, 200);
            return;
        }
        cn_http_error(req, 405, "method %s not allowed", req->method_name);
        return;
    }
    rt->handler(req);
    if (c->state == CONN_HANDLING)
        s->stats.requests_parked++;
}

/* ---- reading ---- */

static void stash_pending(struct cn_http_conn *c, const char *data, size_t len,
                          bool from_pending)
{
    if (from_pending) {
        /* data points into pending: keep the unparsed tail at the front. */
        size_t off = (size_t)((const uint8_t *)data - c->pending.data);
        CN_ASSERT(off + len == c->pending.len);
        memmove(c->pending.data, data, len);
        c->pending.len = len;
        return;
    }
    if (len && cn_buf_append(&c->pending, data, len) < 0) {
        /* Over the pipeline cap: the client is flooding us. */
        c->keep_alive = false;
        c->close_after_write = true;
    }
}

static void conn_feed(struct cn_http_conn *c, const char *data, size_t len,
                      bool from_pending)
{
    CN_ASSERT(from_pending || c->pending.len == 0);
    while (len > 0) {
        size_t n;
        enum http_errno err;
        if (!c->head_started && !c->msg_done)
            arm_timer(c, c->srv->header_timeout_ms);
        n = http_parser_execute(&c->parser, &parser_settings, data, len);
        err = HTTP_PARSER_ERRNO(&c->parser);
        if (c->reject_status) {
            c->srv->stats.bad_requests++;
            c->keep_alive = false;
            if (from_pending)
                cn_buf_reset(&c->pending);
            conn_send_error(c, c->reject_status, c->reject_reason);
            return;
        }
        if (err == HPE_PAUSED) {
            CN_ASSERT(c->msg_done);
            http_parser_pause(&c->parser, 0);
            stash_pending(c, data + n, len - n, from_pending);
            dispatch(c);
            return;
        }
        if (err != HPE_OK) {
            char msg[128];
            c->srv->stats.bad_requests++;
            c->keep_alive = false;
            snprintf(msg, sizeof msg, "Malformed HTTP request: %s",
                     http_errno_description(err));
            if (from_pending)
                cn_buf_reset(&c->pending);
            conn_send_error(c, err == HPE_HEADER_OVERFLOW ? 431 : 400,
                            err == HPE_HEADER_OVERFLOW
                                ? "Request header fields too large" : msg);
            return;
        }
        data += n;
        len -= n;
        if (c->parser.upgrade) { /* Nothing after an upgrade is HTTP. */
            c->keep_alive = false;
            break;
        }
    }
    if (from_pending)
        cn_buf_reset(&c->pending);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct cn_http_conn *c = h->data;
    (void)suggested;
    if (c->srv->read_buf_busy) { /* Never: reads are not reentrant. */
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    c->srv->read_buf_busy = true;
    buf->base = c->srv->read_buf;
    buf->len = sizeof c->srv->read_buf;
}

static void peer_gone(struct cn_http_conn *c)
{
    if (c->state == CONN_HANDLING) {
        c->peer_gone = true;
        if (c->cancel_fn) {
            cn_http_cancel_fn *fn = c->cancel_fn;
            c->cancel_fn = NULL;
            fn(&c->req);
            conn_close(c);
        } else if (!c->zombie) {
            /* Parked without a cancel fn: close the socket now but keep
             * the memory until the handler finishes (conn_close frees). */
            c->zombie = true;
            uv_timer_stop(&c->timer);
            uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
            uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
        }
        return;
    }
    if (c->state == CONN_WRITING) {
        c->close_after_write = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    conn_close(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct cn_http_conn *c = st->data;
    if (buf->base == c->srv->read_buf)
        c->srv->read_buf_busy = false;
    if (nread == 0 || c->state == CONN_CLOSING)
        return;
    if (nread < 0) {
        peer_gone(c);
        return;
    }
    if (c->state == CONN_LINGER) {
        c->linger_bytes += (size_t)nread; /* Drained unread. */
        if (c->linger_bytes > LINGER_BYTES_MAX)
            conn_close(c);
        return;
    }
    if (c->state == CONN_READING) {
        conn_feed(c, buf->base, (size_t)nread, false);
    } else {
        stash_pending(c, buf->base, (size_t)nread, false);
        if (c->pending.len >= CN_HTTP_PIPELINE_BYTES_MAX / 2 && !c->read_stopped) {
            uv_read_stop(st);
            c->read_stopped = true;
        }
    }
}

/* ---- writing ---- */

/* Closing a socket with unread input makes the kernel send RST, and a
 * client still sending a body (say, one we refused with 413) may then
 * lose our reply. So: shut down the write side, read and drop input for a
 * bounded time and amount, then close (Go's server does the same). */
static void on_shutdown(uv_shutdown_t *r, int status)
{
    struct cn_http_conn *c = r->data;
    if (status < 0 && c->state == CONN_LINGER)
        conn_close(c);
}

static void linger(struct cn_http_conn *c)
{
    c->state = CONN_LINGER;
    c->linger_bytes = 0;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    if (c->read_stopped) {
        c->read_stopped = false;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
    arm_timer(c, LINGER_MS);
}

static void on_write(uv_write_t *w, int status)
{
    struct cn_http_conn *c = w->data;
    struct cn_http_server *s = c->srv;

    if (c->state == CONN_CLOSING)
        return;
    if (status < 0 || s->stopping || c->peer_gone) {
        conn_close(c);
        return;
    }
    if (c->close_after_write || !c->keep_alive) {
        linger(c);
        return;
    }
    conn_reset_for_next(c);
    c->state = CONN_READING;
    if (c->read_stopped) {
        c->read_stopped = false;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
    if (c->pending.len > 0) {
        conn_feed(c, (const char *)c->pending.data, c->pending.len, true);
    } else {
        arm_timer(c, s->idle_timeout_ms);
    }
}

/* Called by cn_http_finish (req.c) once headers and body are final. */
void cn__http_conn_write(struct cn_http_conn *c, int status);
void cn__http_conn_write(struct cn_http_conn *c, int status)
{
    struct cn_http_req *req = &c->req;
    struct cn_http_server *s = c->srv;
    const uint8_t *body = req->resp_body.data;
    size_t body_len = req->resp_body.len;
    const char *encoding = "";
    uv_buf_t bufs[4];
    unsigned n = 0;
    int rc;

    CN_ASSERT(c->state == CONN_HANDLING);
    for (size_t i = s->cfg.n_mws; i-- > 0;)
        if (s->cfg.mws[i]->after)
            s->cfg.mws[i]->after(req, status);
    c->cancel_fn = NULL;
    if (c->zombie || c->peer_gone) {
        conn_close(c);
        return;
    }
    c->state = CONN_WRITING;
    if (!c->keep_alive || s->stopping)
        c->close_after_write = true;
    if (req->resp_blob)
        body = cn__http_blob_data(req->resp_blob, &body_len);
    /* HEAD keeps the identity length: it describes what GET would send
     * to a client that did not ask for gzip. */
    if (status == 200 && req->method != CN_HTTP_HEAD && body_len >= CN_HTTP_GZIP_MIN &&
        cn__http_accepts_gzip(req)) {
        size_t gz_len = 0;
        const uint8_t *gz = NULL;
        if (req->resp_blob)
            gz = cn__http_blob_gz(req->resp_blob, &gz_len);
        else if (cn__http_gzip(body, body_len, &req->resp_gz) == 0)
            gz = req->resp_gz.data, gz_len = req->resp_gz.len;
        if (gz) {
            body = gz;
            body_len = gz_len;
            encoding = "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n";
            s->stats.gzipped++;
        }
    }
    snprintf(c->status_line, sizeof c->status_line, "HTTP/1.1 %d %s\r\n",
             status, cn_http_status_text(status));
    snprintf(c->tail, sizeof c->tail, "%s%sContent-Length: %zu\r\n\r\n",
             encoding, c->close_after_write ? "Connection: close\r\n" : "", body_len);
    bufs[n++] = uv_buf_init(c->status_line, (unsigned)strlen(c->status_line));
    if (req->resp_headers.len)
        bufs[n++] = uv_buf_init((char *)req->resp_headers.data,
                                (unsigned)req->resp_headers.len);
    bufs[n++] = uv_buf_init(c->tail, (unsigned)strlen(c->tail));
    if (body_len && req->method != CN_HTTP_HEAD)
        bufs[n++] = uv_buf_init((char *)body, (unsigned)body_len);
    c->write_req.data = c;
    rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, n, on_write);
    if (rc < 0)
        conn_close(c);
}

void cn__http_conn_set_cancel(struct cn_http_conn *c, cn_http_cancel_fn *fn);
void cn__http_conn_set_cancel(struct cn_http_conn *c, cn_http_cancel_fn *fn)
{
    CN_ASSERT(c->state == CONN_HANDLING);
    c->cancel_fn = fn;
}

/* An error decided by the connection itself (no handler ran). */
static void conn_send_error(struct cn_http_conn *c, int status,
                            const char *reason)
{
    struct cn_http_req *req = &c->req;
    uv_timer_stop(&c->timer);
    c->state = CONN_HANDLING;
    c->close_after_write = true;
    if (!req->method_name)
        req->method_name = "-";
    if (!req->path) {
        req->path = "-";
        req->path_len = 1;
    }
    cn_buf_reset(&req->resp_headers);
    cn_buf_reset(&req->resp_body);
    cn_http_error(req, status, "%s", reason ? reason : "Bad request");
}

/* ---- connection life ---- */

static void conn_free(struct cn_http_conn *c)
{
    struct cn_http_server *s = c->srv;
    if (c->ipc && --c->ipc->n == 0) {
        cn_map_del(&s->ip_counts, c->ipc->ip, strlen(c->ipc->ip));
        cn_free(c->ipc);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->stats.conns_open--;
    cn__http_req_close(&c->req);
    cn_buf_close(&c->head);
    cn_buf_close(&c->body);
    cn_buf_close(&c->pending);
    cn_free(c);
}

static void maybe_stop_done(struct cn_http_server *s);

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct cn_http_conn *c = h->data;
    struct cn_http_server *s = c->srv;
    if (--c->handles_open > 0)
        return;
    if (c->zombie && c->state == CONN_HANDLING)
        return; /* Freed when the parked handler finishes. */
    conn_free(c);
    maybe_stop_done(s);
}

static void conn_close(struct cn_http_conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    if (c->zombie) {
        /* The handler finished a zombie: its handles were closed when the
         * peer left; free now, or when the last close callback runs. */
        c->state = CONN_CLOSING;
        if (c->handles_open == 0) {
            struct cn_http_server *s = c->srv;
            conn_free(c);
            maybe_stop_done(s);
        }
        return;
    }
    c->state = CONN_CLOSING;
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static struct ip_count *ip_count_get(struct cn_http_server *s, const char *ip)
{
    struct ip_count *ipc = cn_map_get(&s->ip_counts, ip, strlen(ip));
    if (ipc)
        return ipc;
    ipc = cn_calloc(1, sizeof *ipc);
    if (!ipc)
        return NULL;
    snprintf(ipc->ip, sizeof ipc->ip, "%s", ip);
    if (cn_map_put(&s->ip_counts, ipc->ip, strlen(ipc->ip), ipc, NULL) < 0) {
        cn_free(ipc);
        return NULL;
    }
    return ipc;
}

static void peer_ip(uv_tcp_t *t, char *out, size_t out_size)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(out, out_size, "?");
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, out, out_size);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, out, out_size);
}

static void on_reject_closed(uv_handle_t *h) { cn_free(h); }

static void reject_conn(struct cn_http_server *s, uv_tcp_t *t, const char *why)
{
    /* Consul answers 429 when a client exceeds http_max_conns_per_client. */
#define REJECT_BODY "Too many connections from your IP address"
    static const char resp[] =
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; "
        "charset=utf-8\r\nConnection: close\r\nContent-Length: 41\r\n\r\n"
        REJECT_BODY;
    _Static_assert(sizeof REJECT_BODY - 1 == 41, "Content-Length above");
    uv_buf_t b = uv_buf_init((char *)resp, sizeof resp - 1);
    (void)why;
    (void)uv_try_write((uv_stream_t *)t, &b, 1);
    s->stats.conns_rejected++;
    uv_close((uv_handle_t *)t, on_reject_closed);
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct cn_http_server *s = ls->data;
    struct cn_http_conn *c;
    char ip[48];

    if (status < 0 || s->stopping)
        return;
    c = cn_calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_reject_closed); /* c is &c->tcp */
        return;
    }
    peer_ip(&c->tcp, ip, sizeof ip);
    c->ipc = ip_count_get(s, ip);
    if (!c->ipc || c->ipc->n >= s->conns_per_ip_max ||
        s->stats.conns_open >= CN_HTTP_CONNS_MAX) {
        if (c->ipc && c->ipc->n == 0) {
            cn_map_del(&s->ip_counts, c->ipc->ip, strlen(c->ipc->ip));
            cn_free(c->ipc);
        }
        reject_conn(s, &c->tcp, "limit"); /* frees c (tcp is first). */
        return;
    }
    c->ipc->n++;
    c->srv = s;
    c->handles_open = 2;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    cn_buf_init(&c->head, CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_init(&c->body, 0);
    cn_buf_init(&c->pending, CN_HTTP_PIPELINE_BYTES_MAX);
    cn__http_req_init(&c->req);
    c->req.app = s->cfg.app;
    snprintf(c->req.client_ip, sizeof c->req.client_ip, "%s", ip);
    conn_reset_for_next(c);
    c->state = CONN_READING;
    c->keep_alive = true;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->stats.conns_accepted++;
    s->stats.conns_open++;
    arm_timer(c, s->idle_timeout_ms);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

/* ---- server ---- */

int cn_http_server_start(struct cn_http_server **out, uv_loop_t *loop,
                         const struct cn_http_config *cfg, char *errmsg)
{
    struct cn_http_server *s;
    struct sockaddr_storage ss;
    int rc, len;

    s = cn_calloc(1, sizeof *s);
    if (!s)
        return cn_errf_rc(errmsg, -ENOMEM, "http server");
    s->loop = loop;
    s->cfg = *cfg;
    s->conns_per_ip_max = cfg->conns_per_ip_max && cfg->conns_per_ip_max < CN_HTTP_CONNS_PER_IP_MAX
                              ? cfg->conns_per_ip_max : CN_HTTP_CONNS_PER_IP_MAX;
    s->header_timeout_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms
                                                  : CN_HTTP_HEADER_TIMEOUT_MS;
    s->idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms
                                              : CN_HTTP_IDLE_TIMEOUT_MS;
    cn_map_init(&s->ip_counts);
    if (strchr(cfg->addr, ':'))
        rc = uv_ip6_addr(cfg->addr, cfg->port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(cfg->addr, cfg->port, (struct sockaddr_in *)&ss);
    if (rc < 0) {
        cn_free(s);
        return cn_errf_rc(errmsg, rc, "http address %s", cfg->addr);
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->open_handles = 1;
    rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc < 0) {
        cn_errf_rc(errmsg, rc, "http listen %s:%d", cfg->addr, cfg->port);
        s->stopping = true;
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_run(loop, UV_RUN_NOWAIT); /* Let the close complete. */
        cn_map_close(&s->ip_counts);
        cn_free(s);
        return rc;
    }
    len = sizeof ss;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(ss.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&ss)->sin6_port
                        : ((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return 0;
}

int cn_http_server_port(const struct cn_http_server *s) { return s->port; }

void cn_http_server_stats(const struct cn_http_server *s,
                          struct cn_http_stats *out)
{
    *out = s->stats;
}

static void maybe_stop_done(struct cn_http_server *s)
{
    if (!s->stopping || s->conns || s->open_handles > 0)
        return;
    cn_map_close(&s->ip_counts);
    void (*cb)(void *) = s->stop_cb;
    void *arg = s->stop_arg;
    cn_free(s);
    if (cb)
        cb(arg);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct cn_http_server *s = h->data;
    s->open_handles--;
    maybe_stop_done(s);
}

void cn_http_server_stop(struct cn_http_server *s, void (*cb)(void *), void *arg)
{
    struct cn_http_conn *c, *next;
    s->stopping = true;
    s->stop_cb = cb;
    s->stop_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    for (c = s->conns; c; c = next) {
        next = c->next;
        if (c->state == CONN_HANDLING)
            peer_gone(c); /* Cancels parked requests. */
        else if (c->state != CONN_WRITING)
            conn_close(c);
    }
}
