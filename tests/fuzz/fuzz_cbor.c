/*
 * tests/fuzz/fuzz_cbor.c -- libFuzzer target for lwm2m/cbor.c
 *
 * Byte 0 picks a resource of each model type, or none (bit 4: no model);
 * the rest is the CBOR item.  What decodes must encode and decode again
 * (fuzz_codec.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/cbor.h"
#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fuzz_codec codec = { lwm2m_cbor_decode, lwm2m_cbor_encode,
                                             FUZZ_ENCODE_MUST_SUCCEED, NULL };
    if (size < 1)
        return 0;
    /* The eight typed resources; the unknown one is text's case. */
    const struct lwm2m_path *base = &fuzz_codec_typed_paths[data[0] % 8];
    const struct lwm2m_model *m = (data[0] & 0x10) ? NULL : fuzz_codec_model();
    fuzz_codec_round_trip(&codec, data + 1, size - 1, base, m);
    return 0;
}
