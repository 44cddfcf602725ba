/* agent/checks/url.c - the part of Go's net/url and net.SplitHostPort an
 * HTTP or TCP check needs: absolute http(s) URLs, Location references
 * (RFC 3986 section 5.2, with remove_dot_segments from 5.2.4) and
 * "host:port" addresses. Error texts follow Go's, since they end up in
 * check output that operators compare with Consul's.
 */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "checks_int.h"

void cn__url_op(const char *method, char *out, size_t n)
{
    /* url.Error's Op: "Get", "Post" (urlErrorOp in net/http/client.go). */
    size_t i = 0;
    for (; method[i] && i + 1 < n; i++) {
        char ch = method[i];
        if (i > 0 && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        out[i] = ch;
    }
    out[i] = '\0';
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Length of a leading "scheme:" (without the colon), or 0. */
static size_t scheme_len(const char *s)
{
    size_t i;
    if (!is_alpha(s[0]))
        return 0;
    for (i = 1; s[i]; i++) {
        char ch = s[i];
        if (ch == ':')
            return i;
        if (!is_alpha(ch) && !is_digit(ch) && ch != '+' && ch != '-' && ch != '.')
            return 0;
    }
    return 0;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Appends path/query bytes, percent-encoding what may not appear raw in a
 * request line (space, '"', non-ASCII), as Go's EscapedPath would. */
static int put_escaped(struct cn_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '<' || ch == '>' ||
            ch == '\\' || ch == '^' || ch == '`' || ch == '{' || ch == '|' || ch == '}') {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = cn_buf_append(b, e, 3);
        } else {
            rc = cn_buf_putc(b, ch);
        }
    }
    return rc;
}

struct parts {
    const char *scheme, *userinfo, *host, *authority, *target;
    size_t scheme_n, userinfo_n, host_n, authority_n;
    int port;
};

/* Splits "//[userinfo@]host[:port]" at s (just past "scheme:"). */
static int split_authority(const char *s, struct parts *p, char *why, size_t why_n)
{
    const char *a = s + 2, *end = a, *at, *h, *hend, *colon = NULL;
    while (*end && *end != '/' && *end != '?')
        end++;
    p->target = end;
    at = NULL;
    for (const char *q = a; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        p->userinfo = a;
        p->userinfo_n = (size_t)(at - a);
        a = at + 1;
    }
    p->authority = a;
    p->authority_n = (size_t)(end - a);
    h = a;
    if (*h == '[') {
        hend = memchr(h, ']', (size_t)(end - h));
        if (!hend) {
            snprintf(why, why_n, "missing ']' in host");
            return CN_EMALFORMED;
        }
        p->host = h + 1;
        p->host_n = (size_t)(hend - h - 1);
        if (hend + 1 < end) {
            if (hend[1] != ':') {
                snprintf(why, why_n, "invalid port \"%.*s\" after host",
                         (int)(end - hend - 1), hend + 1);
                return CN_EMALFORMED;
            }
            colon = hend + 1;
        }
    } else {
        for (const char *q = h; q < end; q++)
            if (*q == ':')
                colon = q;
        p->host = h;
        p->host_n = (size_t)((colon ? colon : end) - h);
    }
    p->port = -1;
    if (colon && colon + 1 < end) {
        long v = 0;
        for (const char *q = colon + 1; q < end; q++) {
            if (!is_digit(*q) || v > 100000) {
                snprintf(why, why_n, "invalid port \"%.*s\" after host",
                         (int)(end - colon), colon);
                return CN_EMALFORMED;
            }
            v = v * 10 + (*q - '0');
        }
        p->port = (int)v;
    }
    return 0;
}

static int put_part(struct cn_buf *b, const char *s, size_t n, size_t *off)
{
    *off = b->len;
    int rc = cn_buf_append(b, s, n);
    return rc ? rc : cn_buf_putc(b, 0);
}

/* Builds u's single buffer from the parts. */
static int assemble(const struct parts *p, struct cn__url *u)
{
    struct cn_buf b;
    size_t o_scheme = 0, o_host = 0, o_auth = 0, o_user = 0, o_target;
    const char *t = p->target;
    size_t tn = strlen(t);
    const char *hash = memchr(t, '#', tn);
    int rc;

    cn_buf_init(&b, CN_CHECK_DEF_BYTES_MAX);
    rc = put_part(&b, p->scheme, p->scheme_n, &o_scheme);
    if (rc == 0)
        rc = put_part(&b, p->host, p->host_n, &o_host);
    if (rc == 0)
        rc = put_part(&b, p->authority, p->authority_n, &o_auth);
    if (rc == 0 && p->userinfo)
        rc = put_part(&b, p->userinfo, p->userinfo_n, &o_user);
    o_target = b.len;
    if (hash)
        tn = (size_t)(hash - t);
    if (rc == 0 && (tn == 0 || t[0] == '?'))
        rc = cn_buf_putc(&b, '/');
    if (rc == 0)
        rc = put_escaped(&b, t, tn);
    if (rc == 0)
        rc = cn_buf_putc(&b, 0);
    if (rc < 0) {
        cn_buf_close(&b);
        return rc;
    }
    u->buf = (char *)b.data;
    for (char *q = u->buf + o_scheme; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q + 32);
    u->scheme = u->buf + o_scheme;
    u->host = u->buf + o_host;
    u->authority = u->buf + o_auth;
    u->userinfo = p->userinfo ? u->buf + o_user : NULL;
    u->target = u->buf + o_target;
    u->https = strcmp(u->scheme, "https") == 0;
    u->port = p->port >= 0 ? p->port : (u->https ? 443 : 80);
    return 0;
}

int cn__url_parse(const char *s, struct cn__url *u, const char *method, char *err)
{
    struct parts p;
    char op[16], why[96];
    size_t sl;
    int rc;

    memset(&p, 0, sizeof p);
    memset(u, 0, sizeof *u);
    cn__url_op(method, op, sizeof op);
    if (has_ctl(s))
        return cn__check_err(err, CN_EMALFORMED, "parse \"%.120s\": net/url: invalid "
                          "control character in URL", s);
    if (s[0] == ':')
        return cn__check_err(err, CN_EMALFORMED, "parse \"%.120s\": missing protocol scheme", s);
    sl = scheme_len(s);
    p.scheme = s;
    p.scheme_n = sl;
    if (!(sl == 4 && strncasecmp(s, "http", 4) == 0) &&
        !(sl == 5 && strncasecmp(s, "https", 5) == 0))
        return cn__check_err(err, CN_EMALFORMED, "%s \"%.120s\": unsupported protocol "
                          "scheme \"%.*s\"", op, s, (int)sl, s);
    if (strncmp(s + sl + 1, "//", 2) != 0)
        return cn__check_err(err, CN_EMALFORMED, "%s \"%.120s\": http: no Host in request URL",
                          op, s);
    rc = split_authority(s + sl + 1, &p, why, sizeof why);
    if (rc < 0)
        return cn__check_err(err, rc, "parse \"%.120s\": %s", s, why);
    if (p.host_n == 0)
        return cn__check_err(err, CN_EMALFORMED, "%s \"%.120s\": http: no Host in request URL",
                          op, s);
    if (memchr(p.host, ':', p.host_n) && p.authority[0] != '[')
        return cn__check_err(err, CN_EMALFORMED, "%s \"%.120s\": dial tcp: address %.*s: "
                             "too many colons in address", op, s, (int)p.authority_n,
                             p.authority);
    if (p.port > 65535)
        return cn__check_err(err, CN_EMALFORMED, "%s \"%.120s\": dial tcp: address %d: "
                          "invalid port", op, s, p.port);
    rc = assemble(&p, u);
    if (rc < 0)
        return cn__check_err(err, rc, "parse \"%.120s\": %s", s, cn_strerror(rc));
    return 0;
}

void cn__url_free(struct cn__url *u)
{
    cn_free(u->buf);
    memset(u, 0, sizeof *u);
}

/* RFC 3986 5.2.4 on path[0..n) into out. */
static int remove_dots(struct cn_buf *out, const char *in, size_t n)
{
    size_t start = out->len, i = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        const char *p = in + i;
        size_t left = n - i, seg;
        if (left >= 3 && memcmp(p, "../", 3) == 0) {
            i += 3;
        } else if (left >= 2 && memcmp(p, "./", 2) == 0) {
            i += 2;
        } else if (left >= 3 && memcmp(p, "/./", 3) == 0) {
            i += 2;
        } else if (left == 2 && memcmp(p, "/.", 2) == 0) {
            i += 1;
            rc = cn_buf_putc(out, '/');
            break;
        } else if ((left >= 4 && memcmp(p, "/../", 4) == 0) ||
                   (left == 3 && memcmp(p, "/..", 3) == 0)) {
            i += 3;
            while (out->len > start && out->data[out->len - 1] != '/')
                out->len--;
            if (out->len > start)
                out->len--; /* The '/' before the removed segment. */
            if (i >= n)
                rc = cn_buf_putc(out, '/');
        } else if ((left == 1 && p[0] == '.') || (left == 2 && memcmp(p, "..", 2) == 0)) {
            break;
        } else {
            seg = 1;
            while (seg < left && p[seg] != '/')
                seg++;
            rc = cn_buf_append(out, p, seg);
            i += seg;
        }
    }
    return rc;
}

bool cn__url_is_abs(const char *ref)
{
    return scheme_len(ref) > 0;
}

int cn__url_resolve(const struct cn__url *base, const char *ref, char **out)
{
    struct cn_buf b;
    const char *bq = strchr(base->target, '?');
    size_t bpath = bq ? (size_t)(bq - base->target) : strlen(base->target);
    size_t rpath = strcspn(ref, "?#");
    int rc;

    if (has_ctl(ref))
        return CN_EMALFORMED;
    cn_buf_init(&b, CN_CHECK_DEF_BYTES_MAX);
    if (scheme_len(ref) > 0) {
        rc = cn_buf_puts(&b, ref);
        goto done;
    }
    rc = cn_buf_printf(&b, "%s:", base->scheme);
    if (rc == 0 && ref[0] == '/' && ref[1] == '/') {
        rc = cn_buf_puts(&b, ref);
        goto done;
    }
    if (rc == 0)
        rc = cn_buf_printf(&b, "//%s", base->authority);
    if (rc < 0)
        goto done;
    if (ref[0] == '\0' || ref[0] == '#') {
        rc = cn_buf_puts(&b, base->target);
    } else if (ref[0] == '?') {
        rc = cn_buf_append(&b, base->target, bpath);
        if (rc == 0)
            rc = cn_buf_puts(&b, ref);
    } else if (ref[0] == '/') {
        rc = remove_dots(&b, ref, rpath);
        if (rc == 0)
            rc = cn_buf_puts(&b, ref + rpath);
    } else {
        /* Merge (5.2.3): base path up to its last '/', then the reference. */
        struct cn_buf merged;
        const char *slash = memrchr(base->target, '/', bpath);
        size_t keep = slash ? (size_t)(slash - base->target) + 1 : 0;
        cn_buf_init(&merged, CN_CHECK_DEF_BYTES_MAX);
        rc = cn_buf_append(&merged, base->target, keep);
        if (rc == 0)
            rc = cn_buf_append(&merged, ref, rpath);
        if (rc == 0)
            rc = remove_dots(&b, (const char *)merged.data, merged.len);
        cn_buf_close(&merged);
        if (rc == 0)
            rc = cn_buf_puts(&b, ref + rpath);
    }
done:
    if (rc < 0) {
        cn_buf_close(&b);
        return rc == -EMSGSIZE ? CN_EMALFORMED : rc;
    }
    *out = (char *)cn_buf_steal(&b, &bpath);
    return *out ? 0 : -ENOMEM;
}

int cn__split_host_port(const char *s, char *host, size_t host_size, int *port,
                        char *err)
{
    const char *colon = strrchr(s, ':'), *h = s, *hend;
    long v = 0;

    if (!colon)
        return cn__check_err(err, CN_EMALFORMED, "address %.100s: missing port in address", s);
    hend = colon;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb)
            return cn__check_err(err, CN_EMALFORMED, "address %.100s: missing ']' in address", s);
        if (rb + 1 != colon)
            return cn__check_err(err, CN_EMALFORMED, "address %.100s: missing port in address", s);
        h = s + 1;
        hend = rb;
    } else if (memchr(s, ':', (size_t)(colon - s))) {
        return cn__check_err(err, CN_EMALFORMED, "address %.100s: too many colons in address", s);
    }
    if ((size_t)(hend - h) >= host_size)
        return cn__check_err(err, CN_EMALFORMED, "address %.100s: host too long", s);
    if (colon[1] == '\0')
        return cn__check_err(err, CN_EMALFORMED, "address %.100s: invalid port", s);
    for (const char *q = colon + 1; *q; q++) {
        if (!is_digit(*q))
            return cn__check_err(err, CN_EMALFORMED, "lookup tcp/%.60s: unknown port", colon + 1);
        v = v * 10 + (*q - '0');
        if (v > 65535)
            return cn__check_err(err, CN_EMALFORMED, "address %.100s: invalid port", s);
    }
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = (int)v;
    return 0;
}
