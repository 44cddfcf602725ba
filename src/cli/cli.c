/* cli/cli.c - subcommand table and help. */
#include <stdio.h>

#include "agent/agent.h"
#include "cli_int.h"

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("cairn v%s\nProtocol 2 spoken by default (Consul-compatible HTTP API and DNS)\n",
           CN_VERSION);
    return 0;
}

static int cmd_agent(int argc, char **argv)
{
    struct cn_agent_config cfg;
    char err[CN_ERRMSG_MAX];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "-help") == 0 ||
            strcmp(argv[i], "--help") == 0) {
            cn_agent_config_usage();
            return 0;
        }
    }
    if (cn_agent_config_parse(&cfg, argc, argv, err) < 0) {
        fprintf(stderr, "==> %s\n", err);
        cn_agent_config_free(&cfg);
        return 1;
    }
    int rc = cn_agent_run(&cfg);
    cn_agent_config_free(&cfg);
    return rc;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *synopsis;
} cmds[] = {
    {"agent", cmd_agent, "Runs a cairn agent"},
    {"catalog", cn__cli_catalog, "Interact with the catalog"},
    {"event", cn__cli_event, "Fires a new user event"},
    {"force-leave", cn__cli_force_leave, "Forces a member of the cluster to enter the \"left\" state"},
    {"join", cn__cli_join, "Tells a running agent to join the cluster"},
    {"keygen", cn__cli_keygen, "Generates a new encryption key"},
    {"keyring", cn__cli_keyring, "Manages gossip layer encryption keys"},
    {"kv", cn__cli_kv, "Interact with the key-value store"},
    {"leave", cn__cli_leave, "Gracefully leaves the cluster and shuts down the agent"},
    {"lock", cn__cli_lock, "Execute a command holding a lock"},
    {"maint", cn__cli_maint, "Controls node or service maintenance mode"},
    {"members", cn__cli_members, "Lists the members of a cluster"},
    {"operator", cn__cli_operator, "Provides cluster-level tools (operator raft ...)"},
    {"reload", cn__cli_reload, "Triggers the agent to reload configuration files"},
    {"services", cn__cli_services, "Interact with services"},
    {"snapshot", cn__cli_snapshot, "Saves and restores snapshots of the state"},
    {"version", cmd_version, "Prints the cairn version"},
    {"watch", cn__cli_watch, "Watch for changes in the catalog or KV store"},
};

static void usage(void)
{
    printf("Usage: cairn [--version] [--help] <command> [<args>]\n\n"
           "Available commands are:\n");
    for (size_t i = 0; i < CN_ARRAY_LEN(cmds); i++)
        printf("    %-12s %s\n", cmds[i].name, cmds[i].synopsis);
}

int cn_cli_main(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
        strcmp(argv[0], "help") == 0 || strcmp(argv[0], "-help") == 0) {
        usage();
        return argc < 1 ? 1 : 0;
    }
    if (strcmp(argv[0], "--version") == 0 || strcmp(argv[0], "-v") == 0)
        return cmd_version(0, NULL);
    for (size_t i = 0; i < CN_ARRAY_LEN(cmds); i++)
        if (strcmp(argv[0], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cairn: unknown command \"%s\"\n\n", argv[0]);
    usage();
    return 1;
}
