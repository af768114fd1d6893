/*
 * lwm2m/text.c -- plain text codec (content format 0; LwM2M Core 1.2 §7.4.1)
 *
 * Parsing is deliberately strict: numbers are plain decimal without
 * spaces, a leading '+' or leading garbage, because strtoll() and friends
 * would accept " 12", "+12" and "0x12" and a device that sends those is
 * out of spec in a way we want reported, not guessed at.  Floats do go
 * through strtod(), but only after checking the characters, so "nan",
 * "inf" and hex floats are refused.  The process never calls setlocale(),
 * so strtod() and printf() use '.' as the decimal point.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/text.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FLOAT_TEXT_MAX 64 /* longer float text is refused, not truncated */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Parses 1..20 decimal digits into *u; false on overflow or non-digit. */
static bool parse_digits(const uint8_t *p, size_t n, uint64_t *u)
{
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        unsigned d = p[i] - '0';
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *u = v;
    return true;
}

static bool parse_int(const uint8_t *p, size_t n, int64_t *out)
{
    bool neg = n > 0 && p[0] == '-';
    uint64_t u;
    if (!parse_digits(p + neg, n - neg, &u))
        return false;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return false;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > INT64_MAX)
            return false;
        *out = (int64_t)u;
    }
    return true;
}

static bool parse_float(const uint8_t *p, size_t n, double *out)
{
    char tmp[FLOAT_TEXT_MAX + 1];
    if (n == 0 || n > FLOAT_TEXT_MAX)
        return false;
    bool digit = false;
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789+-.eE", p[i]) || p[i] == '\0')
            return false;
        digit |= p[i] >= '0' && p[i] <= '9';
    }
    if (!digit)
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    double d = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool parse_objlnk(const uint8_t *p, size_t n, struct lwm2m_objlnk *out)
{
    const uint8_t *colon = memchr(p, ':', n);
    uint64_t o, i;
    if (!colon || !parse_digits(p, (size_t)(colon - p), &o) ||
        !parse_digits(colon + 1, n - (size_t)(colon - p) - 1, &i) ||
        o > UINT16_MAX || i > UINT16_MAX)
        return false;
    out->obj = (uint16_t)o;
    out->inst = (uint16_t)i;
    return true;
}

static int b64_index(uint8_t c)
{
    const char *at = c ? strchr(b64_alphabet, c) : NULL;
    return at ? (int)(at - b64_alphabet) : -1;
}

/*
 * Decodes padded base64 into dst (room for n / 4 * 3 bytes); returns the
 * decoded length or -1.  Padding is allowed only in the last quantum and
 * its unused bits must be zero, so every input has one decoding.
 */
static long b64_decode(const uint8_t *p, size_t n, uint8_t *dst)
{
    if (n % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            if (p[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad)
                return -1; /* data after '=' */
            v[k] = b64_index(p[i + k]);
            if (v[k] < 0)
                return -1;
        }
        uint32_t q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if ((pad == 1 && (q & 0xFF)) || (pad == 2 && (q & 0xFFFF)))
            return -1;
        dst[o++] = (uint8_t)(q >> 16);
        if (pad < 2)
            dst[o++] = (uint8_t)(q >> 8);
        if (pad < 1)
            dst[o++] = (uint8_t)q;
    }
    return (long)o;
}

static enum ls_rc decode_opaque(const uint8_t *buf, size_t len,
                                const struct lwm2m_path *base,
                                struct lwm2m_data *out, struct ls_error *err)
{
    uint8_t *tmp = malloc(len / 4 * 3 + 1);
    if (!tmp)
        return ls_error_set(err, LS_ENOMEM, "out of memory for %zu bytes of base64", len);
    enum ls_rc rc = LS_OK;
    long n = b64_decode(buf, len, tmp);
    if (n < 0)
        rc = ls_error_set(err, LS_EPROTO, "text opaque value is not valid base64");
    else if (!lwm2m_data_append_bytes(out, base, LWM2M_TYPE_OPAQUE, tmp, (size_t)n, err))
        rc = err ? err->code : LS_ENOMEM;
    free(tmp);
    return rc;
}

/* Parses a non-bytes value; false when the text is not of that type. */
static bool parse_scalar(enum lwm2m_type type, const uint8_t *p, size_t n,
                         struct lwm2m_value *v)
{
    switch (type) {
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        return parse_int(p, n, &v->v.i);
    case LWM2M_TYPE_UNSIGNED:
        return parse_digits(p, n, &v->v.u);
    case LWM2M_TYPE_FLOAT:
        return parse_float(p, n, &v->v.f);
    case LWM2M_TYPE_BOOLEAN:
        if (n != 1 || (p[0] != '0' && p[0] != '1'))
            return false;
        v->v.b = p[0] == '1';
        return true;
    case LWM2M_TYPE_OBJLNK:
        return parse_objlnk(p, n, &v->v.objlnk);
    default:
        return false;
    }
}

enum ls_rc lwm2m_text_decode(const uint8_t *buf, size_t len,
                             const struct lwm2m_path *base,
                             const struct lwm2m_model *model,
                             struct lwm2m_data *out, struct ls_error *err)
{
    if (!base || base->depth < LWM2M_DEPTH_RESOURCE)
        return ls_error_set(err, LS_EINVAL, "text needs a resource path");
    static const uint8_t empty[1];
    if (len > 0 && !buf)
        return ls_error_set(err, LS_EINVAL, "text payload is NULL");
    if (!buf)
        buf = empty; /* keeps pointer arithmetic off NULL */
    const struct lwm2m_resource_def *def =
        lwm2m_model_resource(model, base->id[0], base->id[2]);
    enum lwm2m_type type = def ? def->type : LWM2M_TYPE_STRING;
    if (type == LWM2M_TYPE_OPAQUE)
        return decode_opaque(buf, len, base, out, err);
    if (type == LWM2M_TYPE_NONE || type == LWM2M_TYPE_STRING || type == LWM2M_TYPE_CORELNK) {
        enum lwm2m_type t = type == LWM2M_TYPE_NONE ? LWM2M_TYPE_STRING : type;
        if (!lwm2m_data_append_bytes(out, base, t, buf, len, err))
            return err ? err->code : LS_ENOMEM;
        return LS_OK;
    }
    struct lwm2m_value tmp;
    memset(&tmp, 0, sizeof tmp);
    if (!parse_scalar(type, buf, len, &tmp)) {
        char s[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(base, s);
        ls_error_set(err, LS_EPROTO, "text at %s is not a valid %s", s, lwm2m_type_name(type));
        ls_error_detail(err, "The payload was %zu bytes starting \"%.*s\".", len,
                        (int)(len < 32 ? len : 32), (const char *)buf);
        return LS_EPROTO;
    }
    struct lwm2m_value *v = lwm2m_data_append(out, base, type, err);
    if (!v)
        return err ? err->code : LS_ENOMEM;
    v->v = tmp.v;
    return LS_OK;
}

static enum ls_rc encode_base64(const uint8_t *p, size_t n, struct lwm2m_buf *out,
                                struct ls_error *err)
{
    enum ls_rc rc = lwm2m_buf_reserve(out, (n + 2) / 3 * 4, err);
    if (rc != LS_OK)
        return rc;
    uint8_t *d = out->data + out->len;
    for (size_t i = 0; i < n; i += 3) {
        size_t left = n - i;
        uint32_t q = (uint32_t)p[i] << 16 | (left > 1 ? (uint32_t)p[i + 1] << 8 : 0) |
                     (left > 2 ? p[i + 2] : 0);
        *d++ = (uint8_t)b64_alphabet[q >> 18 & 63];
        *d++ = (uint8_t)b64_alphabet[q >> 12 & 63];
        *d++ = left > 1 ? (uint8_t)b64_alphabet[q >> 6 & 63] : '=';
        *d++ = left > 2 ? (uint8_t)b64_alphabet[q & 63] : '=';
    }
    out->len = (size_t)(d - out->data);
    return LS_OK;
}

/* Shortest %g text that reads back to exactly d. */
static int format_float(double d, char *s, size_t size)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(s, size, "%.*g", prec, d);
        if (strtod(s, NULL) == d)
            break;
    }
    return n;
}

enum ls_rc lwm2m_text_encode(const struct lwm2m_data *in,
                             const struct lwm2m_path *base,
                             const struct lwm2m_model *model,
                             struct lwm2m_buf *out, struct ls_error *err)
{
    if (!base || in->count != 1)
        return ls_error_set(err, LS_EINVAL, "text carries exactly one value, not %zu",
                            in->count);
    const struct lwm2m_value *v = &in->values[0];
    if (!lwm2m_path_equal(&v->path, base) || base->depth < LWM2M_DEPTH_RESOURCE)
        return ls_error_set(err, LS_EINVAL, "text value must be at the resource path requested");
    char s[64];
    int n;
    switch (v->type) {
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        return lwm2m_buf_append(out, v->v.bytes.ptr, v->v.bytes.len, err);
    case LWM2M_TYPE_OPAQUE:
        return encode_base64(v->v.bytes.ptr, v->v.bytes.len, out, err);
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        n = snprintf(s, sizeof s, "%" PRId64, v->v.i);
        break;
    case LWM2M_TYPE_UNSIGNED:
        n = snprintf(s, sizeof s, "%" PRIu64, v->v.u);
        break;
    case LWM2M_TYPE_FLOAT:
        if (!isfinite(v->v.f))
            return ls_error_set(err, LS_EINVAL, "text cannot carry a non-finite float");
        n = format_float(v->v.f, s, sizeof s);
        break;
    case LWM2M_TYPE_BOOLEAN:
        n = snprintf(s, sizeof s, "%d", v->v.b ? 1 : 0);
        break;
    case LWM2M_TYPE_OBJLNK:
        n = snprintf(s, sizeof s, "%u:%u", v->v.objlnk.obj, v->v.objlnk.inst);
        break;
    default:
        return ls_error_set(err, LS_EINVAL, "text cannot carry a %s value",
                            lwm2m_type_name(v->type));
    }
    return lwm2m_buf_append(out, s, (size_t)n, err);
}
