/* main.c - `cairn`: dispatch to the agent or a CLI subcommand. */
#include <stdio.h>
#include <string.h>

#include "base/base.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        printf("cairn v%s\n", CN_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: cairn <command> [args]\n");
    return 1;
}
