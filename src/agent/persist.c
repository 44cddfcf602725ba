/* agent/persist.c - services and checks registered through the API
 * survive restarts (Consul's <data-dir>/services and <data-dir>/checks).
 *
 * One file per entry, named by a hash of its ID, holding the canonical
 * definition; written to a temporary file, fsynced and renamed, so a
 * crash leaves the old file or the new one. Entries from config files are
 * not persisted (the config brings them back), nor anything in -dev.
 * Maintenance checks are persisted like the others, as in Consul.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"

static bool enabled(struct cn_agent *a)
{
    return !a->cfg.dev && a->cfg.data_dir[0];
}

static void path_of(struct cn_agent *a, const char *kind, const char *id, char *out, size_t n)
{
    char h[17];
    cn__ae_hash_hex(id, strlen(id), h);
    snprintf(out, n, "%s/%s/%s.json", a->cfg.data_dir, kind, h);
}

static int write_atomic(struct cn_agent *a, const char *kind, const char *id, const char *text)
{
    char dir[CN_PATH_BYTES_MAX + 16], path[CN_PATH_BYTES_MAX + 64], tmp[CN_PATH_BYTES_MAX + 80];
    size_t len = strlen(text);
    int fd, rc = 0;
    snprintf(dir, sizeof dir, "%s/%s", a->cfg.data_dir, kind);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    path_of(a, kind, id, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    for (size_t off = 0; off < len && rc == 0;) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        CN_WARN("agent: cannot persist %s %s: %s", kind, id, cn_strerror(rc));
    }
    return rc;
}

int cn__persist_service(struct cn_agent *a, const struct cn__lsvc *s)
{
    if (!enabled(a) || !s || s->from_config)
        return 0;
    return write_atomic(a, "services", s->id, s->def.json);
}

int cn__persist_check(struct cn_agent *a, const struct cn__lchk *c)
{
    json_t *j, *def;
    char *text;
    int rc;
    if (!enabled(a) || !c || c->from_config || !c->json)
        return 0;
    def = json_loads(c->json, 0, NULL);
    j = def ? json_pack("{s:o,s:b}", "Check", def, "Static", c->is_static) : NULL;
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return -ENOMEM;
    rc = write_atomic(a, "checks", c->id, text);
    free(text);
    return rc;
}

void cn__persist_remove_service(struct cn_agent *a, const char *id)
{
    char path[CN_PATH_BYTES_MAX + 64];
    if (!enabled(a))
        return;
    path_of(a, "services", id, path, sizeof path);
    unlink(path);
}

void cn__persist_remove_check(struct cn_agent *a, const char *id)
{
    char path[CN_PATH_BYTES_MAX + 64];
    if (!enabled(a))
        return;
    path_of(a, "checks", id, path, sizeof path);
    unlink(path);
}

typedef void load_fn(struct cn_agent *a, json_t *root, const char *path);

static void load_dir(struct cn_agent *a, const char *kind, load_fn *fn)
{
    char dir[CN_PATH_BYTES_MAX + 16], path[CN_PATH_BYTES_MAX + 300];
    struct dirent *de;
    DIR *d;
    snprintf(dir, sizeof dir, "%s/%s", a->cfg.data_dir, kind);
    d = opendir(dir);
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        json_error_t je;
        json_t *root;
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        root = json_load_file(path, 0, &je);
        if (!root) {
            CN_WARN("agent: ignoring %s: %s", path, je.text);
            continue;
        }
        fn(a, root, path);
        json_decref(root);
    }
    closedir(d);
}

static void load_service(struct cn_agent *a, json_t *root, const char *path)
{
    char err[CN_ERRMSG_MAX];
    int status;
    const char *id = json_string_value(cn_json_get(root, "ID"));
    if (!id)
        id = json_string_value(cn_json_get(root, "Name"));
    if (id && cn__local_service(a, id)) {
        CN_INFO("agent: service %s comes from the config, not restoring %s", id, path);
        return;
    }
    if (cn__local_add_service(a, root, CN_CHECK_SOURCE_REMOTE, false, false, err, &status) < 0)
        CN_WARN("agent: cannot restore service from %s: %s", path, err);
}

static void load_check(struct cn_agent *a, json_t *root, const char *path)
{
    json_t *def = json_object_get(root, "Check");
    const char *id = json_string_value(cn_json_get(def, "CheckID"));
    const char *notes = json_string_value(cn_json_get(def, "Notes"));
    const char *sid = json_string_value(cn_json_get(def, "ServiceID"));
    char err[CN_ERRMSG_MAX];
    int status;
    if (!id) /* The API's defaults: ID, then Name. */
        id = json_string_value(cn_json_get(def, "ID"));
    if (!id)
        id = json_string_value(cn_json_get(def, "Name"));
    if (!def || !id)
        return;
    if (cn__local_check(a, id))
        return; /* From the config. */
    if (json_is_true(json_object_get(root, "Static"))) {
        if (strcmp(id, CN_NODE_MAINT_CHECK_ID) == 0)
            cn__local_node_maint(a, true, notes);
        else if (sid && *sid)
            cn__local_service_maint(a, sid, true, notes);
        return;
    }
    if (cn__local_add_check(a, def, CN_CHECK_SOURCE_REMOTE, false, err, &status) < 0)
        CN_WARN("agent: cannot restore check from %s: %s", path, err);
}

int cn__persist_load(struct cn_agent *a)
{
    if (!enabled(a))
        return 0;
    load_dir(a, "services", load_service);
    load_dir(a, "checks", load_check);
    return 0;
}
