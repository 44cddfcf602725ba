/* filter/regex.c - `matches` with RE2 syntax on top of POSIX <regex.h>.
 *
 * bexpr compiles `matches` operands with Go's regexp (RE2 syntax, UTF-8
 * runes, leftmost-first). cairn translates the pattern to a POSIX extended
 * regex for glibc's regcomp/regexec. `matches` only asks whether a match
 * exists, so leftmost-first vs leftmost-longest and greedy vs lazy do not
 * change answers. What is translated:
 *
 *   literals, `.` (not newline unless (?s)), `|`, `()`, `(?:)`, `(?P<n>)`,
 *   `(?<n>)`, `* + ? {n} {n,} {n,m}` (lazy `?` suffix dropped; counts up
 *   to 1000 as Go), `^ $ \A \z` (text anchors, as Go without (?m)),
 *   `\b \B`, `\d \D \s \S \w \W`, `[...]` classes with ranges, negation,
 *   escapes and `[:alpha:]`-style names (ASCII, as Go's), `\Q...\E`,
 *   escapes `\a \f \t \n \r \v \x41 \x{263a} \123` and escaped punctuation,
 *   and leading flags `(?i)`, `(?s)`, `(?U)` (combinable).
 *
 * Rejected although Go accepts them: `\p{..}`/`\pL` Unicode classes, the
 * `m` flag and flags anywhere but the start, a NUL byte, non-ASCII
 * characters in negated classes or in ranges, and quantified anchors.
 *
 * Matching is on bytes (the C locale), not runes: `.` and `[^a]` consume
 * one byte of a multi-byte character, so `^.$` does not match "é" as Go
 * does; a non-ASCII literal is grouped so that a quantifier after it
 * repeats the whole character. (?i) folds ASCII only.
 *
 * Cost: glibc copies a counted repetition's operand (a{3} -> aaa) and
 * matching costs about (states x subject bytes), so the translation keeps
 * an estimate of the expanded size and refuses patterns past
 * CN_FILTER_REGEX_SIZE_MAX ("expression too large", as Go says for huge
 * programs).
 */
#include <errno.h>
#include <stdio.h>

#include "filter_int.h"

#define GROUPS_MAX 100 /* Go allows 1000 nesting levels; we need fewer. */

struct tr {
    const uint8_t *s;
    size_t n;
    size_t i;
    struct cn_buf *out;
    char *why;
    bool dotall;
    bool after_quant;   /* The last token was a repetition operator. */
    uint64_t size;      /* Estimated expanded size so far. */
    uint64_t last_atom; /* Size of the last repeatable atom, 0 if none. */
    int depth;
    uint64_t group_start[GROUPS_MAX];
};

/* Bytes as a set (the class being built). */
struct byteset {
    uint8_t bits[32];
};

static void set_add(struct byteset *b, unsigned c)
{
    b->bits[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static bool set_has(const struct byteset *b, unsigned c)
{
    return (b->bits[c >> 3] >> (c & 7)) & 1u;
}

static void set_range(struct byteset *b, unsigned lo, unsigned hi)
{
    for (unsigned c = lo; c <= hi; c++)
        set_add(b, c);
}

static int fail(struct tr *t, int rc, const char *code, size_t from,
                size_t to)
{
    char frag[64];
    size_t o = 0;
    for (size_t i = from, k; i < to && o + 5 < sizeof frag; i += k) {
        uint8_t c = t->s[i];
        k = cn__filter_utf8_len(t->s + i, to - i);
        if (c < 0x20 || c == 0x7f || k == 0) { /* One line, valid UTF-8. */
            o += (size_t)snprintf(frag + o, sizeof frag - o, "\\x%02x", c);
            k = 1;
        } else if (o + k < sizeof frag) {
            memcpy(frag + o, t->s + i, k);
            o += k;
        } else {
            break;
        }
    }
    frag[o] = '\0';
    /* Go's *syntax.Error: "<code>: `<expr>`". */
    if (o > 0)
        cn_errf(t->why, "%s: `%s`", code, frag);
    else
        cn_errf(t->why, "%s", code);
    return rc;
}

static int emit(struct tr *t, const char *s, size_t n)
{
    int rc = cn_buf_append(t->out, s, n);
    if (rc == -EMSGSIZE)
        return fail(t, CN_ETOOBIG, "expression too large", 0, 0);
    return rc;
}

static int emit_str(struct tr *t, const char *s)
{
    return emit(t, s, strlen(s));
}

/* An atom of size 1 was emitted: account for it. */
static int atom(struct tr *t, uint64_t size)
{
    t->size += size;
    t->last_atom = size;
    t->after_quant = false;
    if (t->size > CN_FILTER_REGEX_SIZE_MAX)
        return fail(t, CN_ETOOBIG, "expression too large", 0, 0);
    return 0;
}

static bool ere_special(unsigned c)
{
    return c && strchr(".[]()*+?{}|^$\\", (int)c) != NULL;
}

/* One literal byte outside a class. */
static int emit_byte(struct tr *t, unsigned c)
{
    char b[2] = { '\\', (char)c };
    if (c == 0)
        return fail(t, CN_EBADREQ, "NUL byte unsupported in cairn", 0, 0);
    return ere_special(c) ? emit(t, b, 2) : emit(t, b + 1, 1);
}

/* A literal rune outside a class: multi-byte ones are grouped so a
 * following quantifier repeats the whole character. */
static int emit_rune(struct tr *t, uint32_t r)
{
    char b[4];
    size_t n = cn__filter_utf8_put(r, (uint8_t *)b);
    int rc;
    if (n == 1)
        rc = emit_byte(t, r);
    else if ((rc = emit(t, "(", 1)) == 0 && (rc = emit(t, b, n)) == 0)
        rc = emit(t, ")", 1);
    return rc < 0 ? rc : atom(t, 1);
}

/* Emits the class as one ERE bracket (bytes; NUL cannot be written into
 * a C pattern, so it is left out). */
static int emit_bracket(struct tr *t, const struct byteset *set, bool neg)
{
    char buf[300];
    size_t o = 0, members = 0;
    bool caret = set_has(set, '^'), close = set_has(set, ']');
    bool open = set_has(set, '['), dash = set_has(set, '-');

    for (unsigned c = 1; c < 256; c++)
        members += set_has(set, c);
    if (members == 0)
        return neg ? emit_str(t, ".")        /* Anything (ERE . has \n). */
                   : emit_str(t, "($.^)");   /* Nothing. */
    if (!neg && members == 1 && caret)
        return emit_str(t, "\\^");
    buf[o++] = '[';
    if (neg)
        buf[o++] = '^';
    if (close)
        buf[o++] = ']'; /* First: literal. */
    for (unsigned c = 1; c < 256; c++) {
        if (set_has(set, c) && !strchr("^]-[", (int)c))
            buf[o++] = (char)c;
    }
    if (caret && o == (neg ? 2u : 1u)) {
        /* '^' may not come first: put it after '[' or '-' when those are
         * the only other members. */
        if (open)
            buf[o++] = '[', open = false;
        else if (dash)
            buf[o++] = '-', dash = false;
    }
    if (caret)
        buf[o++] = '^';
    if (open)
        buf[o++] = '['; /* Late, so never "[:" "[." "[=". */
    if (dash)
        buf[o++] = '-'; /* Last: literal. */
    buf[o++] = ']';
    return emit(t, buf, o);
}

/* ---- escapes ---- */

/* Perl classes \d \s \w and their negations, as Go defines them. */
static bool perl_class(uint8_t c, struct byteset *set, bool *neg)
{
    uint8_t lc = (uint8_t)(c | 0x20);
    memset(set, 0, sizeof *set);
    if (lc == 'd') {
        set_range(set, '0', '9');
    } else if (lc == 's') {
        set_add(set, '\t'), set_add(set, '\n'), set_add(set, '\f');
        set_add(set, '\r'), set_add(set, ' ');
    } else if (lc == 'w') {
        set_range(set, '0', '9'), set_range(set, 'A', 'Z');
        set_range(set, 'a', 'z'), set_add(set, '_');
    } else {
        return false;
    }
    *neg = c != lc; /* Upper case: negated. */
    return true;
}

/* Go's parseEscape for a single rune, t->i at the backslash. Advances past
 * the escape. */
static int parse_escape(struct tr *t, uint32_t *r)
{
    size_t start = t->i;
    if (t->i + 1 >= t->n)
        return fail(t, CN_EBADREQ, "trailing backslash at end of expression",
                    0, 0);
    uint8_t c = t->s[++t->i];
    t->i++;
    static const char ctl_in[] = "aftnrv";
    static const char ctl_out[] = "\a\f\t\n\r\v";
    const char *hit = c ? strchr(ctl_in, c) : NULL;
    if (hit) {
        *r = (uint8_t)ctl_out[hit - ctl_in];
        return 0;
    }
    if (c >= '0' && c <= '7') {
        /* \1-\7 alone would be a backreference, which Go rejects. */
        if (c != '0' && (t->i >= t->n || t->s[t->i] < '0' || t->s[t->i] > '7'))
            goto bad;
        uint32_t v = (uint32_t)(c - '0');
        for (int k = 0; k < 2 && t->i < t->n && t->s[t->i] >= '0' &&
                        t->s[t->i] <= '7'; k++)
            v = v * 8 + (uint32_t)(t->s[t->i++] - '0');
        *r = v;
        return 0;
    }
    if (c == 'x') {
        uint32_t v = 0;
        if (t->i < t->n && t->s[t->i] == '{') {
            size_t digits = 0;
            for (t->i++; t->i < t->n && t->s[t->i] != '}'; t->i++, digits++) {
                int h = cn__filter_hexval(t->s[t->i]);
                if (h < 0 || v > 0x10ffff)
                    goto bad;
                v = v * 16 + (uint32_t)h;
            }
            if (t->i >= t->n || digits == 0 || v > 0x10ffff)
                goto bad;
            t->i++;
        } else {
            for (int k = 0; k < 2; k++, t->i++) {
                int h = t->i < t->n ? cn__filter_hexval(t->s[t->i]) : -1;
                if (h < 0)
                    goto bad; /* Go quotes the digits it read. */
                v = v * 16 + (uint32_t)h;
            }
        }
        *r = v;
        return 0;
    }
    if (c < 0x80 && !((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' &&
                                                  (c | 0x20) <= 'z'))) {
        *r = c; /* Escaped punctuation is itself. */
        return 0;
    }
    if (c == 'p' || c == 'P')
        return fail(t, CN_EBADREQ,
                    "Unicode class unsupported in cairn", start,
                    CN_MIN(t->i + 1, t->n));
bad:
    return fail(t, CN_EBADREQ, "invalid escape sequence", start,
                CN_MIN(t->i, t->n));
}

/* ---- character classes ---- */

struct named_class {
    const char *name;
    const char *ranges; /* Pairs lo,hi. */
};

static const struct named_class named_classes[] = {
    { "alnum", "09AZaz" }, { "alpha", "AZaz" }, { "ascii", "\x01\x7f" },
    { "blank", "\t\t  " }, { "cntrl", "\x01\x1f\x7f\x7f" },
    { "digit", "09" },     { "graph", "!~" },   { "lower", "az" },
    { "print", " ~" },     { "punct", "!/:@[`{~" },
    { "space", "\t\r  " }, { "upper", "AZ" },   { "word", "09AZaz__" },
    { "xdigit", "09AFaf" },
};

/* [:name:] or [:^name:] at t->i; adds to set. 1 if parsed, 0 if not a
 * name form, or an error. */
static int named(struct tr *t, struct byteset *set)
{
    size_t start = t->i;
    if (t->n - t->i < 4 || t->s[t->i] != '[' || t->s[t->i + 1] != ':')
        return 0;
    const uint8_t *end = memchr(t->s + t->i + 2, ':', t->n - t->i - 2);
    if (!end || (size_t)(end - t->s) + 1 >= t->n || end[1] != ']')
        return 0;
    size_t a = t->i + 2, b = (size_t)(end - t->s);
    bool neg = a < b && t->s[a] == '^';
    a += neg;
    for (size_t k = 0; k < CN_ARRAY_LEN(named_classes); k++) {
        const struct named_class *nc = &named_classes[k];
        if (strlen(nc->name) != b - a || memcmp(nc->name, t->s + a, b - a))
            continue;
        struct byteset one = { { 0 } };
        for (const char *r = nc->ranges; *r; r += 2)
            set_range(&one, (uint8_t)r[0], (uint8_t)r[1]);
        for (unsigned c = 1; c < 256; c++)
            if (set_has(&one, c) != neg)
                set_add(set, c);
        t->i = b + 2;
        return 1;
    }
    return fail(t, CN_EBADREQ, "invalid character class range", start,
                b + 2);
}

/* One class member (rune) at t->i: a literal or a single-rune escape. */
static int class_char(struct tr *t, size_t cls_start, uint32_t *r)
{
    if (t->i >= t->n)
        return fail(t, CN_EBADREQ, "missing closing ]", cls_start, t->n);
    if (t->s[t->i] == '\\')
        return parse_escape(t, r);
    uint8_t c = t->s[t->i];
    if (c < 0x80) {
        *r = c;
        t->i++;
        return 0;
    }
    /* \x escapes in the string literal can make invalid UTF-8. */
    size_t k = cn__filter_utf8_len(t->s + t->i, t->n - t->i);
    if (k == 0)
        return fail(t, CN_EBADREQ, "invalid UTF-8", t->i, t->i + 1);
    uint32_t v = c & (0x3fu >> (k - 1));
    for (size_t j = 1; j < k; j++)
        v = (v << 6) | (t->s[t->i + j] & 0x3fu);
    t->i += k;
    *r = v;
    return 0;
}

/* Go's parseClass at t->i == '['. Non-ASCII members become alternatives
 * beside the bracket. */
static int parse_class(struct tr *t)
{
    struct byteset set = { { 0 } };
    uint32_t wide[16];
    size_t n_wide = 0, start = t->i;
    bool neg = false, first = true;
    int rc;

    t->i++;
    if (t->i < t->n && t->s[t->i] == '^')
        neg = true, t->i++;
    while (t->i >= t->n || t->s[t->i] != ']' || first) {
        first = false;
        if ((rc = named(t, &set)) != 0) {
            if (rc < 0)
                return rc;
            continue;
        }
        struct byteset pc;
        bool pneg;
        if (t->n - t->i >= 2 && t->s[t->i] == '\\' &&
            perl_class(t->s[t->i + 1], &pc, &pneg)) {
            for (unsigned c = 1; c < 256; c++)
                if (set_has(&pc, c) != pneg)
                    set_add(&set, c);
            t->i += 2;
            continue;
        }
        uint32_t lo, hi;
        size_t rng = t->i;
        if ((rc = class_char(t, start, &lo)) < 0)
            return rc;
        hi = lo;
        if (t->n - t->i >= 2 && t->s[t->i] == '-' && t->s[t->i + 1] != ']') {
            t->i++;
            if ((rc = class_char(t, start, &hi)) < 0)
                return rc;
            if (hi < lo)
                return fail(t, CN_EBADREQ,
                            "invalid character class range", rng, t->i);
        }
        if (hi >= 0x80 && (lo != hi || neg))
            return fail(t, CN_EBADREQ, "non-ASCII range or negated class "
                        "unsupported in cairn", rng, t->i);
        if (hi < 0x80)
            set_range(&set, lo, hi);
        else if (n_wide < CN_ARRAY_LEN(wide))
            wide[n_wide++] = lo;
        else
            return fail(t, CN_ETOOBIG, "expression too large", 0, 0);
    }
    t->i++; /* ']' */
    if (n_wide == 0)
        return (rc = emit_bracket(t, &set, neg)) < 0 ? rc : atom(t, 1);
    if ((rc = emit(t, "(", 1)) < 0)
        return rc;
    for (size_t k = 0; k < n_wide; k++) {
        char b[5];
        size_t len = cn__filter_utf8_put(wide[k], (uint8_t *)b);
        b[len++] = '|';
        if ((rc = emit(t, b, len)) < 0)
            return rc;
    }
    bool any = false;
    for (unsigned c = 1; c < 256 && !any; c++)
        any = set_has(&set, c);
    if (any)
        rc = emit_bracket(t, &set, false);
    else
        t->out->len--; /* Drop the trailing '|'. */
    if (rc < 0 || (rc = emit(t, ")", 1)) < 0)
        return rc;
    return atom(t, 1);
}

/* ---- repetition ---- */

/* {n}, {n,}, {n,m} at t->i. 1 and the counts (max == -1: unbounded),
 * 0 if this '{' is a literal (as in Go), or an error. */
static int parse_repeat(struct tr *t, long *min, long *max)
{
    size_t i = t->i + 1, start = t->i;
    long v[2] = { -1, -1 };
    int k = 0;
    bool comma = false;
    for (; i < t->n && t->s[i] != '}'; i++) {
        uint8_t c = t->s[i];
        if (c == ',' && !comma && v[0] >= 0) {
            comma = true;
            k = 1;
        } else if (c >= '0' && c <= '9') {
            v[k] = (v[k] < 0 ? 0 : v[k]) * 10 + (c - '0');
            if (v[k] > 100000)
                v[k] = 100000; /* Saturate; rejected below. */
        } else {
            return 0;
        }
    }
    if (i >= t->n || v[0] < 0)
        return 0;
    *min = v[0];
    *max = comma ? v[1] : v[0];
    t->i = i + 1;
    if (*min > 1000 || *max > 1000 || (*max >= 0 && *max < *min))
        return fail(t, CN_EBADREQ, "invalid repeat count", start, t->i);
    return 1;
}

static int quantifier(struct tr *t, long min, long max, size_t start)
{
    const char *q;
    char buf[32];
    if (t->after_quant)
        return fail(t, CN_EBADREQ, "invalid nested repetition operator",
                    start - 1, t->i);
    if (t->last_atom == 0)
        return fail(t, CN_EBADREQ,
                    "missing argument to repetition operator", start,
                    t->i);
    if (min == 0 && max < 0)
        q = "*";
    else if (min == 1 && max < 0)
        q = "+";
    else if (min == 0 && max == 1)
        q = "?";
    else if (max < 0)
        q = buf, snprintf(buf, sizeof buf, "{%ld,}", min);
    else if (max == min)
        q = buf, snprintf(buf, sizeof buf, "{%ld}", min);
    else
        q = buf, snprintf(buf, sizeof buf, "{%ld,%ld}", min, max);
    /* glibc copies the operand once per counted repetition. */
    uint64_t copies = (uint64_t)(max < 0 ? min + 1 : max);
    if (copies > 1) {
        t->size += t->last_atom * (copies - 1);
        t->last_atom *= copies;
    }
    if (t->size > CN_FILTER_REGEX_SIZE_MAX)
        return fail(t, CN_ETOOBIG, "expression too large", 0, 0);
    if (t->i < t->n && t->s[t->i] == '?')
        t->i++; /* Lazy: same answer for "is there a match". */
    t->after_quant = true;
    return emit_str(t, q);
}

/* ---- groups and flags ---- */

/* (?flags) at the very start: i, s, U. */
static int leading_flags(struct tr *t, int *cflags)
{
    size_t i = 2;
    if (t->n < 3 || t->s[0] != '(' || t->s[1] != '?')
        return 0;
    for (; i < t->n && t->s[i] != ')'; i++) {
        uint8_t c = t->s[i];
        if (c == 'i')
            *cflags |= REG_ICASE;
        else if (c == 's')
            t->dotall = true;
        else if (c == 'U')
            continue;
        else if (c == 'm' || c == '-')
            return fail(t, CN_EBADREQ, "flags unsupported in cairn", 0,
                        i + 1);
        else
            return 0; /* (?: (?P< ...: not flags; the main loop decides. */
    }
    if (i >= t->n || i == 2)
        return 0;
    t->i = i + 1;
    return 0;
}

static int open_group(struct tr *t)
{
    size_t start = t->i;
    if (t->depth >= GROUPS_MAX)
        return fail(t, CN_ETOOBIG, "expression nests too deeply", 0, 0);
    t->i++;
    if (t->i < t->n && t->s[t->i] == '?') {
        size_t j = t->i + 1;
        if (j < t->n && t->s[j] == ':') {
            t->i = j + 1;
        } else if (j < t->n && (t->s[j] == '<' ||
                                (t->s[j] == 'P' && j + 1 < t->n &&
                                 t->s[j + 1] == '<'))) {
            j += t->s[j] == 'P' ? 2 : 1;
            size_t name = j;
            while (j < t->n && (t->s[j] == '_' || (t->s[j] >= '0' &&
                   t->s[j] <= '9') || ((t->s[j] | 0x20) >= 'a' &&
                   (t->s[j] | 0x20) <= 'z')))
                j++;
            if (j == name || j >= t->n || t->s[j] != '>')
                return fail(t, CN_EBADREQ, "invalid named capture",
                            start, CN_MIN(j + 1, t->n));
            t->i = j + 1;
        } else if (j < t->n && t->s[j] && strchr("imsU-", t->s[j])) {
            return fail(t, CN_EBADREQ, "flags unsupported in cairn "
                        "(only a leading (?i), (?s) or (?U))", start,
                        CN_MIN(j + 1, t->n));
        } else {
            return fail(t, CN_EBADREQ,
                        "invalid or unsupported Perl syntax", start,
                        CN_MIN(j + 1, t->n));
        }
    }
    t->group_start[t->depth++] = t->size;
    t->last_atom = 0;
    t->after_quant = false;
    return emit(t, "(", 1);
}

static int close_group(struct tr *t)
{
    if (t->depth == 0)
        return fail(t, CN_EBADREQ, "unexpected )", 0, t->n);
    t->i++;
    uint64_t inner = t->size - t->group_start[--t->depth];
    int rc = emit(t, ")", 1);
    if (rc < 0)
        return rc;
    t->last_atom = inner + 1;
    t->size += 1;
    t->after_quant = false;
    return t->size > CN_FILTER_REGEX_SIZE_MAX
               ? fail(t, CN_ETOOBIG, "expression too large", 0, 0)
               : 0;
}

/* ---- main loop ---- */

static int escape_outside(struct tr *t)
{
    uint8_t c = t->i + 1 < t->n ? t->s[t->i + 1] : 0;
    struct byteset set;
    bool neg;
    int rc;
    if (perl_class(c, &set, &neg)) {
        t->i += 2;
        return (rc = emit_bracket(t, &set, neg)) < 0 ? rc : atom(t, 1);
    }
    if (c == 'b' || c == 'B' || c == 'A' || c == 'z') {
        t->i += 2;
        rc = emit_str(t, c == 'b' ? "\\b" : c == 'B' ? "\\B"
                                            : c == 'A' ? "^" : "$");
        t->last_atom = 0; /* Anchors take no quantifier here. */
        t->after_quant = false;
        return rc;
    }
    if (c == 'Q') {
        t->i += 2;
        while (t->i < t->n) {
            if (t->n - t->i >= 2 && t->s[t->i] == '\\' &&
                t->s[t->i + 1] == 'E') {
                t->i += 2;
                break;
            }
            uint32_t r;
            if ((rc = class_char(t, t->i, &r)) < 0 ||
                (rc = emit_rune(t, r)) < 0)
                return rc;
        }
        return 0;
    }
    uint32_t r;
    if ((rc = parse_escape(t, &r)) < 0)
        return rc;
    return emit_rune(t, r);
}

static int step(struct tr *t)
{
    uint8_t c = t->s[t->i];
    size_t start = t->i;
    long min, max;
    int rc;

    switch (c) {
    case '\\':
        return escape_outside(t);
    case '[':
        return parse_class(t);
    case '(':
        return open_group(t);
    case ')':
        return close_group(t);
    case '|':
        t->i++;
        t->last_atom = 0;
        t->after_quant = false;
        return emit(t, "|", 1);
    case '*':
    case '+':
    case '?':
        t->i++;
        return quantifier(t, c == '+', c == '?' ? 1 : -1, start);
    case '{':
        if ((rc = parse_repeat(t, &min, &max)) < 0)
            return rc;
        if (rc > 0)
            return quantifier(t, min, max, start);
        t->i++;
        return (rc = emit(t, "\\{", 2)) < 0 ? rc : atom(t, 1);
    case '.':
        t->i++;
        rc = t->dotall ? emit(t, ".", 1) : emit(t, "[^\n]", 4);
        return rc < 0 ? rc : atom(t, 1);
    case '^':
    case '$':
        t->i++;
        t->last_atom = 0;
        t->after_quant = false;
        return emit(t, (const char *)&t->s[start], 1);
    default: {
        uint32_t r;
        if ((rc = class_char(t, start, &r)) < 0)
            return rc;
        return emit_rune(t, r);
    }
    }
}

int cn__filter_regex_translate(const uint8_t *pat, size_t len,
                               struct cn_buf *out, int *cflags, char *why)
{
    struct tr t = { .s = pat, .n = len, .out = out, .why = why };
    int rc;

    CN_ASSERT(out->len == 0);
    *cflags = REG_EXTENDED | REG_NOSUB;
    if (len > CN_FILTER_REGEX_BYTES_MAX) {
        cn_errf(why, "expression of %zu bytes exceeds the limit of %d", len,
                CN_FILTER_REGEX_BYTES_MAX);
        return CN_ETOOBIG;
    }
    if ((rc = leading_flags(&t, cflags)) < 0)
        return rc;
    while (t.i < t.n) {
        if ((rc = step(&t)) < 0)
            return rc;
    }
    if (t.depth > 0)
        return fail(&t, CN_EBADREQ, "missing closing )", 0, t.n);
    if (out->len == 0 && (rc = emit(&t, "()", 2)) < 0)
        return rc; /* glibc refuses an empty pattern. */
    /* NUL-terminate without counting it. */
    if ((rc = cn_buf_reserve(out, 1)) < 0)
        return rc == -EMSGSIZE ? CN_ETOOBIG : rc;
    out->data[out->len] = '\0';
    return 0;
}

int cn__filter_regex_compile(regex_t *re, const uint8_t *pat, size_t len,
                             char *why)
{
    struct cn_buf ere;
    int cflags, rc;

    /* Each source byte becomes at most a 256-member bracket. */
    cn_buf_init(&ere, 300 * (size_t)CN_FILTER_REGEX_BYTES_MAX);
    rc = cn__filter_regex_translate(pat, len, &ere, &cflags, why);
    if (rc < 0) {
        cn_buf_close(&ere);
        return rc;
    }
    rc = regcomp(re, (const char *)ere.data, cflags);
    cn_buf_close(&ere);
    if (rc == REG_ESPACE)
        return -ENOMEM;
    if (rc != 0) {
        char msg[128];
        regerror(rc, re, msg, sizeof msg);
        cn_errf(why, "%s", msg);
        return CN_EBADREQ;
    }
    return 0;
}

bool cn__filter_regex_match(const regex_t *re, const char *s, size_t len)
{
    regmatch_t m[1];
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)len;
    /* REG_STARTEND: the subject is (s, len) and may contain NULs. */
    return regexec(re, s, 1, m, REG_STARTEND) == 0;
}
