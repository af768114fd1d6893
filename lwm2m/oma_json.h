/*
 * lwm2m/oma_json.h -- OMA LwM2M JSON codec (LwM2M 1.0/1.1, content-formats
 *                     11543 and the pre-IANA 1543)
 *
 * {"bn":"/3/0/","bt":..,"e":[{"n":"0","sv":"x"},{"n":"7/0","v":3800},
 *  {"n":"..","bv":true},{"n":"..","ov":"3:0"}]}: the LwM2M 1.0 ancestor
 * of SenML JSON, with the same name rule (bn + n, both styles occur) and
 * time rule (bt + t).  Opaque values travel as base64 in "sv"; the model
 * tells them apart from strings.  Pure: no I/O, clock or logging.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_OMA_JSON_H
#define LODESTAR_LWM2M_OMA_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/*
 * lwm2m_oma_json_decode -- parse an OMA JSON payload and append its values.
 *
 * base      Request path, used only for an entry with an empty name; may
 *           be NULL.
 * model     Types values (may be NULL): "v" is FLOAT unless the model says
 *           integer, unsigned or time (exact conversion only); "sv" is
 *           STRING, or OPAQUE (base64-decoded) or CORELNK per the model.
 * out       Initialised by the caller; on failure values already appended
 *           stay.
 *
 * Returns LS_OK, LS_EPROTO (not JSON, wrong shape or label types, a name
 * that is not a path, a value the model refuses) or LS_ENOMEM.
 */
enum ls_rc lwm2m_oma_json_decode(const uint8_t *buf, size_t len,
                                 const struct lwm2m_path *base,
                                 const struct lwm2m_model *model,
                                 struct lwm2m_data *out,
                                 struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_oma_json_encode -- append in as compact OMA JSON: "bn" as for SenML
 * (base when every value lies below it, else the common prefix), "bt" when
 * every value has a time, then "e" with n, t and one of v, bv, ov, sv
 * (opaque as standard base64).  A NONE value is an entry with only "n".
 *
 * Unsigned values above INT64_MAX are written as JSON integers (valid
 * JSON), which the decoder above cannot read back: jansson stops at int64.
 *
 * Returns LS_OK, LS_EINVAL (NaN or infinite float, string that is not
 * UTF-8) or LS_ENOMEM.
 */
enum ls_rc lwm2m_oma_json_encode(const struct lwm2m_data *in,
                                 const struct lwm2m_path *base,
                                 const struct lwm2m_model *model,
                                 struct lwm2m_buf *out,
                                 struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_OMA_JSON_H */
