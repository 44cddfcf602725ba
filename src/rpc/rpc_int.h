/* rpc/rpc_int.h - shared by src/rpc only: the transport's pure frame
 * reader and the RPC frame body codecs (rpc/frame.c). No libuv here: the
 * transport feeds the reader what a socket read returned, and the fuzz
 * target (rpc/fuzz_frame.c) feeds it arbitrary bytes in arbitrary chunks.
 */
#ifndef CN_RPC_INT_H
#define CN_RPC_INT_H

#include "rpc.h"

/* [u32 length, big-endian][u8 tag]; length counts tag + payload. */
#define CN__RPC_HDR_BYTES 5
/* Fixed head of an RPC_REQ payload: [u64 id][u8 method]. */
/* id(8) method(1) forwarded(1) dc_len(1), then dc_len bytes of datacenter. */
#define CN__RPC_REQ_HEAD_BYTES 11
/* Fixed head of an RPC_RESP payload: [u64 id][i32 rc][u64 index]
 * [u64 last contact ms][u8 known leader][u8 consistency][u16 errmsg len]. */
#define CN__RPC_RESP_HEAD_BYTES 32

/* Reassembles frames from a byte stream. The payload buffer grows only as
 * payload bytes arrive (never from the declared length), and the declared
 * length is checked against CN_FRAME_BYTES_MAX before anything else. */
struct cn__rpc_reader {
    uint8_t hdr[CN__RPC_HDR_BYTES];
    size_t hdr_got;
    uint32_t frame_len;         /* Tag + payload, once hdr_got == 5. */
    struct cn_buf frame;        /* Payload so far. */
};

void cn__rpc_reader_init(struct cn__rpc_reader *r);
void cn__rpc_reader_close(struct cn__rpc_reader *r);
/* Consumes p[0..n) up to the end of at most one frame; *used = bytes taken.
 *   1  a frame is complete: cn__rpc_reader_tag() and r->frame hold it
 *      until cn__rpc_reader_next();
 *   0  all n bytes taken, no frame complete yet;
 *   CN_EMALFORMED  declared length 0 or > CN_FRAME_BYTES_MAX (checked
 *      before a byte is allocated);
 *   -EMSGSIZE / -ENOMEM  the payload could not be buffered.
 * After an error the stream is unusable: close it. */
int cn__rpc_reader_feed(struct cn__rpc_reader *r, const uint8_t *p, size_t n, size_t *used);
static inline uint8_t cn__rpc_reader_tag(const struct cn__rpc_reader *r) { return r->hdr[4]; }
/* Forgets the delivered frame (frees a big one's memory); expects a header. */
void cn__rpc_reader_next(struct cn__rpc_reader *r);

/* An RPC_REQ payload; args borrowed from it. */
struct cn__rpc_req {
    uint64_t id;
    enum cn_rpc_method method;
    bool forwarded;
    char dc[64];                /* "" = the receiver's own. */
    const uint8_t *args;
    size_t args_len;
};
/* 0, or CN_EMALFORMED (too short, method 0 or unknown, a bad flag, a
 * datacenter too long or holding a NUL). */
int cn__rpc_req_decode(const uint8_t *p, size_t n, struct cn__rpc_req *out);

/* An RPC_RESP payload; errmsg and reply borrowed from it. */
struct cn__rpc_resp {
    bool has_key;               /* The fixed head was there: key is set. */
    uint8_t key[8];             /* Call id as on the wire (big-endian). */
    int32_t rc;
    struct cn_query_meta meta;
    const char *errmsg;         /* Not NUL-terminated. */
    size_t errmsg_len;          /* < CN_ERRMSG_MAX when decoding succeeded. */
    const uint8_t *reply;
    size_t reply_len;
};
/* 0, or CN_EMALFORMED: shorter than the fixed head (has_key false), or
 * errmsg longer than the frame or than CN_ERRMSG_MAX - 1, or rc > 0
 * (has_key true: the caller can fail that call). */
int cn__rpc_resp_decode(const uint8_t *p, size_t n, struct cn__rpc_resp *out);

/* Big-endian integers of n bytes (n <= 8). */
void cn__rpc_put_be(uint8_t *p, uint64_t v, int n);
uint64_t cn__rpc_get_be(const uint8_t *p, int n);

#endif
