/*
 * server/registration.h -- the LwM2M Registration interface over CoAP
 *
 * Register (POST /rd), Update (POST /rd/{id}) and De-register (DELETE
 * /rd/{id}) as Transport TS 1.2 "Registration Interface" specifies them,
 * durable: each change is committed to Postgres by the store worker before
 * its 2.01 / 2.04 / 2.02 is sent, and the in-memory registry follows the
 * commit.  Lifetime expiry de-registers through the same worker.
 *
 * INTERFACE ROUTINES
 *   server_registration_new / _free      state: registry, credentials, ops
 *   server_registration_attach           add the /rd resources to libcoap
 *   server_registration_load             fill the registry from Postgres
 *   server_registration_set_credentials  swap in a new PSK table
 *   server_registration_set_observe      who forgets observations (OBS)
 *   server_registration_psk / _rpk       runtime_coap_psk_fn / _rpk_fn
 *   server_registration_session_gone     runtime_coap_session_fn
 *   server_registration_stats            counters for /metrics
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_REGISTRATION_H
#define LODESTAR_SERVER_REGISTRATION_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

struct runtime_coap;
struct runtime_credcache;
struct runtime_loop;
struct store;
struct store_worker;
struct server_registration;
struct server_credlookup;

struct server_registration_options {
    struct runtime_loop *loop;      /* borrowed; the CoAP loop */
    struct store_worker *worker;    /* borrowed; must outlive pending ops */
    const char *instance_id;        /* borrowed (copied) */
    const char *coap_address;       /* borrowed (copied); --coap as configured, may be
                                       NULL: an instance that recorded the same address
                                       is this one restarted (its devices are claimed) */
    /* Issue 10 (abuse): limits on unauthenticated (NoSec) Registers. */
    unsigned reg_rate_limit;        /* per source address per second; 0 = no limit */
    unsigned reg_rate_burst;        /* tokens per address at most; 0 = reg_rate_limit */
    unsigned nosec_max;             /* live NoSec registrations at most; 0 = no cap */
    /* A PSK identity the cache misses is looked up here before it is
     * refused (server/credlookup.h); borrowed, may be NULL. */
    struct server_credlookup *credlookup;
};

struct server_registration *server_registration_new(const struct server_registration_options *o,
                                                    struct ls_error *err);

/* Frees the registry (releasing sessions), the credential table and every
 * operation still waiting for the worker (their devices get no answer and
 * will retransmit).  Call after store_worker_stop and before
 * runtime_coap_free.  NULL ok. */
void server_registration_free(struct server_registration *g);

/* Adds the "rd" resource and the unknown-resource handler (rd/{id}) to the
 * context of coap.  Once, before the loop runs. */
enum ls_rc server_registration_attach(struct server_registration *g, struct runtime_coap *coap,
                                      struct ls_error *err) LS_MUST_CHECK;

/* Claims the registrations no live instance holds (or that an instance
 * with the same coap_address held: a restart; store/commands.h), loads
 * those this instance holds and arms their lifetimes; expired ones are
 * de-registered soon after.  Without an instance id: every registration. */
enum ls_rc server_registration_load(struct server_registration *g, struct store *s,
                                    size_t *loaded_out, struct ls_error *err) LS_MUST_CHECK;

struct server_observe;
/* Tells o (borrowed, may be NULL) when a registration ends (de-register,
 * expiry, replaced by a new Register): server_observe_forget.  Loop thread,
 * before the loop runs. */
void server_registration_set_observe(struct server_registration *g, struct server_observe *o);

struct server_commands;
/* Tells c (borrowed, may be NULL) after each committed Register and Update:
 * server_commands_device_awake (queue mode).  Loop thread, before the loop
 * runs.  Added in issue 5 (QUEUE). */
void server_registration_set_commands(struct server_registration *g, struct server_commands *c);

struct server_registry;
/* The registry (borrowed; lives as long as g).  Loop thread.  Added in
 * issue 5 for device operations, observe and commands (server.c wiring). */
struct server_registry *server_registration_registry(struct server_registration *g);

/* Replaces the PSK table (consumes table; the old one is freed).  Loop
 * thread, never inside a handshake. */
void server_registration_set_credentials(struct server_registration *g,
                                         struct runtime_credcache *table);

/* Applies the credential watcher's delta to the PSK table in place, ending
 * the registrations made with an identity it drops or rebinds (same rule
 * as set_credentials).  Loop thread; the caller frees delta. */
struct runtime_credcache_delta;
void server_registration_apply_credentials(struct server_registration *g,
                                           struct runtime_credcache_delta *delta);

/* runtime_coap_psk_fn over the current table. */
bool server_registration_psk(void *g, const uint8_t *identity, size_t identity_len,
                             const uint8_t **key, size_t *key_len);

/* The endpoint a live PSK identity is bound to in the current table, or
 * NULL (revoked, unknown, or a raw public key entry).  Borrowed until the
 * next credential change; loop thread (Send on a session no registration
 * holds yet: server/send.c). */
const char *server_registration_psk_endpoint(void *g, const uint8_t *identity,
                                             size_t identity_len);

/* runtime_coap_rpk_fn over the current table. */
const char *server_registration_rpk(void *g, const uint8_t *spki, size_t spki_len);
/* Issue 7 (runtime_coap_x509_fn): false for the certificate of a revoked
 * X.509 credential, or an issued one presented with another CN. */
bool server_registration_x509(void *g, const char *cn, const uint8_t *der, size_t der_len);

/* runtime_coap_session_fn: forget a session that dies. */
void server_registration_session_gone(void *g, coap_session_t *s);

struct server_registration_stats {
    uint64_t registrations;     /* Register answered 2.01 */
    uint64_t updates;           /* Update answered 2.04 */
    uint64_t deregistrations;   /* De-register answered 2.02 */
    uint64_t expiries;          /* lifetimes that ran out */
    uint64_t refused;           /* 4.xx and 5.xx answers */
    uint64_t current;           /* registrations held now */
    uint64_t pending;           /* operations waiting for a commit */
    /* Issue 10 (abuse). */
    uint64_t refused_rate;      /* NoSec Registers answered 4.29: address over its rate */
    uint64_t refused_cap;       /* NoSec Registers answered 5.03: nosec_max reached */
    uint64_t nosec_current;     /* NoSec registrations held now */
    uint64_t limiter_entries;   /* addresses in the rate limiter's fixed table now */
    uint64_t limiter_slots;     /* its size (0: no limit) */
    uint64_t limiter_evictions; /* addresses evicted to make room */
};
void server_registration_stats(const struct server_registration *g,
                               struct server_registration_stats *out);

#endif /* LODESTAR_SERVER_REGISTRATION_H */
