/*
 * tests/fuzz/fuzz_bs_csv.c -- the bulk-import CSV reader of web/bootstrap.c
 * (web_bootstrap_csv_items) on arbitrary bytes
 *
 * Invariants checked: either a list comes back with one line number per
 * item, each line within the input's line count and never decreasing, and
 * every item an object with a string "endpoint"; or NULL with a non-empty
 * message and no line array.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web/web_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char msg[256];
    size_t *lines = (size_t *)1;
    json_t *items = web_bootstrap_csv_items((const char *)data, size, &lines, msg, sizeof msg);
    if (!items) {
        if (lines || !msg[0])
            abort();
        return 0;
    }
    size_t nl = 1;
    for (size_t i = 0; i < size; i++)
        nl += data[i] == '\n';
    size_t i, prev = 1;
    json_t *item;
    json_array_foreach(items, i, item) {
        if (!json_is_object(item) || !json_is_string(json_object_get(item, "endpoint")))
            abort();
        if (lines[i] <= prev || lines[i] > nl)
            abort();
        prev = lines[i];
    }
    free(lines);
    json_decref(items);
    return 0;
}
