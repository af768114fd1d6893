/*
 * store/bsconfigs.c -- bootstrap configurations (table bootstrap_configs)
 *
 * Postgres builds the JSON the API returns (json_build_object), as
 * store/devices.c does.  Resolution reads the device's row, every
 * template's (name, match) and the default in one query and matches the
 * globs here with fnmatch(3): Postgres has no glob operator, and turning a
 * glob with bracket expressions into a safe regular expression in SQL is
 * more code (and more ways to be wrong) than one libc call.  Template
 * counts are small (tens, not thousands), so shipping their names is cheap;
 * a template's body is fetched only when it wins.  For a NoSec request the
 * same query first asks whether a credential of the endpoint bars NoSec
 * (store_bsconfigs_resolve_nosec): no extra round trip.
 *
 * The import is three statements in one transaction, each reading the same
 * JSON array through jsonb_to_recordset: one parameter, one parse per
 * statement, no per-row round trips (10 000 rows in a few hundred ms).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/bsconfigs.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

bool store_bsconfigs_glob_match(const char *pattern, const char *endpoint)
{
    /* No flags: '*' crosses '/', a leading '.' is ordinary, '\' quotes. */
    return pattern && endpoint && fnmatch(pattern, endpoint, 0) == 0;
}

/* The kind rules of the table, checked here so the caller gets a message
 * that names the field rather than a CHECK constraint's name. */
static enum ls_rc check_kind(const char *name, const char *endpoint, const char *match,
                             struct ls_error *err)
{
    bool is_default = strcmp(name, STORE_BSCONFIGS_DEFAULT) == 0;
    if (endpoint && match)
        return ls_error_set(err, LS_EINVAL, "a configuration has endpoint or match, not both");
    if (is_default && (endpoint || match))
        return ls_error_set(err, LS_EINVAL,
                            "the default configuration has neither endpoint nor match");
    if (!is_default && !endpoint && !match)
        return ls_error_set(err, LS_EINVAL,
                            "a configuration other than default needs endpoint or match");
    if (endpoint && !*endpoint)
        return ls_error_set(err, LS_EINVAL, "endpoint: must not be empty");
    if (match && !*match)
        return ls_error_set(err, LS_EINVAL, "match: must not be empty");
    return LS_OK;
}

enum ls_rc store_bsconfigs_put(struct store *s, const char *name, const char *endpoint,
                               const char *match, int priority, const char *body_json,
                               bool *created, struct ls_error *err)
{
    PGresult *res = NULL;
    struct ls_error local = { 0 };
    char prio[16];
    *created = false;
    enum ls_rc rc = check_kind(name, endpoint, match, err);
    if (rc != LS_OK)
        return rc;
    snprintf(prio, sizeof prio, "%d", priority);
    const char *values[] = { name, endpoint, match, prio, body_json };
    /* xmax = 0 only on a freshly inserted row version: created vs replaced
     * in the same round trip. */
    rc = store_exec_text(
        s, "put bootstrap config",
        "INSERT INTO bootstrap_configs (name, endpoint, match, priority, body)"
        " VALUES ($1, $2, $3, $4::integer, $5::jsonb)"
        " ON CONFLICT (name) DO UPDATE SET endpoint = EXCLUDED.endpoint,"
        "  match = EXCLUDED.match, priority = EXCLUDED.priority, body = EXCLUDED.body,"
        "  updated_at = now()"
        " RETURNING xmax = 0",
        5, values, &res, &local);
    if (rc == LS_ECONFLICT)
        rc = ls_error_set(err, LS_ECONFLICT,
                          "endpoint: another configuration already names \"%.64s\"", endpoint);
    else if (rc != LS_OK && err && err->code == LS_OK)
        *err = local;
    if (rc == LS_OK)
        *created = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

/* A malloc'd copy of the first column of the only row. */
static enum ls_rc take_text(const PGresult *res, char **out, struct ls_error *err)
{
    *out = strdup(PQgetvalue(res, 0, 0));
    return *out ? LS_OK : ls_error_set(err, LS_ENOMEM, "cannot copy a query result");
}

#define KIND_SQL                                                                          \
    "CASE WHEN endpoint IS NOT NULL THEN 'device' WHEN match IS NOT NULL THEN 'template'" \
    " ELSE 'default' END"

enum ls_rc store_bsconfigs_get(struct store *s, const char *name, char **json_out,
                               struct ls_error *err)
{
    PGresult *res = NULL;
    const char *values[] = { name };
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(
        s, "get bootstrap config",
        "SELECT json_build_object('name', name, 'kind', " KIND_SQL ","
        " 'endpoint', endpoint, 'match', match, 'priority', priority,"
        " 'created_at', created_at, 'updated_at', updated_at, 'body', body)"
        " FROM bootstrap_configs WHERE name = $1",
        1, values, &res, err);
    if (rc == LS_OK && PQntuples(res) != 1)
        rc = ls_error_set(err, LS_ENOTFOUND, "no bootstrap configuration named \"%.64s\"",
                          name);
    if (rc == LS_OK)
        rc = take_text(res, json_out, err);
    PQclear(res);
    return rc;
}

/* $3 + 1 rows are read so that the count says whether a page follows;
 * only the first $3 are returned. */
static const char list_sql[] =
    "WITH page AS (SELECT name, " KIND_SQL " AS kind, endpoint, match, priority,"
    "  updated_at, row_number() OVER (ORDER BY name) AS rn FROM bootstrap_configs"
    "  WHERE ($1::text IS NULL OR " KIND_SQL " = $1) AND ($2::text IS NULL OR name > $2)"
    "  ORDER BY name LIMIT $3::integer + 1)"
    " SELECT coalesce(json_agg(json_build_object('name', name, 'kind', kind,"
    "  'endpoint', endpoint, 'match', match, 'priority', priority,"
    "  'updated_at', updated_at) ORDER BY name) FILTER (WHERE rn <= $3::integer),"
    "  '[]'::json), count(*) > $3::integer FROM page";

enum ls_rc store_bsconfigs_list(struct store *s, const char *kind, const char *after,
                                int limit, char **json_out, bool *more, struct ls_error *err)
{
    PGresult *res = NULL;
    char lim[16];
    *json_out = NULL;
    *more = false;
    if (limit < 1 || limit > STORE_BSCONFIGS_LIMIT_MAX)
        return ls_error_set(err, LS_EINVAL, "limit: must be 1..%d", STORE_BSCONFIGS_LIMIT_MAX);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *values[] = { kind, after, lim };
    enum ls_rc rc = store_exec_text(s, "list bootstrap configs", list_sql, 3, values, &res,
                                    err);
    if (rc == LS_OK) {
        *more = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        rc = take_text(res, json_out, err);
    }
    PQclear(res);
    return rc;
}

enum ls_rc store_bsconfigs_delete(struct store *s, const char *name, struct ls_error *err)
{
    PGresult *res = NULL;
    const char *values[] = { name };
    enum ls_rc rc = store_exec_text(s, "delete bootstrap config",
                                    "DELETE FROM bootstrap_configs WHERE name = $1 RETURNING 1",
                                    1, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 0)
        rc = ls_error_set(err, LS_ENOTFOUND, "no bootstrap configuration named \"%.64s\"",
                          name);
    PQclear(res);
    return rc;
}

/* The body of configuration name, or LS_ENOTFOUND (deleted meanwhile). */
static enum ls_rc fetch_body(struct store *s, const char *name, char **body_out,
                             struct ls_error *err)
{
    PGresult *res = NULL;
    const char *values[] = { name };
    enum ls_rc rc = store_exec_text(s, "read bootstrap config",
                                    "SELECT body::text FROM bootstrap_configs WHERE name = $1",
                                    1, values, &res, err);
    if (rc == LS_OK && PQntuples(res) != 1)
        rc = LS_ENOTFOUND;
    if (rc == LS_OK)
        rc = take_text(res, body_out, err);
    PQclear(res);
    return rc;
}

/*
 * One pass: rows come device first, then templates in (priority, name)
 * order, then default; only the device's and the default's carry a body.
 * *winner gets the row to use, -1 when none; *need_body is true when its
 * body must still be fetched (a template).
 */
static void pick(const PGresult *res, int *winner, bool *need_body, const char *endpoint)
{
    *winner = -1;
    *need_body = false;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *kind = PQgetvalue(res, i, 0);
        if (kind[0] == 'd' || kind[0] == 'z') {      /* device, or default */
            *winner = i;
            return;
        }
        if (store_bsconfigs_glob_match(PQgetvalue(res, i, 2), endpoint)) {
            *winner = i;
            *need_body = true;
            return;
        }
    }
}

/* The resolution query: kind ('d'evice, 't'emplate, 'z' default), name,
 * match, body (device and default only), priority. */
#define RESOLVE_ROWS                                                                     \
    "SELECT CASE WHEN endpoint = $1 THEN 'd' WHEN match IS NOT NULL THEN 't' ELSE 'z' END" \
    "  AS k, name, match, CASE WHEN match IS NULL THEN body::text END AS body, priority"   \
    " FROM bootstrap_configs WHERE (endpoint = $1 OR match IS NOT NULL OR name = $2)"

/* For a NoSec request: first a row of kind 'b' when a credential of the
 * endpoint bars NoSec (its body says which: 'factory' or 'bootstrap'),
 * and then no configuration rows at all. */
static const char resolve_nosec_sql[] =
    "WITH bar AS (SELECT CASE WHEN batch_id IS NOT NULL THEN 'factory' ELSE 'bootstrap' END"
    "  AS why FROM credentials WHERE endpoint = $1 AND (batch_id IS NOT NULL OR"
    "  (scope = 'bootstrap' AND (mode <> 'nosec' OR state = 'revoked'))) LIMIT 1)"
    " SELECT 'b' AS k, NULL AS name, NULL AS match, why AS body, 0 AS priority FROM bar"
    " UNION ALL " RESOLVE_ROWS " AND NOT EXISTS (SELECT 1 FROM bar)"
    " ORDER BY k, priority, name";

/* One resolution attempt; LS_ECONFLICT when the chosen template vanished
 * between the two queries (the caller tries again).  barred non-NULL: a
 * NoSec request (see store_bsconfigs_resolve_nosec). */
static enum ls_rc resolve_once(struct store *s, const char *endpoint, char **name_out,
                               char **body_out, const char **barred, struct ls_error *err)
{
    PGresult *res = NULL;
    const char *values[] = { endpoint, STORE_BSCONFIGS_DEFAULT };
    int w;
    bool need_body;
    enum ls_rc rc = store_exec_text(s, "resolve bootstrap config",
                                    barred ? resolve_nosec_sql
                                           : RESOLVE_ROWS " ORDER BY k, priority, name",
                                    2, values, &res, err);
    if (rc != LS_OK)
        goto out;
    if (barred && PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 'b') {
        *barred = PQgetvalue(res, 0, 3)[0] == 'f'
                      ? "the endpoint has a factory credential: NoSec refused"
                      : "the endpoint has a bootstrap credential: NoSec refused";
        goto out;
    }
    pick(res, &w, &need_body, endpoint);
    if (w < 0) {
        rc = ls_error_set(err, LS_ENOTFOUND,
                          "no bootstrap configuration applies to \"%.64s\" (no default)",
                          endpoint);
        goto out;
    }
    *name_out = strdup(PQgetvalue(res, w, 1));
    if (!*name_out) {
        rc = ls_error_set(err, LS_ENOMEM, "cannot copy a configuration name");
        goto out;
    }
    if (need_body)
        rc = fetch_body(s, *name_out, body_out, err);
    else if (!(*body_out = strdup(PQgetvalue(res, w, 3))))
        rc = ls_error_set(err, LS_ENOMEM, "cannot copy a configuration body");
    if (rc == LS_ENOTFOUND)
        rc = LS_ECONFLICT;
out:
    PQclear(res);
    return rc;
}

/* store_bsconfigs_resolve, and with barred the NoSec check. */
static enum ls_rc resolve(struct store *s, const char *endpoint, char **name_out,
                          char **body_json_out, const char **barred, struct ls_error *err)
{
    enum ls_rc rc = LS_ECONFLICT;
    *name_out = NULL;
    *body_json_out = NULL;
    /* A template deleted between our two reads: resolve again (bounded). */
    for (int attempt = 0; attempt < 3 && rc == LS_ECONFLICT; attempt++) {
        free(*name_out);
        *name_out = NULL;
        rc = resolve_once(s, endpoint, name_out, body_json_out, barred, err);
    }
    if (rc == LS_ECONFLICT)
        rc = ls_error_set(err, LS_ETRANSIENT, "bootstrap configurations keep changing");
    if (rc != LS_OK) {
        free(*name_out);
        free(*body_json_out);
        *name_out = *body_json_out = NULL;
    }
    return rc;
}

enum ls_rc store_bsconfigs_resolve(struct store *s, const char *endpoint, char **name_out,
                                   char **body_json_out, struct ls_error *err)
{
    return resolve(s, endpoint, name_out, body_json_out, NULL, err);
}

enum ls_rc store_bsconfigs_resolve_nosec(struct store *s, const char *endpoint,
                                         char **name_out, char **body_json_out,
                                         const char **barred_out, struct ls_error *err)
{
    *barred_out = NULL;
    return resolve(s, endpoint, name_out, body_json_out, barred_out, err);
}

/* The import's statements; $1 is the rows array in every one. */
static const char import_check_sql[] =
    "SELECT b.name FROM jsonb_to_recordset($1::jsonb) AS r(name text)"
    " JOIN bootstrap_configs b ON b.name = r.name WHERE b.endpoint IS NULL LIMIT 1";
static const char import_unbind_sql[] =
    "DELETE FROM bootstrap_configs b USING jsonb_to_recordset($1::jsonb)"
    " AS r(name text, endpoint text) WHERE b.endpoint = r.endpoint AND b.name <> r.name";
static const char import_upsert_sql[] =
    "INSERT INTO bootstrap_configs (name, endpoint, priority, body)"
    " SELECT name, endpoint, coalesce(priority, 100), body"
    " FROM jsonb_to_recordset($1::jsonb) AS r(name text, endpoint text, priority integer,"
    "  body jsonb)"
    " ON CONFLICT (name) DO UPDATE SET endpoint = EXCLUDED.endpoint, match = NULL,"
    "  priority = EXCLUDED.priority, body = EXCLUDED.body, updated_at = now()";

/* The three statements, inside the caller's transaction. */
static enum ls_rc import_rows(struct store *s, const char *rows_json, size_t *imported,
                              struct ls_error *err)
{
    PGresult *res = NULL;
    const char *values[] = { rows_json };
    enum ls_rc rc = store_exec_text(s, "check imported names", import_check_sql, 1, values,
                                    &res, err);
    if (rc == LS_OK && PQntuples(res) > 0)
        rc = ls_error_set(err, LS_ECONFLICT,
                          "name \"%.64s\" belongs to a template or the default",
                          PQgetvalue(res, 0, 0));
    PQclear(res);
    res = NULL;
    if (rc == LS_OK)
        rc = store_exec_text(s, "unbind imported endpoints", import_unbind_sql, 1, values,
                             NULL, err);
    if (rc == LS_OK)
        rc = store_exec_text(s, "import bootstrap configs", import_upsert_sql, 1, values,
                             &res, err);
    if (rc == LS_OK)
        *imported = strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return rc;
}

enum ls_rc store_bsconfigs_import(struct store *s, const char *rows_json, size_t *imported,
                                  struct ls_error *err)
{
    *imported = 0;
    enum ls_rc rc = store_exec_text(s, "begin import", "BEGIN", 0, NULL, NULL, err);
    if (rc != LS_OK)
        return rc;
    rc = import_rows(s, rows_json, imported, err);
    if (rc == LS_OK)
        rc = store_exec_text(s, "commit import", "COMMIT", 0, NULL, NULL, err);
    if (rc != LS_OK) {
        struct ls_error ignored = { 0 };
        /* Fails harmlessly when the connection is gone (the server
         * rolled back) or COMMIT already ended the transaction. */
        enum ls_rc ignored_rc = store_exec_text(s, "rollback import", "ROLLBACK", 0, NULL,
                                                NULL, &ignored);
        (void)ignored_rc;
        *imported = 0;
    }
    return rc;
}
