/*
 * lwm2m/api_json.c -- struct lwm2m_data <-> the REST API's {"values":[...]}
 *
 * Built on jansson; json_t never leaves this file.  The encoder builds a
 * tree and dumps it compactly; the decoder loads a tree and walks it, so the
 * first error found names the value's path.
 *
 * jansson refuses integer literals beyond int64 ("too big integer") before
 * we see any path.  Rather than report that without a path, decode loads the
 * text a second time with JSON_DECODE_INT_AS_REAL and walks it in "overflow"
 * mode, where integer-typed values that arrive as reals are range-checked;
 * the walk then fails naming the path of the offending value.  Nothing
 * decoded in that mode is ever returned (if the walk finds nothing wrong, the
 * overflow was in a key we ignore and the original error is reported).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/api_json.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64 (RFC 4648 section 4, with padding) --------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64_encode(const uint8_t *p, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *w++ = b64[v >> 18];
        *w++ = b64[(v >> 12) & 63];
        *w++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *w++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *w = '\0';
    return out;
}

static int b64_value(char c)
{
    const char *at = c ? strchr(b64, c) : NULL;
    return at ? (int)(at - b64) : -1;
}

/* Decodes into out (at least n / 4 * 3 bytes); false on any deviation. */
static bool base64_decode(const char *s, size_t n, uint8_t *out, size_t *out_len)
{
    *out_len = 0;
    if (n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        bool last = i + 4 == n;
        for (int k = 0; k < 4; k++) {
            v[k] = b64_value(s[i + k]);
            if (v[k] < 0 && !(last && k >= 2 && s[i + k] == '='))
                return false;
        }
        if (v[2] < 0 && v[3] >= 0)   /* "x=y" */
            return false;
        uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                        (uint32_t)(v[2] < 0 ? 0 : v[2]) << 6 | (uint32_t)(v[3] < 0 ? 0 : v[3]);
        out[(*out_len)++] = (uint8_t)(bits >> 16);
        if (v[2] >= 0)
            out[(*out_len)++] = (uint8_t)(bits >> 8);
        if (v[3] >= 0)
            out[(*out_len)++] = (uint8_t)bits;
    }
    return true;
}

/* ---- encoding ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n || p[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;   /* overlong, surrogate, above U+10FFFF */
    return len;
}

/* A JSON string of the bytes; invalid UTF-8 becomes U+FFFD (device text is
 * displayed, not round-tripped: opaque is the type for arbitrary bytes). */
static json_t *text_value(const uint8_t *p, size_t n)
{
    size_t i = 0, seq;
    while (i < n && (seq = utf8_seq(p + i, n - i)) != 0)
        i += seq;
    if (i == n)
        return json_stringn((const char *)p, n);
    char *fixed = malloc(n * 3 + 1), *w = fixed;
    if (!fixed)
        return NULL;
    for (i = 0; i < n;) {
        seq = utf8_seq(p + i, n - i);
        if (seq) {
            memcpy(w, p + i, seq);
            w += seq;
            i += seq;
        } else {
            memcpy(w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
        }
    }
    json_t *j = json_stringn(fixed, (size_t)(w - fixed));
    free(fixed);
    return j;
}

static json_t *float_value(double f)
{
    if (isnan(f))
        return json_string("NaN");
    if (isinf(f))
        return json_string(f > 0 ? "Infinity" : "-Infinity");
    return json_real(f);
}

static json_t *unsigned_value(uint64_t u)
{
    if (u <= INT64_MAX)
        return json_integer((json_int_t)u);
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, u);
    return json_string(s);
}

/* The "value" member for v; *none set when the type has no value. */
static json_t *value_of(const struct lwm2m_value *v, bool *none)
{
    char s[16];
    *none = false;
    switch (v->type) {
    case LWM2M_TYPE_NONE:
        *none = true;
        return NULL;
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        return text_value(v->v.bytes.ptr, v->v.bytes.len);
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        return json_integer(v->v.i);
    case LWM2M_TYPE_UNSIGNED:
        return unsigned_value(v->v.u);
    case LWM2M_TYPE_FLOAT:
        return float_value(v->v.f);
    case LWM2M_TYPE_BOOLEAN:
        return json_boolean(v->v.b);
    case LWM2M_TYPE_OPAQUE: {
        char *b = base64_encode(v->v.bytes.ptr, v->v.bytes.len);
        json_t *j = b ? json_string(b) : NULL;
        free(b);
        return j;
    }
    case LWM2M_TYPE_OBJLNK:
        snprintf(s, sizeof s, "%u:%u", v->v.objlnk.obj, v->v.objlnk.inst);
        return json_string(s);
    }
    return NULL;
}

static enum ls_rc encode_one(json_t *arr, const struct lwm2m_value *v, struct ls_error *err)
{
    char path[LWM2M_PATH_STR_MAX];
    bool none;
    lwm2m_path_format(&v->path, path);
    if ((unsigned)v->type > LWM2M_TYPE_CORELNK)
        return ls_error_set(err, LS_EINVAL, "%s: unknown value type %d", path, (int)v->type);
    json_t *o = json_object();
    json_t *val = value_of(v, &none);
    enum ls_rc rc = LS_OK;
    if (!o || (!val && !none) ||
        json_object_set_new(o, "path", json_string(path)) != 0 ||
        json_object_set_new(o, "type", json_string(lwm2m_type_name(v->type))) != 0 ||
        (val && json_object_set(o, "value", val) != 0) ||
        /* A non-finite SenML time has no JSON form; it is left out. */
        (v->has_time && isfinite(v->time_s) &&
         json_object_set_new(o, "time", json_real(v->time_s)) != 0) ||
        json_array_append(arr, o) != 0)
        rc = ls_error_set(err, LS_ENOMEM, "%s: out of memory encoding JSON", path);
    json_decref(val);
    json_decref(o);
    return rc;
}

char *lwm2m_api_json_encode(const struct lwm2m_data *d, struct ls_error *err)
{
    char *out = NULL;
    json_t *arr = json_array();
    json_t *root = json_object();
    if (!arr || !root || json_object_set(root, "values", arr) != 0) {
        ls_error_set(err, LS_ENOMEM, "out of memory encoding JSON");
        goto out;
    }
    for (size_t i = 0; d && i < d->count; i++)
        if (encode_one(arr, &d->values[i], err) != LS_OK)
            goto out;
    out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!out)
        ls_error_set(err, LS_ENOMEM, "out of memory encoding JSON");
out:
    json_decref(arr);
    json_decref(root);
    return out;
}

/* ---- decoding ------------------------------------------------------------ */

struct decoder {
    const struct lwm2m_model *model;
    struct lwm2m_data *out;
    bool overflow;     /* second pass: integers may arrive as reals */
    const char *path;  /* text of the current value's path, for messages */
};

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static enum ls_rc expected(const struct decoder *dc, const char *what, const json_t *got,
                           struct ls_error *err)
{
    return ls_error_set(err, LS_EINVAL, "%s: expected %s, got %s", dc->path, what,
                        json_kind(got));
}

static enum ls_rc out_of_range(const struct decoder *dc, const char *what, struct ls_error *err)
{
    return ls_error_set(err, LS_EINVAL, "%s: %s out of range", dc->path, what);
}

/*
 * A JSON integer in [lo, hi].  In overflow mode every integer literal
 * arrives as a real: integral ones beyond int64 are the culprit, the rest
 * are checked as integers (the decoded data is discarded anyway).
 */
static enum ls_rc get_int(const struct decoder *dc, const json_t *j, const char *what,
                          int64_t lo, int64_t hi, int64_t *out, struct ls_error *err)
{
    json_int_t v;
    if (dc->overflow && json_is_real(j) && json_real_value(j) == floor(json_real_value(j))) {
        double r = json_real_value(j);
        if (r < -9223372036854775808.0 || r >= 9223372036854775808.0)
            return out_of_range(dc, what, err);
        v = (json_int_t)r;
    } else if (json_is_integer(j)) {
        v = json_integer_value(j);
    } else {
        return expected(dc, what, j, err);
    }
    if (v < lo || v > hi)
        return out_of_range(dc, what, err);
    *out = v;
    return LS_OK;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static enum ls_rc get_unsigned(const struct decoder *dc, const json_t *j, uint64_t *out,
                               struct ls_error *err)
{
    int64_t i;
    if (json_is_string(j)) {
        if (!parse_u64(json_string_value(j), out))
            return ls_error_set(err, LS_EINVAL, "%s: unsigned out of range or not decimal",
                                dc->path);
        return LS_OK;
    }
    if (dc->overflow && json_is_real(j) && json_real_value(j) >= 9223372036854775808.0)
        return ls_error_set(err, LS_EINVAL,
                            "%s: unsigned out of range (give values above %" PRId64
                            " as a decimal string)", dc->path, INT64_MAX);
    enum ls_rc rc = get_int(dc, j, "unsigned", 0, INT64_MAX, &i, err);
    if (rc == LS_OK)
        *out = (uint64_t)i;
    return rc;
}

static enum ls_rc get_float(const struct decoder *dc, const json_t *j, double *out,
                            struct ls_error *err)
{
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return LS_OK;
    }
    const char *s = json_is_string(j) ? json_string_value(j) : NULL;
    if (s && strcmp(s, "NaN") == 0)
        *out = NAN;
    else if (s && strcmp(s, "Infinity") == 0)
        *out = INFINITY;
    else if (s && strcmp(s, "-Infinity") == 0)
        *out = -INFINITY;
    else
        return expected(dc, "float", j, err);
    return LS_OK;
}

/* "3:0": two decimal ids 0..65535 (65535:65535 is the null link). */
static enum ls_rc get_objlnk(const struct decoder *dc, const json_t *j,
                             struct lwm2m_objlnk *out, struct ls_error *err)
{
    if (!json_is_string(j))
        return expected(dc, "objlnk", j, err);
    const char *s = json_string_value(j), *colon = strchr(s, ':');
    char a[8], b[8];
    uint64_t x, y;
    size_t la = colon ? (size_t)(colon - s) : 0, lb = colon ? strlen(colon + 1) : 0;
    if (!colon || la == 0 || la >= sizeof a || lb == 0 || lb >= sizeof b)
        return ls_error_set(err, LS_EINVAL, "%s: objlnk must look like \"3:0\"", dc->path);
    memcpy(a, s, la);
    a[la] = '\0';
    memcpy(b, colon + 1, lb + 1);
    if (!parse_u64(a, &x) || !parse_u64(b, &y) || x > 65535 || y > 65535)
        return ls_error_set(err, LS_EINVAL, "%s: objlnk must be two ids 0..65535 as \"3:0\"",
                            dc->path);
    out->obj = (uint16_t)x;
    out->inst = (uint16_t)y;
    return LS_OK;
}

static enum ls_rc add_bytes(struct decoder *dc, const struct lwm2m_path *p, enum lwm2m_type t,
                            const json_t *j, struct lwm2m_value **v, struct ls_error *err)
{
    if (!json_is_string(j))
        return expected(dc, lwm2m_type_name(t), j, err);
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    if (t != LWM2M_TYPE_OPAQUE) {
        *v = lwm2m_data_append_bytes(dc->out, p, t, s, n, err);
        return *v ? LS_OK : LS_ENOMEM;
    }
    uint8_t *raw = malloc(n / 4 * 3 + 1);
    size_t len;
    enum ls_rc rc = LS_OK;
    if (!raw)
        return ls_error_set(err, LS_ENOMEM, "%s: out of memory", dc->path);
    if (!base64_decode(s, n, raw, &len))
        rc = ls_error_set(err, LS_EINVAL, "%s: opaque value is not standard base64", dc->path);
    else if (!(*v = lwm2m_data_append_bytes(dc->out, p, t, raw, len, err)))
        rc = LS_ENOMEM;
    free(raw);
    return rc;
}

/* Appends the value of type t at p from JSON j (NULL when absent). */
static enum ls_rc add_value(struct decoder *dc, const struct lwm2m_path *p, enum lwm2m_type t,
                            const json_t *j, struct lwm2m_value **v, struct ls_error *err)
{
    if (t == LWM2M_TYPE_NONE) {
        if (j && !json_is_null(j))
            return expected(dc, "no value", j, err);
    } else if (!j || json_is_null(j)) {
        return ls_error_set(err, LS_EINVAL, "%s: missing value of type %s", dc->path,
                            lwm2m_type_name(t));
    }
    if (t == LWM2M_TYPE_STRING || t == LWM2M_TYPE_CORELNK || t == LWM2M_TYPE_OPAQUE)
        return add_bytes(dc, p, t, j, v, err);
    if (!(*v = lwm2m_data_append(dc->out, p, t, err)))
        return LS_ENOMEM;
    switch (t) {
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        return get_int(dc, j, lwm2m_type_name(t), INT64_MIN, INT64_MAX, &(*v)->v.i, err);
    case LWM2M_TYPE_UNSIGNED:
        return get_unsigned(dc, j, &(*v)->v.u, err);
    case LWM2M_TYPE_FLOAT:
        return get_float(dc, j, &(*v)->v.f, err);
    case LWM2M_TYPE_BOOLEAN:
        if (!json_is_boolean(j))
            return expected(dc, "boolean", j, err);
        (*v)->v.b = json_is_true(j);
        return LS_OK;
    case LWM2M_TYPE_OBJLNK:
        return get_objlnk(dc, j, &(*v)->v.objlnk, err);
    default:
        return LS_OK;   /* NONE: nothing to fill */
    }
}

/* The value's type: "type" when given, else the model's for a resource. */
static enum ls_rc value_type(const struct decoder *dc, const json_t *item,
                             const struct lwm2m_path *p, enum lwm2m_type *t,
                             struct ls_error *err)
{
    const json_t *jt = json_object_get(item, "type");
    if (jt) {
        if (!json_is_string(jt) || !lwm2m_type_parse(json_string_value(jt), t))
            return ls_error_set(err, LS_EINVAL, "%s: unknown type (string, integer, unsigned, "
                                "float, boolean, opaque, time, objlnk, corelnk, none)", dc->path);
        return LS_OK;
    }
    const struct lwm2m_resource_def *r =
        p->depth >= LWM2M_DEPTH_RESOURCE ? lwm2m_model_resource(dc->model, p->id[0], p->id[2])
                                         : NULL;
    if (!r)
        return ls_error_set(err, LS_EINVAL, "%s: no \"type\" and the model does not know "
                            "this resource", dc->path);
    *t = r->type;
    return LS_OK;
}

static enum ls_rc decode_item(struct decoder *dc, size_t index, const json_t *item,
                              struct ls_error *err)
{
    struct lwm2m_path p;
    enum lwm2m_type t;
    struct lwm2m_value *v = NULL;
    const json_t *jp = json_is_object(item) ? json_object_get(item, "path") : NULL;
    if (!jp || !json_is_string(jp))
        return ls_error_set(err, LS_EINVAL, "values[%zu]: expected an object with a \"path\" "
                            "string", index);
    dc->path = json_string_value(jp);
    if (lwm2m_path_parse(dc->path, json_string_length(jp), &p, NULL) != LS_OK)
        return ls_error_set(err, LS_EINVAL, "values[%zu]: bad path \"%.40s\"", index, dc->path);
    enum ls_rc rc = value_type(dc, item, &p, &t, err);
    if (rc != LS_OK)
        return rc;
    if (p.depth < LWM2M_DEPTH_RESOURCE && !(t == LWM2M_TYPE_NONE && p.depth == LWM2M_DEPTH_INSTANCE))
        return ls_error_set(err, LS_EINVAL, "%s: not a resource path", dc->path);
    if ((rc = add_value(dc, &p, t, json_object_get(item, "value"), &v, err)) != LS_OK)
        return rc;
    const json_t *time = json_object_get(item, "time");
    if (time && !json_is_null(time)) {
        if (!json_is_number(time))
            return expected(dc, "a number for \"time\"", time, err);
        v->has_time = true;
        v->time_s = json_number_value(time);
    }
    return LS_OK;
}

static enum ls_rc walk(struct decoder *dc, const json_t *root, struct ls_error *err)
{
    const json_t *values = json_is_object(root) ? json_object_get(root, "values") : NULL;
    if (!values || !json_is_array(values))
        return ls_error_set(err, LS_EINVAL, "expected {\"values\": [...]}");
    size_t i;
    const json_t *item;
    json_array_foreach(values, i, item) {
        enum ls_rc rc = decode_item(dc, i, item, err);
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}

/* Second pass after jansson's "too big integer": find the value to blame. */
static enum ls_rc blame_overflow(struct decoder *dc, const char *json, size_t len,
                                 const json_error_t *first, struct ls_error *err)
{
    json_error_t je;
    struct ls_error mine = { 0 };
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    enum ls_rc rc = root ? walk(dc, root, &mine) : LS_EINVAL;
    json_decref(root);
    lwm2m_data_free(dc->out);
    if (rc != LS_OK && mine.code != LS_OK)
        return ls_error_set(err, mine.code, "%s", mine.msg);
    return ls_error_set(err, LS_EINVAL, "bad JSON at line %d column %d: %s", first->line,
                        first->column, first->text);
}

enum ls_rc lwm2m_api_json_decode(const char *json, size_t len,
                                 const struct lwm2m_model *model,
                                 struct lwm2m_data *out, struct ls_error *err)
{
    struct decoder dc = { .model = model, .out = out };
    json_error_t je;
    json_t *root = NULL;
    enum ls_rc rc = LS_OK;
    lwm2m_data_init(out);
    if (len > LWM2M_API_JSON_MAX_LEN)
        return ls_error_set(err, LS_EINVAL, "JSON body of %zu bytes exceeds %u", len,
                            LWM2M_API_JSON_MAX_LEN);
    root = json_loadb(json ? json : "", len, JSON_ALLOW_NUL, &je);
    if (!root) {
        dc.overflow = true;
        if (json_error_code(&je) == json_error_numeric_overflow)
            return blame_overflow(&dc, json, len, &je, err);
        if (json_error_code(&je) == json_error_out_of_memory)
            return ls_error_set(err, LS_ENOMEM, "out of memory parsing JSON");
        return ls_error_set(err, LS_EINVAL, "bad JSON at line %d column %d: %s", je.line,
                            je.column, je.text);
    }
    rc = walk(&dc, root, err);
    json_decref(root);
    if (rc != LS_OK)
        lwm2m_data_free(out);
    return rc;
}
