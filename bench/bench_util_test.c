/* bench/bench_util_test.c - the parts of the benchmark clients whose bugs
 * would silently skew numbers: histogram quantiles, request formats,
 * base64, response parsing (pipelined, split, chunked), option parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>

#include "bench_util.h"

static void test_hist_exact_small_and_bounded_error(void **state)
{
    static struct b_hist h;

    (void)state;
    b_hist_init(&h);
    for (uint64_t v = 1; v <= 100; v++)
        b_hist_record(&h, v);
    assert_int_equal(b_hist_quantile(&h, 0.5), 50);  /* Exact below 128. */
    assert_int_equal(b_hist_quantile(&h, 0.99), 99);
    assert_int_equal(b_hist_quantile(&h, 1.0), 100);
    assert_int_equal(h.min, 1);

    b_hist_init(&h);
    for (uint64_t v = 1; v <= 1000000; v++)
        b_hist_record(&h, v * 1000);  /* 1 us .. 1 s */
    double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < 4; i++) {
        double want = qs[i] * 1e9, got = (double)b_hist_quantile(&h, qs[i]);
        assert_true(got >= want * 0.999);
        assert_true(got <= want * (1 + 1.0 / 64) + 1000);
    }
    assert_int_equal(b_hist_quantile(&h, 1.0), 1000000000ull);
    assert_int_equal(h.max, 1000000000ull);
}

static void test_hist_merge_and_empty(void **state)
{
    static struct b_hist a, b;

    (void)state;
    b_hist_init(&a);
    b_hist_init(&b);
    assert_int_equal(b_hist_quantile(&a, 0.5), 0);
    b_hist_record(&a, 10);
    b_hist_record(&b, 1000000);
    b_hist_record(&b, UINT64_MAX);  /* Top bucket must not overflow. */
    b_hist_merge(&a, &b);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.min, 10);
    assert_true(a.max == UINT64_MAX);
    assert_int_equal(b_hist_quantile(&a, 0.01), 10);
    assert_true(b_hist_quantile(&a, 1.0) == UINT64_MAX);
}

static void test_pct_nearest_rank(void **state)
{
    int64_t v[] = {5, 1, 4, 2, 3, -7};

    (void)state;
    b_sort_i64(v, 6);
    assert_int_equal(v[0], -7);
    assert_int_equal(b_pct_i64(v, 6, 0.5), 2);
    assert_int_equal(b_pct_i64(v, 6, 1.0), 5);
    assert_int_equal(b_pct_i64(v, 6, 0.0), -7);
    assert_int_equal(b_pct_i64(v, 0, 0.5), 0);
}

static void test_base64_rfc4648(void **state)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char buf[32];

    (void)state;
    for (size_t i = 0; i < 7; i++) {
        size_t n = b_base64(in[i], strlen(in[i]), buf);
        assert_string_equal(buf, out[i]);
        assert_int_equal(n, strlen(out[i]));
    }
}

static void test_value_is_keyed(void **state)
{
    char a[256], b[256];

    (void)state;
    b_value(123, a, sizeof a);
    b_value(124, b, sizeof b);
    assert_memory_equal(a, "v123:", 5);
    assert_memory_not_equal(a, b, sizeof a);
    for (size_t i = 5; i < sizeof a; i++)
        assert_true(a[i] >= 'a' && a[i] <= 'z');
    b_value(123, b, 3);  /* Shorter than the tag: truncated, no overflow. */
    assert_memory_equal(b, "v12", 3);
}

static void test_fmt_consul(void **state)
{
    struct b_reqcfg c = {.proto = B_CONSUL, .host = "h:1", .prefix = "p/", .value_bytes = 8};
    char out[B_REQ_BYTES_MAX], expect[64];
    size_t n;

    (void)state;
    n = b_fmt_put(&c, 7, out, sizeof out);
    assert_int_equal(n, strlen("PUT /v1/kv/p/7 HTTP/1.1\r\nHost: h:1\r\n"
                               "Content-Length: 8\r\n\r\n") + 8);
    assert_memory_equal(out + n - 8, "v7:klmno", 8);
    c.read = B_READ_CONSISTENT;
    n = b_fmt_get(&c, 7, out, sizeof out, expect, sizeof expect);
    out[n] = '\0';
    assert_string_equal(out, "GET /v1/kv/p/7?consistent HTTP/1.1\r\nHost: h:1\r\n\r\n");
    assert_string_equal(expect, "djc6a2xtbm8=");  /* base64("v7:klmno") */
    c.read = B_READ_STALE;
    n = b_fmt_get(&c, 7, out, sizeof out, expect, sizeof expect);
    assert_non_null(strstr(out, "?stale "));
    assert_int_equal(b_fmt_put(&c, 7, out, 20), 0);  /* Does not fit. */
    assert_int_equal(b_fmt_get(&c, 7, out, sizeof out, expect, 4), 0);
}

static void test_fmt_etcd_body_length(void **state)
{
    struct b_reqcfg c = {.proto = B_ETCD, .host = "h", .prefix = "p/", .value_bytes = 256};
    char out[B_REQ_BYTES_MAX], expect[512];
    size_t n;
    long cl;

    (void)state;
    n = b_fmt_put(&c, 42, out, sizeof out);
    out[n] = '\0';
    const char *body = strstr(out, "\r\n\r\n") + 4;
    assert_int_equal(sscanf(strstr(out, "Content-Length: "), "Content-Length: %ld", &cl), 1);
    assert_int_equal((size_t)cl, strlen(body));
    assert_non_null(strstr(body, "\"key\":\"cC80Mg==\""));  /* base64("p/42") */
    c.read = B_READ_STALE;
    n = b_fmt_get(&c, 42, out, sizeof out, expect, sizeof expect);
    out[n] = '\0';
    assert_non_null(strstr(out, "POST /v3/kv/range "));
    assert_non_null(strstr(out, "\"serializable\":true"));
    c.read = B_READ_CONSISTENT;
    b_fmt_get(&c, 42, out, sizeof out, expect, sizeof expect);
    assert_non_null(strstr(out, "\"serializable\":false"));
}

struct seen {
    int n, status[4];
    uint64_t index[4];
    char body[4][64];
};

static void on_done(void *ctx, struct b_resp *r)
{
    struct seen *s = ctx;

    if (s->n < 4) {
        s->status[s->n] = r->status;
        s->index[s->n] = r->consul_index;
        snprintf(s->body[s->n], sizeof s->body[0], "%s", r->body);
    }
    s->n++;
}

static void test_resp_pipelined_split_chunked(void **state)
{
    const char *wire =
        "HTTP/1.1 200 OK\r\nX-Consul-Index: 12345\r\nContent-Length: 4\r\n\r\ntrue"
        "HTTP/1.1 404 Not Found\r\nx-consul-index: 7\r\nContent-Length: 0\r\n\r\n"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    struct seen s = {0};
    struct b_resp r;

    (void)state;
    assert_int_equal(b_resp_init(&r, 1024, on_done, &s), 0);
    for (size_t i = 0; wire[i]; i++)  /* One byte at a time: every split. */
        assert_int_equal(b_resp_feed(&r, wire + i, 1), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.status[0], 200);
    assert_int_equal(s.index[0], 12345);
    assert_string_equal(s.body[0], "true");
    assert_int_equal(s.status[1], 404);
    assert_int_equal(s.index[1], 7);
    assert_string_equal(s.body[2], "abcde");
    assert_int_equal(s.index[2], 0);
    assert_true(r.keep_alive);
    assert_true(b_body_has(&r, "cd"));
    assert_int_equal(b_resp_feed(&r, "garbage\r\n\r\n", 11), -1);
    b_resp_free(&r);
}

static void test_resp_body_cap(void **state)
{
    const char *wire = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789";
    struct seen s = {0};
    struct b_resp r;

    (void)state;
    assert_int_equal(b_resp_init(&r, 4, on_done, &s), 0);
    assert_int_equal(b_resp_feed(&r, wire, strlen(wire)), 0);
    assert_int_equal(s.n, 1);
    assert_true(r.body_overflow);
    assert_false(r.keep_alive);
    assert_false(b_body_has(&r, "0"));  /* An overflowed body never passes. */
    b_resp_free(&r);
}

static void test_parse_numbers(void **state)
{
    uint64_t u;
    int i;
    double d;

    (void)state;
    assert_int_equal(b_parse_u64("42", 1, 100, &u), 0);
    assert_int_equal(u, 42);
    assert_int_equal(b_parse_u64("0", 1, 100, &u), -1);
    assert_int_equal(b_parse_u64("101", 1, 100, &u), -1);
    assert_int_equal(b_parse_u64("-1", 0, 100, &u), -1);
    assert_int_equal(b_parse_u64("4x", 0, 100, &u), -1);
    assert_int_equal(b_parse_u64("", 0, 100, &u), -1);
    assert_int_equal(b_parse_u64("99999999999999999999999", 0, UINT64_MAX, &u), -1);
    assert_int_equal(b_parse_int("64", 1, 20000, &i), 0);
    assert_int_equal(i, 64);
    assert_int_equal(b_parse_f64("2.5", 0, 10, &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(b_parse_f64("nan", 0, 10, &d), -1);
    assert_int_equal(b_parse_f64("11", 0, 10, &d), -1);
}

static void test_parse_addr(void **state)
{
    struct sockaddr_in sa;

    (void)state;
    assert_int_equal(b_parse_addr("127.0.0.1:8500", &sa), 0);
    assert_int_equal(b_parse_addr("localhost:1", &sa), 0);
    assert_int_equal(b_parse_addr("127.0.0.1", &sa), -1);
    assert_int_equal(b_parse_addr("127.0.0.1:0", &sa), -1);
    assert_int_equal(b_parse_addr("127.0.0.1:65536", &sa), -1);
    assert_int_equal(b_parse_addr("example.com:80", &sa), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_exact_small_and_bounded_error),
        cmocka_unit_test(test_hist_merge_and_empty),
        cmocka_unit_test(test_pct_nearest_rank),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_value_is_keyed),
        cmocka_unit_test(test_fmt_consul),
        cmocka_unit_test(test_fmt_etcd_body_length),
        cmocka_unit_test(test_resp_pipelined_split_chunked),
        cmocka_unit_test(test_resp_body_cap),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_parse_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
