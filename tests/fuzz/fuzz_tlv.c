/*
 * tests/fuzz/fuzz_tlv.c -- libFuzzer target for lwm2m/tlv.c
 *
 * Byte 0 picks the request path and whether a model types the values;
 * the rest is the TLV payload.  Whatever decodes must encode (when the
 * encoder accepts the values) and decode again: a failure there means the
 * encoder wrote something its own decoder rejects (fuzz_codec.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/tlv.h"
#include "fuzz_codec.h"

static const uint16_t objects[] = { 3, 2, 0, 3303 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fuzz_codec codec = { lwm2m_tlv_decode, lwm2m_tlv_encode,
                                             FUZZ_ENCODE_MAY_FAIL, NULL };
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    static const uint16_t ids[4] = { 0, 0, 7, 1 };
    struct lwm2m_path base = { { objects[(sel >> 2) & 3], ids[1], ids[2], ids[3] },
                               (uint8_t)((sel & 3) + 1) };
    if (base.depth == 3 && (sel & 0x20))
        base.id[2] = 0;
    const struct lwm2m_model *m = (sel & 0x10) ? NULL : fuzz_codec_model();
    fuzz_codec_round_trip(&codec, data + 1, size - 1, &base, m);
    return 0;
}
