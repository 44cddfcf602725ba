/* cli/table_test.c - the CLI's pure helpers: column layouts, key=value and
 * key joining, flag parsing of list flags, watch endpoints, big flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cli_int.h"

static char *text(struct cn_buf *b)
{
    cn_buf_putc(b, 0);
    return (char *)b->data;
}

static void test_columnize(void **state)
{
    (void)state;
    struct cn_buf b;
    const char *cells[] = {"Node", "ID", "Address", "DC",
                           "n1", "abcd", "10.0.0.1", "dc1",
                           "longer-node", NULL, "1.2.3.4", ""};
    cn_buf_init(&b, 4096);
    assert_int_equal(cli_columnize(&b, cells, 3, 4), 0);
    assert_string_equal(text(&b), "Node         ID    Address   DC\n"
                                  "n1           abcd  10.0.0.1  dc1\n"
                                  "longer-node        1.2.3.4\n");
    cn_buf_close(&b);
    cn_buf_init(&b, 16);
    assert_int_equal(cli_columnize(&b, cells, 3, 4), -1); /* Too small: error, no crash. */
    cn_buf_close(&b);
}

static void test_tabwrite(void **state)
{
    (void)state;
    struct cn_buf b;
    const char *cells[] = {"consul", "", "db", "primary", "web", "a,b"};
    cn_buf_init(&b, 4096);
    assert_int_equal(cli_tabwrite2(&b, cells, 3), 0);
    /* Go tabwriter, padding 6: names padded to the widest + 6. */
    assert_string_equal(text(&b), "consul      \ndb          primary\nweb         a,b\n");
    cn_buf_close(&b);
    const char *last_empty[] = {"a", "x", "bb", ""};
    cn_buf_init(&b, 4096);
    assert_int_equal(cli_tabwrite2(&b, last_empty, 2), 0);
    assert_string_equal(text(&b), "a       x\nbb\n"); /* TrimSpace of the whole. */
    cn_buf_close(&b);
}

static void test_kv_split(void **state)
{
    (void)state;
    char k[8];
    const char *v;
    assert_true(cli_kv_split("env=prod", k, sizeof k, &v));
    assert_string_equal(k, "env");
    assert_string_equal(v, "prod");
    assert_true(cli_kv_split("a==b", k, sizeof k, &v));
    assert_string_equal(v, "=b");
    assert_true(cli_kv_split("a=", k, sizeof k, &v));
    assert_string_equal(v, "");
    assert_false(cli_kv_split("novalue", k, sizeof k, &v));
    assert_false(cli_kv_split("=x", k, sizeof k, &v));
    assert_false(cli_kv_split("toolongkey=x", k, sizeof k, &v));
}

static void test_key_join(void **state)
{
    (void)state;
    char out[32];
    assert_true(cli_key_join("locks/a", ".lock", out, sizeof out));
    assert_string_equal(out, "locks/a/.lock");
    assert_true(cli_key_join("/locks//a/", ".lock", out, sizeof out));
    assert_string_equal(out, "locks/a/.lock");
    assert_true(cli_key_join("a/./b/../c", "", out, sizeof out));
    assert_string_equal(out, "a/c");
    assert_true(cli_key_join("..", "x", out, sizeof out));
    assert_string_equal(out, "x");
    assert_true(cli_key_join("", "", out, sizeof out));
    assert_string_equal(out, "");
    assert_false(cli_key_join("a-very-long-prefix-for-this", ".lock", out, sizeof out));
}

static void test_short_id(void **state)
{
    (void)state;
    char out[16];
    cli_short_id("dfc7ece2-8189-4948-9f0c-df0a55aa163b", out, sizeof out);
    assert_string_equal(out, "dfc7ece2");
    cli_short_id("nodash", out, sizeof out);
    assert_string_equal(out, "nodash");
    cli_short_id("-lead", out, sizeof out);
    assert_string_equal(out, "-lead");
    cli_short_id(NULL, out, sizeof out);
    assert_string_equal(out, "");
    cli_short_id("0123456789abcdefXYZ", out, 4);
    assert_string_equal(out, "012");
}

static int endpoint(const struct cli_watch_params *p, char *path, char *query, char *err)
{
    struct cn_buf pb, qb;
    int rc;
    cn_buf_init(&pb, 512);
    cn_buf_init(&qb, 512);
    err[0] = '\0';
    rc = cli_watch_endpoint(p, &pb, &qb, err, 128);
    cn_buf_putc(&pb, 0);
    cn_buf_putc(&qb, 0);
    snprintf(path, 512, "%s", (char *)pb.data);
    snprintf(query, 512, "%s", (char *)qb.data);
    cn_buf_close(&pb);
    cn_buf_close(&qb);
    return rc;
}

static void test_watch_endpoint(void **state)
{
    (void)state;
    char path[512], q[512], err[128];
    struct cli_watch_params p = {.type = "key", .key = "a b/c"};
    assert_int_equal(endpoint(&p, path, q, err), 0);
    assert_string_equal(path, "/v1/kv/a%20b/c");
    assert_string_equal(q, "");
    p = (struct cli_watch_params){.type = "key"};
    assert_int_equal(endpoint(&p, path, q, err), -1);
    assert_string_equal(err, "Must specify a single key to watch");
    p = (struct cli_watch_params){.type = "keyprefix", .prefix = "app/"};
    assert_int_equal(endpoint(&p, path, q, err), 0);
    assert_string_equal(path, "/v1/kv/app/");
    assert_string_equal(q, "recurse");
    p = (struct cli_watch_params){.type = "service", .service = "web", .tag = "v1", .passing = true};
    assert_int_equal(endpoint(&p, path, q, err), 0);
    assert_string_equal(path, "/v1/health/service/web");
    assert_string_equal(q, "tag=v1&passing");
    p = (struct cli_watch_params){.type = "checks"};
    assert_int_equal(endpoint(&p, path, q, err), 0);
    assert_string_equal(path, "/v1/health/state/any");
    p = (struct cli_watch_params){.type = "checks", .service = "web", .state = "critical"};
    assert_int_equal(endpoint(&p, path, q, err), -1);
    assert_string_equal(err, "Cannot specify service and state");
    p = (struct cli_watch_params){.type = "nodes"};
    assert_int_equal(endpoint(&p, path, q, err), 0);
    assert_string_equal(path, "/v1/catalog/nodes");
    p = (struct cli_watch_params){.type = "event"};
    assert_int_equal(endpoint(&p, path, q, err), -1);
    assert_string_equal(err, "Unsupported watch type: event");
}

static void test_big_flags(void **state)
{
    (void)state;
    char body[] = "[{\"Flags\": 16210313421097356768,\"X\":1},{\"Flags\":3,\"Flags\":18446744073709551615}]";
    char *back;
    cli_fix_big_flags(body, strlen(body));
    assert_string_equal(body, "[{\"Flags\": -2236430652612194848,\"X\":1},"
                              "{\"Flags\":3,\"Flags\":-1                  }]");
    back = cli_unfix_big_flags("{\"Flags\": -2236430652612194848, \"F\":-1, \"Flags\":-1}");
    assert_non_null(back);
    assert_string_equal(back, "{\"Flags\": 16210313421097356768, \"F\":-1, \"Flags\":18446744073709551615}");
    free(back);
    char lower[] = "[{\"key\":\"k\",\"flags\":16210313421097356768,\"Xflags\":16210313421097356768}]";
    cli_fix_big_flags(lower, strlen(lower)); /* kv export's lower-case name; "Xflags" is not it. */
    assert_string_equal(lower, "[{\"key\":\"k\",\"flags\":-2236430652612194848,"
                               "\"Xflags\":16210313421097356768}]");
    back = cli_unfix_big_flags(lower);
    assert_non_null(back);
    assert_string_equal(back, "[{\"key\":\"k\",\"flags\":16210313421097356768,"
                              "\"Xflags\":16210313421097356768}]");
    free(back);
    char trunc[] = "{\"Flags\":";
    cli_fix_big_flags(trunc, strlen(trunc)); /* Cut short: no read past the end. */
    assert_string_equal(trunc, "{\"Flags\":");
}

static bool g_b;
static char g_s[16];
static struct cli_list g_l;
static uint64_t g_u;

static void test_parse_flags(void **state)
{
    (void)state;
    static const struct cli_flag flags[] = {
        {"tag", CLI_LIST, &g_l, 0, "t"},
        {"b", CLI_BOOL, &g_b, 0, "b"},
        {"s", CLI_STR, g_s, sizeof g_s, "s"},
        {"n", CLI_U64, &g_u, 0, "n"},
    };
    static const struct cli_cmd cmd = {"t", "", "t", flags, CN_ARRAY_LEN(flags), false};
    char *argv[] = {"-tag", "a", "--tag=b", "-b", "-s=x", "-n", "7", "pos", "-tag", "c"};
    struct cli_http h;
    int argi;
    assert_int_equal(cli_parse(&cmd, 10, argv, &h, &argi), 0);
    assert_int_equal(argi, 7);
    assert_int_equal(g_l.n, 2);
    assert_string_equal(g_l.v[0], "a");
    assert_string_equal(g_l.v[1], "b");
    assert_true(g_b);
    assert_string_equal(g_s, "x");
    assert_int_equal(g_u, 7);
    char *bad[] = {"-s", "waytoolongforthebuffer"};
    assert_int_equal(cli_parse(&cmd, 2, bad, &h, &argi), -1);
    char *many[CLI_LIST_MAX * 2 + 2];
    for (int i = 0; i < CLI_LIST_MAX + 1; i++) {
        many[2 * i] = "-tag";
        many[2 * i + 1] = "x";
    }
    g_l.n = 0;
    assert_int_equal(cli_parse(&cmd, 2 * (CLI_LIST_MAX + 1), many, &h, &argi), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columnize),   cmocka_unit_test(test_tabwrite),
        cmocka_unit_test(test_kv_split),    cmocka_unit_test(test_key_join),
        cmocka_unit_test(test_short_id),    cmocka_unit_test(test_watch_endpoint),
        cmocka_unit_test(test_big_flags),   cmocka_unit_test(test_parse_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
