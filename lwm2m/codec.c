/*
 * lwm2m/codec.c -- typing raw wire values with the model, and small text
 *                  conversions shared by the SenML, OMA JSON and LwM2M CBOR
 *                  codecs
 *
 * Why one typing function: a Read of /3/0 must give the same typed tree
 * whichever content format the client chose, so the rules live here once.
 * The rules: the model's resource type wins; numbers convert only when the
 * conversion is exact (3800.0 -> integer 3800 yes, 3800.5 no), because a
 * silently rounded value is worse than a 4.00 to the caller; a string
 * becomes an object link or core link when the model says so (LwM2M CBOR
 * and plain SenML carry those as text); everything else that disagrees
 * with the model is LS_EPROTO naming the path.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/codec.h"

#include <cbor.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model_int.h"

static const char *raw_name(enum lwm2m_raw_kind k)
{
    static const char *const names[] = {
        "no value", "float", "integer", "unsigned", "string",
        "boolean", "opaque", "object link", "time",
    };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

enum ls_rc lwm2m_codec_json_number(struct lwm2m_buf *out, double d, struct ls_error *err)
{
    char text[LWM2M_CODEC_DOUBLE_MAX];
    size_t n = lwm2m_codec_double_format(d, text);
    if (n == 0)
        return ls_error_set(err, LS_EINVAL, "cannot write %g in json", d);
    return lwm2m_buf_append(out, text, n, err);
}

/* Appends ,"name": */
static enum ls_rc json_member(struct lwm2m_buf *out, const char *name, struct ls_error *err)
{
    char text[16];
    int n = snprintf(text, sizeof text, ",\"%s\":", name);
    return lwm2m_buf_append(out, text, (size_t)n, err);
}

static enum ls_rc json_text(struct lwm2m_buf *out, const char *s, struct ls_error *err)
{
    return lwm2m_buf_append(out, s, strlen(s), err);
}

enum ls_rc lwm2m_codec_json_value(struct lwm2m_buf *out, const struct lwm2m_value *v,
                                  const struct lwm2m_codec_json_names *names,
                                  struct ls_error *err)
{
    char text[48], l[LWM2M_CODEC_OBJLNK_MAX];
    enum ls_rc rc;
    switch (v->type) {
    case LWM2M_TYPE_NONE:
        return LS_OK;
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        if ((rc = json_member(out, names->string, err)) != LS_OK)
            return rc;
        return lwm2m_codec_json_string(out, v->v.bytes.ptr, v->v.bytes.len, err);
    case LWM2M_TYPE_OPAQUE:
        if ((rc = json_member(out, names->opaque, err)) != LS_OK ||
            (rc = json_text(out, "\"", err)) != LS_OK ||
            (rc = lwm2m_codec_base64_encode(v->v.bytes.ptr, v->v.bytes.len,
                                            names->opaque_url, out, err)) != LS_OK)
            return rc;
        return json_text(out, "\"", err);
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME: /* integers as they are, never through a double */
        snprintf(text, sizeof text, ",\"v\":%lld", (long long)v->v.i);
        return json_text(out, text, err);
    case LWM2M_TYPE_UNSIGNED:
        snprintf(text, sizeof text, ",\"v\":%llu", (unsigned long long)v->v.u);
        return json_text(out, text, err);
    case LWM2M_TYPE_FLOAT:
        if ((rc = json_member(out, "v", err)) != LS_OK)
            return rc;
        return lwm2m_codec_json_number(out, v->v.f, err);
    case LWM2M_TYPE_BOOLEAN:
        snprintf(text, sizeof text, ",\"%s\":%s", names->boolean, v->v.b ? "true" : "false");
        return json_text(out, text, err);
    case LWM2M_TYPE_OBJLNK:
        lwm2m_codec_objlnk_format(&v->v.objlnk, l);
        snprintf(text, sizeof text, ",\"%s\":\"%s\"", names->objlnk, l);
        return json_text(out, text, err);
    }
    return ls_error_set(err, LS_EINVAL, "value of unknown type %d", (int)v->type);
}

enum ls_rc lwm2m_codec_json_raw(const char *key, struct json_t *val,
                                const struct lwm2m_codec_json_names *names,
                                struct lwm2m_raw *raw, struct ls_error *err)
{
    if (strcmp(key, "v") == 0) {
        if (json_is_integer(val)) {
            raw->kind = LWM2M_RAW_INT;
            raw->v.i = json_integer_value(val);
        } else if (json_is_real(val)) {
            raw->kind = LWM2M_RAW_FLOAT;
            raw->v.f = json_real_value(val);
        } else {
            return ls_error_set(err, LS_EPROTO, "%s \"v\" is not a number", names->what);
        }
        raw->untyped_float = true;
        return LS_OK;
    }
    if (strcmp(key, names->boolean) == 0) {
        if (!json_is_boolean(val))
            return ls_error_set(err, LS_EPROTO, "%s \"%s\" is not a boolean", names->what,
                                key);
        raw->kind = LWM2M_RAW_BOOL;
        raw->v.b = json_is_true(val);
        return LS_OK;
    }
    if (!json_is_string(val))
        return ls_error_set(err, LS_EPROTO, "%s \"%s\" is not a string", names->what, key);
    if (strcmp(key, names->objlnk) == 0) {
        raw->kind = LWM2M_RAW_OBJLNK;
        if (!lwm2m_codec_objlnk_parse(json_string_value(val), json_string_length(val),
                                      &raw->v.objlnk))
            return ls_error_set(err, LS_EPROTO, "%s \"%s\" is not an object link \"oid:iid\"",
                                names->what, key);
        return LS_OK;
    }
    raw->kind = LWM2M_RAW_STRING;
    raw->string_base64 = names->string_base64;
    raw->v.bytes.ptr = (const uint8_t *)json_string_value(val);
    raw->v.bytes.len = json_string_length(val);
    return LS_OK;
}

bool lwm2m_codec_double_to_i64(double d, int64_t *out)
{
    /* -2^63 is exact in a double; 2^63 is the first value out of range. */
    if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0)
        return false;
    *out = (int64_t)d;
    return true;
}

static bool double_to_u64(double d, uint64_t *out)
{
    if (!isfinite(d) || d != floor(d) || d < 0 || d >= 18446744073709551616.0)
        return false;
    *out = (uint64_t)d;
    return true;
}

/* The type a value has when the model does not know the resource. */
static enum lwm2m_type natural_type(const struct lwm2m_raw *raw)
{
    switch (raw->kind) {
    case LWM2M_RAW_FLOAT: return LWM2M_TYPE_FLOAT;
    case LWM2M_RAW_INT: return raw->untyped_float ? LWM2M_TYPE_FLOAT : LWM2M_TYPE_INTEGER;
    case LWM2M_RAW_UINT:
        if (raw->untyped_float)
            return LWM2M_TYPE_FLOAT;
        return raw->v.u <= INT64_MAX ? LWM2M_TYPE_INTEGER : LWM2M_TYPE_UNSIGNED;
    case LWM2M_RAW_STRING: return LWM2M_TYPE_STRING;
    case LWM2M_RAW_BOOL: return LWM2M_TYPE_BOOLEAN;
    case LWM2M_RAW_OPAQUE: return LWM2M_TYPE_OPAQUE;
    case LWM2M_RAW_OBJLNK: return LWM2M_TYPE_OBJLNK;
    case LWM2M_RAW_TIME: return LWM2M_TYPE_TIME;
    case LWM2M_RAW_NONE: break;
    }
    return LWM2M_TYPE_NONE;
}

/* Numeric conversions; false when the value does not fit exactly. */
static bool to_i64(const struct lwm2m_raw *raw, int64_t *out)
{
    switch (raw->kind) {
    case LWM2M_RAW_INT:
    case LWM2M_RAW_TIME: *out = raw->v.i; return true;
    case LWM2M_RAW_UINT:
        if (raw->v.u > INT64_MAX)
            return false;
        *out = (int64_t)raw->v.u;
        return true;
    case LWM2M_RAW_FLOAT: return lwm2m_codec_double_to_i64(raw->v.f, out);
    default: return false;
    }
}

static bool to_u64(const struct lwm2m_raw *raw, uint64_t *out)
{
    switch (raw->kind) {
    case LWM2M_RAW_INT:
    case LWM2M_RAW_TIME:
        if (raw->v.i < 0)
            return false;
        *out = (uint64_t)raw->v.i;
        return true;
    case LWM2M_RAW_UINT: *out = raw->v.u; return true;
    case LWM2M_RAW_FLOAT: return double_to_u64(raw->v.f, out);
    default: return false;
    }
}

static bool to_double(const struct lwm2m_raw *raw, double *out)
{
    switch (raw->kind) {
    case LWM2M_RAW_INT:
    case LWM2M_RAW_TIME: *out = (double)raw->v.i; return true;
    case LWM2M_RAW_UINT: *out = (double)raw->v.u; return true;
    case LWM2M_RAW_FLOAT: *out = raw->v.f; return true;
    default: return false;
    }
}

/* OMA JSON carries opaque resources as base64 in "sv". */
static enum ls_rc append_base64(struct lwm2m_data *out,
                                const struct lwm2m_path *path,
                                const struct lwm2m_raw *raw,
                                struct lwm2m_value **v, struct ls_error *err)
{
    size_t cap = raw->v.bytes.len / 4 * 3 + 6, n = 0;
    uint8_t *tmp = malloc(cap);
    if (!tmp)
        return ls_error_set(err, LS_ENOMEM, "out of memory for %zu bytes", cap);
    enum ls_rc rc = LS_OK;
    if (!lwm2m_codec_base64_decode((const char *)raw->v.bytes.ptr,
                                   raw->v.bytes.len, tmp, &n)) {
        char p[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(path, p);
        rc = ls_error_set(err, LS_EPROTO, "opaque value at %s is not base64", p);
        goto out;
    }
    *v = lwm2m_data_append_bytes(out, path, LWM2M_TYPE_OPAQUE, tmp, n, err);
    if (!*v)
        rc = err ? err->code : LS_ENOMEM;
out:
    free(tmp);
    return rc;
}

static enum ls_rc append_bytes(struct lwm2m_data *out,
                               const struct lwm2m_path *path,
                               enum lwm2m_type t, const struct lwm2m_raw *raw,
                               struct lwm2m_value **v, struct ls_error *err)
{
    *v = lwm2m_data_append_bytes(out, path, t, raw->v.bytes.ptr,
                                 raw->v.bytes.len, err);
    return *v ? LS_OK : (err && err->code ? err->code : LS_ENOMEM);
}

/* Converts raw to type t and appends; false (nothing appended) on mismatch. */
static enum ls_rc convert(struct lwm2m_data *out, const struct lwm2m_path *path,
                          enum lwm2m_type t, const struct lwm2m_raw *raw,
                          struct lwm2m_value **v, bool *fits,
                          struct ls_error *err)
{
    int64_t i;
    uint64_t u;
    double f;
    struct lwm2m_objlnk l;
    *fits = true;
    switch (t) {
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        if (!(*fits = to_i64(raw, &i)))
            return LS_OK;
        if (!(*v = lwm2m_data_append(out, path, t, err)))
            return LS_ENOMEM;
        (*v)->v.i = i;
        return LS_OK;
    case LWM2M_TYPE_UNSIGNED:
        if (!(*fits = to_u64(raw, &u)))
            return LS_OK;
        if (!(*v = lwm2m_data_append(out, path, t, err)))
            return LS_ENOMEM;
        (*v)->v.u = u;
        return LS_OK;
    case LWM2M_TYPE_FLOAT:
        if (!(*fits = to_double(raw, &f)))
            return LS_OK;
        if (!(*v = lwm2m_data_append(out, path, t, err)))
            return LS_ENOMEM;
        (*v)->v.f = f;
        return LS_OK;
    case LWM2M_TYPE_BOOLEAN:
        if (!(*fits = raw->kind == LWM2M_RAW_BOOL))
            return LS_OK;
        if (!(*v = lwm2m_data_append(out, path, t, err)))
            return LS_ENOMEM;
        (*v)->v.b = raw->v.b;
        return LS_OK;
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        if (!(*fits = raw->kind == LWM2M_RAW_STRING))
            return LS_OK;
        return append_bytes(out, path, t, raw, v, err);
    case LWM2M_TYPE_OPAQUE:
        if (raw->kind == LWM2M_RAW_STRING && raw->string_base64)
            return append_base64(out, path, raw, v, err);
        if (!(*fits = raw->kind == LWM2M_RAW_OPAQUE))
            return LS_OK;
        return append_bytes(out, path, t, raw, v, err);
    case LWM2M_TYPE_OBJLNK:
        if (raw->kind == LWM2M_RAW_OBJLNK)
            l = raw->v.objlnk;
        else if (!(*fits = raw->kind == LWM2M_RAW_STRING &&
                           lwm2m_codec_objlnk_parse((const char *)raw->v.bytes.ptr,
                                                    raw->v.bytes.len, &l)))
            return LS_OK;
        if (!(*v = lwm2m_data_append(out, path, t, err)))
            return LS_ENOMEM;
        (*v)->v.objlnk = l;
        return LS_OK;
    case LWM2M_TYPE_NONE:
        break;
    }
    *fits = false;
    return LS_OK;
}

void lwm2m_codec_typer_init(struct lwm2m_codec_typer *t,
                            const struct lwm2m_model *model)
{
    memset(t, 0, sizeof *t);
    t->model = model;
}

const struct lwm2m_resource_def *lwm2m_codec_typer_resource(struct lwm2m_codec_typer *t,
                                                            uint16_t obj, uint16_t res)
{
    if (!t || !t->model)
        return NULL;
    if (!t->cached || t->obj_id != obj) {
        t->obj = lwm2m_model_object(t->model, obj, NULL);
        t->obj_id = obj;
        t->cached = true;
    }
    return model_def_resource(t->obj, res);
}

enum ls_rc lwm2m_codec_append(struct lwm2m_data *out,
                              const struct lwm2m_path *path,
                              struct lwm2m_codec_typer *typer,
                              const struct lwm2m_raw *raw,
                              struct lwm2m_value **added,
                              struct ls_error *err)
{
    struct lwm2m_value *v = NULL;
    char p[LWM2M_PATH_STR_MAX];
    if (added)
        *added = NULL;
    if (raw->kind == LWM2M_RAW_NONE) {
        v = lwm2m_data_append(out, path, LWM2M_TYPE_NONE, err);
        if (added)
            *added = v;
        return v ? LS_OK : LS_ENOMEM;
    }
    if (path->depth < LWM2M_DEPTH_RESOURCE) {
        lwm2m_path_format(path, p);
        return ls_error_set(err, LS_EPROTO,
                            "value at %s, which is not a resource", p);
    }
    enum lwm2m_type t = natural_type(raw);
    const struct lwm2m_resource_def *def =
        lwm2m_codec_typer_resource(typer, path->id[0], path->id[2]);
    /* An executable resource (type NONE) has no type to impose. */
    if (def && def->type != LWM2M_TYPE_NONE)
        t = def->type;
    bool fits;
    enum ls_rc rc = convert(out, path, t, raw, &v, &fits, err);
    if (rc != LS_OK)
        return rc;
    if (!fits) {
        lwm2m_path_format(path, p);
        return ls_error_set(err, LS_EPROTO, "value at %s is %s %s, the model says %s",
                            p, raw->kind == LWM2M_RAW_INT ? "an" : "a",
                            raw_name(raw->kind), lwm2m_type_name(t));
    }
    if (added)
        *added = v;
    return LS_OK;
}

bool lwm2m_codec_objlnk_parse(const char *s, size_t len, struct lwm2m_objlnk *out)
{
    uint32_t part[2] = { 0, 0 };
    unsigned which = 0, digits = 0;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        if (c == ':' && which == 0 && digits > 0) {
            which = 1;
            digits = 0;
            continue;
        }
        if (c < '0' || c > '9' || digits >= 5)
            return false;
        part[which] = part[which] * 10 + (uint32_t)(c - '0');
        digits++;
    }
    if (which != 1 || digits == 0 || part[0] > 65535 || part[1] > 65535)
        return false;
    out->obj = (uint16_t)part[0];
    out->inst = (uint16_t)part[1];
    return true;
}

size_t lwm2m_codec_objlnk_format(const struct lwm2m_objlnk *l,
                                 char buf[LWM2M_CODEC_OBJLNK_MAX])
{
    return (size_t)snprintf(buf, LWM2M_CODEC_OBJLNK_MAX, "%u:%u",
                            (unsigned)l->obj, (unsigned)l->inst);
}

/* Sextet value of c in the given alphabet, or -1. */
static int sextet(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

bool lwm2m_codec_base64_decode(const char *s, size_t len, uint8_t *out,
                               size_t *out_len)
{
    /* Padding is optional, but when present it must complete the quantum. */
    size_t pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad && (len + pad) % 4)
        return false;
    bool url = memchr(s, '-', len) || memchr(s, '_', len);
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;
    for (size_t k = 0; k < len; k++) {
        int v = sextet(s[k], url);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* One leftover sextet cannot make a byte; leftover bits must be zero
     * for a canonical encoding, but real encoders are sloppy: accept. */
    if (len % 4 == 1)
        return false;
    *out_len = n;
    return true;
}

enum ls_rc lwm2m_codec_base64_encode(const uint8_t *p, size_t len, bool url,
                                     struct lwm2m_buf *out,
                                     struct ls_error *err)
{
    static const char std_abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url_abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *abc = url ? url_abc : std_abc;
    size_t need = (len + 2) / 3 * 4;
    enum ls_rc rc = lwm2m_buf_reserve(out, need, err);
    if (rc != LS_OK)
        return rc;
    char *o = (char *)out->data + out->len;
    size_t k = 0, n = 0;
    for (; k + 3 <= len; k += 3) {
        uint32_t v = (uint32_t)p[k] << 16 | (uint32_t)p[k + 1] << 8 | p[k + 2];
        o[n++] = abc[v >> 18];
        o[n++] = abc[(v >> 12) & 63];
        o[n++] = abc[(v >> 6) & 63];
        o[n++] = abc[v & 63];
    }
    if (len - k > 0) {
        uint32_t v = (uint32_t)p[k] << 16;
        if (len - k == 2)
            v |= (uint32_t)p[k + 1] << 8;
        o[n++] = abc[v >> 18];
        o[n++] = abc[(v >> 12) & 63];
        if (len - k == 2)
            o[n++] = abc[(v >> 6) & 63];
        else if (!url)
            o[n++] = '=';
        if (!url)
            o[n++] = '=';
    }
    out->len += n;
    return LS_OK;
}

size_t lwm2m_codec_double_format(double d, char buf[LWM2M_CODEC_DOUBLE_MAX])
{
    if (!isfinite(d))
        return 0;
    /* Integral values below 2^53 print exactly as integers: the common case
     * (voltages, counters) and byte-identical to what clients send. */
    if (d == floor(d) && fabs(d) < 9007199254740992.0 && !(d == 0 && signbit(d)))
        return (size_t)snprintf(buf, LWM2M_CODEC_DOUBLE_MAX, "%.0f", d);
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(buf, LWM2M_CODEC_DOUBLE_MAX, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return (size_t)n;
}

/* Length of the UTF-8 sequence starting at s (RFC 3629), or 0 if invalid. */
static size_t utf8_len(const uint8_t *s, size_t left)
{
    uint8_t c = s[0];
    size_t n;
    uint32_t min, cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        n = 2, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        n = 3, min = 0x800, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        n = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

enum ls_rc lwm2m_codec_json_string(struct lwm2m_buf *out, const uint8_t *s,
                                   size_t len, struct ls_error *err)
{
    /* Worst case every byte becomes \u00XX. */
    if (len > (SIZE_MAX - 2) / 6)
        return ls_error_set(err, LS_ENOMEM, "string of %zu bytes is too long", len);
    enum ls_rc rc = lwm2m_buf_reserve(out, len * 6 + 2, err);
    if (rc != LS_OK)
        return rc;
    char *o = (char *)out->data + out->len;
    size_t n = 0;
    o[n++] = '"';
    for (size_t k = 0; k < len;) {
        uint8_t c = s[k];
        if (c == '"' || c == '\\') {
            o[n++] = '\\';
            o[n++] = (char)c;
            k++;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(o + n, "\\u00", 4);
            o[n + 4] = hex[c >> 4];
            o[n + 5] = hex[c & 15];
            n += 6;
            k++;
        } else {
            size_t l = utf8_len(s + k, len - k);
            if (l == 0)
                return ls_error_set(err, LS_EINVAL,
                                    "string is not utf-8 at byte %zu", k);
            memcpy(o + n, s + k, l);
            n += l;
            k += l;
        }
    }
    o[n++] = '"';
    out->len += n;
    return LS_OK;
}

/* ---- CBOR writers ---- */

/* Every head fits in 9 bytes (RFC 8949 §3). */
#define CBOR_HEAD_MAX 9

static enum ls_rc head_room(struct lwm2m_buf *b, struct ls_error *err)
{
    return lwm2m_buf_reserve(b, CBOR_HEAD_MAX, err);
}

enum ls_rc lwm2m_codec_cbor_uint(struct lwm2m_buf *b, uint64_t v, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc == LS_OK)
        b->len += cbor_encode_uint(v, b->data + b->len, b->cap - b->len);
    return rc;
}

enum ls_rc lwm2m_codec_cbor_int(struct lwm2m_buf *b, int64_t v, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc != LS_OK)
        return rc;
    /* -1 - v cannot overflow for any negative int64. */
    b->len += v >= 0 ? cbor_encode_uint((uint64_t)v, b->data + b->len, b->cap - b->len)
                     : cbor_encode_negint((uint64_t)(-1 - v), b->data + b->len,
                                          b->cap - b->len);
    return LS_OK;
}

static enum ls_rc cbor_string(struct lwm2m_buf *b, bool text, const void *s,
                              size_t len, struct ls_error *err)
{
    if (len > SIZE_MAX - CBOR_HEAD_MAX)
        return ls_error_set(err, LS_ENOMEM, "string of %zu bytes is too long", len);
    enum ls_rc rc = lwm2m_buf_reserve(b, CBOR_HEAD_MAX + len, err);
    if (rc != LS_OK)
        return rc;
    uint8_t *o = b->data + b->len;
    size_t room = b->cap - b->len;
    size_t n = text ? cbor_encode_string_start(len, o, room)
                    : cbor_encode_bytestring_start(len, o, room);
    if (len)
        memcpy(o + n, s, len);
    b->len += n + len;
    return LS_OK;
}

enum ls_rc lwm2m_codec_cbor_text(struct lwm2m_buf *b, const void *s, size_t len,
                                 struct ls_error *err)
{
    return cbor_string(b, true, s, len, err);
}

enum ls_rc lwm2m_codec_cbor_bytes(struct lwm2m_buf *b, const void *s, size_t len,
                                  struct ls_error *err)
{
    return cbor_string(b, false, s, len, err);
}

enum ls_rc lwm2m_codec_cbor_float(struct lwm2m_buf *b, double d, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc != LS_OK)
        return rc;
    uint8_t *o = b->data + b->len;
    size_t room = b->cap - b->len;
    /* NaN never compares equal; a single NaN is as good as a double one. */
    float f = (float)d;
    b->len += ((double)f == d || isnan(d)) ? cbor_encode_single(f, o, room)
                                            : cbor_encode_double(d, o, room);
    return LS_OK;
}

enum ls_rc lwm2m_codec_cbor_number(struct lwm2m_buf *b, double d, struct ls_error *err)
{
    int64_t i;
    if (lwm2m_codec_double_to_i64(d, &i) && !(d == 0 && signbit(d)))
        return lwm2m_codec_cbor_int(b, i, err);
    return lwm2m_codec_cbor_float(b, d, err);
}

enum ls_rc lwm2m_codec_cbor_bool(struct lwm2m_buf *b, bool v, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc == LS_OK)
        b->len += cbor_encode_bool(v, b->data + b->len, b->cap - b->len);
    return rc;
}

enum ls_rc lwm2m_codec_cbor_array(struct lwm2m_buf *b, size_t n, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc == LS_OK)
        b->len += cbor_encode_array_start(n, b->data + b->len, b->cap - b->len);
    return rc;
}

enum ls_rc lwm2m_codec_cbor_map(struct lwm2m_buf *b, size_t n, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc == LS_OK)
        b->len += cbor_encode_map_start(n, b->data + b->len, b->cap - b->len);
    return rc;
}

enum ls_rc lwm2m_codec_cbor_tag(struct lwm2m_buf *b, uint64_t tag, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc == LS_OK)
        b->len += cbor_encode_tag(tag, b->data + b->len, b->cap - b->len);
    return rc;
}

enum ls_rc lwm2m_codec_cbor_indef_map(struct lwm2m_buf *b, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc == LS_OK)
        b->len += cbor_encode_indef_map_start(b->data + b->len, b->cap - b->len);
    return rc;
}

enum ls_rc lwm2m_codec_cbor_break(struct lwm2m_buf *b, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc == LS_OK)
        b->len += cbor_encode_break(b->data + b->len, b->cap - b->len);
    return rc;
}

enum ls_rc lwm2m_codec_cbor_null(struct lwm2m_buf *b, struct ls_error *err)
{
    enum ls_rc rc = head_room(b, err);
    if (rc == LS_OK)
        b->len += cbor_encode_null(b->data + b->len, b->cap - b->len);
    return rc;
}
