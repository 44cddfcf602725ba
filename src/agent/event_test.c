/* agent/event_test.c - the user event's gossip payload (event.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "local.h"

/* {"ID":"x","n":"deploy","p":<bin "hi">,"nf":"web","v":1} as Consul's
 * codec writes it (struct order; []byte as bin; omitempty fields gone). */
static const uint8_t consul_bytes[] = {
    0x85, 0xa2, 'I', 'D', 0xa1, 'x', 0xa1, 'n', 0xa6, 'd', 'e', 'p', 'l', 'o', 'y',
    0xa1, 'p', 0xc4, 0x02, 'h', 'i', 0xa2, 'n', 'f', 0xa3, 'w', 'e', 'b', 0xa1, 'v', 0x01,
};

static void test_decode_consul(void **state)
{
    struct cn_user_event ev;
    char *mem;
    (void)state;
    assert_int_equal(cn__event_decode(consul_bytes, sizeof consul_bytes, &ev, &mem), 0);
    assert_string_equal(ev.id, "x");
    assert_string_equal(ev.name, "deploy");
    assert_int_equal(ev.payload_len, 2);
    assert_memory_equal(ev.payload, "hi", 2);
    assert_string_equal(ev.node_filter, "web");
    assert_string_equal(ev.service_filter, "");
    assert_string_equal(ev.tag_filter, "");
    assert_int_equal(ev.version, 1);
    cn_free(mem);
}

static void test_encode_matches_consul(void **state)
{
    struct cn_user_event ev = {.id = "x", .name = "deploy", .payload = (const uint8_t *)"hi",
                               .payload_len = 2, .node_filter = "web", .version = 1};
    struct cn_buf b;
    (void)state;
    cn_buf_init(&b, 4096);
    assert_int_equal(cn__event_encode(&ev, &b), 0);
    assert_int_equal(b.len, sizeof consul_bytes);
    assert_memory_equal(b.data, consul_bytes, sizeof consul_bytes);
    cn_buf_close(&b);
}

static void test_decode_rejects(void **state)
{
    struct cn_user_event ev;
    char *mem;
    uint8_t buf[sizeof consul_bytes];
    (void)state;
    /* Every truncation fails cleanly. */
    for (size_t n = 0; n < sizeof consul_bytes; n++) {
        assert_int_equal(cn__event_decode(consul_bytes, n, &ev, &mem), CN_EMALFORMED);
        assert_null(mem);
    }
    /* No name. */
    static const uint8_t noname[] = {0x81, 0xa1, 'v', 0x01};
    assert_int_equal(cn__event_decode(noname, sizeof noname, &ev, &mem), CN_EMALFORMED);
    /* A name with a NUL in it. */
    memcpy(buf, consul_bytes, sizeof buf);
    buf[10] = 0;
    assert_int_equal(cn__event_decode(buf, sizeof buf, &ev, &mem), CN_EMALFORMED);
    /* Not a map; an ID too long for a UUID. */
    static const uint8_t arr[] = {0x91, 0x01};
    assert_int_equal(cn__event_decode(arr, sizeof arr, &ev, &mem), CN_EMALFORMED);
    static const uint8_t longid[] = {0x82, 0xa1, 'n', 0xa1, 'a', 0xa2, 'I', 'D', 0xd9, 40,
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2', '3', '4', '5', '6', '7',
        '8', '9', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2', '3', '4', '5',
        '6', '7', '8', '9'};
    assert_int_equal(cn__event_decode(longid, sizeof longid, &ev, &mem), CN_EMALFORMED);
    /* Unknown fields, nested or not, are skipped. */
    static const uint8_t extra[] = {0x83, 0xa1, 'n', 0xa1, 'a', 0xa1, 'z', 0x91, 0x01,
                                    0xa1, 'y', 0xc0};
    assert_int_equal(cn__event_decode(extra, sizeof extra, &ev, &mem), 0);
    assert_string_equal(ev.name, "a");
    cn_free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_consul),
        cmocka_unit_test(test_encode_matches_consul),
        cmocka_unit_test(test_decode_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
