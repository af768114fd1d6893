/*
 * lwm2m/senml_json.h -- SenML JSON codec (RFC 8428; LwM2M Transport TS 1.2,
 *                       content-format 110)
 *
 * A pack is a JSON array of records with bn/bt/n/t and one of v, vs, vb,
 * vd (base64url, no padding) or the LwM2M extension vlo ("3:0").  A record
 * without a value (Read-Composite and Observe-Composite name lists)
 * decodes as LWM2M_TYPE_NONE at its path.  Pure: no I/O, clock or logging.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_SENML_JSON_H
#define LODESTAR_LWM2M_SENML_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/*
 * lwm2m_senml_json_decode -- parse a SenML JSON pack and append its values.
 *
 * buf, len  Borrowed input; need not be NUL-terminated.
 * base      Request path, used only for a record with an empty name; may
 *           be NULL.
 * model     Types numbers ("v" is FLOAT unless the model says integer,
 *           unsigned or time; the conversion must be exact) and strings
 *           (CORELNK); may be NULL.
 * out       Initialised by the caller; values are appended, and on failure
 *           the values already appended stay (free them with the container).
 * err       May be NULL.
 *
 * Returns LS_OK, LS_EPROTO (not JSON, not a pack, a name that is not a
 * path, a value the model refuses, an unknown must-understand "_" key) or
 * LS_ENOMEM.  Integers beyond int64 are refused by the JSON parser.
 */
enum ls_rc lwm2m_senml_json_decode(const uint8_t *buf, size_t len,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_data *out,
                                   struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_senml_json_encode -- append in as a compact SenML JSON pack.
 *
 * The first record carries bn: base when every value lies below it (as
 * Anjay does), else the common prefix; names are the rest of the path
 * ("/7/0").  Integers and times are JSON integers, floats the shortest
 * text that reads back exactly, opaque base64url, objlnk "vlo", NONE a
 * name-only record; a pack of only NONE values (a Read-Composite path
 * list) has no bn and full names.  When every value has a time the first record carries
 * bt and the others a relative t; otherwise timed records carry absolute t.
 * model is unused (values are already typed).
 *
 * Unsigned values above INT64_MAX are written as JSON integers (valid
 * JSON), which the decoder above cannot read back: jansson stops at int64.
 *
 * Returns LS_OK, LS_EINVAL (NaN or infinite float, string that is not
 * UTF-8) or LS_ENOMEM; out keeps what was written before a failure.
 */
enum ls_rc lwm2m_senml_json_encode(const struct lwm2m_data *in,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_buf *out,
                                   struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_SENML_JSON_H */
