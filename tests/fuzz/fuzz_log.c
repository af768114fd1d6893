/*
 * tests/fuzz/fuzz_log.c -- runtime/log.c line building and
 * runtime/config.c conninfo redaction on hostile text
 *
 * Values in log lines come from devices (endpoint names, URIs) and from
 * operators (conninfo): whatever the bytes, a line must stay one line,
 * within LS_LOG_LINE_MAX, NUL-terminated and inside its buffer.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/config.h"
#include "runtime/log.h"

static size_t fmt(char *buf, size_t cap, const char *event, const char *fmt_, ...)
    LS_PRINTF(4, 5);
static size_t fmt(char *buf, size_t cap, const char *event, const char *fmt_, ...)
{
    va_list ap;
    va_start(ap, fmt_);
    size_t n = ls_log_format(buf, cap, 1795474201123LL, LS_LOG_INFO, event, fmt_, ap);
    va_end(ap);
    return n;
}

static void check_line(const char *buf, size_t n, size_t cap)
{
    if (n >= cap || n >= LS_LOG_LINE_MAX || strlen(buf) != n || buf[n - 1] != '\n' ||
        memchr(buf, '\n', n - 1) || memchr(buf, '\r', n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';

    static char big[LS_LOG_LINE_MAX];
    char small[64];
    size_t n = fmt(big, sizeof big, s, "value=%s", s);
    check_line(big, n, sizeof big);
    n = fmt(small, sizeof small, "e", "value=%s other=%s", s, s);
    check_line(small, n, sizeof small);

    char red[256];
    runtime_config_redact_conninfo(s, red, sizeof red);
    if (strlen(red) >= sizeof red)
        abort();
    free(s);
    return 0;
}
