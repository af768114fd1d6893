/*
 * lwm2m/api_json.h -- the REST API's JSON shape of LwM2M values
 *
 *   {"values":[{"path":"/3/0/0","type":"string","value":"x"},
 *              {"path":"/3/0/13","type":"time","value":1700000000,"time":1700000001.5}]}
 *
 * ARCHITECTURE.md "REST API" fixes the shape.  Value per type:
 *   string, corelnk  JSON string (invalid UTF-8 from a device is replaced by
 *                    U+FFFD when encoding; NUL bytes travel as \u0000)
 *   integer, time    JSON integer (time: seconds since the epoch)
 *   unsigned         JSON integer; above 9223372036854775807 a decimal string,
 *                    since JSON libraries (jansson, JavaScript) lose such values
 *   float            JSON number; NaN and infinities as the strings "NaN",
 *                    "Infinity", "-Infinity" (JSON has no literal for them)
 *   boolean          true / false
 *   opaque           standard base64 with padding (RFC 4648 section 4)
 *   objlnk           "3:0"
 *   none             "value" omitted (decoding also accepts null)
 * "time" (optional) is the SenML time of the value, epoch seconds.
 *
 * Strings in, strings out: json_t stays inside this file (jansson is an
 * implementation detail).  Pure: no I/O.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_API_JSON_H
#define LODESTAR_LWM2M_API_JSON_H

#include <stddef.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "runtime/err.h"

#define LWM2M_API_JSON_MAX_LEN (16u << 20)  /* bytes of JSON accepted */

/*
 * lwm2m_api_json_encode -- d as {"values":[...]}, compact, in d's order.
 *
 * Returns a NUL-terminated string the caller owns (free()), or NULL with err
 * set: LS_EINVAL (a value of unknown type), LS_ENOMEM.
 */
char *lwm2m_api_json_encode(const struct lwm2m_data *d, struct ls_error *err);

/*
 * lwm2m_api_json_decode -- parse {"values":[...]} into out.
 *
 * json, len  Borrowed for the call; need not be NUL-terminated.
 * model      Borrowed, may be NULL: types a value whose "type" is absent
 *            (then its path must be a resource the model knows).
 * out        Initialized by the call (any previous content is NOT freed);
 *            caller owns and frees with lwm2m_data_free(), also on failure
 *            (it is left empty then).
 *
 * Paths must be resource or resource-instance paths, except type "none",
 * which may also name an object instance (an empty instance, as in Create).
 * Unknown keys are ignored.  Returns LS_OK or LS_EINVAL whose message
 * starts with the offending path ("/3/0/9: expected integer, got string"),
 * or with "values[N]" when the path itself is missing or bad; malformed JSON
 * gives LS_EINVAL with line and column; LS_ENOMEM.
 */
enum ls_rc lwm2m_api_json_decode(const char *json, size_t len,
                                 const struct lwm2m_model *model,
                                 struct lwm2m_data *out,
                                 struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_API_JSON_H */
