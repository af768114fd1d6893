/*
 * tests/fuzz/fuzz_api_json.c -- lwm2m_api_json_decode / _encode
 *
 * Any input must decode or fail cleanly; what decodes must encode, and the
 * encoding must decode again to the same number of values.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "lwm2m/api_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lwm2m_model *model;
    struct lwm2m_data d, again;
    if (!model && !(model = lwm2m_model_new(NULL)))
        abort();
    if (lwm2m_api_json_decode((const char *)data, size, model, &d, NULL) != LS_OK) {
        lwm2m_data_free(&d);
        return 0;
    }
    char *s = lwm2m_api_json_encode(&d, NULL);
    if (!s)
        abort();
    if (lwm2m_api_json_decode(s, strlen(s), NULL, &again, NULL) != LS_OK)
        abort();   /* our own output always decodes, even without a model */
    if (again.count != d.count)
        abort();
    lwm2m_data_free(&again);
    free(s);
    lwm2m_data_free(&d);
    return 0;
}
