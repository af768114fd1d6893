/*
 * lwm2m/format.c -- content-format numbers, API names and codec dispatch
 *
 * One static table maps each CoAP Content-Format number to its API name
 * and its codec; the pre-IANA numbers 1542/1543 (still sent by Wakaama
 * based clients, see docs/LWM2M.md) share the codec and name of 11542 and
 * 11543.  Link format (40) is listed so that names and numbers round-trip,
 * but it describes resources, not values: decode/encode refuse it with
 * LS_EUNSUPPORTED and callers parse it with the link-format code.
 *
 * INTERFACE ROUTINES
 *   lwm2m_format_name, lwm2m_format_parse, lwm2m_format_is_multi
 *   lwm2m_format_decode, lwm2m_format_encode
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/format.h"

#include <stdlib.h>
#include <string.h>

#include "lwm2m/cbor.h"
#include "lwm2m/lwm2m_cbor.h"
#include "lwm2m/oma_json.h"
#include "lwm2m/opaque.h"
#include "lwm2m/senml_cbor.h"
#include "lwm2m/senml_json.h"
#include "lwm2m/text.h"
#include "lwm2m/tlv.h"

struct format_entry {
    unsigned number;   /* CoAP Content-Format */
    const char *name;  /* API name */
    bool multi;        /* can carry more than one value */
    /* NULL: not a data format (link) */
    enum ls_rc (*decode)(const uint8_t *, size_t, const struct lwm2m_path *,
                         const struct lwm2m_model *, struct lwm2m_data *,
                         struct ls_error *);
    enum ls_rc (*encode)(const struct lwm2m_data *, const struct lwm2m_path *,
                         const struct lwm2m_model *, struct lwm2m_buf *,
                         struct ls_error *);
};

static const struct format_entry formats[] = {
    { LWM2M_FORMAT_TEXT, "text", false, lwm2m_text_decode, lwm2m_text_encode },
    { LWM2M_FORMAT_LINK, "link", false, NULL, NULL },
    { LWM2M_FORMAT_OPAQUE, "opaque", false, lwm2m_opaque_decode, lwm2m_opaque_encode },
    { LWM2M_FORMAT_CBOR, "cbor", false, lwm2m_cbor_decode, lwm2m_cbor_encode },
    { LWM2M_FORMAT_SENML_JSON, "senml-json", true, lwm2m_senml_json_decode,
      lwm2m_senml_json_encode },
    { LWM2M_FORMAT_SENML_CBOR, "senml-cbor", true, lwm2m_senml_cbor_decode,
      lwm2m_senml_cbor_encode },
    { LWM2M_FORMAT_TLV, "tlv", true, lwm2m_tlv_decode, lwm2m_tlv_encode },
    { LWM2M_FORMAT_JSON, "json", true, lwm2m_oma_json_decode, lwm2m_oma_json_encode },
    { LWM2M_FORMAT_LWM2M_CBOR, "lwm2m-cbor", true, lwm2m_lwm2m_cbor_decode,
      lwm2m_lwm2m_cbor_encode },
    /* Aliases last, so that name -> number lookups find the IANA number. */
    { LWM2M_FORMAT_TLV_OLD, "tlv", true, lwm2m_tlv_decode, lwm2m_tlv_encode },
    { LWM2M_FORMAT_JSON_OLD, "json", true, lwm2m_oma_json_decode, lwm2m_oma_json_encode },
};

#define N_FORMATS (sizeof formats / sizeof formats[0])

static const struct format_entry *find(unsigned number)
{
    for (size_t i = 0; i < N_FORMATS; i++)
        if (formats[i].number == number)
            return &formats[i];
    return NULL;
}

const char *lwm2m_format_name(unsigned format)
{
    const struct format_entry *f = find(format);
    return f ? f->name : NULL;
}

bool lwm2m_format_parse(const char *name, unsigned *out)
{
    if (!name || !*name)
        return false;
    for (size_t i = 0; i < N_FORMATS; i++) {
        if (strcmp(formats[i].name, name) == 0) {
            *out = formats[i].number;
            return true;
        }
    }
    /* A decimal number, as long as it names a format we know. */
    unsigned long v = 0;
    for (const char *p = name; *p; p++) {
        if (*p < '0' || *p > '9' || p - name >= 5)
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (!find((unsigned)v))
        return false;
    *out = (unsigned)v;
    return true;
}

bool lwm2m_format_is_multi(unsigned format)
{
    const struct format_entry *f = find(format);
    return f && f->multi;
}

/* The codec entry for format, or NULL with err set (unknown or link). */
static const struct format_entry *codec(unsigned format, struct ls_error *err)
{
    const struct format_entry *f = find(format);
    if (!f) {
        ls_error_set(err, LS_EUNSUPPORTED, "content format %u is not supported", format);
        return NULL;
    }
    if (!f->decode) {
        ls_error_set(err, LS_EUNSUPPORTED, "content format %u (%s) carries no values",
                     format, f->name);
        return NULL;
    }
    return f;
}

enum ls_rc lwm2m_format_decode(unsigned format, const uint8_t *buf, size_t len,
                               const struct lwm2m_path *base,
                               const struct lwm2m_model *model,
                               struct lwm2m_data *out, struct ls_error *err)
{
    const struct format_entry *f = codec(format, err);
    if (!f)
        return LS_EUNSUPPORTED;
    return f->decode(buf, len, base, model, out, err);
}

enum ls_rc lwm2m_format_encode(unsigned format, const struct lwm2m_data *in,
                               const struct lwm2m_path *base,
                               const struct lwm2m_model *model,
                               struct lwm2m_buf *out, struct ls_error *err)
{
    const struct format_entry *f = codec(format, err);
    if (!f)
        return LS_EUNSUPPORTED;
    return f->encode(in, base, model, out, err);
}
