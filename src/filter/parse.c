/* filter/parse.c - bexpr's PEG grammar (filter.h) as recursive descent.
 *
 * PEG ordered choice commits to the first alternative that succeeds, so a
 * rule here returns 1 (matched, input consumed), 0 (did not match: input,
 * nodes, segments and pool are rewound to where the rule started, and the
 * caller tries its next alternative) or a negative error. Errors are the
 * places where bexpr's grammar records an error (`&{ return false, err }`
 * predicates and failed string unquoting); pigeon then fails the whole
 * parse however the rest goes, so stopping at once gives the same verdict.
 *
 * Three shortcuts keep parsing linear where pigeon re-parses:
 *  - bexpr's Input tries `"(" Or ")" EOF` before `Or EOF`; every input the
 *    first accepts the second accepts with the same tree, so only the
 *    second is done.
 *  - `Group <- "(" Or ")" / Match / "(" Or !")" error` re-parses Or for
 *    the error alternative; we decide from the first attempt.
 *  - After `_ "and" _` (or "or") the right operand must parse: if it does
 *    not, pigeon backtracks to the left operand alone, but nothing that
 *    may follow an And/Or can consume " and ...", so the parse fails; we
 *    fail right there.
 * Backtracking that can succeed is kept: `not == 1` is the selector "not"
 * (Not falls back to Group), and Match tries its three shapes in order.
 *
 * Error text imitates pigeon's: "line:col (offset): rule "number": Invalid
 * number literal", or "... no match found, expected: ..." at the farthest
 * offset any rule got to, with our own list of what was expected.
 */
#include <errno.h>
#include <stdio.h>

#include "filter_int.h"

enum {
    EXP_LPAREN = 1u << 0,
    EXP_NOT = 1u << 1,
    EXP_SEL = 1u << 2,
    EXP_VALUE = 1u << 3,
    EXP_OP = 1u << 4,
    EXP_AND = 1u << 5,
    EXP_OR = 1u << 6,
    EXP_RPAREN = 1u << 7,
    EXP_EOF = 1u << 8,
    EXP_WS = 1u << 9,
    EXP_INDEX = 1u << 10,
};

static const char *const exp_names[] = {
    "\"(\"", "\"not\"", "selector", "value", "operator", "\"and\"",
    "\"or\"", "\")\"", "end of input", "whitespace", "\"]\"",
};

struct parser {
    const uint8_t *s;
    size_t len;
    size_t pos;
    struct cn_filter *f;
    struct cn_buf pool;
    uint32_t nodes_cap;
    uint32_t segs_cap;
    int depth;
    size_t fail_pos;   /* Farthest offset a rule failed at... */
    unsigned expect;   /* ...and what it wanted there (EXP_*). */
    char *err;
};

struct mark {
    size_t pos;
    size_t pool;
    uint32_t nodes;
    uint32_t segs;
};

static int or_expr(struct parser *p, uint32_t *out);

static struct mark mark_now(const struct parser *p)
{
    struct mark m = { p->pos, p->pool.len, p->f->n_nodes, p->f->n_segs };
    return m;
}

static void rewind_to(struct parser *p, struct mark m)
{
    CN_ASSERT(m.pos <= p->len && m.segs <= p->f->n_segs);
    CN_ASSERT(m.pool <= p->pool.len && m.nodes <= p->f->n_nodes);
    p->pos = m.pos;
    p->pool.len = m.pool;
    p->f->n_nodes = m.nodes;
    p->f->n_segs = m.segs;
}

static void expect(struct parser *p, size_t at, unsigned what)
{
    if (at > p->fail_pos || p->expect == 0) {
        p->fail_pos = at;
        p->expect = what;
    } else if (at == p->fail_pos) {
        p->expect |= what;
    }
}

/* pigeon's position: 1-based line, 1-based column in runes, offset. */
static int pos_text(const struct parser *p, size_t at, char *out, size_t cap)
{
    unsigned line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else if ((p->s[i] & 0xc0) != 0x80) {
            col++;
        }
    }
    return snprintf(out, cap, "%u:%u (%zu)", line, col, at);
}

/* A hard error inside `rule` at offset `at`. */
static int fail_at(struct parser *p, int rc, size_t at, const char *rule,
                   const char *msg)
{
    char where[64];
    pos_text(p, at, where, sizeof where);
    if (rule)
        cn_errf(p->err, "%s: rule \"%s\": %s", where, rule, msg);
    else
        cn_errf(p->err, "%s: %s", where, msg);
    return rc;
}

static int no_match(struct parser *p)
{
    char where[64], list[200];
    size_t n = 0, used = 0, total = 0;

    for (size_t i = 0; i < CN_ARRAY_LEN(exp_names); i++)
        total += (p->expect >> i) & 1u;
    list[0] = '\0';
    for (size_t i = 0; i < CN_ARRAY_LEN(exp_names); i++) {
        if (!((p->expect >> i) & 1u))
            continue;
        const char *sep = n == 0 ? "" : (n + 1 == total ? " or " : ", ");
        int w = snprintf(list + used, sizeof list - used, "%s%s", sep,
                         exp_names[i]);
        if (w < 0 || (size_t)w >= sizeof list - used)
            break;
        used += (size_t)w;
        n++;
    }
    pos_text(p, p->fail_pos, where, sizeof where);
    cn_errf(p->err, "%s: no match found, expected: %s", where,
            n ? list : "expression");
    return CN_EBADREQ;
}

static int too_big(struct parser *p, const char *what, unsigned max)
{
    char where[64];
    pos_text(p, p->pos, where, sizeof where);
    cn_errf(p->err, "%s: %s (limit %u)", where, what, max);
    return CN_ETOOBIG;
}

/* ---- lexical helpers ---- */

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool peek(const struct parser *p, uint8_t c)
{
    return p->pos < p->len && p->s[p->pos] == c;
}

/* _ : [ \t\r\n]+. True if at least one byte was consumed. */
static bool ws(struct parser *p)
{
    size_t start = p->pos;
    while (p->pos < p->len && is_ws(p->s[p->pos]))
        p->pos++;
    return p->pos > start;
}

/* Matches `pat`, where ' ' is `_` (required whitespace), '~' is `_?`
 * and any other byte is literal. On failure records what was expected at
 * the failing offset, restores the position and returns false. */
static bool seq(struct parser *p, const char *pat, unsigned what)
{
    size_t start = p->pos, word = p->pos;
    for (const char *c = pat; *c; c++) {
        if (*c == '~' || *c == ' ') {
            if (!ws(p) && *c == ' ') {
                expect(p, p->pos, EXP_WS);
                p->pos = start;
                return false;
            }
            word = p->pos;
        } else if (peek(p, (uint8_t)*c)) {
            p->pos++;
        } else {
            expect(p, word, what); /* pigeon fails a literal at its start. */
            p->pos = start;
            return false;
        }
    }
    return true;
}

/* Ident <- [a-zA-Z][a-zA-Z0-9_]* */
static bool ident(struct parser *p, size_t *start)
{
    if (p->pos >= p->len || !is_alpha(p->s[p->pos]))
        return false;
    *start = p->pos++;
    while (p->pos < p->len && (is_alpha(p->s[p->pos]) ||
                               is_digit(p->s[p->pos]) || p->s[p->pos] == '_'))
        p->pos++;
    return true;
}

/* ---- building ---- */

static int pool_put(struct parser *p, const void *data, size_t n,
                    struct cn__filter_str *out)
{
    CN_ASSERT(p->pool.len <= UINT32_MAX && n <= UINT32_MAX);
    out->off = (uint32_t)p->pool.len;
    out->len = (uint32_t)n;
    int rc = cn_buf_append(&p->pool, data, n);
    if (rc == -EMSGSIZE)
        return too_big(p, "decoded strings too long", 0);
    if (rc < 0)
        return fail_at(p, rc, p->pos, NULL, "out of memory");
    return 0;
}

static int grow(struct parser *p, void **arr, uint32_t *cap, uint32_t need,
                size_t elem, uint32_t max, const char *what)
{
    if (need <= *cap)
        return 0;
    if (need > max)
        return too_big(p, what, max);
    uint32_t ncap = *cap ? *cap * 2 : 16;
    ncap = CN_MIN(CN_MAX(ncap, need), max);
    void *n = cn_realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return fail_at(p, -ENOMEM, p->pos, NULL, "out of memory");
    *arr = n;
    *cap = ncap;
    return 0;
}

static int push_seg(struct parser *p, struct cn__filter_str s)
{
    struct cn_filter *f = p->f;
    int rc = grow(p, (void **)&f->segs, &p->segs_cap, f->n_segs + 1,
                  sizeof *f->segs, CN_FILTER_NODES_MAX * 4,
                  "too many selector segments");
    if (rc < 0)
        return rc;
    f->segs[f->n_segs++] = s;
    return 0;
}

static int new_node(struct parser *p, enum cn__filter_kind kind,
                    uint32_t *out)
{
    struct cn_filter *f = p->f;
    int rc = grow(p, (void **)&f->nodes, &p->nodes_cap, f->n_nodes + 1,
                  sizeof *f->nodes, CN_FILTER_NODES_MAX,
                  "too many expression nodes");
    if (rc < 0)
        return rc;
    struct cn__filter_node *n = &f->nodes[f->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->child = CN__FILTER_NONE;
    n->next = CN__FILTER_NONE;
    n->re = CN__FILTER_NONE;
    *out = f->n_nodes++;
    return 0;
}

/* String <- '`' [^`]* '`' / '"' [^"]* '"', then Go's Unquote. */
static int string_lit(struct parser *p, struct cn__filter_str *out)
{
    if (p->pos >= p->len || (p->s[p->pos] != '"' && p->s[p->pos] != '`'))
        return 0;
    uint8_t q = p->s[p->pos];
    size_t a = p->pos + 1;
    const uint8_t *end = memchr(p->s + a, q, p->len - a);
    if (!end) {
        p->pos = p->len; /* The error alternative consumed to EOF. */
        return fail_at(p, CN_EBADREQ, p->len, "string",
                       "Unterminated string literal");
    }
    size_t b = (size_t)(end - p->s);
    int rc;
    if (q == '"') {
        size_t start = p->pool.len;
        rc = cn__filter_unquote(p->s + a, b - a, &p->pool);
        if (rc == CN_EBADREQ)
            return fail_at(p, rc, a - 1, "string", "invalid syntax");
        if (rc == -EMSGSIZE)
            return too_big(p, "decoded strings too long", 0);
        if (rc < 0)
            return fail_at(p, rc, p->pos, NULL, "out of memory");
        out->off = (uint32_t)start;
        out->len = (uint32_t)(p->pool.len - start);
    } else {
        size_t start = p->pool.len;
        rc = 0;
        for (size_t i = a; i < b && rc == 0; i++) {
            if (p->s[i] != '\r') /* Go drops CRs from raw strings. */
                rc = cn_buf_putc(&p->pool, p->s[i]);
        }
        if (rc == -EMSGSIZE)
            return too_big(p, "decoded strings too long", 0);
        if (rc < 0)
            return fail_at(p, rc, p->pos, NULL, "out of memory");
        out->off = (uint32_t)start;
        out->len = (uint32_t)(p->pool.len - start);
    }
    if (rc < 0)
        return rc;
    p->pos = b + 1;
    return 1;
}

/* Number <- "-"? ("0" / [1-9][0-9]*) ("." [0-9]+)? &(_ / EOF / ")") */
static int number_lit(struct parser *p, struct cn__filter_str *out)
{
    size_t q = p->pos;
    if (q < p->len && p->s[q] == '-')
        q++;
    if (q < p->len && p->s[q] == '0') {
        q++;
    } else if (q < p->len && p->s[q] >= '1' && p->s[q] <= '9') {
        while (q < p->len && is_digit(p->s[q]))
            q++;
    } else {
        return 0;
    }
    if (q + 1 < p->len && p->s[q] == '.' && is_digit(p->s[q + 1])) {
        q++;
        while (q < p->len && is_digit(p->s[q]))
            q++;
    }
    if (q < p->len && !is_ws(p->s[q]) && p->s[q] != ')')
        return fail_at(p, CN_EBADREQ, q, "number", "Invalid number literal");
    int rc = pool_put(p, p->s + p->pos, q - p->pos, out);
    if (rc < 0)
        return rc;
    p->pos = q;
    return 1;
}

/* ---- selectors and values ---- */

/* Index <- "[" _? String _? "]", with bexpr's two error alternatives. */
static int index_expr(struct parser *p, struct cn__filter_str *seg)
{
    CN_ASSERT(peek(p, '['));
    p->pos++;
    ws(p);
    int rc = string_lit(p, seg);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fail_at(p, CN_EBADREQ, p->pos, "index", "Invalid index");
    ws(p);
    if (!peek(p, ']'))
        return fail_at(p, CN_EBADREQ, p->pos, "index",
                       "Unclosed index expression");
    p->pos++;
    return 1;
}

/* Sel <- Ident ("." Ident / Index)*; appends the segments to f->segs. */
static int selector(struct parser *p, uint32_t *first, uint16_t *nsegs)
{
    size_t a;
    struct cn__filter_str seg;
    int rc;

    if (!ident(p, &a)) {
        expect(p, p->pos, EXP_SEL);
        return 0;
    }
    *first = p->f->n_segs;
    *nsegs = 0;
    for (;;) {
        if (*nsegs >= CN_FILTER_SELECTOR_SEGS_MAX)
            return too_big(p, "too many selector segments",
                           CN_FILTER_SELECTOR_SEGS_MAX);
        if (a != SIZE_MAX) {
            rc = pool_put(p, p->s + a, p->pos - a, &seg);
            if (rc < 0)
                return rc;
        }
        rc = push_seg(p, seg);
        if (rc < 0)
            return rc;
        (*nsegs)++;
        size_t dot = p->pos;
        if (peek(p, '.')) {
            p->pos++;
            if (ident(p, &a))
                continue;
            p->pos = dot; /* "." not followed by an identifier ends Sel. */
            expect(p, dot + 1, EXP_SEL);
            break;
        }
        if (peek(p, '[')) {
            rc = index_expr(p, &seg);
            if (rc < 0)
                return rc;
            a = SIZE_MAX; /* seg already in the pool. */
            continue;
        }
        break;
    }
    return 1;
}

/* Value <- Sel / Number / String. A selector's value is its segments
 * joined with "." (bexpr's Raw), kept in place of the segment strings. */
static int value(struct parser *p, struct cn__filter_str *out)
{
    struct mark m = mark_now(p);
    uint32_t first;
    uint16_t nsegs;
    int rc = selector(p, &first, &nsegs);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        struct cn_filter *f = p->f;
        size_t pos = p->pos, base = m.pool, seg_end = p->pool.len;
        /* Join after the segment strings, then slide down over them. */
        for (uint16_t i = 0; i < nsegs; i++) {
            struct cn__filter_str s = f->segs[first + i];
            CN_ASSERT(s.off >= base && s.off + s.len <= seg_end);
            if (i > 0 && (rc = cn_buf_putc(&p->pool, '.')) < 0)
                break;
            if ((rc = cn_buf_reserve(&p->pool, s.len)) < 0)
                break;
            memcpy(p->pool.data + p->pool.len, p->pool.data + s.off, s.len);
            p->pool.len += s.len;
        }
        if (rc == -EMSGSIZE)
            return too_big(p, "decoded strings too long", 0);
        if (rc < 0)
            return fail_at(p, rc, p->pos, NULL, "out of memory");
        size_t n = p->pool.len - seg_end;
        memmove(p->pool.data + base, p->pool.data + seg_end, n);
        rewind_to(p, m);
        p->pos = pos;
        p->pool.len = base + n;
        out->off = (uint32_t)base;
        out->len = (uint32_t)n;
        return 1;
    }
    rc = number_lit(p, out);
    if (rc != 0)
        return rc;
    rc = string_lit(p, out);
    if (rc == 0)
        expect(p, p->pos, EXP_VALUE);
    return rc;
}

/* ---- expressions ---- */

static int new_match(struct parser *p, enum cn__filter_op op, uint32_t first,
                     uint16_t nsegs, const struct cn__filter_str *val,
                     uint32_t *out)
{
    int rc = new_node(p, CN__FN_MATCH, out);
    if (rc < 0)
        return rc;
    struct cn__filter_node *n = &p->f->nodes[*out];
    n->op = (uint8_t)op;
    n->child = first;
    n->nsegs = nsegs;
    n->has_value = val != NULL;
    if (val)
        n->value = *val;
    return 1;
}

/* The operators of `Sel op Value`, in bexpr's order. */
static bool match_op(struct parser *p, enum cn__filter_op *op)
{
    static const struct {
        const char *pat;
        enum cn__filter_op op;
    } ops[] = {
        { "~==~", CN__FOP_EQ },
        { "~!=~", CN__FOP_NE },
        { " contains ", CN__FOP_IN },
        { " not contains ", CN__FOP_NOT_IN },
        { " matches ", CN__FOP_MATCHES },
        { " not matches ", CN__FOP_NOT_MATCHES },
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(ops); i++) {
        if (seq(p, ops[i].pat, EXP_OP)) {
            *op = ops[i].op;
            return true;
        }
    }
    return false;
}

/* Match <- Sel op Value / Sel is [not] empty / Value [not] in Sel */
static int match_expr(struct parser *p, uint32_t *out)
{
    struct mark start = mark_now(p);
    struct cn__filter_str val;
    enum cn__filter_op op;
    uint32_t first;
    uint16_t nsegs;

    int rc = selector(p, &first, &nsegs);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        struct mark after_sel = mark_now(p);
        if (match_op(p, &op)) {
            rc = value(p, &val);
            if (rc != 0)
                return rc < 0 ? rc : new_match(p, op, first, nsegs, &val, out);
            rewind_to(p, after_sel);
        }
        /* bexpr re-parses the same selector here; reusing it is the same. */
        if (seq(p, " is empty", EXP_OP))
            return new_match(p, CN__FOP_EMPTY, first, nsegs, NULL, out);
        if (seq(p, " is not empty", EXP_OP))
            return new_match(p, CN__FOP_NOT_EMPTY, first, nsegs, NULL, out);
        rewind_to(p, start);
    }
    rc = value(p, &val);
    if (rc <= 0)
        return rc;
    if (seq(p, " in ", EXP_OP))
        op = CN__FOP_IN;
    else if (seq(p, " not in ", EXP_OP))
        op = CN__FOP_NOT_IN;
    else {
        rewind_to(p, start);
        return 0;
    }
    rc = selector(p, &first, &nsegs);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fail_at(p, CN_EBADREQ, p->pos, "match", "Invalid selector");
    return new_match(p, op, first, nsegs, &val, out);
}

static int enter(struct parser *p)
{
    if (p->depth >= CN_FILTER_DEPTH_MAX)
        return too_big(p, "expression nests too deeply", CN_FILTER_DEPTH_MAX);
    p->depth++;
    return 0;
}

/* Group <- "(" _? Or _? ")" / Match */
static int group(struct parser *p, uint32_t *out)
{
    if (!peek(p, '(')) {
        int rc = match_expr(p, out);
        if (rc == 0)
            expect(p, p->pos, EXP_LPAREN | EXP_NOT);
        return rc;
    }
    struct mark m = mark_now(p);
    int rc = enter(p);
    if (rc < 0)
        return rc;
    p->pos++;
    ws(p);
    rc = or_expr(p, out);
    p->depth--;
    if (rc <= 0) {
        if (rc == 0)
            rewind_to(p, m);
        return rc;
    }
    ws(p);
    if (peek(p, ')')) {
        p->pos++;
        return 1;
    }
    expect(p, p->pos, EXP_RPAREN);
    return fail_at(p, CN_EBADREQ, p->pos, "grouping", "Unmatched parentheses");
}

/* Not <- "not" _ Not / Group */
static int not_expr(struct parser *p, uint32_t *out)
{
    struct mark m = mark_now(p);
    if (seq(p, "not ", EXP_NOT)) {
        uint32_t child;
        int rc = enter(p);
        if (rc < 0)
            return rc;
        rc = not_expr(p, &child);
        p->depth--;
        if (rc < 0)
            return rc;
        if (rc > 0) {
            struct cn__filter_node *c = &p->f->nodes[child];
            if (c->kind == CN__FN_NOT) { /* not not x == x, as bexpr. */
                *out = c->child;
                return 1;
            }
            if ((rc = new_node(p, CN__FN_NOT, out)) < 0)
                return rc;
            p->f->nodes[*out].child = child;
            return 1;
        }
        rewind_to(p, m); /* `not == 1`: "not" is a selector. */
    }
    return group(p, out);
}

typedef int operand_fn(struct parser *p, uint32_t *out);

/* And <- Not (_ "and" _ Not)*, Or <- And (_ "or" _ And)*: one n-ary node
 * whose operands are a sibling list. */
static int chain(struct parser *p, const char *kw, unsigned what,
                 enum cn__filter_kind kind, operand_fn *operand,
                 uint32_t *out)
{
    uint32_t first, last, next;
    int rc = operand(p, &first);
    if (rc <= 0)
        return rc;
    last = first;
    while (seq(p, kw, what)) {
        rc = operand(p, &next);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return no_match(p); /* See the file comment. */
        p->f->nodes[last].next = next;
        last = next;
    }
    if (last == first) {
        *out = first;
        return 1;
    }
    if ((rc = new_node(p, kind, out)) < 0)
        return rc;
    p->f->nodes[*out].child = first;
    return 1;
}

static int and_expr(struct parser *p, uint32_t *out)
{
    return chain(p, " and ", EXP_AND, CN__FN_AND, not_expr, out);
}

static int or_expr(struct parser *p, uint32_t *out)
{
    return chain(p, " or ", EXP_OR, CN__FN_OR, and_expr, out);
}

/* Pigeon reports input that is not UTF-8 as "invalid encoding". */
static size_t utf8_invalid_at(const uint8_t *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k) {
        if ((k = cn__filter_utf8_len(s + i, n - i)) == 0)
            return i;
    }
    return SIZE_MAX;
}

int cn__filter_parse(struct cn_filter *f, const uint8_t *expr, size_t len,
                     char *err)
{
    struct parser p = { .s = expr, .len = len, .f = f, .err = err };
    uint32_t root;
    int rc;

    CN_ASSERT(len > 0 && len <= CN_FILTER_EXPR_BYTES_MAX);
    CN_ASSERT(f->n_nodes == 0 && f->nodes == NULL);
    size_t bad = utf8_invalid_at(expr, len);
    if (bad != SIZE_MAX)
        return fail_at(&p, CN_EBADREQ, bad, NULL, "invalid encoding");
    /* Segments and values are never longer than their source; a value
     * made of a selector briefly needs its segments twice. */
    cn_buf_init(&p.pool, 4 * len + 64);
    ws(&p);
    rc = or_expr(&p, &root);
    if (rc == 0)
        rc = no_match(&p);
    if (rc > 0) {
        ws(&p);
        if (p.pos != len) {
            expect(&p, p.pos, EXP_EOF);
            rc = no_match(&p);
        }
    }
    if (rc < 0) {
        cn_buf_close(&p.pool);
        return rc;
    }
    CN_ASSERT(p.depth == 0);
    f->root = root;
    f->pool_len = p.pool.len;
    if (p.pool.len == 0) {
        cn_buf_close(&p.pool);
        return 0;
    }
    size_t stolen;
    f->pool = cn_buf_steal(&p.pool, &stolen);
    if (!f->pool) {
        cn_buf_close(&p.pool);
        return fail_at(&p, -ENOMEM, len, NULL, "out of memory");
    }
    return 0;
}
