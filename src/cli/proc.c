/* cli/proc.c - child processes of `cairn lock` and `cairn watch`. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_int.h"

/* Runs in the forked child: never returns. */
static void child_exec(char **args, int n, bool shell, int stdin_fd, const char *env,
                       char *script, bool own_group)
{
    if (own_group)
        setpgid(0, 0);
    int fd = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
    if (fd >= 0 && fd != 0) {
        dup2(fd, 0);
        close(fd);
    }
    signal(SIGPIPE, SIG_DFL);
    if (env)
        putenv((char *)env);
    if (shell) {
        const char *sh = getenv("SHELL");
        if (!sh || !*sh)
            sh = "/bin/sh";
        execl(sh, sh, "-c", script, (char *)NULL);
    } else {
        char **argv2 = calloc((size_t)n + 1, sizeof *argv2);
        if (argv2) {
            memcpy(argv2, args, (size_t)n * sizeof *argv2);
            execvp(argv2[0], argv2);
        }
    }
    fprintf(stderr, "Error executing handler: %s\n", strerror(errno));
    _exit(127);
}

int cli_spawn(char **args, int n, bool shell, int stdin_fd, const char *env, bool own_group)
{
    size_t len = 1;
    char *script;
    pid_t pid;
    if (n <= 0)
        return -1;
    for (int i = 0; i < n; i++)
        len += strlen(args[i]) + 1;
    if (!(script = calloc(1, len)))
        return -1;
    for (int i = 0, at = 0; i < n; i++)
        at += snprintf(script + at, len - (size_t)at, "%s%s", i ? " " : "", args[i]);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0)
        child_exec(args, n, shell, stdin_fd, env, script, own_group);
    if (pid > 0 && own_group)
        setpgid(pid, pid); /* Also here: the parent may signal before the child runs. */
    free(script);
    if (pid < 0) {
        fprintf(stderr, "Error starting handler: %s\n", strerror(errno));
        return -1;
    }
    return (int)pid;
}

void cli_wait_status_text(int status, char *out, size_t size)
{
    out[0] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        snprintf(out, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) {
        snprintf(out, size, "signal: %s", strsignal(WTERMSIG(status)));
        if (size > 8 && out[8] >= 'A' && out[8] <= 'Z')
            out[8] = (char)(out[8] + 32); /* Go: "signal: terminated". */
    }
}
