/* cli/cli.h - `cairn <command>`: subcommands that talk to an agent's HTTP
 * API, mirroring Consul's CLI (flags, output and exit codes). */
#ifndef CN_CLI_H
#define CN_CLI_H

#include "base/base.h"

/* Runs `cairn <argv[0]> ...`; returns the exit code. */
int cn_cli_main(int argc, char **argv);

#endif
