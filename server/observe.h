/*
 * server/observe.h -- observations that outlive sessions and restarts
 *
 * In memory, on the loop thread: every live observation of the
 * registrations this instance holds, by token (the token the server put on
 * the Observe request, which the device repeats on every notification).
 * Each is persisted in the observations table through the store worker, so
 * that after a restart server_observe_load() finds them again and a device
 * that keeps notifying with the same token on a new session is still
 * recognised, stored and published.
 *
 * A notification is accepted only from the registration that owns the
 * token: the registration found by the session (DTLS identity) or, for
 * NoSec, by the source address (server_registry_by_address).  Accepted
 * notifications are decoded (their Content-Format, the observation's path as
 * base) into telemetry rows (source 'notify') plus one events row of kind
 * 'notification', written by the store worker in one transaction.
 *
 * Threads: every call on the loop thread (libcoap is not thread-safe).
 *
 * INTERFACE ROUTINES
 *   server_observe_new / _free
 *   server_observe_load          observations of the registrations held (start)
 *   server_observe_established   a 2.05 with Observe: persist + remember token
 *   server_observe_on_notify     an unclaimed response/notification
 *   server_observe_cancel        cancel_observe(_composite)
 *   server_observe_forget        the registration ended
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_OBSERVE_H
#define LODESTAR_SERVER_OBSERVE_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

struct runtime_loop;
struct store;
struct store_worker;
struct server_registry;
struct server_reg;
struct lwm2m_data;
struct server_observe;

/* Same type as server/devops.h's (C17 allows the identical redefinition),
 * so this header does not depend on devops.h. */
typedef void server_devops_done_fn(void *arg, unsigned http_status, const char *json);

/* Caller owns; free with server_observe_free().  loop, w, r borrowed: must
 * outlive the result. */
struct server_observe *server_observe_new(struct runtime_loop *loop, struct store_worker *w,
                                          struct server_registry *r, struct ls_error *err);

/* Forgets every observation (the rows stay), also those whose insert is
 * still queued: call after store_worker_stop (whose completions no longer
 * run).  NULL ok. */
void server_observe_free(struct server_observe *o);

/*
 * server_observe_load -- remember every stored observation whose
 * registration is in the registry (call after the registry was filled from
 * store_registrations_load).  s is used on the calling thread.
 */
enum ls_rc server_observe_load(struct server_observe *o, struct store *s,
                               struct ls_error *err) LS_MUST_CHECK;

/*
 * After a 2.05 carrying Observe for an observe/observe_composite command:
 * persist (observations row via the store worker) and remember the token;
 * done(arg, rc, id) after the commit, id = observations.id.
 * token, paths, attributes_json, first_values borrowed for the call (copied).
 * attributes_json may be NULL; first_values may be NULL (nothing stored),
 * else they are stored as the first telemetry of the observation.
 */
typedef void server_observe_done_fn(void *arg, enum ls_rc rc, int64_t id);
void server_observe_established(struct server_observe *o, struct server_reg *reg,
                                const uint8_t *token, size_t token_len,
                                const char *const *paths, size_t npaths, bool composite,
                                unsigned format, const char *attributes_json,
                                const struct lwm2m_data *first_values,
                                server_observe_done_fn *done, void *arg);

/*
 * A response/notification no pending request claimed.  true = a live
 * observation's notification (stored as telemetry, evented); false =
 * unknown (caller answers COAP_RESPONSE_FAIL: libcoap RSTs, which cancels
 * the observation on the device).
 */
bool server_observe_on_notify(struct server_observe *o, coap_session_t *s,
                              const coap_pdu_t *received);

/*
 * cancel_observe(_composite): drop row + memory; coap_cancel_observe on a
 * live session that holds libcoap's observe state, else passive (the next
 * notification gets RST).  done(arg, 200, {"coap":"2.05","cancelled":true})
 * or (404, not_found error JSON) when reg has no such observation; called
 * exactly once, on the loop thread, after the row is deleted.
 */
void server_observe_cancel(struct server_observe *o, struct server_reg *reg,
                           const char *const *paths, size_t npaths, bool composite,
                           server_devops_done_fn *done, void *arg);

/* The registration of endpoint ended (de-register, expiry, replaced by a
 * new Register): forget its observations (their rows cascade in the DB). */
void server_observe_forget(struct server_observe *o, const char *endpoint);

/* ---- beyond the contract: wiring (server.c) and statistics ---- */

struct lwm2m_model;
struct runtime_coap;
/* The object model notifications are decoded with (borrowed, may be NULL:
 * values untyped by their format become opaque). */
void server_observe_set_model(struct server_observe *o, const struct lwm2m_model *model);
/* Where NoSec sessions are found for an active cancel (borrowed). */
void server_observe_set_coap(struct server_observe *o, struct runtime_coap *coap);
/* Called for every accepted notification with its registration (queue
 * mode: server_commands_device_awake).  fn NULL clears. */
typedef void server_observe_activity_fn(void *arg, struct server_reg *reg);
void server_observe_set_activity(struct server_observe *o, server_observe_activity_fn *fn,
                                 void *arg);

/* How many observations are remembered (tests, /metrics). */
size_t server_observe_count(const struct server_observe *o);
/* Notifications stored (queued to the worker) and dropped (undecodable,
 * or shed because the store queue's telemetry share was full) since start.
 * Any thread (for /metrics). */
void server_observe_stats(const struct server_observe *o, uint64_t *accepted,
                          uint64_t *dropped);

/* The same, finer (/metrics): dropped = dropped_full (the store queue's
 * telemetry share was full: the notification was ACKed, not stored) +
 * dropped_undecodable; unknown = notifications and stray responses no
 * observation claimed (answered RST: the device's observation ends). */
struct server_observe_counters {
    uint64_t accepted, dropped_full, dropped_undecodable, unknown;
};
void server_observe_counters(const struct server_observe *o,
                             struct server_observe_counters *out);

#endif /* LODESTAR_SERVER_OBSERVE_H */
