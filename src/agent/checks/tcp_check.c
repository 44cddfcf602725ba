/* agent/checks/tcp_check.c - TCP checks (Consul's CheckTCP).
 *
 * A run resolves the address (IP literals skip the resolver), connects to
 * each address in turn within Timeout, and closes at once: passing
 * "TCP connect <addr>: Success", else critical with Go's dial error
 * ("dial tcp 127.0.0.1:1: connect: connection refused", "dial tcp
 * 10.0.0.1:80: i/o timeout"). The op owns its handles: tcp, a timer and,
 * while resolving, the resolver request; it is freed when all are closed.
 */
#include <errno.h>
#include <stdio.h>

#include "checks_int.h"

struct tcp_prep {
    char *error;                 /* Set: every run is critical with this. */
    int port;
    bool literal;
    union {                      /* When literal. */
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } addr;
    char host[];                 /* Sized to the definition's address. */
};

struct tcp_op {
    struct cn_check_op op;
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_getaddrinfo_t gai;
    struct addrinfo *ai, *ai_next;
    int handles;                 /* tcp, timer, pending resolver request. */
    int first_err;
    bool done;
    bool connected;
    char first_addr[64];
    char addr[64];
    char out[CN_ERRMSG_MAX + 64];
};

static void tcp_free_prep(void *prep)
{
    struct tcp_prep *p = prep;
    if (p)
        cn_free(p->error);
    cn_free(p);
}

static int tcp_prepare(struct cn_check *c, char *errmsg)
{
    /* Room for the host part, or "127.0.0.1" for an empty one. */
    size_t host_size = CN_MAX(strlen(c->def->tcp), sizeof "127.0.0.1") + 1;
    struct tcp_prep *p = cn_calloc(1, sizeof *p + host_size);
    char err[CN_ERRMSG_MAX], msg[CN_ERRMSG_MAX + 16];
    if (!p)
        return -ENOMEM;
    c->prep = p;
    if (cn__split_host_port(c->def->tcp, p->host, host_size, &p->port, err) < 0) {
        snprintf(msg, sizeof msg, "dial tcp: %s", err);
        p->error = cn_strndup(msg, strlen(msg));
        if (!p->error) {
            tcp_free_prep(p);
            c->prep = NULL;
            return cn_errf_rc(errmsg, -ENOMEM, "checks: out of memory");
        }
        return 0;
    }
    if (!p->host[0]) /* ":80": Go dials the local system. */
        snprintf(p->host, host_size, "127.0.0.1");
    p->literal = uv_ip4_addr(p->host, p->port, &p->addr.v4) == 0 ||
                 uv_ip6_addr(p->host, p->port, &p->addr.v6) == 0;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct tcp_op *o = h->data;
    if (--o->handles > 0)
        return;
    if (o->ai)
        uv_freeaddrinfo(o->ai);
    cn__check_op_end(&o->op);
    cn_free(o);
}

/* Reports (if still attached) and closes everything. */
static void tcp_done(struct tcp_op *o, enum cn_check_status s, const char *out)
{
    if (o->done)
        return;
    o->done = true;
    if (out)
        cn__check_result(&o->op, s, out, strlen(out), 0);
    if (!uv_is_closing((uv_handle_t *)&o->timer))
        uv_close((uv_handle_t *)&o->timer, on_closed);
    if (!uv_is_closing((uv_handle_t *)&o->tcp))
        uv_close((uv_handle_t *)&o->tcp, on_closed);
    if (o->gai.data) /* Resolving: its callback will see done. */
        uv_cancel((uv_req_t *)&o->gai);
}

static void tcp_abort(struct cn_check_op *op)
{
    tcp_done((struct tcp_op *)op, CN_CHECK_CRITICAL, NULL);
}

static void format_addr(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[48] = "?";
    if (sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)(const void *)sa, ip, sizeof ip);
        snprintf(out, n, "[%s]:%d", ip,
                 ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port));
    } else {
        uv_ip4_name((const struct sockaddr_in *)(const void *)sa, ip, sizeof ip);
        snprintf(out, n, "%s:%d", ip,
                 ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port));
    }
}

static void dial(struct tcp_op *o, const struct sockaddr *sa);

static void fail_all(struct tcp_op *o)
{
    snprintf(o->out, sizeof o->out, "dial tcp %s: connect: %s", o->first_addr,
             uv_strerror(o->first_err));
    tcp_done(o, CN_CHECK_CRITICAL, o->out);
}

static void on_redial_closed(uv_handle_t *h)
{
    struct tcp_op *o = h->data;
    struct addrinfo *ai;
    if (o->done) {
        on_closed(h);
        return;
    }
    uv_tcp_init(o->loop, &o->tcp);
    o->tcp.data = o;
    ai = o->ai_next;
    o->ai_next = ai->ai_next;
    dial(o, ai->ai_addr);
}

static void connect_failed(struct tcp_op *o, int err)
{
    if (!o->first_err) {
        o->first_err = err;
        memcpy(o->first_addr, o->addr, sizeof o->addr);
    }
    if (o->ai_next)
        uv_close((uv_handle_t *)&o->tcp, on_redial_closed);
    else
        fail_all(o);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct tcp_op *o = req->data;
    struct cn_check *c = o->op.check;
    if (o->done)
        return;
    if (status < 0) {
        connect_failed(o, status);
        return;
    }
    snprintf(o->out, sizeof o->out, "TCP connect %.200s: Success", c->def->tcp);
    tcp_done(o, CN_CHECK_PASSING, o->out);
}

static void dial(struct tcp_op *o, const struct sockaddr *sa)
{
    int rc;
    format_addr(sa, o->addr, sizeof o->addr);
    o->conn.data = o;
    rc = uv_tcp_connect(&o->conn, &o->tcp, sa, on_connected);
    if (rc < 0)
        connect_failed(o, rc);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    struct tcp_op *o = g->data;
    struct cn_check *c = o->op.check;
    g->data = NULL;
    o->ai = res;
    if (o->done) {
        on_closed((uv_handle_t *)&o->tcp); /* Drops the resolver's count. */
        return;
    }
    o->handles--;
    if (status < 0 || !res) {
        snprintf(o->out, sizeof o->out, "dial tcp: lookup %.200s: %s",
                 ((struct tcp_prep *)c->prep)->host,
                 uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        tcp_done(o, CN_CHECK_CRITICAL, o->out);
        return;
    }
    o->ai_next = res->ai_next;
    dial(o, res->ai_addr);
}

static void on_timeout(uv_timer_t *t)
{
    struct tcp_op *o = t->data;
    snprintf(o->out, sizeof o->out, "dial tcp %s: i/o timeout",
             o->addr[0] ? o->addr : ((struct tcp_prep *)o->op.check->prep)->host);
    tcp_done(o, CN_CHECK_CRITICAL, o->out);
}

static void tcp_run(struct cn_check *c)
{
    struct tcp_prep *p = c->prep;
    struct tcp_op *o = cn_calloc(1, sizeof *o);
    struct addrinfo hints;
    char port[8];
    int rc;

    if (!o) {
        struct cn_check_op tmp;
        cn__check_op_begin(c, &tmp, NULL);
        cn__check_result(&tmp, CN_CHECK_CRITICAL, "out of memory", 13, 0);
        cn__check_op_end(&tmp);
        return;
    }
    cn__check_op_begin(c, &o->op, tcp_abort);
    o->loop = c->r->loop;
    uv_tcp_init(o->loop, &o->tcp);
    uv_timer_init(o->loop, &o->timer);
    o->tcp.data = o->timer.data = o;
    o->handles = 2;
    if (p->error) {
        tcp_done(o, CN_CHECK_CRITICAL, p->error);
        return;
    }
    uv_timer_start(&o->timer, on_timeout, c->timeout_ms, 0);
    if (p->literal) {
        dial(o, &p->addr.sa);
        return;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", p->port);
    o->gai.data = o;
    o->handles++;
    rc = uv_getaddrinfo(o->loop, &o->gai, on_resolved, p->host, port, &hints);
    if (rc < 0) {
        o->gai.data = NULL;
        o->handles--;
        snprintf(o->out, sizeof o->out, "dial tcp: lookup %.200s: %s", p->host,
                 uv_strerror(rc));
        tcp_done(o, CN_CHECK_CRITICAL, o->out);
    }
}

const struct cn__check_kind cn__check_tcp = {
    .prepare = tcp_prepare,
    .run = tcp_run,
    .free_prep = tcp_free_prep,
};
