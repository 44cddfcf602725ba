/* filter/filter.c - compile a ?filter= expression, match, free.
 *
 * Compiling is: parse (parse.c) into a flat AST, then for each match
 * expression convert its literal every way a field might need it (Go's
 * strconv rules, literal.c) and compile its regex (regex.c). Evaluation
 * (eval.c) then only compares.
 */
#include <errno.h>
#include <stdio.h>

#include "filter_int.h"

const char *cn__filter_op_name(enum cn__filter_op op)
{
    static const char *const names[] = {
        [CN__FOP_EQ] = "Equal",
        [CN__FOP_NE] = "Not Equal",
        [CN__FOP_IN] = "In",
        [CN__FOP_NOT_IN] = "Not In",
        [CN__FOP_EMPTY] = "Is Empty",
        [CN__FOP_NOT_EMPTY] = "Is Not Empty",
        [CN__FOP_MATCHES] = "Matches",
        [CN__FOP_NOT_MATCHES] = "Not Matches",
    };
    CN_ASSERT((size_t)op < CN_ARRAY_LEN(names));
    return names[op];
}

/* ---- compile ---- */

static int compile_regexes(struct cn_filter *f, char *err)
{
    uint32_t want = 0;
    for (uint32_t i = 0; i < f->n_nodes; i++) {
        const struct cn__filter_node *n = &f->nodes[i];
        want += n->kind == CN__FN_MATCH && (n->op == CN__FOP_MATCHES ||
                                            n->op == CN__FOP_NOT_MATCHES);
    }
    if (want == 0)
        return 0;
    if (want > CN_FILTER_REGEXES_MAX) {
        cn_errf(err, "%s%u regular expressions, more than %d",
                CN_FILTER_ERR_PREFIX, want, CN_FILTER_REGEXES_MAX);
        return CN_ETOOBIG;
    }
    f->res = cn_calloc(want, sizeof *f->res);
    if (!f->res)
        return -ENOMEM;
    for (uint32_t i = 0; i < f->n_nodes; i++) {
        struct cn__filter_node *n = &f->nodes[i];
        char why[CN_ERRMSG_MAX], q[64];
        if (n->kind != CN__FN_MATCH || (n->op != CN__FOP_MATCHES &&
                                        n->op != CN__FOP_NOT_MATCHES))
            continue;
        CN_ASSERT(n->has_value && f->n_res < want);
        const uint8_t *pat = f->pool + n->value.off;
        int rc = cn__filter_regex_compile(&f->res[f->n_res], pat,
                                          n->value.len, why);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            cn__filter_quote(q, sizeof q, pat, n->value.len);
            cn_errf(err, "%sFailed to compile regular expression %s: "
                    "error parsing regexp: %s", CN_FILTER_ERR_PREFIX, q, why);
            return rc;
        }
        n->re = f->n_res++;
    }
    return 0;
}

int cn_filter_compile(const char *expr, size_t len, struct cn_filter **out,
                      char *err)
{
    char why[CN_ERRMSG_MAX];
    struct cn_filter *f;
    int rc;

    CN_ASSERT(out != NULL && err != NULL);
    CN_ASSERT(expr != NULL || len == 0);
    err[0] = '\0';
    if (len == 0) {
        *out = NULL; /* bexpr: an empty expression is no filter. */
        return 0;
    }
    if (len > CN_FILTER_EXPR_BYTES_MAX) {
        cn_errf(err, "%sexpression of %zu bytes exceeds the limit of %d",
                CN_FILTER_ERR_PREFIX, len, CN_FILTER_EXPR_BYTES_MAX);
        return CN_ETOOBIG;
    }
    f = cn_calloc(1, sizeof *f);
    if (!f)
        goto nomem;
    rc = cn__filter_parse(f, (const uint8_t *)expr, len, why);
    if (rc < 0) {
        if (rc != -ENOMEM)
            cn_errf(err, "%s%s", CN_FILTER_ERR_PREFIX, why);
        cn_filter_free(f);
        if (rc == -ENOMEM)
            goto nomem;
        return rc;
    }
    for (uint32_t i = 0; i < f->n_nodes; i++) {
        struct cn__filter_node *n = &f->nodes[i];
        if (n->kind != CN__FN_MATCH)
            continue;
        f->n_matches++;
        if (n->has_value)
            cn__filter_convert(&n->lit, f->pool + n->value.off, n->value.len);
    }
    rc = compile_regexes(f, err);
    if (rc < 0) {
        cn_filter_free(f);
        if (rc == -ENOMEM)
            goto nomem;
        return rc;
    }
    CN_ASSERT(f->root < f->n_nodes && f->n_matches > 0);
    *out = f;
    return 0;
nomem:
    cn_errf(err, "%sout of memory", CN_FILTER_ERR_PREFIX);
    return -ENOMEM;
}

int cn_filter_match(const struct cn_filter *f, const json_t *elem,
                    bool *match, char *err)
{
    CN_ASSERT(match != NULL && err != NULL);
    if (!f) {
        *match = true;
        return 0;
    }
    CN_ASSERT(elem != NULL);
    return cn__filter_eval(f, elem, match, err);
}

size_t cn_filter_matches_count(const struct cn_filter *f)
{
    return f ? f->n_matches : 0;
}

void cn_filter_free(struct cn_filter *f)
{
    if (!f)
        return;
    for (uint32_t i = 0; i < f->n_res; i++)
        regfree(&f->res[i]);
    cn_free(f->res);
    cn_free(f->nodes);
    cn_free(f->segs);
    cn_free(f->pool);
    cn_free(f);
}
