/* agent/checks/def_test.c - decoding, packing and validating definitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "checks.h"
#include "json/json.h"

static json_t *J(const char *text)
{
    char err[CN_JSON_ERR_BYTES];
    json_t *v = NULL;
    assert_int_equal(cn_json_parse(text, strlen(text), &v, err), 0);
    return v;
}

/* Parses text; returns rc and the def (NULL on error). */
static int parse(const char *text, struct cn_check_def **d, char *err)
{
    json_t *v = J(text);
    int rc;
    *d = NULL;
    err[0] = 0;
    rc = cn_check_def_parse(v, d, err);
    json_decref(v);
    return rc;
}

static void test_full_definition(void **state)
{
    struct cn_check_def *d;
    char err[CN_ERRMSG_MAX];
    (void)state;
    assert_int_equal(parse("{\"ID\":\"web\",\"Name\":\"Web\",\"Notes\":\"n\","
                           "\"ServiceID\":\"svc\",\"Token\":\"t\",\"Status\":\"warning\","
                           "\"HTTP\":\"http://x/health\",\"Method\":\"POST\","
                           "\"Header\":{\"X-A\":[\"1\",\"2\"],\"Host\":[\"h\"]},"
                           "\"Body\":\"{}\",\"DisableRedirects\":true,"
                           "\"TLSServerName\":\"sn\",\"TLSSkipVerify\":true,"
                           "\"Interval\":\"10s\",\"Timeout\":1500000000,"
                           "\"DeregisterCriticalServiceAfter\":\"90m\","
                           "\"OutputMaxSize\":100,\"SuccessBeforePassing\":2,"
                           "\"FailuresBeforeWarning\":1,\"FailuresBeforeCritical\":3,"
                           "\"Unknown\":{\"ignored\":true}}", &d, err), 0);
    assert_string_equal(d->id, "web");
    assert_string_equal(d->name, "Web");
    assert_string_equal(d->notes, "n");
    assert_string_equal(d->service_id, "svc");
    assert_string_equal(d->token, "t");
    assert_int_equal(d->status, CN_CHECK_WARNING);
    assert_string_equal(d->http, "http://x/health");
    assert_string_equal(d->method, "POST");
    assert_int_equal(d->n_headers, 2);
    assert_string_equal(d->headers[0].name, "X-A");
    assert_int_equal(d->headers[0].n_values, 2);
    assert_string_equal(d->headers[0].values[1], "2");
    assert_string_equal(d->headers[1].values[0], "h");
    assert_int_equal(d->body_len, 2);
    assert_string_equal(d->body, "{}");
    assert_true(d->disable_redirects);
    assert_true(d->tls_skip_verify);
    assert_string_equal(d->tls_server_name, "sn");
    assert_true(d->interval_ns == 10000000000LL);
    assert_true(d->timeout_ns == 1500000000LL);
    assert_true(d->deregister_critical_service_after_ns == 5400000000000LL);
    assert_int_equal(d->output_max_size, 100);
    assert_int_equal(d->success_before_passing, 2);
    assert_int_equal(d->failures_before_warning, 1);
    assert_int_equal(d->failures_before_critical, 3);
    assert_int_equal(cn_check_def_validate(d, err), 0);
    assert_int_equal(cn_check_def_type(d), CN_CHECK_HTTP);
    assert_string_equal(cn_check_type_name(cn_check_def_type(d)), "http");
    assert_int_equal(cn_check_def_dereg_after_ms(d), 5400000);
    cn_check_def_free(d);
}

static void test_aliases(void **state)
{
    struct cn_check_def *d;
    char err[CN_ERRMSG_MAX];
    (void)state;
    /* snake_case and lower-case names, as config files write them. */
    assert_int_equal(parse("{\"check_id\":\"c1\",\"name\":\"n\",\"service_id\":\"s\","
                           "\"script_args\":[\"/bin/true\",\"-x\"],\"interval\":\"5s\","
                           "\"tls_skip_verify\":true,\"tls_server_name\":\"x\","
                           "\"docker_container_id\":\"d\",\"grpc_use_tls\":true,"
                           "\"deregister_critical_service_after\":\"30s\","
                           "\"failures_before_critical\":4,\"output_max_size\":7}",
                           &d, err), 0);
    assert_string_equal(d->id, "c1");
    assert_string_equal(d->service_id, "s");
    assert_int_equal(d->n_args, 2);
    assert_string_equal(d->args[0], "/bin/true");
    assert_string_equal(d->args[1], "-x");
    assert_true(d->tls_skip_verify);
    assert_true(d->grpc_use_tls);
    assert_string_equal(d->docker_container_id, "d");
    assert_int_equal(d->failures_before_critical, 4);
    assert_int_equal(d->output_max_size, 7);
    /* 30 s is below the 1 m floor Consul enforces. */
    assert_int_equal(cn_check_def_dereg_after_ms(d), CN_CHECK_DEREG_MIN_MS);
    assert_int_equal(cn_check_def_type(d), CN_CHECK_DOCKER);
    cn_check_def_free(d);

    /* "Args" (HTTP API), "ID" beats "CheckID", H2PingUseTLS defaults on. */
    assert_int_equal(parse("{\"ID\":\"a\",\"CheckID\":\"b\",\"Args\":[\"x\"],"
                           "\"H2PING\":\"h:1\",\"TTL\":\"1s\"}", &d, err), 0);
    assert_string_equal(d->id, "a");
    assert_int_equal(d->n_args, 1);
    assert_true(d->h2ping_use_tls);
    cn_check_def_free(d);
    assert_int_equal(parse("{\"H2PING\":\"h:1\",\"H2PingUseTLS\":false}", &d, err), 0);
    assert_false(d->h2ping_use_tls);
    cn_check_def_free(d);

    /* Empty Status means "not given"; nulls are absent. */
    assert_int_equal(parse("{\"Status\":\"\",\"Name\":null,\"TTL\":\"1s\"}", &d, err), 0);
    assert_int_equal(d->status, CN_CHECK_STATUS_NONE);
    assert_null(d->name);
    cn_check_def_free(d);
}

static void test_decode_errors(void **state)
{
    static const struct {
        const char *json;
        int rc;
        const char *msg;
    } cases[] = {
        {"[1]", CN_EMALFORMED, "expected a JSON object"},
        {"{\"Name\":5}", CN_EMALFORMED, "field \"Name\": expected a string"},
        {"{\"TLSSkipVerify\":\"true\"}", CN_EMALFORMED, "expected a boolean"},
        {"{\"Interval\":\"10 parsecs\"}", CN_EMALFORMED, "invalid duration"},
        {"{\"Interval\":true}", CN_EMALFORMED, "expected a duration"},
        {"{\"OutputMaxSize\":1.5}", CN_EMALFORMED, "expected an integer"},
        {"{\"Status\":\"ok\"}", CN_EBADREQ, "Bad check status"},
        {"{\"Status\":\"Passing\"}", CN_EBADREQ, "Bad check status"},
        {"{\"Header\":{\"X\":\"v\"}}", CN_EMALFORMED, "field \"Header\""},
        {"{\"Header\":[\"X\"]}", CN_EMALFORMED, "field \"Header\""},
        {"{\"Header\":{\"X\":[1]}}", CN_EMALFORMED, "field \"Header\""},
        {"{\"Args\":\"/bin/true\"}", CN_EMALFORMED, "field \"Args\""},
        {"{\"ScriptArgs\":[\"a\",2]}", CN_EMALFORMED, "field \"ScriptArgs\""},
        {"{\"HTTP\":\"http://x\\u0000y\"}", CN_EMALFORMED, "NUL"},
    };
    struct cn_check_def *d;
    char err[CN_ERRMSG_MAX];
    (void)state;
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        int rc = parse(cases[i].json, &d, err);
        if (rc != cases[i].rc || !strstr(err, cases[i].msg))
            fail_msg("case %zu %s: rc %d err \"%s\"", i, cases[i].json, rc, err);
        assert_null(d);
    }
}

static void test_limits(void **state)
{
    struct cn_buf b;
    struct cn_check_def *d;
    char err[CN_ERRMSG_MAX];
    (void)state;
    cn_buf_init(&b, 1 << 22);
    cn_buf_puts(&b, "{\"Args\":[");
    for (int i = 0; i <= CN_CHECK_ARGS_MAX; i++)
        cn_buf_printf(&b, "%s\"a\"", i ? "," : "");
    cn_buf_puts(&b, "]}");
    cn_buf_putc(&b, 0);
    assert_int_equal(parse((char *)b.data, &d, err), CN_ETOOBIG);
    cn_buf_reset(&b);
    cn_buf_puts(&b, "{\"Body\":\"");
    for (int i = 0; i < CN_CHECK_DEF_BYTES_MAX; i++)
        cn_buf_putc(&b, 'x');
    cn_buf_puts(&b, "\"}");
    cn_buf_putc(&b, 0);
    assert_int_equal(parse((char *)b.data, &d, err), CN_ETOOBIG);
    assert_non_null(strstr(err, "larger than"));
    cn_buf_close(&b);
}

static void test_validate(void **state)
{
    static const struct {
        const char *json;
        const char *msg; /* NULL: valid */
    } cases[] = {
        {"{\"TTL\":\"10s\"}", NULL},
        {"{\"HTTP\":\"http://x\",\"Interval\":\"10s\"}", NULL},
        {"{\"AliasService\":\"web\"}", NULL},
        {"{\"TTL\":\"10s\",\"Interval\":\"10s\"}", "Interval and TTL cannot both be specified"},
        {"{\"HTTP\":\"http://x\"}", "Interval must be > 0 for Script, HTTP, H2PING, TCP, "
                                   "UDP or OSService checks"},
        {"{\"Args\":[\"x\"],\"Interval\":\"-1s\"}", "Interval must be > 0"},
        {"{\"TCP\":\"h:1\",\"Interval\":\"1s\",\"AliasNode\":\"n\"}",
         "Interval cannot be set for Alias checks"},
        {"{\"AliasNode\":\"n\",\"TTL\":\"1s\"}", "TTL must be not be set for Alias checks"},
        {"{}", "TTL must be > 0 for TTL checks"},
        {"{\"TTL\":-1}", "TTL must be > 0 for TTL checks"},
        {"{\"TTL\":\"1s\",\"OutputMaxSize\":-1}", "MaxOutputMaxSize must be positive"},
        {"{\"TTL\":\"1s\",\"FailuresBeforeWarning\":3,\"FailuresBeforeCritical\":2}",
         "FailuresBeforeWarning can't be higher than FailuresBeforeCritical"},
    };
    struct cn_check_def *d;
    char err[CN_ERRMSG_MAX], want[CN_ERRMSG_MAX];
    (void)state;
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        assert_int_equal(parse(cases[i].json, &d, err), 0);
        int rc = cn_check_def_validate(d, err);
        if (!cases[i].msg) {
            assert_int_equal(rc, 0);
        } else {
            snprintf(want, sizeof want, "Invalid check: %s", cases[i].msg);
            assert_int_equal(rc, CN_EBADREQ);
            if (strncmp(err, want, strlen(want)) != 0)
                fail_msg("case %zu: got \"%s\" want \"%s\"", i, err, want);
        }
        cn_check_def_free(d);
    }
}

static void test_types(void **state)
{
    static const struct {
        const char *json;
        enum cn_check_type type;
    } cases[] = {
        {"{\"GRPC\":\"g\",\"HTTP\":\"h\",\"Interval\":\"1s\"}", CN_CHECK_GRPC},
        {"{\"HTTP\":\"h\",\"TCP\":\"t\",\"Interval\":\"1s\"}", CN_CHECK_HTTP},
        {"{\"TTL\":\"1s\",\"HTTP\":\"h\"}", CN_CHECK_TTL},
        {"{\"TCP\":\"t\",\"Interval\":\"1s\"}", CN_CHECK_TCP},
        {"{\"UDP\":\"u\",\"Interval\":\"1s\"}", CN_CHECK_UDP},
        {"{\"AliasService\":\"s\"}", CN_CHECK_ALIAS},
        {"{\"Args\":[\"x\"],\"Interval\":\"1s\"}", CN_CHECK_SCRIPT},
        {"{\"Script\":\"exit 0\",\"Interval\":\"1s\"}", CN_CHECK_SCRIPT},
        {"{\"H2PING\":\"h\",\"Interval\":\"1s\"}", CN_CHECK_H2PING},
        {"{\"OSService\":\"o\",\"Interval\":\"1s\"}", CN_CHECK_OS_SERVICE},
        {"{\"Name\":\"x\"}", CN_CHECK_TYPE_NONE},
    };
    struct cn_check_def *d;
    char err[CN_ERRMSG_MAX];
    (void)state;
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        assert_int_equal(parse(cases[i].json, &d, err), 0);
        if (cn_check_def_type(d) != cases[i].type)
            fail_msg("case %zu: type %d", i, cn_check_def_type(d));
        cn_check_def_free(d);
    }
}

static void test_status_names(void **state)
{
    enum cn_check_status s;
    (void)state;
    assert_int_equal(cn_check_status_parse("passing", 7, &s), 0);
    assert_int_equal(s, CN_CHECK_PASSING);
    assert_int_equal(cn_check_status_parse("critical", 8, &s), 0);
    assert_int_equal(s, CN_CHECK_CRITICAL);
    assert_int_equal(cn_check_status_parse("critica", 7, &s), CN_EMALFORMED);
    assert_int_equal(cn_check_status_parse("maintenance", 11, &s), CN_EMALFORMED);
    assert_string_equal(cn_check_status_name(CN_CHECK_WARNING), "warning");
}

static void test_clone_is_deep(void **state)
{
    char name[] = "name", v0[] = "v0", arg[] = "arg", body[] = "b\0dy";
    const char *vals[] = {v0};
    const char *args[] = {arg};
    struct cn_check_header h = {"X", vals, 1};
    struct cn_check_def in, *out;
    (void)state;
    memset(&in, 0, sizeof in);
    in.name = name;
    in.args = args;
    in.n_args = 1;
    in.headers = &h;
    in.n_headers = 1;
    in.body = body;
    in.body_len = 4;
    in.ttl_ns = 5;
    assert_int_equal(cn_check_def_clone(&in, &out), 0);
    name[0] = v0[0] = arg[0] = 'Z';
    assert_string_equal(out->name, "name");
    assert_string_equal(out->headers[0].values[0], "v0");
    assert_string_equal(out->args[0], "arg");
    assert_memory_equal(out->body, "b\0dy", 5);
    assert_null(out->http);
    assert_int_equal(out->ttl_ns, 5);
    cn_check_def_free(out);
}

/* Every allocation failure path returns -ENOMEM and leaks nothing. */
static void test_alloc_failures(void **state)
{
    const char *text = "{\"ID\":\"x\",\"Args\":[\"a\",\"b\"],\"Header\":{\"A\":[\"1\"]},"
                       "\"Interval\":\"1s\"}";
    struct cn_check_def *d;
    char err[CN_ERRMSG_MAX];
    json_t *v = J(text);
    int rc = -ENOMEM;
    (void)state;
    for (long n = 0; rc == -ENOMEM && n < 100; n++) {
        cn_alloc_fail_after(n);
        rc = cn_check_def_parse(v, &d, err);
        cn_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == -ENOMEM);
    }
    assert_int_equal(rc, 0);
    cn_check_def_free(d);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_definition),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_clone_is_deep),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
