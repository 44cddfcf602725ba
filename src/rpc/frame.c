/* rpc/frame.c - the transport's frame reader and RPC frame body decoding
 * (see rpc_int.h). Pure: no I/O, no libuv; allocation through cn_buf. */
#include <errno.h>

#include "rpc_int.h"

/* A delivered frame's buffer above this is freed rather than kept. */
#define KEEP_FRAME_CAP_MAX (1u << 20)

void cn__rpc_put_be(uint8_t *p, uint64_t v, int n)
{
    CN_ASSERT(n > 0 && n <= 8);
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

uint64_t cn__rpc_get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    CN_ASSERT(n > 0 && n <= 8);
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

void cn__rpc_reader_init(struct cn__rpc_reader *r)
{
    memset(r, 0, sizeof *r);
    cn_buf_init(&r->frame, CN_FRAME_BYTES_MAX);
}

void cn__rpc_reader_close(struct cn__rpc_reader *r)
{
    cn_buf_close(&r->frame);
    r->hdr_got = 0;
}

int cn__rpc_reader_feed(struct cn__rpc_reader *r, const uint8_t *p, size_t n, size_t *used)
{
    size_t off = 0, want, take;
    CN_ASSERT(r->hdr_got <= CN__RPC_HDR_BYTES);
    *used = 0;
    if (r->hdr_got < CN__RPC_HDR_BYTES) {
        take = CN_MIN(n, CN__RPC_HDR_BYTES - r->hdr_got);
        memcpy(r->hdr + r->hdr_got, p, take);
        r->hdr_got += take;
        off = take;
        *used = off;
        if (r->hdr_got < CN__RPC_HDR_BYTES)
            return 0;
        r->frame_len = (uint32_t)cn__rpc_get_be(r->hdr, 4);
        /* Checked before a single byte is allocated for it. */
        if (r->frame_len < 1 || r->frame_len > CN_FRAME_BYTES_MAX)
            return CN_EMALFORMED;
        cn_buf_reset(&r->frame);
    }
    CN_ASSERT(r->frame.len <= r->frame_len - 1);
    want = r->frame_len - 1 - r->frame.len;
    take = CN_MIN(n - off, want);
    if (take) {
        int rc = cn_buf_append(&r->frame, p + off, take);
        if (rc < 0)
            return rc;
    }
    *used = off + take;
    return r->frame.len == r->frame_len - 1 ? 1 : 0;
}

void cn__rpc_reader_next(struct cn__rpc_reader *r)
{
    CN_ASSERT(r->hdr_got == CN__RPC_HDR_BYTES);
    r->hdr_got = 0;
    if (r->frame.cap > KEEP_FRAME_CAP_MAX)
        cn_buf_close(&r->frame); /* Don't keep a big frame's memory. */
    else
        cn_buf_reset(&r->frame);
}

int cn__rpc_req_decode(const uint8_t *p, size_t n, struct cn__rpc_req *out)
{
    size_t dl;
    memset(out, 0, sizeof *out);
    if (n < CN__RPC_REQ_HEAD_BYTES || p[8] == 0 || p[8] >= CN_RPC_METHOD_MAX || p[9] > 1)
        return CN_EMALFORMED;
    dl = p[10];
    if (dl >= sizeof out->dc || dl > n - CN__RPC_REQ_HEAD_BYTES ||
        memchr(p + CN__RPC_REQ_HEAD_BYTES, 0, dl))
        return CN_EMALFORMED;
    out->id = cn__rpc_get_be(p, 8);
    out->method = (enum cn_rpc_method)p[8];
    out->forwarded = p[9] != 0;
    memcpy(out->dc, p + CN__RPC_REQ_HEAD_BYTES, dl);
    out->args = p + CN__RPC_REQ_HEAD_BYTES + dl;
    out->args_len = n - CN__RPC_REQ_HEAD_BYTES - dl;
    return 0;
}

int cn__rpc_resp_decode(const uint8_t *p, size_t n, struct cn__rpc_resp *out)
{
    memset(out, 0, sizeof *out);
    if (n < CN__RPC_RESP_HEAD_BYTES)
        return CN_EMALFORMED;
    out->has_key = true;
    memcpy(out->key, p, 8);
    out->rc = (int32_t)(uint32_t)cn__rpc_get_be(p + 8, 4);
    out->meta.index = cn__rpc_get_be(p + 12, 8);
    out->meta.last_contact_ms = cn__rpc_get_be(p + 20, 8);
    out->meta.known_leader = p[28] != 0;
    out->meta.consistency = p[29] <= CN_CONSISTENCY_CONSISTENT ? (enum cn_consistency)p[29]
                                                               : CN_CONSISTENCY_DEFAULT;
    out->errmsg_len = (size_t)cn__rpc_get_be(p + 30, 2);
    if (out->errmsg_len > n - CN__RPC_RESP_HEAD_BYTES || out->errmsg_len >= CN_ERRMSG_MAX ||
        out->rc > 0)
        return CN_EMALFORMED;
    out->errmsg = (const char *)p + CN__RPC_RESP_HEAD_BYTES;
    out->reply = p + CN__RPC_RESP_HEAD_BYTES + out->errmsg_len;
    out->reply_len = n - CN__RPC_RESP_HEAD_BYTES - out->errmsg_len;
    return 0;
}
