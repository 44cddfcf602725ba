/* filter/filter_int.h - shared by the .c files of src/filter only.
 *
 * A compiled filter is a flat AST: nodes in one array, linked by index
 * (AND/OR keep their operands as a sibling list, so a long `or` chain is
 * iterated, not recursed). Strings (selector segments, literal text) live
 * in one byte pool, addressed by offset so the pool may grow while parsing
 * and shrink on backtracking.
 */
#ifndef CN_FILTER_INT_H
#define CN_FILTER_INT_H

#include <regex.h>

#include "filter.h"

#define CN__FILTER_NONE UINT32_MAX

enum cn__filter_kind {
    CN__FN_MATCH,
    CN__FN_AND,
    CN__FN_OR,
    CN__FN_NOT,
};

/* bexpr's MatchOperator; names are its String() (error messages). */
enum cn__filter_op {
    CN__FOP_EQ,
    CN__FOP_NE,
    CN__FOP_IN,  /* Also `contains`. */
    CN__FOP_NOT_IN,
    CN__FOP_EMPTY,
    CN__FOP_NOT_EMPTY,
    CN__FOP_MATCHES,
    CN__FOP_NOT_MATCHES,
};

/* Outcome of converting a literal, like Go's strconv errors. */
enum cn__filter_conv {
    CN__CONV_OK,
    CN__CONV_SYNTAX, /* "invalid syntax" */
    CN__CONV_RANGE,  /* "value out of range" */
};

struct cn__filter_str {
    uint32_t off; /* Into cn_filter.pool. */
    uint32_t len;
};

/* The literal converted every way a field may need it, once at compile. */
struct cn__filter_lit {
    int64_t i;
    double d;
    uint8_t i_conv; /* enum cn__filter_conv */
    uint8_t d_conv;
    uint8_t b_conv;
    bool i_above;   /* Fits uint64 but not int64: equals no jansson int. */
    bool b;
};

struct cn__filter_node {
    uint8_t kind; /* enum cn__filter_kind */
    uint8_t op;   /* enum cn__filter_op (MATCH) */
    bool has_value;
    uint16_t nsegs;   /* MATCH: selector segments. */
    uint32_t child;   /* AND/OR/NOT: first operand. MATCH: first segment. */
    uint32_t next;    /* Next operand of the parent AND/OR, or NONE. */
    uint32_t re;      /* MATCH with (not) matches: index in res, or NONE. */
    struct cn__filter_str value; /* MATCH: literal text (bexpr's Raw). */
    struct cn__filter_lit lit;
};

struct cn_filter {
    struct cn__filter_node *nodes;
    struct cn__filter_str *segs;
    uint8_t *pool;
    regex_t *res;
    uint32_t n_nodes, n_segs, n_res;
    uint32_t root;
    uint32_t n_matches;
    size_t pool_len;
};

/* parse.c: builds f's nodes, segs and pool from expr. 0, CN_EBADREQ,
 * CN_ETOOBIG or -ENOMEM; err gets the message without the prefix. On
 * failure f may hold partial arrays; the caller frees them. */
int cn__filter_parse(struct cn_filter *f, const uint8_t *expr, size_t len,
                     char *err);

/* regex.c: translates RE2 syntax to a POSIX ERE and compiles it.
 * 0, CN_EBADREQ, CN_ETOOBIG or -ENOMEM; `why` (CN_ERRMSG_MAX) gets Go's
 * wording after "error parsing regexp: ". On success re must be regfree'd. */
int cn__filter_regex_compile(regex_t *re, const uint8_t *pat, size_t len,
                             char *why);
/* Exposed for tests: the ERE text (NUL-terminated in out) and cflags. */
int cn__filter_regex_translate(const uint8_t *pat, size_t len,
                               struct cn_buf *out, int *cflags, char *why);
bool cn__filter_regex_match(const regex_t *re, const char *s, size_t len);

/* eval.c */
int cn__filter_eval(const struct cn_filter *f, const json_t *elem,
                    bool *match, char *err);

/* literal.c: Go's literal rules. */
int cn__filter_unquote(const uint8_t *s, size_t n, struct cn_buf *out);
int cn__filter_hexval(uint8_t c);                      /* -1 if not hex. */
size_t cn__filter_utf8_put(uint32_t r, uint8_t *out);   /* out >= 4. */
size_t cn__filter_utf8_len(const uint8_t *s, size_t n); /* 0: invalid. */
const char *cn__filter_op_name(enum cn__filter_op op);
/* Go's %q of s into out (cap bytes, NUL-terminated, truncated). */
void cn__filter_quote(char *out, size_t cap, const void *s, size_t len);
/* Go strconv: ParseInt(s, 0, 64) widened to uint64's range, ParseFloat(s,
 * 64), ParseBool(s). */
void cn__filter_convert(struct cn__filter_lit *lit, const uint8_t *s,
                        size_t len);

#endif
