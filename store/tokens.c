/*
 * store/tokens.c -- REST API bearer tokens (table api_tokens)
 *
 * Hashes go to Postgres as binary bytea parameters, so no hex or escaping
 * round trip sits between the hash we compute and the UNIQUE index on
 * api_tokens.sha256 that finds it.  Deleting a token deletes its row: the
 * tables that name a token (commands, factory_batches) set it to NULL, and
 * the audit log keeps the number.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/tokens.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static const char *const role_names[] = { "none", "viewer", "operator", "admin" };

bool store_tokens_role_parse(const char *text, enum store_tokens_role *out)
{
    for (int r = STORE_TOKENS_VIEWER; r <= STORE_TOKENS_ADMIN; r++)
        if (text && strcmp(text, role_names[r]) == 0) {
            *out = (enum store_tokens_role)r;
            return true;
        }
    return false;
}

const char *store_tokens_role_name(enum store_tokens_role role)
{
    return (unsigned)role <= STORE_TOKENS_ADMIN ? role_names[role] : "none";
}

void store_tokens_hash(const char *secret, size_t len, uint8_t hash[STORE_TOKENS_HASH_LEN])
{
    unsigned n = 0;
    EVP_Digest(secret, len, hash, &n, EVP_sha256(), NULL);
}

enum ls_rc store_tokens_generate(char secret[STORE_TOKENS_SECRET_LEN + 1],
                                 uint8_t hash[STORE_TOKENS_HASH_LEN], struct ls_error *err)
{
    uint8_t raw[STORE_TOKENS_SECRET_LEN / 2];
    secret[0] = '\0';
    if (RAND_bytes(raw, sizeof raw) != 1)
        return ls_error_set(err, LS_EIO, "cannot draw random bytes for a token");
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(secret + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    store_tokens_hash(secret, STORE_TOKENS_SECRET_LEN, hash);
    return LS_OK;
}

/* Runs sql with the hash as $1 (binary bytea) and up to two text values. */
static enum ls_rc exec_hash(struct store *s, const char *what, const char *sql,
                            const uint8_t hash[STORE_TOKENS_HASH_LEN], const char *v2,
                            const char *v3, int n, PGresult **out, struct ls_error *err)
{
    const char *values[3] = { (const char *)hash, v2, v3 };
    const int lengths[3] = { STORE_TOKENS_HASH_LEN, 0, 0 };
    const int formats[3] = { 1, 0, 0 };
    return store_exec(s, what, sql, n, values, lengths, formats, out, err);
}

enum ls_rc store_tokens_lookup(struct store *s, const uint8_t hash[STORE_TOKENS_HASH_LEN],
                               struct store_token *out, struct ls_error *err)
{
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    enum ls_rc rc = exec_hash(s, "look up api token",
                              "SELECT id, role, name,"
                              " (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"
                              " FROM api_tokens WHERE sha256 = $1 AND revoked_at IS NULL",
                              hash, NULL, NULL, 1, &res, err);
    if (rc != LS_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = ls_error_set(err, LS_ENOTFOUND, "no such api token");
        goto out;
    }
    out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (!store_tokens_role_parse(PQgetvalue(res, 0, 1), &out->role))
        out->role = STORE_TOKENS_NONE;
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(res, 0, 2));
    out->stale = PQgetvalue(res, 0, 3)[0] == 't';
out:
    PQclear(res);
    return rc;
}

enum ls_rc store_tokens_touch(struct store *s, int64_t id, struct ls_error *err)
{
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%" PRId64, id);
    const char *values[] = { idtext };
    return store_exec_text(s, "touch api token",
                           "UPDATE api_tokens SET last_used_at = now() WHERE id = $1",
                           1, values, NULL, err);
}

enum ls_rc store_tokens_create(struct store *s, const char *name, enum store_tokens_role role,
                               const uint8_t hash[STORE_TOKENS_HASH_LEN], int64_t *id_out,
                               struct ls_error *err)
{
    PGresult *res = NULL;
    *id_out = 0;
    enum ls_rc rc = exec_hash(s, "create api token",
                              "INSERT INTO api_tokens (sha256, name, role) VALUES ($1, $2, $3)"
                              " RETURNING id",
                              hash, name, store_tokens_role_name(role), 3, &res, err);
    if (rc == LS_OK)
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

enum ls_rc store_tokens_ensure(struct store *s, const char *name, enum store_tokens_role role,
                               const uint8_t hash[STORE_TOKENS_HASH_LEN], struct ls_error *err)
{
    /* DO UPDATE, not DO NOTHING: a row with this hash that someone demoted
     * or revoked would otherwise leave the configured token powerless. */
    return exec_hash(s, "ensure api token",
                     "INSERT INTO api_tokens (sha256, name, role) VALUES ($1, $2, $3)"
                     " ON CONFLICT (sha256) DO UPDATE SET role = EXCLUDED.role,"
                     " name = EXCLUDED.name, revoked_at = NULL"
                     " WHERE api_tokens.role <> EXCLUDED.role"
                     " OR api_tokens.name <> EXCLUDED.name OR api_tokens.revoked_at IS NOT NULL",
                     hash, name, store_tokens_role_name(role), 3, NULL, err);
}

enum ls_rc store_tokens_list(struct store *s, char **json_out, struct ls_error *err)
{
    PGresult *res = NULL;
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(
        s, "list api tokens",
        "SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, 'role', role,"
        " 'created_at', created_at, 'last_used_at', last_used_at) ORDER BY id), '[]')"
        " FROM api_tokens WHERE revoked_at IS NULL",
        0, NULL, &res, err);
    if (rc != LS_OK)
        goto out;
    *json_out = strdup(PQgetvalue(res, 0, 0));
    if (!*json_out)
        rc = ls_error_set(err, LS_ENOMEM, "cannot copy the token list");
out:
    PQclear(res);
    return rc;
}

enum ls_rc store_tokens_delete(struct store *s, int64_t id, int64_t actor_id,
                               struct ls_error *err)
{
    PGresult *res = NULL;
    char idtext[24], actortext[24];
    snprintf(idtext, sizeof idtext, "%" PRId64, id);
    snprintf(actortext, sizeof actortext, "%" PRId64, actor_id);
    const char *values[] = { idtext, actortext };
    /* The CTE locks every live admin row; a concurrent self-delete of the
     * other last admin waits, then counts without the row it removed.
     * The second column tells "refused" from "absent" in one round trip. */
    enum ls_rc rc = store_exec_text(
        s, "delete api token",
        "WITH admins AS (SELECT id FROM api_tokens"
        "  WHERE role = 'admin' AND revoked_at IS NULL FOR UPDATE),"
        " gone AS (DELETE FROM api_tokens t WHERE t.id = $1 AND NOT (t.role = 'admin'"
        "  AND t.id = $2 AND (SELECT count(*) FROM admins) <= 1) RETURNING t.id)"
        " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM api_tokens WHERE id = $1)",
        2, values, &res, err);
    if (rc != LS_OK)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "1") == 0)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 1), "0") == 0)
        rc = ls_error_set(err, LS_ENOTFOUND, "no api token with id %" PRId64, id);
    else
        rc = ls_error_set(err, LS_ECONFLICT, "token %" PRId64 " is the last admin token", id);
out:
    PQclear(res);
    return rc;
}
