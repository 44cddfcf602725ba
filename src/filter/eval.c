/* filter/eval.c - evaluate a compiled filter against one JSON element.
 *
 * Semantics are bexpr v0.1.2's evaluateMatchExpressionRecurse applied to
 * JSON (the contract is in filter.h): objects are walked like Go maps and
 * structs, arrays met before the end of a selector are crossed with ANY,
 * a missing key or null takes bexpr's "not present" answer, and at the end
 * of the selector the operator must suit the JSON type or it is the error
 * bexpr's validator would have given at compile time.
 *
 * Recursion: the AST is at most ~3 * CN_FILTER_DEPTH_MAX deep (the parser
 * bounds nesting; and/or operands are iterated), and crossing nested
 * arrays is bounded by CN_JSON_DEPTH_MAX.
 */
#include <stdio.h>

#include "filter_int.h"

struct eval {
    const struct cn_filter *f;
    char *err;
};

#define AST_DEPTH_MAX (3 * (CN_FILTER_DEPTH_MAX + 1))

/* bexpr's MatchOperator.NotPresentDisposition(). */
static bool not_present(enum cn__filter_op op)
{
    switch (op) {
    case CN__FOP_NE:
    case CN__FOP_NOT_IN:
    case CN__FOP_EMPTY:
    case CN__FOP_NOT_MATCHES:
        return true;
    default:
        return false;
    }
}

/* Operators that negate their positive twin (!=, not in, ...). */
static bool negated(enum cn__filter_op op)
{
    return op == CN__FOP_NE || op == CN__FOP_NOT_IN ||
           op == CN__FOP_NOT_EMPTY || op == CN__FOP_NOT_MATCHES;
}

/* The selector's segments [0, upto) joined with ".", Go-quoted. */
static void quote_selector(const struct eval *ev,
                           const struct cn__filter_node *n, uint16_t upto,
                           char *out, size_t cap)
{
    char joined[256];
    size_t o = 0;
    for (uint16_t i = 0; i < upto; i++) {
        const struct cn__filter_str *s = &ev->f->segs[n->child + i];
        if (i > 0 && o < sizeof joined)
            joined[o++] = '.';
        size_t take = CN_MIN((size_t)s->len, sizeof joined - o);
        memcpy(joined + o, ev->f->pool + s->off, take);
        o += take;
    }
    cn__filter_quote(out, cap, joined, o);
}

static int invalid_op(const struct eval *ev, const struct cn__filter_node *n)
{
    char sel[160];
    quote_selector(ev, n, n->nsegs, sel, sizeof sel);
    cn_errf(ev->err, "%sInvalid match operator \"%s\" for selector %s",
            CN_FILTER_ERR_PREFIX,
            cn__filter_op_name((enum cn__filter_op)n->op), sel);
    return CN_EBADREQ;
}

enum want { WANT_INT, WANT_FLOAT, WANT_BOOL };

/* bexpr's "Failed to coerce value" for a literal that does not convert
 * to the field's type; 0 if it does. */
static int coerce_check(const struct eval *ev, const struct cn__filter_node *n,
                        enum want want)
{
    static const char *const fn[] = { "ParseInt", "ParseFloat", "ParseBool" };
    uint8_t conv = want == WANT_INT     ? n->lit.i_conv
                   : want == WANT_FLOAT ? n->lit.d_conv
                                        : n->lit.b_conv;
    char sel[160], val[160];
    if (conv == CN__CONV_OK)
        return 0;
    quote_selector(ev, n, n->nsegs, sel, sizeof sel);
    cn__filter_quote(val, sizeof val, ev->f->pool + n->value.off,
                     n->value.len);
    cn_errf(ev->err, "%sFailed to coerce value %s for selector %s: "
            "strconv.%s: parsing %s: %s", CN_FILTER_ERR_PREFIX, val, sel,
            fn[want], val,
            conv == CN__CONV_RANGE ? "value out of range" : "invalid syntax");
    return CN_EBADREQ;
}

/* Equality of the literal with a scalar JSON value, the literal converted
 * to the value's type. 1, 0 or an error. Objects and arrays: -2. */
static int scalar_eq(const struct eval *ev, const struct cn__filter_node *n,
                     const json_t *v)
{
    const struct cn__filter_lit *lit = &n->lit;
    int rc;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_length(v) == n->value.len &&
               memcmp(json_string_value(v), ev->f->pool + n->value.off,
                      n->value.len) == 0;
    case JSON_INTEGER:
        if ((rc = coerce_check(ev, n, WANT_INT)) < 0)
            return rc;
        return !lit->i_above && lit->i == (int64_t)json_integer_value(v);
    case JSON_REAL:
        if ((rc = coerce_check(ev, n, WANT_FLOAT)) < 0)
            return rc;
        return lit->d == json_real_value(v);
    case JSON_TRUE:
    case JSON_FALSE:
        if ((rc = coerce_check(ev, n, WANT_BOOL)) < 0)
            return rc;
        return lit->b == json_is_true(v);
    case JSON_NULL:
        return 0; /* A nil element of []*T equals nothing. */
    default:
        return -2;
    }
}

static bool has_substring(const char *hay, size_t hn, const uint8_t *needle,
                          size_t nn)
{
    if (nn == 0)
        return true;
    return nn <= hn && memmem(hay, hn, needle, nn) != NULL;
}

/* The operator at the end of the selector; *out before negation. */
static int leaf_positive(const struct eval *ev,
                         const struct cn__filter_node *n, const json_t *v,
                         bool *out)
{
    enum cn__filter_op op = (enum cn__filter_op)n->op;
    const uint8_t *val = ev->f->pool + n->value.off;
    int rc;

    switch (json_typeof(v)) {
    case JSON_STRING:
        if (op == CN__FOP_IN || op == CN__FOP_NOT_IN) {
            *out = has_substring(json_string_value(v), json_string_length(v),
                                 val, n->value.len);
            return 0;
        }
        if (op == CN__FOP_MATCHES || op == CN__FOP_NOT_MATCHES) {
            CN_ASSERT(n->re < ev->f->n_res);
            *out = cn__filter_regex_match(&ev->f->res[n->re],
                                          json_string_value(v),
                                          json_string_length(v));
            return 0;
        }
        break;
    case JSON_ARRAY:
        if (op == CN__FOP_EMPTY || op == CN__FOP_NOT_EMPTY) {
            *out = json_array_size(v) == 0;
            return 0;
        }
        if (op == CN__FOP_IN || op == CN__FOP_NOT_IN) {
            *out = false;
            for (size_t i = 0; i < json_array_size(v) && !*out; i++) {
                rc = scalar_eq(ev, n, json_array_get(v, i));
                if (rc == -2)
                    return invalid_op(ev, n); /* []struct: emptiness only. */
                if (rc < 0)
                    return rc;
                *out = rc > 0;
            }
            return 0;
        }
        break;
    case JSON_OBJECT:
        if (op == CN__FOP_EMPTY || op == CN__FOP_NOT_EMPTY) {
            *out = json_object_size(v) == 0;
            return 0;
        }
        if (op == CN__FOP_IN || op == CN__FOP_NOT_IN) {
            *out = json_object_getn(v, (const char *)val, n->value.len) !=
                   NULL;
            return 0;
        }
        break;
    default: /* Numbers and booleans: == and != only. */
        break;
    }
    if (op != CN__FOP_EQ && op != CN__FOP_NE)
        return invalid_op(ev, n);
    rc = scalar_eq(ev, n, v);
    if (rc == -2)
        return invalid_op(ev, n);
    if (rc < 0)
        return rc;
    *out = rc > 0;
    return 0;
}

/* Follows the selector from segment `seg` into v. */
static int walk(const struct eval *ev, const struct cn__filter_node *n,
                uint16_t seg, const json_t *v, int arrays, bool *out)
{
    CN_ASSERT(seg <= n->nsegs);
    if (!v || json_is_null(v)) {
        *out = not_present((enum cn__filter_op)n->op);
        return 0;
    }
    if (seg == n->nsegs) {
        int rc = leaf_positive(ev, n, v, out);
        if (rc == 0 && negated((enum cn__filter_op)n->op))
            *out = !*out;
        return rc;
    }
    if (json_is_object(v)) {
        const struct cn__filter_str *s = &ev->f->segs[n->child + seg];
        const json_t *c = json_object_getn(v, (const char *)ev->f->pool +
                                                  s->off, s->len);
        return walk(ev, n, (uint16_t)(seg + 1), c, arrays, out);
    }
    if (json_is_array(v)) {
        /* bexpr: "operations on slices are implicitly ANY operations";
         * nested slices flatten. */
        if (arrays >= CN_JSON_DEPTH_MAX) {
            cn_errf(ev->err, "%sarrays nested deeper than %d",
                    CN_FILTER_ERR_PREFIX, CN_JSON_DEPTH_MAX);
            return CN_EBADREQ;
        }
        *out = false;
        for (size_t i = 0; i < json_array_size(v) && !*out; i++) {
            int rc = walk(ev, n, seg, json_array_get(v, i), arrays + 1, out);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    char sel[160];
    quote_selector(ev, n, (uint16_t)(seg + 1), sel, sizeof sel);
    cn_errf(ev->err, "%sSelector %s is not valid", CN_FILTER_ERR_PREFIX, sel);
    return CN_EBADREQ;
}

static int eval_node(const struct eval *ev, uint32_t idx, const json_t *elem,
                     int depth, bool *out)
{
    CN_ASSERT(idx < ev->f->n_nodes);
    CN_ASSERT(depth <= AST_DEPTH_MAX); /* The parser bounds nesting. */
    const struct cn__filter_node *n = &ev->f->nodes[idx];
    int rc;

    switch ((enum cn__filter_kind)n->kind) {
    case CN__FN_MATCH:
        return walk(ev, n, 0, elem, 0, out);
    case CN__FN_NOT:
        rc = eval_node(ev, n->child, elem, depth + 1, out);
        *out = !*out;
        return rc;
    case CN__FN_AND:
    case CN__FN_OR: {
        bool stop_on = n->kind == CN__FN_OR; /* Short-circuit value. */
        for (uint32_t c = n->child; c != CN__FILTER_NONE;
             c = ev->f->nodes[c].next) {
            rc = eval_node(ev, c, elem, depth + 1, out);
            if (rc < 0 || *out == stop_on)
                return rc;
        }
        *out = !stop_on;
        return 0;
    }
    }
    CN_UNREACHABLE();
}

int cn__filter_eval(const struct cn_filter *f, const json_t *elem,
                    bool *match, char *err)
{
    struct eval ev = { f, err };
    bool m = false;
    CN_ASSERT(f->root < f->n_nodes);
    err[0] = '\0';
    int rc = eval_node(&ev, f->root, elem, 0, &m);
    if (rc < 0)
        return rc;
    *match = m;
    return 0;
}
