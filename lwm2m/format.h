/*
 * lwm2m/format.h -- content formats and the codec dispatch
 *
 * One entry point to decode a payload of any LwM2M content format into a
 * struct lwm2m_data, and to encode one; each format lives in its own file
 * (tlv.c, senml_json.c, senml_cbor.c, lwm2m_cbor.c, oma_json.c, text.c,
 * opaque.c, cbor.c) with the same two-function shape:
 *
 *   lwm2m_<fmt>_decode(buf, len, base, model, out, err)
 *   lwm2m_<fmt>_encode(in, base, model, out_buf, err)
 *
 * base is the request path (the path a Read or Write targeted): formats
 * that do not carry full paths (TLV, text, opaque, CBOR, LwM2M-CBOR
 * relative keys) resolve against it.  model may be NULL.  Decoders append
 * to out (which the caller initialised) and never read outside
 * [buf, buf + len); malformed input gives LS_EPROTO, too large LS_ENOMEM.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_FORMAT_H
#define LODESTAR_LWM2M_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/* CoAP Content-Format numbers (IANA; 1542/1543 are the pre-IANA ones). */
enum lwm2m_format {
    LWM2M_FORMAT_TEXT = 0,
    LWM2M_FORMAT_LINK = 40,
    LWM2M_FORMAT_OPAQUE = 42,
    LWM2M_FORMAT_CBOR = 60,
    LWM2M_FORMAT_SENML_JSON = 110,
    LWM2M_FORMAT_SENML_CBOR = 112,
    LWM2M_FORMAT_TLV_OLD = 1542,
    LWM2M_FORMAT_JSON_OLD = 1543,
    LWM2M_FORMAT_TLV = 11542,
    LWM2M_FORMAT_JSON = 11543,
    LWM2M_FORMAT_LWM2M_CBOR = 11544,
};

/* The API name of a format ("tlv", "senml-json", ...); NULL if unknown. */
const char *lwm2m_format_name(unsigned format);
/* Parses an API name or a decimal number; false when unknown. */
bool lwm2m_format_parse(const char *name, unsigned *out);
/* True for the formats that can carry more than one value. */
bool lwm2m_format_is_multi(unsigned format);

enum ls_rc lwm2m_format_decode(unsigned format, const uint8_t *buf, size_t len,
                               const struct lwm2m_path *base,
                               const struct lwm2m_model *model,
                               struct lwm2m_data *out,
                               struct ls_error *err) LS_MUST_CHECK;

enum ls_rc lwm2m_format_encode(unsigned format, const struct lwm2m_data *in,
                               const struct lwm2m_path *base,
                               const struct lwm2m_model *model,
                               struct lwm2m_buf *out,
                               struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_FORMAT_H */
