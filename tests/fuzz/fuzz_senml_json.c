/*
 * tests/fuzz/fuzz_senml_json.c -- libFuzzer target for SenML JSON (lwm2m/senml_json.c)
 *
 * The whole input is the payload.  It is decoded with and without the
 * built-in model; whatever decodes must encode (unless the encoder
 * refuses the values with LS_EINVAL, e.g. two values at one path) and the
 * encoding must decode again with the same model (fuzz_codec.h).
 * Exception: unsigned values above INT64_MAX are written as JSON
 * integers, which jansson refuses to read (documented in the header).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/senml_json.h"
#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fuzz_codec codec = { lwm2m_senml_json_decode, lwm2m_senml_json_encode,
                                             FUZZ_ENCODE_MAY_EINVAL,
                                             fuzz_codec_has_huge_unsigned };
    fuzz_codec_multi(&codec, data, size);
    return 0;
}
