/*
 * runtime/log.c -- one-line structured event logging to stderr
 *
 * Builds the whole line in a stack buffer and hands it to one write(2):
 * stdio's stderr is unbuffered and would issue several writes per
 * fprintf, which interleave between threads.  Lines are capped at
 * LS_LOG_LINE_MAX (PIPE_BUF) so the write is atomic on a pipe too.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/log.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum ls_log_level ls_log_threshold = LS_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* Appends into a bounded buffer; once something does not fit, `cut` is
 * set and every later append is ignored, so the caller checks only once. */
struct line {
    char *buf;
    size_t len;     /* bytes used */
    size_t lim;     /* bytes usable for the body (room for "...\n\0" kept) */
    bool cut;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->cut)
        return;
    if (n > l->lim - l->len) {
        l->cut = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Copies s, escaping control bytes so that the line stays one line. */
static void put_escaped(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p && !l->cut; p++) {
        char esc[4];
        size_t n = 2;
        esc[0] = '\\';
        if (*p == '\n')
            esc[1] = 'n';
        else if (*p == '\r')
            esc[1] = 'r';
        else if (*p == '\t')
            esc[1] = 't';
        else if (*p < 0x20 || *p == 0x7f) {
            esc[1] = 'x';
            esc[2] = hex[*p >> 4];
            esc[3] = hex[*p & 0xf];
            n = 4;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        put(l, esc, n);
    }
}

static void put_timestamp(struct line *l, int64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    int ms = (int)(wall_ms % 1000);
    if (ms < 0) {           /* before 1970: floor, not truncate */
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    char ts[40];
    if (!gmtime_r(&secs, &tm)) {
        put(l, "0000-00-00T00:00:00.000Z", 24);
        return;
    }
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(ts + n, sizeof ts - n, ".%03dZ", ms);
    put(l, ts, n);
}

size_t ls_log_format(char *buf, size_t cap, int64_t wall_ms,
                     enum ls_log_level level, const char *event,
                     const char *fmt, va_list ap)
{
    static const char tail_cut[] = "...\n";
    if (cap > LS_LOG_LINE_MAX)
        cap = LS_LOG_LINE_MAX;
    struct line l = { .buf = buf, .len = 0, .lim = cap - sizeof tail_cut };

    put_timestamp(&l, wall_ms);
    put(&l, " level=", 7);
    const char *name = ls_log_level_name(level);
    put(&l, name, strlen(name));
    put(&l, " event=", 7);
    put_escaped(&l, event ? event : "");
    if (fmt && fmt[0]) {
        char msg[LS_LOG_LINE_MAX];
        int n = vsnprintf(msg, sizeof msg, fmt, ap);
        if (n > 0) {
            put(&l, " ", 1);
            put_escaped(&l, msg);
            if ((size_t)n >= sizeof msg)
                l.cut = true;
        }
    }
    if (l.cut) {
        memcpy(buf + l.len, tail_cut, sizeof tail_cut);
        return l.len + sizeof tail_cut - 1;
    }
    buf[l.len++] = '\n';
    buf[l.len] = '\0';
    return l.len;
}

void ls_log_vwrite(enum ls_log_level level, const char *event,
                   const char *fmt, va_list ap)
{
    int saved_errno = errno;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    char line[LS_LOG_LINE_MAX];
    size_t len = ls_log_format(line, sizeof line, wall_ms, level, event, fmt, ap);

    /* One write() is the point; the loop only covers EINTR and the partial
     * write a full pipe can give, where interleaving is already unavoidable. */
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(STDERR_FILENO, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    errno = saved_errno;
}

void ls_log_write(enum ls_log_level level, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ls_log_vwrite(level, event, fmt, ap);
    va_end(ap);
}

bool ls_log_level_parse(const char *text, enum ls_log_level *out)
{
    if (!text)
        return false;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *out = (enum ls_log_level)i;
            return true;
        }
    }
    if (strcasecmp(text, "warning") == 0) {
        *out = LS_LOG_WARN;
        return true;
    }
    return false;
}

const char *ls_log_level_name(enum ls_log_level level)
{
    if ((unsigned)level < sizeof level_names / sizeof level_names[0])
        return level_names[level];
    return "?";
}

void ls_log_level_set(enum ls_log_level level)
{
    ls_log_threshold = level;
}
