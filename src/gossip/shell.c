/* gossip/shell.c - the libuv shell around the pure gossip core.
 *
 * One UDP socket and one TCP listener on the same port (memberlist's
 * transport), a 10 ms timer driving cn__gcore_tick, and per-connection
 * state for streams (push/pull, TCP fallback ping). Every input goes to
 * the core, then drain() executes the ready batch: seal and send packets,
 * open streams, deliver events. API calls only poke the core; their output
 * leaves on the next timer turn, so no callback ever runs inside an API
 * call (gossip.h contract).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "shell_int.h"

static uint64_t now_ms(struct cn_gossip *g) { return uv_now(g->loop); }

/* ---- addresses --------------------------------------------------------- */

static void to_sockaddr(const struct cn__gaddr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->len == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->ip, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        memcpy(&s6->sin6_addr, a->ip, 16);
    }
}

static bool from_sockaddr(const struct sockaddr *sa, struct cn__gaddr *a)
{
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memcpy(a->ip, &s4->sin_addr, 4);
        a->len = 4;
        a->port = ntohs(s4->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(&s6->sin6_addr, v4mapped, 12) == 0) {
            memcpy(a->ip, (const uint8_t *)&s6->sin6_addr + 12, 4);
            a->len = 4;
        } else {
            memcpy(a->ip, &s6->sin6_addr, 16);
            a->len = 16;
        }
        a->port = ntohs(s6->sin6_port);
        return true;
    }
    return false;
}

/* "1.2.3.4:8301", "[::1]:8301", "host" (default port); names resolve
 * synchronously through getaddrinfo (join is rare). */
static int parse_hostport(uv_loop_t *loop, const char *s, uint16_t def_port,
                          struct cn__gaddr *out)
{
    char host[256];
    const char *colon, *h = s;
    size_t hl;
    uint64_t port = def_port;
    struct sockaddr_storage ss;
    uv_getaddrinfo_t req;
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb)
            return -EINVAL;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (rb[1] && !colon)
            return -EINVAL;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon)
            colon = NULL;  /* bare IPv6 */
        hl = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (hl == 0 || hl >= sizeof host)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (colon && (cn_parse_u64(colon + 1, strlen(colon + 1), &port) < 0 || port == 0 ||
                  port > 65535))
        return -EINVAL;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss) == 0)
        return from_sockaddr((struct sockaddr *)&ss, out) ? 0 : -EINVAL;
    if (uv_getaddrinfo(loop, &req, NULL, host, NULL, &hints) != 0 || !req.addrinfo)
        return -EINVAL;
    bool ok = from_sockaddr(req.addrinfo->ai_addr, out);
    uv_freeaddrinfo(req.addrinfo);
    out->port = (uint16_t)port;
    return ok ? 0 : -EINVAL;
}

/* ---- UDP --------------------------------------------------------------- */

static void udp_send(struct cn_gossip *g, const struct cn__gpkt *p)
{
    struct sockaddr_storage ss;
    struct cn_buf sealed;
    uv_buf_t b = uv_buf_init((char *)p->data, (unsigned)p->len);
    cn_buf_init(&sealed, CN_GOSSIP_UDP_RECV_BYTES_MAX);
    if (g->kr.n > 0) {
        if (cn__keyring_seal(&g->kr, NULL, 0, p->data, p->len, &sealed) < 0) {
            cn_buf_close(&sealed);
            return;
        }
        b = uv_buf_init((char *)sealed.data, (unsigned)sealed.len);
    }
    to_sockaddr(&p->to, &ss);
    if (uv_udp_try_send(&g->udp, &b, 1, (struct sockaddr *)&ss) >= 0) {
        g->st.udp_pkts_out++;
        g->st.udp_bytes_out += b.len;
    }
    cn_buf_close(&sealed);
}

static void drain(struct cn_gossip *g);
static void maybe_free(struct cn_gossip *g);

static void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct cn_gossip *g = h->data;
    (void)hint;
    *buf = uv_buf_init((char *)g->rbuf, sizeof g->rbuf);
}

static void udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags)
{
    struct cn_gossip *g = h->data;
    struct cn__gaddr from;
    struct cn_buf plain;
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t len = (size_t)n;
    if (n <= 0 || !addr || g->closing || (flags & UV_UDP_PARTIAL))
        return;
    g->st.udp_pkts_in++;
    g->st.udp_bytes_in += (uint64_t)n;
    if (!from_sockaddr(addr, &from))
        return;
    cn_buf_init(&plain, CN_GOSSIP_UDP_RECV_BYTES_MAX);
    if (g->kr.n > 0) {
        if (cn__keyring_open(&g->kr, NULL, 0, p, len, &plain) < 0) {
            g->st.bad_pkts++;
            cn_buf_close(&plain);
            return;
        }
        p = plain.data;
        len = plain.len;
    }
    if (cn__gcore_recv(g->core, now_ms(g), &from, p, len) < 0)
        g->st.bad_pkts++;
    cn_buf_close(&plain);
    drain(g);
}

/* ---- TCP streams ---------------------------------------------------------- */

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct cn_gossip *g = c->g;
    if (--c->closing > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (!c->outbound)
        g->n_in--;
    cn_buf_close(&c->in);
    cn_free(c->out);
    cn_free(c);
    if (g->closing)
        maybe_free(g);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 2;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

/* An outbound stream ends: report to the core exactly once. */
static void stream_report(struct conn *c, int rc, const uint8_t *p, size_t len)
{
    struct cn_gossip *g = c->g;
    int mrc;
    if (c->done || g->closing)
        return;
    c->done = true;
    mrc = cn__gcore_stream_done(g->core, now_ms(g), c->id, rc, p, len);
    if (g->join.active) {
        for (size_t i = 0; i < g->join.n; i++) {
            if (g->join.ids[i] != c->id)
                continue;
            g->join.ids[i] = 0;
            g->join.pending--;
            g->join.ok += mrc == 0;
        }
    }
}

static struct conn *conn_new(struct cn_gossip *g, bool outbound)
{
    struct conn *c = cn_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->g = g;
    c->outbound = outbound;
    cn_buf_init(&c->in, CN_GOSSIP_STREAM_BYTES_MAX + 5);
    uv_tcp_init(g->loop, &c->tcp);
    uv_timer_init(g->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    if (!outbound)
        g->n_in++;
    return c;
}

static void conn_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->outbound)
        stream_report(c, CN_ETIMEOUT, NULL, 0);
    conn_close(c);
    drain(c->g);
}

static void write_done(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    if (status < 0 && c->outbound) {
        stream_report(c, status, NULL, 0);
        conn_close(c);
        drain(c->g);
    } else if (!c->outbound) {
        conn_close(c);  /* responder: one request, one reply */
    }
}

/* Seals a stream message: [10][len u32][blob], AAD = those 5 bytes. */
static int seal_stream(struct cn_gossip *g, const uint8_t *p, size_t n, struct cn_buf *out)
{
    uint8_t hdr[5];
    size_t blob = 1 + 12 + n + 16;
    int rc;
    if (g->kr.n == 0)
        return cn_buf_append(out, p, n);
    hdr[0] = CN__GM_ENCRYPT;
    hdr[1] = (uint8_t)(blob >> 24);
    hdr[2] = (uint8_t)(blob >> 16);
    hdr[3] = (uint8_t)(blob >> 8);
    hdr[4] = (uint8_t)blob;
    rc = cn_buf_append(out, hdr, 5);
    return rc ? rc : cn__keyring_seal(&g->kr, hdr, 5, p, n, out);
}

static void conn_send(struct conn *c, uint8_t *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    if (c->out != data)
        cn_free(c->out);
    c->out = data;
    c->out_len = len;
    c->wr.data = c;
    c->g->st.tcp_bytes_out += len;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, write_done) < 0) {
        if (c->outbound)
            stream_report(c, -EIO, NULL, 0);
        conn_close(c);
    }
}

/* A whole message has arrived in c->in (msg_len bytes). */
static void conn_message(struct conn *c, size_t msg_len)
{
    struct cn_gossip *g = c->g;
    struct cn_buf plain, reply, sealed;
    const uint8_t *p = c->in.data;
    size_t len = msg_len;
    int rc = 0;

    uv_read_stop((uv_stream_t *)&c->tcp);
    cn_buf_init(&plain, CN_GOSSIP_STREAM_BYTES_MAX);
    if (p[0] == CN__GM_ENCRYPT) {
        rc = g->kr.n ? cn__keyring_open(&g->kr, p, 5, p + 5, len - 5, &plain) : CN_EDENIED;
        p = plain.data;
        len = plain.len;
    } else if (g->kr.n > 0) {
        rc = CN_EDENIED;  /* GossipVerifyIncoming */
    }
    if (rc < 0)
        g->st.bad_pkts++;
    if (c->outbound) {
        stream_report(c, rc, p, len);
        conn_close(c);
    } else if (rc < 0) {
        conn_close(c);
    } else {
        cn_buf_init(&reply, CN_GOSSIP_INFLATE_BYTES_MAX);
        cn_buf_init(&sealed, CN_GOSSIP_STREAM_BYTES_MAX + 64);
        rc = cn__gcore_stream_in(g->core, now_ms(g), &c->peer, p, len, &reply);
        if (rc == 0 && reply.len > 0 && seal_stream(g, reply.data, reply.len, &sealed) == 0) {
            size_t n;
            uint8_t *d = cn_buf_steal(&sealed, &n);
            if (d)
                conn_send(c, d, n);
            else
                conn_close(c);
        } else {
            if (rc < 0)
                g->st.bad_pkts++;
            conn_close(c);
        }
        cn_buf_close(&reply);
        cn_buf_close(&sealed);
    }
    cn_buf_close(&plain);
    drain(g);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)hint;
    if (cn_buf_reserve(&c->in, 64 << 10) < 0 && cn_buf_reserve(&c->in, 1) < 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init((char *)c->in.data + c->in.len,
                       (unsigned)CN_MIN(c->in.cap - c->in.len, c->in.max - c->in.len));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    size_t msg_len;
    int rc;
    (void)buf;
    if (n < 0 || (n == 0 && buf->len == 0 && c->in.len >= c->in.max)) {
        if (c->outbound)
            stream_report(c, n < 0 ? (int)n : -EMSGSIZE, NULL, 0);
        c->g->st.bad_pkts += n != UV_EOF;
        conn_close(c);
        drain(c->g);
        return;
    }
    c->in.len += (size_t)n;
    c->g->st.tcp_bytes_in += (uint64_t)n;
    rc = cn__gm_stream_complete(c->in.data, c->in.len, &msg_len);
    if (rc < 0 || (rc == 0 && c->in.len >= c->in.max)) {
        c->g->st.bad_pkts++;
        if (c->outbound)
            stream_report(c, CN_EMALFORMED, NULL, 0);
        conn_close(c);
        drain(c->g);
    } else if (rc == 1) {
        conn_message(c, msg_len);
    }
}

static void on_accept(uv_stream_t *srv, int status)
{
    struct cn_gossip *g = srv->data;
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    struct conn *c;
    if (status < 0 || g->closing)
        return;
    c = conn_new(g, false);
    if (!c)
        return;
    g->st.tcp_conns_in++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0 || g->n_in > CN_GOSSIP_STREAMS_IN_MAX ||
        uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) < 0 ||
        !from_sockaddr((struct sockaddr *)&ss, &c->peer)) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, conn_timeout, g->t.tcp_timeout_ms, 0);
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        stream_report(c, status, NULL, 0);
        conn_close(c);
        drain(c->g);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
    conn_send(c, c->out, c->out_len);
}

static void stream_start(struct cn_gossip *g, const struct cn__gstream *s)
{
    struct sockaddr_storage ss;
    struct cn_buf sealed;
    struct conn *c = conn_new(g, true);
    uint64_t now = now_ms(g);
    size_t n;
    if (!c) {
        cn__gcore_stream_done(g->core, now, s->id, -ENOMEM, NULL, 0);
        return;
    }
    c->id = s->id;
    c->peer = s->to;
    g->st.tcp_conns_out++;
    cn_buf_init(&sealed, CN_GOSSIP_STREAM_BYTES_MAX + 64);
    if (seal_stream(g, s->data, s->len, &sealed) < 0 ||
        !(c->out = cn_buf_steal(&sealed, &n))) {
        cn_buf_close(&sealed);
        stream_report(c, -ENOMEM, NULL, 0);
        conn_close(c);
        return;
    }
    c->out_len = n;
    to_sockaddr(&s->to, &ss);
    uv_timer_start(&c->timer, conn_timeout, s->deadline_ms > now ? s->deadline_ms - now : 1, 0);
    c->cr.data = c;
    if (uv_tcp_connect(&c->cr, &c->tcp, (struct sockaddr *)&ss, on_connect) < 0) {
        stream_report(c, -ECONNREFUSED, NULL, 0);
        conn_close(c);
    }
}

/* ---- driving the core ------------------------------------------------ */

static void deliver_events(struct cn_gossip *g)
{
    struct cn_gossip_event *ev;
    void **blobs;
    size_t n;
    cn__gcore_take_events(g->core, &ev, &blobs, &n);
    for (size_t i = 0; i < n && !g->closing; i++)
        if (g->event_cb)
            g->event_cb(g->event_ctx, &ev[i]);
    cn__gcore_events_free(ev, blobs, n);
}

static void drain(struct cn_gossip *g)
{
    for (int round = 0; round < 16 && !g->closing; round++) {
        struct cn__gready rd;
        bool leave_done;
        int leave_rc;
        deliver_events(g);
        if (!g->closing)
            cn__shell_deliver_queries(g);
        if (g->closing || !cn__gcore_has_ready(g->core))
            break;
        cn__gcore_ready(g->core, &rd);
        for (size_t i = 0; i < rd.n_pkts; i++)
            udp_send(g, &rd.pkts[i]);
        for (size_t i = 0; i < rd.n_streams; i++)
            stream_start(g, &rd.streams[i]);
        leave_done = rd.leave_done;
        leave_rc = rd.leave_rc;
        cn__gcore_advance(g->core, &rd);
        if (leave_done && !g->leave_reported && g->leave_cb) {
            g->leave_reported = true;
            g->leave_cb(g->leave_ctx, leave_rc);
        }
    }
    if (!g->closing && g->join.active && g->join.pending == 0) {
        g->join.active = false;
        if (g->join.ok > 0)
            cn__gcore_joined(g->core, now_ms(g));
        if (g->join.cb)
            g->join.cb(g->join.ctx, g->join.ok);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct cn_gossip *g = t->data;
    cn__gcore_tick(g->core, now_ms(g));
    drain(g);
}

/* ---- lifecycle ------------------------------------------------------------ */

static int bind_both(struct cn_gossip *g, const struct sockaddr *sa, uint16_t port)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss, rc;
    memcpy(&ss, sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in));
    for (int attempt = 0; attempt < 10; attempt++) {
        if (sa->sa_family == AF_INET6)
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
        else
            ((struct sockaddr_in *)&ss)->sin_port = htons(port);
        rc = uv_tcp_bind(&g->tcp, (struct sockaddr *)&ss, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&g->tcp, 128, on_accept);
        if (rc < 0)
            return rc;
        sl = sizeof ss;
        uv_tcp_getsockname(&g->tcp, (struct sockaddr *)&ss, &sl);
        g->port = ntohs(sa->sa_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
        rc = uv_udp_bind(&g->udp, (struct sockaddr *)&ss, 0);
        if (rc == 0 || port != 0 || rc != UV_EADDRINUSE)
            return rc;
        /* Ephemeral TCP port taken on UDP: try another pair. */
        uv_close((uv_handle_t *)&g->tcp, NULL);
        uv_run(g->loop, UV_RUN_NOWAIT);
        uv_tcp_init(g->loop, &g->tcp);
        g->tcp.data = g;
    }
    return UV_EADDRINUSE;
}

static int setup_keys(struct cn_gossip *g, const struct cn_gossip_config *cfg, char *errmsg)
{
    for (size_t i = 0; i < cfg->n_keys; i++)
        if (cn__keyring_install(&g->kr, cfg->keys[i]) < 0)
            return cn_errf_rc(errmsg, -EINVAL, "gossip: bad encryption key #%zu "
                              "(want base64 of 16, 24 or 32 bytes)", i + 1);
    return 0;
}

static int setup_core(struct cn_gossip *g, const struct cn_gossip_config *cfg, char *errmsg)
{
    struct cn__gcore_config cc = { 0 };
    struct cn__gaddr adv;
    const char *a = cfg->advertise_addr ? cfg->advertise_addr : cfg->bind_addr;
    int rc = parse_hostport(g->loop, a, 1, &adv);
    if (rc < 0)
        return cn_errf_rc(errmsg, -EINVAL, "gossip: bad advertise address %s", a);
    if ((adv.len == 4 && !memcmp(adv.ip, "\0\0\0\0", 4)) ||
        (adv.len == 16 && !memcmp(adv.ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16)))
        return cn_errf_rc(errmsg, -EINVAL,
                          "gossip: bind address %s needs an advertise address", a);
    adv.port = cfg->advertise_port ? cfg->advertise_port : g->port;
    cc.name = cfg->name;
    cc.addr = adv;
    cc.t = g->t;
    cc.tags = cfg->tags;
    cc.n_tags = cfg->n_tags;
    cc.reconnect_timeout_ms = cfg->reconnect_timeout_ms ? cfg->reconnect_timeout_ms
                                                        : 72ull * 3600 * 1000;
    cc.tombstone_timeout_ms = cfg->tombstone_timeout_ms ? cfg->tombstone_timeout_ms
                                                        : 24ull * 3600 * 1000;
    cc.dead_node_reclaim_ms = cfg->dead_node_reclaim_ms ? cfg->dead_node_reclaim_ms : 30000;
    cc.compress = !cfg->no_compress;
    cc.encrypted = g->kr.n > 0;
    cc.seed = cfg->seed ? cfg->seed : cn_rand_u64();
    cc.log = cn_log_process();
    rc = cn__gcore_new(&g->core, &cc, now_ms(g));
    if (rc < 0)
        return cn_errf_rc(errmsg, rc, "gossip: cannot start core (name/tags?): %s",
                          cn_strerror(rc));
    return 0;
}

static void maybe_free(struct cn_gossip *g)
{
    if (g->open_handles > 0 || g->conns)
        return;
    if (g->close_cb)
        g->close_cb(g->close_ctx);
    cn__shell_queries_free(g);
    cn__gcore_free(g->core);
    cn_free(g);
}

static void handle_closed(uv_handle_t *h)
{
    struct cn_gossip *g = h->data;
    g->open_handles--;
    maybe_free(g);
}

int cn_gossip_new(struct uv_loop_s *loop, const struct cn_gossip_config *cfg,
                  struct cn_gossip **out, char errmsg[CN_ERRMSG_MAX])
{
    struct cn_gossip *g;
    struct cn__gaddr bind;
    struct sockaddr_storage ss;
    int rc;

    if (!cfg->name || !cfg->name[0] || strlen(cfg->name) > CN_GOSSIP_NAME_BYTES_MAX)
        return cn_errf_rc(errmsg, -EINVAL, "gossip: node name required (<= 255 bytes)");
    if ((unsigned)cfg->profile > CN_GOSSIP_LOCAL)
        return cn_errf_rc(errmsg, -EINVAL, "gossip: unknown profile");
    g = cn_calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->loop = loop;
    cn__gossip_timing_init(&g->t, cfg->profile);
    snprintf(g->name, sizeof g->name, "%s", cfg->name);
    g->event_cb = cfg->event_cb;
    g->event_ctx = cfg->event_ctx;
    g->query_cb = cfg->query_cb;
    g->query_ctx = cfg->query_ctx;
    rc = setup_keys(g, cfg, errmsg);
    if (rc == 0 && parse_hostport(loop, cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", 1, &bind) < 0)
        rc = cn_errf_rc(errmsg, -EINVAL, "gossip: bad bind address");
    if (rc < 0) {
        cn_free(g);
        return rc;
    }
    uv_udp_init(loop, &g->udp);
    uv_tcp_init(loop, &g->tcp);
    uv_timer_init(loop, &g->timer);
    g->udp.data = g->tcp.data = g->timer.data = g;
    g->open_handles = 3;
    bind.port = cfg->port;
    to_sockaddr(&bind, &ss);
    rc = bind_both(g, (struct sockaddr *)&ss, cfg->port);
    if (rc < 0)
        cn_errf(errmsg, "gossip: bind %s:%u: %s", cfg->bind_addr, cfg->port, uv_strerror(rc));
    if (rc == 0)
        rc = setup_core(g, cfg, errmsg);
    if (rc == 0)
        rc = uv_udp_recv_start(&g->udp, udp_alloc, udp_recv);
    if (rc < 0) {
        g->closing = true;
        uv_close((uv_handle_t *)&g->udp, handle_closed);
        uv_close((uv_handle_t *)&g->tcp, handle_closed);
        uv_close((uv_handle_t *)&g->timer, handle_closed);
        return rc;  /* g is freed once libuv closed the handles */
    }
    uv_timer_start(&g->timer, on_tick, TICK_MS, TICK_MS);
    *out = g;
    return 0;
}

void cn_gossip_close(struct cn_gossip *g, void (*cb)(void *ctx), void *ctx)
{
    CN_ASSERT(!g->closing);
    g->closing = true;
    g->close_cb = cb;
    g->close_ctx = ctx;
    for (struct conn *c = g->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&g->udp, handle_closed);
    uv_close((uv_handle_t *)&g->tcp, handle_closed);
    uv_close((uv_handle_t *)&g->timer, handle_closed);
}

/* ---- API ------------------------------------------------------------------ */

uint16_t cn_gossip_port(const struct cn_gossip *g) { return g->port; }
const char *cn_gossip_name(const struct cn_gossip *g) { return g->name; }

const char *cn_gossip_status_name(enum cn_gossip_status s)
{
    static const char *names[] = { "none", "alive", "leaving", "left", "failed" };
    return (unsigned)s < CN_ARRAY_LEN(names) ? names[s] : "unknown";
}

const char *cn_gossip_event_name(enum cn_gossip_event_type t)
{
    static const char *names[] = { "?", "member-join", "member-update", "member-leave",
                                   "member-failed", "member-reap", "user" };
    return (unsigned)t < CN_ARRAY_LEN(names) ? names[t] : "?";
}

int cn_gossip_join(struct cn_gossip *g, const char *const *addrs, size_t n,
                   cn_gossip_join_fn *cb, void *ctx)
{
    struct cn__gaddr a[JOIN_MAX];
    if (g->join.active)
        return -EBUSY;
    if (n == 0 || n > JOIN_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (parse_hostport(g->loop, addrs[i], g->t.default_port, &a[i]) < 0)
            return -EINVAL;
    memset(&g->join, 0, sizeof g->join);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        if (cn__gcore_join(g->core, now_ms(g), &a[i], &id) == 0) {
            g->join.ids[g->join.n++] = id;
            g->join.pending++;
        }
    }
    g->join.active = true;  /* reported from the next drain, even if 0 */
    g->join.cb = cb;
    g->join.ctx = ctx;
    return 0;
}

int cn_gossip_leave(struct cn_gossip *g, uint64_t timeout_ms, cn_gossip_done_fn *cb, void *ctx)
{
    int rc = cn__gcore_leave(g->core, now_ms(g), timeout_ms);
    if (rc == 0) {
        g->leave_cb = cb;
        g->leave_ctx = ctx;
    }
    return rc;
}

int cn_gossip_force_leave(struct cn_gossip *g, const char *name)
{
    return cn__gcore_force_leave(g->core, now_ms(g), name);
}

int cn_gossip_user_event(struct cn_gossip *g, const char *name, const uint8_t *payload,
                         size_t len, bool coalesce)
{
    return cn__gcore_user_event(g->core, now_ms(g), name, payload, len, coalesce);
}

int cn_gossip_set_tags(struct cn_gossip *g, const struct cn_gossip_tag *tags, size_t n)
{
    return cn__gcore_set_tags(g->core, now_ms(g), tags, n);
}

/* One blob per member: [tags][strings][name]; m->tags is its start. */
static int copy_member(const struct cn_gossip_member *src, struct cn_gossip_member *dst)
{
    size_t bytes = src->n_tags * sizeof(struct cn_gossip_tag) + strlen(src->name) + 1;
    struct cn_gossip_tag *tags;
    char *s;
    for (size_t i = 0; i < src->n_tags; i++)
        bytes += strlen(src->tags[i].key) + strlen(src->tags[i].value) + 2;
    tags = cn_alloc(bytes);
    if (!tags)
        return -ENOMEM;
    *dst = *src;
    s = (char *)(tags + src->n_tags);
    for (size_t i = 0; i < src->n_tags; i++) {
        size_t kl = strlen(src->tags[i].key) + 1, vl = strlen(src->tags[i].value) + 1;
        tags[i].key = memcpy(s, src->tags[i].key, kl);
        s += kl;
        tags[i].value = memcpy(s, src->tags[i].value, vl);
        s += vl;
    }
    dst->name = memcpy(s, src->name, strlen(src->name) + 1);
    dst->tags = tags;
    return 0;
}

int cn_gossip_members(struct cn_gossip *g, struct cn_gossip_member **out, size_t *n_out)
{
    size_t n = cn__gcore_member_count(g->core), k = 0;
    struct cn_gossip_member *arr = cn_calloc(n ? n : 1, sizeof *arr), m;
    if (!arr)
        return -ENOMEM;
    for (size_t i = 0; i < n && cn__gcore_member_at(g->core, i, &m); i++) {
        if (copy_member(&m, &arr[k]) < 0) {
            cn_gossip_members_free(arr, k);
            return -ENOMEM;
        }
        k++;
    }
    *out = arr;
    *n_out = k;
    return 0;
}

void cn_gossip_members_free(struct cn_gossip_member *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cn_free((void *)m[i].tags);
    cn_free(m);
}

void cn_gossip_get_stats(const struct cn_gossip *g, struct cn_gossip_stats *out)
{
    struct cn__gcore_counters ctr;
    *out = g->st;
    cn__gcore_counters(g->core, &ctr);
    out->bad_pkts += ctr.bad_pkts;
    out->members_total = cn__gcore_member_count(g->core);
    out->members_alive = cn__gcore_alive_count(g->core);
    out->health_score = cn__gcore_health(g->core);
}

int cn_gossip_key_install(struct cn_gossip *g, const char *b64)
{
    bool was_plain = g->kr.n == 0;
    int rc = cn__keyring_install(&g->kr, b64);
    if (rc == 0 && was_plain)
        cn__gcore_set_encrypted(g->core, true);
    return rc;
}

int cn_gossip_key_use(struct cn_gossip *g, const char *b64)
{
    return cn__keyring_use(&g->kr, b64);
}

int cn_gossip_key_remove(struct cn_gossip *g, const char *b64)
{
    return cn__keyring_remove(&g->kr, b64);
}

int cn_gossip_key_list(struct cn_gossip *g, char (*out)[48], size_t max)
{
    size_t i;
    for (i = 0; i < g->kr.n && i < max; i++) {
        cn_base64_encode(g->kr.keys[i], g->kr.lens[i], out[i]);
        out[i][cn_base64_encoded_len(g->kr.lens[i])] = '\0';
    }
    return (int)i;
}
