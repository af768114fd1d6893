/*
 * tests/fuzz/fuzz_cbor.c -- libFuzzer target for lwm2m/cbor.c
 *
 * Byte 0 picks a resource of each model type, or none (bit 4: no model);
 * the rest is the CBOR item.  What decodes must encode and decode again.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdlib.h>

#include "lwm2m/cbor.h"
#include "lwm2m/model.h"

static const struct lwm2m_path paths[] = {
    { { 3, 0, 0 }, 3 },       /* string */
    { { 3, 0, 9 }, 3 },       /* integer */
    { { 1, 0, 11 }, 3 },      /* unsigned */
    { { 3303, 0, 5700 }, 3 }, /* float */
    { { 1, 0, 6 }, 3 },       /* boolean */
    { { 3, 0, 13 }, 3 },      /* time */
    { { 3, 0, 22, 0 }, 4 },   /* objlnk */
    { { 5, 0, 0 }, 3 },       /* opaque */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lwm2m_model *model;
    if (!model)
        model = lwm2m_model_new(NULL);
    if (size < 1)
        return 0;
    const struct lwm2m_path *base = &paths[data[0] % 8];
    const struct lwm2m_model *m = (data[0] & 0x10) ? NULL : model;
    struct lwm2m_data d, again;
    struct lwm2m_buf out = { 0 };
    lwm2m_data_init(&d);
    lwm2m_data_init(&again);
    if (lwm2m_cbor_decode(data + 1, size - 1, base, m, &d, NULL) == LS_OK) {
        if (lwm2m_cbor_encode(&d, base, m, &out, NULL) != LS_OK ||
            lwm2m_cbor_decode(out.data, out.len, base, m, &again, NULL) != LS_OK)
            abort();
    }
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
    lwm2m_data_free(&again);
    return 0;
}
