/*
 * store/factory.h -- factory batches: per-device accounts made for the
 * production line (table factory_batches, credentials.batch_id)
 *
 * A batch names its devices (an explicit list, or a prefix and a count)
 * and which accounts to make for each: a bootstrap account (scope
 * "bootstrap", the recommended path), a management-server account (scope
 * "server": factory bootstrap), or both.  Every account gets a fresh PSK
 * identity "<endpoint>-<16 random hex>" (unique, derived from nothing
 * secret) and a random key (OpenSSL RAND_bytes), stored sealed under the
 * master key like every credential (store/credentials.h).  Factory
 * accounts are 'active' at once: a device may sit in a warehouse for
 * months, and its first exchange must work (so the expiry of stale
 * 'issued' credentials never touches them).  The whole batch is one
 * transaction: a few array-valued statements whatever its size.
 *
 * The export (store_factory_export) is the only place where these secrets
 * are opened for someone else than a daemon; the web layer audits it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_FACTORY_H
#define LODESTAR_STORE_FACTORY_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"
#include "store/secret.h"

struct store;

#define STORE_FACTORY_MAX_DEVICES 100000  /* per batch */
#define STORE_FACTORY_NAME_MAX 200        /* bytes of an endpoint name in a batch */
#define STORE_FACTORY_KEY_MIN 16          /* PSK key bytes */
#define STORE_FACTORY_KEY_MAX 32
#define STORE_FACTORY_KEY_DEFAULT 16

/* One account to make for every device of the batch.  uri NULL = none. */
struct store_factory_account {
    const char *uri;            /* "coaps://host:5684" */
    int ssid;                   /* server account: 1..65534; bootstrap: 0 */
};

struct store_factory_batch {
    const char *const *endpoints;      /* n names, distinct, each 1..NAME_MAX bytes */
    size_t n;
    struct store_factory_account bootstrap;
    struct store_factory_account server;
    size_t key_bytes;                  /* STORE_FACTORY_KEY_MIN..MAX */
    const char *spec_json;             /* the request without secrets: factory_batches.spec */
    int64_t token_id;                  /* created_by; 0 = none */
};

/*
 * store_factory_create -- make the batch in one transaction: its row, the
 * endpoints (origin 'factory'; an existing endpoint keeps its row), and
 * the credentials, then one pg_notify('lodestar_credentials') so that the
 * daemons load them.  *id_out gets the batch id.  LS_EINVAL for a bad
 * batch (no account, bad size), LS_ECONFLICT in the (astronomically
 * unlikely) case of an identity collision.
 */
enum ls_rc store_factory_create(struct store *s, const struct store_secret_key *key,
                                const struct store_factory_batch *b, int64_t *id_out,
                                struct ls_error *err) LS_MUST_CHECK;

/* One account of one device, secret opened (borrowed for the call, wiped
 * after it). */
struct store_factory_row {
    const char *endpoint;
    const char *scope;          /* "bootstrap" | "server" */
    const char *identity;
    const uint8_t *key;
    size_t key_len;
    const char *uri;            /* may be NULL */
    int ssid;                   /* 0 when none */
    const char *state;          /* "active" | "issued" */
};
typedef void store_factory_row_fn(void *arg, const struct store_factory_row *r);

/*
 * store_factory_export -- the batch's live (not revoked) accounts, ordered
 * by endpoint then scope ("bootstrap" first), through fn.  *devices_out
 * (may be NULL) = the batch's device count, *created_at_out (may be NULL)
 * = its creation time (RFC 3339, caller frees).  LS_ENOTFOUND for no such
 * batch; LS_EPROTO when a secret does not open (another master key).
 */
enum ls_rc store_factory_export(struct store *s, const struct store_secret_key *key,
                                int64_t batch_id, store_factory_row_fn *fn, void *arg,
                                int64_t *devices_out, char **created_at_out,
                                struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_FACTORY_H */
