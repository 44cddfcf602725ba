/* cli/cli_int.h - shared by the .c files of src/cli only. */
#ifndef CN_CLI_INT_H
#define CN_CLI_INT_H

#include "cli.h"
#include "http/http.h"

/* Where and how to reach the agent (consul-compat.md 9). */
struct cli_http {
    char host[256];
    int port;
    char token[512];
    char datacenter[64];
    bool stale;
};

enum cli_flag_kind { CLI_BOOL, CLI_STR, CLI_U64, CLI_LIST };

/* A repeatable flag (-tag a -tag b): the values point into argv. */
#define CLI_LIST_MAX 64
struct cli_list {
    const char *v[CLI_LIST_MAX];
    size_t n;
};

struct cli_flag {
    const char *name;
    enum cli_flag_kind kind;
    void *dst;            /* bool *, char[size], uint64_t *, struct cli_list * */
    size_t size;
    const char *help;
};

struct cli_cmd {
    const char *name;     /* "kv put" */
    const char *args;     /* "KEY [DATA]" */
    const char *synopsis;
    const struct cli_flag *flags;
    size_t n_flags;
    bool http;            /* Takes the HTTP API flags. */
};

/* Parses flags (Go style: stop at the first non-flag; "-h"/"-help" print
 * usage). On success *argi is the index of the first positional argument.
 * Returns 0, 1 for "printed help, exit 0", or -1 after printing an error. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv,
              struct cli_http *h, int *argi);
void cli_usage(const struct cli_cmd *cmd);

/* One request to the agent. query is "" or "a=b&c" (encoded); token, dc
 * and stale are added from h. On success *resp must be freed. Transport
 * failures print "Error ..." and return -1. */
int cli_request(const struct cli_http *h, const char *method, const char *path,
                const char *query, const void *body, size_t body_len,
                struct cn_http_response **resp);
/* Prints "Error! <what>: <status> (<body>)" for unexpected statuses. */
void cli_http_error(const char *what, const struct cn_http_response *resp);

/* Reads a value argument: "@file", "-" (stdin) or the literal; bounded.
 * On success *out is cn_alloc'd. */
int cli_read_value(const char *arg, uint8_t **out, size_t *len, size_t max);

/* ---- pure helpers (table.c; unit-tested) ---- */

/* Consul's columnize output: cells row-major (NULL = ""), columns joined
 * by two spaces, every column but the last padded to its widest cell,
 * trailing blanks trimmed; one line per row. */
int cli_columnize(struct cn_buf *out, const char *const *cells, size_t rows, size_t cols);
/* Go tabwriter(minwidth 0, padding 6) of "name<TAB>rest" rows, trimmed at
 * both ends as `consul catalog services -tags` prints them. */
int cli_tabwrite2(struct cn_buf *out, const char *const *cells, size_t rows);
/* Splits "k=v" (first '='); false if there is no '=' or k is empty. */
bool cli_kv_split(const char *s, char *k, size_t ksize, const char **v);
/* Go's path.Join(prefix, leaf) for KV keys: no leading '/', no empty or
 * "." segments, ".." segments pop; false if it does not fit. */
bool cli_key_join(const char *prefix, const char *leaf, char *out, size_t size);
/* The short node ID Consul's `catalog nodes` shows: up to the first '-'. */
void cli_short_id(const char *id, char *out, size_t size);

/* Jansson holds integers as int64: rewrites "Flags"/"flags": <u64 above INT64_MAX>
 * in a JSON body in place as the same bits signed (Consul's lock and
 * semaphore flags are such values); print them back with PRIu64. */
void cli_fix_big_flags(char *body, size_t len);
/* The reverse on encoded JSON text: "Flags": <negative> printed unsigned.
 * A new malloc'd string, or NULL. */
char *cli_unfix_big_flags(const char *s);

/* One watch type's endpoint (watch.c). Returns 0 with path and query
 * (encoded), or -1 with Consul's error text in err. */
struct cli_watch_params {
    const char *type, *key, *prefix, *service, *tag, *state;
    bool passing;
};
int cli_watch_endpoint(const struct cli_watch_params *p, struct cn_buf *path,
                       struct cn_buf *query, char *err, size_t err_size);

/* ---- child processes (proc.c) ---- */

/* Starts args[0..n) as Consul does: with `shell`, the arguments joined by
 * spaces run by $SHELL (default /bin/sh) -c; else exec'd directly.
 * stdin_fd -1 is /dev/null; env ("NAME=value") is added. Returns the pid
 * or -1 after printing "Error starting handler: ...". With own_group the
 * child leads a new process group, so that signalling -pid also reaches
 * what a shell started (dash does not exec its last command). */
int cli_spawn(char **args, int n, bool shell, int stdin_fd, const char *env, bool own_group);
/* Go's exec error text for a wait status ("exit status 2", "signal:
 * terminated"); "" for a clean exit. */
void cli_wait_status_text(int status, char *out, size_t size);

/* Subcommand groups. */
int cn__cli_kv(int argc, char **argv);
int cn__cli_operator(int argc, char **argv);
int cn__cli_snapshot(int argc, char **argv);
int cn__cli_leave(int argc, char **argv);
int cn__cli_members(int argc, char **argv);
int cn__cli_join(int argc, char **argv);
int cn__cli_force_leave(int argc, char **argv);
int cn__cli_event(int argc, char **argv);
int cn__cli_keygen(int argc, char **argv);
int cn__cli_keyring(int argc, char **argv);
int cn__cli_reload(int argc, char **argv);
int cn__cli_services(int argc, char **argv);
int cn__cli_catalog(int argc, char **argv);
int cn__cli_maint(int argc, char **argv);
int cn__cli_lock(int argc, char **argv);
int cn__cli_watch(int argc, char **argv);

#endif
