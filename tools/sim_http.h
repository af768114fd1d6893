/*
 * tools/sim_http.h -- one blocking HTTP/1.1 request to the Lodestar REST
 * API, for the simulator's observe trigger (POST .../observe)
 *
 * Connection: close, Content-Length bodies, a deadline on every step.  The
 * answer's body is not kept: the status line is what the simulator needs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_HTTP_H
#define LODESTAR_TOOLS_SIM_HTTP_H

#include <stdint.h>
#include <netinet/in.h>

#include "runtime/err.h"

/* Parses "http://127.0.0.1:8080" (IPv4, optional trailing slash). */
enum ls_rc sim_http_parse_base(const char *url, struct sockaddr_in *out,
                               struct ls_error *err) LS_MUST_CHECK;

/*
 * sim_http_request -- method path with a bearer token and an optional JSON
 * body; *status gets the HTTP status.  LS_EIO / LS_ETRANSIENT (deadline)
 * when no answer came.
 */
enum ls_rc sim_http_request(const struct sockaddr_in *to, const char *method, const char *path,
                            const char *token, const char *body, int64_t timeout_ms,
                            int *status, struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_TOOLS_SIM_HTTP_H */
