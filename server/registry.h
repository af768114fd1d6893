/*
 * server/registry.h -- the registrations this lodestar-server instance holds
 *
 * In memory, on the loop thread: every registration by location id and by
 * endpoint name (two hash tables), with the CoAP session the device last
 * talked on (referenced while held), its security and identity, and its
 * times.  Each registration carries its lifetime timer: when it fires
 * (expires_at + grace), the owner's expire callback de-registers it through
 * the store worker with reason "expired".
 *
 * The registry is the cache of what Postgres holds, never ahead of it:
 * the registration handlers change it only after the store worker
 * committed the change (server/registration.c).  At start it is filled
 * from store_registrations_load; such entries have no session until the
 * device next talks.
 *
 * Single instance for now: at start an instance loads ALL registrations,
 * whoever held them.  Several instances sharing a database will need
 * ownership (registrations.instance_id + heartbeats) -- a later issue.
 *
 * INTERFACE ROUTINES
 *   server_registry_new / _free
 *   server_registry_add / _remove             insert or drop an entry
 *   server_registry_by_id / _by_endpoint      lookups
 *   server_registry_by_address / _set_address NoSec devices, by source address
 *   server_registry_bind_session              hold the device's session
 *   server_registry_session_gone              libcoap says a session died
 *   server_registry_arm                       (re)start the lifetime timer
 *   server_registry_count / _foreach
 *   server_registry_new_id                    random url-safe location id
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_REGISTRY_H
#define LODESTAR_SERVER_REGISTRY_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/addr.h"
#include "runtime/err.h"
#include "runtime/loop.h"

#define SERVER_REGISTRY_ID_LEN 10          /* characters of a location id */
#define SERVER_REGISTRY_GRACE_MS 2000      /* after expires_at, before expiry */

struct server_registry;

struct server_reg {
    char id[SERVER_REGISTRY_ID_LEN + 1];   /* location id: /rd/{id} */
    char *endpoint;                        /* owned */
    char version[4];                       /* "1.0" | "1.1" | "1.2" */
    int64_t lifetime_s;                    /* 0 = never expires (1.2) */
    char binding[8];
    bool queue;
    char *sms;                             /* owned; "" when absent */
    char *pid;                             /* owned; "" when absent */
    char *alt_path;                        /* owned */
    char *objects_json;                    /* owned: ["/1/0","/3/0"] */
    char address[RUNTIME_ADDR_STR_MAX];    /* where the device last talked from */
    char security[8];                      /* "nosec" | "psk" | ... */
    char *identity;                        /* owned; "" for nosec */
    int64_t registered_at_ms;              /* wall clock */
    int64_t last_seen_ms;                  /* wall clock */
    int64_t expires_at_ms;                 /* wall clock; 0 = never */
    coap_session_t *session;               /* referenced, DTLS only (NoSec sessions are
                                              not held: registry.c); else NULL */
    struct { uint16_t ct[8]; uint8_t n; } formats;  /* ct= of </> at Register (registrations.
                                              formats): content formats announced, in order */
    uint8_t reg_token[8];                  /* token of the Register that made it: */
    size_t reg_token_len;                  /* a duplicate CON gets the same answer */
    /* private to registry.c */
    struct runtime_loop_timer timer;
    struct server_registry *owner;
    struct server_reg *next_id, *next_ep, *next_addr;
};

/* Called on the loop thread when a registration's lifetime (plus grace)
 * ran out.  The entry is still in the registry; the callee removes it. */
typedef void server_registry_expire_fn(void *arg, struct server_reg *reg);

struct server_registry *server_registry_new(struct runtime_loop *loop,
                                            server_registry_expire_fn *expire, void *arg,
                                            struct ls_error *err);

/* Releases every held session and frees every entry.  NULL ok. */
void server_registry_free(struct server_registry *r);

/*
 * server_registry_add -- insert reg (caller allocated it with
 * server_reg_new; the registry owns it from now on, even on failure).
 * Its id and endpoint must not be present: remove the old entry first.
 * Returns LS_OK, LS_ECONFLICT (id or endpoint present: reg freed),
 * LS_ENOMEM.
 */
enum ls_rc server_registry_add(struct server_registry *r, struct server_reg *reg,
                               struct ls_error *err) LS_MUST_CHECK;

/* Unlinks reg, stops its timer, releases its session and frees it. */
void server_registry_remove(struct server_registry *r, struct server_reg *reg);

struct server_reg *server_registry_by_id(const struct server_registry *r, const char *id,
                                         size_t id_len);
struct server_reg *server_registry_by_endpoint(const struct server_registry *r,
                                               const char *endpoint);

/* The entry whose address (host:port as runtime_coap_session_addr writes
 * it) is address, or NULL.  When two entries share one (a stale one and a
 * newer device at the same NAT mapping), the one added or moved last. */
struct server_reg *server_registry_by_address(const struct server_registry *r,
                                              const char *address);

/* Changes reg's address (an entry of r), keeping the address table in step:
 * never write reg->address of an added entry directly. */
void server_registry_set_address(struct server_registry *r, struct server_reg *reg,
                                 const char *address);

/* A zeroed entry with owned strings copied (NULL becomes ""); NULL on
 * ENOMEM.  Free with server_reg_free unless handed to server_registry_add. */
struct server_reg *server_reg_new(const char *endpoint, const char *sms, const char *pid,
                                  const char *alt_path, const char *objects_json,
                                  const char *identity);
void server_reg_free(struct server_reg *reg);

/* Replaces an owned string field (e.g. &reg->objects_json).  false on ENOMEM
 * (the field is unchanged). */
bool server_reg_set_string(char **field, const char *value);

/*
 * server_registry_bind_session -- hold s for reg (reference, session
 * hygiene, app data pointing at reg), releasing the session held before.
 * A session is bound to one registration at most: binding it to reg
 * unbinds it from another.  s NULL just releases.  A NoSec (UDP) s is
 * not held: the session held before is released and reg keeps only its
 * address (libcoap's per-datagram session walks, registry.c).
 */
void server_registry_bind_session(struct server_registry *r, struct server_reg *reg,
                                  coap_session_t *s);

/* The registration holding s (through its app data), or NULL. */
struct server_reg *server_registry_by_session(const struct server_registry *r,
                                              const coap_session_t *s);

/* libcoap's session_gone: drop the reference on s if a registration holds it. */
void server_registry_session_gone(struct server_registry *r, coap_session_t *s);

/* (Re)starts reg's lifetime timer from reg->expires_at_ms (wall clock
 * now_wall_ms): fires at expires_at + SERVER_REGISTRY_GRACE_MS, at once
 * when already past.  A lifetime of 0 stops it. */
enum ls_rc server_registry_arm(struct server_registry *r, struct server_reg *reg,
                               int64_t now_wall_ms, struct ls_error *err) LS_MUST_CHECK;

size_t server_registry_count(const struct server_registry *r);

/* Entries whose security is "nosec" (a registration's security never
 * changes while it is in the registry).  Issue 10: --nosec-max. */
size_t server_registry_count_nosec(const struct server_registry *r);

/* Fills id (SERVER_REGISTRY_ID_LEN + 1 bytes) with a random url-safe id that
 * no entry has.  LS_EIO when the random source fails. */
enum ls_rc server_registry_new_id(const struct server_registry *r, char *id,
                                  struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_SERVER_REGISTRY_H */
