/* agent/checks/run_test.c - runners against real loopback servers.
 *
 * The servers (test_servers.c) run on their own threads; the runner runs
 * on this thread's loop, which the tests drive until a condition holds or
 * a deadline passes. Deadlines only guard against hangs: no test asserts
 * how long anything took. Intervals are tens of ms (the runner's minimum
 * is lowered for tests) and the first-run stagger is injected as 0.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "checks.h"
#include "json/json.h"
#include "test_servers.h"

#define WAIT_MS 10000 /* Hang guard for every wait. */

static uv_loop_t loop;
static struct tsrv srv;

/* ---- recording callbacks ---- */

struct rec {
    int updates;
    enum cn_check_status status;
    char out[16384];
    size_t out_len;
    enum cn_check_status seq[64];
    struct cn_check *check;
    bool stop_self;
    struct cn_check_runner *close_runner;
};

static void on_update(void *ctx, struct cn_check *c, enum cn_check_status s,
                      const char *out, size_t n)
{
    struct rec *r = ctx;
    assert_ptr_equal(c, r->check);
    assert_int_equal(out[n], '\0');
    if (r->updates < (int)CN_ARRAY_LEN(r->seq))
        r->seq[r->updates] = s;
    r->updates++;
    r->status = s;
    r->out_len = CN_MIN(n, sizeof r->out - 1);
    memcpy(r->out, out, r->out_len);
    r->out[r->out_len] = '\0';
    if (r->stop_self)
        cn_check_stop(c);
    if (r->close_runner) {
        cn_check_runner_close(r->close_runner, NULL, NULL);
        r->close_runner = NULL;
    }
}

/* ---- driving the loop ---- */

static void on_tick(uv_timer_t *t) { (void)t; }
static int tick_mark;

typedef bool pred_fn(void *arg);

static bool poll_until(pred_fn *pred, void *arg, uint64_t ms)
{
    uv_timer_t tick;
    uint64_t deadline = cn_time_mono_ms() + ms;
    bool ok;
    uv_timer_init(&loop, &tick);
    tick.data = &tick_mark;
    uv_timer_start(&tick, on_tick, 5, 5);
    while (!(ok = pred(arg)) && cn_time_mono_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ok;
}

static bool never(void *arg) { (void)arg; return false; }

/* Runs the loop for about ms (only to let things that must NOT happen get
 * their chance; nothing is asserted about time). */
static void run_for(uint64_t ms) { poll_until(never, NULL, ms); }

struct upd_wait {
    struct rec *r;
    int n;
};

static bool updates_reached(void *arg)
{
    struct upd_wait *w = arg;
    return w->r->updates >= w->n;
}

#define wait_updates(r, n) wait_updates_at((r), (n), #r)

static void wait_updates_at(struct rec *r, int n, const char *what)
{
    struct upd_wait w = {r, n};
    if (!poll_until(updates_reached, &w, WAIT_MS))
        fail_msg("%s: waited for %d updates, got %d (last \"%s\")", what, n, r->updates,
                 r->out);
}

/* ---- runners and checks ---- */

static uint64_t zero_stagger(void *ctx, uint64_t interval_ms)
{
    (void)ctx;
    (void)interval_ms;
    return 0;
}

static int live_runners;

struct rcfg {
    bool scripts, local_scripts;
    const char *ca_file;
    size_t output_max;
};

static struct cn_check_runner *runner_new(const struct rcfg *o)
{
    struct cn_check_runner_config cfg = {
        .loop = &loop, .seed = 1, .stagger = zero_stagger, .min_interval_ms = 20,
    };
    struct cn_check_runner *r;
    char err[CN_ERRMSG_MAX];
    if (o) {
        cfg.enable_script_checks = o->scripts;
        cfg.enable_local_script_checks = o->local_scripts;
        cfg.tls_ca_file = o->ca_file;
        cfg.output_max_bytes = o->output_max;
    }
    assert_int_equal(cn_check_runner_new(&r, &cfg, err), 0);
    live_runners++;
    return r;
}

static void on_runner_closed(void *arg) { *(bool *)arg = true; }

static bool flag_set(void *arg) { return *(bool *)arg; }

static void dump_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "  live handle %s active=%d closing=%d\n", uv_handle_type_name(h->type),
            uv_is_active(h), uv_is_closing(h));
}

static void count_handle(uv_handle_t *h, void *arg)
{
    if (h->data != &tick_mark)
        ++*(int *)arg;
}

/* Nothing but poll_until's own tick is left on the loop. */
static bool loop_idle(void *arg)
{
    int n = 0;
    uv_walk(&loop, count_handle, &n);
    if (n == 0 && loop.active_reqs.count == 0)
        return true;
    if (arg) {
        uv_walk(&loop, dump_handle, NULL);
        fprintf(stderr, "  active requests %u\n", loop.active_reqs.count);
    }
    return false;
}

/* Closes r; once the last runner is gone, nothing may be left on the loop. */
static void runner_close(struct cn_check_runner *r)
{
    bool closed = false;
    cn_check_runner_close(r, on_runner_closed, &closed);
    assert_true(poll_until(flag_set, &closed, WAIT_MS));
    if (--live_runners == 0 && !poll_until(loop_idle, NULL, WAIT_MS)) {
        loop_idle(&loop);
        fail_msg("loop still alive after close");
    }
}

static int start_fmt(struct cn_check_runner *r, struct rec *rec, char *err,
                     enum cn_check_source src, const char *fmt, ...) CN_PRINTF(5, 6);

static int start_fmt(struct cn_check_runner *r, struct rec *rec, char *err,
                     enum cn_check_source src, const char *fmt, ...)
{
    char text[4096], jerr[CN_JSON_ERR_BYTES];
    struct cn_check_def *d;
    json_t *v;
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (cn_json_parse(text, strlen(text), &v, jerr) != 0)
        fail_msg("bad test JSON %s: %s", text, jerr);
    rc = cn_check_def_parse(v, &d, err);
    json_decref(v);
    if (rc != 0)
        fail_msg("parse %s: %s", text, err);
    d->source = src;
    rc = cn_check_start(r, d, on_update, rec, &rec->check, err);
    cn_check_def_free(d);
    return rc;
}

#define START(r, rec, ...)                                                            \
    do {                                                                              \
        char err_[CN_ERRMSG_MAX];                                                     \
        int rc_ = start_fmt((r), (rec), err_, CN_CHECK_SOURCE_REMOTE, __VA_ARGS__);   \
        if (rc_ != 0)                                                                 \
            fail_msg("start: %d %s", rc_, err_);                                      \
    } while (0)

static void expect(const struct rec *r, enum cn_check_status s, const char *out)
{
    if (r->status != s || strcmp(r->out, out) != 0)
        fail_msg("got %s \"%s\"\nwant %s \"%s\"", cn_check_status_name(r->status), r->out,
                 cn_check_status_name(s), out);
}

static void expect_has(const struct rec *r, enum cn_check_status s, const char *part)
{
    if (r->status != s || !strstr(r->out, part))
        fail_msg("got %s \"%s\"\nwant %s containing \"%s\"",
                 cn_check_status_name(r->status), r->out, cn_check_status_name(s), part);
}

/* Children of this process, live or zombie (from /proc). */
static int my_children(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        FILE *f;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = 0;
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        char st = 0;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == getpid())
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* ---- HTTP ---- */

static void test_http_statuses(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct rec ok = {0}, warn = {0}, bad = {0};
    char want[256];
    (void)state;
    START(r, &ok, "{\"ID\":\"ok\",\"HTTP\":\"http://127.0.0.1:%d/ok\",\"Interval\":\"50ms\"}",
          srv.http_port);
    START(r, &warn, "{\"HTTP\":\"http://127.0.0.1:%d/warn\",\"Interval\":\"50ms\"}",
          srv.http_port);
    START(r, &bad, "{\"HTTP\":\"http://127.0.0.1:%d/fail\",\"Interval\":\"50ms\"}",
          srv.http_port);
    wait_updates(&ok, 1);
    wait_updates(&warn, 1);
    wait_updates(&bad, 1);
    snprintf(want, sizeof want, "HTTP GET http://127.0.0.1:%d/ok: 200 OK Output: ok",
             srv.http_port);
    expect(&ok, CN_CHECK_PASSING, want);
    snprintf(want, sizeof want, "HTTP GET http://127.0.0.1:%d/warn: 429 Too Many Requests "
             "Output: slow down", srv.http_port);
    expect(&warn, CN_CHECK_WARNING, want);
    snprintf(want, sizeof want, "HTTP GET http://127.0.0.1:%d/fail: 500 Internal Server "
             "Error Output: boom", srv.http_port);
    expect(&bad, CN_CHECK_CRITICAL, want);
    /* Same result again: no further callback, but runs go on. */
    run_for(200);
    assert_int_equal(ok.updates, 1);
    runner_close(r);
}

static void test_http_request_shape(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct rec a = {0}, b = {0}, h = {0};
    char want[512];
    (void)state;
    START(r, &a, "{\"HTTP\":\"http://127.0.0.1:%d/echo\",\"Method\":\"PUT\",\"Body\":\"hello\","
          "\"Header\":{\"X-Custom\":[\"a\",\"b\"],\"Accept\":[\"application/json\"],"
          "\"Content-Length\":[\"999\"]},\"Interval\":\"1s\"}", srv.http_port);
    START(r, &b, "{\"HTTP\":\"http://u:p@127.0.0.1:%d/echo\",\"Interval\":\"1s\","
          "\"Header\":{\"user-agent\":[\"probe/1\"],\"Host\":[\"example.test\"]}}",
          srv.http_port);
    START(r, &h, "{\"HTTP\":\"http://127.0.0.1:%d/ok\",\"Method\":\"HEAD\",\"Interval\":\"1s\"}",
          srv.http_port);
    wait_updates(&a, 1);
    wait_updates(&b, 1);
    wait_updates(&h, 1);
    snprintf(want, sizeof want, "HTTP PUT http://127.0.0.1:%d/echo: 200 OK Output: m=PUT "
             "ua=Consul Health Check accept=application/json host=127.0.0.1:%d x=a auth=- "
             "body=hello", srv.http_port, srv.http_port);
    expect(&a, CN_CHECK_PASSING, want);
    /* base64("u:p") == "dTpw" */
    expect_has(&b, CN_CHECK_PASSING, "m=GET ua=probe/1 accept=text/plain, text/*, */* "
               "host=example.test x=- auth=Basic dTpw body=");
    snprintf(want, sizeof want, "HTTP HEAD http://127.0.0.1:%d/ok: 200 OK Output: ",
             srv.http_port);
    expect(&h, CN_CHECK_PASSING, want);
    runner_close(r);
}

static void test_http_timeouts(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct rec slow = {0}, fine = {0};
    char want[256];
    (void)state;
    START(r, &slow, "{\"HTTP\":\"http://127.0.0.1:%d/slow?ms=20000\",\"Timeout\":\"200ms\","
          "\"Interval\":\"10s\"}", srv.http_port);
    START(r, &fine, "{\"HTTP\":\"http://127.0.0.1:%d/slow?ms=20\",\"Timeout\":\"5s\","
          "\"Interval\":\"10s\"}", srv.http_port);
    wait_updates(&slow, 1);
    wait_updates(&fine, 1);
    snprintf(want, sizeof want, "Get \"http://127.0.0.1:%d/slow?ms=20000\": context deadline "
             "exceeded (Client.Timeout exceeded while awaiting headers)", srv.http_port);
    expect(&slow, CN_CHECK_CRITICAL, want);
    expect_has(&fine, CN_CHECK_PASSING, ": 200 OK Output: slow ok");
    runner_close(r);
}

static void test_http_body_capped(void **state)
{
    struct cn_check_runner *r = runner_new(&(struct rcfg){.output_max = 32});
    struct rec big = {0}, capped = {0}, endless = {0};
    char prefix[256];
    (void)state;
    START(r, &big, "{\"HTTP\":\"http://127.0.0.1:%d/big?n=1000000\",\"OutputMaxSize\":20,"
          "\"Interval\":\"10s\"}", srv.http_port);
    /* The agent-wide 32 bytes win over a larger per-check value. */
    START(r, &capped, "{\"HTTP\":\"http://127.0.0.1:%d/big?n=5000\",\"OutputMaxSize\":1000,"
          "\"Interval\":\"10s\"}", srv.http_port);
    /* A body that never ends: the timeout cuts it, the status still counts. */
    START(r, &endless, "{\"HTTP\":\"http://127.0.0.1:%d/\",\"Timeout\":\"300ms\","
          "\"Interval\":\"10s\"}", srv.stream_port);
    wait_updates(&big, 1);
    wait_updates(&capped, 1);
    wait_updates(&endless, 1);
    snprintf(prefix, sizeof prefix, "HTTP GET http://127.0.0.1:%d/big?n=1000000: 200 OK "
             "Output: ", srv.http_port);
    assert_int_equal(big.status, CN_CHECK_PASSING);
    assert_int_equal(big.out_len, strlen(prefix) + 20);
    assert_memory_equal(big.out, prefix, strlen(prefix));
    assert_string_equal(big.out + big.out_len - 7, "THE-END"); /* The tail is kept. */
    assert_string_equal(capped.out + capped.out_len - 7, "THE-END");
    assert_int_equal(capped.out_len - (size_t)(strstr(capped.out, "Output: ") + 8 - capped.out),
                     32);
    snprintf(prefix, sizeof prefix, "HTTP GET http://127.0.0.1:%d/: 200 OK Output: ",
             srv.stream_port);
    assert_int_equal(endless.status, CN_CHECK_PASSING);
    assert_int_equal(endless.out_len, strlen(prefix) + 32);
    assert_string_equal(endless.out + strlen(prefix), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    runner_close(r);
}

static void test_http_redirects(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct rec follow = {0}, loop_ = {0}, off = {0}, see_other = {0}, keep = {0},
               other_host = {0};
    int p = srv.http_port;
    (void)state;
    START(r, &follow, "{\"HTTP\":\"http://127.0.0.1:%d/redirect?to=/ok\",\"Interval\":\"10s\"}", p);
    START(r, &loop_, "{\"HTTP\":\"http://127.0.0.1:%d/loop\",\"Interval\":\"10s\"}", p);
    START(r, &off, "{\"HTTP\":\"http://127.0.0.1:%d/redirect?to=/ok\",\"Interval\":\"10s\","
          "\"DisableRedirects\":true}", p);
    START(r, &see_other, "{\"HTTP\":\"http://127.0.0.1:%d/redirect?code=303&to=echo\","
          "\"Method\":\"POST\",\"Body\":\"hello\",\"Interval\":\"10s\"}", p);
    START(r, &keep, "{\"HTTP\":\"http://127.0.0.1:%d/redirect?code=307&to=/echo\","
          "\"Method\":\"POST\",\"Body\":\"hello\",\"Interval\":\"10s\","
          "\"Header\":{\"Authorization\":[\"secret\"]}}", p);
    /* localhost is another host: credentials stay behind (and the dialer
     * falls back from ::1 to 127.0.0.1 if needed). */
    START(r, &other_host, "{\"HTTP\":\"http://127.0.0.1:%d/redirect?code=307&to="
          "http://localhost:%d/echo\",\"Interval\":\"10s\","
          "\"Header\":{\"Authorization\":[\"secret\"]}}", p, p);
    wait_updates(&follow, 1);
    wait_updates(&loop_, 1);
    wait_updates(&off, 1);
    wait_updates(&see_other, 1);
    wait_updates(&keep, 1);
    wait_updates(&other_host, 1);
    expect_has(&follow, CN_CHECK_PASSING, "/redirect?to=/ok: 200 OK Output: ok");
    expect_has(&loop_, CN_CHECK_CRITICAL, "/loop\": stopped after 10 redirects");
    assert_memory_equal(loop_.out, "Get \"http://127.0.0.1:", 22);
    expect_has(&off, CN_CHECK_CRITICAL, "/redirect?to=/ok: 302");
    expect_has(&see_other, CN_CHECK_PASSING, "Output: m=GET ua=Consul");
    expect_has(&see_other, CN_CHECK_PASSING, "body=");
    assert_null(strstr(see_other.out, "hello"));
    expect_has(&keep, CN_CHECK_PASSING, "Output: m=POST ");
    expect_has(&keep, CN_CHECK_PASSING, "auth=secret body=hello");
    expect_has(&other_host, CN_CHECK_PASSING, "auth=- body=");
    runner_close(r);
}

static void test_http_errors(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct rec refused = {0}, scheme = {0}, method = {0}, header = {0}, nohost = {0},
               interim = {0};
    char want[256];
    (void)state;
    START(r, &refused, "{\"HTTP\":\"http://127.0.0.1:%d/\",\"Interval\":\"10s\"}",
          srv.closed_port);
    START(r, &scheme, "{\"HTTP\":\"ftp://127.0.0.1/\",\"Interval\":\"10s\"}");
    START(r, &method, "{\"HTTP\":\"http://127.0.0.1:%d/\",\"Method\":\"BAD METHOD\","
          "\"Interval\":\"10s\"}", srv.http_port);
    START(r, &header, "{\"HTTP\":\"http://127.0.0.1:%d/\",\"Header\":{\"X\":[\"a\\nb\"]},"
          "\"Interval\":\"10s\"}", srv.http_port);
    START(r, &nohost, "{\"HTTP\":\"http:///x\",\"Interval\":\"10s\"}");
    START(r, &interim, "{\"HTTP\":\"http://127.0.0.1:%d/interim\",\"Interval\":\"10s\"}",
          srv.stream_port);
    wait_updates(&interim, 1);
    snprintf(want, sizeof want, "HTTP GET http://127.0.0.1:%d/interim: 200 OK Output: finally",
             srv.stream_port);
    expect(&interim, CN_CHECK_PASSING, want);
    wait_updates(&refused, 1);
    wait_updates(&scheme, 1);
    wait_updates(&method, 1);
    wait_updates(&header, 1);
    wait_updates(&nohost, 1);
    snprintf(want, sizeof want, "Get \"http://127.0.0.1:%d/\": dial tcp 127.0.0.1:%d: "
             "connect: connection refused", srv.closed_port, srv.closed_port);
    expect(&refused, CN_CHECK_CRITICAL, want);
    expect(&scheme, CN_CHECK_CRITICAL,
           "Get \"ftp://127.0.0.1/\": unsupported protocol scheme \"ftp\"");
    expect(&method, CN_CHECK_CRITICAL, "net/http: invalid method \"BAD METHOD\"");
    expect_has(&header, CN_CHECK_CRITICAL, "net/http: invalid header field value for \"X\"");
    expect(&nohost, CN_CHECK_CRITICAL, "Get \"http:///x\": http: no Host in request URL");
    runner_close(r);
}

static void test_https(void **state)
{
    struct cn_check_runner *sys = runner_new(NULL);
    struct cn_check_runner *ca = runner_new(&(struct rcfg){.ca_file = srv.cert_path});
    struct rec skip = {0}, verify = {0}, named = {0}, by_ip = {0}, wrong = {0};
    int p = srv.tls_port;
    char want[256];
    (void)state;
    START(sys, &skip, "{\"HTTP\":\"https://127.0.0.1:%d/\",\"TLSSkipVerify\":true,"
          "\"Interval\":\"10s\"}", p);
    START(sys, &verify, "{\"HTTP\":\"https://127.0.0.1:%d/\",\"Interval\":\"10s\"}", p);
    wait_updates(&skip, 1);
    wait_updates(&verify, 1);
    snprintf(want, sizeof want, "HTTP GET https://127.0.0.1:%d/: 200 OK Output: secure ok", p);
    expect(&skip, CN_CHECK_PASSING, want);
    expect_has(&verify, CN_CHECK_CRITICAL, "tls: failed to verify certificate: x509: ");
    /* Trusting the server's own certificate: chain and name are checked. */
    START(ca, &named, "{\"HTTP\":\"https://127.0.0.1:%d/\",\"TLSServerName\":\"localhost\","
          "\"Interval\":\"10s\"}", p);
    wait_updates(&named, 1);
    START(ca, &by_ip, "{\"HTTP\":\"https://127.0.0.1:%d/\",\"Interval\":\"10s\"}", p);
    wait_updates(&by_ip, 1);
    START(ca, &wrong, "{\"HTTP\":\"https://127.0.0.1:%d/\",\"TLSServerName\":\"wrong.example\","
          "\"Interval\":\"10s\"}", p);
    wait_updates(&wrong, 1);
    expect(&named, CN_CHECK_PASSING, want);
    expect(&by_ip, CN_CHECK_PASSING, want);
    expect_has(&wrong, CN_CHECK_CRITICAL, "tls: failed to verify certificate: x509: ");
    runner_close(sys);
    runner_close(ca);
}

/* ---- TCP ---- */

static void test_tcp(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct rec open_ = {0}, named = {0}, closed = {0}, noport = {0}, badport = {0};
    char want[256];
    (void)state;
    START(r, &open_, "{\"TCP\":\"127.0.0.1:%d\",\"Interval\":\"10s\"}", srv.http_port);
    START(r, &named, "{\"TCP\":\"localhost:%d\",\"Interval\":\"10s\"}", srv.http_port);
    START(r, &closed, "{\"TCP\":\"127.0.0.1:%d\",\"Interval\":\"10s\"}", srv.closed_port);
    START(r, &noport, "{\"TCP\":\"nocolon\",\"Interval\":\"10s\"}");
    START(r, &badport, "{\"TCP\":\"127.0.0.1:http\",\"Interval\":\"10s\"}");
    wait_updates(&open_, 1);
    wait_updates(&named, 1);
    wait_updates(&closed, 1);
    wait_updates(&noport, 1);
    wait_updates(&badport, 1);
    snprintf(want, sizeof want, "TCP connect 127.0.0.1:%d: Success", srv.http_port);
    expect(&open_, CN_CHECK_PASSING, want);
    snprintf(want, sizeof want, "TCP connect localhost:%d: Success", srv.http_port);
    expect(&named, CN_CHECK_PASSING, want);
    snprintf(want, sizeof want, "dial tcp 127.0.0.1:%d: connect: connection refused",
             srv.closed_port);
    expect(&closed, CN_CHECK_CRITICAL, want);
    expect(&noport, CN_CHECK_CRITICAL, "dial tcp: address nocolon: missing port in address");
    expect(&badport, CN_CHECK_CRITICAL, "dial tcp: lookup tcp/http: unknown port");
    runner_close(r);
}

/* ---- TTL ---- */

static void test_ttl(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct rec t = {0}, cut = {0}, held = {0}, pre = {0}, web = {0};
    struct cn_check_runner_stats st;
    (void)state;
    START(r, &t, "{\"ID\":\"t\",\"TTL\":\"300ms\"}");
    assert_int_equal(cn_check_status(t.check), CN_CHECK_CRITICAL);
    assert_true(cn_check_critical_since_ms(t.check) > 0);
    assert_int_equal(cn_check_type(t.check), CN_CHECK_TTL);
    assert_int_equal(cn_check_ttl_update(t.check, CN_CHECK_PASSING, "all good", 8), 0);
    expect(&t, CN_CHECK_PASSING, "all good");
    assert_int_equal(cn_check_critical_since_ms(t.check), 0);
    wait_updates(&t, 2);
    expect(&t, CN_CHECK_CRITICAL, "TTL expired (last output before timeout follows): all good");
    assert_true(cn_check_critical_since_ms(t.check) > 0);
    assert_int_equal(cn_check_ttl_update(t.check, CN_CHECK_WARNING, "", 0), 0);
    expect(&t, CN_CHECK_WARNING, "");
    wait_updates(&t, 4);
    expect(&t, CN_CHECK_CRITICAL, "TTL expired");
    assert_int_equal(cn_check_ttl_update(t.check, CN_CHECK_STATUS_NONE, "", 0), -EINVAL);

    /* Output beyond OutputMaxSize is cut the way CheckTTL.SetStatus does. */
    START(r, &cut, "{\"TTL\":\"10s\",\"OutputMaxSize\":10}");
    assert_int_equal(cn_check_ttl_update(cut.check, CN_CHECK_PASSING,
                                         "01234567890123456789", 20), 0);
    expect(&cut, CN_CHECK_PASSING, "0123456789 ... (captured 10 of 20 bytes)");

    /* Updates well inside the TTL keep it from expiring. */
    START(r, &held, "{\"TTL\":\"5s\"}");
    cn_check_runner_stats(r, &st);
    uint64_t before = st.ttl_expiries;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(cn_check_ttl_update(held.check, CN_CHECK_PASSING, "x", 1), 0);
        run_for(100);
    }
    cn_check_runner_stats(r, &st);
    assert_true(st.ttl_expiries == before);
    assert_int_equal(held.updates, 1);

    /* A given initial status stands until something changes it. */
    START(r, &pre, "{\"TTL\":\"10s\",\"Status\":\"passing\"}");
    assert_int_equal(cn_check_status(pre.check), CN_CHECK_PASSING);
    assert_int_equal(cn_check_critical_since_ms(pre.check), 0);
    assert_int_equal(pre.updates, 0);

    /* pass/warn/fail on a non-TTL check is refused. */
    START(r, &web, "{\"TCP\":\"127.0.0.1:%d\",\"Interval\":\"10s\"}", srv.http_port);
    assert_int_equal(cn_check_ttl_update(web.check, CN_CHECK_PASSING, "", 0), CN_ESTATE);
    runner_close(r);
}

/* ---- scripts ---- */

static void test_script_results(void **state)
{
    struct cn_check_runner *r = runner_new(&(struct rcfg){.scripts = true, .output_max = 50});
    struct rec ok = {0}, warn = {0}, crit = {0}, many = {0}, legacy = {0}, missing = {0},
               nopath = {0};
    (void)state;
    START(r, &ok, "{\"Args\":[\"sh\",\"-c\",\"echo hello; exit 0\"],\"Interval\":\"10s\"}");
    START(r, &warn, "{\"Args\":[\"sh\",\"-c\",\"echo out; echo err >&2; exit 1\"],"
          "\"Interval\":\"10s\"}");
    START(r, &crit, "{\"ScriptArgs\":[\"sh\",\"-c\",\"echo bad; exit 2\"],"
          "\"Interval\":\"10s\"}");
    START(r, &many, "{\"Args\":[\"sh\",\"-c\",\"i=0; while [ $i -lt 500 ]; do "
          "echo 0123456789012345678; i=$((i+1)); done; echo LAST\"],\"Interval\":\"10s\"}");
    START(r, &legacy, "{\"Script\":\"echo legacy; exit 1\",\"Interval\":\"10s\"}");
    START(r, &missing, "{\"Args\":[\"/nonexistent/bin/x\"],\"Interval\":\"10s\"}");
    START(r, &nopath, "{\"Args\":[\"no-such-command-cairn\"],\"Interval\":\"10s\"}");
    wait_updates(&ok, 1);
    wait_updates(&warn, 1);
    wait_updates(&crit, 1);
    wait_updates(&many, 1);
    wait_updates(&legacy, 1);
    wait_updates(&missing, 1);
    wait_updates(&nopath, 1);
    expect(&ok, CN_CHECK_PASSING, "hello\n");
    expect(&warn, CN_CHECK_WARNING, "out\nerr\n");
    expect(&crit, CN_CHECK_CRITICAL, "bad\n");
    expect(&many, CN_CHECK_PASSING, "Captured 50 of 10005 bytes\n...\n"
           "5678\n0123456789012345678\n0123456789012345678\nLAST\n");
    expect(&legacy, CN_CHECK_WARNING, "legacy\n");
    expect(&missing, CN_CHECK_CRITICAL,
           "fork/exec /nonexistent/bin/x: no such file or directory");
    expect(&nopath, CN_CHECK_CRITICAL,
           "exec: \"no-such-command-cairn\": executable file not found in $PATH");
    runner_close(r);
    assert_int_equal(my_children(), 0);
}

static void test_script_permissions(void **state)
{
    struct cn_check_runner *off = runner_new(NULL);
    struct cn_check_runner *local = runner_new(&(struct rcfg){.local_scripts = true});
    struct rec a = {0}, b = {0}, c = {0};
    char err[CN_ERRMSG_MAX];
    const char *def = "{\"Args\":[\"true\"],\"Interval\":\"10s\"}";
    (void)state;
    assert_int_equal(start_fmt(off, &a, err, CN_CHECK_SOURCE_REMOTE, "%s", def), CN_EDENIED);
    assert_string_equal(err, "Scripts are disabled on this agent from remote calls; to "
                        "enable, configure 'enable_script_checks' to true");
    assert_int_equal(start_fmt(off, &a, err, CN_CHECK_SOURCE_LOCAL, "%s", def), CN_EDENIED);
    assert_string_equal(err, "Scripts are disabled on this agent; to enable, configure "
                        "'enable_script_checks' or 'enable_local_script_checks' to true");
    assert_int_equal(start_fmt(local, &b, err, CN_CHECK_SOURCE_REMOTE, "%s", def), CN_EDENIED);
    assert_int_equal(start_fmt(local, &c, err, CN_CHECK_SOURCE_LOCAL, "%s", def), 0);
    wait_updates(&c, 1);
    expect(&c, CN_CHECK_PASSING, "");
    runner_close(off);
    runner_close(local);
}

static bool pid_gone(void *arg)
{
    int pid = *(int *)arg;
    char path[64], buf[256];
    FILE *f;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    /* A zombie that is not ours (reparented to init) is gone for us. */
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[2] == 'Z';
}

static void test_script_timeout_kills_group(void **state)
{
    struct cn_check_runner *r = runner_new(&(struct rcfg){.scripts = true});
    struct cn_check_runner_stats st;
    struct rec t = {0};
    int bg = 0;
    const char *p;
    (void)state;
    START(r, &t, "{\"Args\":[\"sh\",\"-c\",\"sleep 100 & echo bg=$!; sleep 100\"],"
          "\"Timeout\":\"300ms\",\"Interval\":\"10s\"}");
    wait_updates(&t, 1);
    assert_int_equal(t.status, CN_CHECK_CRITICAL);
    assert_memory_equal(t.out, "Timed out (300ms) running check\n\nbg=", 36);
    p = strstr(t.out, "bg=");
    assert_non_null(p);
    bg = (int)strtol(p + 3, NULL, 10);
    assert_true(bg > 0);
    if (!poll_until(pid_gone, &bg, WAIT_MS))
        fail_msg("background child %d survived the group kill", bg);
    cn_check_runner_stats(r, &st);
    assert_true(st.scripts_killed >= 1);
    runner_close(r);
    assert_int_equal(my_children(), 0);
}

static bool in_flight(void *arg)
{
    struct cn_check_runner_stats st;
    cn_check_runner_stats(arg, &st);
    return st.runs_in_flight > 0;
}

static void test_script_stop_while_running(void **state)
{
    struct cn_check_runner *r = runner_new(&(struct rcfg){.scripts = true});
    struct rec t = {0};
    (void)state;
    START(r, &t, "{\"Args\":[\"sleep\",\"100\"],\"Interval\":\"50ms\"}");
    assert_true(poll_until(in_flight, r, WAIT_MS));
    cn_check_stop(t.check);
    run_for(100);
    assert_int_equal(t.updates, 0);
    runner_close(r); /* Waits for the killed child to be reaped. */
    assert_int_equal(my_children(), 0);
}

/* ---- thresholds ---- */

struct done_wait {
    struct cn_check_runner *r;
    uint64_t n;
};

static bool completed(void *arg)
{
    struct done_wait *w = arg;
    struct cn_check_runner_stats st;
    cn_check_runner_stats(w->r, &st);
    return st.runs - st.runs_in_flight >= w->n;
}

static bool idle(void *arg)
{
    return !in_flight(arg);
}

/* Waits until n runs have completed and none is in flight, so that what
 * the server answers next is decided before the next run asks. */
static void settle(struct cn_check_runner *r, uint64_t n)
{
    struct done_wait w = {r, n};
    assert_true(poll_until(completed, &w, WAIT_MS));
    assert_true(poll_until(idle, r, WAIT_MS));
}

static uint64_t runs_done(struct cn_check_runner *r)
{
    struct cn_check_runner_stats st;
    cn_check_runner_stats(r, &st);
    return st.runs - st.runs_in_flight;
}

static void test_thresholds(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct rec t = {0};
    uint64_t base;
    (void)state;
    atomic_store(&srv.toggle_status, 200);
    START(r, &t, "{\"HTTP\":\"http://127.0.0.1:%d/toggle\",\"Interval\":\"250ms\","
          "\"SuccessBeforePassing\":2,\"FailuresBeforeWarning\":1,"
          "\"FailuresBeforeCritical\":3}", srv.http_port);
    /* Counters start at their thresholds: the first result shows at once. */
    settle(r, 1);
    assert_int_equal(t.updates, 1);
    assert_int_equal(t.status, CN_CHECK_PASSING);

    atomic_store(&srv.toggle_status, 500);
    base = runs_done(r);
    settle(r, base + 1);
    assert_int_equal(t.status, CN_CHECK_WARNING); /* 1 failure >= FailuresBeforeWarning */
    settle(r, base + 2);
    assert_int_equal(t.status, CN_CHECK_WARNING);
    settle(r, base + 3);
    assert_int_equal(t.status, CN_CHECK_CRITICAL); /* 3 failures */

    atomic_store(&srv.toggle_status, 200);
    base = runs_done(r);
    settle(r, base + 1);
    assert_int_equal(t.status, CN_CHECK_CRITICAL); /* 1 success < 2 */
    settle(r, base + 2);
    assert_int_equal(t.status, CN_CHECK_PASSING);
    assert_int_equal(t.seq[0], CN_CHECK_PASSING);
    assert_int_equal(t.seq[1], CN_CHECK_WARNING);
    assert_int_equal(t.seq[t.updates - 1], CN_CHECK_PASSING);
    runner_close(r);
}

/* ---- lifecycle ---- */

static void test_stop_inside_callback(void **state)
{
    struct cn_check_runner *r = runner_new(NULL);
    struct cn_check_runner *r2 = runner_new(NULL);
    struct cn_check_runner_stats st;
    struct rec self = {.stop_self = true}, closer = {0};
    (void)state;
    START(r, &self, "{\"HTTP\":\"http://127.0.0.1:%d/fail\",\"Interval\":\"20ms\"}",
          srv.http_port);
    wait_updates(&self, 1);
    run_for(150);
    assert_int_equal(self.updates, 1);
    cn_check_runner_stats(r, &st);
    assert_int_equal(st.checks, 0);
    runner_close(r);

    /* Closing the whole runner from a callback. */
    START(r2, &closer, "{\"TTL\":\"10s\"}");
    closer.close_runner = r2;
    assert_int_equal(cn_check_ttl_update(closer.check, CN_CHECK_PASSING, "bye", 3), 0);
    assert_int_equal(closer.updates, 1);
    live_runners--;
    assert_true(poll_until(loop_idle, NULL, WAIT_MS));
}

static void test_close_with_runs_in_flight(void **state)
{
    struct cn_check_runner *r = runner_new(&(struct rcfg){.scripts = true});
    struct rec h = {0}, s = {0};
    (void)state;
    START(r, &h, "{\"HTTP\":\"http://127.0.0.1:%d/slow?ms=20000\",\"Interval\":\"1s\"}",
          srv.http_port);
    START(r, &s, "{\"Args\":[\"sleep\",\"100\"],\"Interval\":\"1s\"}");
    assert_true(poll_until(in_flight, r, WAIT_MS));
    run_for(50);
    runner_close(r); /* The request is cancelled, the sleep killed and reaped. */
    assert_int_equal(h.updates, 0);
    assert_int_equal(s.updates, 0);
    assert_int_equal(my_children(), 0);
}

static uint64_t seen_interval;

static uint64_t record_stagger(void *ctx, uint64_t interval_ms)
{
    (void)ctx;
    seen_interval = interval_ms;
    return interval_ms + 5; /* Out of range: the runner clamps it. */
}

static void test_interval_floor_and_start_errors(void **state)
{
    struct cn_check_runner_config cfg = {.loop = &loop, .stagger = record_stagger};
    struct cn_check_runner *r;
    struct rec a = {0}, b = {0};
    char err[CN_ERRMSG_MAX];
    (void)state;
    assert_int_equal(cn_check_runner_new(&r, &cfg, err), 0);
    live_runners++;
    START(r, &a, "{\"TCP\":\"127.0.0.1:1\",\"Interval\":\"10ms\"}");
    assert_int_equal(seen_interval, CN_CHECK_MIN_INTERVAL_MS); /* MinInterval */
    START(r, &b, "{\"TCP\":\"127.0.0.1:1\",\"Interval\":\"3s\"}");
    assert_int_equal(seen_interval, 3000);
    assert_int_equal(start_fmt(r, &a, err, CN_CHECK_SOURCE_REMOTE, "{\"Name\":\"x\"}"),
                     CN_EBADREQ);
    assert_string_equal(err, "Invalid check: TTL must be > 0 for TTL checks");
    assert_int_equal(start_fmt(r, &a, err, CN_CHECK_SOURCE_REMOTE,
                               "{\"GRPC\":\"x:1\",\"Interval\":\"1s\"}"), CN_EUNSUPPORTED);
    assert_string_equal(err, "grpc checks are not supported");
    assert_int_equal(start_fmt(r, &a, err, CN_CHECK_SOURCE_REMOTE,
                               "{\"AliasService\":\"web\"}"), CN_EUNSUPPORTED);
    cfg.output_max_bytes = CN_CHECK_OUTPUT_BYTES_MAX + 1;
    struct cn_check_runner *bad;
    assert_int_equal(cn_check_runner_new(&bad, &cfg, err), -EINVAL);
    runner_close(r);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    return tsrv_start(&srv);
}

static int teardown(void **state)
{
    (void)state;
    tsrv_stop(&srv);
    return uv_loop_close(&loop) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_statuses),
        cmocka_unit_test(test_http_request_shape),
        cmocka_unit_test(test_http_timeouts),
        cmocka_unit_test(test_http_body_capped),
        cmocka_unit_test(test_http_redirects),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_script_results),
        cmocka_unit_test(test_script_permissions),
        cmocka_unit_test(test_script_timeout_kills_group),
        cmocka_unit_test(test_script_stop_while_running),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_stop_inside_callback),
        cmocka_unit_test(test_close_with_runs_in_flight),
        cmocka_unit_test(test_interval_floor_and_start_errors),
    };
    if (getenv("CN_TEST_FILTER")) /* e.g. CN_TEST_FILTER='test_script*' */
        cmocka_set_test_filter(getenv("CN_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
