/*
 * lwm2m/cbor.h -- "CBOR single value" codec (content format 60,
 * application/cbor; LwM2M Core 1.2 §7.4.6, Transport 1.1+)
 *
 * The payload is one CBOR data item: the value of one resource or resource
 * instance.  CBOR carries a major type, the model refines it (an unsigned
 * CBOR integer is an Integer, Unsigned Integer, Time or Float resource
 * depending on the definition; a text string may be a Core Link or an
 * Object Link "o:i").  Parsing and building use libcbor.  Pure: no I/O,
 * clock, logging or globals.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_CBOR_H
#define LODESTAR_LWM2M_CBOR_H

#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/*
 * lwm2m_cbor_decode -- parse one CBOR item as the value at base.
 *
 * base   /o/i/r or /o/i/r/ri, else LS_EINVAL.
 * model  May be NULL: then uint/negint give INTEGER (UNSIGNED above
 *        INT64_MAX), floats FLOAT, true/false BOOLEAN, text STRING, bytes
 *        OPAQUE, tag 1 TIME.
 * out    Caller-initialised; one value is appended at base.
 *
 * Returns LS_OK, LS_EINVAL, LS_EPROTO (not exactly one well-formed item,
 * trailing bytes, arrays/maps/null/other tags, or a major type that does
 * not fit the model type) or LS_ENOMEM.
 */
enum ls_rc lwm2m_cbor_decode(const uint8_t *buf, size_t len,
                             const struct lwm2m_path *base,
                             const struct lwm2m_model *model,
                             struct lwm2m_data *out,
                             struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_cbor_encode -- append the one value of `in` (path equal to base)
 * as a CBOR item: integers in their shortest head, floats as single
 * precision when exact else double, Time as tag 1 over an integer, Object
 * Link as text "o:i".  NONE values and more than one value are LS_EINVAL.
 * model is unused; may be NULL.
 */
enum ls_rc lwm2m_cbor_encode(const struct lwm2m_data *in,
                             const struct lwm2m_path *base,
                             const struct lwm2m_model *model,
                             struct lwm2m_buf *out,
                             struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_CBOR_H */
