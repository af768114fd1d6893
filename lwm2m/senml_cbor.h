/*
 * lwm2m/senml_cbor.h -- SenML CBOR codec (RFC 8428 §6; LwM2M Transport
 *                       TS 1.2, content-format 112)
 *
 * A pack is a CBOR array of maps keyed by the SenML integer labels
 * (bn -2, bt -3, n 0, v 2, vs 3, vb 4, vd 8, t 6) plus text labels for
 * the LwM2M extensions ("vlo": Anjay mixes it into integer-keyed maps).
 * Definite and indefinite arrays, maps and strings; half, single and
 * double floats.  Decoding streams over the input with libcbor's
 * streaming decoder: no allocation per value.  Pure: no I/O or logging.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_SENML_CBOR_H
#define LODESTAR_LWM2M_SENML_CBOR_H

#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/*
 * lwm2m_senml_cbor_decode -- parse a SenML CBOR pack and append its values.
 *
 * buf, len  Borrowed input.
 * base      Request path, used only for a record with an empty name; may
 *           be NULL.
 * model     Types values (may be NULL).  Without it CBOR integers are
 *           INTEGER (UNSIGNED above INT64_MAX), floats FLOAT, vs STRING,
 *           vd OPAQUE, vlo OBJLNK, a value tagged 1 (epoch time) TIME.
 * out       Initialised by the caller; values are appended, and on failure
 *           those already appended stay.
 * err       May be NULL.
 *
 * Returns LS_OK, LS_EPROTO (malformed or truncated CBOR, trailing bytes,
 * wrong label types, names that are not paths, values the model refuses)
 * or LS_ENOMEM.
 */
enum ls_rc lwm2m_senml_cbor_decode(const uint8_t *buf, size_t len,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_data *out,
                                   struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_senml_cbor_encode -- append in as a SenML CBOR pack.
 *
 * Same record layout as the JSON encoder (bn on the first record, names
 * relative to it; see senml_json.h), with definite-length containers,
 * labels in the order bn, bt, n, t, value, integers as CBOR integers,
 * floats as single precision when exact else double, times as integers,
 * opaque as byte strings and objlnk as the text label "vlo".  Byte-for-byte
 * what Anjay sends for the same values.  model is unused.
 *
 * Returns LS_OK or LS_ENOMEM.
 */
enum ls_rc lwm2m_senml_cbor_encode(const struct lwm2m_data *in,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_buf *out,
                                   struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_SENML_CBOR_H */
