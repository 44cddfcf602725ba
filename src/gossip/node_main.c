/* gossip/node_main.c - gossip_node: one gossip node from flags, for
 * interoperability tests against HashiCorp serf and traffic benchmarks.
 *
 *   gossip_node -name N [-bind 127.0.0.1] [-port 0] [-join host:port]...
 *               [-encrypt BASE64] [-tag k=v]... [-profile lan|wan|local]
 *               [-log-level info] [-no-compress]
 *
 * stdout (line-buffered): "ready name=N port=P", "joined n=K",
 * "<event> name=X addr=A:P status=S tags=k=v,..." for member events,
 * "user name=E payload=P ltime=L" for user events, "left rc=R".
 * stdin commands: "members", "event NAME [PAYLOAD]", "leave", "stats",
 * "force-leave NAME", "tags k=v ...", "quit", "keys" (local keyring:
 * "key K" lines, "keys-end"), "query [-ack] [-node N]... [-tag k=re]...
 * [-timeout MS] NAME [PAYLOAD]" (prints "query-ack from=X",
 * "query-resp from=X payload=P", "query-done acks=A resps=R"),
 * "keyring list|install|use|remove [KEY]" (prints "keyring rc=.. nodes=..
 * resp=.. err=..", "keyring-msg node=N msg=M", "keyring-key key=K
 * count=C", "keyring-primary key=K count=C", "keyring-end").
 * -query-response TEXT: answer every user query with TEXT; inbound user
 * queries print "query-in name=Q payload=P from=S".
 * SIGINT/SIGTERM: print stats, close, exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "gossip.h"

#define ARGS_MAX 64

struct node {
    uv_loop_t *loop;
    struct cn_gossip *g;
    uv_pipe_t in;
    uv_signal_t sig_int, sig_term;
    char line[4096];
    size_t line_len;
    bool closing;
    const char *query_response;
    unsigned q_acks, q_resps;
};

static void print_member(const char *what, const struct cn_gossip_member *m)
{
    printf("%s name=%s addr=%s:%u status=%s tags=", what, m->name, m->addr, m->port,
           cn_gossip_status_name(m->status));
    for (size_t i = 0; i < m->n_tags; i++)
        printf("%s%s=%s", i ? "," : "", m->tags[i].key, m->tags[i].value);
    printf(" vsn=%u,%u,%u,%u,%u,%u\n", m->vsn[0], m->vsn[1], m->vsn[2], m->vsn[3], m->vsn[4],
           m->vsn[5]);
}

static void on_event(void *ctx, const struct cn_gossip_event *ev)
{
    (void)ctx;
    if (ev->type == CN_GOSSIP_EV_USER) {
        printf("user name=%s payload=%.*s ltime=%llu\n", ev->user_name, (int)ev->payload_len,
               (const char *)ev->payload, (unsigned long long)ev->ltime);
        return;
    }
    print_member(cn_gossip_event_name(ev->type), &ev->member);
}

static void on_query_in(void *ctx, const struct cn_gossip_query_in *q)
{
    struct node *n = ctx;
    printf("query-in name=%s payload=%.*s from=%s\n", q->name, (int)q->payload_len,
           (const char *)q->payload, q->source_node);
    if (n->query_response) {
        int rc = cn_gossip_query_respond(n->g, &q->token, (const uint8_t *)n->query_response,
                                         strlen(n->query_response));
        printf("query-answered rc=%d\n", rc);
    }
}

static void on_query_reply(void *ctx, const struct cn_gossip_query_reply *r)
{
    struct node *n = ctx;
    if (r->type == CN_GOSSIP_QR_ACK) {
        n->q_acks++;
        printf("query-ack from=%s\n", r->from);
    } else if (r->type == CN_GOSSIP_QR_RESPONSE) {
        n->q_resps++;
        printf("query-resp from=%s payload=%.*s\n", r->from, (int)r->payload_len,
               r->payload ? (const char *)r->payload : "");
    } else {
        printf("query-done acks=%u resps=%u\n", n->q_acks, n->q_resps);
    }
}

static void on_keyring(void *ctx, const struct cn_gossip_keyring_result *r)
{
    (void)ctx;
    printf("keyring rc=%d nodes=%u resp=%u err=%u\n", r->rc, r->num_nodes, r->num_resp,
           r->num_err);
    for (size_t i = 0; i < r->n_messages; i++)
        printf("keyring-msg node=%s msg=%s\n", r->messages[i].node, r->messages[i].message);
    for (size_t i = 0; i < r->n_keys; i++)
        printf("keyring-key key=%s count=%u\n", r->keys[i].key, r->keys[i].count);
    for (size_t i = 0; i < r->n_primary_keys; i++)
        printf("keyring-primary key=%s count=%u\n", r->primary_keys[i].key,
               r->primary_keys[i].count);
    printf("keyring-end\n");
}

static int parse_tag(char *s, struct cn_gossip_tag *t);

static void cmd_query(struct node *n, char *arg)
{
    const char *nodes[ARGS_MAX];
    struct cn_gossip_tag tags[ARGS_MAX];
    struct cn_gossip_query_params p = { .filter_nodes = nodes, .filter_tags = tags };
    char *tok, *save = NULL, *name = NULL, *payload = NULL;
    for (tok = strtok_r(arg, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (strcmp(tok, "-ack") == 0) {
            p.request_ack = true;
        } else if (strcmp(tok, "-node") == 0 && p.n_filter_nodes < ARGS_MAX) {
            nodes[p.n_filter_nodes++] = strtok_r(NULL, " ", &save);
        } else if (strcmp(tok, "-tag") == 0 && p.n_filter_tags < ARGS_MAX) {
            char *t = strtok_r(NULL, " ", &save);
            if (t && parse_tag(t, &tags[p.n_filter_tags]) == 0)
                p.n_filter_tags++;
        } else if (strcmp(tok, "-timeout") == 0) {
            char *t = strtok_r(NULL, " ", &save);
            p.timeout_ms = t ? strtoull(t, NULL, 10) : 0;
        } else {
            name = tok;
            payload = save && *save ? save : NULL;
            break;
        }
    }
    for (size_t i = 0; i < p.n_filter_nodes; i++)
        if (!nodes[i])
            name = NULL;
    n->q_acks = n->q_resps = 0;
    printf("query-sent rc=%d\n",
           name ? cn_gossip_query(n->g, name, (const uint8_t *)payload,
                                  payload ? strlen(payload) : 0, &p, on_query_reply, n)
                : -EINVAL);
}

static void cmd_keyring(struct node *n, char *arg)
{
    char *key = arg ? strchr(arg, ' ') : NULL;
    enum cn_gossip_key_op op;
    if (key)
        *key++ = '\0';
    if (!arg) {
        printf("keyring-sent rc=%d\n", -EINVAL);
        return;
    }
    op = strcmp(arg, "install") == 0 ? CN_GOSSIP_KEY_INSTALL
         : strcmp(arg, "use") == 0   ? CN_GOSSIP_KEY_USE
         : strcmp(arg, "remove") == 0 ? CN_GOSSIP_KEY_REMOVE
                                      : CN_GOSSIP_KEY_LIST;
    printf("keyring-sent rc=%d\n", cn_gossip_keyring_op(n->g, op, key, on_keyring, n));
}

static void print_stats(struct node *n)
{
    struct cn_gossip_stats s;
    cn_gossip_get_stats(n->g, &s);
    printf("stats udp_bytes_in=%llu udp_bytes_out=%llu udp_pkts_in=%llu udp_pkts_out=%llu "
           "tcp_bytes_in=%llu tcp_bytes_out=%llu bad=%llu alive=%llu total=%llu health=%u\n",
           (unsigned long long)s.udp_bytes_in, (unsigned long long)s.udp_bytes_out,
           (unsigned long long)s.udp_pkts_in, (unsigned long long)s.udp_pkts_out,
           (unsigned long long)s.tcp_bytes_in, (unsigned long long)s.tcp_bytes_out,
           (unsigned long long)s.bad_pkts, (unsigned long long)s.members_alive,
           (unsigned long long)s.members_total, s.health_score);
}

static void on_closed(void *ctx)
{
    struct node *n = ctx;
    n->g = NULL;
}

static void shutdown_node(struct node *n)
{
    if (n->closing)
        return;
    n->closing = true;
    print_stats(n);
    fflush(stdout);
    uv_close((uv_handle_t *)&n->in, NULL);
    uv_close((uv_handle_t *)&n->sig_int, NULL);
    uv_close((uv_handle_t *)&n->sig_term, NULL);
    cn_gossip_close(n->g, on_closed, n);
}

static void on_joined(void *ctx, int n_ok)
{
    (void)ctx;
    printf("joined n=%d\n", n_ok);
}

static void on_left(void *ctx, int rc)
{
    (void)ctx;
    printf("left rc=%d\n", rc);
}

static int parse_tag(char *s, struct cn_gossip_tag *t)
{
    char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return -EINVAL;
    *eq = '\0';
    t->key = s;
    t->value = eq + 1;
    return 0;
}

static void command(struct node *n, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = '\0';
    if (strcmp(line, "members") == 0) {
        struct cn_gossip_member *m;
        size_t k;
        if (cn_gossip_members(n->g, &m, &k) == 0) {
            for (size_t i = 0; i < k; i++)
                print_member("member", &m[i]);
            cn_gossip_members_free(m, k);
        }
        printf("end\n");
    } else if (strcmp(line, "event") == 0 && arg) {
        char *payload = strchr(arg, ' ');
        if (payload)
            *payload++ = '\0';
        int rc = cn_gossip_user_event(n->g, arg, (const uint8_t *)payload,
                                      payload ? strlen(payload) : 0, false);
        printf("event-sent rc=%d\n", rc);
    } else if (strcmp(line, "leave") == 0) {
        printf("leave-started rc=%d\n", cn_gossip_leave(n->g, 5000, on_left, n));
    } else if (strcmp(line, "force-leave") == 0 && arg) {
        printf("force-leave rc=%d\n", cn_gossip_force_leave(n->g, arg));
    } else if (strcmp(line, "tags") == 0) {
        struct cn_gossip_tag tags[ARGS_MAX];
        size_t k = 0;
        for (char *tok = strtok_r(arg, " ", &arg); tok && k < ARGS_MAX;
             tok = strtok_r(NULL, " ", &arg))
            if (parse_tag(tok, &tags[k]) == 0)
                k++;
        printf("tags rc=%d\n", cn_gossip_set_tags(n->g, tags, k));
    } else if (strcmp(line, "keys") == 0) {
        char keys[16][48];
        int k = cn_gossip_key_list(n->g, keys, 16);
        for (int i = 0; i < k; i++)
            printf("key %s\n", keys[i]);
        printf("keys-end\n");
    } else if (strcmp(line, "query") == 0 && arg) {
        cmd_query(n, arg);
    } else if (strcmp(line, "keyring") == 0) {
        cmd_keyring(n, arg);
    } else if (strcmp(line, "stats") == 0) {
        print_stats(n);
    } else if (strcmp(line, "quit") == 0) {
        shutdown_node(n);
    } else if (line[0]) {
        printf("error unknown command %s\n", line);
    }
}

static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct node *n = h->data;
    (void)hint;
    *buf = uv_buf_init(n->line + n->line_len, (unsigned)(sizeof n->line - 1 - n->line_len));
}

static void in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct node *n = s->data;
    char *nl;
    (void)buf;
    if (nread < 0) {
        uv_read_stop(s);  /* stdin closed: keep running until a signal */
        return;
    }
    n->line_len += (size_t)nread;
    n->line[n->line_len] = '\0';
    while (!n->closing && (nl = strchr(n->line, '\n')) != NULL) {
        size_t used = (size_t)(nl - n->line) + 1;
        *nl = '\0';
        command(n, n->line);
        memmove(n->line, n->line + used, n->line_len - used + 1);
        n->line_len -= used;
    }
    if (n->line_len >= sizeof n->line - 1)
        n->line_len = 0;  /* overlong line: drop */
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    shutdown_node(s->data);
}

static int usage(void)
{
    fprintf(stderr, "usage: gossip_node -name N [-bind ADDR] [-port P] [-join HOST:PORT]... "
                    "[-encrypt B64]... [-tag k=v]... [-profile lan|wan|local] [-no-compress] "
                    "[-log-level LEVEL]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static struct node n;
    struct cn_gossip_config cfg = { .bind_addr = "127.0.0.1", .event_cb = on_event,
                                    .query_cb = on_query_in, .query_ctx = &n };
    struct cn_gossip_tag tags[ARGS_MAX];
    const char *joins[ARGS_MAX], *keys[ARGS_MAX];
    size_t n_joins = 0;
    enum cn_log_level lvl = CN_LOG_WARN;
    char errmsg[CN_ERRMSG_MAX];
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    cfg.tags = tags;
    cfg.keys = keys;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] == '-' && a[1] == '-')
            a++;
        if (strcmp(a, "-no-compress") == 0) {
            cfg.no_compress = true;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "-name") == 0) {
            cfg.name = v;
        } else if (strcmp(a, "-bind") == 0) {
            cfg.bind_addr = v;
        } else if (strcmp(a, "-query-response") == 0) {
            n.query_response = v;
        } else if (strcmp(a, "-advertise") == 0) {
            cfg.advertise_addr = v;
        } else if (strcmp(a, "-port") == 0) {
            uint64_t p;
            if (cn_parse_u64(v, strlen(v), &p) < 0 || p > 65535)
                return usage();
            cfg.port = (uint16_t)p;
        } else if (strcmp(a, "-join") == 0 && n_joins < ARGS_MAX) {
            joins[n_joins++] = v;
        } else if (strcmp(a, "-encrypt") == 0 && cfg.n_keys < ARGS_MAX) {
            keys[cfg.n_keys++] = v;
        } else if (strcmp(a, "-tag") == 0 && cfg.n_tags < ARGS_MAX) {
            if (parse_tag(argv[i], &tags[cfg.n_tags]) < 0)
                return usage();
            cfg.n_tags++;
        } else if (strcmp(a, "-profile") == 0) {
            cfg.profile = strcmp(v, "wan") == 0     ? CN_GOSSIP_WAN
                          : strcmp(v, "local") == 0 ? CN_GOSSIP_LOCAL
                                                    : CN_GOSSIP_LAN;
        } else if (strcmp(a, "-log-level") == 0) {
            if (cn_log_level_parse(v, &lvl) < 0)
                return usage();
        } else {
            return usage();
        }
    }
    if (!cfg.name)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    cn_log_setup(lvl, false);
    n.loop = uv_default_loop();
    rc = cn_gossip_new(n.loop, &cfg, &n.g, errmsg);
    if (rc < 0) {
        fprintf(stderr, "gossip_node: %s\n", errmsg);
        return 1;
    }
    printf("ready name=%s port=%u\n", cfg.name, cn_gossip_port(n.g));
    uv_pipe_init(n.loop, &n.in, 0);
    n.in.data = &n;
    /* Commands only from a pipe/socket: libuv cannot poll /dev/null. */
    if (uv_guess_handle(0) == UV_NAMED_PIPE && uv_pipe_open(&n.in, 0) == 0)
        uv_read_start((uv_stream_t *)&n.in, in_alloc, in_read);
    uv_signal_init(n.loop, &n.sig_int);
    uv_signal_init(n.loop, &n.sig_term);
    n.sig_int.data = n.sig_term.data = &n;
    uv_signal_start(&n.sig_int, on_signal, SIGINT);
    uv_signal_start(&n.sig_term, on_signal, SIGTERM);
    if (n_joins > 0 && (rc = cn_gossip_join(n.g, joins, n_joins, on_joined, &n)) < 0)
        fprintf(stderr, "gossip_node: join: %s\n", cn_strerror(rc));
    uv_run(n.loop, UV_RUN_DEFAULT);
    uv_loop_close(n.loop);
    return 0;
}
