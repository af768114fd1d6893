/*
 * tests/fuzz/fuzz_text.c -- libFuzzer target for lwm2m/text.c
 *
 * Byte 0 picks a resource of each model type (string, integer, unsigned,
 * float, boolean, time, objlnk, opaque as base64, unknown); the rest is
 * the text.  What decodes must encode and decode again (fuzz_codec.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/text.h"
#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fuzz_codec codec = { lwm2m_text_decode, lwm2m_text_encode,
                                             FUZZ_ENCODE_MUST_SUCCEED, NULL };
    static const size_t n = sizeof fuzz_codec_typed_paths / sizeof fuzz_codec_typed_paths[0];
    if (size < 1)
        return 0;
    fuzz_codec_round_trip(&codec, data + 1, size - 1, &fuzz_codec_typed_paths[data[0] % n],
                          fuzz_codec_model());
    return 0;
}
