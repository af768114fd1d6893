/*
 * tests/fuzz/fuzz_telemetry_time.c -- the since/until parser of
 * GET /api/devices/{ep}/telemetry (web_telemetry_parse_time) on arbitrary
 * text
 *
 * Invariants checked: an accepted time lies between 0000-01-01 and
 * 9999-12-31T23:59:61 (+/- a day of offset), and parsing is deterministic.
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
    if (size > 256)
        return 0;
    char s[257];
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t a = 0, b = 0;
    bool ok = web_telemetry_parse_time(s, &a);
    if (ok != web_telemetry_parse_time(s, &b) || (ok && a != b))
        abort();
    if (ok && (a < -62167305600LL * 1000000 || a > 253402387201LL * 1000000))
        abort();
    return 0;
}
