/* json/json_test.c - encoder output matches Go's; decoder validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "json.h"

static char *enc_sample(bool pretty)
{
    static char out[1024];
    struct cn_buf b;
    struct cn_json_enc e;
    cn_buf_init(&b, 1 << 16);
    cn_json_enc_init(&e, &b, pretty);
    cn_json_arr_begin(&e);
    cn_json_obj_begin(&e);
    cn_json_kv_u64(&e, "LockIndex", 0);
    cn_json_kv_str(&e, "Key", "a<b>&\"c\"\n");
    cn_json_key(&e, "Value");
    cn_json_b64(&e, "hello", 5, true);
    cn_json_key(&e, "Empty");
    cn_json_b64(&e, "", 0, true);
    cn_json_key(&e, "Tags");
    cn_json_arr_begin(&e);
    cn_json_arr_end(&e);
    cn_json_key(&e, "Meta");
    cn_json_obj_begin(&e);
    cn_json_obj_end(&e);
    cn_json_key(&e, "List");
    cn_json_arr_begin(&e);
    cn_json_i64(&e, -1);
    cn_json_bool(&e, true);
    cn_json_arr_end(&e);
    cn_json_obj_end(&e);
    cn_json_arr_end(&e);
    cn_json_finish(&e);
    assert_int_equal(e.err, 0);
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    cn_buf_close(&b);
    return out;
}

static void test_enc_compact(void **state)
{
    (void)state;
    assert_string_equal(enc_sample(false),
        "[{\"LockIndex\":0,\"Key\":\"a\\u003cb\\u003e\\u0026\\\"c\\\"\\n\","
        "\"Value\":\"aGVsbG8=\",\"Empty\":null,\"Tags\":[],\"Meta\":{},"
        "\"List\":[-1,true]}]");
}

static void test_enc_pretty(void **state)
{
    (void)state;
    assert_string_equal(enc_sample(true),
        "[\n"
        "    {\n"
        "        \"LockIndex\": 0,\n"
        "        \"Key\": \"a\\u003cb\\u003e\\u0026\\\"c\\\"\\n\",\n"
        "        \"Value\": \"aGVsbG8=\",\n"
        "        \"Empty\": null,\n"
        "        \"Tags\": [],\n"
        "        \"Meta\": {},\n"
        "        \"List\": [\n"
        "            -1,\n"
        "            true\n"
        "        ]\n"
        "    }\n"
        "]\n");
}

static void test_enc_utf8(void **state)
{
    struct cn_buf b;
    struct cn_json_enc e;
    (void)state;
    cn_buf_init(&b, 1024);
    cn_json_enc_init(&e, &b, false);
    /* Valid 2/3/4-byte sequences pass; bad bytes become U+FFFD; U+2028
     * is escaped; control chars use \u00XX. */
    const char in[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\xe2\x80\xa8\x01";
    cn_json_str(&e, in, sizeof in - 1);
    b.data[b.len] = 0;
    assert_string_equal((char *)b.data,
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\ufffd\\u2028\\u0001\"");
    cn_buf_close(&b);
}

static void test_dec_fields(void **state)
{
    char err[CN_JSON_ERR_BYTES];
    json_t *v;
    const char *s;
    uint64_t u;
    int64_t ns;
    bool b;
    (void)state;
    const char *body = "{\"name\":\"web\",\"Port\":8080,\"enable_tag_override\":true,"
                       "\"lockdelay\":\"0.001s\",\"TTL\":15000000000,\"Bad\":\"x\","
                       "\"Neg\":-1,\"Nul\":null}";
    assert_int_equal(cn_json_parse(body, strlen(body), &v, err), 0);
    assert_int_equal(cn_json_get_str(v, "Name", &s, NULL, err), 0);
    assert_string_equal(s, "web");
    assert_int_equal(cn_json_get_u64(v, "Port", &u, err), 0);
    assert_int_equal(u, 8080);
    assert_int_equal(cn_json_get_bool(v, "EnableTagOverride", &b, err), 0);
    assert_true(b);
    assert_int_equal(cn_json_get_duration(v, "LockDelay", &ns, err), 0);
    assert_int_equal(ns, 1000000);
    assert_int_equal(cn_json_get_duration(v, "TTL", &ns, err), 0);
    assert_int_equal(ns, 15000000000);
    assert_int_equal(cn_json_get_u64(v, "Missing", &u, err), 1);
    assert_int_equal(cn_json_get_u64(v, "Nul", &u, err), 1);
    assert_int_equal(cn_json_get_u64(v, "Neg", &u, err), CN_EMALFORMED);
    assert_int_equal(cn_json_get_u64(v, "Bad", &u, err), CN_EMALFORMED);
    assert_string_equal(err, "Request decode failed: field \"Bad\": expected an unsigned integer");
    assert_int_equal(cn_json_get_duration(v, "Bad", &ns, err), CN_EMALFORMED);
    json_decref(v);
}

static void test_dec_limits(void **state)
{
    char err[CN_JSON_ERR_BYTES], deep[200];
    json_t *v;
    (void)state;
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(cn_json_parse(deep, sizeof deep, &v, err), CN_EMALFORMED);
    assert_non_null(strstr(err, "nesting"));
    assert_int_equal(cn_json_parse("{\"a\":", 5, &v, err), CN_EMALFORMED);
    assert_non_null(strstr(err, "Request decode failed"));
    /* Brackets inside strings do not count toward depth. */
    char s[120];
    s[0] = '"';
    memset(s + 1, '[', 100);
    s[101] = '"';
    assert_int_equal(cn_json_parse(s, 102, &v, err), 0);
    json_decref(v);
}

static void test_dec_b64(void **state)
{
    char err[CN_JSON_ERR_BYTES];
    struct cn_arena a;
    json_t *v;
    uint8_t *out;
    size_t n;
    (void)state;
    cn_arena_init(&a, 1 << 16);
    assert_int_equal(cn_json_parse("{\"Value\":\"aGVsbG8=\",\"B\":\"!!\"}", 29, &v, err), 0);
    assert_int_equal(cn_json_get_b64(v, "value", &a, &out, &n, err), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(cn_json_get_b64(v, "B", &a, &out, &n, err), CN_EMALFORMED);
    json_decref(v);
    cn_arena_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc_compact), cmocka_unit_test(test_enc_pretty),
        cmocka_unit_test(test_enc_utf8),    cmocka_unit_test(test_dec_fields),
        cmocka_unit_test(test_dec_limits),  cmocka_unit_test(test_dec_b64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
