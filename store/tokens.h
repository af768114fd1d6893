/*
 * store/tokens.h -- REST API bearer tokens (table api_tokens)
 *
 * A token's secret is shown once, at creation, and never stored: the table
 * keeps its SHA-256 in a UNIQUE (so indexed) column, and a request's token
 * is found by hashing what it presents and looking the hash up.  Comparing
 * hashes needs no constant-time care: learning a prefix of a SHA-256 tells
 * an attacker nothing about a preimage.
 *
 * Roles are ordered: viewer (read) < operator (device operations) < admin
 * (tokens, credentials, bootstrap configurations).
 *
 * INTERFACE ROUTINES
 *   store_tokens_generate    a fresh random secret (32 bytes, hex) and its hash
 *   store_tokens_hash        SHA-256 of a presented secret
 *   store_tokens_role_parse / _name   role text <-> enum
 *   store_tokens_lookup      hash -> id, role, name (live tokens only)
 *   store_tokens_touch       last_used_at = now()
 *   store_tokens_create      insert a token with a given hash
 *   store_tokens_ensure      idempotent insert (--admin-token)
 *   store_tokens_list        every token as a JSON array (no secret, no hash)
 *   store_tokens_delete      delete, refusing to remove the last admin itself
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_TOKENS_H
#define LODESTAR_STORE_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

struct store;

#define STORE_TOKENS_HASH_LEN 32            /* SHA-256 */
#define STORE_TOKENS_SECRET_LEN 64          /* hex of 32 random bytes */
#define STORE_TOKENS_NAME_MAX 200           /* bytes, without the NUL */

enum store_tokens_role {
    STORE_TOKENS_NONE = 0,                  /* not a role: "no access" */
    STORE_TOKENS_VIEWER,
    STORE_TOKENS_OPERATOR,
    STORE_TOKENS_ADMIN,
};

struct store_token {
    int64_t id;
    enum store_tokens_role role;
    char name[STORE_TOKENS_NAME_MAX + 1];
    bool stale;                             /* last_used_at is over a minute old */
};

/* "viewer" -> STORE_TOKENS_VIEWER ...; false for anything else. */
bool store_tokens_role_parse(const char *text, enum store_tokens_role *out);
const char *store_tokens_role_name(enum store_tokens_role role);

/* SHA-256 of len bytes of secret. */
void store_tokens_hash(const char *secret, size_t len, uint8_t hash[STORE_TOKENS_HASH_LEN]);

/* A new secret from the OpenSSL CSPRNG: 64 lower-case hex digits and NUL
 * in secret; its hash in hash.  LS_EIO when RAND_bytes fails. */
enum ls_rc store_tokens_generate(char secret[STORE_TOKENS_SECRET_LEN + 1],
                                 uint8_t hash[STORE_TOKENS_HASH_LEN],
                                 struct ls_error *err) LS_MUST_CHECK;

/* The live token with this hash: LS_OK and *out filled, LS_ENOTFOUND, or
 * a store error (LS_ETRANSIENT while the database is away). */
enum ls_rc store_tokens_lookup(struct store *s, const uint8_t hash[STORE_TOKENS_HASH_LEN],
                               struct store_token *out, struct ls_error *err) LS_MUST_CHECK;

/* Sets last_used_at = now() for id.  A write: call it rarely (stale). */
enum ls_rc store_tokens_touch(struct store *s, int64_t id, struct ls_error *err) LS_MUST_CHECK;

/* Inserts a token; *id_out gets its id.  LS_ECONFLICT when the hash
 * exists (a collision means a reused secret, never chance). */
enum ls_rc store_tokens_create(struct store *s, const char *name, enum store_tokens_role role,
                               const uint8_t hash[STORE_TOKENS_HASH_LEN], int64_t *id_out,
                               struct ls_error *err) LS_MUST_CHECK;

/* Makes sure a live token with this hash exists with this role and name,
 * inserting or repairing it; running it twice changes nothing. */
enum ls_rc store_tokens_ensure(struct store *s, const char *name, enum store_tokens_role role,
                               const uint8_t hash[STORE_TOKENS_HASH_LEN],
                               struct ls_error *err) LS_MUST_CHECK;

/* A JSON array of {"id","name","role","created_at","last_used_at"} by id,
 * in *json_out (caller frees).  Never the hash. */
enum ls_rc store_tokens_list(struct store *s, char **json_out, struct ls_error *err) LS_MUST_CHECK;

/*
 * store_tokens_delete -- delete token id on behalf of token actor_id.
 * LS_ENOTFOUND when there is no such token; LS_ECONFLICT when actor_id
 * deletes itself while it is the only admin token (the API would lock
 * everyone out).  The admin rows are locked for the check, so two last
 * admins deleting themselves at once cannot both succeed.
 */
enum ls_rc store_tokens_delete(struct store *s, int64_t id, int64_t actor_id,
                               struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_TOKENS_H */
