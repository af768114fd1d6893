/*
 * lwm2m/text.h -- plain text codec (content format 0, text/plain)
 *
 * One resource (or resource instance) value as text, LwM2M Core 1.2
 * §7.4.1: numbers in decimal, booleans "0"/"1", object links "3:0",
 * opaque in base64 (RFC 4648 §4, padded).  The text carries no type, so
 * decoding asks the model; without a definition the value is a STRING.
 * Pure: no I/O, clock, logging or globals.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_TEXT_H
#define LODESTAR_LWM2M_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/*
 * lwm2m_text_decode -- parse buf as the value of the resource at base.
 *
 * base   /o/i/r or /o/i/r/ri, else LS_EINVAL.
 * model  May be NULL (value becomes STRING).
 * out    Caller-initialised; one value is appended at base.
 *
 * Returns LS_OK, LS_EINVAL (base), LS_EPROTO (text that is not a valid
 * value of the model type: "12a" for an integer, "2" for a boolean, bad
 * base64, an integer out of range) or LS_ENOMEM.
 */
enum ls_rc lwm2m_text_decode(const uint8_t *buf, size_t len,
                             const struct lwm2m_path *base,
                             const struct lwm2m_model *model,
                             struct lwm2m_data *out,
                             struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_text_encode -- append the text form of the one value in `in`.
 *
 * in must hold exactly one value whose path equals base; NONE values and
 * non-finite floats cannot be written as text (LS_EINVAL).  Floats use the
 * shortest of %.15g/%.16g/%.17g that reads back to the same double.
 * model is unused (the value carries its type); may be NULL.
 */
enum ls_rc lwm2m_text_encode(const struct lwm2m_data *in,
                             const struct lwm2m_path *base,
                             const struct lwm2m_model *model,
                             struct lwm2m_buf *out,
                             struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_TEXT_H */
