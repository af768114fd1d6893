/*
 * server/send.h -- the LwM2M Send operation (POST /dp, LwM2M 1.1+)
 *
 * A registered device reports values unasked: SenML JSON (110), SenML CBOR
 * (112) or LwM2M CBOR (11544).  They are stored as telemetry (source
 * 'send') with one events row of kind 'send', and the 2.04 leaves only
 * after the commit (libcoap async separate response, as for Register).
 * 4.00 for a malformed payload or another format, 4.04 when the sender is
 * not registered (server/ingest.h says how it is found), 5.03 when the
 * store queue is full or the database is away.
 *
 * INTERFACE ROUTINES
 *   server_send_new / _free
 *   server_send_attach           add the "dp" resource
 *   server_send_set_model        object model for untyped values
 *   server_send_set_activity     called per accepted Send (queue mode)
 *   server_send_set_identities   PSK identity -> endpoint (fresh DTLS sessions)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_SEND_H
#define LODESTAR_SERVER_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

struct lwm2m_model;
struct runtime_coap;
struct runtime_loop;
struct server_registry;
struct server_reg;
struct server_send;
struct store_worker;

/* Caller owns; loop, w, r borrowed (must outlive it). */
struct server_send *server_send_new(struct runtime_loop *loop, struct store_worker *w,
                                    struct server_registry *r, struct ls_error *err);

/* Sends still waiting for their commit get no answer (the device
 * retransmits).  Call after store_worker_stop, before runtime_coap_free.
 * NULL ok. */
void server_send_free(struct server_send *s);

/* Adds the "dp" resource to coap's context.  Once, before the loop runs. */
enum ls_rc server_send_attach(struct server_send *s, struct runtime_coap *coap,
                              struct ls_error *err) LS_MUST_CHECK;

void server_send_set_model(struct server_send *s, const struct lwm2m_model *model);

typedef void server_send_activity_fn(void *arg, struct server_reg *reg);
void server_send_set_activity(struct server_send *s, server_send_activity_fn *fn, void *arg);

/*
 * A Send on a DTLS session no registration holds yet (the device's first
 * message after a server restart, or after it re-handshook) is the
 * registration's whose endpoint fn maps the session's PSK identity to (the
 * credential table: server_registration_psk_endpoint), provided that
 * registration was made with that identity; the session is then bound to
 * it, as an Update would.  Without fn such a Send gets 4.04 (RPK and
 * X.509 sessions carry their endpoint themselves).
 */
typedef const char *server_send_identity_fn(void *arg, const uint8_t *identity,
                                            size_t identity_len);
void server_send_set_identities(struct server_send *s, server_send_identity_fn *fn, void *arg);

/* Sends answered 2.04 / refused (4.xx, 5.xx) since start.  Any thread. */
void server_send_stats(const struct server_send *s, uint64_t *stored, uint64_t *refused);

#endif /* LODESTAR_SERVER_SEND_H */
