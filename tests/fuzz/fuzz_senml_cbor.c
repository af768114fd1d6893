/*
 * tests/fuzz/fuzz_senml_cbor.c -- libFuzzer target for SenML CBOR (lwm2m/senml_cbor.c)
 *
 * The whole input is the payload.  It is decoded with and without the
 * built-in model; whatever decodes must encode (unless the encoder
 * refuses the values with LS_EINVAL, e.g. two values at one path) and the
 * encoding must decode again with the same model: a failure there means
 * the encoder wrote something its own decoder rejects.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdlib.h>

#include "lwm2m/model.h"
#include "lwm2m/senml_cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const uint8_t *data, size_t size, const struct lwm2m_model *m)
{
    struct lwm2m_path base = lwm2m_path_instance(3, 0);
    struct lwm2m_data d, again;
    struct lwm2m_buf out = { 0 };
    lwm2m_data_init(&d);
    lwm2m_data_init(&again);
    if (lwm2m_senml_cbor_decode(data, size, &base, m, &d, NULL) == LS_OK) {
        enum ls_rc rc = lwm2m_senml_cbor_encode(&d, &base, m, &out, NULL);
        if (rc != LS_OK && rc != LS_EINVAL)
            abort();
        if (rc == LS_OK &&
            lwm2m_senml_cbor_decode(out.data, out.len, &base, m, &again, NULL) != LS_OK)
            abort();
    }
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
    lwm2m_data_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lwm2m_model *model;
    if (!model)
        model = lwm2m_model_new(NULL); /* built once; freed at exit */
    round_trip(data, size, model);
    round_trip(data, size, NULL);
    return 0;
}
