/* filter/filter_test.c - unit tests for the ?filter= language.
 *
 * Expected answers follow go-bexpr v0.1.2 (the version Consul pins) and
 * Consul's filtering docs; where cairn differs on purpose (filter.h), the
 * test says so and pins cairn's answer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "filter_int.h"

#define P CN_FILTER_ERR_PREFIX

/* ---- helpers ---- */

static json_t *doc(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return j;
}

static struct cn_filter *compile_ok(const char *expr)
{
    struct cn_filter *f = NULL;
    char err[CN_ERRMSG_MAX];
    int rc = cn_filter_compile(expr, strlen(expr), &f, err);
    if (rc != 0)
        fail_msg("compile `%s`: rc %d: %s", expr, rc, err);
    return f;
}

/* expr against json must give want. */
static void check(const char *expr, const char *json, bool want)
{
    struct cn_filter *f = compile_ok(expr);
    json_t *j = doc(json);
    char err[CN_ERRMSG_MAX];
    bool m = !want;
    int rc = cn_filter_match(f, j, &m, err);
    if (rc != 0)
        fail_msg("match `%s`: rc %d: %s", expr, rc, err);
    if (m != want)
        fail_msg("`%s` on %s: got %d, want %d", expr, json, m, want);
    json_decref(j);
    cn_filter_free(f);
}

/* expr must fail to compile with rc and exactly msg (after the prefix). */
static void check_compile_err(const char *expr, size_t len, int want_rc,
                              const char *msg)
{
    struct cn_filter *f = (struct cn_filter *)0x1;
    char err[CN_ERRMSG_MAX], want[CN_ERRMSG_MAX];
    int rc = cn_filter_compile(expr, len, &f, err);
    snprintf(want, sizeof want, "%s%s", P, msg);
    if (rc != want_rc || strcmp(err, want) != 0)
        fail_msg("compile `%s`: rc %d `%s`, want %d `%s`", expr, rc, err,
                 want_rc, want);
    assert_ptr_equal(f, (struct cn_filter *)0x1); /* Untouched. */
}

#define COMPILE_ERR(expr, msg) \
    check_compile_err((expr), strlen(expr), CN_EBADREQ, (msg))

/* expr compiles but matching json fails with exactly msg. */
static void check_match_err(const char *expr, const char *json,
                            const char *msg)
{
    struct cn_filter *f = compile_ok(expr);
    json_t *j = doc(json);
    char err[CN_ERRMSG_MAX], want[CN_ERRMSG_MAX];
    bool m = true;
    int rc = cn_filter_match(f, j, &m, err);
    snprintf(want, sizeof want, "%s%s", P, msg);
    if (rc != CN_EBADREQ || strcmp(err, want) != 0)
        fail_msg("match `%s`: rc %d `%s`, want `%s`", expr, rc, err, want);
    assert_true(m); /* Not written on error. */
    json_decref(j);
    cn_filter_free(f);
}

/* ---- realistic Consul elements (consul-compat.md 5.4-5.6) ---- */

/* GET /v1/catalog/service/web: one ServiceNode. */
static const char service_node[] =
    "{\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\",\"Node\":\"n1\","
    "\"Address\":\"10.0.0.5\",\"Datacenter\":\"dc1\","
    "\"TaggedAddresses\":{\"lan\":\"10.0.0.5\",\"wan\":\"198.18.0.5\"},"
    "\"NodeMeta\":{\"consul-network-segment\":\"\",\"env\":\"prod\","
    "\"os\":\"linux\"},\"ServiceKind\":\"\",\"ServiceID\":\"web-1\","
    "\"ServiceName\":\"web\",\"ServiceTags\":[\"v1\",\"primary\"],"
    "\"ServiceAddress\":\"\",\"ServiceWeights\":{\"Passing\":1,"
    "\"Warning\":1},\"ServiceMeta\":{\"version\":\"1.2.3\"},"
    "\"ServicePort\":8080,\"ServiceSocketPath\":\"\","
    "\"ServiceEnableTagOverride\":false,\"ServiceProxy\":{\"Mode\":\"\","
    "\"Upstreams\":null},\"ServiceConnect\":{\"Native\":false},"
    "\"CreateIndex\":12,\"ModifyIndex\":14}";

/* GET /v1/health/service/web: one CheckServiceNode. */
static const char check_service_node[] =
    "{\"Node\":{\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\","
    "\"Node\":\"n1\",\"Address\":\"10.0.0.5\",\"Datacenter\":\"dc1\","
    "\"TaggedAddresses\":{\"lan\":\"10.0.0.5\"},\"Meta\":{\"env\":\"prod\","
    "\"rack\":\"r1\"},\"CreateIndex\":5,\"ModifyIndex\":9},"
    "\"Service\":{\"ID\":\"web-1\",\"Service\":\"web\",\"Tags\":[\"v1\","
    "\"primary\"],\"Address\":\"\",\"TaggedAddresses\":{},\"Meta\":{},"
    "\"Port\":8080,\"Weights\":{\"Passing\":1,\"Warning\":1},"
    "\"EnableTagOverride\":false,\"Kind\":\"\",\"Proxy\":{\"Upstreams\":[]},"
    "\"Connect\":{\"Native\":false},\"CreateIndex\":12,\"ModifyIndex\":12},"
    "\"Checks\":[{\"Node\":\"n1\",\"CheckID\":\"serfHealth\","
    "\"Name\":\"Serf Health Status\",\"Status\":\"passing\",\"Notes\":\"\","
    "\"Output\":\"Agent alive and reachable\",\"ServiceID\":\"\","
    "\"ServiceName\":\"\",\"ServiceTags\":[],\"Type\":\"\","
    "\"Definition\":{},\"CreateIndex\":5,\"ModifyIndex\":5},"
    "{\"Node\":\"n1\",\"CheckID\":\"service:web-1\","
    "\"Name\":\"Service 'web' check\",\"Status\":\"critical\","
    "\"Notes\":\"\",\"Output\":\"HTTP GET http://127.0.0.1:8080/health: "
    "503 Service Unavailable\",\"ServiceID\":\"web-1\","
    "\"ServiceName\":\"web\",\"ServiceTags\":[\"v1\",\"primary\"],"
    "\"Type\":\"http\",\"Interval\":\"10s\",\"Timeout\":\"1s\","
    "\"ExposedPort\":0,\"Definition\":{\"HTTP\":\"http://127.0.0.1:8080/"
    "health\",\"Interval\":10000000000,\"Timeout\":1000000000},"
    "\"CreateIndex\":15,"
    "\"ModifyIndex\":88}]}";

/* GET /v1/health/state/any: one HealthCheck. */
static const char health_check[] =
    "{\"Node\":\"n2\",\"CheckID\":\"service:redis\","
    "\"Name\":\"Service 'redis' check\",\"Status\":\"warning\","
    "\"Notes\":\"primary only\",\"Output\":\"TCP connect 10.0.0.6:6379: "
    "slow\",\"ServiceID\":\"redis\",\"ServiceName\":\"redis\","
    "\"ServiceTags\":[\"primary\"],\"Type\":\"tcp\",\"Interval\":\"5s\","
    "\"Timeout\":\"1s\",\"ExposedPort\":0,\"Definition\":{},"
    "\"CreateIndex\":20,\"ModifyIndex\":31}";

/* GET /v1/agent/services: one AgentService (a value of the map). */
static const char agent_service[] =
    "{\"ID\":\"redis1\",\"Service\":\"redis\",\"Tags\":[\"primary\","
    "\"production\"],\"Meta\":{\"env\":\"production\",\"foo\":\"bar\"},"
    "\"Port\":1234,\"Address\":\"\",\"TaggedAddresses\":{\"lan_ipv4\":"
    "{\"Address\":\"10.0.0.7\",\"Port\":1234}},\"Weights\":{\"Passing\":1,"
    "\"Warning\":1},\"EnableTagOverride\":false,\"Kind\":\"\","
    "\"CreateIndex\":0,\"ModifyIndex\":0,\"Datacenter\":\"dc1\"}";

/* ---- operators ---- */

static const char ops_doc[] =
    "{\"S\":\"hello world\",\"E\":\"\",\"I\":8080,\"N\":-3,\"R\":1.5,"
    "\"T\":true,\"F\":false,\"L\":[\"a\",\"b c\"],\"LI\":[1,2,3],"
    "\"LE\":[],\"M\":{\"k\":\"v\",\"k2\":\"\"},\"ME\":{}}";

static void t_op_equal(void **state)
{
    (void)state;
    check("S == \"hello world\"", ops_doc, true);
    check("S == \"hello\"", ops_doc, false);
    check("S != \"hello\"", ops_doc, true);
    check("S != `hello world`", ops_doc, false);
    check("E == \"\"", ops_doc, true);
    check("I == 8080", ops_doc, true);
    check("I != 8080", ops_doc, false);
    check("N == -3", ops_doc, true);
    check("R == 1.5", ops_doc, true);
    check("R != 1.5", ops_doc, false);
    check("T == true", ops_doc, true);
    check("F == false", ops_doc, true);
    check("F != true", ops_doc, true);
    check("M.k == v", ops_doc, true);
}

static void t_op_contains_in(void **state)
{
    (void)state;
    /* String: substring. */
    check("S contains \"lo wo\"", ops_doc, true);
    check("\"lo wo\" in S", ops_doc, true);
    check("S contains \"xyz\"", ops_doc, false);
    check("S not contains xyz", ops_doc, true);
    check("\"xyz\" not in S", ops_doc, true);
    check("S contains \"\"", ops_doc, true); /* Go strings.Contains. */
    /* Array: element equality, literal converted per element. */
    check("L contains \"b c\"", ops_doc, true);
    check("L contains b", ops_doc, false);
    check("\"a\" in L", ops_doc, true);
    check("a not in L", ops_doc, false);
    check("LI contains 2", ops_doc, true);
    check("\"0x3\" in LI", ops_doc, true);
    check("LI not contains 4", ops_doc, true);
    check("LE contains a", ops_doc, false);
    check("LE not contains a", ops_doc, true);
    /* Object: key presence, values ignored. */
    check("M contains k2", ops_doc, true);
    check("v in M", ops_doc, false);
    check("missing not in M", ops_doc, true);
}

static void t_op_empty(void **state)
{
    (void)state;
    check("LE is empty", ops_doc, true);
    check("L is empty", ops_doc, false);
    check("L is not empty", ops_doc, true);
    check("ME is empty", ops_doc, true);
    check("M is not empty", ops_doc, true);
    /* bexpr allows emptiness checks on slices and maps only. */
    check_match_err("E is empty", ops_doc,
                    "Invalid match operator \"Is Empty\" for selector \"E\"");
    check_match_err("I is not empty", ops_doc,
                    "Invalid match operator \"Is Not Empty\" for selector "
                    "\"I\"");
}

static void t_op_matches(void **state)
{
    (void)state;
    check("S matches \"^hel+o\"", ops_doc, true);
    check("S matches \"^world\"", ops_doc, false);
    check("S not matches \"^world\"", ops_doc, true);
    check("S matches `o\\sw`", ops_doc, true);
    check("S matches \"\"", ops_doc, true);
    check("M.k matches \"^v$\"", ops_doc, true);
    check_match_err("I matches \"8\"", ops_doc,
                    "Invalid match operator \"Matches\" for selector \"I\"");
    check_match_err("L not matches \"a\"", ops_doc,
                    "Invalid match operator \"Not Matches\" for selector "
                    "\"L\"");
}

static void t_op_invalid_for_type(void **state)
{
    (void)state;
    /* What bexpr's validator refuses, by field type (Consul's docs list
     * the same per selector). */
    check_match_err("L == a", ops_doc,
                    "Invalid match operator \"Equal\" for selector \"L\"");
    check_match_err("M != a", ops_doc,
                    "Invalid match operator \"Not Equal\" for selector \"M\"");
    check_match_err("I contains 8", ops_doc,
                    "Invalid match operator \"In\" for selector \"I\"");
    check_match_err("\"x\" not in T", ops_doc,
                    "Invalid match operator \"Not In\" for selector \"T\"");
    check_match_err("R is empty", ops_doc,
                    "Invalid match operator \"Is Empty\" for selector \"R\"");
    /* []struct supports only emptiness. */
    check_match_err("x in A", "{\"A\":[{\"x\":1}]}",
                    "Invalid match operator \"In\" for selector \"A\"");
    check("A is not empty", "{\"A\":[{\"x\":1}]}", true);
}

/* ---- precedence, grouping, keywords ---- */

static const char abc[] = "{\"A\":\"1\",\"B\":\"0\",\"C\":\"1\"}";

static void t_precedence(void **state)
{
    (void)state;
    /* and binds tighter than or: A or (B and ...). */
    check("A == 1 or B == 1 and C == 0", abc, true);
    check("B == 1 and C == 0 or A == 1", abc, true);
    /* not binds tighter than and/or. */
    check("not B == 0 or A == 1", abc, true);
    check("not A == 1 and C == 1", abc, false);
    check("not (B == 0 or A == 1)", abc, false);
    check("not not A == 1", abc, true);
    check("not not not A == 1", abc, false);
    /* Filtering docs: `e1 and not e2 or e3` == `(e1 and (not e2)) or e3`. */
    check("A == 1 and not C == 1 or B == 0", abc, true);
    check("(A == 1 and (not C == 1)) or B == 0", abc, true);
    check("A == 1 and not (C == 1 or B == 0)", abc, false);
    /* Long chains are n-ary, evaluated left to right. */
    check("A == 0 or A == 2 or A == 3 or B == 9 or C == 1", abc, true);
    check("A == 1 and B == 0 and C == 1 and A != 0", abc, true);
    check("A == 1 and B == 0 and C == 1 and A == 0", abc, false);
}

static void t_parentheses(void **state)
{
    (void)state;
    check("(A == 1 or B == 1) and C == 0", abc, false);
    check("((A == 1))", abc, true);
    check("( A == 1 )", abc, true);
    check("(\tA == 1\n)", abc, true);
    check("(A == 1) and (B == 0)", abc, true);
    check("not (A == 1) or (C == 1)", abc, true);
    check("(((A == 0 or (B == 0 and (C == 1)))))", abc, true);
    /* and/or need whitespace, parentheses or not. */
    COMPILE_ERR("(A == 1)and(B == 0)",
                "1:9 (8): no match found, expected: end of input or "
                "whitespace");
    COMPILE_ERR("(A == 1",
                "1:8 (7): rule \"grouping\": Unmatched parentheses");
    /* `or` needs whitespace after it too, so the group ends early. */
    COMPILE_ERR("(A == 1 or)",
                "1:9 (8): rule \"grouping\": Unmatched parentheses");
    COMPILE_ERR("(A == 1 or )",
                "1:12 (11): no match found, expected: \"(\", \"not\", "
                "selector or value");
    COMPILE_ERR("A == 1)",
                "1:7 (6): no match found, expected: end of input or "
                "whitespace");
    COMPILE_ERR("()", "1:2 (1): no match found, expected: \"(\", \"not\", "
                      "selector or value");
}

static void t_keywords_are_not_reserved(void **state)
{
    (void)state;
    const char *j = "{\"not\":\"x\",\"in\":[\"y\"],\"and\":\"z\",\"or\":1,"
                    "\"contains\":\"c\",\"is\":[]}";
    check("not == x", j, true);        /* Not falls back to a selector. */
    check("not not == x", j, false);   /* not (not == x) */
    check("y in in", j, true);
    check("not in in", j, false);      /* The value "not" in `in`. */
    check("\"not\" not in in", j, true);
    check("and == z and or == 1", j, true);
    check("contains contains c", j, true);
    check("is is empty", j, true);
    check("notx == 1", "{\"notx\":1}", true);
    check("order == 1 or andy == 2", "{\"order\":1,\"andy\":3}", true);
}

static void t_whitespace(void **state)
{
    (void)state;
    check("  A == 1  ", abc, true);
    check("A==1", abc, true);
    check("A!=0", abc, true);
    check("A\t==\n1 \r\nand\tB == 0", abc, true);
    check("A == 1\nor\nB == 1", abc, true);
    COMPILE_ERR("L contains\"a\"",
                "1:11 (10): no match found, expected: whitespace");
    COMPILE_ERR("\"a\"in L", "1:4 (3): no match found, expected: whitespace");
    COMPILE_ERR("A == 1 and\nB ==", "2:5 (15): no match found, expected: "
                                    "selector or value");
}

/* ---- literals and selectors ---- */

static void t_quoting(void **state)
{
    (void)state;
    const char *j = "{\"S\":\"a\\nb\\t\\u00e9A\\\\\",\"B\":\"back\\\\slash\","
                    "\"C\":\"x.y\",\"D\":\"1.50\",\"U\":\"\\u263a\","
                    "\"Q\":\"say \\\"hi\\\"\",\"Z\":\"a\\u0000b\"}";
    /* Go escapes: \n \t \u \x octal \\ (strconv.Unquote). */
    check("S == \"a\\nb\\t\\u00e9\\x41\\\\\"", j, true);
    check("S == \"a\\nb\\t\\xc3\\xa9\\101\\\\\"", j, true);
    check("U == \"\\U0000263a\"", j, true);
    check("U == \"\xe2\x98\xba\"", j, true);
    /* Raw strings: no escapes; carriage returns dropped as in Go. */
    check("B == `back\\slash`", j, true);
    check("B == `back\\sl\rash`", j, true);
    check("Q == `say \"hi\"`", j, true);
    /* Bare values: a selector's dotted text, or a number's text. */
    check("C == x.y", j, true);
    check("C == x[\"y\"]", j, true);
    check("D == 1.50", j, true);
    check("D == \"1.50\"", j, true);
    check("D != 1.5", j, true); /* String field: compared as text. */
    /* NUL bytes survive (jansson keeps lengths). */
    check("Z == \"a\\x00b\"", j, true);
    check("Z contains \"\\000\"", j, true);
    /* The first '"' always ends a string, so \" cannot be written. */
    COMPILE_ERR("Q == \"say \\\"hi\\\"\"",
                "1:6 (5): rule \"string\": invalid syntax");
    COMPILE_ERR("S == \"\\q\"", "1:6 (5): rule \"string\": invalid syntax");
    COMPILE_ERR("S == \"\\'\"", "1:6 (5): rule \"string\": invalid syntax");
    COMPILE_ERR("S == \"\\ud800\"", "1:6 (5): rule \"string\": invalid syntax");
    COMPILE_ERR("S == \"\\400\"", "1:6 (5): rule \"string\": invalid syntax");
    COMPILE_ERR("S == \"\\x4\"", "1:6 (5): rule \"string\": invalid syntax");
    COMPILE_ERR("S == \"a\nb\"", "1:6 (5): rule \"string\": invalid syntax");
    COMPILE_ERR("S == \"abc",
                "1:10 (9): rule \"string\": Unterminated string literal");
    COMPILE_ERR("S == `abc",
                "1:10 (9): rule \"string\": Unterminated string literal");
    COMPILE_ERR("S == 12abc",
                "1:8 (7): rule \"number\": Invalid number literal");
    COMPILE_ERR("S == 1.", "1:7 (6): rule \"number\": Invalid number literal");
    COMPILE_ERR("S == 007", "1:7 (6): rule \"number\": Invalid number literal");
    COMPILE_ERR("S == 1e5", "1:7 (6): rule \"number\": Invalid number literal");
    COMPILE_ERR("S == 0x10",
                "1:7 (6): rule \"number\": Invalid number literal");
    COMPILE_ERR("S == -",
                "1:6 (5): no match found, expected: selector or value");
    COMPILE_ERR("S == +1",
                "1:6 (5): no match found, expected: selector or value");
}

static void t_selectors(void **state)
{
    (void)state;
    const char *j = "{\"Meta\":{\"env\":\"prod\",\"a.b\":\"dot\",\"\":\"empty\","
                    "\"with space\":\"sp\",\"2x\":\"digit\"},"
                    "\"Deep\":{\"x_1\":{\"Y\":{\"z\":true}}}}";
    check("Meta.env == prod", j, true);
    check("Meta[\"env\"] == prod", j, true);
    check("Meta[ `env` ] == prod", j, true);
    check("Meta[\"a.b\"] == dot", j, true);
    check("Meta[\"\"] == empty", j, true);
    check("Meta[\"with space\"] == sp", j, true);
    check("Meta[\"2x\"] == digit", j, true);
    check("Deep.x_1.Y.z == true", j, true);
    check("Deep[\"x_1\"].Y[\"z\"] == true", j, true);
    check("\"prod\" in Meta.env", j, true);
    /* Field names are case-sensitive, as Go struct fields and map keys. */
    check("meta.env == prod", j, false);
    check("Meta.Env != prod", j, true);
    /* Identifiers start with a letter; no numeric or pointer segments. */
    COMPILE_ERR("Meta.2x == digit",
                "1:6 (5): no match found, expected: selector");
    COMPILE_ERR("_a == 1", "1:1 (0): no match found, expected: \"(\", "
                           "\"not\", selector or value");
    COMPILE_ERR("Meta[5] == a", "1:6 (5): rule \"index\": Invalid index");
    COMPILE_ERR("Meta[env] == a", "1:6 (5): rule \"index\": Invalid index");
    COMPILE_ERR("Meta[\"env\" == a",
                "1:12 (11): rule \"index\": Unclosed index expression");
    COMPILE_ERR("\"a\" in 5", "1:8 (7): rule \"match\": Invalid selector");
    COMPILE_ERR("\"a\" not in \"b\"",
                "1:12 (11): rule \"match\": Invalid selector");
}

static void t_coercion(void **state)
{
    (void)state;
    const char *j = "{\"Port\":8080,\"Neg\":-1,\"Big\":9223372036854775807,"
                    "\"R\":0.25,\"On\":true,\"Off\":false,\"Name\":\"8080\"}";
    /* Integer fields: Go ParseInt(s, 0, 64). */
    check("Port == 8080", j, true);
    check("Port == \"8080\"", j, true);
    check("Port == \"0x1F90\"", j, true);
    check("Port == \"0o17620\"", j, true);
    check("Port == \"0b1111110010000\"", j, true);
    check("Port == \"017620\"", j, true); /* Leading 0: octal. */
    check("Port == \"8_080\"", j, true);
    check("Port == \"+8080\"", j, true);
    check("Neg == -1", j, true);
    check("Big == 9223372036854775807", j, true);
    check("Big != 18446744073709551615", j, true); /* uint64 range. */
    check_match_err("Port == 8080.0", j,
                    "Failed to coerce value \"8080.0\" for selector \"Port\": "
                    "strconv.ParseInt: parsing \"8080.0\": invalid syntax");
    check_match_err("Port == web", j,
                    "Failed to coerce value \"web\" for selector \"Port\": "
                    "strconv.ParseInt: parsing \"web\": invalid syntax");
    check_match_err("Port != \"8__0\"", j,
                    "Failed to coerce value \"8__0\" for selector \"Port\": "
                    "strconv.ParseInt: parsing \"8__0\": invalid syntax");
    check_match_err("Port == 99999999999999999999", j,
                    "Failed to coerce value \"99999999999999999999\" for "
                    "selector \"Port\": strconv.ParseInt: parsing "
                    "\"99999999999999999999\": value out of range");
    /* Reals: Go ParseFloat. */
    check("R == 0.25", j, true);
    check("R == \"2.5e-1\"", j, true);
    check("R == \"0x1p-2\"", j, true);
    check("R == \".25\"", j, true);
    check("R != 0.5", j, true);
    check_match_err("R == abc", j,
                    "Failed to coerce value \"abc\" for selector \"R\": "
                    "strconv.ParseFloat: parsing \"abc\": invalid syntax");
    check_match_err("R == \"1e999\"", j,
                    "Failed to coerce value \"1e999\" for selector \"R\": "
                    "strconv.ParseFloat: parsing \"1e999\": value out of "
                    "range");
    /* Booleans: Go ParseBool. */
    check("On == true", j, true);
    check("On == True", j, true);
    check("On == TRUE", j, true);
    check("On == t", j, true);
    check("On == 1", j, true);
    check("Off == 0", j, true);
    check("Off == F", j, true);
    check("On != false", j, true);
    check_match_err("On == yes", j,
                    "Failed to coerce value \"yes\" for selector \"On\": "
                    "strconv.ParseBool: parsing \"yes\": invalid syntax");
    /* Strings take the literal's text as is. */
    check("Name == 8080", j, true);
    check("Name != \"0x1F90\"", j, true);
    /* Bare numbers are decimal only: 0x.. and 10s are not literals. */
    COMPILE_ERR("Port == 0x1F90",
                "1:10 (9): rule \"number\": Invalid number literal");
}

/* bexpr's NotPresentDisposition, for a missing key and for null. */
static void t_missing_and_null(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        bool want;
    } rows[] = {
        { "M.x == a", false },        { "M.x != a", true },
        { "a in M.x", false },        { "a not in M.x", true },
        { "M.x contains a", false },  { "M.x not contains a", true },
        { "M.x is empty", true },     { "M.x is not empty", false },
        { "M.x matches a", false },   { "M.x not matches a", true },
    };
    const char *docs[] = {
        "{\"M\":{}}",                  /* Missing map key. */
        "{\"M\":{\"x\":null}}",        /* Null value. */
        "{\"M\":null}",                /* Null map on the way. */
        "{\"M\":{\"y\":{}}}",          /* Missing key, deeper: same. */
    };
    for (size_t d = 0; d < CN_ARRAY_LEN(docs); d++)
        for (size_t i = 0; i < CN_ARRAY_LEN(rows); i++)
            check(rows[i].expr, docs[d], rows[i].want);
    /* A typo'd top-level field is a missing key too (Consul: an error at
     * compile time, `Selector "Servce" is not valid`). */
    check("Servce == web", agent_service, false);
    check("Servce != web", agent_service, true);
    /* Through a scalar is an error, as bexpr's validator says. */
    check_match_err("Port.x == 1", agent_service,
                    "Selector \"Port.x\" is not valid");
    check_match_err("Meta.env.x == 1", agent_service,
                    "Selector \"Meta.env.x\" is not valid");
}

/* A selector crossing a list applies to every element, true if ANY is. */
static void t_crossing_lists(void **state)
{
    (void)state;
    const char *csn = check_service_node;
    check("Checks.Status == passing", csn, true);
    check("Checks.Status == critical", csn, true);
    check("Checks.Status == warning", csn, false);
    /* != is per element too: some check is not passing. */
    check("Checks.Status != passing", csn, true);
    check("not Checks.Status != passing", csn, false); /* "all passing" */
    check("Checks.CheckID == serfHealth", csn, true);
    check("Checks.Type == http and Checks.Status == passing", csn, true);
    check("Checks.ServiceTags contains primary", csn, true);
    check("Checks.ServiceTags is empty", csn, true); /* serfHealth's. */
    check("Checks.Definition.HTTP matches \"/health$\"", csn, true);
    /* Durations are Go int64 nanoseconds to bexpr (filter.h). */
    check("Checks.Definition.Interval == 10000000000", csn, true);
    check("Checks.Definition.Interval != 10000000000", csn, true); /* serf */
    check("Checks.Interval == \"10s\"", csn, true); /* A string field. */
    COMPILE_ERR("Checks.Interval == 10s",
                "1:22 (21): rule \"number\": Invalid number literal");
    /* Empty list: false for every operator, != included. */
    const char *none = "{\"Checks\":[]}";
    check("Checks.Status == passing", none, false);
    check("Checks.Status != passing", none, false);
    check("Checks.Status is empty", none, false);
    check("Checks.Status not matches x", none, false);
    /* Nested lists flatten. */
    const char *nested = "{\"A\":[[{\"x\":1}],[{\"x\":2},{\"x\":3}]]}";
    check("A.x == 3", nested, true);
    check("A.x == 4", nested, false);
    /* Errors inside elements surface; an empty list hides them. */
    check_match_err("Checks.Status is empty", csn,
                    "Invalid match operator \"Is Empty\" for selector "
                    "\"Checks.Status\"");
    check("Checks.Status is empty", none, false);
    check_match_err("Service.Tags.x == 1", csn,
                    "Selector \"Service.Tags.x\" is not valid");
}

/* ---- realistic Consul filters ---- */

struct row {
    const char *expr;
    const char *const *json;
    bool want;
};

static const char *const SN = service_node;
static const char *const CSN = check_service_node;
static const char *const HC = health_check;
static const char *const AS = agent_service;

static void t_consul_table(void **state)
{
    (void)state;
    static const struct row rows[] = {
        /* /v1/catalog/service/:s (ServiceNode) */
        { "ServiceTags contains \"primary\" and NodeMeta.env == \"prod\"",
          &SN, true },
        { "NodeMeta.os == \"linux\"", &SN, true },
        { "NodeMeta[\"consul-network-segment\"] == \"\"", &SN, true },
        { "NodeMeta is not empty", &SN, true },
        { "ServicePort == 8080 and ServiceAddress == \"\"", &SN, true },
        { "ServiceMeta.version matches \"^1\\\\.2\\\\.\"", &SN, true },
        { "ServiceMeta.version != \"1.2.3\"", &SN, false },
        { "ServiceWeights.Passing == 1", &SN, true },
        { "ServiceEnableTagOverride == false", &SN, true },
        { "ServiceProxy.Upstreams is empty", &SN, true },
        { "ServiceConnect.Native == false", &SN, true },
        { "ServiceKind == \"\"", &SN, true },
        { "TaggedAddresses.wan == \"198.18.0.5\"", &SN, true },
        { "\"wan\" in TaggedAddresses", &SN, true },
        { "Datacenter == dc1 and Node matches \"^n[0-9]+$\"", &SN, true },
        { "ServiceName == web and not (ServiceTags contains v2)", &SN, true },
        { "ModifyIndex == 14 and CreateIndex != 14", &SN, true },
        { "ID == \"40e4a748-2192-161a-0510-9bf59fe950b5\"", &SN, true },
        /* /v1/health/service/:s (CheckServiceNode) */
        { "Service.Tags contains \"primary\" and Node.Meta.env == \"prod\"",
          &CSN, true },
        { "Service.Tags contains primary and Node.Meta.env == staging",
          &CSN, false },
        { "Checks.Status == passing", &CSN, true },
        { "Checks.Status == critical and Checks.Type == http", &CSN, true },
        { "Checks.Output contains \"503\"", &CSN, true },
        { "Node.Node == n1 and Service.Port == 8080", &CSN, true },
        { "Service.Meta is empty and Service.TaggedAddresses is empty", &CSN,
          true },
        { "Service.Kind != \"connect-proxy\"", &CSN, true },
        { "Service.Proxy.Upstreams.DestinationName == db", &CSN, false },
        { "Node.TaggedAddresses.wan == \"198.18.0.1\"", &CSN, false },
        /* /v1/health/state/:s, /v1/agent/checks (HealthCheck) */
        { "ServiceName != \"\"", &HC, true },
        { "Status == warning and ServiceTags contains primary", &HC, true },
        { "Notes contains primary", &HC, true },
        { "Output matches \"slow$\"", &HC, true },
        { "Type == tcp or Type == http", &HC, true },
        { "CheckID == \"service:redis\"", &HC, true },
        { "Definition is empty", &HC, true },
        /* /v1/agent/services (AgentService) - the filtering docs. */
        { "Meta.env == \"qa\"", &AS, false },
        { "Meta.env == production and Service == redis", &AS, true },
        { "Tags contains primary and Port == 1234", &AS, true },
        { "\"secondary\" in Tags", &AS, false },
        { "TaggedAddresses.lan_ipv4.Address == \"10.0.0.7\"", &AS, true },
        { "TaggedAddresses.lan_ipv4.Port == 1234", &AS, true },
        { "Weights.Warning == 1 and EnableTagOverride != true", &AS, true },
        { "Datacenter == dc1", &AS, true },
        { "Meta.foo matches \"^b.r$\" and not Meta.env matches \"^qa\"", &AS,
          true },
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(rows); i++)
        check(rows[i].expr, *rows[i].json, rows[i].want);
    /* bexpr v0.1.2 has no inline list values (`x in ["a","b"]`, a later
     * bexpr feature Consul does not have). */
    COMPILE_ERR("\"r1\" in [\"r1\"]",
                "1:9 (8): rule \"match\": Invalid selector");
}

/* ---- errors, bounds ---- */

static void t_compile_errors(void **state)
{
    (void)state;
    COMPILE_ERR("Name ==",
                "1:8 (7): no match found, expected: selector or value");
    COMPILE_ERR("Name", "1:5 (4): no match found, expected: operator or "
                        "whitespace");
    COMPILE_ERR("Name === x",
                "1:8 (7): no match found, expected: selector or value");
    COMPILE_ERR("== x", "1:1 (0): no match found, expected: \"(\", \"not\", "
                        "selector or value");
    COMPILE_ERR("Name == x and", "1:14 (13): no match found, expected: "
                                 "whitespace");
    COMPILE_ERR("Name == x or not", "1:17 (16): no match found, expected: "
                                    "operator or whitespace");
    COMPILE_ERR("Name is", "1:8 (7): no match found, expected: whitespace");
    COMPILE_ERR("Name is full", "1:9 (8): no match found, expected: "
                                "operator");
    COMPILE_ERR("   ", "1:4 (3): no match found, expected: \"(\", \"not\", "
                       "selector or value");
    /* Not UTF-8 (pigeon: "invalid encoding"). */
    COMPILE_ERR("a == \"\xff\"", "1:7 (6): invalid encoding");
    COMPILE_ERR("a == \"\xc0\x80\"", "1:7 (6): invalid encoding");
    /* Columns count runes, lines count newlines. */
    COMPILE_ERR("a == \"\xc3\xa9\" b", "1:10 (10): no match found, expected: "
                                       "\"and\", \"or\" or end of input");
    /* Regexes are compiled with the filter. */
    COMPILE_ERR("a matches \"(\"",
                "Failed to compile regular expression \"(\": error parsing "
                "regexp: missing closing ): `(`");
    COMPILE_ERR("a not matches \"a)\"",
                "Failed to compile regular expression \"a)\": error parsing "
                "regexp: unexpected ): `a)`");
    COMPILE_ERR("a matches `[a`",
                "Failed to compile regular expression \"[a\": error parsing "
                "regexp: missing closing ]: `[a`");
    COMPILE_ERR("a matches `x{2,1}`",
                "Failed to compile regular expression \"x{2,1}\": error "
                "parsing regexp: invalid repeat count: `{2,1}`");
}

static void t_empty_expression(void **state)
{
    (void)state;
    struct cn_filter *f = (struct cn_filter *)0x1;
    char err[CN_ERRMSG_MAX];
    bool m = false;
    json_t *j = doc(agent_service);
    assert_int_equal(cn_filter_compile("", 0, &f, err), 0);
    assert_null(f); /* bexpr: no filter. */
    assert_int_equal(cn_filter_match(NULL, j, &m, err), 0);
    assert_true(m);
    assert_int_equal(cn_filter_matches_count(NULL), 0);
    cn_filter_free(NULL);
    json_decref(j);
}

static char *repeat(const char *head, const char *unit, size_t n,
                    const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + n * ul, tail, tl + 1);
    return s;
}

static void t_limits(void **state)
{
    (void)state;
    char *s;
    struct cn_filter *f;
    char err[CN_ERRMSG_MAX];

    /* Length. */
    s = repeat("", " ", CN_FILTER_EXPR_BYTES_MAX + 1, "");
    check_compile_err(s, strlen(s), CN_ETOOBIG,
                      "expression of 16385 bytes exceeds the limit of 16384");
    free(s);
    /* Depth: 64 levels of parentheses (and `not`s) are fine, 65 are not. */
    s = repeat("", "(", CN_FILTER_DEPTH_MAX, "a == 1");
    char *t = repeat(s, ")", CN_FILTER_DEPTH_MAX, "");
    check(t, "{\"a\":1}", true);
    free(s);
    free(t);
    s = repeat("", "not ", CN_FILTER_DEPTH_MAX, "a == 1");
    check(s, "{\"a\":1}", true); /* An even number of nots. */
    free(s);
    s = repeat("", "(", CN_FILTER_DEPTH_MAX + 1, "a == 1");
    check_compile_err(s, strlen(s), CN_ETOOBIG,
                      "1:65 (64): expression nests too deeply (limit 64)");
    free(s);
    s = repeat("", "not ", CN_FILTER_DEPTH_MAX + 1, "a == 1");
    check_compile_err(s, strlen(s), CN_ETOOBIG,
                      "1:261 (260): expression nests too deeply (limit 64)");
    free(s);
    /* Nodes: 1024 terms under one n-ary or = 1025 nodes: fine. */
    s = repeat("a == 1", " or a == 1", 1023, "");
    f = compile_ok(s);
    assert_int_equal(cn_filter_matches_count(f), 1024);
    cn_filter_free(f);
    free(s);
    s = repeat("a==1", " or a==1", CN_FILTER_NODES_MAX - 1, ""); /* 16380B */
    assert_int_equal(cn_filter_compile(s, strlen(s), &f, err), CN_ETOOBIG);
    assert_non_null(strstr(err, "too many expression nodes (limit 2048)"));
    free(s);
    /* Selector segments. */
    s = repeat("a", ".b", CN_FILTER_SELECTOR_SEGS_MAX - 1, " == 1");
    f = compile_ok(s);
    cn_filter_free(f);
    free(s);
    s = repeat("a", ".b", CN_FILTER_SELECTOR_SEGS_MAX, " == 1");
    assert_int_equal(cn_filter_compile(s, strlen(s), &f, err), CN_ETOOBIG);
    assert_non_null(strstr(err, "too many selector segments (limit 32)"));
    free(s);
    /* Regexes: count, length and estimated size. */
    s = repeat("a matches x", " or a matches x", CN_FILTER_REGEXES_MAX, "");
    check_compile_err(s, strlen(s), CN_ETOOBIG,
                      "17 regular expressions, more than 16");
    free(s);
    s = repeat("a matches \"", "x", CN_FILTER_REGEX_BYTES_MAX + 1, "\"");
    assert_int_equal(cn_filter_compile(s, strlen(s), &f, err), CN_ETOOBIG);
    char *xs = repeat("", "x", 58, ""), want[CN_ERRMSG_MAX];
    snprintf(want, sizeof want, "%sFailed to compile regular expression "
             "\"%s\"...: error parsing regexp: expression of 1025 bytes "
             "exceeds the limit of 1024", P, xs);
    assert_string_equal(err, want);
    free(xs);
    free(s);
    f = compile_ok("a matches \"(a{10}){90}\"");
    cn_filter_free(f);
    assert_int_equal(cn_filter_compile("a matches \"(a{10}){91}\"", 23, &f,
                                       err), CN_ETOOBIG);
    assert_non_null(strstr(err, "error parsing regexp: expression too "
                                "large"));
    /* Deeply nested arrays in the document. */
    s = repeat("{\"a\":", "[", CN_JSON_DEPTH_MAX + 1, "{\"b\":1}");
    t = repeat(s, "]", CN_JSON_DEPTH_MAX + 1, "}");
    check_match_err("a.b == 1", t, "arrays nested deeper than 32");
    free(s);
    free(t);
}

/* Every allocation failure yields -ENOMEM and leaks nothing (ASan). */
static void t_alloc_failures(void **state)
{
    (void)state;
    static const char expr[] =
        "Service.Tags contains \"primary\" and (Node.Meta[\"env\"] == prod or "
        "not Checks.Status matches `^crit`) and Service.Port != \"0x10\"";
    struct cn_filter *f;
    char err[CN_ERRMSG_MAX];
    int rc = -ENOMEM;
    long n;
    for (n = 0; n < 1000 && rc == -ENOMEM; n++) {
        f = NULL;
        cn_alloc_fail_after(n);
        rc = cn_filter_compile(expr, sizeof expr - 1, &f, err);
        cn_alloc_fail_after(-1);
        if (rc == -ENOMEM) {
            assert_null(f);
            assert_string_equal(err, P "out of memory");
        }
    }
    assert_int_equal(rc, 0);
    assert_true(n > 3); /* Several allocation points were exercised. */
    json_t *j = doc(check_service_node);
    bool m = false;
    assert_int_equal(cn_filter_match(f, j, &m, err), 0);
    assert_true(m);
    json_decref(j);
    cn_filter_free(f);
}

static void t_quote(void **state)
{
    (void)state;
    char out[64];
    cn__filter_quote(out, sizeof out, "a\"b\\c\n\x01\x7f\xc3\xa9\xff", 11);
    assert_string_equal(out, "\"a\\\"b\\\\c\\n\\x01\\x7f\xc3\xa9\\xff\"");
    cn__filter_quote(out, 11, "abcdefghij", 10); /* Truncated: marked. */
    assert_string_equal(out, "\"abcde\"...");
    cn__filter_quote(out, 13, "abcdefghij", 10); /* Exactly fits. */
    assert_string_equal(out, "\"abcdefghij\"");
}

/* ---- regexes: RE2 syntax on POSIX ERE ---- */

static bool rx_match(const char *pat, const char *subject, size_t len)
{
    regex_t re;
    char why[CN_ERRMSG_MAX];
    int rc = cn__filter_regex_compile(&re, (const uint8_t *)pat, strlen(pat),
                                      why);
    if (rc != 0)
        fail_msg("regex `%s`: %d %s", pat, rc, why);
    bool m = cn__filter_regex_match(&re, subject, len);
    regfree(&re);
    return m;
}

static void t_regex_translation(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *subject;
        bool want;
    } rows[] = {
        { "^web-[0-9]+$", "web-12", true },
        { "^web-[0-9]+$", "web-", false },
        { "eb", "web", true },                 /* Unanchored, as Go. */
        { "a.c", "abc", true },
        { "a.c", "a\nc", false },              /* Go: . excludes \n */
        { "(?s)a.c", "a\nc", true },
        { "(?i)^WEB$", "web", true },
        { "(?is)^W.B$", "w\nb", true },
        { "^(?:ab)+$", "abab", true },
        { "^(?P<x>a|b)c$", "bc", true },
        { "^(?<x>a)$", "a", true },
        { "^a{2,3}$", "aaaa", false },
        { "^a{2,}$", "aaaa", true },
        { "^a{2}b?$", "aab", true },
        { "^a*?b+?$", "aab", true },           /* Lazy: same answer. */
        { "\\d+\\.\\d+", "v1.25", true },
        { "^\\D+$", "abc", true },
        { "^\\w+$", "a_1", true },
        { "^\\W$", "-", true },
        { "a\\sb", "a\tb", true },
        { "^\\S+$", "a b", false },
        { "\\bfoo\\b", "a foo b", true },
        { "\\bfoo\\b", "afoob", false },
        { "\\Bo\\B", "foo", true },
        { "\\Aab\\z", "ab", true },
        { "^[[:alpha:]]+[[:digit:]]$", "ab1", true },
        { "^[[:^digit:]]+$", "ab", true },
        { "^[\\d\\s]+$", "1 2", true },
        { "^[a-c-]+$", "a-c", true },
        { "^[]a]+$", "]a", true },
        { "^[^]a]$", "b", true },
        { "^[\\]\\\\\\-^]+$", "]\\-^", true },
        { "^[\\[]$", "[", true },
        { "^[:]$", ":", true },
        { "^[.]$", "x", false },               /* '.' literal in a class. */
        { "^[^a]$", "\n", true },              /* Go: [^a] matches \n. */
        { "^[\\x41-\\x43]+$", "ABC", true },
        { "^\\x{41}\\101\\x41$", "AAA", true },
        { "^\\Q.*+\\E$", ".*+", true },
        { "^\\Qab", "ab", true },
        { "^a\\.b$", "a.b", true },
        { "^a\\.b$", "axb", false },
        { "^\\{\\}\\/\\-$", "{}/-", true },
        { "^a{$", "a{", true },                /* Not a repeat: literal. */
        { "^a{x}$", "a{x}", true },
        { "^{$", "{", true },
        { "^\\t\\n$", "\t\n", true },
        { "^(é)+$", "éé", true },
        { "^é+$", "éé", true },                /* Grouped rune. */
        { "^[éa]+$", "aéa", true },
        { "^x[é]$", "xé", true },
        { "^x|y$", "xz", true },
        { "^(|a)$", "", true },
        { "", "anything", true },
        { "^[^\\x01-\\x7f]$", "a", false },
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(rows); i++) {
        bool m = rx_match(rows[i].pat, rows[i].subject,
                          strlen(rows[i].subject));
        if (m != rows[i].want)
            fail_msg("`%s` on `%s`: got %d", rows[i].pat, rows[i].subject, m);
    }
    /* Subjects may hold NULs. */
    assert_true(rx_match("^a.b$", "a\0b", 3));
    /* Byte-wise matching: a deviation from Go's rune semantics. */
    assert_false(rx_match("^.$", "\xc3\xa9", 2));
    assert_true(rx_match("^..$", "\xc3\xa9", 2));
}

static void t_regex_rejections(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *why;
    } rows[] = {
        { "(", "missing closing ): `(`" },
        { "a)", "unexpected ): `a)`" },
        { "*a", "missing argument to repetition operator: `*`" },
        { "(+)", "missing argument to repetition operator: `+`" },
        { "a**", "invalid nested repetition operator: `**`" },
        { "a{2}{3}", "invalid nested repetition operator: `}{3}`" },
        { "a{1001}", "invalid repeat count: `{1001}`" },
        { "[a", "missing closing ]: `[a`" },
        { "[z-a]", "invalid character class range: `z-a`" },
        { "[[:foo:]]", "invalid character class range: `[:foo:]`" },
        { "\\1", "invalid escape sequence: `\\1`" },
        { "\\q", "invalid escape sequence: `\\q`" },
        { "\\x4", "invalid escape sequence: `\\x4`" },
        { "\\x{110000}", "invalid escape sequence: `\\x{110000`" }, /* Go */
        { "a\\", "trailing backslash at end of expression" },
        { "(?x)", "invalid or unsupported Perl syntax: `(?x`" },
        { "(?P<>a)", "invalid named capture: `(?P<>`" },
        /* Go accepts these; cairn does not. */
        { "\\pL", "Unicode class unsupported in cairn: `\\pL`" },
        { "(?m)^a", "flags unsupported in cairn: `(?m`" },
        { "a(?i)b", "flags unsupported in cairn (only a leading (?i), (?s) "
                    "or (?U)): `(?i`" },
        { "[^é]", "non-ASCII range or negated class unsupported in cairn: "
                  "`é`" },
        { "[à-é]", "non-ASCII range or negated class unsupported in cairn: "
                   "`à-é`" },
        { "a\\x00", "NUL byte unsupported in cairn" },
        { "a\xff", "invalid UTF-8: `\\xff`" },
        { "^*", "missing argument to repetition operator: `*`" },
        { "(((a{10}){10}){10})", "expression too large" },
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(rows); i++) {
        regex_t re;
        char why[CN_ERRMSG_MAX];
        int rc = cn__filter_regex_compile(&re, (const uint8_t *)rows[i].pat,
                                          strlen(rows[i].pat), why);
        if (rc == 0) {
            regfree(&re);
            fail_msg("`%s` compiled", rows[i].pat);
        }
        if (strcmp(why, rows[i].why) != 0)
            fail_msg("`%s`: `%s`, want `%s`", rows[i].pat, why, rows[i].why);
    }
}

static void t_regex_ere_text(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *ere;
        int flags;
    } rows[] = {
        { "a.b", "a[^\n]b", 0 },
        { "(?i)x", "x", REG_ICASE },
        { "\\d{2}", "[0123456789]{2}", 0 },
        { "[]^-]", "[]^-]", 0 },
        { "[\\^]", "\\^", 0 },
        { "[\\[:]", "[:[]", 0 },
        { "(?:a|b)*?", "(a|b)*", 0 },
        { "é", "(é)", 0 },
        { "a+b", "a+b", 0 },
        { "\\.\\$", "\\.\\$", 0 },
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(rows); i++) {
        struct cn_buf out;
        char why[CN_ERRMSG_MAX];
        int flags;
        cn_buf_init(&out, 4096);
        assert_int_equal(cn__filter_regex_translate(
                             (const uint8_t *)rows[i].pat,
                             strlen(rows[i].pat), &out, &flags, why), 0);
        if (strcmp((const char *)out.data, rows[i].ere) != 0)
            fail_msg("`%s` -> `%s`, want `%s`", rows[i].pat,
                     (const char *)out.data, rows[i].ere);
        assert_int_equal(flags, REG_EXTENDED | REG_NOSUB | rows[i].flags);
        cn_buf_close(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_op_equal),
        cmocka_unit_test(t_op_contains_in),
        cmocka_unit_test(t_op_empty),
        cmocka_unit_test(t_op_matches),
        cmocka_unit_test(t_op_invalid_for_type),
        cmocka_unit_test(t_precedence),
        cmocka_unit_test(t_parentheses),
        cmocka_unit_test(t_keywords_are_not_reserved),
        cmocka_unit_test(t_whitespace),
        cmocka_unit_test(t_quoting),
        cmocka_unit_test(t_selectors),
        cmocka_unit_test(t_coercion),
        cmocka_unit_test(t_missing_and_null),
        cmocka_unit_test(t_crossing_lists),
        cmocka_unit_test(t_consul_table),
        cmocka_unit_test(t_compile_errors),
        cmocka_unit_test(t_empty_expression),
        cmocka_unit_test(t_limits),
        cmocka_unit_test(t_alloc_failures),
        cmocka_unit_test(t_quote),
        cmocka_unit_test(t_regex_translation),
        cmocka_unit_test(t_regex_rejections),
        cmocka_unit_test(t_regex_ere_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
