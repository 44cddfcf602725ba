/* agent/checks/fuzz_check_def.c - libFuzzer target: the check definition
 * decoder, validation and packing, plus the URL and host:port parsers an
 * accepted definition feeds at run time. Nothing may crash or leak; what
 * is accepted must clone to an equal definition. */
#include <stdio.h>
#include <stdlib.h>

#include "checks_int.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_clone(const struct cn_check_def *d)
{
    struct cn_check_def *c;
    if (cn_check_def_clone(d, &c) < 0)
        return;
    CN_ASSERT(str_eq(c->id, d->id) && str_eq(c->http, d->http) && str_eq(c->tcp, d->tcp));
    CN_ASSERT(c->n_args == d->n_args && c->n_headers == d->n_headers);
    for (size_t i = 0; i < d->n_args; i++)
        CN_ASSERT(strcmp(c->args[i], d->args[i]) == 0);
    for (size_t i = 0; i < d->n_headers; i++)
        CN_ASSERT(c->headers[i].n_values == d->headers[i].n_values);
    CN_ASSERT(c->body_len == d->body_len);
    CN_ASSERT(c->body_len == 0 || memcmp(c->body, d->body, c->body_len) == 0);
    cn_check_def_free(c);
}

static void fuzz_urls(const struct cn_check_def *d)
{
    char err[CN_ERRMSG_MAX], host[256];
    struct cn__url u;
    char *next;
    int port;
    if (d->http && cn__url_parse(d->http, &u, d->method ? d->method : "GET", err) == 0) {
        CN_ASSERT(u.port >= 0 && u.port <= 65535 && u.target[0] == '/');
        CN_ASSERT(u.host[0] && !strchr(u.host, '/'));
        CN_ASSERT(strpbrk(u.target, " \r\n") == NULL);
        if (d->notes && cn__url_resolve(&u, d->notes, &next) == 0)
            cn_free(next);
        cn__url_free(&u);
    }
    if (d->tcp && cn__split_host_port(d->tcp, host, sizeof host, &port, err) == 0)
        CN_ASSERT(port >= 0 && port <= 65535);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CN_ERRMSG_MAX];
    struct cn_check_def *d;
    json_t *v;
    if (cn_json_parse(data, size, &v, err) < 0)
        return 0;
    if (cn_check_def_parse(v, &d, err) == 0) {
        if (cn_check_def_validate(d, err) == 0)
            (void)cn_check_type_name(cn_check_def_type(d));
        (void)cn_check_def_dereg_after_ms(d);
        check_clone(d);
        fuzz_urls(d);
        cn_check_def_free(d);
    }
    json_decref(v);
    return 0;
}
