/* agent/dns/conf.c - DNS configuration: defaults, validation, TTL rules.
 *
 * Defaults are Consul's (agent/config/default.go, consul-compat.md 6):
 * domain "consul.", udp_answer_limit 3, SOA 3600/600/86400/0, node meta
 * TXT in Additional on, recursor timeout 2 s. The config is copied into a
 * normalised form (lower-cased names, wire-form domains, parsed recursor
 * addresses) so the query path never re-parses it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_int.h"

void cn_dns_config_init(struct cn_dns_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->domain = "consul.";
    cfg->alt_domain = NULL;
    cfg->datacenter = "dc1";
    cfg->udp_answer_limit = 3;
    cfg->node_meta_txt = true;
    cfg->recursor_timeout_ms = 2000;
    cfg->lookup_timeout_ms = 5000;
    cfg->soa.refresh_s = 3600;
    cfg->soa.retry_s = 600;
    cfg->soa.expire_s = 86400;
    cfg->soa.minttl_s = 0;
}

int cn__dns_text_to_wire(const char *text, uint8_t *out, size_t *len_out)
{
    size_t n = strlen(text), o = 0, i = 0;

    if (n > 0 && text[n - 1] == '.')
        n--;                       /* FQDN form */
    if (n == 0 || text[n - 1] == '.')
        return -EINVAL;            /* the root, or an empty last label */
    while (i < n) {
        size_t start = i;
        while (i < n && text[i] != '.')
            i++;
        size_t l = i - start;
        if (l == 0 || l > DNS_LABEL_BYTES_MAX)
            return -EINVAL;
        if (o + 1 + l + 1 > DNS_NAME_BYTES_MAX)
            return -EINVAL;
        out[o++] = (uint8_t)l;
        for (size_t k = 0; k < l; k++)
            out[o++] = cn__dns_lower((uint8_t)text[start + k]);
        i++;                       /* skip the dot (or step past the end) */
    }
    out[o++] = 0;
    *len_out = o;
    return 0;
}

int cn__dns_parse_hostport(const char *s, struct sockaddr_storage *out)
{
    char host[64];
    const char *port_s = NULL;
    size_t n = strlen(s);
    unsigned long port = 53;

    memset(out, 0, sizeof *out);
    if (n == 0 || n >= sizeof host)
        return -EINVAL;
    if (s[0] == '[') {                         /* [v6]:port or [v6] */
        const char *end = strchr(s, ']');
        if (!end || (size_t)(end - s - 1) >= sizeof host)
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
        if (end[1] == ':')
            port_s = end + 2;
        else if (end[1] != 0)
            return -EINVAL;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))   /* bare IPv6, no port */
            colon = NULL;
        size_t hl = colon ? (size_t)(colon - s) : n;
        memcpy(host, s, hl);
        host[hl] = 0;
        if (colon)
            port_s = colon + 1;
    }
    if (port_s) {
        char *end;
        if (*port_s < '0' || *port_s > '9')
            return -EINVAL;
        errno = 0;
        port = strtoul(port_s, &end, 10);
        if (errno || *end || port == 0 || port > 65535)
            return -EINVAL;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -EINVAL;
}

static int domain_build(const char *in, char *text, uint8_t *wire,
                        size_t *wire_len)
{
    size_t o = 0;
    if (cn__dns_text_to_wire(in, wire, wire_len) < 0)
        return -EINVAL;
    /* Text form back from the wire: lower-cased, one trailing dot. */
    for (size_t i = 0; wire[i] != 0; i += 1 + wire[i]) {
        memcpy(text + o, wire + i + 1, wire[i]);
        o += wire[i];
        text[o++] = '.';
    }
    text[o] = 0;
    return 0;
}

static int ttls_build(struct cn__dns_conf *c, const struct cn_dns_config *in,
                      char *errmsg)
{
    if (in->n_service_ttl == 0)
        return 0;
    c->ttls = cn_calloc(in->n_service_ttl, sizeof *c->ttls);
    if (!c->ttls)
        return -ENOMEM;
    for (size_t i = 0; i < in->n_service_ttl; i++) {
        const char *p = in->service_ttl[i].pattern;
        struct cn__dns_ttl *t = &c->ttls[i];
        if (!p) {
            if (errmsg)
                cn_errf(errmsg, "dns: service_ttl entry %zu has no name", i);
            return -EINVAL;
        }
        size_t n = strlen(p);
        t->is_prefix = n > 0 && p[n - 1] == '*';
        if (t->is_prefix)
            n--;
        t->prefix = cn_strndup(p, n);
        if (!t->prefix)
            return -ENOMEM;
        for (size_t k = 0; k < n; k++)
            t->prefix[k] = (char)cn__dns_lower((uint8_t)t->prefix[k]);
        t->len = n;
        t->ttl_s = in->service_ttl[i].ttl_s;
        c->n_ttls = i + 1;
    }
    return 0;
}

static int fail(char *errmsg, const char *what, const char *value)
{
    if (errmsg)
        cn_errf(errmsg, "dns: invalid %s \"%s\"", what, value ? value : "");
    return -EINVAL;
}

int cn__dns_conf_build(struct cn__dns_conf *c, const struct cn_dns_config *in,
                       char *errmsg)
{
    uint8_t dcw[DNS_NAME_BYTES_MAX + 1];
    size_t dcl;
    int rc;

    memset(c, 0, sizeof *c);
    if (!in->domain || domain_build(in->domain, c->domain, c->domain_wire,
                                    &c->domain_wire_len) < 0)
        return fail(errmsg, "domain", in->domain);
    if (in->alt_domain && in->alt_domain[0] &&
        strcmp(in->alt_domain, ".") != 0) {
        if (domain_build(in->alt_domain, c->alt, c->alt_wire,
                         &c->alt_wire_len) < 0)
            return fail(errmsg, "alt_domain", in->alt_domain);
    }
    /* The datacenter is one label of every node FQDN we build. */
    if (!in->datacenter || cn__dns_text_to_wire(in->datacenter, dcw, &dcl) < 0 ||
        dcl != (size_t)dcw[0] + 2)
        return fail(errmsg, "datacenter", in->datacenter);
    memcpy(c->dc, dcw + 1, dcw[0]);
    c->dc[dcw[0]] = 0;
    if (in->n_recursors > CN_DNS_RECURSORS_MAX) {
        if (errmsg)
            cn_errf(errmsg, "dns: at most %d recursors", CN_DNS_RECURSORS_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < in->n_recursors; i++) {
        if (!in->recursors[i] ||
            cn__dns_parse_hostport(in->recursors[i], &c->recursors[i]) < 0)
            return fail(errmsg, "recursor address", in->recursors[i]);
    }
    c->n_recursors = in->n_recursors;
    c->node_ttl_s = in->node_ttl_s;
    c->udp_answer_limit = in->udp_answer_limit;
    c->a_record_limit = in->a_record_limit;
    c->enable_truncate = in->enable_truncate;
    c->only_passing = in->only_passing;
    c->node_meta_txt = in->node_meta_txt;
    c->recursor_timeout_ms = in->recursor_timeout_ms ? in->recursor_timeout_ms : 2000;
    c->lookup_timeout_ms = in->lookup_timeout_ms ? in->lookup_timeout_ms : 5000;
    c->soa = in->soa;
    rc = ttls_build(c, in, errmsg);
    if (rc < 0) {
        cn__dns_conf_free(c);
        return rc;
    }
    return 0;
}

void cn__dns_conf_free(struct cn__dns_conf *c)
{
    for (size_t i = 0; i < c->n_ttls; i++)
        cn_free(c->ttls[i].prefix);
    cn_free(c->ttls);
    c->ttls = NULL;
    c->n_ttls = 0;
}

uint32_t cn__dns_conf_service_ttl(const struct cn__dns_conf *c,
                                  const char *service)
{
    size_t n = strlen(service), best_len = 0;
    const struct cn__dns_ttl *best = NULL;

    for (size_t i = 0; i < c->n_ttls; i++) {
        const struct cn__dns_ttl *t = &c->ttls[i];
        if (!t->is_prefix && t->len == n && memcmp(t->prefix, service, n) == 0)
            return t->ttl_s;                /* exact beats any prefix */
    }
    for (size_t i = 0; i < c->n_ttls; i++) {
        const struct cn__dns_ttl *t = &c->ttls[i];
        if (t->is_prefix && t->len <= n &&
            memcmp(t->prefix, service, t->len) == 0 &&
            (!best || t->len > best_len)) {
            best = t;
            best_len = t->len;
        }
    }
    return best ? best->ttl_s : 0;
}
