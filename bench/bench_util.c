/* bench/bench_util.c - see bench_util.h. */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* clock                                                               */

uint64_t b_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void b_sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------ */
/* histogram                                                           */

static size_t hist_index(uint64_t v)
{
    if (v < 128)
        return (size_t)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - B_HIST_SUB_BITS;
    uint64_t top = v >> shift;  /* In [64, 127]. */
    return 128 + (size_t)(msb - 7) * 64 + (size_t)(top - 64);
}

/* Largest value that maps to bucket idx. */
static uint64_t hist_upper(size_t idx)
{
    if (idx < 128)
        return idx;
    size_t o = (idx - 128) / 64, s = (idx - 128) % 64;
    int msb = (int)o + 7;
    int shift = msb - B_HIST_SUB_BITS;
    return ((uint64_t)(64 + s + 1) << shift) - 1;
}

void b_hist_init(struct b_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void b_hist_record(struct b_hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void b_hist_merge(struct b_hist *into, const struct b_hist *from)
{
    for (size_t i = 0; i < B_HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->n += from->n;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t b_hist_quantile(const struct b_hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t seen = 0;
    for (size_t i = 0; i < B_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t u = hist_upper(i);
            return u > h->max ? h->max : u;
        }
    }
    return h->max;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void b_sort_i64(int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_i64);
}

int64_t b_pct_i64(const int64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* ------------------------------------------------------------------ */
/* values and requests                                                 */

size_t b_base64(const void *src, size_t n, char *dst)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = src;
    size_t o = 0, i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        dst[o++] = tab[v >> 18];
        dst[o++] = tab[(v >> 12) & 63];
        dst[o++] = tab[(v >> 6) & 63];
        dst[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        dst[o++] = tab[v >> 18];
        dst[o++] = tab[(v >> 12) & 63];
        dst[o++] = '=';
        dst[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        dst[o++] = tab[v >> 18];
        dst[o++] = tab[(v >> 12) & 63];
        dst[o++] = tab[(v >> 6) & 63];
        dst[o++] = '=';
    }
    dst[o] = '\0';
    return o;
}

void b_value(uint64_t i, char *out, size_t n)
{
    char head[32];
    int hl = snprintf(head, sizeof head, "v%llu:", (unsigned long long)i);
    size_t j = 0;

    for (; j < n && j < (size_t)hl; j++)
        out[j] = head[j];
    for (; j < n; j++)
        out[j] = (char)('a' + (i + j) % 26);
}

static size_t key_b64(const struct b_reqcfg *c, uint64_t i, char *dst)
{
    char key[B_KEY_PREFIX_MAX + 24];
    int kl = snprintf(key, sizeof key, "%s%llu", c->prefix, (unsigned long long)i);
    return b_base64(key, (size_t)kl, dst);
}

/* Fits returns len if 0 < len < cap, else 0. */
static size_t fits(int len, size_t cap)
{
    return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

size_t b_fmt_put(const struct b_reqcfg *c, uint64_t i, char *out, size_t cap)
{
    char value[B_VALUE_BYTES_MAX];
    int hl;

    b_value(i, value, c->value_bytes);
    if (c->proto == B_CONSUL) {
        hl = snprintf(out, cap, "PUT /v1/kv/%s%llu HTTP/1.1\r\nHost: %s\r\n"
                      "Content-Length: %zu\r\n\r\n", c->prefix,
                      (unsigned long long)i, c->host, c->value_bytes);
        if (!fits(hl, cap) || c->value_bytes >= cap - (size_t)hl)
            return 0;
        memcpy(out + hl, value, c->value_bytes);
        return (size_t)hl + c->value_bytes;
    }
    char vb[B_VALUE_BYTES_MAX / 3 * 4 + 8];
    char kb[(B_KEY_PREFIX_MAX + 24) * 2];
    key_b64(c, i, kb);
    b_base64(value, c->value_bytes, vb);
    int bl = snprintf(NULL, 0, "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
    hl = snprintf(out, cap, "POST /v3/kv/put HTTP/1.1\r\nHost: %s\r\n"
                  "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  "{\"key\":\"%s\",\"value\":\"%s\"}", c->host, bl, kb, vb);
    return fits(hl, cap);
}

size_t b_fmt_get(const struct b_reqcfg *c, uint64_t i, char *out, size_t cap,
                 char *expect, size_t expect_cap)
{
    char value[B_VALUE_BYTES_MAX];
    int n;

    if (expect_cap < (c->value_bytes + 2) / 3 * 4 + 1)
        return 0;
    b_value(i, value, c->value_bytes);
    b_base64(value, c->value_bytes, expect);
    if (c->proto == B_CONSUL) {
        const char *q = c->read == B_READ_CONSISTENT ? "?consistent"
                      : c->read == B_READ_STALE ? "?stale" : "";
        n = snprintf(out, cap, "GET /v1/kv/%s%llu%s HTTP/1.1\r\nHost: %s\r\n\r\n",
                     c->prefix, (unsigned long long)i, q, c->host);
        return fits(n, cap);
    }
    /* etcd: "stale" is a serializable (member-local) read; default and
     * consistent are linearizable, etcd's own default. */
    char kb[(B_KEY_PREFIX_MAX + 24) * 2];
    key_b64(c, i, kb);
    const char *ser = c->read == B_READ_STALE ? "true" : "false";
    int bl = snprintf(NULL, 0, "{\"key\":\"%s\",\"serializable\":%s}", kb, ser);
    n = snprintf(out, cap, "POST /v3/kv/range HTTP/1.1\r\nHost: %s\r\n"
                 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                 "{\"key\":\"%s\",\"serializable\":%s}", c->host, bl, kb, ser);
    return fits(n, cap);
}

/* ------------------------------------------------------------------ */
/* HTTP response reader                                                */

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct b_resp *r = p->data;

    if (r->field_len + n < sizeof r->field) {
        memcpy(r->field + r->field_len, at, n);
        r->field_len += n;
        r->field[r->field_len] = '\0';
    } else {
        r->field_len = sizeof r->field;  /* Too long to be ours. */
    }
    r->in_index_field = r->field_len < sizeof r->field &&
                        strcasecmp(r->field, "X-Consul-Index") == 0;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct b_resp *r = p->data;

    r->field_len = 0;  /* The next field callback starts a new name. */
    if (r->in_index_field) {
        for (size_t i = 0; i < n; i++) {
            if (at[i] < '0' || at[i] > '9')
                break;
            if (r->consul_index > (UINT64_MAX - 9) / 10)
                break;
            r->consul_index = r->consul_index * 10 + (uint64_t)(at[i] - '0');
        }
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct b_resp *r = p->data;

    r->status = 0;
    r->complete = false;
    r->body_len = 0;
    r->body[0] = '\0';
    r->body_overflow = false;
    r->consul_index = 0;
    r->field_len = 0;
    r->in_index_field = false;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct b_resp *r = p->data;

    if (n > r->body_cap - r->body_len) {
        r->body_overflow = true;
        return 0;
    }
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct b_resp *r = p->data;

    r->status = (int)p->status_code;
    r->keep_alive = http_should_keep_alive(p) != 0;
    r->complete = true;
    if (r->done)
        r->done(r->ctx, r);
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

int b_resp_init(struct b_resp *r, size_t body_cap, b_resp_done_fn *done, void *ctx)
{
    memset(r, 0, sizeof *r);
    if (body_cap > B_BODY_BYTES_MAX)
        body_cap = B_BODY_BYTES_MAX;
    r->body_cap = body_cap;
    r->body = malloc(body_cap + 1);
    if (!r->body)
        return -1;
    r->done = done;
    r->ctx = ctx;
    b_resp_reset(r);
    return 0;
}

void b_resp_reset(struct b_resp *r)
{
    http_parser_init(&r->p, HTTP_RESPONSE);
    r->p.data = r;
    r->body_len = 0;
    r->body[0] = '\0';
    r->complete = false;
}

void b_resp_free(struct b_resp *r)
{
    free(r->body);
    r->body = NULL;
}

int b_resp_feed(struct b_resp *r, const char *data, size_t n)
{
    size_t used = http_parser_execute(&r->p, &resp_settings, data, n);

    if (used != n || HTTP_PARSER_ERRNO(&r->p) != HPE_OK)
        return -1;
    return 0;
}

bool b_body_has(const struct b_resp *r, const char *needle)
{
    return !r->body_overflow && memmem(r->body, r->body_len, needle, strlen(needle));
}

int b_resp_read(int fd, struct b_resp *r)
{
    char buf[16384];

    for (int reads = 0; reads < 64; reads++) {  /* Bounded: 1 MiB per call. */
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (b_resp_feed(r, buf, (size_t)n) != 0)
                return -EPROTO;
            if (r->complete)
                return 1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return n == 0 ? -ECONNRESET : -errno;
    }
    return 0;
}

int b_roundtrip(int fd, const char *req, size_t len, struct b_resp *r, int timeout_ms)
{
    uint64_t deadline = b_now_ns() + (uint64_t)timeout_ms * 1000000u;
    size_t off = 0;
    struct pollfd pfd = {.fd = fd};

    r->complete = false;
    while (off < len || !r->complete) {
        uint64_t now = b_now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (off < len) {
            ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -errno;
        } else {
            int rc = b_resp_read(fd, r);
            if (rc < 0)
                return rc;
            if (rc == 1)
                return 0;
        }
        pfd.events = off < len ? POLLOUT : POLLIN;
        poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* numbers                                                             */

int b_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int b_parse_int(const char *s, int min, int max, int *out)
{
    uint64_t v;

    if (min < 0 || b_parse_u64(s, (uint64_t)min, (uint64_t)max, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int b_parse_f64(const char *s, double min, double max, double *out)
{
    char *end;

    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* sockets                                                             */

int b_parse_addr(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    char *end;

    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return 0;
}

int b_connect(const struct sockaddr_in *dst, const struct sockaddr_in *src)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src && bind(fd, (const struct sockaddr *)src, sizeof *src) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) != 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int b_connect_wait(const struct sockaddr_in *dst, int timeout_ms)
{
    int fd = b_connect(dst, NULL);
    struct pollfd pfd;
    int err = 0;
    socklen_t el = sizeof err;

    if (fd < 0)
        return fd;
    pfd.fd = fd;
    pfd.events = POLLOUT;
    if (poll(&pfd, 1, timeout_ms) != 1) {
        close(fd);
        return -ETIMEDOUT;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        close(fd);
        return err ? -err : -EIO;
    }
    return fd;
}

long b_raise_nofile(long n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if ((rlim_t)n > rl.rlim_cur) {
        rl.rlim_cur = (rlim_t)n < rl.rlim_max ? (rlim_t)n : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return (long)rl.rlim_cur;
}

/* ------------------------------------------------------------------ */
/* /proc                                                               */

long b_proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

double b_proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the parenthesised comm; utime and stime are 14 and 15. */
    char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double b_self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
