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

static const struct lwm2m_codec_json_names names = {
    .what = "senml", .string = "vs", .opaque = "vd", .opaque_url = true,
    .boolean = "vb", .objlnk = "vlo", .string_base64 = false,
};

/* Fills raw from one value field; the caller checked there is only one. */
static enum ls_rc decode_value(const char *key, json_t *val, struct scratch *s,
                               struct lwm2m_raw *raw, struct ls_error *err)
{
    if (strcmp(key, "vd") != 0)
        return lwm2m_codec_json_raw(key, val, &names, raw, err);
    if (!json_is_string(val))
        return ls_error_set(err, LS_EPROTO, "senml \"vd\" is not a string");
    return decode_vd(val, s, raw, err);
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
            rc = lwm2m_senml_json_record(out, &plan, in, i, &names, true, err);
    }
    if (rc == LS_OK)
        rc = put(out, "]", err);
    return rc;
}
