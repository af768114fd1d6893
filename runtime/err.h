/*
 * runtime/err.h -- the shared error vocabulary: status codes and messages
 *
 * Every fallible function in Lodestar returns enum ls_rc and takes a
 * struct ls_error * last (may be NULL).  The first failure recorded wins;
 * callers add context with ls_error_prefix().  Header-only so that lwm2m/,
 * which links nothing else from the tree, can use it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_ERR_H
#define LODESTAR_RUNTIME_ERR_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LS_MUST_CHECK __attribute__((warn_unused_result))
#define LS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* Append only: the numeric values may be stored or logged. */
enum ls_rc {
    LS_OK = 0,
    LS_EINVAL,      /* bad argument or input the caller should have checked */
    LS_EPROTO,      /* malformed protocol data (payload, option, link format) */
    LS_ENOMEM,      /* allocation failed or a size limit was exceeded */
    LS_ENOTFOUND,   /* the named thing does not exist */
    LS_ECONFLICT,   /* uniqueness or state conflict (SQLSTATE 23505, ...) */
    LS_ETRANSIENT,  /* try again: connection lost, serialization failure */
    LS_EIO,         /* system call or library failure */
    LS_EUNSUPPORTED /* valid but not supported (content format, version) */
};

struct ls_error {
    enum ls_rc code;
    char msg[160];    /* one lower-case line, no period */
    char detail[320]; /* full sentences, e.g. libpq's text; may be empty */
};

static inline const char *ls_rc_name(enum ls_rc rc)
{
    static const char *const names[] = {
        "ok", "invalid", "protocol", "no_memory", "not_found",
        "conflict", "transient", "io", "unsupported",
    };
    return (unsigned)rc < sizeof names / sizeof names[0] ? names[rc] : "unknown";
}

/*
 * ls_error_set -- record a failure unless one is already recorded.
 * Returns rc so that callers can write `return ls_error_set(err, ...)`.
 */
static inline LS_PRINTF(3, 4) enum ls_rc
ls_error_set(struct ls_error *err, enum ls_rc rc, const char *fmt, ...)
{
    if (err && err->code == LS_OK) {
        va_list ap;
        va_start(ap, fmt);
        err->code = rc;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->detail[0] = '\0';
    }
    return rc;
}

/* Sets the detail sentence(s) of an already recorded error. */
static inline LS_PRINTF(2, 3) void
ls_error_detail(struct ls_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof err->detail, fmt, ap);
        va_end(ap);
    }
}

/* Prepends "<context>: " to the recorded message, as a caller adds context. */
static inline LS_PRINTF(2, 3) void
ls_error_prefix(struct ls_error *err, const char *fmt, ...)
{
    if (!err || err->code == LS_OK)
        return;
    char prefix[96], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is accepted: the message keeps its start, the context. */
    if (snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old) < 0)
        err->msg[0] = '\0';
}

static inline void ls_error_clear(struct ls_error *err)
{
    if (err) {
        err->code = LS_OK;
        err->msg[0] = err->detail[0] = '\0';
    }
}

#endif /* LODESTAR_RUNTIME_ERR_H */
