/*
 * server/ingest.h -- device data that becomes telemetry (notify, Send)
 *
 * What server/observe.c (notifications) and server/send.c (Send) share:
 * finding the registration a datagram came from, and turning a payload
 * into telemetry rows plus one event through the store worker.
 *
 * Who sent it.  A DTLS session is the device's authenticated identity: the
 * registration holding the session, else (a new session, e.g. after a
 * server restart, before the device's next Update) the registration of the
 * expected endpoint when the session's PSK identity / certificate CN /
 * raw-key binding is that registration's.  A NoSec datagram is the
 * device's by its source address (server_registry_by_address), as for an
 * Update; NoSec proves nothing more than that.
 *
 * Loop thread only.
 *
 * INTERFACE ROUTINES
 *   server_ingest_sender    the registration a session speaks for
 *   server_ingest_store     decode, queue telemetry + event
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_INGEST_H
#define LODESTAR_SERVER_INGEST_H

#include <coap3/coap.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"
#include "store/registrations.h"

struct lwm2m_data;
struct lwm2m_model;
struct lwm2m_path;
struct server_registry;
struct server_reg;
struct store_worker;

/*
 * The registration s speaks for, or NULL.  expected (may be NULL): the
 * endpoint the caller expects (an observation's), which lets a DTLS session
 * that no registration holds yet be matched by its identity.
 */
struct server_reg *server_ingest_sender(struct server_registry *r, coap_session_t *s,
                                        const char *expected);

/*
 * server_ingest_detail -- the event detail for values:
 * {<head>"values":[...]} where head is "" or members ending with ','
 * ("\"path\":\"/3/0\",\"observation\":7,").  Caller owns (free()).
 * NULL with err set on ENOMEM / a value that cannot be encoded.
 */
char *server_ingest_detail(const char *head, const struct lwm2m_data *values,
                           struct ls_error *err);

/*
 * server_ingest_store -- queue telemetry rows for values (source "notify" or
 * "send") and one event (kind "notification" or "send") whose detail is
 * server_ingest_detail(head, values).  done(arg, ...) after the commit (may
 * be NULL).  LS_ENOMEM when the worker's queue is full.
 */
enum ls_rc server_ingest_store(struct store_worker *w, const char *endpoint, const char *source,
                               const char *kind, const char *head,
                               const struct lwm2m_data *values, store_worker_done_fn *done,
                               void *arg, struct ls_error *err) LS_MUST_CHECK;

/* The Content-Format option of pdu, or dflt when absent. */
unsigned server_ingest_format(const coap_pdu_t *pdu, unsigned dflt);

/* Writes s as a JSON string (quotes included) into buf of cap bytes;
 * paths and endpoint names only need the escapes of '"', '\\' and controls.
 * false when it does not fit. */
bool server_ingest_json_string(const char *s, char *buf, size_t cap);

#endif /* LODESTAR_SERVER_INGEST_H */
