/* agent/dns/net.c - UDP and TCP listeners on libuv.
 *
 * UDP: one socket per listener, read with recvmmsg (UV_UDP_RECVMMSG) into
 * a buffer allocated once; each datagram becomes a query; replies leave
 * with uv_udp_try_send straight from the assembly buffer, and are copied
 * and queued (bounded) only when the socket is not writable.
 *
 * TCP (RFC 7766): 2-byte length-prefixed messages. Input is read straight
 * into a per-connection buffer bounded by one maximal query frame; a frame
 * declaring more than CN_DNS_REQ_BYTES_MAX closes the connection, so no
 * peer-declared length is ever allocated. Up to CN_DNS_TCP_PIPELINE_MAX
 * queries of one connection are answered concurrently (replies may go out
 * of order, which RFC 7766 6.2.1.1 allows, matched by ID); reading pauses
 * past that or past CN_DNS_TCP_WRITE_QUEUE_BYTES_MAX of unsent replies.
 * Connections idle for CN_DNS_TCP_IDLE_TIMEOUT_MS are closed. When a client
 * closes (EOF or error) while queries are pending, their lookups are
 * cancelled and the queries freed at once.
 *
 * A 250 ms timer drives deadlines: lookup and recursor timeouts
 * (cn__dns_sweep) and TCP idleness.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "dns_int.h"

#define SWEEP_MS 250
#define MMSG_SLOTS 16                 /* datagrams per recvmmsg */
#define DGRAM_SLOT_BYTES (64u << 10)  /* libuv's slot size for recvmmsg */
#define TCP_IN_BYTES_MAX (CN_DNS_REQ_BYTES_MAX + 2)

/* Replies made while a recvmmsg batch is being handed out go out together
 * with one sendmmsg when the batch ends: one system call instead of one
 * per datagram (libuv 1.44 has no multi-datagram send). */
#define BATCH_BYTES (32u << 10)

struct out_batch {
    struct mmsghdr msgs[MMSG_SLOTS];
    struct iovec iov[MMSG_SLOTS];
    struct sockaddr_storage to[MMSG_SLOTS];
    unsigned n;
    size_t used;
    uint8_t buf[BATCH_BYTES];
};

struct cn__dns_listener {
    uv_udp_t udp;
    uv_tcp_t tcp;
    struct cn_dns_server *s;
    uint8_t *rbuf;
    struct out_batch *batch;
    bool in_batch;              /* inside a recvmmsg batch's callbacks */
    uint16_t port;
};

struct cn__dns_tcp_conn {
    uv_tcp_t tcp;
    struct cn_dns_server *s;
    struct cn__dns_tcp_conn *next, *prev;   /* by last activity */
    struct cn__dns_q *queries;              /* pending, cnext-linked */
    uint64_t last_ms;
    uint32_t pending;
    struct cn_buf in;
    bool reading, closing, processing;
};

struct cn__dns_net {
    struct cn__dns_listener *lis[CN_DNS_LISTENERS_MAX];
    size_t n_lis;
    uv_timer_t sweep;
    struct cn__dns_tcp_conn *head, *tail;
    size_t udp_queued;
    int handles_open;
    void (*close_cb)(void *);
    void *close_arg;
};

struct udp_send {
    uv_udp_send_t req;
    struct cn_dns_server *s;
    uint8_t data[];
};

struct tcp_write {
    uv_write_t req;
    uint8_t data[];
};

/* ---- handle accounting ---- */

static void net_free(struct cn_dns_server *s)
{
    struct cn__dns_net *n = s->net;
    void (*cb)(void *) = n->close_cb;
    void *arg = n->close_arg;
    for (size_t i = 0; i < n->n_lis; i++) {
        cn_free(n->lis[i]->rbuf);
        cn_free(n->lis[i]->batch);
        cn_free(n->lis[i]);
    }
    cn_free(n);
    s->net = NULL;
    if (cb)
        cb(arg);
}

static void handle_closed(struct cn_dns_server *s)
{
    struct cn__dns_net *n = s->net;
    CN_ASSERT(n->handles_open > 0);
    if (--n->handles_open == 0 && s->closing)
        net_free(s);
}

static void on_plain_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

/* ---- UDP ---- */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct cn__dns_listener *l = CN_CONTAINER_OF((uv_udp_t *)h,
                                                 struct cn__dns_listener, udp);
    (void)suggested;
    b->base = (char *)l->rbuf;
    b->len = MMSG_SLOTS * DGRAM_SLOT_BYTES;
}

static void queue_send(struct cn_dns_server *s, struct cn__dns_listener *l,
                       const struct sockaddr *to, const uint8_t *wire,
                       size_t len);

static socklen_t addr_len(const struct sockaddr *a)
{
    return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                    : sizeof(struct sockaddr_in);
}

/* Sends the batched replies; what the socket does not take now is queued
 * through libuv. */
static void batch_flush(struct cn__dns_listener *l)
{
    struct out_batch *b = l->batch;
    struct cn_dns_server *s = l->s;
    unsigned done = 0;
    int fd;

    l->in_batch = false;
    if (!b || b->n == 0)
        return;
    if (uv_fileno((uv_handle_t *)&l->udp, &fd) != 0)
        fd = -1;
    while (done < b->n && fd >= 0) {
        int rc = sendmmsg(fd, b->msgs + done, b->n - done, MSG_DONTWAIT);
        if (rc > 0) {
            done += (unsigned)rc;
        } else if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            s->stats.send_errors++;  /* the first one failed: skip it */
            done++;
        }
    }
    for (; done < b->n; done++)
        queue_send(s, l, (const struct sockaddr *)&b->to[done],
                   b->iov[done].iov_base, b->iov[done].iov_len);
    b->n = 0;
    b->used = 0;
}

/* Adds a reply to the batch; false if it does not fit (send it alone). */
static bool batch_add(struct cn__dns_listener *l, const struct sockaddr *to,
                      const uint8_t *wire, size_t len)
{
    struct out_batch *b = l->batch;
    if (!b) {
        b = l->batch = cn_alloc(sizeof *b);
        if (!b)
            return false;
        b->n = 0;
        b->used = 0;
    }
    if (len > BATCH_BYTES)
        return false;
    if (b->n == MMSG_SLOTS || len > BATCH_BYTES - b->used)
        batch_flush(l), l->in_batch = true;
    unsigned i = b->n++;
    memcpy(b->buf + b->used, wire, len);
    memcpy(&b->to[i], to, addr_len(to));
    b->iov[i].iov_base = b->buf + b->used;
    b->iov[i].iov_len = len;
    memset(&b->msgs[i], 0, sizeof b->msgs[i]);
    b->msgs[i].msg_hdr.msg_name = &b->to[i];
    b->msgs[i].msg_hdr.msg_namelen = addr_len(to);
    b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
    b->msgs[i].msg_hdr.msg_iovlen = 1;
    b->used += len;
    return true;
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b,
                     const struct sockaddr *addr, unsigned flags)
{
    struct cn__dns_listener *l = CN_CONTAINER_OF(h, struct cn__dns_listener, udp);
    struct cn_dns_server *s = l->s;
    struct cn__dns_q *q;

    if ((flags & UV_UDP_MMSG_FREE) || nread < 0 || !addr) {
        batch_flush(l);         /* the batch ended (or failed) */
        return;                 /* our buffer is permanent; errors: retry */
    }
    l->in_batch = (flags & UV_UDP_MMSG_CHUNK) != 0;
    s->stats.queries_udp++;
    q = cn__dns_q_new(s);
    if (!q)
        return;
    q->tr = TR_UDP;
    q->lis = l;
    memcpy(&q->peer, addr, addr->sa_family == AF_INET6
                               ? sizeof(struct sockaddr_in6)
                               : sizeof(struct sockaddr_in));
    cn__dns_on_query(s, (const uint8_t *)b->base, (size_t)nread, q);
    if (!l->in_batch)
        batch_flush(l);
}

static void udp_sent(uv_udp_send_t *req, int status)
{
    struct udp_send *u = CN_CONTAINER_OF(req, struct udp_send, req);
    if (status < 0 && status != UV_ECANCELED)
        u->s->stats.send_errors++;
    u->s->net->udp_queued--;
    cn_free(u);
}

static void queue_send(struct cn_dns_server *s, struct cn__dns_listener *l,
                       const struct sockaddr *to, const uint8_t *wire,
                       size_t len)
{
    struct udp_send *u = NULL;
    uv_buf_t b;
    if (s->net->udp_queued < CN_DNS_UDP_SENDQ_MAX)
        u = cn_alloc(sizeof *u + len);
    if (!u) {
        s->stats.dropped_overload++;
        return;
    }
    u->s = s;
    memcpy(u->data, wire, len);
    b = uv_buf_init((char *)u->data, (unsigned)len);
    if (uv_udp_send(&u->req, &l->udp, &b, 1, to, udp_sent) < 0) {
        s->stats.send_errors++;
        cn_free(u);
        return;
    }
    s->net->udp_queued++;
}

void cn__dns_net_send_udp(struct cn_dns_server *s, struct cn__dns_q *q,
                          const uint8_t *wire, size_t len)
{
    const struct sockaddr *to = (const struct sockaddr *)&q->peer;
    struct cn__dns_listener *l = q->lis;
    if (l->in_batch && batch_add(l, to, wire, len))
        return;
    uv_buf_t b = uv_buf_init((char *)wire, (unsigned)len);
    int rc = uv_udp_try_send(&l->udp, &b, 1, to);
    if (rc >= 0)
        return;
    if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
        s->stats.send_errors++;
        return;
    }
    queue_send(s, l, to, wire, len);
}

/* ---- TCP connections ---- */

static void conn_touch(struct cn__dns_net *n, struct cn__dns_tcp_conn *c,
                       uint64_t now)
{
    c->last_ms = now;
    if (n->tail == c)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        n->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = n->tail;
    c->next = NULL;
    if (n->tail)
        n->tail->next = c;
    n->tail = c;
    if (!n->head)
        n->head = c;
}

static void conn_freed(uv_handle_t *h)
{
    struct cn__dns_tcp_conn *c = h->data;
    struct cn_dns_server *s = c->s;
    cn_buf_close(&c->in);
    cn_free(c);
    handle_closed(s);
}

static void conn_close(struct cn__dns_tcp_conn *c)
{
    struct cn_dns_server *s = c->s;
    struct cn__dns_net *n = s->net;
    if (c->closing)
        return;
    c->closing = true;
    while (c->queries)                /* cancels lookups, frees queries */
        cn__dns_q_abort(s, c->queries);
    if (c->prev)
        c->prev->next = c->next;
    else
        n->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        n->tail = c->prev;
    CN_ASSERT(s->stats.tcp_open > 0);
    s->stats.tcp_open--;
    uv_close((uv_handle_t *)&c->tcp, conn_freed);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct cn__dns_tcp_conn *c = h->data;
    (void)suggested;
    if (cn_buf_reserve(&c->in, TCP_IN_BYTES_MAX - c->in.len) < 0) {
        *b = uv_buf_init(NULL, 0);      /* -> UV_ENOBUFS: connection closed */
        return;
    }
    *b = uv_buf_init((char *)c->in.data + c->in.len,
                     (unsigned)(TCP_IN_BYTES_MAX - c->in.len));
}

static void conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

static bool conn_backlogged(struct cn__dns_tcp_conn *c)
{
    return c->pending >= CN_DNS_TCP_PIPELINE_MAX ||
           uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >
               CN_DNS_TCP_WRITE_QUEUE_BYTES_MAX;
}

/* Starts or stops reading to match the connection's state. */
static void conn_flow(struct cn__dns_tcp_conn *c)
{
    bool want = !c->closing && !conn_backlogged(c) &&
                c->in.len < TCP_IN_BYTES_MAX;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* Runs the complete frames in c->in, as far as the pipeline allows. */
static void conn_process(struct cn__dns_tcp_conn *c)
{
    struct cn_dns_server *s = c->s;
    if (c->processing || c->closing)
        return;
    c->processing = true;
    while (!c->closing && !conn_backlogged(c) && c->in.len >= 2) {
        size_t l = cn__dns_get16(c->in.data);
        if (l > CN_DNS_REQ_BYTES_MAX) {    /* never buffered: drop the peer */
            s->stats.tcp_closed_bad++;
            conn_close(c);
            break;
        }
        if (c->in.len < 2 + l)
            break;
        s->stats.queries_tcp++;
        struct cn__dns_q *q = cn__dns_q_new(s);
        if (q) {
            q->tr = TR_TCP;
            q->tcp_rules = true;
            q->conn = c;
            q->cnext = c->queries;
            if (c->queries)
                c->queries->cprev = q;
            c->queries = q;
            c->pending++;
            cn__dns_on_query(s, c->in.data + 2, l, q);   /* may finish q */
        }
        memmove(c->in.data, c->in.data + 2 + l, c->in.len - 2 - l);
        c->in.len -= 2 + l;
    }
    c->processing = false;
    if (!c->closing)
        conn_flow(c);
}

static void conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct cn__dns_tcp_conn *c = st->data;
    (void)b;
    /* EOF: the client is gone (or half-closed, which DNS clients do not
     * do); its waiting lookups are cancelled rather than kept to the
     * timeout. */
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->in.len += (size_t)nread;
    conn_touch(c->s->net, c, c->s->now_ms(c->s));
    conn_process(c);
}

/* Unlinks q from its connection (which no longer answers for it). */
static struct cn__dns_tcp_conn *detach(struct cn__dns_q *q)
{
    struct cn__dns_tcp_conn *c = q->conn;
    if (!c)
        return NULL;
    if (q->cprev)
        q->cprev->cnext = q->cnext;
    else
        c->queries = q->cnext;
    if (q->cnext)
        q->cnext->cprev = q->cprev;
    q->conn = NULL;
    q->cnext = q->cprev = NULL;
    CN_ASSERT(c->pending > 0);
    c->pending--;
    return c;
}

void cn__dns_net_tcp_done(struct cn_dns_server *s, struct cn__dns_q *q)
{
    struct cn__dns_tcp_conn *c = detach(q);
    if (c && !s->closing && !c->closing)
        conn_process(c);
}

static void tcp_written(uv_write_t *req, int status)
{
    struct tcp_write *w = CN_CONTAINER_OF(req, struct tcp_write, req);
    struct cn__dns_tcp_conn *c = req->data;
    cn_free(w);
    if (c->closing)
        return;
    if (status < 0) {
        c->s->stats.send_errors++;
        conn_close(c);
        return;
    }
    conn_process(c);                   /* the write queue shrank */
}

void cn__dns_net_send_tcp(struct cn_dns_server *s, struct cn__dns_q *q,
                          const uint8_t *wire, size_t len)
{
    struct cn__dns_tcp_conn *c = q->conn;
    struct tcp_write *w;
    uv_buf_t b;

    CN_ASSERT(len <= 65535);
    if (!c || c->closing)
        return;
    w = cn_alloc(sizeof *w + 2 + len);
    if (!w) {
        /* The caller frees q after this: take it off the connection
         * first, so closing it does not free q too. */
        s->stats.send_errors++;
        detach(q);
        conn_close(c);
        return;
    }
    cn__dns_put16(w->data, (uint16_t)len);
    memcpy(w->data + 2, wire, len);
    w->req.data = c;
    b = uv_buf_init((char *)w->data, (unsigned)(len + 2));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, tcp_written) < 0) {
        cn_free(w);
        s->stats.send_errors++;
        detach(q);
        conn_close(c);
    }
}

static void free_handle(uv_handle_t *h)
{
    cn_free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct cn__dns_listener *l = server->data;
    struct cn_dns_server *s = l->s;
    struct cn__dns_net *n = s->net;
    struct cn__dns_tcp_conn *c;

    if (status < 0)
        return;
    c = s->stats.tcp_open < CN_DNS_TCP_CONNS_MAX ? cn_calloc(1, sizeof *c) : NULL;
    if (!c) {
        /* Accept and drop, so the backlog does not fill with it. */
        uv_tcp_t *t = cn_alloc(sizeof *t);
        s->stats.tcp_rejected++;
        if (!t || uv_tcp_init(s->loop, t) < 0) {
            cn_free(t);
            return;
        }
        (void)uv_accept(server, (uv_stream_t *)t);
        uv_close((uv_handle_t *)t, free_handle);
        return;
    }
    c->s = s;
    cn_buf_init(&c->in, TCP_IN_BYTES_MAX);
    if (uv_tcp_init(s->loop, &c->tcp) < 0) {
        cn_free(c);
        return;
    }
    c->tcp.data = c;
    n->handles_open++;
    s->stats.tcp_open++;
    s->stats.tcp_accepted++;
    c->prev = n->tail;                 /* join the activity list */
    if (n->tail)
        n->tail->next = c;
    n->tail = c;
    if (!n->head)
        n->head = c;
    c->last_ms = s->now_ms(s);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_flow(c);
}

/* ---- sweep ---- */

static void on_sweep(uv_timer_t *t)
{
    struct cn_dns_server *s = t->data;
    uint64_t now = s->now_ms(s);
    cn__dns_sweep(s, now);
    for (struct cn__dns_tcp_conn *c = s->net->head, *next; c; c = next) {
        next = c->next;
        if (c->pending == 0 && now - c->last_ms >= CN_DNS_TCP_IDLE_TIMEOUT_MS) {
            s->stats.tcp_closed_bad++;
            conn_close(c);
        }
    }
}

/* ---- setup and teardown ---- */

uint64_t cn__dns_net_now(const struct cn_dns_server *s)
{
    return s->loop ? uv_now(s->loop) : cn_time_mono_ms();
}

int cn__dns_net_new(struct cn_dns_server *s)
{
    struct cn__dns_net *n = cn_calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    if (uv_timer_init(s->loop, &n->sweep) < 0) {
        cn_free(n);
        return -ENOMEM;
    }
    s->net = n;
    n->sweep.data = s;
    n->handles_open = 1;
    uv_timer_start(&n->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&n->sweep);
    return 0;
}

/* Binds a UDP and a TCP socket to the same port (0: the first port free
 * for both). Plain sockets first, so a failed pairing is undone at once. */
static int bind_pair(const struct sockaddr *addr, int *ufd, int *tfd,
                     uint16_t *port_out)
{
    struct sockaddr_storage a;
    socklen_t alen = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                 : sizeof(struct sockaddr_in);
    int one = 1, rcvbuf = 4 << 20, rc = -EADDRINUSE;

    for (int tries = 0; tries < 32 && rc == -EADDRINUSE; tries++) {
        memcpy(&a, addr, alen);
        *ufd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        *tfd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (*ufd < 0 || *tfd < 0) {
            rc = -errno;
            goto fail;
        }
        setsockopt(*tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Room for bursts while the loop is busy or descheduled: 4 MiB
         * asked (the kernel caps it at net.core.rmem_max; only queued
         * packets use it). Failure is harmless. */
        setsockopt(*ufd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (bind(*ufd, (struct sockaddr *)&a, alen) < 0 ||
            getsockname(*ufd, (struct sockaddr *)&a, &alen) < 0) {
            rc = -errno;
            goto fail;
        }
        if (bind(*tfd, (struct sockaddr *)&a, alen) == 0) {
            *port_out = ntohs(a.ss_family == AF_INET6
                                  ? ((struct sockaddr_in6 *)&a)->sin6_port
                                  : ((struct sockaddr_in *)&a)->sin_port);
            return 0;
        }
        rc = -errno;
    fail:
        if (*ufd >= 0)
            close(*ufd);
        if (*tfd >= 0)
            close(*tfd);
        *ufd = *tfd = -1;
        /* Only an ephemeral UDP port taken on TCP is worth a retry. */
        uint16_t want = ntohs(addr->sa_family == AF_INET6
                                  ? ((const struct sockaddr_in6 *)addr)->sin6_port
                                  : ((const struct sockaddr_in *)addr)->sin_port);
        if (want != 0)
            break;
    }
    return rc;
}

/* Hands the bound sockets to libuv. Every fd is either owned by a handle
 * or closed here, whatever fails. */
static int listener_open(struct cn_dns_server *s, struct cn__dns_listener *l,
                         int ufd, int tfd)
{
    int rc = uv_udp_init_ex(s->loop, &l->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
    if (rc == 0) {
        l->udp.data = s;
        s->net->handles_open++;
        rc = uv_udp_open(&l->udp, ufd);
    }
    if (rc < 0) {
        close(ufd);
        close(tfd);
        return rc;
    }
    rc = uv_tcp_init(s->loop, &l->tcp);
    if (rc == 0) {
        l->tcp.data = l;
        s->net->handles_open++;
        rc = uv_tcp_open(&l->tcp, tfd);
    }
    if (rc < 0) {
        close(tfd);
        return rc;
    }
    if ((rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection)) < 0)
        return rc;
    return uv_udp_recv_start(&l->udp, udp_alloc, udp_recv);
}

int cn_dns_server_listen(struct cn_dns_server *s, const char *ip,
                         uint16_t port, char *errmsg)
{
    struct sockaddr_storage addr;
    struct cn__dns_listener *l;
    int ufd = -1, tfd = -1, rc;

    if (!s->loop)
        return -EINVAL;
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&addr) != 0) {
        if (errmsg)
            cn_errf(errmsg, "dns: invalid listen address \"%s\"", ip);
        return -EINVAL;
    }
    if (!s->net && (rc = cn__dns_net_new(s)) < 0)
        return rc;
    if (s->net->n_lis == CN_DNS_LISTENERS_MAX)
        return -ENOSPC;
    l = cn_calloc(1, sizeof *l);
    if (l)
        l->rbuf = cn_alloc(MMSG_SLOTS * DGRAM_SLOT_BYTES);
    if (!l || !l->rbuf) {
        cn_free(l);
        return -ENOMEM;
    }
    l->s = s;
    rc = bind_pair((struct sockaddr *)&addr, &ufd, &tfd, &l->port);
    if (rc < 0) {
        cn_free(l->rbuf);
        cn_free(l);
        if (errmsg)
            cn_errf(errmsg, "dns: bind %s:%u: %s", ip, port, cn_strerror(rc));
        return rc;
    }
    s->net->lis[s->net->n_lis++] = l;   /* closed with the server */
    rc = listener_open(s, l, ufd, tfd);
    if (rc < 0) {
        if (errmsg)
            cn_errf(errmsg, "dns: listen %s:%u: %s", ip, l->port, cn_strerror(rc));
        return rc;     /* handles are closed by cn_dns_server_close */
    }
    cn_logf(&s->log, CN_LOG_INFO, "dns: listening on %s:%u (udp, tcp)", ip, l->port);
    return 0;
}

uint16_t cn_dns_server_port(const struct cn_dns_server *s)
{
    return s->net && s->net->n_lis ? s->net->lis[0]->port : 0;
}

void cn__dns_net_close(struct cn_dns_server *s, void (*cb)(void *), void *arg)
{
    struct cn__dns_net *n = s->net;
    n->close_cb = cb;
    n->close_arg = arg;
    while (n->head)
        conn_close(n->head);
    uv_timer_stop(&n->sweep);
    uv_close((uv_handle_t *)&n->sweep, on_plain_closed);
    for (size_t i = 0; i < n->n_lis; i++) {
        struct cn__dns_listener *l = n->lis[i];
        if (l->udp.loop) {
            l->udp.data = s;
            uv_close((uv_handle_t *)&l->udp, on_plain_closed);
        }
        if (l->tcp.loop) {
            l->tcp.data = s;
            uv_close((uv_handle_t *)&l->tcp, on_plain_closed);
        }
    }
}
