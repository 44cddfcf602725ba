/* cli/table.c - pure helpers of the CLI: Consul's column layouts, key=value
 * flags and KV key joining (unit-tested in table_test.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_int.h"

static const char *cell(const char *const *cells, size_t i)
{
    return cells[i] ? cells[i] : "";
}

/* Drops trailing blanks of the line being built (from `start`). */
static void trim_line(struct cn_buf *out, size_t start)
{
    while (out->len > start && out->data[out->len - 1] == ' ')
        out->len--;
}

static int pad(struct cn_buf *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cn_buf_putc(out, ' ') < 0)
            return -1;
    return 0;
}

int cli_columnize(struct cn_buf *out, const char *const *cells, size_t rows, size_t cols)
{
    size_t widths[16] = {0};
    if (cols == 0 || cols > CN_ARRAY_LEN(widths))
        return -1;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            widths[c] = CN_MAX(widths[c], strlen(cell(cells, r * cols + c)));
    for (size_t r = 0; r < rows; r++) {
        size_t start = out->len;
        for (size_t c = 0; c < cols; c++) {
            const char *s = cell(cells, r * cols + c);
            if (cn_buf_puts(out, s) < 0)
                return -1;
            if (c + 1 < cols && pad(out, widths[c] - strlen(s) + 2) < 0)
                return -1;
        }
        trim_line(out, start);
        if (cn_buf_putc(out, '\n') < 0)
            return -1;
    }
    return 0;
}

int cli_tabwrite2(struct cn_buf *out, const char *const *cells, size_t rows)
{
    size_t w = 0, start = out->len;
    for (size_t r = 0; r < rows; r++)
        w = CN_MAX(w, strlen(cell(cells, 2 * r)));
    for (size_t r = 0; r < rows; r++) {
        const char *name = cell(cells, 2 * r);
        if (cn_buf_puts(out, name) < 0 || pad(out, w + 6 - strlen(name)) < 0 ||
            cn_buf_puts(out, cell(cells, 2 * r + 1)) < 0 || cn_buf_putc(out, '\n') < 0)
            return -1;
    }
    /* strings.TrimSpace of the whole table. */
    while (out->len > start && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\n'))
        out->len--;
    return rows ? cn_buf_putc(out, '\n') : 0;
}

bool cli_kv_split(const char *s, char *k, size_t ksize, const char **v)
{
    const char *eq = strchr(s, '=');
    size_t n;
    if (!eq || eq == s)
        return false;
    n = (size_t)(eq - s);
    if (n >= ksize)
        return false;
    memcpy(k, s, n);
    k[n] = '\0';
    *v = eq + 1;
    return true;
}

/* Appends one segment, or pops for "..". */
static bool join_seg(char *out, size_t size, size_t *len, const char *seg, size_t n)
{
    if (n == 0 || (n == 1 && seg[0] == '.'))
        return true;
    if (n == 2 && seg[0] == '.' && seg[1] == '.') {
        while (*len > 0 && out[*len - 1] != '/')
            (*len)--;
        if (*len > 0)
            (*len)--;
        out[*len] = '\0';
        return true;
    }
    if (*len + (*len ? 1 : 0) + n + 1 > size)
        return false;
    if (*len)
        out[(*len)++] = '/';
    memcpy(out + *len, seg, n);
    *len += n;
    out[*len] = '\0';
    return true;
}

bool cli_key_join(const char *prefix, const char *leaf, char *out, size_t size)
{
    const char *parts[2] = {prefix, leaf};
    size_t len = 0;
    if (size == 0)
        return false;
    out[0] = '\0';
    for (int i = 0; i < 2; i++) {
        const char *p = parts[i];
        while (p && *p) {
            size_t n = strcspn(p, "/");
            if (!join_seg(out, size, &len, p, n))
                return false;
            p += n;
            while (*p == '/')
                p++;
        }
    }
    return true;
}

void cli_short_id(const char *id, char *out, size_t size)
{
    const char *dash = id ? strchr(id, '-') : NULL;
    size_t n = !id ? 0 : dash && dash > id ? (size_t)(dash - id) : strlen(id);
    if (size == 0)
        return;
    n = CN_MIN(n, size - 1);
    memcpy(out, id ? id : "", n);
    out[n] = '\0';
}

/* The next "Flags": or "flags": member name in [p, end); NULL if none.
 * Returns the position just after the colon. */
static const char *next_flags(const char *p, const char *end)
{
    static const char tail[] = "lags\":";
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), tail, sizeof tail - 1);
        if (!hit)
            return NULL;
        if (hit - p >= 2 && hit[-2] == '"' && (hit[-1] == 'F' || hit[-1] == 'f'))
            return hit + sizeof tail - 1;
        p = hit + 1;
    }
    return NULL;
}

void cli_fix_big_flags(char *body, size_t len)
{
    const char *end = body + len, *at = body;
    while ((at = next_flags(at, end))) {
        char *d = body + (at - body), text[24];
        size_t n = 0;
        uint64_t v;
        while (d < end && *d == ' ')
            d++;
        while (d + n < end && d[n] >= '0' && d[n] <= '9')
            n++;
        at = d + n;
        if (n < 19 || n > 20 || cn_parse_u64(d, n, &v) < 0 || v <= (uint64_t)INT64_MAX)
            continue;
        int k = snprintf(text, sizeof text, "%" PRId64, (int64_t)v);
        if (k < 0 || (size_t)k > n)
            continue;
        memcpy(d, text, (size_t)k);
        memset(d + k, ' ', n - (size_t)k);
    }
}

char *cli_unfix_big_flags(const char *s)
{
    size_t len = strlen(s), cap = len + 1 + 8 * 16, o = 0;
    char *out = malloc(cap);
    const char *p = s;
    if (!out)
        return NULL;
    while (*p) {
        const char *d = next_flags(p, p + strlen(p));
        int64_t v;
        if (!d)
            break;
        while (*d == ' ')
            d++;
        size_t n = *d == '-' ? 1 + strspn(d + 1, "0123456789") : 0;
        size_t head = (size_t)(d - p);
        if (o + head + 24 + 1 > cap) {
            char *bigger = realloc(out, cap = cap * 2 + head + 32);
            if (!bigger) {
                free(out);
                return NULL;
            }
            out = bigger;
        }
        memcpy(out + o, p, head);
        o += head;
        p = d;
        if (n > 1 && cn_parse_i64(d, n, &v) == 0) {
            o += (size_t)snprintf(out + o, 24, "%" PRIu64, (uint64_t)v);
            p = d + n;
        }
    }
    size_t rest = strlen(p);
    if (o + rest + 1 > cap) {
        char *bigger = realloc(out, o + rest + 1);
        if (!bigger) {
            free(out);
            return NULL;
        }
        out = bigger;
    }
    memcpy(out + o, p, rest + 1);
    return out;
}
