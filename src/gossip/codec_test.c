/* gossip/codec_test.c - wire codec: Go LZW vectors, captured serf packets
 * (gossip-notes.md 5), golden encodings, compound/CRC edge cases, tags. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gossip_int.h"

static size_t read_file(const char *name, uint8_t *buf, size_t cap)
{
    char path[512];
    FILE *f;
    size_t n;
    snprintf(path, sizeof path, "%s/lzw/%s", CN_GOSSIP_TESTDATA, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Decode Go's output, check length and CRC of the input, then re-encode
 * and require Go's bytes exactly (width growth and table resets). */
static void test_lzw_go_vectors(void **state)
{
    static const struct { const char *name; size_t len; uint32_t crc; } v[] = {
        { "v0.lzw", 0, 0x00000000 },    { "v1.lzw", 1, 0xe8b7be43 },
        { "v2.lzw", 25, 0xbaf2613b },   { "v3.lzw", 6000, 0x3e149ee5 },
        { "v4.lzw", 6000, 0xc1869bec }, { "v5.lzw", 40000, 0xa313dd52 },
        { "v6.lzw", 70000, 0xa6a9c8dc },
    };
    static uint8_t z[64 << 10];
    struct cn__lzw_ws ws;
    (void)state;
    assert_int_equal(cn__lzw_ws_init(&ws), 0);
    for (size_t i = 0; i < CN_ARRAY_LEN(v); i++) {
        size_t zn = read_file(v[i].name, z, sizeof z);
        struct cn_buf out, re;
        cn_buf_init(&out, 1 << 20);
        cn_buf_init(&re, 1 << 20);
        assert_int_equal(cn__lzw_decode(z, zn, &out), 0);
        assert_int_equal(out.len, v[i].len);
        assert_int_equal(cn_crc32_ieee(0, out.data, out.len), v[i].crc);
        assert_int_equal(cn__lzw_encode(&ws, out.data, out.len, &re), 0);
        assert_int_equal(re.len, zn);
        assert_memory_equal(re.data, z, zn);
        /* Truncated streams (no end code) are errors, as in Go. */
        if (zn > 2) {
            cn_buf_reset(&out);
            assert_int_equal(cn__lzw_decode(z, zn - 2, &out), CN_EMALFORMED);
        }
        cn_buf_close(&out);
        cn_buf_close(&re);
    }
    cn__lzw_ws_close(&ws);
}

static void test_lzw_bounds(void **state)
{
    static const uint8_t bad[] = { 0xff, 0xff, 0xff, 0xff };  /* code 511 > hi */
    uint8_t zeros[4096] = { 0 };
    struct cn__lzw_ws ws;
    struct cn_buf z, out;
    (void)state;
    cn_buf_init(&out, 100);
    assert_int_equal(cn__lzw_decode(bad, sizeof bad, &out), CN_EMALFORMED);
    assert_int_equal(cn__lzw_ws_init(&ws), 0);
    cn_buf_init(&z, 1 << 16);
    assert_int_equal(cn__lzw_encode(&ws, zeros, sizeof zeros, &z), 0);
    cn_buf_reset(&out);
    /* Output past the buffer's max is refused, not truncated. */
    assert_int_equal(cn__lzw_decode(z.data, z.len, &out), -EMSGSIZE);
    cn_buf_close(&z);
    cn_buf_close(&out);
    cn__lzw_ws_close(&ws);
}

/* gossip-notes.md 5.1: a ping from serf 0.9.4. */
static const uint8_t ping_pkt[] = {
    0x00, 0x85, 0xa4, 0x4e, 0x6f, 0x64, 0x65, 0xa6, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x61, 0xa5,
    0x53, 0x65, 0x71, 0x4e, 0x6f, 0x01, 0xaa, 0x53, 0x6f, 0x75, 0x72, 0x63, 0x65, 0x41, 0x64,
    0x64, 0x72, 0xa4, 0x7f, 0x00, 0x00, 0x01, 0xaa, 0x53, 0x6f, 0x75, 0x72, 0x63, 0x65, 0x4e,
    0x6f, 0x64, 0x65, 0xa6, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x62, 0xaa, 0x53, 0x6f, 0x75, 0x72,
    0x63, 0x65, 0x50, 0x6f, 0x72, 0x74, 0xcd, 0x1f, 0x0b,
};

static void test_ping_capture_roundtrip(void **state)
{
    struct cn_mp_reader r;
    struct cn__gm_ping p;
    struct cn_buf b;
    struct cn_mp_writer w;
    (void)state;
    cn_mp_reader_init(&r, ping_pkt + 1, sizeof ping_pkt - 1);
    assert_int_equal(cn__gm_read_ping(&r, &p), 0);
    assert_int_equal(p.seq, 1);
    assert_int_equal(p.src_port, 7947);
    assert_int_equal(p.node.len, 6);
    assert_memory_equal(p.node.p, "node-a", 6);
    assert_memory_equal(p.src_node.p, "node-b", 6);
    assert_memory_equal(p.src_addr.p, "\x7f\x00\x00\x01", 4);
    /* Our encoder produces Go's exact bytes (sorted keys, raw strings). */
    cn_buf_init(&b, 1400);
    cn__gm_writer(&w, &b);
    cn__gm_put_ping(&w, &p);
    assert_int_equal(w.err, 0);
    assert_int_equal(b.len, sizeof ping_pkt);
    assert_memory_equal(b.data, ping_pkt, sizeof ping_pkt);
    cn_buf_close(&b);
}

/* gossip-notes.md 5.4: a user event with a CRC header, and the leave. */
static void test_user_event_capture(void **state)
{
    static const uint8_t pkt[] = {
        0x0c, 0xdb, 0x2c, 0x8b, 0xec, 0x08, 0x03, 0x84, 0xa2, 'C',  'C',  0xc3, 0xa5, 'L',
        'T',  'i',  'm',  'e',  0x01, 0xa4, 'N',  'a',  'm',  'e',  0xa6, 'd',  'e',  'p',
        'l',  'o',  'y',  0xa7, 'P',  'a',  'y',  'l',  'o',  'a',  'd',  0xa3, 'v',  '4',
        '2',
    };
    struct cn__gstr in;
    struct cn_mp_reader r;
    struct cn__sm_event e;
    struct cn_buf b;
    struct cn_mp_writer w;
    uint8_t bad[sizeof pkt];
    (void)state;
    assert_int_equal(cn__gm_crc_unwrap(pkt, sizeof pkt, &in), 0);
    assert_int_equal(in.p[0], CN__GM_USER);
    assert_int_equal(in.p[1], CN__SM_EVENT);
    cn_mp_reader_init(&r, in.p + 2, in.len - 2);
    assert_int_equal(cn__sm_read_event(&r, &e), 0);
    assert_int_equal(e.ltime, 1);
    assert_true(e.cc);
    assert_memory_equal(e.name.p, "deploy", 6);
    assert_memory_equal(e.payload.p, "v42", 3);
    cn_buf_init(&b, 1400);
    cn__gm_writer(&w, &b);
    cn__sm_put_event(&w, &e);
    assert_int_equal(b.len, in.len);
    assert_memory_equal(b.data, in.p, in.len);
    cn_buf_reset(&b);
    assert_int_equal(cn__gm_crc_wrap(&b, in.p, in.len), 0);
    assert_memory_equal(b.data, pkt, sizeof pkt);
    memcpy(bad, pkt, sizeof pkt);
    bad[sizeof bad - 1] ^= 1;
    assert_int_equal(cn__gm_crc_unwrap(bad, sizeof bad, &in), CN_ECORRUPT);
    cn_buf_close(&b);
}

static void test_compound(void **state)
{
    struct cn__gstr parts[CN_GOSSIP_COMPOUND_PARTS_MAX], out[CN_GOSSIP_COMPOUND_PARTS_MAX];
    struct cn_buf b;
    size_t n;
    bool trunc;
    (void)state;
    parts[0] = (struct cn__gstr){ (const uint8_t *)"abc", 3 };
    parts[1] = (struct cn__gstr){ (const uint8_t *)"", 0 };
    parts[2] = (struct cn__gstr){ (const uint8_t *)"hello", 5 };
    cn_buf_init(&b, 1400);
    assert_int_equal(cn__gm_compound_build(&b, parts, 3), 0);
    assert_int_equal(b.data[0], CN__GM_COMPOUND);
    assert_int_equal(cn__gm_compound_split(b.data + 1, b.len - 1, out, CN_ARRAY_LEN(out), &n,
                                           &trunc), 0);
    assert_int_equal(n, 3);
    assert_false(trunc);
    assert_memory_equal(out[2].p, "hello", 5);
    /* Cut the last part short: the first two survive (memberlist). */
    assert_int_equal(cn__gm_compound_split(b.data + 1, b.len - 3, out, CN_ARRAY_LEN(out), &n,
                                           &trunc), 0);
    assert_int_equal(n, 2);
    assert_true(trunc);
    /* A header promising more lengths than bytes is malformed. */
    assert_int_equal(cn__gm_compound_split((const uint8_t *)"\x05\x00", 2, out,
                                           CN_ARRAY_LEN(out), &n, &trunc), CN_EMALFORMED);
    cn_buf_close(&b);
}

static void test_compress_roundtrip(void **state)
{
    struct cn__lzw_ws ws;
    struct cn_buf z, out;
    uint8_t msg[300];
    (void)state;
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i % 7);
    assert_int_equal(cn__lzw_ws_init(&ws), 0);
    cn_buf_init(&z, 1400);
    cn_buf_init(&out, 1400);
    assert_int_equal(cn__gm_compress(&ws, msg, sizeof msg, &z), 0);
    assert_int_equal(z.data[0], CN__GM_COMPRESS);
    assert_int_equal(cn__gm_decompress(z.data + 1, z.len - 1, &out), 0);
    assert_int_equal(out.len, sizeof msg);
    assert_memory_equal(out.data, msg, sizeof msg);
    cn_buf_close(&z);
    cn_buf_close(&out);
    cn__lzw_ws_close(&ws);
}

static void test_tags(void **state)
{
    static const struct cn_gossip_tag in[] = { { "role", "node" }, { "dc", "dc1" } };
    struct cn_gossip_tag *t;
    size_t n;
    struct cn_buf b;
    (void)state;
    cn_buf_init(&b, CN_GOSSIP_META_BYTES_MAX);
    assert_int_equal(cn__gossip_tags_encode(in, 2, &b), 0);
    /* 0xff magic, map of 2, keys sorted: dc before role. */
    assert_int_equal(b.data[0], 0xff);
    assert_int_equal(b.data[1], 0x82);
    assert_memory_equal(b.data + 2, "\xa2" "dc", 3);
    assert_int_equal(cn__gossip_tags_decode(b.data, b.len, &t, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].key, "dc");
    assert_string_equal(t[1].value, "node");
    cn_free(t);
    /* Legacy meta: the whole thing is the role. */
    assert_int_equal(cn__gossip_tags_decode((const uint8_t *)"web", 3, &t, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(t[0].key, "role");
    assert_string_equal(t[0].value, "web");
    cn_free(t);
    /* Truncated map, duplicate keys, oversize: refused. */
    assert_int_equal(cn__gossip_tags_decode((const uint8_t *)"\xff\x81\xa1", 3, &t, &n),
                     CN_EMALFORMED);
    struct cn_gossip_tag dup[] = { { "a", "1" }, { "a", "2" } };
    cn_buf_reset(&b);
    assert_int_equal(cn__gossip_tags_encode(dup, 2, &b), -EINVAL);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct cn_gossip_tag large[] = { { "k", big } };
    cn_buf_reset(&b);
    assert_true(cn__gossip_tags_encode(large, 1, &b) < 0);
    cn_buf_close(&b);
}

static void test_stream_framing(void **state)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    struct cn__gm_pp_header h = { .nodes = 0, .user_len = 3, .join = true };
    size_t n;
    (void)state;
    cn_buf_init(&b, 1400);
    cn__gm_writer(&w, &b);
    cn__gm_put_pp_header(&w, &h);
    cn_mp_put_raw(&w, "abc", 3);
    for (size_t cut = 0; cut < b.len; cut++)
        assert_int_equal(cn__gm_stream_complete(b.data, cut, &n), 0);
    assert_int_equal(cn__gm_stream_complete(b.data, b.len, &n), 1);
    assert_int_equal(n, b.len);
    /* Encrypted frame: length known from the 5-byte header. */
    assert_int_equal(cn__gm_stream_complete((const uint8_t *)"\x0a\x00\x00\x00\x02xy", 7, &n), 1);
    assert_int_equal(n, 7);
    assert_int_equal(cn__gm_stream_complete((const uint8_t *)"\x0a\x7f\x00\x00\x00", 5, &n),
                     CN_EMALFORMED);
    assert_int_equal(cn__gm_stream_complete((const uint8_t *)"\x63", 1, &n), CN_EMALFORMED);
    cn_buf_close(&b);
}

static void test_reader_rejects_bad_types(void **state)
{
    /* SeqNo as a string, and a negative Incarnation. */
    static const uint8_t bad1[] = { 0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xa1, 'x' };
    static const uint8_t bad2[] = { 0x81, 0xab, 'I', 'n', 'c', 'a', 'r', 'n', 'a', 't', 'i',
                                    'o', 'n', 0xff };
    /* go-msgpack v2 writes a signed 16-bit 300 as 0xd1: accepted. */
    static const uint8_t v2[] = { 0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xd1, 0x01, 0x2c };
    struct cn_mp_reader r;
    struct cn__gm_ack a;
    struct cn__gm_accuse s;
    (void)state;
    cn_mp_reader_init(&r, bad1, sizeof bad1);
    assert_int_equal(cn__gm_read_ack(&r, &a), CN_EMALFORMED);
    cn_mp_reader_init(&r, bad2, sizeof bad2);
    assert_int_equal(cn__gm_read_accuse(&r, &s), CN_EMALFORMED);
    cn_mp_reader_init(&r, v2, sizeof v2);
    assert_int_equal(cn__gm_read_ack(&r, &a), 0);
    assert_int_equal(a.seq, 300);
}

/* ---- serf queries ---- */

static void test_query_roundtrip(void **state)
{
    static const uint8_t ip[4] = { 127, 0, 0, 1 };
    const char *names[] = { "a", "bb" };
    struct cn__sm_query q = { .ltime = 77, .id = 0x7fffffff, .flags = 3, .port = 8301,
                              .relay = 2, .timeout_ns = -1 };
    struct cn__sm_query back;
    struct cn_buf b, fb;
    struct cn_mp_writer w;
    struct cn_mp_reader r;
    struct cn__gstr tag, expr;
    size_t off;
    bool match;
    (void)state;
    cn_buf_init(&fb, 4096);
    assert_int_equal(cn__sm_filter_nodes_encode(&fb, names, 2), 0);
    off = fb.len;
    assert_int_equal(cn__sm_filter_tag_encode(&fb, "role", "^web"), 0);
    q.filters[0] = (struct cn__gstr){ fb.data, (uint32_t)off };
    q.filters[1] = (struct cn__gstr){ fb.data + off, (uint32_t)(fb.len - off) };
    q.n_filters = 2;
    q.addr = (struct cn__gstr){ ip, 4 };
    q.src_node = (struct cn__gstr){ (const uint8_t *)"me", 2 };
    q.name = (struct cn__gstr){ (const uint8_t *)"deploy", 6 };
    q.payload = (struct cn__gstr){ (const uint8_t *)"v1", 2 };
    q.timeout_ns = 3200000000;
    cn_buf_init(&b, 4096);
    cn__gm_writer(&w, &b);
    cn__sm_put_query(&w, &q);
    assert_int_equal(w.err, 0);
    assert_int_equal(b.data[0], CN__GM_USER);
    assert_int_equal(b.data[1], CN__SM_QUERY);
    cn_mp_reader_init(&r, b.data + 2, b.len - 2);
    assert_int_equal(cn__sm_read_query(&r, &back), 0);
    assert_int_equal(cn_mp_left(&r), 0);
    assert_int_equal(back.ltime, 77);
    assert_int_equal(back.id, 0x7fffffff);
    assert_int_equal(back.flags, 3);
    assert_int_equal(back.port, 8301);
    assert_int_equal(back.relay, 2);
    assert_int_equal(back.timeout_ns, 3200000000);
    assert_int_equal(back.n_filters, 2);
    assert_false(back.filters_over);
    assert_memory_equal(back.addr.p, ip, 4);
    assert_memory_equal(back.name.p, "deploy", 6);
    assert_memory_equal(back.payload.p, "v1", 2);
    assert_memory_equal(back.src_node.p, "me", 2);
    assert_int_equal(cn__sm_filter_nodes_match(&back.filters[0], "bb", 2, &match), 0);
    assert_true(match);
    assert_int_equal(cn__sm_filter_nodes_match(&back.filters[0], "b", 1, &match), 0);
    assert_false(match);
    assert_int_equal(cn__sm_filter_tag_read(&back.filters[1], &tag, &expr), 0);
    assert_memory_equal(tag.p, "role", 4);
    assert_memory_equal(expr.p, "^web", 4);
    /* Wrong filter kinds are refused; unknown types are -ENOTSUP. */
    assert_int_equal(cn__sm_filter_nodes_match(&back.filters[1], "a", 1, &match), CN_EMALFORMED);
    {
        static const uint8_t odd[] = { 9, 0x90 };
        const struct cn__gstr f = { odd, 2 };
        assert_int_equal(cn__sm_filter_tag_read(&f, &tag, &expr), -ENOTSUP);
        assert_int_equal(cn__sm_filter_nodes_match(&f, "a", 1, &match), -ENOTSUP);
    }
    cn_buf_close(&b);
    cn_buf_close(&fb);
}

static void test_qresp_and_keyring_payloads(void **state)
{
    struct cn__sm_qresp q = { .ltime = 5, .id = 9, .flags = 1,
                              .from = { (const uint8_t *)"n1", 2 } }, back;
    struct cn__sm_keyresp k = { .result = true }, kb;
    struct cn__gstr key;
    struct cn_buf b;
    struct cn_mp_writer w;
    struct cn_mp_reader r;
    static const char *const keys[] = { "Y2Fpcm4tdGVzdC1rZXkxNg==", "c2Vjb25kLWtleS0xNmJ5dA==" };
    (void)state;
    cn_buf_init(&b, 4096);
    cn__gm_writer(&w, &b);
    cn__sm_put_qresp(&w, &q);
    assert_int_equal(w.err, 0);
    cn_mp_reader_init(&r, b.data + 2, b.len - 2);
    assert_int_equal(cn__sm_read_qresp(&r, &back), 0);
    assert_int_equal(back.ltime, 5);
    assert_int_equal(back.id, 9);
    assert_int_equal(back.flags, 1);
    assert_int_equal(back.payload.len, 0);
    assert_memory_equal(back.from.p, "n1", 2);
    /* nodeKeyResponse */
    cn_buf_reset(&b);
    k.n_keys = 2;
    for (int i = 0; i < 2; i++)
        k.keys[i] = (struct cn__gstr){ (const uint8_t *)keys[i], 24 };
    k.primary = k.keys[0];
    k.message = (struct cn__gstr){ (const uint8_t *)"m", 1 };
    assert_int_equal(cn__sm_keyresp_encode(&b, &k), 0);
    assert_int_equal(b.data[0], CN__SM_KEYRESP);
    assert_int_equal(cn__sm_keyresp_decode(b.data, b.len, &kb), 0);
    assert_true(kb.result);
    assert_int_equal(kb.n_keys, 2);
    assert_memory_equal(kb.keys[1].p, keys[1], 24);
    assert_memory_equal(kb.primary.p, keys[0], 24);
    assert_memory_equal(kb.message.p, "m", 1);
    /* Truncated, wrong type byte: refused. */
    assert_int_equal(cn__sm_keyresp_decode(b.data, b.len - 3, &kb), CN_EMALFORMED);
    b.data[0] = CN__SM_KEYREQ;
    assert_int_equal(cn__sm_keyresp_decode(b.data, b.len, &kb), CN_EMALFORMED);
    /* keyRequest */
    cn_buf_reset(&b);
    assert_int_equal(cn__sm_keyreq_encode(&b, (const uint8_t *)"0123456789abcdef", 16), 0);
    assert_int_equal(cn__sm_keyreq_decode(b.data, b.len, &key), 0);
    assert_int_equal(key.len, 16);
    assert_memory_equal(key.p, "0123456789abcdef", 16);
    assert_int_equal(cn__sm_keyreq_decode(b.data, b.len - 1, &key), CN_EMALFORMED);
    assert_int_equal(cn__sm_keyreq_decode(b.data + 1, b.len - 1, &key), CN_EMALFORMED);
    cn_buf_reset(&b);
    assert_int_equal(cn__sm_keyreq_encode(&b, NULL, 0), 0);  /* list-keys: Key nil */
    assert_int_equal(cn__sm_keyreq_decode(b.data, b.len, &key), 0);
    assert_int_equal(key.len, 0);
    cn_buf_close(&b);
}

static void test_query_reader_rejects(void **state)
{
    /* Port > 65535, RelayFactor > 255, Filters as a map, Timeout as a
     * string, more filters than we keep (accepted, flagged). */
    static const uint8_t bad[][16] = {
        { 0x81, 0xa4, 'P', 'o', 'r', 't', 0xce, 0, 1, 0, 0 },
        { 0x81, 0xab, 'R', 'e', 'l', 'a', 'y', 'F', 'a', 'c', 't', 'o', 'r', 0xcd, 1, 0 },
        { 0x81, 0xa7, 'F', 'i', 'l', 't', 'e', 'r', 's', 0x80 },
        { 0x81, 0xa7, 'T', 'i', 'm', 'e', 'o', 'u', 't', 0xa1, 'x' },
    };
    static const uint8_t bad_keys[] = { 0x81, 0xa4, 'K', 'e', 'y', 's', 0xdc, 0x00, 0x41 };
    uint8_t many[64] = { 0x81, 0xa7, 'F', 'i', 'l', 't', 'e', 'r', 's', 0x90 | 15 };
    uint8_t kr[sizeof bad_keys + 1] = { CN__SM_KEYRESP };
    struct cn_mp_reader r;
    struct cn__sm_query q;
    struct cn__sm_keyresp k;
    (void)state;
    for (size_t i = 0; i < CN_ARRAY_LEN(bad); i++) {
        cn_mp_reader_init(&r, bad[i], sizeof bad[i]);
        if (cn__sm_read_query(&r, &q) != CN_EMALFORMED)
            fail_msg("bad query #%zu accepted", i);
    }
    for (int i = 0; i < 15; i++)
        many[10 + 2 * i] = 0xa1, many[11 + 2 * i] = 0;
    many[0] = 0x81;
    /* 15 filters of one byte each: fits (limit 16). */
    cn_mp_reader_init(&r, many, 10 + 30);
    assert_int_equal(cn__sm_read_query(&r, &q), 0);
    assert_int_equal(q.n_filters, 15);
    assert_false(q.filters_over);
    memcpy(kr + 1, bad_keys, sizeof bad_keys);  /* 65 keys announced */
    assert_int_equal(cn__sm_keyresp_decode(kr, sizeof kr, &k), CN_EMALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lzw_go_vectors),      cmocka_unit_test(test_lzw_bounds),
        cmocka_unit_test(test_ping_capture_roundtrip), cmocka_unit_test(test_user_event_capture),
        cmocka_unit_test(test_compound),            cmocka_unit_test(test_compress_roundtrip),
        cmocka_unit_test(test_tags),                cmocka_unit_test(test_stream_framing),
        cmocka_unit_test(test_reader_rejects_bad_types),
        cmocka_unit_test(test_query_roundtrip),
        cmocka_unit_test(test_qresp_and_keyring_payloads),
        cmocka_unit_test(test_query_reader_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
