/* http/fuzz_request.c - libFuzzer target: arbitrary bytes from a client.
 *
 * Drives the real server (parser callbacks, head accumulation, routing,
 * pipelining, parking and cancel-on-EOF, error paths) over a loopback
 * socket on one thread: write the input, half-close, and pump the loop
 * until the server closes. Every response must start with a status line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static struct cn_http_server *srv;
static int port;
static struct cn_http_req *parked;

static void h_echo(struct cn_http_req *req)
{
    cn_buf_printf(cn_http_body(req), "%s %zu %zu", req->path, req->n_params,
                  req->body_len);
    /* The body back: big ones reach the gzip path (Accept-Encoding). */
    cn_buf_append(cn_http_body(req), req->body, req->body_len);
    cn_http_finish(req, 200);
}

static void park_cancel(struct cn_http_req *req)
{
    CN_ASSERT(req == parked);
    parked = NULL;
}

static void h_park(struct cn_http_req *req)
{
    if (parked) { /* One at a time: finish the older one now. */
        cn_http_finish(parked, 200);
    }
    parked = req;
    cn_http_on_cancel(req, park_cancel);
}

static const struct cn_route routes[] = {
    {"/v1/echo", CN_HTTP_GET | CN_HTTP_PUT | CN_HTTP_HEAD, h_echo, 0, 1024},
    {"/v1/kv/", CN_HTTP_GET | CN_HTTP_PUT | CN_HTTP_DELETE, h_echo, 0, 1 << 16},
    {"/v1/park", CN_HTTP_GET, h_park, 0, 0},
};
static const struct cn_http_mw *const mws[] = {&cn_http_mw_token, &cn_http_mw_pretty};

static void start(void)
{
    struct cn_http_config cfg = {
        .addr = "127.0.0.1", .routes = routes, .n_routes = CN_ARRAY_LEN(routes),
        .mws = mws, .n_mws = CN_ARRAY_LEN(mws),
    };
    char err[CN_ERRMSG_MAX];
    uv_loop_init(&loop);
    if (cn_http_server_start(&srv, &loop, &cfg, err) != 0) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
    port = cn_http_server_port(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    char buf[65536];
    size_t off = 0;
    int fd, spins = 0;
    bool first = true;

    if (!srv)
        start();
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CN_ASSERT(fd >= 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
        abort();
    for (;;) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (off < size) {
            ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            if (off == size)
                shutdown(fd, SHUT_WR);
        } else if (size == 0 && first) {
            shutdown(fd, SHUT_WR);
        }
        first = false;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0)
            break; /* Server closed: done. */
        if (r > 0) {
            /* The first bytes of any reply are a status line. */
            CN_ASSERT(r < 9 || memcmp(buf, "HTTP/1.1 ", 9) == 0 || spins > 0);
            spins++;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            break; /* Reset by the server on an error path: fine. */
        }
        if (parked) { /* Unpark so the connection can progress. */
            struct cn_http_req *p = parked;
            parked = NULL;
            cn_http_finish(p, 200);
        }
    }
    close(fd);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
