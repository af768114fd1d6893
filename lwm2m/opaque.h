/*
 * lwm2m/opaque.h -- opaque codec (content format 42, octet-stream)
 *
 * The payload is the raw bytes of one resource or resource instance
 * (LwM2M Core 1.2 §7.4.2), typically a firmware package or a certificate.
 * Pure: no I/O, clock, logging or globals.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_OPAQUE_H
#define LODESTAR_LWM2M_OPAQUE_H

#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/*
 * lwm2m_opaque_decode -- append one LWM2M_TYPE_OPAQUE value at base
 * holding a copy of buf.  base must be /o/i/r or /o/i/r/ri (LS_EINVAL).
 * model may be NULL.  When the model types the resource as something
 * other than opaque the payload is refused (LS_EPROTO): Core §7.4.2 only
 * allows this format for opaque resources.  Returns LS_ENOMEM on
 * allocation failure.
 */
enum ls_rc lwm2m_opaque_decode(const uint8_t *buf, size_t len,
                               const struct lwm2m_path *base,
                               const struct lwm2m_model *model,
                               struct lwm2m_data *out,
                               struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_opaque_encode -- append the bytes of the one OPAQUE value in `in`,
 * whose path must equal base.  Any other count, path or type is LS_EINVAL.
 */
enum ls_rc lwm2m_opaque_encode(const struct lwm2m_data *in,
                               const struct lwm2m_path *base,
                               const struct lwm2m_model *model,
                               struct lwm2m_buf *out,
                               struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_OPAQUE_H */
