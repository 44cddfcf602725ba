/* base/base_test.c - unit tests for src/base. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "base.h"

static void test_buf_bounds(void **state)
{
    struct cn_buf b;
    (void)state;
    cn_buf_init(&b, 10);
    assert_int_equal(cn_buf_append(&b, "hello", 5), 0);
    assert_int_equal(cn_buf_printf(&b, "%d", 1234), 0);
    assert_int_equal(b.len, 9);
    assert_int_equal(cn_buf_append(&b, "ab", 2), -EMSGSIZE);
    assert_int_equal(b.len, 9); /* Nothing half-written. */
    assert_int_equal(cn_buf_printf(&b, "%s", "xy"), -EMSGSIZE);
    assert_int_equal(cn_buf_putc(&b, 'z'), 0);
    assert_int_equal(cn_buf_putc(&b, 'z'), -EMSGSIZE);
    assert_memory_equal(b.data, "hello1234z", 10);
    cn_buf_reset(&b);
    assert_int_equal(cn_buf_put_i64(&b, -42), 0);
    assert_int_equal(b.len, 3);
    cn_buf_close(&b);

    cn_buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(cn_buf_printf(&b, "%04d", i), 0);
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.data + 3996, "0999", 4);
    size_t n;
    uint8_t *p = cn_buf_steal(&b, &n);
    assert_int_equal(n, 4000);
    assert_int_equal(p[4000], 0);
    cn_free(p);
    assert_null(b.data);
}

static void test_buf_alloc_failure(void **state)
{
    struct cn_buf b;
    (void)state;
    cn_buf_init(&b, 1 << 20);
    cn_alloc_fail_after(0);
    assert_int_equal(cn_buf_append(&b, "x", 1), -ENOMEM);
    cn_alloc_fail_after(-1);
    assert_int_equal(b.len, 0);
    assert_int_equal(cn_buf_append(&b, "x", 1), 0);
    cn_buf_close(&b);
}

static void test_arena(void **state)
{
    struct cn_arena a;
    (void)state;
    cn_arena_init(&a, 8192);
    char *s = cn_arena_strndup(&a, "abc", 3);
    assert_string_equal(s, "abc");
    void *big = cn_arena_alloc(&a, 5000);
    assert_non_null(big);
    assert_null(cn_arena_alloc(&a, 5000)); /* Over max_bytes. */
    assert_int_equal((uintptr_t)big % 16, 0);
    cn_arena_reset(&a);
    assert_int_equal(a.used_bytes, 0);
    assert_non_null(cn_arena_alloc(&a, 100));
    cn_arena_close(&a);
}

static void test_base64(void **state)
{
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
             {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    (void)state;
    for (size_t i = 0; i < CN_ARRAY_LEN(v); i++) {
        char enc[16];
        uint8_t dec[16];
        size_t n = strlen(v[i].in), dn;
        assert_int_equal(cn_base64_encoded_len(n), strlen(v[i].out));
        cn_base64_encode((const uint8_t *)v[i].in, n, enc);
        assert_memory_equal(enc, v[i].out, strlen(v[i].out));
        assert_int_equal(cn_base64_decode(v[i].out, strlen(v[i].out), dec, &dn), 0);
        assert_int_equal(dn, n);
        assert_memory_equal(dec, v[i].in, n);
    }
    uint8_t d[8];
    size_t dn;
    assert_int_equal(cn_base64_decode("Zg=", 3, d, &dn), CN_EMALFORMED);
    assert_int_equal(cn_base64_decode("Z=g=", 4, d, &dn), CN_EMALFORMED);
    assert_int_equal(cn_base64_decode("Zg==Zg==", 8, d, &dn), CN_EMALFORMED);
    assert_int_equal(cn_base64_decode("Z!==", 4, d, &dn), CN_EMALFORMED);
}

static void test_parse_ints(void **state)
{
    uint64_t u;
    int64_t i;
    (void)state;
    assert_int_equal(cn_parse_u64("18446744073709551615", 20, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(cn_parse_u64("18446744073709551616", 20, &u), CN_EMALFORMED);
    assert_int_equal(cn_parse_u64("", 0, &u), CN_EMALFORMED);
    assert_int_equal(cn_parse_u64("-1", 2, &u), CN_EMALFORMED);
    assert_int_equal(cn_parse_u64("1 ", 2, &u), CN_EMALFORMED);
    assert_int_equal(cn_parse_i64("-9223372036854775808", 20, &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(cn_parse_i64("9223372036854775808", 19, &i), CN_EMALFORMED);
}

static void test_duration(void **state)
{
    static const struct {
        const char *in;
        int64_t ns;
    } ok[] = {
        {"0", 0},          {"5s", 5000000000},       {"300ms", 300000000},
        {"-1.5h", -5400000000000}, {"2h45m", 9900000000000},
        {"1m30s", 90000000000},    {"0.001s", 1000000},   {"120000ms", 120000000000},
        {"1\xc2\xb5s", 1000},      {"10ns", 10},          {".5s", 500000000},
        {"1.s", 1000000000},       {"30000ms", 30000000000},
    };
    static const char *bad[] = {"", "5", "s", "1x", "--1s", ".s", "1.5",
                                "99999999999999999999h", "1s5"};
    (void)state;
    for (size_t k = 0; k < CN_ARRAY_LEN(ok); k++) {
        int64_t ns;
        assert_int_equal(cn_duration_parse(ok[k].in, strlen(ok[k].in), &ns), 0);
        assert_true(ns == ok[k].ns);
    }
    for (size_t k = 0; k < CN_ARRAY_LEN(bad); k++) {
        int64_t ns;
        assert_int_equal(cn_duration_parse(bad[k], strlen(bad[k]), &ns), CN_EMALFORMED);
    }
    static const struct {
        int64_t ns;
        const char *out;
    } fmt[] = {
        {0, "0s"},          {1, "1ns"},           {1100, "1.1\xc2\xb5s"},
        {2200000, "2.2ms"}, {3300000000, "3.3s"}, {90000000000, "1m30s"},
        {3600000000000, "1h0m0s"}, {-5000000000, "-5s"}, {15000000000, "15s"},
        {4000000, "4ms"},
    };
    for (size_t k = 0; k < CN_ARRAY_LEN(fmt); k++) {
        char out[32];
        cn_duration_format(fmt[k].ns, out, sizeof out);
        assert_string_equal(out, fmt[k].out);
    }
}

static void test_crc32c(void **state)
{
    (void)state;
    /* The standard check value for CRC-32C (RFC 3720 B.4 test pattern). */
    assert_int_equal(cn_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    assert_int_equal(cn_crc32c(0, zeros, 32), 0x8A9136AAu);
    /* Incremental equals one-shot. */
    uint32_t c = cn_crc32c(0, "1234", 4);
    assert_int_equal(cn_crc32c(c, "56789", 5), 0xE3069283u);
    assert_int_equal(cn_crc32_ieee(0, "123456789", 9), 0xCBF43926u);
    c = cn_crc32_ieee(0, "1234", 4);
    assert_int_equal(cn_crc32_ieee(c, "56789", 5), 0xCBF43926u);
}

static void test_prng_uuid(void **state)
{
    struct cn_prng a, b;
    char u[CN_UUID_STR_BYTES];
    (void)state;
    cn_prng_seed(&a, 42);
    cn_prng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_true(cn_prng_next(&a) == cn_prng_next(&b));
    for (int i = 0; i < 1000; i++)
        assert_true(cn_prng_below(&a, 7) < 7);
    cn_uuid_v4(u);
    assert_true(cn_uuid_valid(u, strlen(u)));
    assert_int_equal(u[14], '4');
    cn_uuid_v4_prng(&a, u);
    assert_true(cn_uuid_valid(u, 36));
    assert_false(cn_uuid_valid("not-a-uuid", 10));
}

static void test_lru(void **state)
{
    struct cn_lru l = {0};
    struct cn_lru_node n[3];
    (void)state;
    for (int i = 0; i < 3; i++)
        cn_lru_push(&l, &n[i]); /* 2 1 0 */
    assert_ptr_equal(l.head, &n[2]);
    assert_ptr_equal(l.tail, &n[0]);
    cn_lru_touch(&l, &n[0]); /* 0 2 1 */
    assert_ptr_equal(l.head, &n[0]);
    assert_ptr_equal(l.tail, &n[1]);
    cn_lru_touch(&l, &n[0]); /* already the head */
    assert_ptr_equal(l.head, &n[0]);
    cn_lru_unlink(&l, &n[2]); /* 0 1 */
    assert_ptr_equal(l.head->next, &n[1]);
    assert_ptr_equal(n[1].prev, &n[0]);
    cn_lru_unlink(&l, &n[1]);
    cn_lru_unlink(&l, &n[0]);
    assert_null(l.head);
    assert_null(l.tail);
}

static void test_map_vs_reference(void **state)
{
    enum { N = 4000 };
    static char keys[N][16];
    static int present[N];
    struct cn_map m;
    struct cn_prng p;
    (void)state;
    cn_map_init(&m);
    cn_prng_seed(&p, 7);
    for (int i = 0; i < N; i++)
        snprintf(keys[i], sizeof keys[i], "k%d", i);
    for (int step = 0; step < 50000; step++) {
        int k = (int)cn_prng_below(&p, N);
        size_t kl = strlen(keys[k]);
        if (cn_prng_chance(&p, 1, 2)) {
            void *old;
            assert_int_equal(cn_map_put(&m, keys[k], kl, &present[k], &old), 0);
            assert_true(old == (present[k] ? &present[k] : NULL));
            present[k] = 1;
        } else {
            void *v = cn_map_del(&m, keys[k], kl);
            assert_true(v == (present[k] ? &present[k] : NULL));
            present[k] = 0;
        }
    }
    uint32_t count = 0, pos = 0;
    for (int i = 0; i < N; i++) {
        void *v = cn_map_get(&m, keys[i], strlen(keys[i]));
        assert_true(v == (present[i] ? &present[i] : NULL));
        count += (uint32_t)present[i];
    }
    assert_int_equal(m.count, count);
    void *v;
    uint32_t seen = 0;
    while (cn_map_next(&m, &pos, NULL, NULL, &v))
        seen++;
    assert_int_equal(seen, count);
    cn_map_close(&m);
}

struct item {
    struct cn_rb_node node;
    char key[16];
    size_t len;
    bool in;
};

static void item_key(const struct cn_rb_node *n, const uint8_t **k, size_t *l)
{
    const struct item *it = CN_CONTAINER_OF(n, struct item, node);
    *k = (const uint8_t *)it->key;
    *l = it->len;
}

/* Returns black height; checks red-black and order invariants. */
static int rb_check(const struct cn_rb_node *n, const struct cn_rb_node *parent)
{
    if (!n)
        return 1;
    assert_true(n->parent == parent);
    if (n->color == 0) { /* red */
        assert_true(!n->left || n->left->color == 1);
        assert_true(!n->right || n->right->color == 1);
    }
    int l = rb_check(n->left, n), r = rb_check(n->right, n);
    assert_int_equal(l, r);
    return l + (n->color == 1);
}

static void test_rbtree_vs_reference(void **state)
{
    enum { N = 2000 };
    static struct item items[N];
    struct cn_rbtree t;
    struct cn_prng p;
    (void)state;
    cn_rb_init(&t, item_key);
    cn_prng_seed(&p, 11);
    for (int i = 0; i < N; i++) {
        items[i].len = (size_t)snprintf(items[i].key, sizeof items[i].key,
                                        "%c/%d", 'a' + i % 5, i);
        items[i].in = false;
    }
    for (int step = 0; step < 30000; step++) {
        int k = (int)cn_prng_below(&p, N);
        if (!items[k].in) {
            assert_null(cn_rb_insert(&t, &items[k].node));
            items[k].in = true;
        } else {
            assert_true(cn_rb_find(&t, items[k].key, items[k].len) == &items[k].node);
            cn_rb_remove(&t, &items[k].node);
            items[k].in = false;
        }
        if (step % 1000 == 0)
            rb_check(t.root, NULL);
    }
    rb_check(t.root, NULL);
    /* In-order walk is sorted and complete. */
    size_t count = 0;
    const struct item *prev = NULL;
    for (struct cn_rb_node *n = cn_rb_first(&t); n; n = cn_rb_next(n)) {
        const struct item *it = CN_CONTAINER_OF(n, struct item, node);
        if (prev)
            assert_true(cn_bytes_cmp(prev->key, prev->len, it->key, it->len) < 0);
        prev = it;
        count++;
    }
    assert_int_equal(count, t.count);
    /* Prefix scan via seek. */
    size_t in_c = 0, scanned = 0;
    for (int i = 0; i < N; i++)
        in_c += items[i].in && items[i].key[0] == 'c';
    for (struct cn_rb_node *n = cn_rb_seek(&t, "c", 1); n; n = cn_rb_next(n)) {
        const struct item *it = CN_CONTAINER_OF(n, struct item, node);
        if (!cn_has_prefix(it->key, it->len, "c", 1))
            break;
        scanned++;
    }
    assert_int_equal(scanned, in_c);
    /* Replace swaps a node for a copy in place, order intact. */
    static struct item copies[N];
    for (int i = 0; i < N; i++) {
        if (items[i].in && i % 3 == 0) {
            copies[i] = items[i];
            cn_rb_replace(&t, &items[i].node, &copies[i].node);
            assert_true(cn_rb_find(&t, items[i].key, items[i].len) == &copies[i].node);
            cn_rb_replace(&t, &copies[i].node, &items[i].node);
        }
    }
    rb_check(t.root, NULL);
    /* Duplicate insert returns the existing node. */
    for (int i = 0; i < N; i++) {
        if (items[i].in) {
            struct item dup = items[i];
            assert_true(cn_rb_insert(&t, &dup.node) == &items[i].node);
            break;
        }
    }
}


static void test_mp_roundtrip(void **state)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    struct cn_mp_reader r;
    static const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536,
                                   -1, -32, -33, -128, -129, -32768, -32769,
                                   INT64_MIN, INT64_MAX};
    (void)state;
    cn_buf_init(&b, 1 << 20);
    cn_mp_writer_init(&w, &b);
    cn_mp_put_map(&w, 2);
    cn_mp_put_cstr(&w, "Key");
    cn_mp_put_str(&w, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
    cn_mp_put_cstr(&w, "Ints");
    cn_mp_put_array(&w, CN_ARRAY_LEN(ints));
    for (size_t i = 0; i < CN_ARRAY_LEN(ints); i++)
        cn_mp_put_int(&w, ints[i]);
    cn_mp_put_uint(&w, UINT64_MAX);
    cn_mp_put_bin(&w, "\0\1\2", 3);
    cn_mp_put_bool(&w, true);
    cn_mp_put_nil(&w);
    cn_mp_put_double(&w, 1.5);
    assert_int_equal(w.err, 0);

    cn_mp_reader_init(&r, b.data, b.len);
    uint32_t n;
    const uint8_t *p;
    uint32_t len;
    assert_int_equal(cn_mp_read_map(&r, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cn_mp_read_str(&r, &p, &len), 0);
    assert_int_equal(len, 3);
    assert_int_equal(cn_mp_read_str(&r, &p, &len), 0);
    assert_int_equal(len, 36);
    assert_int_equal(cn_mp_skip(&r), 0); /* "Ints" */
    assert_int_equal(cn_mp_read_array(&r, &n), 0);
    for (uint32_t i = 0; i < n; i++) {
        int64_t v;
        assert_int_equal(cn_mp_read_int(&r, &v), 0);
        assert_true(v == ints[i]);
    }
    uint64_t u;
    bool bo;
    struct cn_mp_obj o;
    assert_int_equal(cn_mp_read_uint(&r, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(cn_mp_read_str(&r, &p, &len), 0);
    assert_int_equal(len, 3);
    assert_int_equal(cn_mp_read_bool(&r, &bo), 0);
    assert_true(bo);
    assert_int_equal(cn_mp_read_nil(&r), 0);
    assert_int_equal(cn_mp_read(&r, &o), 0);
    assert_int_equal(o.type, CN_MP_FLOAT);
    assert_true(o.v.f == 1.5);
    assert_int_equal(cn_mp_left(&r), 0);
    assert_int_equal(cn_mp_read(&r, &o), CN_EMALFORMED);
    cn_buf_close(&b);
}

static void test_mp_hostile(void **state)
{
    struct cn_mp_reader r;
    struct cn_mp_obj o;
    uint32_t n;
    (void)state;
    /* array32 claiming 4 billion elements in 5 bytes. */
    static const uint8_t lie[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    cn_mp_reader_init(&r, lie, sizeof lie);
    assert_int_equal(cn_mp_read_array(&r, &n), CN_EMALFORMED);
    assert_int_equal(cn_mp_left(&r), sizeof lie); /* Did not advance. */
    /* str32 longer than the input. */
    static const uint8_t lstr[] = {0xdb, 0, 0, 1, 0, 'a'};
    cn_mp_reader_init(&r, lstr, sizeof lstr);
    assert_int_equal(cn_mp_read(&r, &o), CN_EMALFORMED);
    /* 0xc1 is never used. */
    static const uint8_t c1[] = {0xc1};
    cn_mp_reader_init(&r, c1, 1);
    assert_int_equal(cn_mp_read(&r, &o), CN_EMALFORMED);
    /* Nesting deeper than CN_MP_DEPTH_MAX is refused by skip. */
    uint8_t deep[100];
    memset(deep, 0x91, sizeof deep);
    deep[99] = 0xc0;
    cn_mp_reader_init(&r, deep, sizeof deep);
    assert_int_equal(cn_mp_skip(&r), CN_EMALFORMED);
    cn_mp_reader_init(&r, deep + 100 - 10, 10);
    assert_int_equal(cn_mp_skip(&r), 0);
    /* Truncated uint64. */
    static const uint8_t tr[] = {0xcf, 1, 2};
    cn_mp_reader_init(&r, tr, sizeof tr);
    assert_int_equal(cn_mp_read(&r, &o), CN_EMALFORMED);
}

static void test_errors(void **state)
{
    char msg[CN_ERRMSG_MAX];
    (void)state;
    assert_string_equal(cn_strerror(CN_ENOLEADER), "No cluster leader");
    assert_string_equal(cn_strerror(-ENOENT), "No such file or directory");
    assert_int_equal(cn_errf_rc(msg, -ENOENT, "open %s", "x"), -ENOENT);
    assert_string_equal(msg, "open x: No such file or directory");
}

static void test_logs(void **state)
{
    (void)state;
    /* Against values known to 17 digits. */
    assert_true(fabs(cn_ln(2.0) - 0.69314718055994531) < 1e-15);
    assert_true(fabs(cn_ln(10.0) - 2.30258509299404568) < 1e-14);
    assert_true(fabs(cn_ln(0.5) + 0.69314718055994531) < 1e-15);
    assert_true(fabs(cn_ln(1e300) - 690.77552789821371) < 1e-11);
    assert_true(fabs(cn_ln(4.9406564584124654e-324) + 744.44007192138127) < 1e-10);
    assert_true(cn_ln(1.0) == 0.0);
    assert_true(cn_ln(0.0) == 0.0 && cn_ln(-1.0) == 0.0);
    for (int i = 1; i <= 100000; i += 7) {
        double x = i * 1.37;
        assert_true(fabs(cn_ln(x) - log(x)) <= 1e-14 * (fabs(log(x)) + 1.0));
        assert_true(fabs(cn_log10(x) - log10(x)) <= 1e-14 * (fabs(log10(x)) + 1.0));
        assert_true(fabs(cn_log2(x) - log2(x)) <= 1e-14 * (fabs(log2(x)) + 1.0));
    }
    assert_true(cn_log10(1000.0) * 1000.0 + 0.5 >= 3000.0);
    unsigned e10[] = {0, 0, 1, 1, 2, 2, 3};
    uint64_t v10[] = {0, 1, 2, 10, 11, 100, 101};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(cn_ceil_log10(v10[i]), e10[i]);
    assert_int_equal(cn_ceil_log10(UINT64_MAX), 20);
    assert_int_equal(cn_ceil_log2(1), 0);
    assert_int_equal(cn_ceil_log2(2), 1);
    assert_int_equal(cn_ceil_log2(33), 6);
    assert_int_equal(cn_ceil_log2(64), 6);
    assert_int_equal(cn_ceil_log2(UINT64_MAX), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_bounds),     cmocka_unit_test(test_buf_alloc_failure),
        cmocka_unit_test(test_arena),          cmocka_unit_test(test_base64),
        cmocka_unit_test(test_parse_ints),     cmocka_unit_test(test_duration),
        cmocka_unit_test(test_crc32c),         cmocka_unit_test(test_prng_uuid),
        cmocka_unit_test(test_map_vs_reference),
        cmocka_unit_test(test_lru),
        cmocka_unit_test(test_rbtree_vs_reference),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_logs),
        cmocka_unit_test(test_mp_roundtrip), cmocka_unit_test(test_mp_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
