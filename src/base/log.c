/* base/log.c - leveled logging through injected sinks.
 *
 * Pure modules receive a struct cn_logger and never touch stdio; the
 * process logger below is the one impure sink, used by shells. Lines are
 * built in a fixed CN_LOG_LINE_BYTES_MAX buffer and truncated with "...".
 */
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

static const char *level_names[] = {"trace", "debug", "info", "warn", "error",
                                    "off"};

const char *cn_log_level_name(enum cn_log_level level)
{
    if ((unsigned)level >= CN_ARRAY_LEN(level_names))
        return "?";
    return level_names[level];
}

int cn_log_level_parse(const char *s, enum cn_log_level *out)
{
    for (unsigned i = 0; i < CN_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum cn_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = CN_LOG_WARN;
        return 0;
    }
    return -22; /* -EINVAL */
}

void cn_vlogf(const struct cn_logger *lg, enum cn_log_level level,
              const char *fmt, va_list ap)
{
    char line[CN_LOG_LINE_BYTES_MAX];
    int n;

    if (!lg || !lg->fn || level < lg->level)
        return;
    n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        memcpy(line + sizeof line - 4, "...", 4);
    lg->fn(lg->ctx, level, line);
}

void cn_logf(const struct cn_logger *lg, enum cn_log_level level,
             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cn_vlogf(lg, level, fmt, ap);
    va_end(ap);
}

/* ---- the process logger (IMPURE) ---- */

static bool process_json;

static void json_escape(char *out, size_t out_size, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < out_size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, out_size - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static void process_sink(void *ctx, enum cn_log_level level, const char *line)
{
    char ts[40], out[CN_LOG_LINE_BYTES_MAX * 2 + 128];
    struct timespec now;
    struct tm tm;
    int n;

    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = (int)strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);
    if (process_json) {
        char esc[CN_LOG_LINE_BYTES_MAX * 2];
        json_escape(esc, sizeof esc, line);
        n = snprintf(out, sizeof out,
                     "{\"@timestamp\":\"%s\",\"@level\":\"%s\",\"@message\":\"%s\"}\n",
                     ts, cn_log_level_name(level), esc);
    } else {
        n = snprintf(out, sizeof out, "%s [%s] %s\n", ts,
                     cn_log_level_name(level), line);
    }
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, out,
                          (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
        (void)w;
    }
}

static struct cn_logger process_logger = {process_sink, NULL, CN_LOG_INFO};

void cn_log_setup(enum cn_log_level level, bool json)
{
    process_logger.level = level;
    process_json = json;
}

const struct cn_logger *cn_log_process(void) { return &process_logger; }

/* ---- coverage marks ---- */

#define MARKS_MAX 256
static struct {
    const char *name;
    unsigned count;
} marks[MARKS_MAX];

void cn__mark(const char *name)
{
    for (unsigned i = 0; i < MARKS_MAX; i++) {
        if (!marks[i].name) {
            marks[i].name = name;
            marks[i].count = 1;
            return;
        }
        if (strcmp(marks[i].name, name) == 0) {
            marks[i].count++;
            return;
        }
    }
}

unsigned cn_mark_count(const char *name)
{
    for (unsigned i = 0; i < MARKS_MAX && marks[i].name; i++)
        if (strcmp(marks[i].name, name) == 0)
            return marks[i].count;
    return 0;
}

void cn_mark_reset(void) { memset(marks, 0, sizeof marks); }
