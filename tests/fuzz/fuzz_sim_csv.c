/*
 * tests/fuzz/fuzz_sim_csv.c -- sim_csv_parse, lodestar-sim's reader of the
 * factory export CSV (tools/sim_csv.h)
 *
 * Any input must parse or fail cleanly with a message, never be read past
 * its end; what parses has a non-empty endpoint per row and keys whose
 * length matches their presence.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "tools/sim_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    /* a copy of exactly size bytes: ASan catches reads past the end */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    struct sim_csv c;
    struct ls_error err = { 0 };
    if (sim_csv_parse(text, size, &c, &err) != LS_OK) {
        if (!err.msg[0] || c.count || c.rows)
            abort();
    } else {
        for (size_t i = 0; i < c.count; i++) {
            const struct sim_csv_row *r = &c.rows[i];
            if (!r->endpoint[0] || (r->server.key_len == 0) != (r->server.key == NULL) ||
                (r->bootstrap.key_len == 0) != (r->bootstrap.key == NULL))
                abort();
        }
        sim_csv_free(&c);
    }
    free(text);
    return 0;
}
