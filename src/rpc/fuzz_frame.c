/* rpc/fuzz_frame.c - fuzz target: bytes as a peer's TCP stream would
 * deliver them to the server transport (rpc/transport.c), through the
 * frame reader (header, declared length check, tag) and the RPC request
 * and response decoders, then the argument codecs (rpc/call.c,
 * rpc/cat_args.c) with a re-encode round trip.
 *
 * Input: [u8 chunking][u8 seed][stream...]. The stream is fed in chunks
 * whose sizes come from a PRNG seeded by the second byte; the first byte
 * picks the chunk size range (all at once, 1 byte, < 8, < 4096), so a
 * frame's header and payload are split across reads the way TCP may.
 *
 * Checked on every input: the reassembled frame equals the bytes of the
 * stream it came from; the reader never consumes more than given and
 * always makes progress; the payload buffer is never bigger than what the
 * payload bytes received so far justify (no allocation from a declared
 * length); decoded views stay inside the frame; decode -> encode -> decode
 * gives the same arguments.
 */
#include <stdlib.h>

#include "rpc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void check_opts_equal(const struct cn_query_opts *a, const struct cn_query_opts *b)
{
    CHECK(a->min_index == b->min_index && a->wait_ms == b->wait_ms &&
          a->max_stale_ms == b->max_stale_ms && a->consistency == b->consistency &&
          a->if_index == b->if_index);
}

static void check_bytes_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    CHECK(an == bn && (an == 0 || memcmp(a, b, an) == 0));
}

static void fuzz_kvs_args(const uint8_t *p, size_t n)
{
    struct cn_rpc_kvs_args a, b;
    struct cn_buf buf;
    if (cn_rpc_kvs_args_decode(p, n, &a) < 0)
        return;
    cn_buf_init(&buf, CN_RPC_ARGS_BYTES_MAX);
    if (cn_rpc_kvs_args_encode(&buf, a.key, a.key_len, (const char *)a.sep, a.sep_len, &a.q) == 0) {
        CHECK(cn_rpc_kvs_args_decode(buf.data, buf.len, &b) == 0);
        check_bytes_equal(a.key, a.key_len, b.key, b.key_len);
        check_bytes_equal(a.sep, a.sep_len, b.sep, b.sep_len);
        check_opts_equal(&a.q, &b.q);
    }
    cn_buf_close(&buf);
}

static void fuzz_txn_args(const uint8_t *p, size_t n)
{
    const uint8_t *cmd, *cmd2;
    uint32_t len, len2;
    struct cn_query_opts q, q2;
    struct cn_buf buf;
    if (cn_rpc_txn_args_decode(p, n, &cmd, &len, &q) < 0)
        return;
    CHECK(cmd >= p && len <= n && (size_t)(cmd - p) <= n - len);
    cn_buf_init(&buf, CN_RPC_ARGS_BYTES_MAX);
    if (cn_rpc_txn_args_encode(&buf, cmd, len, &q) == 0) {
        CHECK(cn_rpc_txn_args_decode(buf.data, buf.len, &cmd2, &len2, &q2) == 0);
        check_bytes_equal(cmd, len, cmd2, len2);
        check_opts_equal(&q, &q2);
    }
    cn_buf_close(&buf);
}

static void check_str_equal(const char *a, const char *b)
{
    CHECK(strcmp(a, b) == 0);
}

static void fuzz_cat_args(const uint8_t *p, size_t n)
{
    struct cn_rpc_cat_args a, b;
    struct cn_buf buf;
    if (cn_rpc_cat_args_decode(p, n, &a) < 0)
        return;
    CHECK(a.n_tags <= CN_RPC_CAT_TAGS_MAX && a.n_meta <= CN_RPC_CAT_META_MAX);
    cn_buf_init(&buf, CN_RPC_ARGS_BYTES_MAX);
    if (cn_rpc_cat_args_encode(&buf, a.name, a.tags, a.n_tags, a.meta, a.n_meta, a.passing,
                               &a.q) == 0) {
        CHECK(cn_rpc_cat_args_decode(buf.data, buf.len, &b) == 0);
        check_str_equal(a.name, b.name);
        CHECK(a.n_tags == b.n_tags && a.n_meta == b.n_meta && a.passing == b.passing);
        for (uint32_t i = 0; i < a.n_tags; i++)
            check_str_equal(a.tags[i], b.tags[i]);
        for (uint32_t i = 0; i < 2 * a.n_meta; i++)
            check_str_equal(a.meta[i], b.meta[i]);
        check_opts_equal(&a.q, &b.q);
        cn_rpc_cat_args_free(&b);
    }
    cn_buf_close(&buf);
    cn_rpc_cat_args_free(&a);
}

static void fuzz_request(const uint8_t *p, size_t n)
{
    struct cn__rpc_req req;
    if (cn__rpc_req_decode(p, n, &req) < 0)
        return;
    CHECK(req.method > 0 && req.method < CN_RPC_METHOD_MAX);
    size_t head = CN__RPC_REQ_HEAD_BYTES + strlen(req.dc);
    CHECK(strlen(req.dc) == p[10] && req.forwarded == (p[9] != 0));
    CHECK(req.args == p + head && req.args_len == n - head);
    /* Every decoder on every request: a server must survive arguments
     * meant for another method as well as garbage. */
    fuzz_kvs_args(req.args, req.args_len);
    fuzz_txn_args(req.args, req.args_len);
    fuzz_cat_args(req.args, req.args_len);
}

static void fuzz_response(const uint8_t *p, size_t n)
{
    struct cn__rpc_resp r;
    struct cn_rpc_call call;
    if (cn__rpc_resp_decode(p, n, &r) < 0) {
        CHECK(r.has_key == (n >= CN__RPC_RESP_HEAD_BYTES));
        return;
    }
    CHECK(r.has_key && r.rc <= 0 && r.errmsg_len < CN_ERRMSG_MAX);
    CHECK(r.meta.consistency <= CN_CONSISTENCY_CONSISTENT);
    CHECK((const uint8_t *)r.errmsg == p + CN__RPC_RESP_HEAD_BYTES &&
          r.reply == p + CN__RPC_RESP_HEAD_BYTES + r.errmsg_len &&
          CN__RPC_RESP_HEAD_BYTES + r.errmsg_len + r.reply_len == n);
    /* What the transport does with it. */
    cn_rpc_call_init(&call, CN_RPC_KVS_GET);
    memcpy(call.errmsg, r.errmsg, r.errmsg_len);
    call.errmsg[r.errmsg_len] = 0;
    (void)cn_buf_append(&call.reply, r.reply, r.reply_len);
    cn_rpc_call_close(&call);
}

/* Chunk sizes: all at once, single bytes, small, or up to a socket read. */
static size_t next_chunk(struct cn_prng *rng, uint8_t mode, size_t left)
{
    static const uint64_t max[4] = {0, 1, 8, 4096};
    uint64_t m = max[mode & 3];
    size_t want;
    if (m == 0)
        return left;
    want = (size_t)(1 + cn_prng_below(rng, m)); /* Once: CN_MIN evaluates twice. */
    return CN_MIN(left, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn__rpc_reader rd;
    struct cn_prng rng;
    const uint8_t *s;
    size_t n, pos = 0, frame_start = 0, peak = 0;
    uint8_t mode;

    if (size < 2)
        return 0;
    mode = data[0];
    cn_prng_seed(&rng, data[1]);
    s = data + 2;
    n = size - 2;
    cn__rpc_reader_init(&rd);
    while (pos < n) {
        size_t chunk = next_chunk(&rng, mode, n - pos), used;
        int rc = 0;
        while (chunk > 0) {
            if (rd.hdr_got == 0)
                frame_start = pos;
            rc = cn__rpc_reader_feed(&rd, s + pos, chunk, &used);
            CHECK(used <= chunk && (used > 0 || rc != 0));
            pos += used;
            chunk -= used;
            peak = CN_MAX(peak, rd.frame.len);
            /* Memory only for payload bytes that arrived. */
            CHECK(rd.frame.cap <= CN_MAX((size_t)64, 2 * (peak + 1)));
            if (rc < 0)
                break;
            CHECK(rc != 0 || chunk == 0); /* 0: everything was taken. */
            if (rc == 1) {
                CHECK(rd.frame_len >= 1 && rd.frame_len <= CN_FRAME_BYTES_MAX);
                CHECK(pos - frame_start == CN__RPC_HDR_BYTES + rd.frame.len);
                CHECK(cn__rpc_reader_tag(&rd) == s[frame_start + 4]);
                check_bytes_equal(rd.frame.data, rd.frame.len,
                                  s + frame_start + CN__RPC_HDR_BYTES, rd.frame.len);
                if (cn__rpc_reader_tag(&rd) == CN_FRAME_RPC_REQ)
                    fuzz_request(rd.frame.data, rd.frame.len);
                else if (cn__rpc_reader_tag(&rd) == CN_FRAME_RPC_RESP)
                    fuzz_response(rd.frame.data, rd.frame.len);
                cn__rpc_reader_next(&rd);
            }
        }
        if (rc < 0) {
            /* Only a bad declared length is a protocol error here (the
             * payload buffer's limit is the same bound). */
            CHECK(rc == CN_EMALFORMED);
            CHECK(rd.frame_len < 1 || rd.frame_len > CN_FRAME_BYTES_MAX);
            break;
        }
    }
    cn__rpc_reader_close(&rd);
    return 0;
}
