/* cli/operator.c - `cairn operator raft ...`, `cairn snapshot ...`,
 * `cairn leave` (Consul's flags and texts; consul-compat.md 9). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_int.h"

static struct {
    char address[128], id[128];
} o;

/* ---- operator raft list-peers ---- */

static const struct cli_cmd list_cmd = {"operator raft list-peers", "",
    "Displays the current Raft peer configuration.", NULL, 0, true};

static int list_peers(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    json_error_t je;
    json_t *v, *servers, *srv;
    size_t i, wn = 4, wi = 2, wa = 7;
    int argi, rc;

    if ((rc = cli_parse(&list_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (cli_request(&h, "GET", "/v1/operator/raft/configuration", "", NULL, 0, &resp) < 0)
        return 1;
    if (resp->status != 200) {
        cli_http_error("retrieving servers", resp);
        cn_http_response_free(resp);
        return 1;
    }
    v = json_loadb((const char *)resp->body, resp->body_len, 0, &je);
    cn_http_response_free(resp);
    servers = json_object_get(v, "Servers");
    if (!json_is_array(servers)) {
        fprintf(stderr, "Error! Unexpected reply from agent\n");
        json_decref(v);
        return 1;
    }
    json_array_foreach(servers, i, srv) {
        const char *n = json_string_value(json_object_get(srv, "Node"));
        const char *id = json_string_value(json_object_get(srv, "ID"));
        const char *a = json_string_value(json_object_get(srv, "Address"));
        wn = CN_MAX(wn, n ? strlen(n) : 0);
        wi = CN_MAX(wi, id ? strlen(id) : 0);
        wa = CN_MAX(wa, a ? strlen(a) : 0);
    }
    printf("%-*s  %-*s  %-*s  %-8s  %-5s  %s\n", (int)wn, "Node", (int)wi, "ID", (int)wa,
           "Address", "State", "Voter", "RaftProtocol");
    json_array_foreach(servers, i, srv) {
        const char *n = json_string_value(json_object_get(srv, "Node"));
        const char *id = json_string_value(json_object_get(srv, "ID"));
        const char *a = json_string_value(json_object_get(srv, "Address"));
        bool leader = json_is_true(json_object_get(srv, "Leader"));
        bool voter = json_is_true(json_object_get(srv, "Voter"));
        printf("%-*s  %-*s  %-*s  %-8s  %-5s  %s\n", (int)wn, n ? n : "", (int)wi,
               id ? id : "", (int)wa, a ? a : "", leader ? "leader" : "follower",
               voter ? "true" : "false", "3");
    }
    json_decref(v);
    return 0;
}

/* ---- operator raft remove-peer ---- */

static const struct cli_flag remove_flags[] = {
    {"address", CLI_STR, o.address, sizeof o.address, "IP:port of the server to remove"},
    {"id", CLI_STR, o.id, sizeof o.id, "ID of the server to remove"},
};
static const struct cli_cmd remove_cmd = {"operator raft remove-peer", "",
    "Removes a server from the Raft configuration.", remove_flags,
    CN_ARRAY_LEN(remove_flags), true};

static int remove_peer(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    struct cn_buf q;
    int argi, rc, ret = 1;

    if ((rc = cli_parse(&remove_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (!!o.address[0] == !!o.id[0]) {
        fprintf(stderr, "Error! Exactly one of -address or -id is required\n");
        return 1;
    }
    cn_buf_init(&q, 1024);
    cn_buf_puts(&q, o.id[0] ? "id=" : "address=");
    cn_url_encode(&q, o.id[0] ? o.id : o.address, strlen(o.id[0] ? o.id : o.address), false);
    cn_buf_putc(&q, 0);
    rc = cli_request(&h, "DELETE", "/v1/operator/raft/peer", (const char *)q.data, NULL, 0,
                     &resp);
    cn_buf_close(&q);
    if (rc < 0)
        return 1;
    if (resp->status == 200) {
        if (o.id[0])
            printf("Removed peer with id \"%s\"\n", o.id);
        else
            printf("Removed peer with address \"%s\"\n", o.address);
        ret = 0;
    } else {
        fprintf(stderr, "Error removing peer: %.*s\n", (int)CN_MIN(resp->body_len, 400),
                (const char *)resp->body);
    }
    cn_http_response_free(resp);
    return ret;
}

/* ---- snapshot save / restore ---- */

static const struct cli_cmd save_cmd = {"snapshot save", "FILE",
    "Saves an atomic, point-in-time snapshot of the state to FILE.", NULL, 0, true};
static const struct cli_cmd restore_cmd = {"snapshot restore", "FILE",
    "Restores the state from a snapshot FILE made by `cairn snapshot save`.", NULL, 0, true};

static int snapshot_save(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    char tmp[CN_PATH_BYTES_MAX + 8];
    int argi, rc, ret = 1;
    FILE *f;

    if ((rc = cli_parse(&save_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (argi >= argc) {
        fprintf(stderr, "Error! Missing FILE argument\n");
        return 1;
    }
    if (cli_request(&h, "GET", "/v1/snapshot", "", NULL, 0, &resp) < 0)
        return 1;
    if (resp->status != 200) {
        cli_http_error("saving snapshot", resp);
        cn_http_response_free(resp);
        return 1;
    }
    /* Write aside, then rename: never leave half a snapshot at FILE. */
    snprintf(tmp, sizeof tmp, "%s.part", argv[argi]);
    f = fopen(tmp, "wb");
    if (f && fwrite(resp->body, 1, resp->body_len, f) == resp->body_len && fflush(f) == 0 &&
        fclose(f) == 0 && rename(tmp, argv[argi]) == 0) {
        const char *idx = cn_http_response_header(resp, "X-Consul-Index");
        printf("Saved and verified snapshot to index %s\n", idx ? idx : "?");
        ret = 0;
    } else {
        fprintf(stderr, "Error writing snapshot to %s: %s\n", argv[argi], strerror(errno));
        unlink(tmp);
    }
    cn_http_response_free(resp);
    return ret;
}

static int snapshot_restore(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    uint8_t *data;
    size_t len;
    char arg[CN_PATH_BYTES_MAX + 2];
    int argi, rc, ret = 1;

    if ((rc = cli_parse(&restore_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (argi >= argc) {
        fprintf(stderr, "Error! Missing FILE argument\n");
        return 1;
    }
    snprintf(arg, sizeof arg, "@%s", argv[argi]);
    if (cli_read_value(arg, &data, &len, CN_SNAPSHOT_IMAGE_BYTES_MAX) < 0)
        return 1;
    rc = cli_request(&h, "PUT", "/v1/snapshot", "", data, len, &resp);
    cn_free(data);
    if (rc < 0)
        return 1;
    if (resp->status == 200) {
        printf("Restored snapshot\n");
        ret = 0;
    } else {
        cli_http_error("restoring snapshot", resp);
    }
    cn_http_response_free(resp);
    return ret;
}

/* ---- leave, reload: one PUT, one line ---- */

static int simple_put(const struct cli_cmd *cmd, int argc, char **argv, const char *path,
                      const char *done, const char *what)
{
    struct cli_http h;
    struct cn_http_response *resp;
    int argi, rc, ret = 1;
    if ((rc = cli_parse(cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (cli_request(&h, "PUT", path, "", NULL, 0, &resp) < 0)
        return 1;
    if (resp->status == 200) {
        printf("%s\n", done);
        ret = 0;
    } else {
        cli_http_error(what, resp);
    }
    cn_http_response_free(resp);
    return ret;
}

static const struct cli_cmd leave_cmd = {"leave", "",
    "Causes the agent to leave the cluster gracefully and shut down.", NULL, 0, true};

static int leave(int argc, char **argv)
{
    return simple_put(&leave_cmd, argc, argv, "/v1/agent/leave", "Graceful leave complete",
                      "leaving");
}

static const struct cli_cmd reload_cmd = {"reload", "",
    "Causes the agent to reload its configuration files (services and checks).", NULL, 0, true};

int cn__cli_reload(int argc, char **argv)
{
    return simple_put(&reload_cmd, argc, argv, "/v1/agent/reload",
                      "Configuration reload triggered", "reloading the configuration");
}

/* ---- dispatch ---- */

int cn__cli_operator(int argc, char **argv)
{
    memset(&o, 0, sizeof o);
    if (argc >= 2 && strcmp(argv[0], "raft") == 0) {
        if (strcmp(argv[1], "list-peers") == 0)
            return list_peers(argc - 2, argv + 2);
        if (strcmp(argv[1], "remove-peer") == 0)
            return remove_peer(argc - 2, argv + 2);
    }
    printf("Usage: cairn operator raft <subcommand> [options]\n\n"
           "Subcommands:\n    list-peers     Display the current Raft peer configuration\n"
           "    remove-peer    Remove a Consul server from the Raft configuration\n");
    return argc == 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) ? 0 : 1;
}

int cn__cli_snapshot(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "save") == 0)
        return snapshot_save(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "restore") == 0)
        return snapshot_restore(argc - 1, argv + 1);
    printf("Usage: cairn snapshot <subcommand> [options] FILE\n\n"
           "Subcommands:\n    save       Saves a snapshot of the state\n"
           "    restore    Restores a snapshot of the state\n");
    return argc == 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) ? 0 : 1;
}

int cn__cli_leave(int argc, char **argv)
{
    return leave(argc, argv);
}
