/*
 * tests/fuzz/fuzz_reg_query.c -- registration_params_parse
 * (server/registration_params.c), the Register/Update query parser
 *
 * The first byte picks Register or Update; the rest is split at NUL bytes
 * into Uri-Query options, as libcoap would hand them over (not
 * NUL-terminated).  Whatever parses must hold NUL-terminated fields within
 * their limits; every failure must say why.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "server/registration_params.h"

#define FUZZ_REG_QUERY_MAX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits data at NUL bytes into at most FUZZ_REG_QUERY_MAX options. */
static size_t fuzz_reg_query_split(const uint8_t *data, size_t size,
                                   struct registration_query *q)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < FUZZ_REG_QUERY_MAX; i++) {
        if (i == size || data[i] == 0) {
            q[n].text = (const char *)data + start;
            q[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum registration_request kind = data[0] & 1 ? REGISTRATION_UPDATE : REGISTRATION_REGISTER;
    struct registration_query q[FUZZ_REG_QUERY_MAX];
    size_t n = fuzz_reg_query_split(data + 1, size - 1, q);
    struct registration_params p;
    struct ls_error err = { 0 };
    if (registration_params_parse(kind, q, n, &p, &err) == LS_OK) {
        if (strnlen(p.endpoint, sizeof p.endpoint) == sizeof p.endpoint ||
            strnlen(p.version, sizeof p.version) == sizeof p.version ||
            strnlen(p.binding, sizeof p.binding) == sizeof p.binding ||
            strnlen(p.sms, sizeof p.sms) == sizeof p.sms ||
            strnlen(p.pid, sizeof p.pid) == sizeof p.pid)
            abort();
        if (kind == REGISTRATION_REGISTER && (!p.endpoint[0] || p.lifetime_s < 0))
            abort();
    } else if (!err.msg[0]) {
        abort();   /* every failure says why */
    }
    return 0;
}
