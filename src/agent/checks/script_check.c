/* agent/checks/script_check.c - script checks (Consul's CheckMonitor).
 *
 * Args run with uv_spawn (execvp: PATH lookup like os/exec), never a
 * shell unless the legacy Script field asks for "Shell -c". The child is
 * put in a new session and so a new process group (UV_PROCESS_DETACHED,
 * Consul sets Setpgid) whose id is its pid; stdout and stderr share one
 * pipe whose last OutputMaxSize bytes are kept in a ring (Consul's
 * circbuf), so a chatty script costs nothing extra.
 *
 * A run ends when the child has exited and the pipe is at EOF (like Go's
 * cmd.Wait, which also waits for the output copiers): a background
 * grandchild that keeps the pipe open holds the run until Timeout. At
 * Timeout the whole group gets SIGKILL (exec.KillCommandSubtree) and the
 * run reports "Timed out (30s) running check" as soon as the child is
 * reaped. A stopped check kills the group too; the op stays alive until
 * libuv has reaped the child, so no zombie is left and no second instance
 * of a check runs while the first is dying.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "checks_int.h"

struct script_prep {
    char **argv;                 /* NULL-terminated, into def or sh_script. */
};

struct script_op {
    struct cn_check_op op;
    uv_process_t proc;
    uv_pipe_t pipe;
    uv_timer_t timer;
    int handles;
    int pid;
    bool exited;
    bool eof;
    bool timed_out;
    bool killed;
    bool finished;               /* Reported (or abandoned) and closing. */
    int64_t exit_status;
    int term_signal;
    uint64_t timeout_ms;
    uint64_t total;              /* Output bytes written by the child. */
    size_t cap, pos;             /* Ring: cap bytes, next write at pos. */
    char *ring;
    char readbuf[4096];
};

static void script_free_prep(void *prep)
{
    struct script_prep *p = prep;
    if (p)
        cn_free(p->argv);
    cn_free(p);
}

static int script_prepare(struct cn_check *c, char *errmsg)
{
    const struct cn_check_def *d = c->def;
    struct script_prep *p = cn_calloc(1, sizeof *p);
    size_t n = d->n_args ? d->n_args : 3;
    if (!p)
        return -ENOMEM;
    p->argv = cn_calloc(n + 1, sizeof *p->argv);
    if (!p->argv) {
        cn_free(p);
        return cn_errf_rc(errmsg, -ENOMEM, "checks: out of memory");
    }
    if (d->n_args) {
        for (size_t i = 0; i < n; i++)
            p->argv[i] = (char *)d->args[i];
    } else {
        /* Legacy Script (exec.Script): the shell runs the string. */
        p->argv[0] = (char *)(d->shell && *d->shell ? d->shell : "/bin/sh");
        p->argv[1] = (char *)"-c";
        p->argv[2] = (char *)d->script;
    }
    c->prep = p;
    return 0;
}

/* ---- output ring ---- */

static void ring_put(struct script_op *o, const char *p, size_t n)
{
    o->total += n;
    if (o->cap == 0)
        return;
    if (n >= o->cap) {
        memcpy(o->ring, p + n - o->cap, o->cap);
        o->pos = 0;
        return;
    }
    size_t first = CN_MIN(n, o->cap - o->pos);
    memcpy(o->ring + o->pos, p, first);
    memcpy(o->ring, p + first, n - first);
    o->pos = (o->pos + n) % o->cap;
}

/* The kept output in order, with Consul's truncation header. */
static int ring_text(const struct script_op *o, struct cn_buf *b)
{
    size_t kept = o->total < o->cap ? (size_t)o->total : o->cap;
    int rc = 0;
    if (o->total > o->cap)
        rc = cn_buf_printf(b, "Captured %zu of %llu bytes\n...\n", o->cap,
                           (unsigned long long)o->total);
    if (rc == 0 && kept == o->cap && o->total > o->cap) {
        rc = cn_buf_append(b, o->ring + o->pos, o->cap - o->pos);
        if (rc == 0)
            rc = cn_buf_append(b, o->ring, o->pos);
    } else if (rc == 0) {
        rc = cn_buf_append(b, o->ring, kept);
    }
    return rc;
}

/* ---- lifecycle ---- */

static void on_closed(uv_handle_t *h)
{
    struct script_op *o = h->data;
    if (--o->handles > 0)
        return;
    cn_free(o->ring);
    cn__check_op_end(&o->op);
    cn_free(o);
}

static void close_all(struct script_op *o)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&o->proc, (uv_handle_t *)&o->pipe,
                         (uv_handle_t *)&o->timer};
    for (size_t i = 0; i < CN_ARRAY_LEN(hs); i++)
        if (hs[i]->data && !uv_is_closing(hs[i]))
            uv_close(hs[i], on_closed);
}

static void kill_group(struct script_op *o)
{
    if (o->killed || o->pid <= 0)
        return;
    o->killed = true;
    o->op.r->stats.scripts_killed++;
    /* The child leads its own group (setsid); ESRCH: already gone. */
    kill(-o->pid, SIGKILL);
}

static void report(struct script_op *o)
{
    struct cn_check *c = o->op.check;
    enum cn_check_status s = CN_CHECK_CRITICAL;
    unsigned flags = 0;
    struct cn_buf b;
    char dur[32];
    int rc = 0;

    if (!c)
        return;
    cn_buf_init(&b, CN_CHECK_OUTPUT_BYTES_MAX + 256);
    if (o->timed_out) {
        cn_duration_format((int64_t)o->timeout_ms * 1000000, dur, sizeof dur);
        rc = cn_buf_printf(&b, "Timed out (%s) running check", dur);
        if (rc == 0 && o->total > 0)
            rc = cn_buf_puts(&b, "\n\n");
        flags = CN__CHECK_BYPASS;
    } else if (o->term_signal == 0 && o->exit_status == 0) {
        s = CN_CHECK_PASSING;
    } else if (o->term_signal == 0 && o->exit_status == 1) {
        s = CN_CHECK_WARNING;
    }
    if (rc == 0 && (!o->timed_out || o->total > 0))
        rc = ring_text(o, &b);
    if (rc == 0 && b.data)
        b.data[b.len] = '\0'; /* cn_buf always keeps room for it. */
    if (rc < 0)
        cn__check_result(&o->op, CN_CHECK_CRITICAL, "out of memory", 13, flags);
    else
        cn__check_result(&o->op, s, b.data ? (const char *)b.data : "", b.len, flags);
    cn_buf_close(&b);
}

/* Ends the run once the child is reaped and its output is complete (or
 * after a timeout kill, once it is reaped). */
static void maybe_finish(struct script_op *o)
{
    if (o->finished || !o->exited || (!o->eof && !o->timed_out))
        return;
    o->finished = true;
    report(o);
    close_all(o);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct script_op *o = p->data;
    o->exited = true;
    o->exit_status = status;
    o->term_signal = sig;
    if (o->killed && !o->timed_out && !o->op.check) {
        /* Stopped check: reaped now; nothing to report. */
        o->finished = true;
        close_all(o);
        return;
    }
    maybe_finish(o);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    struct script_op *o = h->data;
    (void)sz;
    *b = uv_buf_init(o->readbuf, sizeof o->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct script_op *o = s->data;
    if (n > 0) {
        ring_put(o, b->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;
    o->eof = true; /* EOF or an error: no more output either way. */
    uv_read_stop(s);
    maybe_finish(o);
}

static void on_timeout(uv_timer_t *t)
{
    struct script_op *o = t->data;
    cn_logf(o->op.r->log, CN_LOG_WARN, "checks: %s: timed out running check, killing "
            "process group %d", o->op.check ? cn__check_id(o->op.check) : "?", o->pid);
    o->timed_out = true;
    kill_group(o);
    maybe_finish(o); /* Already reaped (waiting for EOF only)? Then done. */
}

static void script_abort(struct cn_check_op *op)
{
    struct script_op *o = (struct script_op *)op;
    if (o->finished)
        return;
    kill_group(o);
    if (o->exited) { /* Only output was pending. */
        o->finished = true;
        close_all(o);
    }
    /* Else on_exit_cb closes once libuv has reaped the child. */
}

/* Spawn failures: Go's exec errors, reported past the thresholds. */
static void spawn_failed(struct script_op *o, const char *file, int rc)
{
    char msg[CN_ERRMSG_MAX];
    if (rc == UV_ENOENT && !strchr(file, '/'))
        snprintf(msg, sizeof msg, "exec: \"%.100s\": executable file not found in $PATH",
                 file);
    else
        snprintf(msg, sizeof msg, "fork/exec %.100s: %s", file, uv_strerror(rc));
    o->finished = true;
    cn__check_result(&o->op, CN_CHECK_CRITICAL, msg, strlen(msg), CN__CHECK_BYPASS);
    close_all(o);
}

static int spawn(struct cn_check *c, struct script_op *o, int out_fd)
{
    struct script_prep *p = c->prep;
    uv_process_options_t opt;
    uv_stdio_container_t stdio[3];

    memset(&opt, 0, sizeof opt);
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = out_fd;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = out_fd;
    opt.file = p->argv[0];
    opt.args = p->argv;
    opt.exit_cb = on_exit_cb;
    opt.flags = UV_PROCESS_DETACHED; /* setsid(): own process group. */
    opt.stdio_count = 3;
    opt.stdio = stdio;
    o->proc.data = o;
    o->handles++; /* uv_spawn initialises the handle even when it fails. */
    return uv_spawn(c->r->loop, &o->proc, &opt);
}

static void script_run(struct cn_check *c)
{
    struct script_prep *p = c->prep;
    struct script_op *o = cn_calloc(1, sizeof *o);
    uv_file fds[2];
    int rc;

    if (o) {
        o->cap = c->output_max;
        o->ring = cn_alloc(CN_MAX(o->cap, 1));
    }
    if (!o || !o->ring) {
        struct cn_check_op tmp;
        if (o)
            cn_free(o);
        cn__check_op_begin(c, &tmp, NULL);
        cn__check_result(&tmp, CN_CHECK_CRITICAL, "out of memory", 13, CN__CHECK_BYPASS);
        cn__check_op_end(&tmp);
        return;
    }
    cn__check_op_begin(c, &o->op, script_abort);
    o->timeout_ms = c->timeout_ms;
    uv_timer_init(c->r->loop, &o->timer);
    o->timer.data = o;
    o->handles = 1;
    rc = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
    if (rc < 0) {
        spawn_failed(o, p->argv[0], rc);
        return;
    }
    rc = spawn(c, o, fds[1]);
    close(fds[1]); /* The child has its copies. */
    if (rc < 0) {
        close(fds[0]);
        spawn_failed(o, p->argv[0], rc);
        return;
    }
    o->pid = o->proc.pid;
    uv_pipe_init(c->r->loop, &o->pipe, 0);
    o->pipe.data = o;
    o->handles++;
    rc = uv_pipe_open(&o->pipe, fds[0]);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&o->pipe, on_alloc, on_read);
    if (rc < 0) {
        if (uv_fileno((uv_handle_t *)&o->pipe, &(uv_os_fd_t){0}) != 0)
            close(fds[0]);
        o->eof = true; /* No output; still wait for the exit. */
    }
    uv_timer_start(&o->timer, on_timeout, c->timeout_ms, 0);
}

const struct cn__check_kind cn__check_script = {
    .prepare = script_prepare,
    .run = script_run,
    .free_prep = script_free_prep,
};
