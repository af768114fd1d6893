/*
 * store/rekey.c -- master key check at start-up and master key rotation
 * (store/rekey.h)
 *
 * The rotation holds EXCLUSIVE locks on credentials and master_key for its
 * whole transaction: readers (a running daemon's cache loads) go on,
 * writers wait, and a writer that was already in flight finishes before
 * the rotation starts.  A writer that waited re-reads master_key after the
 * commit, and migrations/0010's trigger refuses its secret if it was
 * sealed under the old key.  Rows are read through a cursor, 500 at a
 * time (FETCH_BATCH), and written back with one UPDATE per batch (arrays
 * unnested), so memory stays bounded however many credentials there are.
 *
 * Only one table holds sealed secrets today: credentials.secret, sealed
 * with associated data "credential:<identity>" (store/credentials.c,
 * store/factory.c).  A new sealed column gets its own entry in sealed[].
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/rekey.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/daemon.h"
#include "runtime/log.h"
#include "store/store_int.h"

#define FETCH_BATCH "FETCH 500 FROM rekey_rows"    /* rows re-sealed per UPDATE */
#define AD_MAX 600          /* "credential:" + identity, as store/credentials.c */
#define LOCK_TIMEOUT "'30s'"

/* A column of sealed secrets: the cursor's query returns id, the text the
 * associated data is made of, the blob and its key id, in that order. */
struct sealed_column {
    const char *name;       /* for messages: "credentials.secret" */
    const char *ad_prefix;  /* "credential:" */
    const char *select;     /* $1 = the new key id */
    const char *update;     /* $1 ids, $2 blobs (hex), $3 the new key id */
};

static const struct sealed_column sealed[] = {
    { "credentials.secret", "credential:",
      "DECLARE rekey_rows NO SCROLL CURSOR FOR"
      " SELECT id, coalesce(identity, ''), secret, key_id FROM credentials"
      " WHERE secret IS NOT NULL AND key_id <> $1::bigint ORDER BY id",
      "UPDATE credentials c SET secret = decode(u.blob, 'hex'), key_id = $3::bigint"
      " FROM unnest($1::bigint[], $2::text[]) AS u(id, blob) WHERE c.id = u.id" },
};

#define N_SEALED (sizeof sealed / sizeof sealed[0])

/* ---- the check ---- */

static enum ls_rc read_record(struct store *s, uint32_t claim, bool *found, uint32_t *id,
                              uint32_t *previous, char *rotated, size_t cap,
                              struct ls_error *err)
{
    static const char sql[] =
        "WITH ins AS (INSERT INTO master_key (key_id) VALUES ($1::bigint)"
        "             ON CONFLICT DO NOTHING RETURNING key_id, previous_key_id, rotated_at)"
        " SELECT key_id, previous_key_id, coalesce(to_char(rotated_at AT TIME ZONE 'UTC',"
        "        'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') FROM ins"
        " UNION ALL SELECT key_id, previous_key_id, coalesce(to_char(rotated_at AT TIME ZONE"
        "        'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') FROM master_key LIMIT 1";
    char v[16];
    snprintf(v, sizeof v, "%" PRIu32, claim);
    const char *values[1] = { v };
    PGresult *res = NULL;
    enum ls_rc rc = store_exec_text(s, "read master key record", sql, 1, values, &res, err);
    *found = rc == LS_OK && PQntuples(res) == 1;
    if (*found) {
        *id = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
        *previous = PQgetisnull(res, 0, 1) ? 0 : (uint32_t)strtoul(PQgetvalue(res, 0, 1),
                                                                     NULL, 10);
        snprintf(rotated, cap, "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return rc;
}

enum ls_rc store_rekey_check(struct store *s, const struct store_secret_key *key,
                             struct ls_error *err)
{
    bool found = false;
    uint32_t id = 0, previous = 0;
    char rotated[40] = "";
    enum ls_rc rc = LS_OK;
    /* Zero rows: another daemon claimed it after our snapshot; read again. */
    for (int attempt = 0; rc == LS_OK && !found && attempt < 3; attempt++)
        rc = read_record(s, key->id, &found, &id, &previous, rotated, sizeof rotated, err);
    if (rc != LS_OK)
        return rc;
    if (!found)
        return ls_error_set(err, LS_EIO, "master key record: no row after claiming it");
    if (id == key->id)
        return LS_OK;
    rc = ls_error_set(err, LS_ECONFLICT, "master key does not match the database: this key "
                      "has id %08" PRIx32 ", the stored secrets are under key id %08" PRIx32,
                      key->id, id);
    if (previous == key->id && rotated[0])
        snprintf(err->detail, sizeof err->detail,
                 "This is the previous master key, replaced by --rotate-master-key at %s: "
                 "start with the new key.", rotated);
    else
        snprintf(err->detail, sizeof err->detail,
                 "Start with the master key the database was sealed under; to change keys "
                 "run lodestar-server --rotate-master-key with the current one "
                 "(docs/operations.md).");
    return rc;
}

int store_rekey_startup(struct store *s, const uint8_t raw[STORE_SECRET_KEY_LEN])
{
    struct store_secret_key key;
    struct ls_error err = { 0 };
    store_secret_key_from_bytes(raw, &key);
    enum ls_rc rc = store_rekey_check(s, &key, &err);
    explicit_bzero(&key, sizeof key);
    if (rc == LS_OK)
        return -1;
    if (rc == LS_ECONFLICT)
        ls_log_error("master_key_mismatch", "error=\"%s\" detail=\"%s\"", err.msg, err.detail);
    else
        ls_log_error("master_key_check_failed", "error=\"%s\" detail=\"%s\"", err.msg,
                     err.detail);
    return RUNTIME_DAEMON_EXIT_FAILURE;
}

/* ---- the rotation ---- */

static void to_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/* Opens row i of res under old and seals it under new, as hex into out
 * (2 * blob length + 1 bytes). */
static enum ls_rc reseal_row(const struct sealed_column *col, PGresult *res, int i,
                             const struct store_secret_key *old,
                             const struct store_secret_key *new_key, char *out,
                             struct ls_error *err)
{
    const char *id = PQgetvalue(res, i, 0);
    uint32_t key_id = (uint32_t)strtoul(PQgetvalue(res, i, 3), NULL, 10);
    char ad[AD_MAX];
    size_t len = 0;
    if (key_id != old->id)
        return ls_error_set(err, LS_EPROTO, "%s of row %s is sealed under key id %08" PRIx32
                            ", neither the old nor the new key", col->name, id, key_id);
    int n = snprintf(ad, sizeof ad, "%s%s", col->ad_prefix, PQgetvalue(res, i, 1));
    uint8_t *blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 2), &len);
    uint8_t *plain = blob && len >= STORE_SECRET_OVERHEAD ? malloc(len) : NULL;
    enum ls_rc rc;
    if (n < 0 || (size_t)n >= sizeof ad || !plain)
        rc = ls_error_set(err, blob ? LS_EPROTO : LS_ENOMEM, "%s of row %s is malformed",
                          col->name, id);
    else if (store_secret_open(old, blob, len, ad, plain, NULL) != LS_OK)
        rc = ls_error_set(err, LS_EPROTO, "%s of row %s does not open under the old key",
                          col->name, id);
    else
        rc = store_secret_seal(new_key, plain, len - STORE_SECRET_OVERHEAD, ad, blob, err);
    if (rc == LS_OK)
        to_hex(blob, len, out);
    if (plain)
        explicit_bzero(plain, len);
    free(plain);
    if (blob)
        explicit_bzero(blob, len);
    PQfreemem(blob);
    return rc;
}

/* Re-seals one fetched batch and writes it back. */
static enum ls_rc reseal_batch(struct store *s, const struct sealed_column *col, PGresult *res,
                               const struct store_secret_key *old,
                               const struct store_secret_key *new_key, const char *new_id,
                               uint64_t *count, struct ls_error *err)
{
    struct store_pgarray ids = { 0 }, blobs = { 0 };
    enum ls_rc rc = LS_OK;
    for (int i = 0; rc == LS_OK && i < PQntuples(res); i++) {
        /* text bytea is "\x" + 2 hex per byte: the blob is shorter */
        size_t cap = PQgetlength(res, i, 2) + 1;
        char *hex = malloc(cap);
        if (!hex)
            rc = ls_error_set(err, LS_ENOMEM, "rotate: out of memory");
        else
            rc = reseal_row(col, res, i, old, new_key, hex, err);
        if (rc == LS_OK) {
            store_pgarray_add(&ids, PQgetvalue(res, i, 0));
            store_pgarray_add(&blobs, hex);
        }
        if (hex)
            explicit_bzero(hex, cap);
        free(hex);
    }
    const char *id_list = store_pgarray_text(&ids), *blob_list = store_pgarray_text(&blobs);
    if (rc == LS_OK && (!id_list || !blob_list))
        rc = ls_error_set(err, LS_ENOMEM, "rotate: out of memory");
    PGresult *up = NULL;
    if (rc == LS_OK && ids.count) {
        const char *values[3] = { id_list, blob_list, new_id };
        rc = store_exec_text(s, "re-seal secrets", col->update, 3, values, &up, err);
        if (rc == LS_OK)
            *count += strtoull(PQcmdTuples(up), NULL, 10);
    }
    PQclear(up);
    store_pgarray_free(&ids);
    store_pgarray_free(&blobs);
    return rc;
}

static enum ls_rc reseal_column(struct store *s, const struct sealed_column *col,
                                const struct store_secret_key *old,
                                const struct store_secret_key *new_key,
                                struct store_rekey_report *r, struct ls_error *err)
{
    char new_id[16];
    snprintf(new_id, sizeof new_id, "%" PRIu32, new_key->id);
    const char *v[1] = { new_id };
    enum ls_rc rc = store_exec_text(s, "open rotation cursor", col->select, 1, v, NULL, err);
    while (rc == LS_OK) {
        PGresult *res = NULL;
        rc = store_exec_text(s, "fetch secrets", FETCH_BATCH, 0, NULL, &res, err);
        int n = rc == LS_OK ? PQntuples(res) : 0;
        if (rc == LS_OK && n)
            rc = reseal_batch(s, col, res, old, new_key, new_id, &r->resealed, err);
        PQclear(res);
        if (n == 0)
            break;
    }
    if (rc == LS_OK)
        rc = store_exec_text(s, "close rotation cursor", "CLOSE rekey_rows", 0, NULL, NULL, err);
    return rc;
}

/* The record under lock: decides whether old may rotate to new. */
static enum ls_rc take_record(struct store *s, const struct store_secret_key *old,
                              const struct store_secret_key *new_key,
                              struct store_rekey_report *r, struct ls_error *err)
{
    PGresult *res = NULL;
    enum ls_rc rc = store_exec_text(s, "read master key record",
                                    "SELECT key_id FROM master_key", 0, NULL, &res, err);
    if (rc != LS_OK)
        return rc;
    bool found = PQntuples(res) == 1;
    uint32_t cur = found ? (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    r->was_current = found && cur == new_key->id;
    if (found && cur != old->id && cur != new_key->id)
        return ls_error_set(err, LS_ECONFLICT, "--master-key (key id %08" PRIx32 ") is not the "
                            "database's master key (key id %08" PRIx32 ")", old->id, cur);
    if (r->was_current)
        return LS_OK;
    char o[16], n[16];
    snprintf(o, sizeof o, "%" PRIu32, old->id);
    snprintf(n, sizeof n, "%" PRIu32, new_key->id);
    const char *values[2] = { n, o };
    return store_exec_text(s, "record the new master key",
                           "INSERT INTO master_key (key_id, previous_key_id, rotated_at)"
                           " VALUES ($1::bigint, $2::bigint, now()) ON CONFLICT (singleton)"
                           " DO UPDATE SET key_id = EXCLUDED.key_id,"
                           " previous_key_id = EXCLUDED.previous_key_id,"
                           " rotated_at = EXCLUDED.rotated_at", 2, values, NULL, err);
}

static enum ls_rc count_already(struct store *s, const struct store_secret_key *new_key,
                                uint64_t *out, struct ls_error *err)
{
    char n[16];
    snprintf(n, sizeof n, "%" PRIu32, new_key->id);
    const char *values[1] = { n };
    PGresult *res = NULL;
    enum ls_rc rc = store_exec_text(s, "count secrets under the new key",
                                    "SELECT count(*) FROM credentials WHERE key_id = $1::bigint",
                                    1, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 1)
        *out = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

static enum ls_rc rotate_in_tx(struct store *s, const struct store_secret_key *old,
                               const struct store_secret_key *new_key,
                               struct store_rekey_report *r, struct ls_error *err)
{
    enum ls_rc rc = store_exec_text(s, "set lock timeout", "SET LOCAL lock_timeout = "
                                    LOCK_TIMEOUT, 0, NULL, NULL, err);
    if (rc == LS_OK)
        rc = store_exec_text(s, "lock secrets", "LOCK TABLE master_key, credentials"
                             " IN EXCLUSIVE MODE", 0, NULL, NULL, err);
    if (rc == LS_OK)
        rc = count_already(s, new_key, &r->already, err);
    if (rc == LS_OK)
        rc = take_record(s, old, new_key, r, err);
    for (size_t i = 0; rc == LS_OK && i < N_SEALED; i++)
        rc = reseal_column(s, &sealed[i], old, new_key, r, err);
    return rc;
}

enum ls_rc store_rekey_rotate(struct store *s, const struct store_secret_key *old,
                              const struct store_secret_key *new_key,
                              struct store_rekey_report *report, struct ls_error *err)
{
    struct store_rekey_report local = { 0 };
    struct store_rekey_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    r->old_id = old->id;
    r->new_id = new_key->id;
    enum ls_rc rc = store_exec_text(s, "begin rotation", "BEGIN", 0, NULL, NULL, err);
    if (rc != LS_OK)
        return rc;
    rc = rotate_in_tx(s, old, new_key, r, err);
    if (rc == LS_OK)
        rc = store_exec_text(s, "commit rotation", "COMMIT", 0, NULL, NULL, err);
    if (rc != LS_OK) {
        struct ls_error ignored = { 0 };
        /* A failed statement aborted the transaction; a lost connection
         * rolled it back already.  Either way nothing was changed. */
        if (store_exec_text(s, "rollback rotation", "ROLLBACK", 0, NULL, NULL, &ignored) !=
            LS_OK)
            ls_log_debug("master_key_rollback", "error=\"%s\"", ignored.msg);
        r->resealed = 0;
    }
    return rc;
}

/* lodestar-server instances that heartbeated lately: they hold the old key. */
static unsigned live_instances(struct store *s)
{
    PGresult *res = NULL;
    struct ls_error err = { 0 };
    unsigned n = 0;
    if (store_exec_text(s, "count live instances",
                        "SELECT count(*) FROM server_instances"
                        " WHERE last_heartbeat > now() - interval '30 seconds'", 0, NULL,
                        &res, &err) == LS_OK && PQntuples(res) == 1)
        n = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

int store_rekey_run(struct store *s, const uint8_t old_raw[STORE_SECRET_KEY_LEN],
                    const uint8_t new_raw[STORE_SECRET_KEY_LEN])
{
    struct store_secret_key old, new_key;
    struct store_rekey_report r = { 0 };
    struct ls_error err = { 0 };
    store_secret_key_from_bytes(old_raw, &old);
    store_secret_key_from_bytes(new_raw, &new_key);
    unsigned live = live_instances(s);
    if (live)
        ls_log_warn("master_key_rotate_live", "instances=%u hint=\"lodestar-server instances "
                    "heartbeated in the last 30 s: stop every daemon before rotating, then "
                    "start them with the new key\"", live);
    ls_log_info("master_key_rotating", "from=%08" PRIx32 " to=%08" PRIx32, old.id, new_key.id);
    enum ls_rc rc = store_rekey_rotate(s, &old, &new_key, &r, &err);
    explicit_bzero(&old, sizeof old);
    explicit_bzero(&new_key, sizeof new_key);
    if (rc != LS_OK) {
        ls_log_error("master_key_rotate_failed", "error=\"%s\" detail=\"%s\" changed=none",
                     err.msg, err.detail);
        return RUNTIME_DAEMON_EXIT_FAILURE;
    }
    ls_log_info("master_key_rotated", "from=%08" PRIx32 " to=%08" PRIx32 " resealed=%" PRIu64
                " already=%" PRIu64 " state=%s", r.old_id, r.new_id, r.resealed, r.already,
                r.was_current && r.resealed == 0 ? "already_current" : "rotated");
    return RUNTIME_DAEMON_EXIT_OK;
}
