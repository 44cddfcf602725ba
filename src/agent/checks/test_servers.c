/* agent/checks/test_servers.c - see test_servers.h. Test code only. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http/http.h"
#include "test_servers.h"

static struct tsrv *g;
static uv_loop_t loop;
static pthread_t loop_thread, tls_thread;
static uv_async_t stop_async;
static struct cn_http_server *srv;
static uv_tcp_t stream_listener;
static int tls_fd = -1, closed_fd = -1;
static SSL_CTX *tls_ctx;
static atomic_int tls_stop;

/* ---- HTTP handlers ---- */

static void reply(struct cn_http_req *req, int status, const char *body)
{
    cn_buf_puts(cn_http_body(req), body);
    cn_http_set_header(req, "Content-Type", "text/plain");
    cn_http_finish(req, status);
}

static void h_ok(struct cn_http_req *req) { reply(req, 200, "ok"); }
static void h_warn(struct cn_http_req *req) { reply(req, 429, "slow down"); }
static void h_fail(struct cn_http_req *req) { reply(req, 500, "boom"); }

static void h_toggle(struct cn_http_req *req)
{
    atomic_fetch_add(&g->hits, 1);
    reply(req, atomic_load(&g->toggle_status), "toggle");
}

static uint64_t param_u64(struct cn_http_req *req, const char *name, uint64_t dflt)
{
    const struct cn_http_param *p = cn_http_param(req, name);
    uint64_t v;
    if (p && cn_parse_u64(p->value, p->value_len, &v) == 0)
        return v;
    return dflt;
}

struct parked {
    uv_timer_t timer;
    struct cn_http_req *req;
};

static void on_parked_closed(uv_handle_t *h) { free(h->data); }

static void on_park_timer(uv_timer_t *t)
{
    struct parked *p = t->data;
    if (p->req)
        reply(p->req, 200, "slow ok");
    p->req = NULL;
    uv_close((uv_handle_t *)&p->timer, on_parked_closed);
}

static void on_park_cancel(struct cn_http_req *req)
{
    struct parked *p = req->handler_ctx;
    p->req = NULL;
    uv_close((uv_handle_t *)&p->timer, on_parked_closed);
}

static void h_slow(struct cn_http_req *req)
{
    struct parked *p = calloc(1, sizeof *p);
    p->req = req;
    req->handler_ctx = p;
    uv_timer_init(&loop, &p->timer);
    p->timer.data = p;
    cn_http_on_cancel(req, on_park_cancel);
    uv_timer_start(&p->timer, on_park_timer, param_u64(req, "ms", 1000), 0);
}

static void h_big(struct cn_http_req *req)
{
    uint64_t n = param_u64(req, "n", 100000);
    struct cn_buf *b = cn_http_body(req);
    for (uint64_t i = 0; i + 7 < n; i++)
        cn_buf_putc(b, (uint8_t)('a' + i % 26));
    cn_buf_puts(b, "THE-END");
    cn_http_finish(req, 200);
}

static const char *hdr(struct cn_http_req *req, const char *name)
{
    const char *v = cn_http_header(req, name);
    return v ? v : "-";
}

static void h_echo(struct cn_http_req *req)
{
    cn_buf_printf(cn_http_body(req), "m=%s ua=%s accept=%s host=%s x=%s auth=%s body=%.*s",
                  req->method_name, hdr(req, "user-agent"), hdr(req, "accept"),
                  hdr(req, "host"), hdr(req, "x-custom"), hdr(req, "authorization"),
                  (int)req->body_len, (const char *)req->body);
    cn_http_finish(req, 200);
}

static void h_redirect(struct cn_http_req *req)
{
    const struct cn_http_param *to = cn_http_param(req, "to");
    cn_http_set_header(req, "Location", to ? to->value : "/ok");
    cn_http_finish(req, (int)param_u64(req, "code", 302));
}

static void h_loop(struct cn_http_req *req)
{
    cn_http_set_header(req, "Location", "/loop");
    cn_http_finish(req, 302);
}

#define ALL (CN_HTTP_GET | CN_HTTP_PUT | CN_HTTP_POST | CN_HTTP_HEAD | CN_HTTP_DELETE)
static const struct cn_route routes[] = {
    {"/ok", ALL, h_ok, 0, 4096},
    {"/warn", ALL, h_warn, 0, 4096},
    {"/fail", ALL, h_fail, 0, 4096},
    {"/slow", ALL, h_slow, 0, 4096},
    {"/big", ALL, h_big, 0, 4096},
    {"/echo", ALL, h_echo, 0, 65536},
    {"/redirect", ALL, h_redirect, 0, 4096},
    {"/loop", ALL, h_loop, 0, 4096},
    {"/toggle", ALL, h_toggle, 0, 4096},
};

/* ---- endless body ---- */

struct stream_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    int closing;
    int started;
    struct stream_conn *next, *prev;
};

static struct stream_conn *streams; /* Open connections. */

static const char stream_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
static char stream_chunk[1024];

static void on_stream_closed(uv_handle_t *h)
{
    struct stream_conn *c = h->data;
    if (++c->closing == 2)
        free(c);
}

static void stream_close(struct stream_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        if (c->prev)
            c->prev->next = c->next;
        else
            streams = c->next;
        if (c->next)
            c->next->prev = c->prev;
        uv_close((uv_handle_t *)&c->tcp, on_stream_closed);
        uv_close((uv_handle_t *)&c->timer, on_stream_closed);
    }
}

static void on_stream_written(uv_write_t *w, int status)
{
    struct stream_conn *c = w->data;
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        stream_close(c);
}

static void stream_send(struct stream_conn *c, const char *p, size_t n)
{
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    w->data = c;
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_stream_written) < 0) {
        free(w);
        stream_close(c);
    }
}

static void on_stream_tick(uv_timer_t *t)
{
    struct stream_conn *c = t->data;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < (1 << 20))
        stream_send(c, stream_chunk, sizeof stream_chunk);
}

static void on_stream_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    static char buf[4096];
    (void)h;
    (void)sz;
    *b = uv_buf_init(buf, sizeof buf);
}

static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n"
                              "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                              "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nfinally";

/* The first bytes of a request pick the answer: /interim gets interim
 * responses before the final one, anything else an endless body. */
static void on_stream_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct stream_conn *c = s->data;
    if (n < 0) {
        stream_close(c);
        return;
    }
    if (n == 0 || c->started)
        return;
    c->started = 1;
    if (n >= 13 && memcmp(b->base, "GET /interim ", 13) == 0) {
        stream_send(c, interim, sizeof interim - 1);
        return;
    }
    stream_send(c, stream_head, sizeof stream_head - 1);
    uv_timer_start(&c->timer, on_stream_tick, 0, 5);
}

static void on_stream_conn(uv_stream_t *l, int status)
{
    struct stream_conn *c;
    if (status < 0)
        return;
    c = calloc(1, sizeof *c);
    c->next = streams;
    if (streams)
        streams->prev = c;
    streams = c;
    uv_tcp_init(&loop, &c->tcp);
    uv_timer_init(&loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        stream_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_stream_alloc, on_stream_read);
}

static int bound_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    return ntohs(sa.sin_port);
}

static int stream_start(void)
{
    struct sockaddr_in sa;
    uv_os_fd_t fd;
    memset(stream_chunk, 'x', sizeof stream_chunk);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(&loop, &stream_listener);
    if (uv_tcp_bind(&stream_listener, (struct sockaddr *)&sa, 0) < 0 ||
        uv_listen((uv_stream_t *)&stream_listener, 64, on_stream_conn) < 0)
        return -1;
    uv_fileno((uv_handle_t *)&stream_listener, &fd);
    g->stream_port = bound_port(fd);
    return 0;
}

/* ---- TLS server ---- */

static X509 *make_cert(EVP_PKEY **key_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;
    static const char *const exts[][2] = {
        {"subjectAltName", "DNS:localhost,IP:127.0.0.1"},
        {"basicConstraints", "critical,CA:TRUE"},
        {"keyUsage", "critical,digitalSignature,keyCertSign"},
    };
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, key, EVP_sha256());
    *key_out = key;
    return x;
}

static void tls_serve_one(int fd)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n"
                               "Connection: close\r\n\r\nsecure ok";
    struct timeval tv = {2, 0};
    char buf[4096];
    size_t got = 0;
    SSL *ssl = SSL_new(tls_ctx);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        while (got < sizeof buf - 1) {
            int n = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = 0;
            if (strstr(buf, "\r\n\r\n")) {
                SSL_write(ssl, resp, (int)sizeof resp - 1);
                SSL_shutdown(ssl);
                break;
            }
        }
    }
    SSL_free(ssl);
    ERR_clear_error();
    close(fd);
}

static void *tls_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&tls_stop)) {
        int fd = accept(tls_fd, NULL, NULL);
        if (fd < 0)
            continue;
        tls_serve_one(fd);
    }
    return NULL;
}

static int listen_fd(bool do_listen)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        (do_listen && listen(fd, 16) < 0))
        return -1;
    return fd;
}

static int tls_start(void)
{
    EVP_PKEY *key;
    X509 *cert = make_cert(&key);
    FILE *f;
    int fd;

    snprintf(g->cert_path, sizeof g->cert_path, "/tmp/cn_checks_cert_XXXXXX");
    fd = mkstemp(g->cert_path);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f || !PEM_write_X509(f, cert))
        return -1;
    fclose(f);
    tls_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(tls_ctx, cert);
    SSL_CTX_use_PrivateKey(tls_ctx, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    tls_fd = listen_fd(true);
    if (tls_fd < 0)
        return -1;
    g->tls_port = bound_port(tls_fd);
    return pthread_create(&tls_thread, NULL, tls_main, NULL) == 0 ? 0 : -1;
}

/* ---- start and stop ---- */

static void on_stop(uv_async_t *a)
{
    (void)a;
    uv_close((uv_handle_t *)&stop_async, NULL);
    uv_close((uv_handle_t *)&stream_listener, NULL);
    while (streams)
        stream_close(streams);
    cn_http_server_stop(srv, NULL, NULL);
}

static void *loop_main(void *arg)
{
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

int tsrv_start(struct tsrv *s)
{
    struct cn_http_config cfg = {
        .addr = "127.0.0.1", .port = 0, .routes = routes,
        .n_routes = sizeof routes / sizeof routes[0],
    };
    char err[CN_ERRMSG_MAX];
    g = s;
    atomic_store(&s->toggle_status, 200);
    uv_loop_init(&loop);
    uv_async_init(&loop, &stop_async, on_stop);
    if (cn_http_server_start(&srv, &loop, &cfg, err) != 0) {
        fprintf(stderr, "http server: %s\n", err);
        return -1;
    }
    s->http_port = cn_http_server_port(srv);
    if (stream_start() < 0 || tls_start() < 0) {
        fprintf(stderr, "test servers: setup failed\n");
        return -1;
    }
    closed_fd = listen_fd(false);
    s->closed_port = bound_port(closed_fd);
    pthread_create(&loop_thread, NULL, loop_main, NULL);
    return 0;
}

void tsrv_stop(struct tsrv *s)
{
    uv_async_send(&stop_async);
    pthread_join(loop_thread, NULL);
    uv_loop_close(&loop);
    atomic_store(&tls_stop, 1);
    shutdown(tls_fd, SHUT_RDWR);
    pthread_join(tls_thread, NULL);
    close(tls_fd);
    close(closed_fd);
    SSL_CTX_free(tls_ctx);
    unlink(s->cert_path);
}
