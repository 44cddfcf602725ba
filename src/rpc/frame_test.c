/* rpc/frame_test.c - the pure frame reader and RPC frame body decoders. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rpc_int.h"

/* [len][tag][payload] into out; returns the frame's size. */
static size_t frame(uint8_t *out, uint8_t tag, const void *payload, size_t n)
{
    cn__rpc_put_be(out, n + 1, 4);
    out[4] = tag;
    memcpy(out + 5, payload, n);
    return n + 5;
}

static void test_frames_split_anywhere(void **state)
{
    uint8_t stream[64];
    size_t len = frame(stream, CN_FRAME_RAFT, "hello", 5);
    len += frame(stream + len, CN_FRAME_RPC_REQ, "", 0); /* Tag only. */
    len += frame(stream + len, CN_FRAME_RAFT, "world!", 6);
    (void)state;
    /* Every split point of the stream into two reads gives the same frames. */
    for (size_t cut = 0; cut <= len; cut++) {
        struct cn__rpc_reader rd;
        const char *want[] = {"hello", "", "world!"};
        uint8_t tags[] = {CN_FRAME_RAFT, CN_FRAME_RPC_REQ, CN_FRAME_RAFT};
        size_t got = 0, pos = 0, used;
        cn__rpc_reader_init(&rd);
        while (pos < len) {
            size_t end = pos < cut ? cut : len;
            int rc = cn__rpc_reader_feed(&rd, stream + pos, end - pos, &used);
            assert_true(rc == 0 || rc == 1);
            pos += used;
            if (rc == 1) {
                assert_true(got < 3);
                assert_int_equal(cn__rpc_reader_tag(&rd), tags[got]);
                assert_int_equal(rd.frame.len, strlen(want[got]));
                assert_memory_equal(rd.frame.data ? (const char *)rd.frame.data : "", want[got],
                                    rd.frame.len);
                got++;
                cn__rpc_reader_next(&rd);
            } else {
                assert_int_equal(pos, end);
            }
        }
        assert_int_equal(got, 3);
        cn__rpc_reader_close(&rd);
    }
}

static void test_bad_lengths_allocate_nothing(void **state)
{
    struct cn__rpc_reader rd;
    uint8_t hdr[5] = {0};
    size_t used;
    (void)state;
    cn__rpc_reader_init(&rd);
    cn__rpc_put_be(hdr, (uint64_t)CN_FRAME_BYTES_MAX + 1, 4);
    hdr[4] = CN_FRAME_RAFT;
    assert_int_equal(cn__rpc_reader_feed(&rd, hdr, 5, &used), CN_EMALFORMED);
    assert_int_equal(rd.frame.cap, 0);
    cn__rpc_reader_close(&rd);

    cn__rpc_reader_init(&rd);
    memset(hdr, 0, sizeof hdr);          /* Length 0: not even a tag. */
    assert_int_equal(cn__rpc_reader_feed(&rd, hdr, 5, &used), CN_EMALFORMED);
    cn__rpc_reader_close(&rd);

    /* The largest allowed length is accepted, and memory follows the
     * bytes that arrive, not the declaration. */
    cn__rpc_reader_init(&rd);
    cn__rpc_put_be(hdr, CN_FRAME_BYTES_MAX, 4);
    hdr[4] = CN_FRAME_RAFT;
    assert_int_equal(cn__rpc_reader_feed(&rd, hdr, 5, &used), 0);
    assert_int_equal(cn__rpc_reader_feed(&rd, (const uint8_t *)"abc", 3, &used), 0);
    assert_true(rd.frame.cap <= 64);
    cn__rpc_reader_close(&rd);
}

static void test_request_decode(void **state)
{
    uint8_t p[24];
    struct cn__rpc_req r;
    (void)state;
    cn__rpc_put_be(p, 0x0102030405060708u, 8);
    p[8] = CN_RPC_KVS_GET;
    p[9] = 1;
    p[10] = 3;
    memcpy(p + 11, "dc2", 3);
    memcpy(p + 14, "args", 4);
    assert_int_equal(cn__rpc_req_decode(p, 18, &r), 0);
    assert_true(r.id == 0x0102030405060708u);
    assert_int_equal(r.method, CN_RPC_KVS_GET);
    assert_true(r.forwarded);
    assert_string_equal(r.dc, "dc2");
    assert_int_equal(r.args_len, 4);
    assert_ptr_equal(r.args, p + 14);
    assert_int_equal(cn__rpc_req_decode(p, 8, &r), CN_EMALFORMED);
    assert_int_equal(cn__rpc_req_decode(p, 13, &r), CN_EMALFORMED); /* dc cut short */
    p[12] = 0;
    assert_int_equal(cn__rpc_req_decode(p, 18, &r), CN_EMALFORMED); /* NUL in dc */
    p[12] = 'c';
    p[9] = 2;
    assert_int_equal(cn__rpc_req_decode(p, 18, &r), CN_EMALFORMED);
    p[9] = 0;
    p[8] = 0;
    assert_int_equal(cn__rpc_req_decode(p, 18, &r), CN_EMALFORMED);
    p[8] = CN_RPC_METHOD_MAX;
    assert_int_equal(cn__rpc_req_decode(p, 18, &r), CN_EMALFORMED);
}

static void test_response_decode(void **state)
{
    uint8_t p[64] = {0};
    struct cn__rpc_resp r;
    (void)state;
    cn__rpc_put_be(p, 9, 8);
    cn__rpc_put_be(p + 8, (uint32_t)CN_ENOLEADER, 4);
    cn__rpc_put_be(p + 12, 42, 8);
    cn__rpc_put_be(p + 20, 7, 8);
    p[28] = 1;
    p[29] = 9;                           /* Unknown consistency -> default. */
    cn__rpc_put_be(p + 30, 3, 2);
    memcpy(p + 32, "errREPLY", 8);
    assert_int_equal(cn__rpc_resp_decode(p, 40, &r), 0);
    assert_int_equal(r.rc, CN_ENOLEADER);
    assert_true(r.meta.index == 42 && r.meta.last_contact_ms == 7 && r.meta.known_leader);
    assert_int_equal(r.meta.consistency, CN_CONSISTENCY_DEFAULT);
    assert_int_equal(r.errmsg_len, 3);
    assert_memory_equal(r.errmsg, "err", 3);
    assert_int_equal(r.reply_len, 5);
    assert_memory_equal(r.reply, "REPLY", 5);
    /* errmsg longer than the frame: malformed, but the id is known. */
    cn__rpc_put_be(p + 30, 9, 2);
    assert_int_equal(cn__rpc_resp_decode(p, 40, &r), CN_EMALFORMED);
    assert_true(r.has_key);
    cn__rpc_put_be(p + 30, 0, 2);
    cn__rpc_put_be(p + 8, 1, 4);         /* rc > 0 */
    assert_int_equal(cn__rpc_resp_decode(p, 40, &r), CN_EMALFORMED);
    assert_int_equal(cn__rpc_resp_decode(p, 31, &r), CN_EMALFORMED);
    assert_false(r.has_key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_split_anywhere),
        cmocka_unit_test(test_bad_lengths_allocate_nothing),
        cmocka_unit_test(test_request_decode),
        cmocka_unit_test(test_response_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
