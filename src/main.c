/* main.c - `cairn`: one binary, agent and command-line tool. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cn_cli_main(argc - 1, argv + 1);
}
