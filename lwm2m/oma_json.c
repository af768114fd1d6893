/*
 * lwm2m/oma_json.c -- OMA LwM2M JSON codec (content-formats 11543, 1543)
 *
 * jansson parses; each "e" entry becomes a struct lwm2m_senml_record with
 * the root's bn/bt on the first one, so senml.c applies exactly the SenML
 * name and time rules.  Encoding writes compact text by hand for the same
 * reasons as senml_json.c (number formatting jansson cannot do).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/oma_json.h"

#include <jansson.h>
#include <string.h>

#include "lwm2m/codec.h"
#include "lwm2m/senml.h"

static const struct lwm2m_codec_json_names names = {
    .what = "oma json", .string = "sv", .opaque = "sv", .opaque_url = false,
    .boolean = "bv", .objlnk = "ov", .string_base64 = true,
};

static enum ls_rc entry_value(const char *key, json_t *val, struct lwm2m_raw *raw,
                              struct ls_error *err)
{
    if (raw->kind != LWM2M_RAW_NONE)
        return ls_error_set(err, LS_EPROTO, "oma json entry has two values");
    return lwm2m_codec_json_raw(key, val, &names, raw, err);
}

static enum ls_rc decode_entry(json_t *obj, struct lwm2m_senml_record *r,
                               struct ls_error *err)
{
    const char *key;
    json_t *val;
    enum ls_rc rc = LS_OK;
    if (!json_is_object(obj))
        return ls_error_set(err, LS_EPROTO, "oma json entry is not an object");
    json_object_foreach(obj, key, val) {
        if (strcmp(key, "n") == 0) {
            if (!json_is_string(val))
                return ls_error_set(err, LS_EPROTO, "oma json \"n\" is not a string");
            r->has_n = true;
            r->n = json_string_value(val);
            r->n_len = json_string_length(val);
        } else if (strcmp(key, "t") == 0) {
            if (!json_is_number(val))
                return ls_error_set(err, LS_EPROTO, "oma json \"t\" is not a number");
            r->has_t = true;
            r->t = json_number_value(val);
        } else if (strcmp(key, "v") == 0 || strcmp(key, "sv") == 0 ||
                   strcmp(key, "bv") == 0 || strcmp(key, "ov") == 0) {
            rc = entry_value(key, val, &r->value, err);
        }
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}

/* Root labels: bn (string), bt (number), e (array). */
static enum ls_rc decode_root(json_t *root, struct lwm2m_senml_record *first,
                              json_t **entries, struct ls_error *err)
{
    if (!json_is_object(root))
        return ls_error_set(err, LS_EPROTO, "oma json payload is not an object");
    json_t *bn = json_object_get(root, "bn"), *bt = json_object_get(root, "bt");
    *entries = json_object_get(root, "e");
    if (!json_is_array(*entries))
        return ls_error_set(err, LS_EPROTO, "oma json has no \"e\" array");
    if (bn && !json_is_string(bn))
        return ls_error_set(err, LS_EPROTO, "oma json \"bn\" is not a string");
    if (bt && !json_is_number(bt))
        return ls_error_set(err, LS_EPROTO, "oma json \"bt\" is not a number");
    if (bn) {
        first->has_bn = true;
        first->bn = json_string_value(bn);
        first->bn_len = json_string_length(bn);
    }
    if (bt) {
        first->has_bt = true;
        first->bt = json_number_value(bt);
    }
    return LS_OK;
}

enum ls_rc lwm2m_oma_json_decode(const uint8_t *buf, size_t len,
                                 const struct lwm2m_path *base,
                                 const struct lwm2m_model *model,
                                 struct lwm2m_data *out,
                                 struct ls_error *err)
{
    json_error_t jerr;
    json_t *entries, *e;
    struct lwm2m_senml_record r;
    struct lwm2m_senml_decoder d;
    size_t i;
    enum ls_rc rc;
    memset(&r, 0, sizeof r);
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = ls_error_set(err, LS_EPROTO, "oma json is not json: %s at offset %d",
                          jerr.text, jerr.position);
        goto out;
    }
    if ((rc = decode_root(root, &r, &entries, err)) != LS_OK)
        goto out;
    lwm2m_senml_decoder_init(&d, base, model, out);
    json_array_foreach(entries, i, e) {
        if (i > 0)
            memset(&r, 0, sizeof r); /* bn and bt only ride on the first */
        if ((rc = decode_entry(e, &r, err)) != LS_OK ||
            (rc = lwm2m_senml_decoder_add(&d, &r, err)) != LS_OK) {
            ls_error_prefix(err, "oma json entry %zu", i);
            goto out;
        }
    }
out:
    json_decref(root);
    return rc;
}

/* ---- encoding ---- */

static enum ls_rc put(struct lwm2m_buf *b, const char *s, struct ls_error *err)
{
    return lwm2m_buf_append(b, s, strlen(s), err);
}

enum ls_rc lwm2m_oma_json_encode(const struct lwm2m_data *in,
                                 const struct lwm2m_path *base,
                                 const struct lwm2m_model *model,
                                 struct lwm2m_buf *out,
                                 struct ls_error *err)
{
    struct lwm2m_senml_plan plan;
    lwm2m_senml_plan_init(&plan, in, base);
    enum ls_rc rc = put(out, "{", err);
    if (rc == LS_OK && plan.bn_len > 0 && (rc = put(out, "\"bn\":", err)) == LS_OK &&
        (rc = lwm2m_codec_json_string(out, (const uint8_t *)plan.bn, plan.bn_len,
                                      err)) == LS_OK)
        rc = put(out, ",", err);
    if (rc == LS_OK && plan.bt_first && in->count > 0 &&
        (rc = put(out, "\"bt\":", err)) == LS_OK &&
        (rc = lwm2m_codec_json_number(out, plan.bt, err)) == LS_OK)
        rc = put(out, ",", err);
    if (rc == LS_OK)
        rc = put(out, "\"e\":[", err);
    for (size_t i = 0; i < in->count && rc == LS_OK; i++) {
        if (i > 0)
            rc = put(out, ",", err);
        if (rc == LS_OK)
            rc = lwm2m_senml_json_record(out, &plan, in, i, &names, false, err);
    }
    if (rc == LS_OK)
        rc = put(out, "]}", err);
    return rc;
}
