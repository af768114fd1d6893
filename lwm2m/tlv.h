/*
 * lwm2m/tlv.h -- OMA-TLV codec (LwM2M Core 1.2 §7.4.3, content formats
 * 11542 and the pre-IANA 1542)
 *
 * TLV carries IDs but no types and no object ID, so decoding resolves every
 * record against the request path and types the value bytes from the model.
 * Pure: no I/O, clock, logging or globals.  Input is hostile: malformed
 * bytes give LS_EPROTO and nothing is read outside [buf, buf + len).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_TLV_H
#define LODESTAR_LWM2M_TLV_H

#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/* Identifier kind: bits 7-6 of the TLV type byte (Core Table 7.4.3-1). */
enum lwm2m_tlv_kind {
    LWM2M_TLV_OBJECT_INSTANCE = 0,
    LWM2M_TLV_RESOURCE_INSTANCE = 1,
    LWM2M_TLV_MULTIPLE_RESOURCE = 2,
    LWM2M_TLV_RESOURCE = 3,
};

/* A 24-bit length field caps one TLV value at 16 MiB - 1. */
#define LWM2M_TLV_MAX_LEN 0xFFFFFFu

/*
 * lwm2m_tlv_decode -- parse a TLV payload into values appended to out.
 *
 * buf, len  Borrowed; bytes values are copied into out's arena.
 * base      The request path, depth 1..4: /o gives object-instance TLVs,
 *           /o/i resource TLVs, /o/i/r a multiple-resource TLV (or bare
 *           resource-instance TLVs), /o/i/r/ri one resource-instance TLV.
 *           An ID that contradicts base is LS_EPROTO.
 * model     May be NULL; without a definition a value is LWM2M_TYPE_OPAQUE
 *           holding the raw bytes.
 * out       Caller-initialised; values are appended in payload order.  On
 *           failure values already appended stay (the caller frees out).
 *
 * Empty object instances and empty multiple resources become
 * LWM2M_TYPE_NONE values at their path.  Returns LS_OK, LS_EINVAL (base),
 * LS_EPROTO (malformed, wrong nesting, wrong width for the model type) or
 * LS_ENOMEM.
 */
enum ls_rc lwm2m_tlv_decode(const uint8_t *buf, size_t len,
                            const struct lwm2m_path *base,
                            const struct lwm2m_model *model,
                            struct lwm2m_data *out,
                            struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_tlv_encode -- append the TLV form of in's values to out.
 *
 * in     Every value must lie at or below base; it need not be sorted
 *        (an unsorted array is sorted in a temporary copy).
 * base   Depth 1..4.  Under /o values are wrapped in object-instance TLVs;
 *        under /o/i or deeper they are not (Core §7.4.3 examples).
 * model  Unused by the encoder (TLV is typed by the value); may be NULL.
 *
 * Integers take the smallest of 1, 2, 4, 8 bytes; floats 4 bytes when
 * exactly representable, else 8.  A NONE value at /o/i is an empty
 * object-instance TLV, at /o/i/r an empty multiple-resource TLV.
 * Returns LS_OK, LS_EINVAL (value outside base, bad base) or LS_ENOMEM
 * (out of memory, or a record longer than LWM2M_TLV_MAX_LEN).
 */
enum ls_rc lwm2m_tlv_encode(const struct lwm2m_data *in,
                            const struct lwm2m_path *base,
                            const struct lwm2m_model *model,
                            struct lwm2m_buf *out,
                            struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_TLV_H */
