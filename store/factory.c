/*
 * store/factory.c -- factory batches: generation, one-transaction insert,
 * export with the secrets opened
 *
 * Implements store/factory.h.  A batch of any size costs four statements:
 * the batch row, the endpoints and one credentials insert per account
 * kind, each taking Postgres text arrays (endpoint, identity, sealed key in
 * hex) that unnest() turns into rows.  Sealing uses the associated data
 * store/credentials.c uses ("credential:<identity>"), so the daemons open
 * these secrets like any other credential's.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/factory.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define AD_MAX 600   /* "credential:" + identity, as store/credentials.c */
#define IDENTITY_MAX (STORE_FACTORY_NAME_MAX + 18)

static void hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/* The three arrays of one account kind. */
struct rows {
    struct store_pgarray ep, id, sealed;
};

/* Fresh identity and key for endpoint; the key sealed (hex) into r. */
static enum ls_rc make_one(const struct store_secret_key *key, const char *endpoint,
                           size_t key_bytes, struct rows *r, struct ls_error *err)
{
    uint8_t rnd[8], psk[STORE_FACTORY_KEY_MAX], blob[STORE_FACTORY_KEY_MAX + STORE_SECRET_OVERHEAD];
    char identity[IDENTITY_MAX], rhex[17], ad[AD_MAX];
    char bhex[2 * sizeof blob + 1];
    if (RAND_bytes(rnd, sizeof rnd) != 1 || RAND_bytes(psk, (int)key_bytes) != 1)
        return ls_error_set(err, LS_EIO, "factory batch: RAND_bytes failed");
    hex(rnd, sizeof rnd, rhex);
    snprintf(identity, sizeof identity, "%s-%s", endpoint, rhex);
    snprintf(ad, sizeof ad, "credential:%s", identity);
    enum ls_rc rc = store_secret_seal(key, psk, key_bytes, ad, blob, err);
    explicit_bzero(psk, sizeof psk);
    if (rc != LS_OK)
        return rc;
    hex(blob, key_bytes + STORE_SECRET_OVERHEAD, bhex);
    store_pgarray_add(&r->ep, endpoint);
    store_pgarray_add(&r->id, identity);
    store_pgarray_add(&r->sealed, bhex);
    return LS_OK;
}

static enum ls_rc check_batch(const struct store_factory_batch *b, struct ls_error *err)
{
    if (!b->bootstrap.uri && !b->server.uri)
        return ls_error_set(err, LS_EINVAL, "a batch needs a bootstrap or a server account");
    if (b->n < 1 || b->n > STORE_FACTORY_MAX_DEVICES)
        return ls_error_set(err, LS_EINVAL, "a batch has 1..%d devices",
                            STORE_FACTORY_MAX_DEVICES);
    if (b->key_bytes < STORE_FACTORY_KEY_MIN || b->key_bytes > STORE_FACTORY_KEY_MAX)
        return ls_error_set(err, LS_EINVAL, "key_bytes must be %d..%d", STORE_FACTORY_KEY_MIN,
                            STORE_FACTORY_KEY_MAX);
    if (b->server.uri && (b->server.ssid < 1 || b->server.ssid > 65534))
        return ls_error_set(err, LS_EINVAL, "server.ssid must be 1..65534");
    for (size_t i = 0; i < b->n; i++) {
        size_t len = strlen(b->endpoints[i]);
        if (len < 1 || len > STORE_FACTORY_NAME_MAX)
            return ls_error_set(err, LS_EINVAL, "endpoint names have 1..%d bytes",
                                STORE_FACTORY_NAME_MAX);
    }
    return LS_OK;
}

static enum ls_rc insert_rows(struct store *s, const struct store_secret_key *key,
                              const char *batch, const char *scope,
                              const struct store_factory_account *acc, struct rows *r,
                              struct ls_error *err)
{
    static const char sql[] =
        "INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id, server_uri,"
        " ssid, state, activated_at, batch_id)"
        " SELECT t.e, $4::text, 'psk', t.i, decode(t.k, 'hex'), $5::bigint, $6::text,"
        " $7::integer, 'active', now(), $8::bigint"
        " FROM unnest($1::text[], $2::text[], $3::text[]) AS t(e, i, k)";
    char key_id[16], ssid[16];
    snprintf(key_id, sizeof key_id, "%" PRIu32, key->id);
    snprintf(ssid, sizeof ssid, "%d", acc->ssid);
    const char *eps = store_pgarray_text(&r->ep), *ids = store_pgarray_text(&r->id);
    const char *sealed = store_pgarray_text(&r->sealed);
    if (!eps || !ids || !sealed)
        return ls_error_set(err, LS_ENOMEM, "factory batch: out of memory");
    const char *v[8] = { eps, ids, sealed, scope, key_id, acc->uri,
                         acc->ssid > 0 ? ssid : NULL, batch };
    return store_exec_text(s, "insert factory credentials", sql, 8, v, NULL, err);
}

/* Generates and inserts the accounts of one kind for every device. */
static enum ls_rc make_accounts(struct store *s, const struct store_secret_key *key,
                                const struct store_factory_batch *b, const char *batch,
                                const char *scope, const struct store_factory_account *acc,
                                struct ls_error *err)
{
    struct rows r = { 0 };
    enum ls_rc rc = LS_OK;
    for (size_t i = 0; i < b->n && rc == LS_OK; i++)
        rc = make_one(key, b->endpoints[i], b->key_bytes, &r, err);
    if (rc == LS_OK)
        rc = insert_rows(s, key, batch, scope, acc, &r, err);
    store_pgarray_free(&r.ep);
    store_pgarray_free(&r.id);
    store_pgarray_free(&r.sealed);
    return rc;
}

static enum ls_rc create_in_tx(struct store *s, const struct store_secret_key *key,
                               const struct store_factory_batch *b, int64_t *id,
                               struct ls_error *err)
{
    static const char batch_sql[] =
        "INSERT INTO factory_batches (created_by, spec, device_count)"
        " VALUES ($1::bigint, $2::jsonb, $3::integer) RETURNING id";
    static const char ep_sql[] =
        "INSERT INTO endpoints (name, origin) SELECT unnest($1::text[]), 'factory'"
        " ON CONFLICT (name) DO NOTHING";
    static const char notify_sql[] = "SELECT pg_notify('lodestar_credentials', $1)";
    char token[24], count[24], batch[24], payload[40];
    PGresult *res = NULL;
    struct store_pgarray eps = { 0 };
    snprintf(token, sizeof token, "%" PRId64, b->token_id);
    snprintf(count, sizeof count, "%zu", b->n);
    const char *bv[3] = { b->token_id ? token : NULL, b->spec_json ? b->spec_json : "{}",
                          count };
    enum ls_rc rc = store_exec_text(s, "insert factory batch", batch_sql, 3, bv, &res, err);
    if (rc != LS_OK)
        return rc;
    *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    snprintf(batch, sizeof batch, "%" PRId64, *id);
    for (size_t i = 0; i < b->n; i++)
        store_pgarray_add(&eps, b->endpoints[i]);
    const char *ev[1] = { store_pgarray_text(&eps) };
    rc = ev[0] ? store_exec_text(s, "insert factory endpoints", ep_sql, 1, ev, NULL, err)
               : ls_error_set(err, LS_ENOMEM, "factory batch: out of memory");
    store_pgarray_free(&eps);
    if (rc == LS_OK && b->bootstrap.uri)
        rc = make_accounts(s, key, b, batch, "bootstrap", &b->bootstrap, err);
    if (rc == LS_OK && b->server.uri)
        rc = make_accounts(s, key, b, batch, "server", &b->server, err);
    snprintf(payload, sizeof payload, "batch:%s", batch);
    const char *nv[1] = { payload };
    if (rc == LS_OK)
        rc = store_exec_text(s, "notify credentials", notify_sql, 1, nv, NULL, err);
    return rc;
}

enum ls_rc store_factory_create(struct store *s, const struct store_secret_key *key,
                                const struct store_factory_batch *b, int64_t *id_out,
                                struct ls_error *err)
{
    int64_t id = 0;
    *id_out = 0;
    enum ls_rc rc = check_batch(b, err);
    if (rc != LS_OK)
        return rc;
    rc = store_exec_text(s, "begin", "BEGIN", 0, NULL, NULL, err);
    if (rc != LS_OK)
        return rc;
    rc = create_in_tx(s, key, b, &id, err);
    if (rc == LS_OK)
        rc = store_exec_text(s, "commit", "COMMIT", 0, NULL, NULL, err);
    if (rc != LS_OK) {
        struct ls_error ignored = { 0 };
        if (store_exec_text(s, "rollback", "ROLLBACK", 0, NULL, NULL, &ignored) != LS_OK)
            (void)0;   /* the connection is gone: the transaction died with it */
        return rc;
    }
    *id_out = id;
    return LS_OK;
}

/* Opens row i's secret and calls fn; LS_EPROTO when it does not open. */
static enum ls_rc export_row(PGresult *res, int i, const struct store_secret_key *key,
                             store_factory_row_fn *fn, void *arg, struct ls_error *err)
{
    size_t blob_len = 0;
    char ad[AD_MAX];
    const char *identity = PQgetvalue(res, i, 2);
    if (strtoul(PQgetvalue(res, i, 4), NULL, 10) != key->id)
        return ls_error_set(err, LS_EPROTO, "a key of the batch is sealed under another "
                            "master key");
    uint8_t *blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 3), &blob_len);
    uint8_t plain[256];
    enum ls_rc rc;
    snprintf(ad, sizeof ad, "credential:%s", identity);
    if (!blob || blob_len < STORE_SECRET_OVERHEAD ||
        blob_len - STORE_SECRET_OVERHEAD > sizeof plain)
        rc = ls_error_set(err, LS_EPROTO, "a key of the batch is malformed");
    else
        rc = store_secret_open(key, blob, blob_len, ad, plain, err);
    if (rc == LS_OK) {
        struct store_factory_row r = {
            .endpoint = PQgetvalue(res, i, 0),
            .scope = PQgetvalue(res, i, 1),
            .identity = identity,
            .key = plain,
            .key_len = blob_len - STORE_SECRET_OVERHEAD,
            .uri = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5),
            .ssid = PQgetisnull(res, i, 6) ? 0 : atoi(PQgetvalue(res, i, 6)),
            .state = PQgetvalue(res, i, 7),
        };
        fn(arg, &r);
    }
    explicit_bzero(plain, sizeof plain);
    PQfreemem(blob);
    return rc;
}

enum ls_rc store_factory_export(struct store *s, const struct store_secret_key *key,
                                int64_t batch_id, store_factory_row_fn *fn, void *arg,
                                int64_t *devices_out, char **created_at_out,
                                struct ls_error *err)
{
    static const char batch_sql[] =
        "SELECT device_count,"
        " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        " FROM factory_batches WHERE id = $1::bigint";
    static const char rows_sql[] =
        "SELECT endpoint, scope, identity, secret, key_id, server_uri, ssid, state"
        " FROM credentials WHERE batch_id = $1::bigint AND state <> 'revoked'"
        " AND mode = 'psk' AND secret IS NOT NULL ORDER BY endpoint, scope, id";
    char id[24];
    PGresult *res = NULL;
    if (created_at_out)
        *created_at_out = NULL;
    snprintf(id, sizeof id, "%" PRId64, batch_id);
    const char *v[1] = { id };
    enum ls_rc rc = store_exec_text(s, "get factory batch", batch_sql, 1, v, &res, err);
    if (rc != LS_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return ls_error_set(err, LS_ENOTFOUND, "no factory batch %" PRId64, batch_id);
    }
    if (devices_out)
        *devices_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (created_at_out && !(*created_at_out = strdup(PQgetvalue(res, 0, 1))))
        rc = ls_error_set(err, LS_ENOMEM, "out of memory");
    PQclear(res);
    res = NULL;
    if (rc == LS_OK)
        rc = store_exec_text(s, "export factory batch", rows_sql, 1, v, &res, err);
    for (int i = 0; rc == LS_OK && i < PQntuples(res); i++)
        rc = export_row(res, i, key, fn, arg, err);
    PQclear(res);
    if (rc != LS_OK && created_at_out) {
        free(*created_at_out);
        *created_at_out = NULL;
    }
    return rc;
}
