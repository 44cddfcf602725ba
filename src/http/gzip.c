/* http/gzip.c - response compression and shared response bodies.
 *
 * Consul wraps its whole HTTP API in a gzip handler, and the clients that
 * read big lists (Go's net/http: consul-template, Prometheus consul_sd;
 * python-requests: python-consul, Patroni) send Accept-Encoding: gzip by
 * default. A health list of 1,000 instances is ~1.5 MB of JSON and ~3%
 * of that compressed, so on any real network the bytes, not our CPU,
 * bound those readers. zlib (Debian zlib1g-dev) does the deflate: a
 * correct, fast deflate is a project of its own.
 *
 * Bodies of CN_HTTP_GZIP_MIN bytes or more are compressed at level 1 when
 * the client accepts gzip; smaller ones fit in a packet anyway (the same
 * threshold as Go's common gzip handler). A blob is a body shared by many
 * responses (the agent's response cache): its compressed form is made
 * once, by the first request that wants it, and kept beside it.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "http_int.h"

struct cn_http_blob {
    unsigned refs;
    int gz_state;              /* 0 not tried, 1 gz valid, -1 not worth it. */
    size_t len, gz_len;
    uint8_t *data, *gz;
};

struct cn_http_blob *cn_http_blob_take(struct cn_buf *body)
{
    struct cn_http_blob *b = cn_calloc(1, sizeof *b);
    uint8_t *p, *fit;
    if (!b)
        return NULL;
    if (!(p = cn_buf_steal(body, &b->len))) {
        cn_free(b);
        return NULL;
    }
    fit = cn_realloc(p, b->len + 1); /* Drop the buffer's growth slack. */
    b->data = fit ? fit : p;
    b->refs = 1;
    return b;
}

struct cn_http_blob *cn_http_blob_ref(struct cn_http_blob *b)
{
    b->refs++;
    return b;
}

void cn_http_blob_unref(struct cn_http_blob *b)
{
    if (!b || --b->refs > 0)
        return;
    cn_free(b->gz);
    cn_free(b->data);
    cn_free(b);
}

size_t cn_http_blob_size(const struct cn_http_blob *b)
{
    return sizeof *b + b->len + b->gz_len;
}

const uint8_t *cn__http_blob_data(const struct cn_http_blob *b, size_t *len)
{
    *len = b->len;
    return b->data;
}

/* One deflate of in[0..len) into out (gzip framing); 0, or a negative code
 * when zlib fails or the result would not be smaller. */
static int gzip_into(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
    z_stream z;
    int rc;
    memset(&z, 0, sizeof z);
    /* 15 window bits + 16: a gzip header and trailer, not zlib's. */
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)in;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    /* Bodies are bounded by CN_HTTP_RESP_BYTES_MAX < 4 GiB: one call. */
    z.avail_in = (uInt)len;
    rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || *out_len >= len)
        return CN_ETOOBIG;
    return 0;
}

int cn__http_gzip(const uint8_t *in, size_t len, struct cn_buf *out)
{
    size_t bound = compressBound((uLong)len) + 32, n;
    int rc;
    cn_buf_reset(out);
    if ((rc = cn_buf_reserve(out, bound)) < 0)
        return rc;
    if ((rc = gzip_into(in, len, out->data, bound, &n)) < 0)
        return rc;
    out->len = n;
    return 0;
}

const uint8_t *cn__http_blob_gz(struct cn_http_blob *b, size_t *len)
{
    if (b->gz_state == 0) {
        size_t bound = compressBound((uLong)b->len) + 32, n = 0;
        uint8_t *p = cn_alloc(bound), *q;
        b->gz_state = -1;
        if (p && gzip_into(b->data, b->len, p, bound, &n) == 0) {
            q = cn_realloc(p, n); /* Keep only what is used. */
            b->gz = q ? q : p;
            b->gz_len = n;
            b->gz_state = 1;
        } else {
            cn_free(p);
        }
    }
    *len = b->gz_len;
    return b->gz_state > 0 ? b->gz : NULL;
}

/* Accept-Encoding names gzip with a non-zero q (RFC 9110 12.5.3). Tokens
 * are case-insensitive; "*" is not taken as gzip (Go's handler does not
 * either). */
bool cn__http_accepts_gzip(const struct cn_http_req *req)
{
    const char *v = cn_http_header(req, "accept-encoding");
    while (v && *v) {
        const char *end = strchr(v, ','), *semi;
        size_t n;
        if (!end)
            end = v + strlen(v);
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        semi = memchr(v, ';', (size_t)(end - v));
        n = (size_t)((semi ? semi : end) - v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (n == 4 && strncasecmp(v, "gzip", 4) == 0) {
            /* q=0, q=0.0, q=0.000: refused; anything else accepts. */
            const char *q = semi ? semi + 1 : end;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (end - q < 2 || (q[0] != 'q' && q[0] != 'Q') || q[1] != '=')
                return true;
            for (q += 2; q < end && (*q == '0' || *q == '.'); q++)
                ;
            return q < end && *q >= '1' && *q <= '9';
        }
        v = *end ? end + 1 : end;
    }
    return false;
}
