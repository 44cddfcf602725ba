/* rpc/transport.c - framed TCP between servers and agents (see rpc.h).
 *
 * Objects:
 *   tsock  one TCP connection with its frame reader; inbound ones have an
 *          id that replies address (the socket may be gone by then);
 *   tpeer  an outbound destination "ip:port": at most one tsock at a time,
 *          a queue of frames while (re)connecting, the calls waiting for
 *          responses, and reconnect backoff (50 ms doubling to 2 s).
 * Frames are copied once into a write block that lives until the write
 * callback; a peer's queued + in-flight bytes are capped.
 */
#include <errno.h>
#include <stdio.h>

#include "rpc_int.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define TICK_MS 100          /* Call-timeout scan. */
#define HDR_BYTES CN__RPC_HDR_BYTES

struct tpeer;

struct tsock {
    uv_tcp_t tcp;            /* First: handle pointer == tsock pointer. */
    struct cn_transport *t;
    struct tpeer *peer;      /* NULL for inbound. */
    uint64_t id;
    struct tsock *next, *prev; /* Inbound list. */
    struct cn__rpc_reader rd; /* Frame reassembly (rpc/frame.c). */
    bool closing;
};

struct wblock {
    uv_write_t w;
    struct tpeer *peer;      /* For queue accounting; NULL inbound. */
    struct cn_transport *t;
    struct wblock *next;     /* Peer queue while not connected. */
    size_t len;
    uint8_t data[];
};

struct pcall {
    struct cn_rpc_call *call;
    struct tpeer *peer;
    uint64_t id;
    uint8_t key[8];          /* id big-endian, as on the wire: the map key. */
    uint64_t deadline_ms;    /* 0: none. */
    struct pcall *next, *prev;
};

struct tpeer {
    char addr[64];
    struct sockaddr_storage sa;
    struct cn_transport *t;
    struct tsock *sock;      /* NULL while backing off. */
    bool connected;
    uv_connect_t creq;
    uv_timer_t backoff;
    uint64_t backoff_ms;
    struct wblock *q_head, *q_tail;
    size_t q_bytes;          /* Queued + in flight. */
    struct pcall *calls;
    struct tpeer *next;
};

struct cn_transport {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t ticker;
    struct cn_transport_handlers h;
    struct tpeer *peers;
    struct tsock *inbound;
    struct cn_map inbound_by_id;   /* u64 id -> tsock */
    struct cn_map calls_by_id;     /* u64 id -> pcall */
    uint64_t next_sock_id, next_call_id;
    struct cn_transport_stats stats;
    int port;
    bool stopping;
    int open_handles;
    void (*stop_cb)(void *);
    void *stop_arg;
    uint8_t readbuf[64 << 10];
};

static void on_sock_closed(uv_handle_t *h);
static void maybe_stopped(struct cn_transport *t);
static void peer_connect(struct tpeer *p);

/* ---- helpers ---- */


static int parse_addr(const char *addr, struct sockaddr_storage *sa)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    int64_t port;
    size_t hl;
    if (!colon || cn_parse_i64(colon + 1, strlen(colon + 1), &port) < 0 || port <= 0 ||
        port > 65535)
        return CN_EMALFORMED;
    hl = (size_t)(colon - addr);
    if (hl >= sizeof host || hl == 0)
        return CN_EMALFORMED;
    memcpy(host, addr, hl);
    host[hl] = 0;
    if (host[0] == '[' && host[hl - 1] == ']') { /* [v6]:port */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) == 0)
        return 0;
    return CN_EMALFORMED;
}

static struct wblock *wblock_new(struct cn_transport *t, uint8_t tag,
                                 const uint8_t *head, size_t head_len,
                                 const uint8_t *body, size_t body_len)
{
    size_t len = HDR_BYTES + head_len + body_len;
    struct wblock *b;
    if (len - 4 > CN_FRAME_BYTES_MAX)
        return NULL;
    b = cn_alloc(sizeof *b + len);
    if (!b)
        return NULL;
    memset(b, 0, sizeof *b);
    b->t = t;
    b->len = len;
    cn__rpc_put_be(b->data, len - 4, 4);
    b->data[4] = tag;
    if (head_len)
        memcpy(b->data + HDR_BYTES, head, head_len);
    if (body_len)
        memcpy(b->data + HDR_BYTES + head_len, body, body_len);
    return b;
}

/* ---- writing ---- */

static void on_written(uv_write_t *w, int status)
{
    struct wblock *b = CN_CONTAINER_OF(w, struct wblock, w);
    (void)status; /* A failed write shows up as a read error too. */
    if (b->peer)
        b->peer->q_bytes -= b->len;
    cn_free(b);
}

static int sock_write(struct tsock *s, struct wblock *b)
{
    uv_buf_t buf = uv_buf_init((char *)b->data, (unsigned)b->len);
    int rc = uv_write(&b->w, (uv_stream_t *)&s->tcp, &buf, 1, on_written);
    if (rc == 0) {
        s->t->stats.frames_out++;
        s->t->stats.bytes_out += b->len;
    }
    return rc;
}

/* Sends or queues a block to a peer; takes ownership of b. */
static int peer_send(struct tpeer *p, struct wblock *b)
{
    if (p->q_bytes > CN_TRANSPORT_QUEUE_BYTES_MAX - b->len) {
        p->t->stats.dropped_sends++;
        cn_free(b);
        return -ENOBUFS;
    }
    b->peer = p;
    p->q_bytes += b->len;
    if (p->connected && p->sock && sock_write(p->sock, b) == 0)
        return 0;
    if (p->connected) { /* Write refused: the socket is dying. */
        p->q_bytes -= b->len;
        p->t->stats.dropped_sends++;
        cn_free(b);
        return -EPIPE;
    }
    b->next = NULL;
    if (p->q_tail)
        p->q_tail->next = b;
    else
        p->q_head = b;
    p->q_tail = b;
    if (!p->sock && !uv_is_active((uv_handle_t *)&p->backoff))
        peer_connect(p);
    return 0;
}

/* ---- calls ---- */

static void call_unlink(struct cn_transport *t, struct pcall *pc)
{
    cn_map_del(&t->calls_by_id, pc->key, 8);
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        pc->peer->calls = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    pc->call->callee_priv = NULL;
}

static void call_fail(struct cn_transport *t, struct pcall *pc, int rc,
                      const char *why)
{
    struct cn_rpc_call *call = pc->call;
    call_unlink(t, pc);
    cn_free(pc);
    call->rc = rc;
    snprintf(call->errmsg, sizeof call->errmsg, "rpc error making call: %s", why);
    call->done(call);
}

static void peer_fail_calls(struct tpeer *p, int rc, const char *why)
{
    while (p->calls)
        call_fail(p->t, p->calls, rc, why);
}

/* ---- peers ---- */

static struct tpeer *peer_get(struct cn_transport *t, const char *addr)
{
    struct tpeer *p;
    for (p = t->peers; p; p = p->next)
        if (strcmp(p->addr, addr) == 0)
            return p;
    if (strlen(addr) >= sizeof p->addr)
        return NULL;
    p = cn_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (parse_addr(addr, &p->sa) < 0) {
        cn_free(p);
        return NULL;
    }
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    p->t = t;
    p->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(t->loop, &p->backoff);
    p->backoff.data = p;
    t->open_handles++;
    p->next = t->peers;
    t->peers = p;
    return p;
}

static void sock_close(struct tsock *s);

static void on_backoff(uv_timer_t *tm)
{
    struct tpeer *p = tm->data;
    if (!p->t->stopping && !p->sock && (p->q_head || p->calls))
        peer_connect(p);
}

/* The peer's socket is gone: drop what was queued (Raft resends; calls
 * fail now) and back off before the next attempt. */
static void peer_down(struct tpeer *p, const char *why)
{
    struct wblock *b;
    p->connected = false;
    p->sock = NULL;
    while ((b = p->q_head) != NULL) {
        p->q_head = b->next;
        p->q_bytes -= b->len;
        p->t->stats.dropped_sends++;
        cn_free(b);
    }
    p->q_tail = NULL;
    peer_fail_calls(p, -ECONNRESET, why);
    if (!p->t->stopping) {
        uv_timer_start(&p->backoff, on_backoff, p->backoff_ms, 0);
        p->backoff_ms = CN_MIN(p->backoff_ms * 2, BACKOFF_MAX_MS);
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b);

static void on_connected(uv_connect_t *cr, int status)
{
    struct tpeer *p = cr->data;
    struct tsock *s = p->sock;
    struct wblock *b;
    if (!s || s->closing)
        return;
    if (status < 0) {
        p->t->stats.connect_failures++;
        sock_close(s);
        return;
    }
    p->connected = true;
    p->backoff_ms = BACKOFF_MIN_MS;
    p->t->stats.connects++;
    uv_tcp_nodelay(&s->tcp, 1);
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
    while ((b = p->q_head) != NULL) {
        p->q_head = b->next;
        if (sock_write(s, b) != 0) {
            p->q_bytes -= b->len;
            cn_free(b);
        }
    }
    p->q_tail = NULL;
}

static struct tsock *sock_new(struct cn_transport *t)
{
    struct tsock *s = cn_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->t = t;
    s->id = ++t->next_sock_id;
    cn__rpc_reader_init(&s->rd);
    uv_tcp_init(t->loop, &s->tcp);
    s->tcp.data = s;
    t->open_handles++;
    return s;
}

static void peer_connect(struct tpeer *p)
{
    struct tsock *s = sock_new(p->t);
    if (!s) {
        peer_down(p, "out of memory");
        return;
    }
    s->peer = p;
    p->sock = s;
    p->creq.data = p;
    if (uv_tcp_connect(&p->creq, &s->tcp, (struct sockaddr *)&p->sa, on_connected) < 0) {
        p->t->stats.connect_failures++;
        sock_close(s);
    }
}

/* ---- sockets ---- */

static void sock_close(struct tsock *s)
{
    struct cn_transport *t = s->t;
    if (s->closing)
        return;
    s->closing = true;
    if (s->peer) {
        struct tpeer *p = s->peer;
        s->peer = NULL;
        if (p->sock == s)
            peer_down(p, "connection closed");
    } else {
        cn_map_del(&t->inbound_by_id, &s->id, sizeof s->id);
        if (s->prev)
            s->prev->next = s->next;
        else
            t->inbound = s->next;
        if (s->next)
            s->next->prev = s->prev;
        if (t->h.on_conn_closed)
            t->h.on_conn_closed(t->h.ctx, s->id);
    }
    uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    struct tsock *s = h->data;
    (void)sz;
    *b = uv_buf_init((char *)s->t->readbuf, sizeof s->t->readbuf);
}

static void deliver_response(struct cn_transport *t, const uint8_t *p, size_t n)
{
    struct cn__rpc_resp r;
    struct pcall *pc;
    struct cn_rpc_call *call;
    int rc = cn__rpc_resp_decode(p, n, &r);

    if (!r.has_key) {
        t->stats.bad_frames++;
        return;
    }
    pc = cn_map_get(&t->calls_by_id, r.key, 8);
    if (!pc)
        return; /* Cancelled or timed out meanwhile. */
    if (rc < 0) {
        t->stats.bad_frames++;
        call_fail(t, pc, CN_EMALFORMED, "malformed response");
        return;
    }
    call = pc->call;
    call->rc = r.rc;
    call->meta = r.meta;
    memcpy(call->errmsg, r.errmsg, r.errmsg_len);
    call->errmsg[r.errmsg_len] = 0;
    cn_buf_reset(&call->reply);
    if (cn_buf_append(&call->reply, r.reply, r.reply_len) < 0) {
        call_fail(t, pc, CN_ETOOBIG, "response too large");
        return;
    }
    call_unlink(t, pc);
    cn_free(pc);
    call->done(call);
}

static void deliver(struct tsock *s)
{
    struct cn_transport *t = s->t;
    const uint8_t *p = s->rd.frame.data;
    size_t n = s->rd.frame.len;
    struct cn__rpc_req req;

    t->stats.frames_in++;
    switch (cn__rpc_reader_tag(&s->rd)) {
    case CN_FRAME_RAFT:
        if (t->h.on_raft)
            t->h.on_raft(t->h.ctx, p, n);
        break;
    case CN_FRAME_RPC_REQ:
        if (s->peer || cn__rpc_req_decode(p, n, &req) < 0) {
            t->stats.bad_frames++;
            break;
        }
        if (t->h.on_rpc)
            t->h.on_rpc(t->h.ctx, s->id, req.id, req.method, req.forwarded, req.dc, req.args,
                        req.args_len);
        break;
    case CN_FRAME_RPC_RESP:
        deliver_response(t, p, n);
        break;
    default:
        t->stats.bad_frames++;
        break;
    }
}

/* Feeds bytes to the frame reader; false if the stream must close. */
static bool sock_feed(struct tsock *s, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t used;
        int rc = cn__rpc_reader_feed(&s->rd, p, n, &used);
        p += used;
        n -= used;
        if (rc < 0) {
            if (rc == CN_EMALFORMED) /* A declared length out of bounds. */
                s->t->stats.bad_frames++;
            return false;
        }
        if (rc == 1) {
            deliver(s);
            if (s->closing)
                return false;
            cn__rpc_reader_next(&s->rd);
        }
    }
    return true;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct tsock *s = st->data;
    (void)buf;
    if (s->closing || n == 0)
        return;
    if (n < 0) {
        sock_close(s);
        return;
    }
    s->t->stats.bytes_in += (uint64_t)n;
    if (!sock_feed(s, s->t->readbuf, (size_t)n))
        sock_close(s);
}

static void on_inbound(uv_stream_t *ls, int status)
{
    struct cn_transport *t = ls->data;
    struct tsock *s;
    if (status < 0 || t->stopping)
        return;
    s = sock_new(t);
    if (!s)
        return;
    if (uv_accept(ls, (uv_stream_t *)&s->tcp) != 0 ||
        cn_map_put(&t->inbound_by_id, &s->id, sizeof s->id, s, NULL) < 0) {
        s->closing = true;
        uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
        return;
    }
    s->next = t->inbound;
    if (t->inbound)
        t->inbound->prev = s;
    t->inbound = s;
    uv_tcp_nodelay(&s->tcp, 1);
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
}

/* ---- public ---- */

static void on_tick(uv_timer_t *tm)
{
    struct cn_transport *t = tm->data;
    uint64_t now = uv_now(t->loop);
    for (struct tpeer *p = t->peers; p; p = p->next) {
        struct pcall *pc = p->calls, *next;
        for (; pc; pc = next) {
            next = pc->next;
            if (pc->deadline_ms && now >= pc->deadline_ms)
                call_fail(t, pc, CN_ETIMEOUT, "timeout");
        }
    }
}

int cn_transport_start(struct cn_transport **out, uv_loop_t *loop,
                       const char *bind_addr, int port,
                       const struct cn_transport_handlers *h, char *errmsg)
{
    struct cn_transport *t = cn_calloc(1, sizeof *t);
    struct sockaddr_storage ss;
    char addr[80];
    int rc, len;

    if (!t)
        return cn_errf_rc(errmsg, -ENOMEM, "transport");
    t->loop = loop;
    t->h = *h;
    cn_map_init(&t->inbound_by_id);
    cn_map_init(&t->calls_by_id);
    snprintf(addr, sizeof addr, strchr(bind_addr, ':') ? "[%s]:%d" : "%s:%d", bind_addr,
             port ? port : 1);
    rc = parse_addr(addr, &ss);
    if (rc < 0) {
        cn_free(t);
        return cn_errf_rc(errmsg, rc, "server address %s", bind_addr);
    }
    if (port == 0) {
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_port = 0;
        else
            ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
    }
    uv_tcp_init(loop, &t->listener);
    t->listener.data = t;
    uv_timer_init(loop, &t->ticker);
    t->ticker.data = t;
    t->open_handles = 2;
    rc = uv_tcp_bind(&t->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&t->listener, 128, on_inbound);
    if (rc < 0) {
        cn_errf_rc(errmsg, rc, "listen on %s:%d", bind_addr, port);
        cn_transport_stop(t, NULL, NULL);
        return rc;
    }
    len = sizeof ss;
    uv_tcp_getsockname(&t->listener, (struct sockaddr *)&ss, &len);
    t->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    uv_timer_start(&t->ticker, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&t->ticker);
    *out = t;
    return 0;
}

int cn_transport_port(const struct cn_transport *t) { return t->port; }

void cn_transport_stats(const struct cn_transport *t, struct cn_transport_stats *out)
{
    *out = t->stats;
}

int cn_transport_send_raft(struct cn_transport *t, const char *peer,
                           const uint8_t *msg, size_t len)
{
    struct tpeer *p;
    struct wblock *b;
    if (t->stopping)
        return CN_ECLOSED;
    p = peer_get(t, peer);
    if (!p)
        return CN_EMALFORMED;
    b = wblock_new(t, CN_FRAME_RAFT, NULL, 0, msg, len);
    if (!b)
        return len > CN_FRAME_BYTES_MAX ? CN_ETOOBIG : -ENOMEM;
    return peer_send(p, b);
}

void cn_transport_call(struct cn_transport *t, const char *peer,
                       struct cn_rpc_call *call, uint64_t timeout_ms)
{
    uint8_t head[11 + sizeof call->dc];
    size_t dl = strnlen(call->dc, sizeof call->dc - 1);
    struct tpeer *p = t->stopping ? NULL : peer_get(t, peer);
    struct pcall *pc;
    struct wblock *b;
    int rc;

    if (!p) {
        call->rc = t->stopping ? CN_ECLOSED : CN_EMALFORMED;
        snprintf(call->errmsg, sizeof call->errmsg, "rpc error making call: bad peer %s", peer);
        call->done(call);
        return;
    }
    pc = cn_calloc(1, sizeof *pc);
    if (pc) {
        pc->id = ++t->next_call_id;
        cn__rpc_put_be(pc->key, pc->id, 8);
        pc->call = call;
        pc->peer = p;
        pc->deadline_ms = timeout_ms ? uv_now(t->loop) + timeout_ms : 0;
    }
    memcpy(head, pc ? pc->key : (const uint8_t *)"\0\0\0\0\0\0\0\0", 8);
    head[8] = (uint8_t)call->method;
    head[9] = call->forwarded ? 1 : 0;
    head[10] = (uint8_t)dl;
    memcpy(head + 11, call->dc, dl);
    b = pc ? wblock_new(t, CN_FRAME_RPC_REQ, head, 11 + dl, call->args.data, call->args.len)
           : NULL;
    if (!b || cn_map_put(&t->calls_by_id, pc->key, 8, pc, NULL) < 0) {
        cn_free(b);
        cn_free(pc);
        call->rc = -ENOMEM;
        snprintf(call->errmsg, sizeof call->errmsg, "rpc error making call: out of memory");
        call->done(call);
        return;
    }
    pc->next = p->calls;
    if (p->calls)
        p->calls->prev = pc;
    p->calls = pc;
    call->callee_priv = pc;
    rc = peer_send(p, b);
    if (rc < 0)
        call_fail(t, pc, rc, "send queue full");
}

void cn_transport_call_cancel(struct cn_transport *t, struct cn_rpc_call *call)
{
    struct pcall *pc = call->callee_priv;
    if (!pc)
        return;
    call_unlink(t, pc);
    cn_free(pc);
}

void cn_transport_reply(struct cn_transport *t, uint64_t conn_id, uint64_t id,
                        const struct cn_rpc_call *r)
{
    struct tsock *s = cn_map_get(&t->inbound_by_id, &conn_id, sizeof conn_id);
    uint8_t head[32 + CN_ERRMSG_MAX];
    size_t elen = r->rc < 0 ? strnlen(r->errmsg, CN_ERRMSG_MAX - 1) : 0;
    struct wblock *b;
    if (!s || s->closing)
        return; /* The caller went away. */
    cn__rpc_put_be(head, id, 8);
    cn__rpc_put_be(head + 8, (uint32_t)r->rc, 4);
    cn__rpc_put_be(head + 12, r->meta.index, 8);
    cn__rpc_put_be(head + 20, r->meta.last_contact_ms, 8);
    head[28] = r->meta.known_leader;
    head[29] = (uint8_t)r->meta.consistency;
    cn__rpc_put_be(head + 30, elen, 2);
    memcpy(head + 32, r->errmsg, elen);
    b = wblock_new(t, CN_FRAME_RPC_RESP, head, 32 + elen,
                   r->rc < 0 ? NULL : r->reply.data, r->rc < 0 ? 0 : r->reply.len);
    if (!b || sock_write(s, b) != 0) {
        cn_free(b);
        t->stats.dropped_sends++;
        sock_close(s); /* The caller would wait forever otherwise. */
    }
}

/* ---- shutdown ---- */

static void maybe_stopped(struct cn_transport *t)
{
    if (!t->stopping || t->open_handles > 0)
        return;
    void (*cb)(void *) = t->stop_cb;
    void *arg = t->stop_arg;
    cn_map_close(&t->inbound_by_id);
    cn_map_close(&t->calls_by_id);
    cn_free(t);
    if (cb)
        cb(arg);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct tsock *s = h->data;
    struct cn_transport *t = s->t;
    cn__rpc_reader_close(&s->rd);
    cn_free(s);
    t->open_handles--;
    maybe_stopped(t);
}

static void on_peer_closed(uv_handle_t *h)
{
    struct tpeer *p = h->data;
    struct cn_transport *t = p->t;
    cn_free(p);
    t->open_handles--;
    maybe_stopped(t);
}

static void on_own_closed(uv_handle_t *h)
{
    struct cn_transport *t = h->data; /* listener and ticker */
    t->open_handles--;
    maybe_stopped(t);
}

void cn_transport_stop(struct cn_transport *t, void (*cb)(void *), void *arg)
{
    struct tpeer *p, *pn;
    t->stopping = true;
    t->stop_cb = cb;
    t->stop_arg = arg;
    while (t->inbound)
        sock_close(t->inbound);
    for (p = t->peers; p; p = pn) {
        pn = p->next;
        if (p->sock)
            sock_close(p->sock);
        else
            peer_down(p, "transport stopped");
        uv_timer_stop(&p->backoff);
        uv_close((uv_handle_t *)&p->backoff, on_peer_closed);
    }
    t->peers = NULL;
    uv_close((uv_handle_t *)&t->listener, on_own_closed);
    uv_close((uv_handle_t *)&t->ticker, on_own_closed);
}
