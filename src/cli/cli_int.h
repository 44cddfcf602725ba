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

enum cli_flag_kind { CLI_BOOL, CLI_STR, CLI_U64 };

struct cli_flag {
    const char *name;
    enum cli_flag_kind kind;
    void *dst;            /* bool *, char[size], uint64_t * */
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

#endif
