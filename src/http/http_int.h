/* http/http_int.h - shared by the .c files of src/http only. */
#ifndef CN_HTTP_INT_H
#define CN_HTTP_INT_H

#include <http_parser.h>

#include "http.h"

enum conn_state {
    CONN_READING = 1,  /* Parsing a request head or body. */
    CONN_HANDLING,     /* Handler running or request parked. */
    CONN_WRITING,      /* Response being written. */
    CONN_LINGER,       /* Error sent, write side shut: draining input
                        * briefly so the close does not reset the
                        * connection before the client reads the reply. */
    CONN_CLOSING,      /* uv_close issued. */
};

/* Where the head parser is: which piece the next byte extends. */
enum head_piece { PIECE_NONE = 0, PIECE_URL, PIECE_FIELD, PIECE_VALUE };

struct ip_count {
    unsigned n;
    char ip[48];
};

struct cn_http_conn {
    uv_tcp_t tcp;              /* First: handle->data = conn. */
    uv_timer_t timer;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    size_t linger_bytes;
    http_parser parser;
    struct cn_http_server *srv;
    struct cn_http_conn *next, *prev; /* Server's connection list. */
    struct ip_count *ipc;
    enum conn_state state;
    int handles_open;          /* tcp + timer; freed when it reaches 0. */

    /* Head accumulation: pieces [u32 len][bytes][NUL], see server.c. */
    struct cn_buf head;
    size_t piece_off;          /* Offset of the current piece's length. */
    enum head_piece piece;
    bool head_started;
    bool msg_done;             /* on_message_complete ran. */
    bool keep_alive;
    bool close_after_write;
    bool read_stopped;
    bool peer_gone;            /* EOF/error seen while handling. */
    bool zombie;               /* Peer gone, request parked without cancel fn. */
    int reject_status;         /* Set by callbacks to stop parsing. */
    const char *reject_reason;

    struct cn_buf body;
    size_t body_max;
    struct cn_buf pending;     /* Input received but not yet parsed. */

    struct cn_http_req req;
    cn_http_cancel_fn *cancel_fn;
    char status_line[64];
    char tail[128];            /* Encoding, Content-Length, blank line. */
};

struct cn_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct cn_http_config cfg;
    struct cn_http_conn *conns;
    struct cn_map ip_counts;
    struct cn_http_stats stats;
    unsigned conns_per_ip_max;
    uint64_t header_timeout_ms, idle_timeout_ms;
    int port;
    bool stopping;
    int open_handles;
    void (*stop_cb)(void *);
    void *stop_arg;
    /* One read buffer for every connection: http-parser copies out what
     * it keeps, so nothing points into it between reads. */
    char read_buf[64 << 10];
    bool read_buf_busy;
};

/* req.c */
void cn__http_req_init(struct cn_http_req *req);
void cn__http_req_reset(struct cn_http_req *req);
void cn__http_req_close(struct cn_http_req *req);
/* Builds path/params/headers from the head pieces. 0 or an HTTP status
 * with *reason set. */
int cn__http_req_build(struct cn_http_req *req, const struct cn_buf *head,
                       const char **reason);

/* gzip.c. Bodies of this many bytes or more are compressed for clients
 * that accept gzip. */
#define CN_HTTP_GZIP_MIN 1400
bool cn__http_accepts_gzip(const struct cn_http_req *req);
/* in -> out (reset first) in gzip framing; fails when not smaller. */
int cn__http_gzip(const uint8_t *in, size_t len, struct cn_buf *out);
const uint8_t *cn__http_blob_data(const struct cn_http_blob *b, size_t *len);
/* The blob's gzip form, made on first use; NULL when not worth it. */
const uint8_t *cn__http_blob_gz(struct cn_http_blob *b, size_t *len);

/* router.c */
const struct cn_route *cn__http_route_find(const struct cn_route *routes,
                                           size_t n, const char *path,
                                           size_t path_len);
/* Writes the Allow header value for a method set into out. */
void cn__http_allow_value(unsigned methods, char *out, size_t out_size);
const char *cn__http_method_name(unsigned method_bit);
/* Go's path.Clean semantics for the decoded path (trailing '/' kept);
 * true if the path was already clean. out gets the clean form. */
bool cn__http_path_clean(const char *in, size_t len, char *out, size_t *out_len);

/* server.c, for req.c */
struct cn_http_conn *cn__http_conn_of(struct cn_http_req *req);

#endif
