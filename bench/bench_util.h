/* bench/bench_util.h - shared pieces of the benchmark clients (kvload,
 * kvprobe): clock, latency histogram, HTTP/1.1 response parsing on
 * http-parser, request formatting for the Consul and etcd-gateway KV APIs,
 * the deterministic benchmark values, and /proc readers.
 *
 * Deliberately independent of cairn's own code (src/): a load generator
 * that shared the base64 or HTTP code of the system under test could hide
 * a bug on both sides of the wire. Only libc and http-parser.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <http_parser.h>

#define B_VALUE_BYTES_MAX 65536  /* -s bound: one request fits a buffer. */
#define B_KEY_PREFIX_MAX 128
#define B_BODY_BYTES_MAX (256 * 1024)  /* Longer response bodies are errors. */
#define B_REQ_BYTES_MAX (B_VALUE_BYTES_MAX * 2 + 1024)  /* base64 + head. */

/* ---- clock ---- */
uint64_t b_now_ns(void);
void b_sleep_us(uint64_t us);

/* ---- latency histogram, log-linear like HdrHistogram ----
 * Values are nanoseconds. Below 128 exact; above, 64 sub-buckets per
 * power of two, so a reported percentile is within 1/64 (1.6 %) of the
 * true sample. min, max and the mean are exact. */
#define B_HIST_SUB_BITS 6
#define B_HIST_BUCKETS (128 + (64 - 7) * 64)

struct b_hist {
    uint64_t counts[B_HIST_BUCKETS];
    uint64_t n, min, max;
    double sum;
};

void b_hist_init(struct b_hist *h);
void b_hist_record(struct b_hist *h, uint64_t v);
void b_hist_merge(struct b_hist *into, const struct b_hist *from);
/* q in [0,1]; 0 when empty. Returns the bucket's upper bound, capped by
 * the exact max. */
uint64_t b_hist_quantile(const struct b_hist *h, double q);

/* ---- sorted-sample statistics (for small trial counts) ---- */
void b_sort_i64(int64_t *v, size_t n);
int64_t b_pct_i64(const int64_t *sorted, size_t n, double q);  /* Nearest rank. */

/* ---- protocol and requests ---- */
enum b_proto { B_CONSUL, B_ETCD };
enum b_read { B_READ_DEFAULT, B_READ_CONSISTENT, B_READ_STALE };

size_t b_base64(const void *src, size_t n, char *dst);  /* Writes 4*ceil(n/3)+NUL. */

/* The value stored under key index i: `n` printable bytes that begin with
 * "v<i>:" so a wrong key's value never matches. */
void b_value(uint64_t i, char *out, size_t n);

struct b_reqcfg {
    enum b_proto proto;
    enum b_read read;
    const char *host;      /* Host header value. */
    const char *prefix;    /* Key prefix, e.g. "bench/". */
    size_t value_bytes;
};

/* Format one request into out (cap B_REQ_BYTES_MAX); returns its length,
 * or 0 if it does not fit. For gets, *expect receives the base64 of the
 * value that the response body must contain (cap expect_cap). */
size_t b_fmt_put(const struct b_reqcfg *c, uint64_t i, char *out, size_t cap);
size_t b_fmt_get(const struct b_reqcfg *c, uint64_t i, char *out, size_t cap,
                 char *expect, size_t expect_cap);

/* ---- HTTP/1.1 response reader ----
 * Feed bytes as they arrive; `done` runs once per complete response
 * (several per feed when pipelined). The body is kept up to
 * B_BODY_BYTES_MAX; beyond that body_overflow is set. */
struct b_resp;
typedef void b_resp_done_fn(void *ctx, struct b_resp *r);

struct b_resp {
    http_parser p;
    b_resp_done_fn *done;
    void *ctx;
    int status;
    bool keep_alive;
    bool complete;         /* A whole response arrived (until the next begins). */
    bool body_overflow;
    bool in_index_field;   /* Header field being read is X-Consul-Index. */
    size_t field_len;
    char field[32];
    uint64_t consul_index; /* 0 if absent. */
    size_t body_len, body_cap;
    char *body;            /* body_cap + 1 bytes, NUL-terminated. */
};

/* body_cap <= B_BODY_BYTES_MAX; done may be NULL. */
int b_resp_init(struct b_resp *r, size_t body_cap, b_resp_done_fn *done, void *ctx);
void b_resp_reset(struct b_resp *r);  /* For a new connection. */
void b_resp_free(struct b_resp *r);
/* 0, or -1 on a protocol error (then the connection is unusable). */
int b_resp_feed(struct b_resp *r, const char *data, size_t n);
bool b_body_has(const struct b_resp *r, const char *needle);
/* Write req on a connected socket and read one response into r, within
 * timeout_ms overall. 0, or -errno (-ETIMEDOUT, -EPROTO, -ECONNRESET). */
int b_roundtrip(int fd, const char *req, size_t len, struct b_resp *r, int timeout_ms);
/* Read whatever is available on fd (non-blocking) into r. 1 if a response
 * completed, 0 if not yet, -errno on error or EOF. */
int b_resp_read(int fd, struct b_resp *r);

/* ---- numbers ---- */
/* Whole-string decimal (or, for b_parse_f64, decimal fraction) in
 * [min, max]. 0 or -1. */
int b_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int b_parse_int(const char *s, int min, int max, int *out);
int b_parse_f64(const char *s, double min, double max, double *out);

/* ---- sockets ---- */
/* Parse "host:port" (IPv4 literal) into *sa. 0 or -1. */
struct sockaddr_in;
int b_parse_addr(const char *s, struct sockaddr_in *sa);
/* Non-blocking TCP socket with TCP_NODELAY, connect started. src may be
 * NULL; else the socket is bound to it first. Returns fd or -errno. */
int b_connect(const struct sockaddr_in *dst, const struct sockaddr_in *src);
/* Blocking variant with a timeout; fd or -errno. */
int b_connect_wait(const struct sockaddr_in *dst, int timeout_ms);
/* Raise RLIMIT_NOFILE soft limit to at least n (up to the hard limit).
 * Returns the resulting soft limit. */
long b_raise_nofile(long n);

/* ---- /proc ---- */
long b_proc_rss_kb(pid_t pid);          /* VmRSS, -1 if unreadable. */
double b_proc_cpu_s(pid_t pid);         /* utime+stime of all threads. */
double b_self_cpu_s(void);              /* getrusage(RUSAGE_SELF). */

#endif
