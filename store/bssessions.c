/*
 * store/bssessions.c -- bootstrap sessions, their events, issued credentials
 *
 * See bssessions.h.  Each call is one statement (data-modifying CTEs), so
 * a session, its event and the notification commit together; the issue
 * call is one short transaction around store_credentials_insert.  The
 * batch call writes a round of records as store/registrations.c's worker
 * writes a round of registrations: pipeline mode, one transaction, one
 * notification, one Sync; a record that breaks a constraint is dropped
 * alone (pipeline results come back in order, so the first failed result
 * names it) and the round is re-run without it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/bssessions.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "store/credentials.h"
#include "store/store_int.h"

/* The session, its endpoint row and its event; returns (session id, event
 * id).  The single call adds the notification; a batch sends one. */
#define RECORD_SQL                                                                          \
    "WITH ep AS (INSERT INTO endpoints (name, origin) VALUES ($1, 'bootstrap')"             \
    "            ON CONFLICT (name) DO NOTHING),"                                           \
    " bs AS (INSERT INTO bootstrap_sessions (endpoint, config_name, trigger, address,"      \
    "            started_at, finished_at, outcome, detail)"                                 \
    "        VALUES ($1, $2, $3, $4, now() - $5::bigint * interval '1 millisecond',"        \
    "                now(), $6, $7::jsonb)"                                                 \
    "        RETURNING id),"                                                                \
    " ev AS (INSERT INTO events (endpoint, kind, detail)"                                   \
    "        SELECT $1, 'bootstrap', jsonb_build_object('session', bs.id, 'outcome', $6,"   \
    "               'config', $2::text, 'address', $4::text, 'duration_ms', $5::bigint)"    \
    "               || jsonb_strip_nulls(jsonb_build_object('cause', $7::jsonb->'cause',"  \
    "                  'identity', $7::jsonb->'identity'))"                                 \
    "        FROM bs RETURNING id)"

#define REFUSED_SQL                                                                         \
    "INSERT INTO events (endpoint, kind, detail)"                                           \
    " VALUES ($1, 'bootstrap', '{\"outcome\":\"refused\"}'::jsonb || $2::jsonb)"             \
    " RETURNING id"

#define BATCH_TRIES 3

struct values {
    char dur[24];
    const char *v[7];
};

static enum ls_rc record_values(const struct store_bssession *r, struct values *out,
                                struct ls_error *err)
{
    if (!r->endpoint || !r->detail_json || r->detail_json[0] != '{')
        return ls_error_set(err, LS_EINVAL, "bootstrap record needs an endpoint and a "
                            "detail object");
    if (r->event_only) {
        out->v[0] = r->endpoint;
        out->v[1] = r->detail_json;
        return LS_OK;
    }
    if (!r->outcome)
        return ls_error_set(err, LS_EINVAL, "bootstrap session needs an outcome");
    snprintf(out->dur, sizeof out->dur, "%" PRId64, r->duration_ms < 0 ? 0 : r->duration_ms);
    const char *v[7] = { r->endpoint, r->config_name, r->trigger ? r->trigger : "client",
                         r->address, out->dur, r->outcome, r->detail_json };
    memcpy(out->v, v, sizeof v);
    return LS_OK;
}

enum ls_rc store_bssessions_record(struct store *s, const struct store_bssession *r,
                                   int64_t *id_out, struct ls_error *err)
{
    static const char sql[] =
        RECORD_SQL " SELECT bs.id, pg_notify('lodestar_events', ev.id::text) FROM bs, ev";
    struct values v;
    PGresult *res = NULL;
    if (id_out)
        *id_out = 0;
    if (r->event_only)
        return store_bssessions_refused(s, r->endpoint, r->detail_json, err);
    enum ls_rc rc = record_values(r, &v, err);
    if (rc != LS_OK)
        return rc;
    rc = store_exec_text(s, "record bootstrap session", sql, 7, v.v, &res, err);
    if (rc == LS_OK && id_out && PQntuples(res) == 1)
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

/* ---- batches ---------------------------------------------------------------- */

/* Shuts a connection whose pipeline state we cannot trust, so that the
 * store notices and reconnects. */
static enum ls_rc batch_drop(struct store *s, PGconn *conn, const char *why,
                             struct ls_error *err)
{
    if (PQsocket(conn) >= 0)
        shutdown(PQsocket(conn), SHUT_RDWR);
    PQconsumeInput(conn);
    if (store_check(s, NULL, why, err) == LS_ETRANSIENT)
        return LS_ETRANSIENT;
    ls_error_clear(err);
    return ls_error_set(err, LS_ETRANSIENT, "%s: connection reset", why);
}

static enum ls_rc batch_send(struct store *s, PGconn *conn, const struct store_bssession *rs,
                             size_t n, const enum ls_rc *rcs, struct ls_error *err)
{
    static const char notify[] = "SELECT pg_notify('lodestar_events',"
                                 " currval(pg_get_serial_sequence('events', 'id'))::text)";
    bool ok = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        struct values v;
        if (rcs[i] != LS_OK || record_values(&rs[i], &v, NULL) != LS_OK)
            continue;
        if (rs[i].event_only)
            ok = PQsendQueryParams(conn, REFUSED_SQL, 2, NULL, v.v, NULL, NULL, 0) == 1;
        else
            ok = PQsendQueryParams(conn, RECORD_SQL " SELECT bs.id FROM bs, ev", 7, NULL, v.v,
                                   NULL, NULL, 0) == 1;
    }
    ok = ok && PQsendQueryParams(conn, notify, 0, NULL, NULL, NULL, NULL, 0) == 1;
    ok = ok && PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
    ok = ok && PQpipelineSync(conn) == 1;
    return ok ? LS_OK : batch_drop(s, conn, "send bootstrap records", err);
}

/* One query's results: the first checked (unless an earlier one failed),
 * the rest dropped.  *gone: the connection must not be used again. */
static enum ls_rc batch_read(struct store *s, PGconn *conn, bool failed_before, bool *gone,
                             struct ls_error *err)
{
    PGresult *res = PQgetResult(conn);
    enum ls_rc rc = LS_OK;
    if (!res) {
        *gone = true;
        return batch_drop(s, conn, "read bootstrap records", err);
    }
    if (!failed_before)
        rc = store_check(s, res, "record bootstrap session", err);
    PQclear(res);
    if (rc == LS_ETRANSIENT && !store_is_up(s)) {
        *gone = true;
        return rc;
    }
    while ((res = PQgetResult(conn)))
        PQclear(res);
    return rc;
}

/* One attempt.  LS_OK committed; else the first failure, *bad = its record
 * (SIZE_MAX: BEGIN, the notification or COMMIT). */
static enum ls_rc batch_round(struct store *s, const struct store_bssession *rs, size_t n,
                              const enum ls_rc *rcs, size_t *bad, struct ls_error *err)
{
    PGconn *conn = store_pgconn(s);
    bool gone = false;
    if (PQenterPipelineMode(conn) != 1)
        return batch_drop(s, conn, "enter pipeline mode", err);
    enum ls_rc rc = batch_send(s, conn, rs, n, rcs, err);
    if (rc != LS_OK)
        return rc;
    enum ls_rc first = batch_read(s, conn, false, &gone, err);
    for (size_t i = 0; !gone && i < n; i++) {
        if (rcs[i] != LS_OK || record_values(&rs[i], &(struct values){ 0 }, NULL) != LS_OK)
            continue;
        rc = batch_read(s, conn, first != LS_OK, &gone, err);
        if (rc != LS_OK && first == LS_OK) {
            first = rc;
            *bad = i;
        }
    }
    for (int k = 0; !gone && k < 2; k++) {   /* the notification, COMMIT */
        rc = batch_read(s, conn, first != LS_OK, &gone, err);
        if (first == LS_OK)
            first = rc;
    }
    if (gone)
        return LS_ETRANSIENT;
    PGresult *sync;
    while ((sync = PQgetResult(conn))) {
        bool is_sync = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        PQclear(sync);
        if (is_sync)
            break;
    }
    if (PQexitPipelineMode(conn) != 1)
        return batch_drop(s, conn, "leave pipeline mode", err);
    if (first != LS_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(conn, "ROLLBACK");
        PQclear(res);
    }
    return first;
}

static bool batch_own_fault(enum ls_rc rc)
{
    return rc == LS_EINVAL || rc == LS_ECONFLICT || rc == LS_ENOTFOUND;
}

enum ls_rc store_bssessions_record_batch(struct store *s, const struct store_bssession *rs,
                                         size_t n, enum ls_rc *rcs, struct ls_error *err)
{
    enum ls_rc result = LS_OK;
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
        struct ls_error mine = { 0 };
        rcs[i] = record_values(&rs[i], &(struct values){ 0 }, &mine);
        if (rcs[i] != LS_OK && result == LS_OK)
            result = ls_error_set(err, rcs[i], "%s", mine.msg);
        left += rcs[i] == LS_OK;
    }
    for (unsigned tries = 0; left > 0;) {
        struct ls_error mine = { 0 };
        size_t bad = SIZE_MAX;
        enum ls_rc rc = store_ensure(s, &mine);
        if (rc == LS_OK)
            rc = batch_round(s, rs, n, rcs, &bad, &mine);
        if (rc == LS_OK)
            return result;
        if (bad != SIZE_MAX && batch_own_fault(rc)) {
            rcs[bad] = rc;   /* that record alone; the rest again */
            left--;
        } else if (rc != LS_ETRANSIENT || ++tries >= BATCH_TRIES) {
            for (size_t i = 0; i < n; i++)
                if (rcs[i] == LS_OK)
                    rcs[i] = rc;
            left = 0;
        }
        if (result == LS_OK)
            result = ls_error_set(err, rc, "%s", mine.msg);
    }
    return result;
}

enum ls_rc store_bssessions_refused(struct store *s, const char *endpoint,
                                    const char *detail_json, struct ls_error *err)
{
    static const char sql[] =
        "WITH ev AS (" REFUSED_SQL ") SELECT pg_notify('lodestar_events', ev.id::text) FROM ev";
    const char *values[2] = { endpoint, detail_json ? detail_json : "{}" };
    return store_exec_text(s, "record refused bootstrap", sql, 2, values, NULL, err);
}

#define SESSION_JSON                                                            \
    "jsonb_build_object('id', id, 'endpoint', endpoint, 'config', config_name,"  \
    " 'trigger', trigger, 'address', address, 'started_at', started_at,"         \
    " 'finished_at', finished_at, 'outcome', outcome) || detail"

enum ls_rc store_bssessions_list(struct store *s, const char *endpoint, const char *outcome,
                                 int limit, char **json_out, struct ls_error *err)
{
    static const char device_sql[] =
        "SELECT coalesce(json_agg(x ORDER BY x_at DESC, x_id DESC), '[]')::text FROM ("
        "  SELECT started_at AS x_at, id AS x_id, " SESSION_JSON " AS j"
        "  FROM bootstrap_sessions WHERE endpoint = $1"
        "  AND ($3::text IS NULL OR outcome = $3::text)"
        "  ORDER BY started_at DESC, id DESC LIMIT $2) t(x_at, x_id, x)";
    /* Every device's: by id, the primary key's order (sessions are
     * recorded as they finish), so a fleet's millions cost an index walk
     * of limit rows, not a sort. */
    static const char fleet_sql[] =
        "SELECT coalesce(json_agg(x ORDER BY x_id DESC), '[]')::text FROM ("
        "  SELECT id AS x_id, " SESSION_JSON " AS j FROM bootstrap_sessions"
        "  WHERE $1::text IS NULL AND ($3::text IS NULL OR outcome = $3::text)"
        "  ORDER BY id DESC LIMIT $2) t(x_id, x)";
    char lim[16];
    PGresult *res = NULL;
    *json_out = NULL;
    if (limit < 1 || limit > STORE_BSSESSIONS_LIMIT_MAX)
        return ls_error_set(err, LS_EINVAL, "limit must be 1..%d", STORE_BSSESSIONS_LIMIT_MAX);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *values[3] = { endpoint, lim, outcome };
    enum ls_rc rc = store_exec_text(s, "list bootstrap sessions",
                                    endpoint ? device_sql : fleet_sql, 3, values, &res, err);
    if (rc == LS_OK) {
        *json_out = strdup(PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "[]");
        if (!*json_out)
            rc = ls_error_set(err, LS_ENOMEM, "out of memory listing bootstrap sessions");
    }
    PQclear(res);
    return rc;
}

static enum ls_rc issue_in_tx(struct store *s, const struct store_secret_key *key,
                              const struct store_credential *c, const char *server_uri,
                              int ssid, int64_t *id, struct ls_error *err)
{
    static const char ep_sql[] =
        "INSERT INTO endpoints (name, origin) VALUES ($1, 'bootstrap')"
        " ON CONFLICT (name) DO NOTHING";
    static const char up_sql[] =
        "UPDATE credentials SET server_uri = $2, ssid = $3::integer WHERE id = $1::bigint";
    char idtext[24], ssidtext[16];
    const char *ep[1] = { c->endpoint };
    enum ls_rc rc = store_exec_text(s, "insert endpoint", ep_sql, 1, ep, NULL, err);
    if (rc == LS_OK)
        rc = store_credentials_insert(s, key, c, id, err);
    if (rc != LS_OK)
        return rc;
    snprintf(idtext, sizeof idtext, "%" PRId64, *id);
    snprintf(ssidtext, sizeof ssidtext, "%d", ssid);
    const char *up[3] = { idtext, server_uri, ssid > 0 ? ssidtext : NULL };
    return store_exec_text(s, "set credential account", up_sql, 3, up, NULL, err);
}

enum ls_rc store_bssessions_issue(struct store *s, const struct store_secret_key *key,
                                  const char *endpoint, const char *identity,
                                  const uint8_t *psk, size_t psk_len, const char *server_uri,
                                  int ssid, bool already_ok, int64_t *id_out,
                                  struct ls_error *err)
{
    struct store_credential c = {
        .endpoint = endpoint, .scope = "server", .mode = "psk", .identity = identity,
        .secret = psk, .secret_len = psk_len, .state = "issued",
    };
    struct ls_error mine = { 0 };
    int64_t id = 0;
    if (id_out)
        *id_out = 0;
    enum ls_rc rc = store_exec_text(s, "begin", "BEGIN", 0, NULL, NULL, err);
    if (rc != LS_OK)
        return rc;
    rc = issue_in_tx(s, key, &c, server_uri, ssid, &id, &mine);
    if (rc == LS_OK)
        rc = store_exec_text(s, "commit", "COMMIT", 0, NULL, NULL, &mine);
    if (rc != LS_OK) {
        struct ls_error ignored = { 0 };
        if (store_exec_text(s, "rollback", "ROLLBACK", 0, NULL, NULL, &ignored) != LS_OK)
            (void)0; /* the connection is gone: the transaction died with it */
        if (rc == LS_ECONFLICT && already_ok)
            return LS_OK;
        return ls_error_set(err, mine.code, "%s", mine.msg);
    }
    if (id_out)
        *id_out = id;
    return LS_OK;
}
