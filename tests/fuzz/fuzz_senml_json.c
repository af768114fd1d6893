/*
 * tests/fuzz/fuzz_senml_json.c -- libFuzzer target for SenML JSON (lwm2m/senml_json.c)
 *
 * The whole input is the payload.  It is decoded with and without the
 * built-in model; whatever decodes must encode (unless the encoder
 * refuses the values with LS_EINVAL, e.g. two values at one path) and the
 * encoding must decode again with the same model: a failure there means
 * the encoder wrote something its own decoder rejects.  Exception:
 * unsigned values above INT64_MAX are written as JSON integers, which
 * jansson refuses to read (documented in the header).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lwm2m/model.h"
#include "lwm2m/senml_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_huge_unsigned(const struct lwm2m_data *d)
{
    for (size_t k = 0; k < d->count; k++)
        if (d->values[k].type == LWM2M_TYPE_UNSIGNED && d->values[k].v.u > INT64_MAX)
            return true;
    return false;
}

static void round_trip(const uint8_t *data, size_t size, const struct lwm2m_model *m)
{
    struct lwm2m_path base = lwm2m_path_instance(3, 0);
    struct lwm2m_data d, again;
    struct lwm2m_buf out = { 0 };
    lwm2m_data_init(&d);
    lwm2m_data_init(&again);
    if (lwm2m_senml_json_decode(data, size, &base, m, &d, NULL) == LS_OK) {
        enum ls_rc rc = lwm2m_senml_json_encode(&d, &base, m, &out, NULL);
        if (rc != LS_OK && rc != LS_EINVAL)
            abort();
        if (rc == LS_OK && !has_huge_unsigned(&d) &&
            lwm2m_senml_json_decode(out.data, out.len, &base, m, &again, NULL) != LS_OK)
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
