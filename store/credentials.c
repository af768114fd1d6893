/*
 * store/credentials.c -- device credentials, secrets sealed at rest
 *
 * Implements store/credentials.h: insert (sealing the secret under the
 * master key with associated data "credential:<identity>"), revoke, load
 * (opening secrets), the PSK cache builder, and the watcher thread that
 * keeps a daemon's cache fresh through LISTEN lodestar_credentials.
 *
 * Change tracking (migrations/0007_credential_changes.sql): a trigger
 * stamps every cache-relevant change with its transaction id
 * (changed_xid) and notifies lodestar_credentials_<scope> once per
 * statement.  The watcher listens to its own scope's channel only, loads
 * the whole scope on (re)connection, and afterwards only the rows changed
 * since the snapshot xmin of its previous read ("everything changed since
 * the last read", so a lost or folded notification never loses a change),
 * at most once per COALESCE_MS during a burst.  The rows go to the loop
 * thread as a delta (runtime/credcache.h), applied in place.  The older
 * pg_notify('lodestar_credentials', ...) calls remain for other listeners.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/credentials.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime/credcache.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "store/store_int.h"

#define AD_MAX 600   /* "credential:" + identity */

static bool ad_for(const char *identity, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "credential:%s", identity ? identity : "");
    return n > 0 && (size_t)n < cap;
}

static enum ls_rc seal(const struct store_secret_key *key, const struct store_credential *c,
                       uint8_t **blob, struct ls_error *err)
{
    char ad[AD_MAX];
    *blob = NULL;
    if (!c->secret)
        return LS_OK;
    if (!ad_for(c->identity, ad, sizeof ad))
        return ls_error_set(err, LS_EINVAL, "insert credential: identity too long");
    *blob = malloc(c->secret_len + STORE_SECRET_OVERHEAD);
    if (!*blob)
        return ls_error_set(err, LS_ENOMEM, "insert credential: out of memory");
    return store_secret_seal(key, c->secret, c->secret_len, ad, *blob, err);
}

enum ls_rc store_credentials_insert(struct store *s, const struct store_secret_key *key,
                                    const struct store_credential *c, int64_t *id_out,
                                    struct ls_error *err)
{
    static const char sql[] =
        "WITH ep AS (INSERT INTO endpoints (name, origin) VALUES ($1, 'api')"
        "            ON CONFLICT (name) DO NOTHING),"
        " c AS (INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id,"
        "                                public_key, state, activated_at, revoked_at)"
        "       VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        "               CASE WHEN $8 = 'active' THEN now() END,"
        "               CASE WHEN $8 = 'revoked' THEN now() END)"
        "       RETURNING id)"
        " SELECT id, pg_notify('lodestar_credentials', id::text) FROM c";
    uint8_t *blob = NULL;
    PGresult *res = NULL;
    char key_id[16];
    if (id_out)
        *id_out = 0;
    enum ls_rc rc = seal(key, c, &blob, err);
    if (rc != LS_OK)
        goto out;
    snprintf(key_id, sizeof key_id, "%" PRIu32, key->id);
    bool is_nosec = c->mode && strcmp(c->mode, "nosec") == 0;
    const char *values[8] = {
        c->endpoint, c->scope, c->mode,
        is_nosec ? NULL : c->identity,
        (const char *)blob, blob ? key_id : NULL,
        (const char *)c->public_key, c->state ? c->state : "issued",
    };
    int lengths[8] = { 0, 0, 0, 0, blob ? (int)(c->secret_len + STORE_SECRET_OVERHEAD) : 0, 0,
                       (int)c->public_key_len, 0 };
    int formats[8] = { 0, 0, 0, 0, 1, 0, 1, 0 };
    rc = store_exec(s, "insert credential", sql, 8, values, lengths, formats, &res, err);
    if (rc == LS_OK && id_out && PQntuples(res) == 1)
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
out:
    if (blob)
        explicit_bzero(blob, c->secret_len + STORE_SECRET_OVERHEAD);
    free(blob);
    PQclear(res);
    return rc;
}

enum ls_rc store_credentials_revoke(struct store *s, const char *endpoint, const char *scope,
                                    struct ls_error *err)
{
    static const char sql[] =
        "WITH r AS (UPDATE credentials SET state = 'revoked', revoked_at = now()"
        "           WHERE endpoint = $1 AND scope = $2 AND state <> 'revoked' RETURNING id)"
        " SELECT count(*), pg_notify('lodestar_credentials', $1) FROM r";
    const char *values[2] = { endpoint, scope };
    return store_exec_text(s, "revoke credentials", sql, 2, values, NULL, err);
}

/* Copies the first column of a one-row result into *out. */
static enum ls_rc take_text(PGresult *res, int col, char **out, struct ls_error *err)
{
    *out = strdup(PQntuples(res) == 1 && !PQgetisnull(res, 0, col) ? PQgetvalue(res, 0, col)
                                                                      : "[]");
    return *out ? LS_OK : ls_error_set(err, LS_ENOMEM, "out of memory");
}

enum ls_rc store_credentials_revoke_list(struct store *s, const char *endpoints_json,
                                         const char *scope, int64_t *count_out,
                                         char **revoked_json_out, struct ls_error *err)
{
    static const char sql[] =
        "WITH r AS (UPDATE credentials SET state = 'revoked', revoked_at = now()"
        "           WHERE endpoint IN (SELECT jsonb_array_elements_text($1::jsonb))"
        "           AND ($2::text IS NULL OR scope = $2::text) AND state <> 'revoked'"
        "           RETURNING id, endpoint, scope, mode, identity)"
        " SELECT count(*), coalesce(jsonb_agg(jsonb_build_object('id', id, 'endpoint',"
        " endpoint, 'scope', scope, 'mode', mode, 'identity', identity) ORDER BY id),"
        " '[]')::text, pg_notify('lodestar_credentials', 'revoke') FROM r";
    PGresult *res = NULL;
    const char *values[2] = { endpoints_json, scope };
    *count_out = 0;
    *revoked_json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "revoke credentials", sql, 2, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 1)
        *count_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (rc == LS_OK)
        rc = take_text(res, 1, revoked_json_out, err);
    PQclear(res);
    return rc;
}

enum ls_rc store_credentials_live_endpoints(struct store *s, const char *scope,
                                            char **json_out, struct ls_error *err)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(endpoint ORDER BY endpoint), '[]')::text FROM"
        " (SELECT DISTINCT endpoint FROM credentials WHERE state <> 'revoked'"
        "  AND ($1::text IS NULL OR scope = $1::text)) e";
    PGresult *res = NULL;
    const char *values[1] = { scope };
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "list credential endpoints", sql, 1, values, &res, err);
    if (rc == LS_OK)
        rc = take_text(res, 0, json_out, err);
    PQclear(res);
    return rc;
}

enum ls_rc store_credentials_expire(struct store *s, int64_t ttl_s, int64_t *count_out,
                                    struct ls_error *err)
{
    static const char sql[] =
        "WITH r AS (UPDATE credentials SET state = 'revoked', revoked_at = now()"
        "           WHERE state = 'issued' AND (expires_at < now() OR (expires_at IS NULL"
        "           AND $1::bigint > 0"
        "           AND created_at < now() - $1::bigint * interval '1 second'))"
        "           RETURNING id, endpoint, scope, identity),"
        " a AS (INSERT INTO audit_log (actor, action, target, detail)"
        "       SELECT 'lodestar-server', 'credentials.expire', endpoint,"
        "       jsonb_build_object('credential', id, 'scope', scope, 'identity', identity)"
        "       FROM r)"
        " SELECT count(*) FROM r";
    char ttl[24];
    PGresult *res = NULL;
    int64_t n = 0;
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s);
    const char *values[1] = { ttl };
    if (count_out)
        *count_out = 0;
    enum ls_rc rc = store_exec_text(s, "expire credentials", sql, 1, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 1)
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (rc == LS_OK && n > 0)
        rc = store_exec_text(s, "notify credentials",
                             "SELECT pg_notify('lodestar_credentials', 'expire')", 0, NULL,
                             NULL, err);
    if (count_out)
        *count_out = n;
    return rc;
}

/* ---- issuing in rounds ---- */

/* A growing text buffer for array literals; ok false after ENOMEM. */
struct buf {
    char *p;
    size_t len, cap;
    bool ok;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    if (!b->ok)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->ok = false;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* One element of a text[] literal: NULL, or "..." with " and \ escaped. */
static void buf_elem(struct buf *b, size_t i, const char *v)
{
    buf_put(b, i ? "," : "{", 1);
    if (!v) {
        buf_put(b, "NULL", 4);
        return;
    }
    buf_put(b, "\"", 1);
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\')
            buf_put(b, "\\", 1);
        buf_put(b, c, 1);
    }
    buf_put(b, "\"", 1);
}

static void buf_wipe(struct buf *b)
{
    if (b->p)
        explicit_bzero(b->p, b->cap);
    free(b->p);
}

/* bytes as hex into b's element i (NULL when there are none). */
static enum ls_rc hex_elem(struct buf *b, size_t i, const uint8_t *bytes, size_t len,
                           struct ls_error *err)
{
    if (!bytes) {
        buf_elem(b, i, NULL);
        return LS_OK;
    }
    char *hex = malloc(2 * len + 1);
    if (!hex)
        return ls_error_set(err, LS_ENOMEM, "issue credentials: out of memory");
    for (size_t k = 0; k < len; k++)
        snprintf(hex + 2 * k, 3, "%02x", bytes[k]);
    hex[2 * len] = '\0';
    buf_elem(b, i, hex);
    free(hex);
    return LS_OK;
}

/* The sealed secret of it as hex into b's element i. */
static enum ls_rc seal_hex(const struct store_secret_key *key,
                           const struct store_credentials_issue *it, struct buf *b, size_t i,
                           struct ls_error *err)
{
    struct store_credential c = { .identity = it->identity, .secret = it->psk,
                                  .secret_len = it->psk_len };
    uint8_t *blob = NULL;
    size_t n = it->psk_len + STORE_SECRET_OVERHEAD;
    char *hex = NULL;
    enum ls_rc rc = seal(key, &c, &blob, err);
    if (rc == LS_OK && !(hex = malloc(2 * n + 1)))
        rc = ls_error_set(err, LS_ENOMEM, "issue credentials: out of memory");
    for (size_t k = 0; rc == LS_OK && k < n; k++)
        snprintf(hex + 2 * k, 3, "%02x", blob[k]);
    if (rc == LS_OK)
        buf_elem(b, i, hex);
    if (blob)
        explicit_bzero(blob, n);
    free(blob);
    free(hex);
    return rc;
}

enum ls_rc store_credentials_issue_batch(struct store *s, const struct store_secret_key *key,
                                         struct store_credentials_issue *items, size_t n,
                                         int64_t ttl_s, struct ls_error *err)
{
    static const char sql[] =
        "WITH j AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        "           $5::int[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY AS"
        "           x(endpoint, identity, secret, server_uri, ssid, mode, pk, cert, n)),"
        " ep AS (INSERT INTO endpoints (name, origin) SELECT DISTINCT endpoint, 'bootstrap'"
        "        FROM j ON CONFLICT (name) DO NOTHING),"
        " c AS (INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id,"
        "                                state, server_uri, ssid, expires_at, public_key,"
        "                                certificate)"
        "       SELECT endpoint, 'server', mode, identity, decode(secret, 'hex'), $6::bigint,"
        "              'issued', server_uri, ssid, CASE WHEN $7::bigint > 0 THEN now() +"
        "              $7::bigint * interval '1 second' END, decode(pk, 'hex'), cert"
        "       FROM j ORDER BY n"
        "       ON CONFLICT (scope, mode, identity) WHERE state <> 'revoked'"
        "       AND identity IS NOT NULL AND identity <> '' DO NOTHING"
        "       RETURNING id, identity)"
        " SELECT j.n, c.id FROM j LEFT JOIN c ON c.identity = j.identity ORDER BY j.n";
    struct buf eps = { .ok = true }, ids = { .ok = true }, secs = { .ok = true },
               uris = { .ok = true }, ssids = { .ok = true }, modes = { .ok = true },
               pks = { .ok = true }, certs = { .ok = true };
    char key_id[16], ttl[24], ssid[16];
    PGresult *res = NULL;
    enum ls_rc rc = LS_OK;
    for (size_t i = 0; i < n; i++) {
        items[i].id = 0;
        items[i].rc = LS_EIO;
    }
    for (size_t i = 0; rc == LS_OK && i < n; i++) {
        buf_elem(&eps, i, items[i].endpoint);
        buf_elem(&ids, i, items[i].identity);
        buf_elem(&uris, i, items[i].server_uri);
        snprintf(ssid, sizeof ssid, "%d", items[i].ssid);
        buf_put(&ssids, i ? "," : "{", 1);
        buf_put(&ssids, items[i].ssid > 0 ? ssid : "NULL", strlen(items[i].ssid > 0 ? ssid
                                                                                  : "NULL"));
        buf_elem(&modes, i, items[i].mode ? items[i].mode : "psk");
        buf_elem(&certs, i, items[i].certificate);
        if (rc == LS_OK)
            rc = hex_elem(&pks, i, items[i].public_key, items[i].public_key_len, err);
        if (rc == LS_OK)
            rc = seal_hex(key, &items[i], &secs, i, err);
    }
    struct buf *all[8] = { &eps, &ids, &secs, &uris, &ssids, &modes, &pks, &certs };
    for (size_t k = 0; k < 8; k++)
        buf_put(all[k], n ? "}" : "{}", n ? 1 : 2);
    if (rc == LS_OK && !(eps.ok && ids.ok && secs.ok && uris.ok && ssids.ok && modes.ok &&
                         pks.ok && certs.ok))
        rc = ls_error_set(err, LS_ENOMEM, "issue credentials: out of memory");
    if (rc == LS_OK) {
        snprintf(key_id, sizeof key_id, "%" PRIu32, key->id);
        snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s);
        const char *values[10] = { eps.p, ids.p, secs.p, uris.p, ssids.p, key_id, ttl,
                                   modes.p, pks.p, certs.p };
        rc = store_exec_text(s, "issue credentials", sql, 10, values, &res, err);
    }
    for (int r = 0; rc == LS_OK && r < PQntuples(res); r++) {
        size_t i = (size_t)strtoull(PQgetvalue(res, r, 0), NULL, 10) - 1;
        if (i >= n)
            continue;
        bool inserted = !PQgetisnull(res, r, 1);
        items[i].id = inserted ? strtoll(PQgetvalue(res, r, 1), NULL, 10) : 0;
        /* Not inserted: a live credential has that identity already. */
        items[i].rc = inserted || items[i].already_ok ? LS_OK : LS_ECONFLICT;
    }
    for (size_t k = 0; k < 8; k++)
        buf_wipe(all[k]);
    PQclear(res);
    return rc;
}

/* Opens one row's secret into plain (caller's buffer of blob_len bytes).
 * Returns false (and counts nothing) when the row has no secret. */
static enum ls_rc open_secret(const struct store_secret_key *key, const char *identity,
                              const uint8_t *blob, size_t blob_len, uint8_t *plain,
                              struct ls_error *err)
{
    char ad[AD_MAX];
    if (blob_len < STORE_SECRET_OVERHEAD || !ad_for(identity, ad, sizeof ad))
        return ls_error_set(err, LS_EPROTO, "credential secret is malformed");
    return store_secret_open(key, blob, blob_len, ad, plain, err);
}

/* Calls fn for row i of res; false when its secret does not open. */
static bool emit_row(PGresult *res, int i, const struct store_secret_key *key,
                     store_credential_row_fn *fn, void *arg)
{
    size_t blob_len = 0, pk_len = 0;
    uint8_t *blob = NULL, *pk = NULL, *plain = NULL;
    bool ok = false;
    const char *identity = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
    if (!PQgetisnull(res, i, 5)) {
        if (strtoul(PQgetvalue(res, i, 6), NULL, 10) != key->id)
            goto out;    /* sealed under another master key */
        blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 5), &blob_len);
        plain = blob ? malloc(blob_len > STORE_SECRET_OVERHEAD ? blob_len : 1) : NULL;
        if (!plain || open_secret(key, identity, blob, blob_len, plain, NULL) != LS_OK)
            goto out;
    }
    if (!PQgetisnull(res, i, 7))
        pk = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 7), &pk_len);
    struct store_credential c = {
        .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
        .endpoint = PQgetvalue(res, i, 1),
        .scope = PQgetvalue(res, i, 2),
        .mode = PQgetvalue(res, i, 3),
        .identity = identity,
        .secret = plain,
        .secret_len = plain ? blob_len - STORE_SECRET_OVERHEAD : 0,
        .public_key = pk,
        .public_key_len = pk_len,
        .state = PQgetvalue(res, i, 8),
    };
    fn(arg, &c);
    ok = true;
out:
    if (plain)
        explicit_bzero(plain, blob_len > STORE_SECRET_OVERHEAD ? blob_len : 1);
    free(plain);
    PQfreemem(blob);
    PQfreemem(pk);
    return ok;
}

enum ls_rc store_credentials_load(struct store *s, const struct store_secret_key *key,
                                  const char *scope, store_credential_row_fn *fn, void *arg,
                                  unsigned *skipped_out, struct ls_error *err)
{
    static const char sql[] =
        "SELECT id, endpoint, scope, mode, identity, secret, key_id, public_key, state"
        " FROM credentials WHERE scope = $1 AND state <> 'revoked' ORDER BY id";
    PGresult *res = NULL;
    unsigned skipped = 0;
    const char *values[1] = { scope };
    if (skipped_out)
        *skipped_out = 0;
    enum ls_rc rc = store_exec_text(s, "load credentials", sql, 1, values, &res, err);
    if (rc != LS_OK)
        return rc;
    for (int i = 0; i < PQntuples(res); i++)
        if (!emit_row(res, i, key, fn, arg))
            skipped++;
    PQclear(res);
    if (skipped_out)
        *skipped_out = skipped;
    return LS_OK;
}

/* ---- the cache: full loads and deltas ---- */

struct delta_build {
    struct runtime_credcache_delta *d;
    enum ls_rc rc;
    struct ls_error *err;
};

static void delta_fail(struct delta_build *b, enum ls_rc rc, const struct store_credential *c,
                       const struct ls_error *local)
{
    /* A key too long for DTLS PSK is skipped, not fatal: one bad row must
     * not lock every other device out. */
    if (rc == LS_ENOMEM)
        b->rc = ls_error_set(b->err, rc, "%s", local->msg);
    else if (rc != LS_OK)
        ls_log_warn("credential_skipped", "id=%" PRId64 " endpoint=%s reason=\"%s\"", c->id,
                    c->endpoint, local->msg);
}

/*
 * Issue 7: an x509 row is a certificate key in the cache (16 bytes: the
 * first half of SHA-256 of the certificate DER, the bytes its id
 * "sha256:<hex>" names) -> its endpoint; a revoked one stays, bound to its
 * endpoint marked refused (RUNTIME_CREDCACHE_REFUSED), so that
 * lodestar-server refuses its next handshake although the CA still vouches
 * for it and cuts a session made with it.  Full loads read revoked x509
 * rows for that reason.  The secret (the device's private key) is not
 * needed: an unreadable one changes nothing here.
 */
static enum ls_rc delta_x509(struct delta_build *b, int64_t id, const char *endpoint,
                             const uint8_t *cert, size_t cert_len, bool live,
                             struct ls_error *local)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    char *refused = NULL;
    if (!EVP_Digest(cert, cert_len, md, &n, EVP_sha256(), NULL) || n < 16)
        return ls_error_set(local, LS_EIO, "SHA-256 failed");
    if (!live && asprintf(&refused, "%s%s", RUNTIME_CREDCACHE_REFUSED, endpoint) < 0)
        return ls_error_set(local, LS_ENOMEM, "out of memory");
    enum ls_rc rc = runtime_credcache_delta_put_rpk(b->d, id, md, 16, live ? endpoint : refused,
                                                   local);
    free(refused);
    return rc;
}

/* A row (secret opened) -> put, or drop when revoked. */
static void delta_row(void *arg, const struct store_credential *c)
{
    struct delta_build *b = arg;
    struct ls_error local = { 0 };
    enum ls_rc rc = LS_OK;
    bool live = strcmp(c->state, "revoked") != 0;
    if (b->rc != LS_OK)
        return;
    if (strcmp(c->mode, "x509") == 0 && c->public_key)
        rc = delta_x509(b, c->id, c->endpoint, c->public_key, c->public_key_len, live, &local);
    else if (strcmp(c->mode, "rpk") == 0 && c->public_key)
        rc = live ? runtime_credcache_delta_put_rpk(b->d, c->id, c->public_key,
                                                    c->public_key_len, c->endpoint, &local)
                  : runtime_credcache_delta_drop_rpk(b->d, c->id, c->public_key,
                                                     c->public_key_len, &local);
    else if (strcmp(c->mode, "psk") == 0 && c->identity && *c->identity && live && c->secret)
        rc = runtime_credcache_delta_put(b->d, c->id, (const uint8_t *)c->identity,
                                         strlen(c->identity), c->endpoint, c->secret,
                                         c->secret_len, &local);
    else if (strcmp(c->mode, "psk") == 0 && c->identity && *c->identity)
        rc = runtime_credcache_delta_drop(b->d, c->id, (const uint8_t *)c->identity,
                                          strlen(c->identity), &local);
    delta_fail(b, rc, c, &local);
}

/* A row whose secret does not open: whatever the cache held for it goes. */
static void delta_unreadable(struct delta_build *b, PGresult *res, int i)
{
    struct ls_error local = { 0 };
    if (b->rc == LS_OK && strcmp(PQgetvalue(res, i, 3), "x509") == 0 &&
        !PQgetisnull(res, i, 7)) {
        size_t len = 0;
        uint8_t *cert = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 7), &len);
        struct store_credential c = { .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
                                      .endpoint = PQgetvalue(res, i, 1) };
        if (cert)
            delta_fail(b, delta_x509(b, c.id, c.endpoint, cert, len,
                                     strcmp(PQgetvalue(res, i, 8), "revoked") != 0, &local),
                       &c, &local);
        PQfreemem(cert);
        return;
    }
    if (b->rc != LS_OK || PQgetisnull(res, i, 4) || !*PQgetvalue(res, i, 4) ||
        strcmp(PQgetvalue(res, i, 3), "psk") != 0)
        return;
    const char *identity = PQgetvalue(res, i, 4);
    struct store_credential c = { .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
                                  .endpoint = PQgetvalue(res, i, 1) };
    delta_fail(b, runtime_credcache_delta_drop(b->d, c.id, (const uint8_t *)identity,
                                               strlen(identity), &local), &c, &local);
}

/*
 * Rows of scope as a delta.  since NULL: every live row (a full load);
 * else every row changed by a transaction >= since (revoked ones too).
 * cursor (may be NULL) gets the xmin of the read's snapshot: where the
 * next delta read starts (0007_credential_changes.sql).
 */
/* Which rows read_delta reads: every live one, those changed since a
 * cursor, or one PSK identity's. */
enum delta_read { READ_FULL, READ_SINCE, READ_IDENTITY };

static enum ls_rc read_delta(struct store *s, const struct store_secret_key *key,
                             const char *scope, const char *since, const char *identity,
                             struct store_credentials_cursor *cursor,
                             struct runtime_credcache_delta **out, unsigned *skipped_out,
                             struct ls_error *err)
{
    static const char full_sql[] =
        "WITH x AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin)"
        " SELECT c.id, c.endpoint, c.scope, c.mode, c.identity, c.secret, c.key_id,"
        " c.public_key, c.state, x.xmin FROM x LEFT JOIN credentials c"
        " ON c.scope = $1 AND (c.state <> 'revoked' OR c.mode = 'x509') ORDER BY c.id";
    static const char delta_sql[] =
        "WITH x AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin)"
        " SELECT c.id, c.endpoint, c.scope, c.mode, c.identity, c.secret, c.key_id,"
        " c.public_key, c.state, x.xmin FROM x LEFT JOIN credentials c"
        " ON c.scope = $1 AND c.changed_xid >= $2::xid8 ORDER BY c.id";
    static const char identity_sql[] =
        "WITH x AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin)"
        " SELECT c.id, c.endpoint, c.scope, c.mode, c.identity, c.secret, c.key_id,"
        " c.public_key, c.state, x.xmin FROM x LEFT JOIN credentials c"
        " ON c.scope = $1 AND $2::text IS NULL AND c.mode = 'psk' AND c.identity = $3"
        " AND c.state <> 'revoked'";
    static const char *const sql[] = {
        [READ_FULL] = full_sql, [READ_SINCE] = delta_sql, [READ_IDENTITY] = identity_sql,
    };
    PGresult *res = NULL;
    unsigned skipped = 0;
    enum delta_read what = identity ? READ_IDENTITY : since ? READ_SINCE : READ_FULL;
    const char *values[3] = { scope, since, identity };
    struct delta_build b = { .d = runtime_credcache_delta_new(err), .rc = LS_OK, .err = err };
    *out = NULL;
    if (!b.d)
        return LS_ENOMEM;
    enum ls_rc rc = store_exec_text(s, "load credentials", sql[what],
                                    what == READ_FULL ? 1 : what == READ_SINCE ? 2 : 3, values,
                                    &res, err);
    for (int i = 0; rc == LS_OK && i < PQntuples(res) && b.rc == LS_OK; i++) {
        if (PQgetisnull(res, i, 0))
            continue;   /* the snapshot row alone: nothing matched */
        if (!emit_row(res, i, key, delta_row, &b)) {
            skipped++;
            delta_unreadable(&b, res, i);
        }
    }
    if (rc == LS_OK)
        rc = b.rc;
    if (rc == LS_OK && cursor && what != READ_IDENTITY && PQntuples(res) > 0)
        snprintf(cursor->xmin, sizeof cursor->xmin, "%s", PQgetvalue(res, 0, 9));
    PQclear(res);
    if (rc != LS_OK) {
        runtime_credcache_delta_free(b.d);
        return rc;
    }
    if (skipped)
        ls_log_warn("credentials_unreadable", "scope=%s skipped=%u reason=\"sealed under "
                    "another master key or tampered\"", scope, skipped);
    if (skipped_out)
        *skipped_out = skipped;
    *out = b.d;
    return LS_OK;
}

enum ls_rc store_credentials_load_cache_at(struct store *s, const struct store_secret_key *key,
                                           const char *scope, struct runtime_credcache **out,
                                           struct store_credentials_cursor *cursor,
                                           struct ls_error *err)
{
    struct runtime_credcache_delta *d = NULL;
    *out = NULL;
    enum ls_rc rc = read_delta(s, key, scope, NULL, NULL, cursor, &d, NULL, err);
    if (rc != LS_OK)
        return rc;
    *out = runtime_credcache_new(err);
    if (*out)
        runtime_credcache_apply(*out, d, NULL, NULL);
    runtime_credcache_delta_free(d);
    return *out ? LS_OK : LS_ENOMEM;
}

enum ls_rc store_credentials_load_cache(struct store *s, const struct store_secret_key *key,
                                        const char *scope, struct runtime_credcache **out,
                                        struct ls_error *err)
{
    return store_credentials_load_cache_at(s, key, scope, out, NULL, err);
}

enum ls_rc store_credentials_load_delta(struct store *s, const struct store_secret_key *key,
                                        const char *scope,
                                        struct store_credentials_cursor *cursor,
                                        struct runtime_credcache_delta **out,
                                        struct ls_error *err)
{
    *out = NULL;
    if (!cursor->xmin[0])
        return ls_error_set(err, LS_EINVAL, "credential delta: no cursor (full load first)");
    return read_delta(s, key, scope, cursor->xmin, NULL, cursor, out, NULL, err);
}

enum ls_rc store_credentials_load_identity(struct store *s, const struct store_secret_key *key,
                                           const char *scope, const uint8_t *identity,
                                           size_t identity_len,
                                           struct runtime_credcache_delta **out,
                                           struct ls_error *err)
{
    char text[257];   /* identities longer than 256 bytes are not issued */
    *out = NULL;
    if (identity_len == 0 || identity_len >= sizeof text ||
        memchr(identity, '\0', identity_len))
        return (*out = runtime_credcache_delta_new(err)) ? LS_OK : LS_ENOMEM;
    memcpy(text, identity, identity_len);
    text[identity_len] = '\0';
    return read_delta(s, key, scope, NULL, text, NULL, out, NULL, err);
}

/* ---- the watcher thread ---- */

#define COALESCE_MS 50     /* at most one read per this, during a burst */

struct store_credentials_watch {
    struct store_credentials_watch_options o;
    struct store_secret_key key;        /* copy; wiped at stop */
    char *conninfo;
    char listen_sql[64];                /* LISTEN lodestar_credentials_<scope> */
    struct store_credentials_cursor cursor;
    pthread_t thread;
    int stop_fd;                        /* eventfd: stop request */
    pthread_mutex_t lock;               /* guards pending, pending_delta */
    struct runtime_credcache *pending;  /* built, not yet taken by the loop */
    struct runtime_credcache_delta *pending_delta;   /* never both */
};

/* Loop thread: take the newest table, or the deltas read since the last
 * hand-over. */
static void deliver(struct runtime_loop *loop, void *arg)
{
    struct store_credentials_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    struct runtime_credcache *t = w->pending;
    struct runtime_credcache_delta *d = w->pending_delta;
    w->pending = NULL;
    w->pending_delta = NULL;
    pthread_mutex_unlock(&w->lock);
    if (t)
        w->o.fn(w->o.arg, t);
    if (d)
        w->o.delta(w->o.arg, d);
    runtime_credcache_delta_free(d);
}

static void post_delivery(struct store_credentials_watch *w)
{
    if (runtime_loop_post(w->o.loop, deliver, w, NULL) != LS_OK)
        ls_log_warn("credentials_reload_deferred", "reason=\"out of memory\"");
}

static void publish(struct store_credentials_watch *w, struct runtime_credcache *t)
{
    pthread_mutex_lock(&w->lock);
    bool idle = !w->pending && !w->pending_delta;
    runtime_credcache_free(w->pending);
    runtime_credcache_delta_free(w->pending_delta);   /* the table is newer */
    w->pending = t;
    w->pending_delta = NULL;
    pthread_mutex_unlock(&w->lock);
    if (idle)
        post_delivery(w);
}

/* A table not handed over yet takes the delta at once (nobody reads it);
 * deltas not handed over yet are chained. */
static void publish_delta(struct store_credentials_watch *w, struct runtime_credcache_delta *d)
{
    pthread_mutex_lock(&w->lock);
    bool idle = !w->pending && !w->pending_delta;
    if (w->pending) {
        runtime_credcache_apply(w->pending, d, NULL, NULL);
        runtime_credcache_delta_free(d);
    } else if (w->pending_delta) {
        runtime_credcache_delta_append(w->pending_delta, d);
        runtime_credcache_delta_free(d);
    } else {
        w->pending_delta = d;
    }
    pthread_mutex_unlock(&w->lock);
    if (idle)
        post_delivery(w);
}

/* LISTEN and load the whole scope; false when the database is away. */
static bool listen_and_load(struct store_credentials_watch *w, struct store *s)
{
    struct ls_error err = { 0 };
    struct runtime_credcache *t = NULL;
    if (store_exec_text(s, "listen credentials", w->listen_sql, 0, NULL, NULL, &err) != LS_OK ||
        store_credentials_load_cache_at(s, &w->key, w->o.scope, &t, &w->cursor, &err) !=
            LS_OK) {
        if (err.code != LS_ETRANSIENT)
            ls_log_warn("credentials_reload_failed", "error=\"%s\"", err.msg);
        return false;
    }
    ls_log_debug("credentials_loaded", "scope=%s count=%zu", w->o.scope,
                 runtime_credcache_count(t));
    publish(w, t);
    return true;
}

/* The rows changed since the last read; false when that failed (the
 * caller then starts over with a full load). */
static bool load_changes(struct store_credentials_watch *w, struct store *s)
{
    struct ls_error err = { 0 };
    struct runtime_credcache_delta *d = NULL;
    if (!w->o.delta)
        return listen_and_load(w, s);
    if (store_credentials_load_delta(s, &w->key, w->o.scope, &w->cursor, &d, &err) != LS_OK) {
        if (err.code != LS_ETRANSIENT)
            ls_log_warn("credentials_reload_failed", "error=\"%s\"", err.msg);
        return false;
    }
    ls_log_debug("credentials_changed", "scope=%s rows=%zu", w->o.scope,
                 runtime_credcache_delta_count(d));
    if (runtime_credcache_delta_count(d))
        publish_delta(w, d);
    else
        runtime_credcache_delta_free(d);
    return true;
}

/* Takes the notifications libpq already holds: those read from the
 * socket while a query ran (a load, a tick) never make it readable again.
 * Payload "full": a live row was deleted, which a delta read cannot see. */
static void take_notifies(PGconn *c, bool *changed, bool *full)
{
    PGnotify *n;
    while (c && (n = PQnotifies(c))) {
        *changed = true;
        if (n->extra && strcmp(n->extra, "full") == 0)
            *full = true;
        PQfreemem(n);
    }
}

/* Reads the socket and takes notifications; false when the connection broke. */
static bool drain(struct store *s, bool *changed, bool *full)
{
    PGconn *c = store_pgconn(s);
    if (!c || !PQconsumeInput(c))
        return false;
    take_notifies(c, changed, full);
    return true;
}

/* How long poll may sleep: until the next tick, the end of the coalescing
 * window when a change waits, or the reconnect pace. */
static int64_t wait_ms(const struct store_credentials_watch *w, bool listening, bool changed,
                       int64_t now, int64_t next_tick, int64_t last_load)
{
    int64_t wait = listening ? 1000 : 500;   /* reconnect pace while away */
    if (w->o.tick && next_tick - now < wait)
        wait = next_tick - now;
    if (listening && changed && last_load + COALESCE_MS - now < wait)
        wait = last_load + COALESCE_MS - now;
    return wait > 0 ? wait : 0;
}

static void *watch_main(void *arg)
{
    struct store_credentials_watch *w = arg;
    struct store *s = store_open(w->conninfo, NULL);
    bool listening = false, changed = false, full = false;
    int64_t next_tick = runtime_clock_now_ms(), last_load = 0;
    while (s) {
        int64_t now = runtime_clock_now_ms();
        if (!listening || ((changed || full) && now - last_load >= COALESCE_MS)) {
            /* LISTEN again is harmless */
            listening = !listening || full ? listen_and_load(w, s) : load_changes(w, s);
            changed = full = false;
            last_load = now;
        }
        if (w->o.tick && now >= next_tick) {
            w->o.tick(w->o.tick_arg, s);
            next_tick = now + w->o.tick_ms;
        }
        PGconn *c = listening ? store_pgconn(s) : NULL;
        take_notifies(c, &changed, &full);
        struct pollfd p[2] = { { .fd = w->stop_fd, .events = POLLIN },
                               { .fd = c ? PQsocket(c) : -1, .events = POLLIN } };
        int64_t wait = wait_ms(w, listening, changed || full, runtime_clock_now_ms(),
                               next_tick, last_load);
        if (poll(p, 2, (int)wait) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        if (listening && p[1].revents && !drain(s, &changed, &full)) {
            struct ls_error err = { 0 };
            listening = false;
            if (store_ping(s, &err) != LS_OK)   /* lets the store notice and log it */
                ls_log_debug("credentials_watch_down", "error=\"%s\"", err.msg);
        }
    }
    store_close(s);
    return NULL;
}

struct store_credentials_watch *
store_credentials_watch_start(const struct store_credentials_watch_options *o,
                              struct ls_error *err)
{
    struct store_credentials_watch *w = calloc(1, sizeof *w);
    if (!w || !(w->conninfo = strdup(o->conninfo))) {
        free(w);
        ls_error_set(err, LS_ENOMEM, "credential watcher: out of memory");
        return NULL;
    }
    w->o = *o;
    w->key = *o->key;
    snprintf(w->listen_sql, sizeof w->listen_sql, "LISTEN lodestar_credentials_%s", o->scope);
    pthread_mutex_init(&w->lock, NULL);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->stop_fd < 0 || pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        ls_error_set(err, LS_EIO, "credential watcher: cannot start: %s", strerror(errno));
        if (w->stop_fd >= 0)
            close(w->stop_fd);
        pthread_mutex_destroy(&w->lock);
        explicit_bzero(&w->key, sizeof w->key);
        free(w->conninfo);
        free(w);
        return NULL;
    }
    return w;
}

void store_credentials_watch_stop(struct store_credentials_watch *w)
{
    if (!w)
        return;
    uint64_t one = 1;
    if (write(w->stop_fd, &one, sizeof one) < 0)
        ls_log_warn("credentials_watch_stop", "error=\"%s\"", strerror(errno));
    pthread_join(w->thread, NULL);
    close(w->stop_fd);
    runtime_credcache_free(w->pending);
    runtime_credcache_delta_free(w->pending_delta);
    pthread_mutex_destroy(&w->lock);
    explicit_bzero(&w->key, sizeof w->key);
    free(w->conninfo);
    free(w);
}
