/* http/client.c - a small HTTP/1.1 client on libuv + http-parser, with TLS.
 *
 * One connection per request ("Connection: close"), like Consul's health
 * checks (their transport disables keep-alive); the CLI uses the
 * synchronous wrapper on a private loop. The response is bounded: the head
 * by CN_HTTP_HEAD_BYTES_MAX, the body by resp_body_bytes_max (or, with
 * CN_HTTP_CLIENT_BODY_TAIL, only its last resp_body_bytes_max bytes are
 * kept, so a check can read an endless body in constant memory).
 *
 * HTTPS: OpenSSL drives the handshake and records through two memory BIOs;
 * libuv moves the ciphertext. Bytes from the socket go into net_in,
 * SSL_read() yields plaintext for http-parser, and whatever OpenSSL wants
 * to send (handshake, request records) is drained from net_out into a
 * uv_write of its own (each write owns its buffer until its callback).
 * Verification is on by default: chain against the context's CA store and
 * the name (SSL_set1_host, or the IP for an IP literal, which gets no SNI
 * per RFC 6066 section 3).
 *
 * Lifetime: cb runs exactly once (client_finish), then the handles close;
 * `handles` counts tcp, timer and a pending resolver request, and the call
 * is freed when it reaches 0. libuv runs cancelled write and connect
 * callbacks before the handle's close callback, so they may still look at
 * the call.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http_int.h"

#define CLIENT_TIMEOUT_MS_DEFAULT 10000

struct cn_http_tls {
    SSL_CTX *ctx;
    bool skip_verify;
};

struct tls_wreq {              /* One ciphertext write in flight. */
    uv_write_t req;
    char data[];
};

struct cn_http_call {
    uv_loop_t *loop;
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write;
    http_parser parser;
    struct cn_buf out;         /* Request bytes (plaintext). */
    struct cn_buf head;        /* Header pieces, as server.c. */
    size_t piece_off;
    enum head_piece piece;
    struct cn_buf body;
    uint64_t body_total;
    struct cn_http_response *resp;
    cn_http_client_cb *cb;
    void *ctx;
    char *errmsg;              /* Caller's, or NULL. */
    char *host;
    char *tls_name;            /* Name for SNI and verification. */
    struct addrinfo *ai;       /* Resolver results (freed with the call). */
    struct addrinfo *ai_next;  /* Next address to try after a failure. */
    int first_err;
    char first_addr[64];
    char addr[64];             /* "ip:port" being dialed. */
    int port;
    int handles;
    unsigned flags;
    bool done;                 /* cb has run. */
    bool complete;             /* Whole response parsed. */
    bool head_done;
    bool is_head;
    bool too_big;              /* A bound was hit inside a parser callback. */
    bool dial_failed;          /* Every address failed; report on the timer. */
    /* TLS: the call holds its own SSL_CTX reference, so the caller may
     * free the cn_http_tls any time. */
    bool tls;
    bool skip_verify;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    BIO *net_in, *net_out;
    bool hs_done;
    size_t reason_len;
    char reason[64];
};

/* Read buffers: every byte read is consumed (parsed or handed to OpenSSL)
 * before on_read returns, so one buffer per thread serves every call on
 * that thread's loop. A call in flight then costs ~2 KiB, which matters
 * when thousands of health checks wait on hung services at once. */
static _Thread_local char readbuf[16384];  /* Socket bytes. */
static _Thread_local char plainbuf[16384]; /* Decrypted bytes (TLS). */

static void client_finish(struct cn_http_call *c, int rc);

static void call_free(struct cn_http_call *c)
{
    if (c->ssl)
        SSL_free(c->ssl); /* Frees both BIOs. */
    SSL_CTX_free(c->ssl_ctx);  /* NULL-safe; drops our reference. */
    if (c->ai)
        uv_freeaddrinfo(c->ai);
    cn_free(c->host);
    cn_free(c->tls_name);
    cn_buf_close(&c->out);
    cn_buf_close(&c->head);
    cn_buf_close(&c->body);
    cn_free(c);
}

static void on_closed(uv_handle_t *h)
{
    struct cn_http_call *c = h->data;
    if (--c->handles == 0)
        call_free(c);
}

static void client_close(struct cn_http_call *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_closed);
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void fail(struct cn_http_call *c, int rc, const char *fmt, ...)
    CN_PRINTF(3, 4);

/* Records a reason for the caller, then finishes with rc. */
static void fail(struct cn_http_call *c, int rc, const char *fmt, ...)
{
    va_list ap;
    if (c->done)
        return;
    if (c->errmsg) {
        va_start(ap, fmt);
        vsnprintf(c->errmsg, CN_ERRMSG_MAX, fmt, ap);
        va_end(ap);
    }
    client_finish(c, rc);
}

/* ---- TLS contexts ---- */

int cn_http_tls_new(struct cn_http_tls **out, const struct cn_http_tls_config *cfg,
                    char *errmsg)
{
    struct cn_http_tls *t = cn_calloc(1, sizeof *t);
    int ok;
    if (!t)
        return -ENOMEM;
    t->skip_verify = cfg->skip_verify;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx) {
        cn_free(t);
        return cn_errf_rc(errmsg, -ENOMEM, "tls: cannot create a context");
    }
    /* Go's crypto/tls client default minimum is TLS 1.2. Idle connections
     * (a server that is slow to answer) give their record buffers back. */
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
    if (cfg->skip_verify) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
        *out = t;
        return 0;
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (cfg->ca_file)
        ok = SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, NULL);
    else
        ok = SSL_CTX_set_default_verify_paths(t->ctx);
    if (ok != 1) {
        unsigned long e = ERR_get_error();
        cn_errf(errmsg, "tls: load CA %s: %s", cfg->ca_file ? cfg->ca_file : "(system)",
                e ? ERR_reason_error_string(e) : "failed");
        ERR_clear_error();
        SSL_CTX_free(t->ctx);
        cn_free(t);
        return -EPROTO;
    }
    *out = t;
    return 0;
}

void cn_http_tls_free(struct cn_http_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx); /* Reference-counted: live SSLs keep it. */
    cn_free(t);
}

/* ---- building the response ---- */

static int build_response(struct cn_http_call *c)
{
    struct cn_http_response *r = cn_calloc(1, sizeof *r);
    size_t off = 0, n = 0;
    if (!r)
        return -ENOMEM;
    cn_arena_init(&r->arena, 4 * CN_HTTP_HEAD_BYTES_MAX);
    r->status = (int)c->parser.status_code;
    r->reason = cn_arena_strndup(&r->arena, c->reason, c->reason_len);
    if (!r->reason)
        goto oom;
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
    r->body_total_bytes = c->body_total;
    r->body_complete = c->complete;
    c->resp = r;
    return 0;
oom:
    cn_arena_close(&r->arena);
    cn_free(r);
    return -ENOMEM;
}

static void client_finish(struct cn_http_call *c, int rc)
{
    if (c->done)
        return;
    c->done = true;
    uv_timer_stop(&c->timer);
    if (rc == 0) {
        rc = build_response(c);
        if (rc < 0 && c->errmsg)
            snprintf(c->errmsg, CN_ERRMSG_MAX, "out of memory");
    }
    c->cb(c->ctx, rc, rc == 0 ? c->resp : NULL);
    if (c->resp)
        cn_http_response_free(c->resp);
    c->resp = NULL;
    client_close(c);
}

/* A response cut short: delivered as is in BODY_TAIL mode once the head
 * arrived (Consul reports the status with whatever body it read). */
static bool partial_ok(const struct cn_http_call *c)
{
    return (c->flags & CN_HTTP_CLIENT_BODY_TAIL) && c->head_done;
}

/* ---- response parsing ---- */

static int piece_switch(struct cn_http_call *c, enum head_piece next)
{
    uint32_t len;
    if (c->piece != PIECE_NONE) {
        len = (uint32_t)(c->head.len - c->piece_off - 4);
        memcpy(c->head.data + c->piece_off, &len, 4);
        if (cn_buf_putc(&c->head, 0) < 0)
            goto too_big;
    }
    c->piece = next;
    if (next == PIECE_NONE)
        return 0;
    c->piece_off = c->head.len;
    len = 0;
    if (cn_buf_append(&c->head, &len, 4) < 0)
        goto too_big;
    return 0;
too_big:
    c->too_big = true;
    return -1;
}

static int head_append(struct cn_http_call *c, enum head_piece piece,
                       const char *at, size_t len)
{
    if (c->piece != piece && piece_switch(c, piece) < 0)
        return -1;
    if (cn_buf_append(&c->head, at, len) < 0) {
        c->too_big = true;
        return -1;
    }
    return 0;
}

static int on_hfield(http_parser *p, const char *at, size_t len)
{
    return head_append(p->data, PIECE_FIELD, at, len);
}

static int on_hvalue(http_parser *p, const char *at, size_t len)
{
    return head_append(p->data, PIECE_VALUE, at, len);
}

static int on_cstatus(http_parser *p, const char *at, size_t len)
{
    struct cn_http_call *c = p->data;
    size_t room = sizeof c->reason - 1 - c->reason_len;
    len = CN_MIN(len, room); /* A long reason phrase is cut, not an error. */
    memcpy(c->reason + c->reason_len, at, len);
    c->reason_len += len;
    return 0;
}

static int on_hdone(http_parser *p)
{
    struct cn_http_call *c = p->data;
    if (piece_switch(c, PIECE_NONE) < 0)
        return -1;
    c->head_done = true;
    return c->is_head ? 1 : 0; /* 1: a HEAD response has no body. */
}

/* Keeps the last b->max bytes: Consul's circular buffer (armon/circbuf). */
static int tail_append(struct cn_buf *b, const char *at, size_t len)
{
    size_t max = b->max, drop;
    if (max == 0)
        return 0;
    if (len >= max) {
        b->len = 0;
        return cn_buf_append(b, at + (len - max), max);
    }
    if (len > max - b->len) {
        drop = len - (max - b->len);
        memmove(b->data, b->data + drop, b->len - drop);
        b->len -= drop;
    }
    return cn_buf_append(b, at, len);
}

static int on_cbody(http_parser *p, const char *at, size_t len)
{
    struct cn_http_call *c = p->data;
    int rc;
    c->body_total += len;
    if (c->flags & CN_HTTP_CLIENT_BODY_TAIL)
        rc = tail_append(&c->body, at, len);
    else
        rc = cn_buf_append(&c->body, at, len);
    if (rc == -EMSGSIZE)
        c->too_big = true;
    return rc < 0 ? -1 : 0;
}

static int on_cdone(http_parser *p)
{
    struct cn_http_call *c = p->data;
    if (p->status_code / 100 == 1 && p->status_code != 101) {
        /* An interim response (100 Continue, 103 Early Hints): like Go's
         * transport, skip it and parse the final one that follows. */
        cn_buf_reset(&c->head);
        c->piece = PIECE_NONE;
        c->reason_len = 0;
        c->head_done = false;
        return 0;
    }
    c->complete = true;
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_status = on_cstatus,
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_headers_complete = on_hdone,
    .on_body = on_cbody,
    .on_message_complete = on_cdone,
};

/* Plaintext response bytes. */
static void feed(struct cn_http_call *c, const char *p, size_t n)
{
    size_t used = http_parser_execute(&c->parser, &resp_settings, p, n);
    if (c->complete) {
        client_finish(c, 0);
        return;
    }
    if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || used != n) {
        if (c->too_big)
            fail(c, CN_ETOOBIG, "response %s too large",
                 c->head_done ? "body" : "headers");
        else
            fail(c, CN_EMALFORMED, "malformed HTTP response");
    }
}

static void on_eof(struct cn_http_call *c)
{
    /* EOF ends a response without Content-Length. */
    http_parser_execute(&c->parser, &resp_settings, NULL, 0);
    if (c->complete || partial_ok(c))
        client_finish(c, 0);
    else if (c->tls && !c->hs_done)
        fail(c, -ECONNRESET, "tls: handshake: EOF");
    else
        fail(c, CN_EMALFORMED, c->parser.nread || c->head.len ? "unexpected EOF" : "EOF");
}

/* ---- TLS records ---- */

static void on_tls_written(uv_write_t *req, int status)
{
    struct cn_http_call *c = req->data;
    cn_free(CN_CONTAINER_OF(req, struct tls_wreq, req));
    if (status < 0 && status != UV_ECANCELED)
        fail(c, status, "write tcp %s: %s", c->addr, uv_strerror(status));
}

/* Sends whatever OpenSSL has queued in net_out. */
static int tls_flush(struct cn_http_call *c)
{
    size_t n;
    while ((n = BIO_ctrl_pending(c->net_out)) > 0) {
        struct tls_wreq *w = cn_alloc(sizeof *w + n);
        uv_buf_t b;
        int got, rc;
        if (!w)
            return -ENOMEM;
        got = BIO_read(c->net_out, w->data, (int)n);
        if (got <= 0) {
            cn_free(w);
            return -EPROTO;
        }
        b = uv_buf_init(w->data, (unsigned)got);
        w->req.data = c;
        rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_tls_written);
        if (rc < 0) {
            cn_free(w);
            return rc;
        }
    }
    return 0;
}

static void tls_fail(struct cn_http_call *c)
{
    long v = SSL_get_verify_result(c->ssl);
    unsigned long e = ERR_get_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    if (!c->skip_verify && v != X509_V_OK)
        fail(c, -EPROTO, "tls: failed to verify certificate: x509: %s",
             X509_verify_cert_error_string(v));
    else
        fail(c, -EPROTO, "tls: %s", why ? why : "handshake failure");
}

/* Advances the handshake, sends the request once it is done, and hands
 * decrypted bytes to the parser. */
static void tls_pump(struct cn_http_call *c)
{
    int r, e, rc;
    if (!c->hs_done) {
        ERR_clear_error();
        r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            e = SSL_get_error(c->ssl, r);
            if (e != SSL_ERROR_WANT_READ) {
                tls_fail(c);
                return;
            }
            goto flush;
        }
        c->hs_done = true;
        if (SSL_write(c->ssl, c->out.data, (int)c->out.len) <= 0) {
            tls_fail(c);
            return;
        }
    }
    for (;;) {
        r = SSL_read(c->ssl, plainbuf, (int)sizeof plainbuf);
        if (r > 0) {
            feed(c, plainbuf, (size_t)r);
            if (c->done)
                return;
            continue;
        }
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify */
            on_eof(c);
            return;
        }
        tls_fail(c);
        return;
    }
flush:
    rc = tls_flush(c);
    if (rc < 0)
        fail(c, rc, "write tcp %s: %s", c->addr, cn_strerror(rc));
}

static bool is_ip_literal(const char *s)
{
    unsigned char tmp[16];
    return uv_inet_pton(AF_INET, s, tmp) == 0 || uv_inet_pton(AF_INET6, s, tmp) == 0;
}

static int tls_start(struct cn_http_call *c)
{
    SSL *ssl = SSL_new(c->ssl_ctx);
    BIO *in, *out;
    const char *name = c->tls_name;
    bool ip = is_ip_literal(name);
    if (!ssl)
        return -ENOMEM;
    in = BIO_new(BIO_s_mem());
    out = BIO_new(BIO_s_mem());
    if (!in || !out) {
        BIO_free(in);
        BIO_free(out);
        SSL_free(ssl);
        return -ENOMEM;
    }
    BIO_set_mem_eof_return(in, -1); /* Empty means "wait", not EOF. */
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
    c->ssl = ssl;
    c->net_in = in;
    c->net_out = out;
    if (!ip && *name && SSL_set_tlsext_host_name(ssl, name) != 1)
        return -EPROTO;
    if (!c->skip_verify) {
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                    : SSL_set1_host(ssl, name);
        if (ok != 1)
            return -EPROTO;
    }
    tls_pump(c);
    return 0;
}

/* ---- socket I/O ---- */

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    (void)sz;
    *b = uv_buf_init(readbuf, sizeof readbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct cn_http_call *c = s->data;
    if (c->done || n == 0)
        return;
    if (n == UV_EOF) {
        on_eof(c);
        return;
    }
    if (n < 0) {
        if (partial_ok(c))
            client_finish(c, 0);
        else
            fail(c, (int)n, "read tcp %s: %s", c->addr, uv_strerror((int)n));
        return;
    }
    if (!c->tls) {
        feed(c, b->base, (size_t)n);
        return;
    }
    if (BIO_write(c->net_in, b->base, (int)n) != (int)n) {
        fail(c, -ENOMEM, "tls: buffer");
        return;
    }
    tls_pump(c);
}

static void on_written(uv_write_t *w, int status)
{
    struct cn_http_call *c = w->data;
    if (status < 0 && status != UV_ECANCELED)
        fail(c, status, "write tcp %s: %s", c->addr, uv_strerror(status));
}

static void on_connected(uv_connect_t *cr, int status);

static void format_addr(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[48] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)sa;
        uv_ip6_name(s6, ip, sizeof ip);
        port = ntohs(s6->sin6_port);
        snprintf(out, n, "[%s]:%d", ip, port);
        return;
    }
    uv_ip4_name((const struct sockaddr_in *)(const void *)sa, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    snprintf(out, n, "%s:%d", ip, port);
}

static void dial(struct cn_http_call *c, const struct sockaddr *sa);
static void on_timeout(uv_timer_t *t);

/* Like Go's dialer, a failed address falls through to the next one (a
 * name such as "localhost" often resolves to ::1 and 127.0.0.1). The
 * handle must be closed and re-initialised before it can connect again. */
static void on_redial_closed(uv_handle_t *h)
{
    struct cn_http_call *c = h->data;
    struct addrinfo *ai;
    if (c->done) {
        if (--c->handles == 0)
            call_free(c);
        return;
    }
    uv_tcp_init(c->loop, &c->tcp);
    c->tcp.data = c;
    ai = c->ai_next;
    c->ai_next = ai->ai_next;
    dial(c, ai->ai_addr);
}

static void connect_failed(struct cn_http_call *c, int rc)
{
    if (!c->first_err) {
        c->first_err = rc;
        memcpy(c->first_addr, c->addr, sizeof c->addr);
    }
    if (c->ai_next) {
        uv_close((uv_handle_t *)&c->tcp, on_redial_closed);
        return;
    }
    /* Reported from the timer: uv_tcp_connect can fail synchronously
     * (ENETUNREACH) inside cn_http_client_start, and cb must not run
     * before that returns. */
    c->dial_failed = true;
    uv_timer_start(&c->timer, on_timeout, 0, 0);
}

static void dial(struct cn_http_call *c, const struct sockaddr *sa)
{
    int rc;
    format_addr(sa, c->addr, sizeof c->addr);
    c->connect.data = c;
    rc = uv_tcp_connect(&c->connect, &c->tcp, sa, on_connected);
    if (rc < 0)
        connect_failed(c, rc);
}

static void on_connected(uv_connect_t *cr, int status)
{
    struct cn_http_call *c = cr->data;
    uv_buf_t b;
    int rc;
    if (c->done)
        return;
    if (status < 0) {
        connect_failed(c, status);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc == 0 && c->tls) {
        rc = tls_start(c);
    } else if (rc == 0) {
        b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
        c->write.data = c;
        rc = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    }
    if (rc < 0)
        fail(c, rc, "dial tcp %s: %s", c->addr, cn_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    struct cn_http_call *c = g->data;
    c->handles--;
    if (c->done) {
        if (res)
            uv_freeaddrinfo(res);
        if (c->handles == 0)
            call_free(c);
        return;
    }
    if (status < 0 || !res) {
        if (res)
            uv_freeaddrinfo(res);
        fail(c, status < 0 ? status : UV_EAI_NONAME, "dial tcp: lookup %s: %s",
             c->host, uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        return;
    }
    c->ai = res;
    c->ai_next = res->ai_next;
    dial(c, res->ai_addr);
}

static void on_timeout(uv_timer_t *t)
{
    struct cn_http_call *c = t->data;
    if (c->dial_failed)
        fail(c, c->first_err, "dial tcp %s: connect: %s", c->first_addr,
             uv_strerror(c->first_err));
    else if (partial_ok(c))
        client_finish(c, 0);
    else
        fail(c, CN_ETIMEOUT, "context deadline exceeded (Client.Timeout exceeded "
                             "while awaiting headers)");
}

/* ---- request ---- */

static bool has_header(const struct cn_http_client_req *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++)
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return true;
    return false;
}

static int format_request(struct cn_http_call *c, const struct cn_http_client_req *r)
{
    struct cn_buf *o = &c->out;
    bool v6 = strchr(r->host, ':') != NULL;
    int rc = cn_buf_printf(o, "%s %s HTTP/1.1\r\n", r->method, r->target);
    if (rc == 0 && !has_header(r, "Host"))
        rc = cn_buf_printf(o, v6 ? "Host: [%s]:%d\r\n" : "Host: %s:%d\r\n",
                           r->host, r->port);
    if (rc == 0 && !has_header(r, "User-Agent"))
        rc = cn_buf_printf(o, "User-Agent: cairn/%s\r\n", CN_VERSION);
    if (rc == 0)
        rc = cn_buf_puts(o, "Connection: close\r\n");
    for (size_t i = 0; rc == 0 && i < r->n_headers; i++) {
        CN_ASSERT(strpbrk(r->headers[i], "\r\n") == NULL);
        rc = cn_buf_printf(o, "%s\r\n", r->headers[i]);
    }
    if (rc == 0 && (r->body_len || strcmp(r->method, "PUT") == 0 ||
                    strcmp(r->method, "POST") == 0))
        rc = cn_buf_printf(o, "Content-Length: %zu\r\n", r->body_len);
    if (rc == 0)
        rc = cn_buf_append(o, "\r\n", 2);
    if (rc == 0 && r->body_len)
        rc = cn_buf_append(o, r->body, r->body_len);
    return rc;
}

static int setup_tls(struct cn_http_call *c, const struct cn_http_client_req *r)
{
    const char *name = r->tls_server_name && *r->tls_server_name ? r->tls_server_name
                                                                 : r->host;
    struct cn_http_tls_config cfg = {.skip_verify = r->tls_skip_verify};
    struct cn_http_tls *own = NULL;
    const struct cn_http_tls *t = r->tls_ctx;
    char err[CN_ERRMSG_MAX];
    int rc;
    c->tls_name = cn_strndup(name, strlen(name));
    if (!c->tls_name)
        return -ENOMEM;
    if (!t) {
        rc = cn_http_tls_new(&own, &cfg, err);
        if (rc < 0) {
            if (r->errmsg)
                snprintf(r->errmsg, CN_ERRMSG_MAX, "%s", err);
            return rc;
        }
        t = own;
    }
    if (SSL_CTX_up_ref(t->ctx) != 1) {
        cn_http_tls_free(own);
        return -ENOMEM;
    }
    c->ssl_ctx = t->ctx;
    c->skip_verify = t->skip_verify;
    c->tls = true;
    cn_http_tls_free(own);
    return 0;
}

static int call_new(struct cn_http_call **out, uv_loop_t *loop,
                    const struct cn_http_client_req *r, cn_http_client_cb *cb,
                    void *ctx)
{
    struct cn_http_call *c = cn_calloc(1, sizeof *c);
    int rc;
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->cb = cb;
    c->ctx = ctx;
    c->port = r->port;
    c->flags = r->flags;
    c->errmsg = r->errmsg;
    c->is_head = strcmp(r->method, "HEAD") == 0;
    cn_buf_init(&c->out, CN_HTTP_BODY_BYTES_MAX + CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_init(&c->head, CN_HTTP_HEAD_BYTES_MAX);
    cn_buf_init(&c->body, r->resp_body_bytes_max ? r->resp_body_bytes_max
                                                 : CN_HTTP_RESP_BYTES_MAX);
    c->host = cn_strndup(r->host, strlen(r->host));
    rc = c->host ? format_request(c, r) : -ENOMEM;
    if (rc == 0 && r->tls)
        rc = setup_tls(c, r);
    if (rc < 0) {
        call_free(c);
        return rc;
    }
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    *out = c;
    return 0;
}

int cn_http_client_start(uv_loop_t *loop, const struct cn_http_client_req *r,
                         cn_http_client_cb *cb, void *ctx, struct cn_http_call **out)
{
    struct cn_http_call *c;
    struct addrinfo hints;
    struct sockaddr_storage ss;
    struct sockaddr *sa = (struct sockaddr *)&ss;
    char port[8];
    int rc;

    if (r->port <= 0 || r->port > 65535)
        return -EINVAL;
    rc = call_new(&c, loop, r, cb, ctx);
    if (rc < 0)
        return rc;
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    uv_timer_start(&c->timer, on_timeout,
                   r->timeout_ms ? r->timeout_ms : CLIENT_TIMEOUT_MS_DEFAULT, 0);
    if (out)
        *out = c;
    /* IP literals skip the resolver (and its thread pool round trip). */
    if (uv_ip4_addr(r->host, r->port, (struct sockaddr_in *)sa) == 0 ||
        uv_ip6_addr(r->host, r->port, (struct sockaddr_in6 *)sa) == 0) {
        dial(c, sa); /* A failure here reaches cb like any connect error. */
        return 0;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", r->port);
    c->gai.data = c;
    c->handles++;
    rc = uv_getaddrinfo(loop, &c->gai, on_resolved, r->host, port, &hints);
    if (rc < 0) {
        c->done = true; /* Error returned: cb never runs. */
        c->handles--;
        client_close(c);
        return rc;
    }
    return 0;
}

int cn_http_client_do(uv_loop_t *loop, const struct cn_http_client_req *creq,
                      cn_http_client_cb *cb, void *ctx)
{
    return cn_http_client_start(loop, creq, cb, ctx, NULL);
}

void cn_http_client_cancel(struct cn_http_call *c)
{
    fail(c, CN_ECANCELED, "canceled");
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
        /* Take ownership: copy the struct; the client frees only the shell. */
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
    struct cn_http_client_req copy = *r;
    char why[CN_ERRMSG_MAX] = "";
    int rc;

    if (!copy.errmsg)
        copy.errmsg = why;
    uv_loop_init(&loop);
    rc = cn_http_client_do(&loop, &copy, sync_cb, &s);
    if (rc == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        rc = s.rc;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rc < 0) {
        /* Consul's CLI shows Go's url.Error: `Get "http://h:p/x": dial ...`. */
        char op[16];
        size_t i = 0;
        for (; r->method[i] && i + 1 < sizeof op; i++)
            op[i] = (char)(i ? tolower((unsigned char)r->method[i]) : r->method[i]);
        op[i] = '\0';
        cn_errf(errmsg, "%s \"%s://%s:%d%s\": %s", op, r->tls ? "https" : "http", r->host,
                r->port, r->target, *copy.errmsg ? copy.errmsg : cn_strerror(rc));
        return rc;
    }
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
