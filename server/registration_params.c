/*
 * server/registration_params.c -- Registration-interface query parameters
 *
 * Strict on what is malformed, because a half-understood registration is
 * worse than a refused one: the client sees 4.00 and the log says why.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/registration_params.h"

#include <string.h>

enum param { P_EP, P_LT, P_LWM2M, P_B, P_Q, P_SMS, P_PID, P_COUNT };

static const char *const param_names[P_COUNT] = {
    [P_EP] = "ep", [P_LT] = "lt", [P_LWM2M] = "lwm2m", [P_B] = "b",
    [P_Q] = "Q", [P_SMS] = "sms", [P_PID] = "pid",
};

static int find_param(const char *name, size_t len)
{
    for (int p = 0; p < P_COUNT; p++) {
        if (strlen(param_names[p]) == len && memcmp(param_names[p], name, len) == 0)
            return p;
    }
    return -1;
}

/* Printable ASCII or UTF-8 continuation bytes; no controls, no spaces. */
static bool is_name_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing above
 * U+10FFFF.  Issue 10: the database was the only check before, so a name
 * like "\xc3\x28" reached an INSERT and the logs. */
static bool is_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1fu;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n > len - i - 1)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += n + 1;
    }
    return true;
}

static enum ls_rc copy_value(char *dst, size_t size, const char *v, size_t len,
                             const char *name, struct ls_error *err)
{
    if (len == 0 || len >= size)
        return ls_error_set(err, LS_EINVAL, "parameter %s must have 1 to %zu bytes",
                            name, size - 1);
    if (!is_name_text(v, len))
        return ls_error_set(err, LS_EINVAL, "parameter %s has a control character or space",
                            name);
    if (!is_utf8((const unsigned char *)v, len))
        return ls_error_set(err, LS_EINVAL, "parameter %s is not valid UTF-8", name);
    memcpy(dst, v, len);
    dst[len] = '\0';
    return LS_OK;
}

static enum ls_rc parse_lifetime(const char *v, size_t len, int64_t *out,
                                 struct ls_error *err)
{
    if (len == 0 || len > 10)
        return ls_error_set(err, LS_EINVAL, "lt must be a number of seconds");
    int64_t lt = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return ls_error_set(err, LS_EINVAL, "lt must be a number of seconds");
        lt = lt * 10 + (v[i] - '0');
    }
    if (lt > INT32_MAX)
        return ls_error_set(err, LS_EINVAL, "lt is larger than %d", INT32_MAX);
    *out = lt;
    return LS_OK;
}

static enum ls_rc parse_version(const char *v, size_t len, char out[4],
                                struct ls_error *err)
{
    static const char *const known[] = { "1.0", "1.1", "1.2" };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (len == 3 && memcmp(v, known[i], 3) == 0) {
            memcpy(out, known[i], 4);
            return LS_OK;
        }
    }
    return ls_error_set(err, LS_EUNSUPPORTED,
                        "lwm2m version \"%.*s\" is not supported (1.0, 1.1, 1.2 are)",
                        (int)(len > 16 ? 16 : len), v);
}

/* Binding letters from Core TS 1.0-1.2: U udp, S sms, N non-ip, T tcp,
 * Q queue (1.0 only: 1.1+ carries queue mode in its own Q parameter). */
static enum ls_rc parse_binding(const char *v, size_t len, char out[8],
                                struct ls_error *err)
{
    if (len == 0 || len > 7)
        return ls_error_set(err, LS_EINVAL, "binding must be 1 to 7 letters");
    for (size_t i = 0; i < len; i++) {
        if (!strchr("USNTQ", v[i]) || memchr(v, v[i], i))
            return ls_error_set(err, LS_EINVAL,
                                "binding \"%.*s\" is not made of distinct U, S, N, T, Q",
                                (int)len, v);
    }
    memcpy(out, v, len);
    out[len] = '\0';
    return LS_OK;
}

static enum ls_rc parse_one(enum param p, const char *v, size_t len, bool has_value,
                            struct registration_params *out, struct ls_error *err)
{
    if (p == P_Q) {
        if (has_value)
            return ls_error_set(err, LS_EINVAL, "parameter Q takes no value");
        out->queue = out->has_queue = true;
        return LS_OK;
    }
    if (!has_value)
        return ls_error_set(err, LS_EINVAL, "parameter %s needs a value", param_names[p]);
    switch (p) {
    case P_EP:
        return copy_value(out->endpoint, sizeof out->endpoint, v, len, "ep", err);
    case P_LT:
        return parse_lifetime(v, len, &out->lifetime_s, err);
    case P_LWM2M:
        return parse_version(v, len, out->version, err);
    case P_B:
        return parse_binding(v, len, out->binding, err);
    case P_SMS:
        for (size_t i = 0; i < len; i++) {
            if (!(v[i] >= '0' && v[i] <= '9') && !(i == 0 && v[i] == '+'))
                return ls_error_set(err, LS_EINVAL, "sms must be an MSISDN (digits)");
        }
        return copy_value(out->sms, sizeof out->sms, v, len, "sms", err);
    case P_PID:
        return copy_value(out->pid, sizeof out->pid, v, len, "pid", err);
    default:
        return ls_error_set(err, LS_EINVAL, "unexpected parameter");
    }
}

static void apply_defaults(enum registration_request kind,
                           struct registration_params *out)
{
    if (kind != REGISTRATION_REGISTER)
        return;
    if (!out->version[0])
        memcpy(out->version, "1.0", 4);
    if (out->lifetime_s < 0)
        out->lifetime_s = REGISTRATION_DEFAULT_LIFETIME_S;
    if (!out->binding[0])
        memcpy(out->binding, "U", 2);
}

enum ls_rc registration_params_parse(enum registration_request kind,
                                     const struct registration_query *q,
                                     size_t n, struct registration_params *out,
                                     struct ls_error *err)
{
    bool seen[P_COUNT] = { false };

    memset(out, 0, sizeof *out);
    out->lifetime_s = -1;
    for (size_t i = 0; i < n; i++) {
        const char *eq = memchr(q[i].text, '=', q[i].len);
        size_t name_len = eq ? (size_t)(eq - q[i].text) : q[i].len;
        int p = find_param(q[i].text, name_len);
        if (p < 0)
            return ls_error_set(err, LS_EINVAL, "unknown parameter \"%.*s\"",
                                (int)(name_len > 32 ? 32 : name_len), q[i].text);
        if (seen[p])
            return ls_error_set(err, LS_EINVAL, "parameter %s given twice", param_names[p]);
        seen[p] = true;
        /* lwm2m is a Register parameter, but lwm2m-node-lib (a real 1.0
         * client) repeats it in every Update; accepting it costs nothing,
         * and the caller refuses a value that differs from the
         * registration's. */
        if (kind == REGISTRATION_UPDATE && (p == P_EP || p == P_PID))
            return ls_error_set(err, LS_EINVAL, "parameter %s is not allowed in an update",
                                param_names[p]);
        const char *v = eq ? eq + 1 : NULL;
        size_t vlen = eq ? q[i].len - name_len - 1 : 0;
        enum ls_rc rc = parse_one((enum param)p, v, vlen, eq != NULL, out, err);
        if (rc != LS_OK)
            return rc;
    }
    if (kind == REGISTRATION_REGISTER && !seen[P_EP])
        return ls_error_set(err, LS_EINVAL, "parameter ep is missing");
    apply_defaults(kind, out);
    /* 1.0 carries queue mode in the binding ("UQ"); 1.1+ in Q. */
    if (strchr(out->binding, 'Q'))
        out->queue = true;
    if (out->lifetime_s == 0 && kind == REGISTRATION_REGISTER &&
        strcmp(out->version, "1.2") != 0)
        return ls_error_set(err, LS_EINVAL, "lt=0 (no expiry) needs LwM2M 1.2");
    return LS_OK;
}
