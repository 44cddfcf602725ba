/* agent/ae_diff.c - anti-entropy comparisons (pure; ae_test.c).
 *
 * Rows come as jansson values in the state encoders' shape, ours encoded
 * the same way as the catalog's, so "same" is JSON equality minus what
 * Consul's comparisons leave out: Raft indexes always; for checks the
 * Output (deferred by check_update_interval: agent/local/state.go
 * updateSyncState ignores output differences), and the fields the
 * catalog copies from elsewhere (Node, ServiceName, ServiceTags); for a
 * service with EnableTagOverride, its Tags. */
#include <string.h>

#include "local.h"

static bool same_except(const json_t *a, const json_t *b, const char *const *skip, size_t n)
{
    json_t *x = json_copy((json_t *)a), *y = json_copy((json_t *)b);
    bool same;
    if (!x || !y) {
        json_decref(x);
        json_decref(y);
        return false; /* Out of memory: assume a difference (a sync). */
    }
    for (size_t i = 0; i < n; i++) {
        json_object_del(x, skip[i]);
        json_object_del(y, skip[i]);
    }
    same = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

bool cn__ae_service_same(const json_t *local, const json_t *remote, bool tag_override)
{
    static const char *const skip[] = {"CreateIndex", "ModifyIndex", "Tags"};
    if (!json_is_object(local) || !json_is_object(remote))
        return false;
    return same_except(local, remote, skip, tag_override ? 3 : 2);
}

bool cn__ae_check_same(const json_t *local, const json_t *remote)
{
    static const char *const skip[] = {"CreateIndex", "ModifyIndex", "Output", "Node",
                                       "ServiceName", "ServiceTags"};
    if (!json_is_object(local) || !json_is_object(remote))
        return false;
    return same_except(local, remote, skip, CN_ARRAY_LEN(skip));
}

bool cn__ae_node_same(const json_t *local, const json_t *remote)
{
    static const char *const skip[] = {"CreateIndex", "ModifyIndex", "Datacenter"};
    if (!json_is_object(local) || !json_is_object(remote))
        return false;
    return same_except(local, remote, skip, CN_ARRAY_LEN(skip));
}

bool cn__ae_remote_service_stale(const char *id, bool local_has)
{
    return !local_has && strcmp(id, CN_CONSUL_SERVICE_ID) != 0;
}

bool cn__ae_remote_check_stale(const char *id, bool local_has)
{
    return !local_has && strcmp(id, CN_SERF_CHECK_ID) != 0;
}

void cn__ae_hash_hex(const void *p, size_t n, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *b = p;
    uint64_t h = 14695981039346656037ull; /* FNV-1a 64 offset basis. */
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[h & 15];
        h >>= 4;
    }
    out[16] = '\0';
}
