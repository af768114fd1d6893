/*
 * server/registration_params.h -- Registration-interface query parameters
 *
 * Parses and validates the Uri-Query options of Register (POST /rd) and
 * Update (POST /rd/{id}) as Transport TS 1.2 "Registration Interface" lists
 * them: ep, lt, lwm2m, b, Q, sms, pid (Register) and lt, b, Q, sms (Update).
 * Pure: no I/O.  A failure's code says which CoAP answer to give:
 * LS_EINVAL -> 4.00 Bad Request, LS_EUNSUPPORTED -> 4.12 Precondition
 * Failed (an LwM2M version this server does not speak).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_REGISTRATION_PARAMS_H
#define LODESTAR_SERVER_REGISTRATION_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

#define REGISTRATION_ENDPOINT_MAX 255   /* bytes of an endpoint name */
#define REGISTRATION_DEFAULT_LIFETIME_S 86400

enum registration_request { REGISTRATION_REGISTER, REGISTRATION_UPDATE };

/* One Uri-Query option as it came off the wire (not NUL-terminated). */
struct registration_query {
    const char *text;
    size_t len;
};

struct registration_params {
    char endpoint[REGISTRATION_ENDPOINT_MAX + 1]; /* "" when absent */
    char version[4];        /* "1.0", "1.1", "1.2"; "" when absent (Update) */
    int64_t lifetime_s;     /* -1 when absent (Update); 0 = no expiry (1.2) */
    char binding[8];        /* e.g. "U", "UQ", "S"; "" when absent */
    bool queue;             /* Q given, or Q in a 1.0 binding */
    bool has_queue;         /* Q given in this request */
    char sms[32];           /* MSISDN; "" when absent */
    char pid[128];          /* 1.2 Profile ID; "" when absent */
};

/*
 * registration_params_parse -- validate the query options of one request.
 *
 * For REGISTRATION_REGISTER absent parameters get their defaults (lt 86400,
 * lwm2m 1.0, b U); for REGISTRATION_UPDATE they stay absent.  Refused with
 * LS_EINVAL (4.00): a missing ep on Register, an unknown or repeated
 * parameter, ep or pid on Update, a malformed value.  lwm2m on Update is
 * parsed (some 1.0 clients repeat it); the caller compares it with the
 * registration's version.  Refused with
 * LS_EUNSUPPORTED (4.12): an lwm2m version other than 1.0, 1.1, 1.2.
 */
enum ls_rc registration_params_parse(enum registration_request kind,
                                     const struct registration_query *q,
                                     size_t n, struct registration_params *out,
                                     struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_SERVER_REGISTRATION_PARAMS_H */
