/*
 * tests/fuzz/fuzz_sim_coap.c -- sim_coap_parse, the CoAP parser of
 * lodestar-sim (tools/sim_coap.h)
 *
 * Any datagram must parse or fail cleanly, and never be read past its end.
 * What parses is built again with the sim_coap builders (header, token,
 * options in order, payload) and must parse to the same message.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "tools/sim_coap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_coap_parsed p, q;
    if (sim_coap_parse(data, size, &p, NULL) != LS_OK)
        return 0;
    char joined[256];
    (void)sim_coap_join(&p, SIM_COAP_OPT_URI_PATH, '/', joined, sizeof joined);
    (void)sim_coap_uint(&p, SIM_COAP_OPT_OBSERVE, 0);
    struct sim_coap_msg *m = malloc(sizeof *m);
    if (!m)
        return 0;
    sim_coap_init(m, p.type, p.code, p.mid, p.token, p.token_len);
    for (size_t i = 0; i < p.noptions; i++)
        sim_coap_option(m, p.options[i].number, p.options[i].value, p.options[i].len);
    sim_coap_payload(m, p.payload, p.payload_len);
    if (!m->overflow) {
        if (sim_coap_parse(m->data, m->len, &q, NULL) != LS_OK)
            abort();   /* what the builders make parses */
        if (q.type != p.type || q.code != p.code || q.mid != p.mid ||
            q.token_len != p.token_len || memcmp(q.token, p.token, p.token_len) != 0 ||
            q.noptions != p.noptions || q.payload_len != p.payload_len)
            abort();
        for (size_t i = 0; i < p.noptions; i++)
            if (q.options[i].number != p.options[i].number ||
                q.options[i].len != p.options[i].len ||
                memcmp(q.options[i].value, p.options[i].value, p.options[i].len) != 0)
                abort();
    }
    free(m);
    return 0;
}
