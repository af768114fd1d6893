/*
 * store/credentials.h -- device credentials, secrets sealed at rest
 *
 * A credential belongs to one endpoint and one scope: "bootstrap" (what a
 * device uses with lodestar-bootstrap) or "server" (with lodestar-server).
 * Its secret (PSK key, private key) is stored only sealed with the master
 * key (store/secret.h, associated data "credential:<identity>"); the public
 * part (PSK identity, RPK SubjectPublicKeyInfo, certificate) in clear.
 * States: issued -> active -> revoked (ARCHITECTURE.md, "Bootstrap and
 * credentials").  Every change sends pg_notify('lodestar_credentials', id)
 * so that daemons refresh their in-memory caches (the DTLS PSK callback is
 * synchronous and must not query Postgres: LIBCOAP.md section 3).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_CREDENTIALS_H
#define LODESTAR_STORE_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"
#include "store/secret.h"

struct store;

struct store_credential {
    int64_t id;                 /* assigned by insert */
    const char *endpoint;
    const char *scope;          /* "bootstrap" | "server" */
    const char *mode;           /* "psk" | "rpk" | "x509" | "nosec" */
    const char *identity;       /* PSK identity; CN for x509; "" for rpk */
    const uint8_t *secret;      /* plaintext PSK key / private key; may be NULL */
    size_t secret_len;
    const uint8_t *public_key;  /* RPK: DER SubjectPublicKeyInfo; may be NULL */
    size_t public_key_len;
    const char *state;          /* "issued" | "active" | "revoked" */
};

/*
 * store_credentials_insert -- create the endpoint if needed and add a
 * credential, sealing its secret under key.  *id_out (may be NULL) gets
 * the new id.  LS_ECONFLICT when a live credential already has that
 * identity in that scope and mode.
 */
enum ls_rc store_credentials_insert(struct store *s, const struct store_secret_key *key,
                                    const struct store_credential *c, int64_t *id_out,
                                    struct ls_error *err) LS_MUST_CHECK;

/* Marks every live credential of endpoint in scope revoked. */
enum ls_rc store_credentials_revoke(struct store *s, const char *endpoint,
                                    const char *scope, struct ls_error *err) LS_MUST_CHECK;

/*
 * --- Added in issue 7 (credential lifecycle). ---
 *
 * store_credentials_revoke_list -- revoke every live credential of the
 * endpoints in endpoints_json (a JSON array of names) in scope (NULL =
 * both scopes), in one statement that also notifies the daemons.
 * *count_out = credentials revoked; *revoked_json_out (caller frees) =
 * [{"id","endpoint","scope","mode","identity"}] (no secret).
 */
enum ls_rc store_credentials_revoke_list(struct store *s, const char *endpoints_json,
                                         const char *scope, int64_t *count_out,
                                         char **revoked_json_out,
                                         struct ls_error *err) LS_MUST_CHECK;

/* The endpoints with a live credential in scope (NULL = any), as a JSON
 * array text of names (caller frees): what a fleet revoke matches against. */
enum ls_rc store_credentials_live_endpoints(struct store *s, const char *scope,
                                            char **json_out,
                                            struct ls_error *err) LS_MUST_CHECK;

/*
 * store_credentials_expire -- revoke 'issued' credentials nobody used in
 * time: expires_at passed, or (no expires_at) older than ttl_s seconds
 * (ttl_s 0: only expires_at counts).
 * Each is audited (action "credentials.expire", actor "lodestar-server");
 * the daemons are notified only when something expired.  *count_out may
 * be NULL.
 */
enum ls_rc store_credentials_expire(struct store *s, int64_t ttl_s, int64_t *count_out,
                                    struct ls_error *err) LS_MUST_CHECK;

/*
 * store_credentials_load -- call fn for every non-revoked credential of
 * scope, with its secret opened (plaintext, borrowed for the call and wiped
 * after it).  A secret that does not open under key (another master key) is
 * skipped and counted in *skipped_out (may be NULL), never fatal.
 */
typedef void store_credential_row_fn(void *arg, const struct store_credential *c);
enum ls_rc store_credentials_load(struct store *s, const struct store_secret_key *key,
                                  const char *scope, store_credential_row_fn *fn,
                                  void *arg, unsigned *skipped_out,
                                  struct ls_error *err) LS_MUST_CHECK;


/*
 * --- Added in issue 4 (coap): the credential cache and its watcher. ---
 *
 * store_credentials_load_cache -- store_credentials_load of the PSK and RPK
 * rows of scope into a new runtime_credcache (identity -> endpoint, key;
 * public key -> endpoint), and (issue 7) the X.509 rows, revoked ones
 * too: certificate key -> endpoint, or its endpoint marked refused
 * (runtime/credcache.h).  Caller
 * owns *out (runtime_credcache_free); NULL on entry.
 */
struct runtime_credcache;
struct runtime_loop;
enum ls_rc store_credentials_load_cache(struct store *s, const struct store_secret_key *key,
                                        const char *scope, struct runtime_credcache **out,
                                        struct ls_error *err) LS_MUST_CHECK;

/*
 * --- Added by CREDWATCH: delta reads (migrations/0007). ---
 *
 * A cursor is where the next delta read starts: the xmin of the snapshot
 * of the previous read (every transaction not committed then has an xid
 * >= it).  store_credentials_load_cache_at is load_cache that also sets
 * *cursor; store_credentials_load_delta reads the rows of scope changed
 * since *cursor (revoked ones become drops, unreadable ones too) into a
 * new delta (caller frees) and advances *cursor.  Rows may be read twice;
 * applying them again is harmless.
 */
struct runtime_credcache_delta;
struct store_credentials_cursor {
    char xmin[24];          /* "" = none yet */
};
enum ls_rc store_credentials_load_cache_at(struct store *s, const struct store_secret_key *key,
                                           const char *scope, struct runtime_credcache **out,
                                           struct store_credentials_cursor *cursor,
                                           struct ls_error *err) LS_MUST_CHECK;
enum ls_rc store_credentials_load_delta(struct store *s, const struct store_secret_key *key,
                                        const char *scope,
                                        struct store_credentials_cursor *cursor,
                                        struct runtime_credcache_delta **out,
                                        struct ls_error *err) LS_MUST_CHECK;
/* The live PSK credential of one identity in scope, as a new delta (caller
 * frees) of one put, or of none when there is no such credential (an
 * identity that is not text -- a NUL byte -- has none).  For a handshake
 * that comes before the watcher's delta (server/credlookup.c). */
enum ls_rc store_credentials_load_identity(struct store *s, const struct store_secret_key *key,
                                           const char *scope, const uint8_t *identity,
                                           size_t identity_len,
                                           struct runtime_credcache_delta **out,
                                           struct ls_error *err) LS_MUST_CHECK;

/*
 * store_credentials_issue_batch -- store n PSK management credentials
 * (scope 'server', state 'issued', server_uri, ssid; expires_at = now +
 * ttl_s when ttl_s > 0), creating their endpoints, in one statement: one
 * transaction and one fsync for a whole round of bootstraps.  Each item's
 * id and rc are set: LS_OK (id 0 when a live credential already had the
 * identity and already_ok), LS_ECONFLICT (identity taken, !already_ok).
 * A failure of the statement is returned and leaves every rc LS_EIO.
 */
struct store_credentials_issue {
    const char *endpoint;
    const char *identity;
    const uint8_t *psk;         /* the secret: PSK key, or (x509) private key DER */
    size_t psk_len;
    const char *server_uri;     /* may be NULL */
    int ssid;                   /* <= 0: none */
    bool already_ok;            /* a configured key, recorded on every bootstrap */
    int64_t id;                 /* out */
    enum ls_rc rc;              /* out */
    /* Issue 7 (X.509 issuing): mode NULL = "psk"; "x509" with public_key =
     * the device certificate DER (what lodestar-server matches a handshake
     * against: runtime/credcache.h, certificate keys) and certificate = it
     * as PEM; identity = its id ("sha256:..."). */
    const char *mode;
    const uint8_t *public_key;
    size_t public_key_len;
    const char *certificate;
};
enum ls_rc store_credentials_issue_batch(struct store *s, const struct store_secret_key *key,
                                         struct store_credentials_issue *items, size_t n,
                                         int64_t ttl_s, struct ls_error *err) LS_MUST_CHECK;

/*
 * The watcher: a thread with its own connection that LISTENs on
 * lodestar_credentials_<scope> (migrations/0007: one notification per
 * statement and scope), loads the whole scope at start and after every
 * reconnection (notifications sent while it was away are lost) and hands
 * the table to fn on loop's thread (fn consumes it).  After that, on a
 * notification it reads only the rows changed since its last read, at
 * most once per 50 ms during a burst, and hands them to delta on the loop
 * thread (delta applies them, runtime_credcache_apply; the watcher frees
 * the delta afterwards).  delta NULL: every change is a full load.  tick
 * (may be NULL) runs on the watcher thread with its store every tick_ms,
 * for small periodic database chores (the instance heartbeat).
 */
struct store_credentials_watch;
typedef void store_credentials_table_fn(void *arg, struct runtime_credcache *table);
typedef void store_credentials_delta_fn(void *arg, struct runtime_credcache_delta *delta);
typedef void store_credentials_tick_fn(void *arg, struct store *s);
struct store_credentials_watch_options {
    const char *conninfo;                   /* borrowed (copied) */
    const struct store_secret_key *key;     /* borrowed (copied) */
    const char *scope;                      /* "server" | "bootstrap"; a literal */
    struct runtime_loop *loop;              /* borrowed; outlives the watch */
    store_credentials_table_fn *fn;
    void *arg;
    store_credentials_delta_fn *delta;      /* may be NULL; same arg */
    store_credentials_tick_fn *tick;        /* may be NULL */
    void *tick_arg;
    int64_t tick_ms;
};
struct store_credentials_watch *
store_credentials_watch_start(const struct store_credentials_watch_options *o,
                              struct ls_error *err);
/* Joins the thread and frees; a table not yet handed over is freed.  Call
 * after the loop stopped running (a wake-up posted later is dropped by the
 * loop).  NULL ok. */
void store_credentials_watch_stop(struct store_credentials_watch *w);

#endif /* LODESTAR_STORE_CREDENTIALS_H */
