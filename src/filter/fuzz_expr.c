/* filter/fuzz_expr.c - libFuzzer target: compile arbitrary bytes as a
 * ?filter= expression; run what compiles against fixed Consul-shaped
 * documents. Never a crash, a leak or an assert; errors always carry the
 * Consul prefix; and `not (X)` compiles whenever X does (limits allowing)
 * and evaluates to the negation of X, with the same errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const docs_text[] = {
    /* CheckServiceNode (/v1/health/service/:s). */
    "{\"Node\":{\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\",\"Node\":\"n1\","
    "\"Address\":\"10.0.0.5\",\"Datacenter\":\"dc1\",\"TaggedAddresses\":"
    "{\"lan\":\"10.0.0.5\",\"wan\":\"198.18.0.1\"},\"Meta\":{\"env\":\"prod\","
    "\"rack\":\"r1\"},\"CreateIndex\":5,\"ModifyIndex\":9},"
    "\"Service\":{\"ID\":\"web-1\",\"Service\":\"web\",\"Tags\":[\"v1\","
    "\"primary\"],\"Address\":\"\",\"Meta\":{\"version\":\"1.2\"},\"Port\":8080,"
    "\"Weights\":{\"Passing\":1,\"Warning\":1},\"EnableTagOverride\":false,"
    "\"Kind\":\"\",\"Proxy\":{\"Upstreams\":[]},\"Connect\":{},"
    "\"CreateIndex\":12,\"ModifyIndex\":12},"
    "\"Checks\":[{\"Node\":\"n1\",\"CheckID\":\"serfHealth\",\"Name\":\"Serf "
    "Health Status\",\"Status\":\"passing\",\"Notes\":\"\",\"Output\":\"Agent "
    "alive and reachable\",\"ServiceID\":\"\",\"ServiceName\":\"\","
    "\"ServiceTags\":[],\"Type\":\"\",\"Definition\":{}},{\"Node\":\"n1\","
    "\"CheckID\":\"service:web-1\",\"Name\":\"Service 'web' check\","
    "\"Status\":\"critical\",\"Output\":\"HTTP GET: 503\",\"ServiceID\":"
    "\"web-1\",\"ServiceName\":\"web\",\"ServiceTags\":[\"v1\",\"primary\"],"
    "\"Type\":\"http\"}]}",
    /* Odd shapes: nulls, nested arrays, reals, a key with a dot. */
    "{\"a\":null,\"b\":[[1,2],[3.5,true]],\"c\":{\"d.e\":\"x\",\"\":[null]},"
    "\"f\":1.5,\"g\":-9223372036854775807,\"h\":[{\"i\":[{\"j\":\"k\"}]}]}",
};

static json_t *docs[CN_ARRAY_LEN(docs_text)];

static void load_docs(void)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(docs); i++) {
        if (docs[i])
            continue;
        json_error_t e;
        docs[i] = json_loads(docs_text[i], 0, &e);
        CN_ASSERT(docs[i] != NULL);
    }
}

static bool has_prefix(const char *err)
{
    return strncmp(err, CN_FILTER_ERR_PREFIX,
                   strlen(CN_FILTER_ERR_PREFIX)) == 0;
}

static void check_negation(const uint8_t *data, size_t size,
                           const struct cn_filter *f)
{
    char *wrapped = malloc(size + 8), err[CN_ERRMSG_MAX], err2[CN_ERRMSG_MAX];
    struct cn_filter *nf = NULL;
    CN_ASSERT(wrapped != NULL);
    memcpy(wrapped, "not (", 5);
    memcpy(wrapped + 5, data, size);
    wrapped[size + 5] = ')';
    int rc = cn_filter_compile(wrapped, size + 6, &nf, err);
    free(wrapped);
    if (rc == CN_ETOOBIG || rc == -ENOMEM)
        return;
    CN_ASSERT(rc == 0 && nf != NULL);
    for (size_t i = 0; i < CN_ARRAY_LEN(docs); i++) {
        bool m1 = false, m2 = false;
        int r1 = cn_filter_match(f, docs[i], &m1, err);
        int r2 = cn_filter_match(nf, docs[i], &m2, err2);
        CN_ASSERT(r1 == r2);
        if (r1 == 0)
            CN_ASSERT(m1 != m2);
        else
            CN_ASSERT(strcmp(err, err2) == 0 && has_prefix(err));
    }
    cn_filter_free(nf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn_filter *f = NULL;
    char err[CN_ERRMSG_MAX];

    load_docs();
    int rc = cn_filter_compile((const char *)data, size, &f, err);
    if (rc < 0) {
        CN_ASSERT(f == NULL && has_prefix(err) && strchr(err, '\n') == NULL);
        return 0;
    }
    if (size == 0) {
        CN_ASSERT(f == NULL);
        return 0;
    }
    CN_ASSERT(f != NULL && cn_filter_matches_count(f) > 0);
    for (size_t i = 0; i < CN_ARRAY_LEN(docs); i++) {
        bool m = false, again = false;
        rc = cn_filter_match(f, docs[i], &m, err);
        CN_ASSERT(rc == 0 || (rc == CN_EBADREQ && has_prefix(err)));
        CN_ASSERT(cn_filter_match(f, docs[i], &again, err) == rc);
        CN_ASSERT(rc < 0 || again == m);
    }
    check_negation(data, size, f);
    cn_filter_free(f);
    return 0;
}
