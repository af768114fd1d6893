/*
 * runtime/log.h -- one-line structured event logging to stderr
 *
 * Every event is one line of the form
 *
 *   2026-11-23T22:50:01.123Z level=info event=listening proto=coap addr=[::]:5683
 *
 * (UTC, milliseconds), written to fd 2 with a single write() so that lines
 * from different threads never interleave.  The caller's format string
 * supplies the key=value pairs after the event name.  Control characters
 * (newline, CR, tab, ...) in the event name or the formatted pairs are
 * escaped (\n, \r, \t, \xNN), so one event is always exactly one line and a
 * hostile value (an endpoint name from a device) cannot forge log lines.
 *
 * The only global is the threshold, ls_log_threshold: set it (directly or
 * with ls_log_level_set) before the event loop and other threads start, and
 * leave it alone afterwards.  The ls_log_* macros compare the level BEFORE
 * evaluating their arguments, so a debug line whose arguments are costly to
 * compute costs one comparison when debug is off.
 *
 * Never log keys, passwords or tokens (STYLE.md): there is no redaction
 * here, the caller must not pass them.
 *
 * INTERFACE ROUTINES
 *   ls_log_error/warn/info/debug   log an event if the threshold allows
 *   ls_log_write / ls_log_vwrite   unconditional write (the macros call it)
 *   ls_log_format                  build a line into a buffer (no I/O)
 *   ls_log_level_parse / _name     "error|warn|info|debug" <-> enum
 *   ls_log_level_set               set the threshold
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_LOG_H
#define LODESTAR_RUNTIME_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

/* Ordered by verbosity: an event is written when level <= threshold. */
enum ls_log_level {
    LS_LOG_ERROR = 0,
    LS_LOG_WARN,
    LS_LOG_INFO,
    LS_LOG_DEBUG,
};

/*
 * Longest line written, newline included.  PIPE_BUF (4096 on Linux) is the
 * largest write the kernel promises to keep atomic on a pipe, and stderr is
 * a pipe under systemd, docker and our integration tests; longer messages
 * are cut and end in "...".
 */
#define LS_LOG_LINE_MAX 4096

/* The threshold; default LS_LOG_INFO.  Written only before threads start. */
extern enum ls_log_level ls_log_threshold;

#define ls_log_enabled(level) ((level) <= ls_log_threshold)

#define ls_log_at_(level, event, fmt, ...)                              \
    do {                                                                \
        if (__builtin_expect(ls_log_enabled(level), 0))                 \
            ls_log_write((level), (event), fmt, ##__VA_ARGS__);         \
    } while (0)

#define ls_log_error(event, fmt, ...) ls_log_at_(LS_LOG_ERROR, event, fmt, ##__VA_ARGS__)
#define ls_log_warn(event, fmt, ...)  ls_log_at_(LS_LOG_WARN, event, fmt, ##__VA_ARGS__)
#define ls_log_info(event, fmt, ...)  ls_log_at_(LS_LOG_INFO, event, fmt, ##__VA_ARGS__)
#define ls_log_debug(event, fmt, ...) ls_log_at_(LS_LOG_DEBUG, event, fmt, ##__VA_ARGS__)

/*
 * ls_log_write -- format and write one line now, whatever the threshold.
 *
 * event   Short lower_snake name ("listening", "db_down"); borrowed.
 * fmt     Printf format of the "key=value key=value" part; may be "".
 *
 * Thread-safe; preserves errno; never fails visibly (a failed write to
 * stderr has nowhere better to be reported).
 */
void ls_log_write(enum ls_log_level level, const char *event,
                  const char *fmt, ...) LS_PRINTF(3, 4);
void ls_log_vwrite(enum ls_log_level level, const char *event,
                   const char *fmt, va_list ap) LS_PRINTF(3, 0);

/*
 * ls_log_format -- build the line ls_log_write would write, without I/O.
 *
 * buf, cap       Caller's buffer; cap >= 64.  Always NUL-terminated.
 * wall_ms        Wall-clock time, milliseconds since the Unix epoch.
 *
 * Returns the line length including the trailing '\n'; always < cap and
 * < LS_LOG_LINE_MAX.  A line that would be longer is cut and ends "...\n".
 */
size_t ls_log_format(char *buf, size_t cap, int64_t wall_ms,
                     enum ls_log_level level, const char *event,
                     const char *fmt, va_list ap) LS_PRINTF(6, 0);

/* Parses "error", "warn" (or "warning"), "info", "debug", any case.
 * Returns false and leaves *out alone for anything else. */
bool ls_log_level_parse(const char *text, enum ls_log_level *out);

/* "error", "warn", "info", "debug"; "?" for an out-of-range value. */
const char *ls_log_level_name(enum ls_log_level level);

/* Sets ls_log_threshold; call before starting threads. */
void ls_log_level_set(enum ls_log_level level);

#endif /* LODESTAR_RUNTIME_LOG_H */
