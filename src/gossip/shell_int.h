/* gossip/shell_int.h - the libuv shell's handle, shared by shell.c and
 * shell_query.c only. */
#ifndef CN_GOSSIP_SHELL_INT_H
#define CN_GOSSIP_SHELL_INT_H

#include <uv.h>

#include "gossip_int.h"

#define TICK_MS 10
#define JOIN_MAX 64

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct cn_gossip *g;
    struct conn *next, *prev;
    struct cn_buf in;
    bool outbound;
    bool done;           /* reply handled / stream reported */
    int closing;         /* handles still open */
    uint32_t id;         /* outbound: core stream id */
    struct cn__gaddr peer;
    uint8_t *out;        /* outbound request, sealed */
    size_t out_len;
    uv_write_t wr;
    uv_connect_t cr;
};

struct cn_gossip {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int open_handles;
    bool closing;
    void (*close_cb)(void *);
    void *close_ctx;

    struct cn__gcore *core;
    struct cn__keyring kr;
    struct cn__gossip_timing t;
    char name[CN_GOSSIP_NAME_BYTES_MAX + 1];
    uint16_t port;
    struct conn *conns;
    size_t n_in;
    uint8_t rbuf[CN_GOSSIP_UDP_RECV_BYTES_MAX];

    cn_gossip_event_fn *event_cb;
    void *event_ctx;
    cn_gossip_query_in_fn *query_cb;
    void *query_ctx;
    struct cn__uquery *uqueries;   /* our outstanding queries */
    struct {
        bool active;
        uint32_t ids[JOIN_MAX];
        size_t n, pending;
        int ok;
        cn_gossip_join_fn *cb;
        void *ctx;
    } join;
    cn_gossip_done_fn *leave_cb;
    void *leave_ctx;
    bool leave_reported;
    struct cn_gossip_stats st;
};

/* shell_query.c */
struct cn__uquery;
/* Runs the core's query items: answers keyring/user queries, hands replies
 * to cn_gossip_query callbacks and keyring operations. */
void cn__shell_deliver_queries(struct cn_gossip *g);
/* Frees outstanding queries without calling back (close). */
void cn__shell_queries_free(struct cn_gossip *g);

#endif
