/*
 * tests/fuzz/fuzz_tlv.c -- libFuzzer target for lwm2m/tlv.c
 *
 * Byte 0 picks the request path and whether a model types the values;
 * the rest is the TLV payload.  Whatever decodes must encode (when the
 * encoder accepts the values) and decode again: a failure there means the
 * encoder wrote something its own decoder rejects.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdlib.h>

#include "lwm2m/model.h"
#include "lwm2m/tlv.h"

static const uint16_t objects[] = { 3, 2, 0, 3303 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lwm2m_model *model;
    if (!model)
        model = lwm2m_model_new(NULL); /* built once; freed at exit */
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    static const uint16_t ids[4] = { 0, 0, 7, 1 };
    struct lwm2m_path base = { { objects[(sel >> 2) & 3], ids[1], ids[2], ids[3] },
                               (uint8_t)((sel & 3) + 1) };
    if (base.depth == 3 && (sel & 0x20))
        base.id[2] = 0;
    const struct lwm2m_model *m = (sel & 0x10) ? NULL : model;
    struct lwm2m_data d, again;
    struct lwm2m_buf out = { 0 };
    lwm2m_data_init(&d);
    lwm2m_data_init(&again);
    if (lwm2m_tlv_decode(data + 1, size - 1, &base, m, &d, NULL) == LS_OK &&
        lwm2m_tlv_encode(&d, &base, m, &out, NULL) == LS_OK &&
        lwm2m_tlv_decode(out.data, out.len, &base, m, &again, NULL) != LS_OK)
        abort();
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
    lwm2m_data_free(&again);
    return 0;
}
