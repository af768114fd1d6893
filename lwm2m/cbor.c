/*
 * lwm2m/cbor.c -- "CBOR single value" codec (content format 60)
 *
 * One CBOR item per payload, so libcbor's cbor_load() (which builds an
 * item tree) costs nothing that matters here; the multi-value CBOR formats
 * live in senml_cbor.c and lwm2m_cbor.c.  The CBOR major type decides the
 * kind of value and the model only narrows it; a major type the model
 * type cannot hold (a text string for an Integer resource) is refused
 * rather than converted, because silently turning "12" into 12 would hide
 * a broken client.  The one widening allowed is integer -> Float, which
 * RFC 8949 encoders legitimately produce for integral floats.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/cbor.h"

#include <cbor.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_EPOCH_TIME 1 /* RFC 8949 §3.4.2 */

/* A decoded scalar before it is typed against the model. */
struct scalar {
    enum lwm2m_type type; /* as CBOR says, before the model narrows it */
    bool negative;        /* for integers: the value is -1 - u */
    uint64_t u;
    double f;
    bool b;
};

static enum ls_rc mismatch(const struct lwm2m_path *base, const char *cbor_kind,
                           enum lwm2m_type want, struct ls_error *err)
{
    char s[LWM2M_PATH_STR_MAX];
    lwm2m_path_format(base, s);
    return ls_error_set(err, LS_EPROTO, "cbor %s cannot be the %s resource %s",
                        cbor_kind, lwm2m_type_name(want), s);
}

/* Integers: want is the model type or NONE when unknown. */
static enum ls_rc put_integer(struct lwm2m_data *out, const struct lwm2m_path *base,
                              bool negative, uint64_t u, enum lwm2m_type want,
                              bool tagged_time, struct ls_error *err)
{
    enum lwm2m_type t = want;
    if (want == LWM2M_TYPE_NONE)
        t = tagged_time ? LWM2M_TYPE_TIME
                        : (!negative && u > INT64_MAX ? LWM2M_TYPE_UNSIGNED : LWM2M_TYPE_INTEGER);
    if (tagged_time && t != LWM2M_TYPE_TIME && t != LWM2M_TYPE_INTEGER)
        return mismatch(base, "epoch time", want, err);
    if (t != LWM2M_TYPE_INTEGER && t != LWM2M_TYPE_TIME && t != LWM2M_TYPE_UNSIGNED &&
        t != LWM2M_TYPE_FLOAT)
        return mismatch(base, "integer", want, err);
    if (t == LWM2M_TYPE_UNSIGNED && negative)
        return mismatch(base, "negative integer", want, err);
    if ((t == LWM2M_TYPE_INTEGER || t == LWM2M_TYPE_TIME) && u > INT64_MAX)
        return ls_error_set(err, LS_EPROTO, "cbor integer out of the signed 64-bit range");
    struct lwm2m_value *v = lwm2m_data_append(out, base, t, err);
    if (!v)
        return err ? err->code : LS_ENOMEM;
    int64_t s = negative ? -1 - (int64_t)u : (int64_t)u;
    if (t == LWM2M_TYPE_UNSIGNED)
        v->v.u = u;
    else if (t == LWM2M_TYPE_FLOAT)
        v->v.f = negative ? (double)s : (double)u;
    else
        v->v.i = s;
    return LS_OK;
}

static bool parse_u16(const char *p, size_t n, uint16_t *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > UINT16_MAX)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* Text or bytes: the whole string as one block (chunks concatenated). */
static enum ls_rc put_string(struct lwm2m_data *out, const struct lwm2m_path *base,
                             const uint8_t *p, size_t n, bool text,
                             enum lwm2m_type want, struct ls_error *err)
{
    enum lwm2m_type t = want;
    if (want == LWM2M_TYPE_NONE)
        t = text ? LWM2M_TYPE_STRING : LWM2M_TYPE_OPAQUE;
    if (!text && t != LWM2M_TYPE_OPAQUE)
        return mismatch(base, "byte string", want, err);
    if (text && t == LWM2M_TYPE_OBJLNK) {
        const char *s = (const char *)p;
        const char *colon = n ? memchr(s, ':', n) : NULL;
        struct lwm2m_objlnk l;
        if (!colon || !parse_u16(s, (size_t)(colon - s), &l.obj) ||
            !parse_u16(colon + 1, n - (size_t)(colon - s) - 1, &l.inst))
            return mismatch(base, "text other than \"o:i\"", want, err);
        struct lwm2m_value *v = lwm2m_data_append(out, base, t, err);
        if (!v)
            return err ? err->code : LS_ENOMEM;
        v->v.objlnk = l;
        return LS_OK;
    }
    if (text && t != LWM2M_TYPE_STRING && t != LWM2M_TYPE_CORELNK)
        return mismatch(base, "text string", want, err);
    if (!lwm2m_data_append_bytes(out, base, t, p, n, err))
        return err ? err->code : LS_ENOMEM;
    return LS_OK;
}

/* Collects a definite or indefinite (chunked) string into one block. */
static enum ls_rc string_bytes(const cbor_item_t *item, bool text, uint8_t **owned,
                               const uint8_t **p, size_t *n, struct ls_error *err)
{
    *owned = NULL;
    bool definite = text ? cbor_string_is_definite(item) : cbor_bytestring_is_definite(item);
    if (definite) {
        *p = text ? cbor_string_handle(item) : cbor_bytestring_handle(item);
        *n = text ? cbor_string_length(item) : cbor_bytestring_length(item);
        return LS_OK;
    }
    size_t count = text ? cbor_string_chunk_count(item) : cbor_bytestring_chunk_count(item);
    cbor_item_t **chunks = text ? cbor_string_chunks_handle(item) : cbor_bytestring_chunks_handle(item);
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += text ? cbor_string_length(chunks[i]) : cbor_bytestring_length(chunks[i]);
    uint8_t *buf = malloc(total + 1);
    if (!buf)
        return ls_error_set(err, LS_ENOMEM, "out of memory for a %zu-byte cbor string", total);
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = text ? cbor_string_length(chunks[i]) : cbor_bytestring_length(chunks[i]);
        if (len)
            memcpy(buf + at, text ? cbor_string_handle(chunks[i]) : cbor_bytestring_handle(chunks[i]), len);
        at += len;
    }
    *owned = buf;
    *p = buf;
    *n = total;
    return LS_OK;
}

static enum ls_rc decode_item(const cbor_item_t *item, const struct lwm2m_path *base,
                              enum lwm2m_type want, struct lwm2m_data *out,
                              struct ls_error *err)
{
    switch (cbor_typeof(item)) {
    case CBOR_TYPE_UINT:
        return put_integer(out, base, false, cbor_get_int(item), want, false, err);
    case CBOR_TYPE_NEGINT:
        return put_integer(out, base, true, cbor_get_int(item), want, false, err);
    case CBOR_TYPE_STRING:
    case CBOR_TYPE_BYTESTRING: {
        bool text = cbor_typeof(item) == CBOR_TYPE_STRING;
        uint8_t *owned;
        const uint8_t *p = NULL;
        size_t n = 0;
        enum ls_rc rc = string_bytes(item, text, &owned, &p, &n, err);
        if (rc == LS_OK)
            rc = put_string(out, base, p, n, text, want, err);
        free(owned);
        return rc;
    }
    case CBOR_TYPE_TAG: {
        if (cbor_tag_value(item) != TAG_EPOCH_TIME)
            return ls_error_set(err, LS_EPROTO, "cbor tag %llu is not a value type",
                                (unsigned long long)cbor_tag_value(item));
        cbor_item_t *inner = cbor_tag_item(item);
        enum ls_rc rc;
        if (cbor_isa_uint(inner) || cbor_isa_negint(inner))
            rc = put_integer(out, base, cbor_isa_negint(inner), cbor_get_int(inner), want, true, err);
        else
            rc = ls_error_set(err, LS_EPROTO, "cbor epoch time is not an integer");
        cbor_decref(&inner);
        return rc;
    }
    case CBOR_TYPE_FLOAT_CTRL:
        /* Width first: libcbor asserts when cbor_is_bool() sees a float. */
        if (cbor_float_get_width(item) == CBOR_FLOAT_0 && cbor_is_bool(item)) {
            if (want != LWM2M_TYPE_NONE && want != LWM2M_TYPE_BOOLEAN)
                return mismatch(base, "boolean", want, err);
            struct lwm2m_value *v = lwm2m_data_append(out, base, LWM2M_TYPE_BOOLEAN, err);
            if (!v)
                return err ? err->code : LS_ENOMEM;
            v->v.b = cbor_get_bool(item);
            return LS_OK;
        }
        if (cbor_float_get_width(item) != CBOR_FLOAT_0) {
            if (want != LWM2M_TYPE_NONE && want != LWM2M_TYPE_FLOAT)
                return mismatch(base, "float", want, err);
            struct lwm2m_value *v = lwm2m_data_append(out, base, LWM2M_TYPE_FLOAT, err);
            if (!v)
                return err ? err->code : LS_ENOMEM;
            v->v.f = cbor_float_get_float(item);
            return LS_OK;
        }
        return ls_error_set(err, LS_EPROTO, "cbor simple value (null, undefined) is not a value");
    default:
        return ls_error_set(err, LS_EPROTO, "cbor array or map is not a single value");
    }
}

static void saw_collection(void *ctx, size_t n)
{
    (void)n;
    *(bool *)ctx = true;
}

static void saw_indef_collection(void *ctx)
{
    *(bool *)ctx = true;
}

/*
 * Walks every head with libcbor's streaming decoder (no allocation) and
 * refuses arrays and maps before cbor_load() sees them: libcbor 0.8
 * allocates a definite array's declared size up front, so the 6 bytes
 * 9a 9a 9a 9a 9a would cost 20 GB (found by fuzz_cbor).  A single value
 * never contains a collection, so refusing them loses nothing.
 */
static enum ls_rc prescan(const uint8_t *buf, size_t len, struct ls_error *err)
{
    struct cbor_callbacks cb = cbor_empty_callbacks;
    bool collection = false;
    cb.array_start = saw_collection;
    cb.map_start = saw_collection;
    cb.indef_array_start = saw_indef_collection;
    cb.indef_map_start = saw_indef_collection;
    size_t at = 0;
    while (at < len) {
        struct cbor_decoder_result r = cbor_stream_decode(buf + at, len - at, &cb, &collection);
        if (collection)
            return ls_error_set(err, LS_EPROTO, "cbor array or map is not a single value");
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
            return ls_error_set(err, LS_EPROTO, "malformed or truncated cbor at byte %zu", at);
        at += r.read;
    }
    return LS_OK;
}

enum ls_rc lwm2m_cbor_decode(const uint8_t *buf, size_t len,
                             const struct lwm2m_path *base,
                             const struct lwm2m_model *model,
                             struct lwm2m_data *out, struct ls_error *err)
{
    if (!base || base->depth < LWM2M_DEPTH_RESOURCE)
        return ls_error_set(err, LS_EINVAL, "cbor needs a resource path");
    if (len == 0 || !buf)
        return ls_error_set(err, LS_EPROTO, "cbor payload is empty");
    enum ls_rc rc = prescan(buf, len, err);
    if (rc != LS_OK)
        return rc;
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(buf, len, &res);
    if (!item) {
        if (res.error.code == CBOR_ERR_MEMERROR)
            return ls_error_set(err, LS_ENOMEM, "out of memory parsing cbor");
        return ls_error_set(err, LS_EPROTO, "malformed cbor at byte %zu (libcbor error %d)",
                            res.error.position, (int)res.error.code);
    }
    if (res.read != len) {
        rc = ls_error_set(err, LS_EPROTO, "cbor single value followed by %zu more bytes",
                          len - res.read);
    } else {
        const struct lwm2m_resource_def *def =
            lwm2m_model_resource(model, base->id[0], base->id[2]);
        enum lwm2m_type want = def ? def->type : LWM2M_TYPE_NONE;
        rc = decode_item(item, base, want, out, err);
    }
    cbor_decref(&item);
    return rc;
}

/* The shortest-head CBOR integer for a sign and magnitude. */
static cbor_item_t *build_int(bool negative, uint64_t u)
{
    if (u <= UINT8_MAX)
        return negative ? cbor_build_negint8((uint8_t)u) : cbor_build_uint8((uint8_t)u);
    if (u <= UINT16_MAX)
        return negative ? cbor_build_negint16((uint16_t)u) : cbor_build_uint16((uint16_t)u);
    if (u <= UINT32_MAX)
        return negative ? cbor_build_negint32((uint32_t)u) : cbor_build_uint32((uint32_t)u);
    return negative ? cbor_build_negint64(u) : cbor_build_uint64(u);
}

static cbor_item_t *build_signed(int64_t i)
{
    /* -1 - i cannot overflow for negative i; CBOR negint n means -1 - n. */
    return i < 0 ? build_int(true, (uint64_t)(-1 - i)) : build_int(false, (uint64_t)i);
}

/* The item for one value; NULL on ENOMEM (or NONE, checked by the caller). */
static cbor_item_t *build_item(const struct lwm2m_value *v)
{
    switch (v->type) {
    case LWM2M_TYPE_INTEGER:
        return build_signed(v->v.i);
    case LWM2M_TYPE_UNSIGNED:
        return build_int(false, v->v.u);
    case LWM2M_TYPE_TIME: {
        cbor_item_t *i = build_signed(v->v.i);
        if (!i)
            return NULL;
        cbor_item_t *tag = cbor_build_tag(TAG_EPOCH_TIME, i); /* increfs i */
        cbor_decref(&i);
        return tag;
    }
    case LWM2M_TYPE_FLOAT: {
        /* Single precision when it round-trips exactly: half the bytes,
         * no information lost; NaN fails the test and stays double. */
        float f = (float)v->v.f;
        return (double)f == v->v.f ? cbor_build_float4(f) : cbor_build_float8(v->v.f);
    }
    case LWM2M_TYPE_BOOLEAN:
        return cbor_build_bool(v->v.b);
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        return cbor_build_stringn((const char *)v->v.bytes.ptr, v->v.bytes.len);
    case LWM2M_TYPE_OPAQUE:
        return cbor_build_bytestring(v->v.bytes.ptr, v->v.bytes.len);
    case LWM2M_TYPE_OBJLNK: {
        char s[12];
        int n = snprintf(s, sizeof s, "%u:%u", v->v.objlnk.obj, v->v.objlnk.inst);
        return cbor_build_stringn(s, (size_t)n);
    }
    default:
        return NULL;
    }
}

enum ls_rc lwm2m_cbor_encode(const struct lwm2m_data *in,
                             const struct lwm2m_path *base,
                             const struct lwm2m_model *model,
                             struct lwm2m_buf *out, struct ls_error *err)
{
    if (!base || in->count != 1)
        return ls_error_set(err, LS_EINVAL, "cbor carries exactly one value, not %zu",
                            in->count);
    const struct lwm2m_value *v = &in->values[0];
    if (!lwm2m_path_equal(&v->path, base) || base->depth < LWM2M_DEPTH_RESOURCE)
        return ls_error_set(err, LS_EINVAL, "cbor value must be at the resource path requested");
    if (v->type == LWM2M_TYPE_NONE)
        return ls_error_set(err, LS_EINVAL, "cbor cannot carry a none value");
    cbor_item_t *item = build_item(v);
    if (!item)
        return ls_error_set(err, LS_ENOMEM, "out of memory building a cbor item");
    unsigned char *bytes = NULL;
    size_t size = 0;
    size_t n = cbor_serialize_alloc(item, &bytes, &size);
    enum ls_rc rc = n == 0 ? ls_error_set(err, LS_ENOMEM, "out of memory serialising cbor")
                           : lwm2m_buf_append(out, bytes, n, err);
    free(bytes);
    cbor_decref(&item);
    return rc;
}
