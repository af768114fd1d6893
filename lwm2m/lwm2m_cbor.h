/*
 * lwm2m/lwm2m_cbor.h -- LwM2M CBOR codec (LwM2M Transport TS 1.2,
 *                       content-format 11544)
 *
 * Nested CBOR maps keyed by path components: a key is one ID or an array
 * of IDs, so {[3,0]: {0: "x", 7: {0: 3800}}} holds /3/0/0 and /3/0/7/0.
 * Keys are absolute (they start at the object ID; Anjay writes the request
 * path as the first key), so the request path is not applied.  Definite
 * and indefinite maps, arrays and strings.  Pure: no I/O or logging.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_LWM2M_CBOR_H
#define LODESTAR_LWM2M_LWM2M_CBOR_H

#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/*
 * lwm2m_lwm2m_cbor_decode -- parse an LwM2M CBOR payload and append values.
 *
 * base      Unused (keys are absolute); may be NULL.
 * model     Types values (may be NULL).  Without it integers are INTEGER
 *           (UNSIGNED above INT64_MAX), floats FLOAT, text STRING (the
 *           model turns "3:0" into OBJLNK), bytes OPAQUE, tag 1 TIME.
 *           null and an empty map decode as LWM2M_TYPE_NONE at their path.
 * out       Initialised by the caller; values are appended, and on failure
 *           those already appended stay.
 *
 * Returns LS_OK, LS_EPROTO (malformed or truncated CBOR, trailing bytes, a
 * key that is not an ID or ID array, a path deeper than four IDs, a value
 * the model refuses, unsupported tags) or LS_ENOMEM.
 */
enum ls_rc lwm2m_lwm2m_cbor_decode(const uint8_t *buf, size_t len,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_data *out,
                                   struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_lwm2m_cbor_encode -- append in as LwM2M CBOR, laid out as Anjay
 * does: indefinite-length maps, the first key the common path (base when
 * every value lies below it, else the values' common prefix) as one ID or
 * an ID array, then one map level per further ID.  Time is tag 1 + integer
 * (RFC 8949 §3.4.2), objlnk the text "oid:iid", a NONE instance an empty
 * map and a NONE resource null.  in need not be sorted.  model is unused.
 *
 * Returns LS_OK, LS_EINVAL (two values at the same path) or LS_ENOMEM.
 */
enum ls_rc lwm2m_lwm2m_cbor_encode(const struct lwm2m_data *in,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_buf *out,
                                   struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_LWM2M_CBOR_H */
