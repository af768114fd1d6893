/*
 * lwm2m/senml_json.c -- SenML JSON codec (RFC 8428, content-format 110)
 *
 * Parsing is jansson's (json_loadb); this file only walks the resulting
 * tree and hands each record to senml.c, which owns the name and time
 * rules shared with SenML CBOR and OMA JSON.  Encoding writes the text
 * directly: jansson prints reals with 17 significant digits ("0.1" becomes
 * "0.10000000000000001") and integral reals as "3800.0", neither of which
 * is what clients send, and the compact form real clients use is simple
 * enough to produce by hand.
 *
 * Opaque values ("vd") are base64url without padding per LwM2M Transport
 * TS 1.2; standard base64 with padding is accepted as well, because
 * some implementations send it and the intent is unambiguous.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/senml_json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/codec.h"
#include "lwm2m/senml.h"

/* Reused base64 output buffer: grows, never shrinks, freed once. */
struct scratch {
    uint8_t *p;
    size_t cap;
};

static enum ls_rc decode_vd(json_t *val, struct scratch *s, struct lwm2m_raw *raw,
                            struct ls_error *err)
{
    const char *text = json_string_value(val);
    size_t len = json_string_length(val), need = len / 4 * 3 + 3;
    if (need > s->cap) {
        uint8_t *p = realloc(s->p, need);
        if (!p)
            return ls_error_set(err, LS_ENOMEM, "out of memory for %zu bytes", need);
        s->p = p;
        s->cap = need;
    }
    size_t n;
    if (!lwm2m_codec_base64_decode(text, len, s->p, &n))
        return ls_error_set(err, LS_EPROTO, "senml \"vd\" is not base64");
    raw->kind = LWM2M_RAW_OPAQUE;
    raw->v.bytes.ptr = s->p;
    raw->v.bytes.len = n;
    return LS_OK;
}

/* Fills raw from one value field; the caller checked there is only one. */
static enum ls_rc decode_value(const char *key, json_t *val, struct scratch *s,
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
            return ls_error_set(err, LS_EPROTO, "senml \"v\" is not a number");
        }
        raw->untyped_float = true;
        return LS_OK;
    }
    if (strcmp(key, "vb") == 0) {
        if (!json_is_boolean(val))
            return ls_error_set(err, LS_EPROTO, "senml \"vb\" is not a boolean");
        raw->kind = LWM2M_RAW_BOOL;
        raw->v.b = json_is_true(val);
        return LS_OK;
    }
    if (!json_is_string(val))
        return ls_error_set(err, LS_EPROTO, "senml \"%s\" is not a string", key);
    if (strcmp(key, "vd") == 0)
        return decode_vd(val, s, raw, err);
    if (strcmp(key, "vlo") == 0) {
        raw->kind = LWM2M_RAW_OBJLNK;
        if (!lwm2m_codec_objlnk_parse(json_string_value(val),
                                      json_string_length(val), &raw->v.objlnk))
            return ls_error_set(err, LS_EPROTO,
                                "senml \"vlo\" is not an object link \"oid:iid\"");
        return LS_OK;
    }
    raw->kind = LWM2M_RAW_STRING; /* "vs" */
    raw->v.bytes.ptr = (const uint8_t *)json_string_value(val);
    raw->v.bytes.len = json_string_length(val);
    return LS_OK;
}

static bool is_value_key(const char *key)
{
    return strcmp(key, "v") == 0 || strcmp(key, "vs") == 0 ||
           strcmp(key, "vb") == 0 || strcmp(key, "vd") == 0 ||
           strcmp(key, "vlo") == 0;
}

static enum ls_rc decode_label(const char *key, json_t *val,
                               struct lwm2m_senml_record *r,
                               struct ls_error *err)
{
    bool is_name = strcmp(key, "n") == 0 || strcmp(key, "bn") == 0;
    bool is_time = strcmp(key, "t") == 0 || strcmp(key, "bt") == 0;
    if (is_name && !json_is_string(val))
        return ls_error_set(err, LS_EPROTO, "senml \"%s\" is not a string", key);
    if (is_time && !json_is_number(val))
        return ls_error_set(err, LS_EPROTO, "senml \"%s\" is not a number", key);
    if (strcmp(key, "bn") == 0) {
        r->has_bn = true;
        r->bn = json_string_value(val);
        r->bn_len = json_string_length(val);
    } else if (strcmp(key, "n") == 0) {
        r->has_n = true;
        r->n = json_string_value(val);
        r->n_len = json_string_length(val);
    } else if (strcmp(key, "bt") == 0) {
        r->has_bt = true;
        r->bt = json_number_value(val);
    } else if (strcmp(key, "t") == 0) {
        r->has_t = true;
        r->t = json_number_value(val);
    } else if (key[0] && key[strlen(key) - 1] == '_') {
        /* RFC 8428 §4.4: labels ending in '_' must be understood. */
        return ls_error_set(err, LS_EPROTO, "senml label \"%.32s\" is not supported",
                            key);
    }
    /* Other labels (bver, u, s, ...) carry nothing LwM2M uses. */
    return LS_OK;
}

static enum ls_rc decode_record(json_t *obj, struct lwm2m_senml_decoder *d,
                                struct scratch *s, struct ls_error *err)
{
    struct lwm2m_senml_record r;
    memset(&r, 0, sizeof r);
    if (!json_is_object(obj))
        return ls_error_set(err, LS_EPROTO, "senml record is not a json object");
    const char *key;
    json_t *val;
    enum ls_rc rc = LS_OK;
    json_object_foreach(obj, key, val) {
        if (is_value_key(key)) {
            if (r.value.kind != LWM2M_RAW_NONE)
                return ls_error_set(err, LS_EPROTO, "senml record has two values");
            rc = decode_value(key, val, s, &r.value, err);
        } else {
            rc = decode_label(key, val, &r, err);
        }
        if (rc != LS_OK)
            return rc;
    }
    return lwm2m_senml_decoder_add(d, &r, err);
}

enum ls_rc lwm2m_senml_json_decode(const uint8_t *buf, size_t len,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_data *out,
                                   struct ls_error *err)
{
    json_error_t jerr;
    struct scratch s = { NULL, 0 };
    enum ls_rc rc = LS_OK;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = ls_error_set(err, LS_EPROTO, "senml json is not json: %s at offset %d",
                          jerr.text, jerr.position);
        goto out;
    }
    if (!json_is_array(root)) {
        rc = ls_error_set(err, LS_EPROTO, "senml json pack is not an array");
        goto out;
    }
    struct lwm2m_senml_decoder d;
    lwm2m_senml_decoder_init(&d, base, model, out);
    size_t i;
    json_t *rec;
    json_array_foreach(root, i, rec) {
        rc = decode_record(rec, &d, &s, err);
        if (rc != LS_OK) {
            ls_error_prefix(err, "senml json record %zu", i);
            goto out;
        }
    }
out:
    json_decref(root);
    free(s.p);
    return rc;
}

/* ---- encoding ---- */

static enum ls_rc put(struct lwm2m_buf *b, const char *s, struct ls_error *err)
{
    return lwm2m_buf_append(b, s, strlen(s), err);
}

static enum ls_rc put_number(struct lwm2m_buf *b, double d, struct ls_error *err)
{
    char text[LWM2M_CODEC_DOUBLE_MAX];
    size_t n = lwm2m_codec_double_format(d, text);
    if (n == 0)
        return ls_error_set(err, LS_EINVAL, "cannot write %g in json", d);
    return lwm2m_buf_append(b, text, n, err);
}

static enum ls_rc put_value(struct lwm2m_buf *b, const struct lwm2m_value *v,
                            struct ls_error *err)
{
    char text[32];
    enum ls_rc rc = LS_OK;
    switch (v->type) {
    case LWM2M_TYPE_NONE:
        return LS_OK;
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        if ((rc = put(b, ",\"vs\":", err)) == LS_OK)
            rc = lwm2m_codec_json_string(b, v->v.bytes.ptr, v->v.bytes.len, err);
        return rc;
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        snprintf(text, sizeof text, ",\"v\":%lld", (long long)v->v.i);
        return put(b, text, err);
    case LWM2M_TYPE_UNSIGNED:
        snprintf(text, sizeof text, ",\"v\":%llu", (unsigned long long)v->v.u);
        return put(b, text, err);
    case LWM2M_TYPE_FLOAT:
        if ((rc = put(b, ",\"v\":", err)) == LS_OK)
            rc = put_number(b, v->v.f, err);
        return rc;
    case LWM2M_TYPE_BOOLEAN:
        return put(b, v->v.b ? ",\"vb\":true" : ",\"vb\":false", err);
    case LWM2M_TYPE_OPAQUE:
        if ((rc = put(b, ",\"vd\":\"", err)) == LS_OK &&
            (rc = lwm2m_codec_base64_encode(v->v.bytes.ptr, v->v.bytes.len, true, b,
                                            err)) == LS_OK)
            rc = put(b, "\"", err);
        return rc;
    case LWM2M_TYPE_OBJLNK: {
        char l[LWM2M_CODEC_OBJLNK_MAX];
        lwm2m_codec_objlnk_format(&v->v.objlnk, l);
        snprintf(text, sizeof text, ",\"vlo\":\"%s\"", l);
        return put(b, text, err);
    }
    }
    return ls_error_set(err, LS_EINVAL, "value of unknown type %d", (int)v->type);
}

/* One record.  Fields are written with a leading comma; the first one
 * overwrites it with the opening brace. */
static enum ls_rc put_record(struct lwm2m_buf *b, const struct lwm2m_senml_plan *plan,
                             const struct lwm2m_data *in, size_t i,
                             struct ls_error *err)
{
    char name[LWM2M_PATH_STR_MAX];
    struct lwm2m_senml_out o;
    lwm2m_senml_plan_record(plan, in, i, name, &o);
    size_t start = b->len;
    enum ls_rc rc = LS_OK;
    if (o.has_bn && rc == LS_OK &&
        (rc = put(b, ",\"bn\":", err)) == LS_OK)
        rc = lwm2m_codec_json_string(b, (const uint8_t *)plan->bn, plan->bn_len, err);
    if (o.has_bt && rc == LS_OK && (rc = put(b, ",\"bt\":", err)) == LS_OK)
        rc = put_number(b, o.bt, err);
    if (o.has_n && rc == LS_OK && (rc = put(b, ",\"n\":", err)) == LS_OK)
        rc = lwm2m_codec_json_string(b, (const uint8_t *)o.n, o.n_len, err);
    if (o.has_t && rc == LS_OK && (rc = put(b, ",\"t\":", err)) == LS_OK)
        rc = put_number(b, o.t, err);
    if (rc == LS_OK)
        rc = put_value(b, &in->values[i], err);
    if (rc != LS_OK)
        return rc;
    if (b->len == start) /* a nameless NONE at the root: an empty record */
        return put(b, "{}", err);
    b->data[start] = '{';
    return put(b, "}", err);
}

enum ls_rc lwm2m_senml_json_encode(const struct lwm2m_data *in,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_buf *out,
                                   struct ls_error *err)
{
    struct lwm2m_senml_plan plan;
    lwm2m_senml_plan_init(&plan, in, base);
    enum ls_rc rc = put(out, "[", err);
    for (size_t i = 0; i < in->count && rc == LS_OK; i++) {
        if (i > 0)
            rc = put(out, ",", err);
        if (rc == LS_OK)
            rc = put_record(out, &plan, in, i, err);
    }
    if (rc == LS_OK)
        rc = put(out, "]", err);
    return rc;
}
