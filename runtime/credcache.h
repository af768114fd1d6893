/*
 * runtime/credcache.h -- in-memory PSK credential table for the DTLS callback
 *
 * libcoap asks for a PSK key inside the handshake, synchronously, on the
 * loop thread (LIBCOAP.md section 3): a Postgres query there would stall all
 * CoAP traffic.  So the live credentials of one scope are loaded into this
 * table and looked up in O(1).  A table is built off the loop thread (at
 * start, and by the credential watcher on each (re)connection), then
 * handed to the loop thread, which swaps it in; after that the watcher
 * sends deltas that the loop thread applies in place (the loop thread is
 * the table's only reader and writer then), so lookups need no lock.
 *
 * Keys are wiped (explicit_bzero) when a table is freed.  Never log them.
 *
 * INTERFACE ROUTINES
 *   runtime_credcache_new / _free    build and destroy a table
 *   runtime_credcache_delta_*        changes built off the loop thread
 *   runtime_credcache_apply          apply a delta in place (loop thread)
 *   runtime_credcache_add            add one identity (while building)
 *   runtime_credcache_find           identity -> entry (loop thread)
 *   runtime_credcache_has_endpoint   does this endpoint have a credential
 *   runtime_credcache_count          entries, for logs
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_CREDCACHE_H
#define LODESTAR_RUNTIME_CREDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

#define RUNTIME_CREDCACHE_KEY_MAX 64   /* bytes of a PSK key */

struct runtime_credcache;

/* One credential.  All strings are owned by the table. */
struct runtime_credcache_entry {
    const uint8_t *identity;    /* PSK identity bytes */
    size_t identity_len;
    const char *endpoint;       /* the endpoint the identity is bound to */
    uint8_t key[RUNTIME_CREDCACHE_KEY_MAX]; /* secret */
    size_t key_len;
    int64_t id;                 /* credentials.id; 0 when added without one */
};

/* Caller owns; free with runtime_credcache_free().  NULL on ENOMEM. */
struct runtime_credcache *runtime_credcache_new(struct ls_error *err);

/* Wipes every key and frees; NULL is a no-op. */
void runtime_credcache_free(struct runtime_credcache *c);

/*
 * runtime_credcache_add -- add identity -> (endpoint, key).  Borrowed
 * inputs are copied.  LS_EINVAL for an empty identity or a key longer than
 * RUNTIME_CREDCACHE_KEY_MAX, LS_ECONFLICT for an identity already present
 * (the database's unique index makes that impossible for live rows),
 * LS_ENOMEM.
 */
enum ls_rc runtime_credcache_add(struct runtime_credcache *c, const uint8_t *identity,
                                 size_t identity_len, const char *endpoint,
                                 const uint8_t *key, size_t key_len,
                                 struct ls_error *err) LS_MUST_CHECK;

/*
 * runtime_credcache_add_rpk / _find_rpk -- raw public keys (RPK): the
 * device's DER SubjectPublicKeyInfo -> the endpoint it is bound to.  Kept
 * in the same table under a key no PSK identity can have (a NUL byte
 * first: identities come from a Postgres text column).
 */
enum ls_rc runtime_credcache_add_rpk(struct runtime_credcache *c, const uint8_t *spki,
                                     size_t spki_len, const char *endpoint,
                                     struct ls_error *err) LS_MUST_CHECK;
const char *runtime_credcache_find_rpk(const struct runtime_credcache *c, const uint8_t *spki,
                                       size_t spki_len);
/* Issue 7: the same table holds X.509 certificate keys (16 bytes: the
 * first half of SHA-256 of the certificate DER, store/credentials.c) under
 * the same functions.  A revoked certificate stays, bound to its endpoint
 * marked refused (RUNTIME_CREDCACHE_REFUSED, a byte no endpoint name has:
 * names are valid UTF-8), so that a handshake with it is refused;
 * runtime_credcache_refused gives the endpoint of such a binding.
 * entry_public_key gives the key bytes of such an entry (SPKI or
 * certificate key), NULL for a PSK entry. */
#define RUNTIME_CREDCACHE_REFUSED "\xff"
/* The endpoint a refused binding names, or NULL when endpoint is not one. */
const char *runtime_credcache_refused(const char *endpoint);
const uint8_t *runtime_credcache_entry_public_key(const struct runtime_credcache_entry *e,
                                                 size_t *len);

/* The entry for identity, or NULL.  Borrowed until the table is freed. */
const struct runtime_credcache_entry *runtime_credcache_find(const struct runtime_credcache *c,
                                                             const uint8_t *identity,
                                                             size_t identity_len);

/* Whether some credential of the table is bound to endpoint (a device with
 * PSK credentials must not register without them). */
bool runtime_credcache_has_endpoint(const struct runtime_credcache *c, const char *endpoint);

size_t runtime_credcache_count(const struct runtime_credcache *c);

/* Calls fn for every entry, PSK and RPK (an RPK entry has key_len 0);
 * c may be NULL.  Added in issue 7: the server compares an old table
 * with its replacement to find revoked identities. */
typedef void runtime_credcache_entry_fn(void *arg, const struct runtime_credcache_entry *e);
void runtime_credcache_each(const struct runtime_credcache *c, runtime_credcache_entry_fn *fn,
                            void *arg);

/*
 * --- Deltas (CREDWATCH). ---
 *
 * The credential watcher reads only the rows changed since its last read
 * and hands the loop thread a delta, applied to the live table in place:
 * O(changes), where copying a table of 100 000 entries costs milliseconds
 * (bench/results/bootstrap.md).  A delta is built off the loop thread; its
 * entries are allocated then, so applying it allocates nothing (bar a
 * bucket array that grows, whose failure is harmless).
 *
 * put: identity (or public key) -> the row's entry, replacing the entry of
 * the same identity whatever its id (live identities are unique).
 * drop: the row id of that identity is gone (revoked, unreadable): the
 * entry is removed only if it is that row's (a newer row with the same
 * identity stays).  Operations apply in the order they were added, and
 * applying the same delta twice gives the same table.
 */
struct runtime_credcache_delta;

struct runtime_credcache_delta *runtime_credcache_delta_new(struct ls_error *err);
void runtime_credcache_delta_free(struct runtime_credcache_delta *d);   /* wipes keys */
/* Same rules as runtime_credcache_add / _add_rpk. */
enum ls_rc runtime_credcache_delta_put(struct runtime_credcache_delta *d, int64_t id,
                                       const uint8_t *identity, size_t identity_len,
                                       const char *endpoint, const uint8_t *key,
                                       size_t key_len, struct ls_error *err) LS_MUST_CHECK;
enum ls_rc runtime_credcache_delta_put_rpk(struct runtime_credcache_delta *d, int64_t id,
                                           const uint8_t *spki, size_t spki_len,
                                           const char *endpoint,
                                           struct ls_error *err) LS_MUST_CHECK;
enum ls_rc runtime_credcache_delta_drop(struct runtime_credcache_delta *d, int64_t id,
                                        const uint8_t *identity, size_t identity_len,
                                        struct ls_error *err) LS_MUST_CHECK;
enum ls_rc runtime_credcache_delta_drop_rpk(struct runtime_credcache_delta *d, int64_t id,
                                            const uint8_t *spki, size_t spki_len,
                                            struct ls_error *err) LS_MUST_CHECK;
/* Operations in d. */
size_t runtime_credcache_delta_count(const struct runtime_credcache_delta *d);
/* Moves src's operations after dst's; src is left empty. */
void runtime_credcache_delta_append(struct runtime_credcache_delta *dst,
                                    struct runtime_credcache_delta *src);

/*
 * runtime_credcache_apply -- apply d to c and empty d.  gone (may be NULL)
 * is called, before it is freed, for every entry of c that is removed or
 * replaced by one with another key or endpoint: what the server needs to
 * end the registrations made with a revoked identity.  now is the
 * replacement, or NULL.  Issue 7: a refused binding (see above) put for a
 * key c did not hold calls gone with old == now (the live binding was
 * never seen, yet a session may use the certificate: the CA vouched).
 */
typedef void runtime_credcache_gone_fn(void *arg, const struct runtime_credcache_entry *old,
                                       const struct runtime_credcache_entry *now);
void runtime_credcache_apply(struct runtime_credcache *c, struct runtime_credcache_delta *d,
                             runtime_credcache_gone_fn *gone, void *arg);

/* A copy of c (for copy-on-write publication; benchmarked against apply). */
struct runtime_credcache *runtime_credcache_clone(const struct runtime_credcache *c,
                                                  struct ls_error *err);

#endif /* LODESTAR_RUNTIME_CREDCACHE_H */
