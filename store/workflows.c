/*
 * store/workflows.c -- credential workflows: server-initiated bootstrap and
 * bulk rotations (store/workflows.h; the steps after the trigger are the
 * triggers of migrations/0005_workflows.sql)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/workflows.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* $3: microseconds since the epoch, exactly. */
#define AT_US "(timestamptz 'epoch' + $3::bigint * interval '1 microsecond')"

#define TS(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* One row of the first column as a malloc'd string; LS_ENOTFOUND when no row. */
static enum ls_rc take_one(PGresult *res, char **out, const char *what, struct ls_error *err)
{
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        return ls_error_set(err, LS_ENOTFOUND, "%s: not found", what);
    *out = strdup(PQgetvalue(res, 0, 0));
    return *out ? LS_OK : ls_error_set(err, LS_ENOMEM, "out of memory");
}

enum ls_rc store_workflows_target(struct store *s, const char *endpoint,
                                  struct store_workflows_target *out, struct ls_error *err)
{
    static const char sql[] =
        "SELECT r.lwm2m_version, i.lowest, i.n, (SELECT c.ssid FROM credentials c"
        " WHERE c.endpoint = r.endpoint AND c.scope = 'server' AND c.mode = r.security"
        " AND c.identity = r.identity ORDER BY c.id DESC LIMIT 1)"
        " FROM endpoints e LEFT JOIN registrations r ON r.endpoint = e.name"
        " LEFT JOIN LATERAL (SELECT min(substring(o FROM '^/1/([0-9]{1,5})$')::int) AS lowest,"
        " count(*) FILTER (WHERE o ~ '^/1/[0-9]{1,5}$') AS n"
        " FROM jsonb_array_elements_text(r.objects) AS o) i ON true WHERE e.name = $1";
    PGresult *res = NULL;
    const char *values[1] = { endpoint };
    memset(out, 0, sizeof *out);
    out->server_instance = -1;
    out->ssid = -1;
    enum ls_rc rc = store_exec_text(s, "look up workflow target", sql, 1, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 1) {
        out->known = true;
        out->registered = !PQgetisnull(res, 0, 0);
        if (out->registered) {
            snprintf(out->version, sizeof out->version, "%s", PQgetvalue(res, 0, 0));
            if (!PQgetisnull(res, 0, 1))
                out->server_instance = atoi(PQgetvalue(res, 0, 1));
            out->server_instances = (unsigned)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
            out->ssid = PQgetisnull(res, 0, 3) ? -1 : atoi(PQgetvalue(res, 0, 3));
        }
    }
    PQclear(res);
    return rc;
}

enum ls_rc store_workflows_create(struct store *s, const char *endpoint, int64_t token_id,
                                  const char *actor, const char *reason, int64_t *id_out,
                                  struct ls_error *err)
{
    static const char sql[] =
        "WITH w AS (INSERT INTO workflows (kind, endpoint, created_by, actor, reason, detail)"
        " VALUES ('bootstrap', $1, $2::bigint, $3, $4,"
        " jsonb_build_object('steps', jsonb_build_object('pending', now())))"
        " RETURNING id),"
        " a AS (INSERT INTO audit_log (actor_token_id, actor, action, target, detail)"
        " SELECT $2::bigint, $3, 'device.bootstrap', $1,"
        " jsonb_strip_nulls(jsonb_build_object('workflow', w.id, 'reason', $4::text)) FROM w)"
        " SELECT id FROM w";
    char tok[24];
    snprintf(tok, sizeof tok, "%" PRId64, token_id);
    const char *values[4] = { endpoint, token_id ? tok : NULL, actor, reason };
    PGresult *res = NULL;
    enum ls_rc rc = store_exec_text(s, "create workflow", sql, 4, values, &res, err);
    if (rc == LS_OK)
        *id_out = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return rc;
}

enum ls_rc store_workflows_triggered(struct store *s, int64_t id, bool ok, const char *cause,
                                     const char *detail_json, int64_t at_us,
                                     struct ls_error *err)
{
    static const char sql_ok[] =
        "UPDATE workflows SET state = CASE WHEN state = 'pending' THEN 'triggered'"
        " ELSE state END, step = CASE WHEN state = 'pending' THEN 'trigger' ELSE step END,"
        " triggered_at = coalesce(triggered_at, " AT_US "),"
        " updated_at = clock_timestamp(),"
        " detail = detail || coalesce($2::jsonb, '{}'::jsonb) || jsonb_build_object('steps',"
        " coalesce(detail->'steps', '{}'::jsonb)"
        " || jsonb_build_object('triggered', clock_timestamp()))"
        " WHERE id = $1::bigint AND state NOT IN ('re_registered', 'failed')";
    static const char sql_fail[] =
        "UPDATE workflows SET state = 'failed', step = 'trigger', cause = $4,"
        " updated_at = clock_timestamp(), finished_at = clock_timestamp(),"
        " triggered_at = coalesce(triggered_at, " AT_US "),"
        " detail = detail || coalesce($2::jsonb, '{}'::jsonb) || jsonb_build_object('steps',"
        " coalesce(detail->'steps', '{}'::jsonb)"
        " || jsonb_build_object('failed', clock_timestamp()))"
        " WHERE id = $1::bigint AND state NOT IN ('re_registered', 'failed')";
    char idt[24], at[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    snprintf(at, sizeof at, "%" PRId64, at_us);
    const char *values[4] = { idt, detail_json, at, cause ? cause : "trigger failed" };
    return store_exec_text(s, "record workflow trigger", ok ? sql_ok : sql_fail, ok ? 3 : 4,
                           values, NULL, err);
}

#define WORKFLOW_OBJECT                                                                   \
    "json_build_object('id', id, 'kind', kind, 'endpoint', endpoint, 'state', state,"    \
    " 'step', step, 'cause', cause, 'created_by', created_by, 'actor', actor,"           \
    " 'reason', reason, 'parent', parent, 'created_at', " TS("created_at") ","           \
    " 'updated_at', " TS("updated_at") ", 'triggered_at', " TS("triggered_at") ","       \
    " 'finished_at', " TS("finished_at") ", 'detail', detail)"
#define WORKFLOW_JSON WORKFLOW_OBJECT "::text"

enum ls_rc store_workflows_get(struct store *s, int64_t id, char **json_out,
                               struct ls_error *err)
{
    static const char sql[] =
        "SELECT " WORKFLOW_JSON " FROM workflows WHERE id = $1::bigint AND kind = 'bootstrap'";
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *values[1] = { idt };
    PGresult *res = NULL;
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "get workflow", sql, 1, values, &res, err);
    if (rc == LS_OK)
        rc = take_one(res, json_out, "workflow", err);
    PQclear(res);
    return rc;
}

enum ls_rc store_workflows_rotation_create(struct store *s, const char *endpoints_json,
                                           double rate, const char *match, int64_t token_id,
                                           const char *actor, const char *reason,
                                           const char *runner, int64_t *id_out,
                                           char **children_json_out, struct ls_error *err)
{
    static const char sql[] =
        "WITH rot AS (INSERT INTO workflows (kind, created_by, actor, reason, detail)"
        " VALUES ('rotation', $2::bigint, $3, $4, jsonb_strip_nulls(jsonb_build_object("
        " 'rate', $5::float8, 'match', $6::text, 'runner', $7::text, 'beat', now(),"
        " 'total', jsonb_array_length($1::jsonb)))) RETURNING id),"
        " eps AS (SELECT e.name, e.n FROM jsonb_array_elements_text($1::jsonb)"
        " WITH ORDINALITY AS e(name, n)),"
        " ch AS (INSERT INTO workflows (kind, parent, endpoint, created_by, actor, reason, detail)"
        " SELECT 'bootstrap', rot.id, eps.name, $2::bigint, $3, $4,"
        " jsonb_build_object('order', eps.n, 'steps', jsonb_build_object('pending', now()))"
        " FROM rot, eps ORDER BY eps.n RETURNING id, endpoint, (detail->>'order')::bigint AS n),"
        " a AS (INSERT INTO audit_log (actor_token_id, actor, action, target, detail)"
        " SELECT $2::bigint, $3, 'device.bootstrap', ch.endpoint,"
        " jsonb_strip_nulls(jsonb_build_object('workflow', ch.id, 'rotation', rot.id,"
        " 'reason', $4::text)) FROM ch, rot),"
        " ar AS (INSERT INTO audit_log (actor_token_id, actor, action, target, detail)"
        " SELECT $2::bigint, $3, 'bootstrap.rotation', coalesce($6::text, 'list'),"
        " jsonb_strip_nulls(jsonb_build_object('rotation', rot.id, 'reason', $4::text,"
        " 'rate', $5::float8, 'total', jsonb_array_length($1::jsonb))) FROM rot)"
        " SELECT rot.id, (SELECT coalesce(jsonb_agg(jsonb_build_array(id, endpoint)"
        " ORDER BY n), '[]') FROM ch)::text FROM rot";
    char tok[24], r[32];
    snprintf(tok, sizeof tok, "%" PRId64, token_id);
    snprintf(r, sizeof r, "%.6g", rate);
    const char *values[7] = { endpoints_json, token_id ? tok : NULL, actor, reason, r, match,
                              runner };
    PGresult *res = NULL;
    *children_json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "create rotation", sql, 7, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 1) {
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *children_json_out = strdup(PQgetvalue(res, 0, 1));
        if (!*children_json_out)
            rc = ls_error_set(err, LS_ENOMEM, "out of memory");
    } else if (rc == LS_OK) {
        rc = ls_error_set(err, LS_EINVAL, "create rotation: no row");
    }
    PQclear(res);
    return rc;
}

enum ls_rc store_workflows_rotation_done(struct store *s, int64_t id, struct ls_error *err)
{
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *values[1] = { idt };
    return store_exec_text(s, "finish rotation",
                           "UPDATE workflows SET state = 'triggered', step = 'trigger',"
                           " triggered_at = clock_timestamp(), updated_at = clock_timestamp()"
                           " WHERE id = $1::bigint AND kind = 'rotation' AND state = 'pending'",
                           1, values, NULL, err);
}

/* A rotation r with its children's counts c (ROTATION_FROM). */
#define ROTATION_OBJECT                                                                   \
    "json_build_object('id', r.id, 'state', r.state, 'rate', r.detail->'rate',"          \
    " 'match', r.detail->'match', 'total', (r.detail->>'total')::bigint,"                \
    " 'pending', c.pending, 'triggered', c.triggered, 'finished', c.finished,"           \
    " 'failed', c.failed, 'actor', r.actor, 'created_by', r.created_by,"                 \
    " 'reason', r.reason, 'created_at', " TS("r.created_at") ","                         \
    " 'updated_at', " TS("r.updated_at") ", 'triggered_at', " TS("r.triggered_at") ","   \
    " 'first_trigger_at', " TS("c.first_at") ", 'last_trigger_at', " TS("c.last_at") ")"
#define ROTATION_FROM                                                                     \
    " workflows r, LATERAL (SELECT"                                                      \
    " count(*) FILTER (WHERE state = 'pending') AS pending,"                             \
    " count(*) FILTER (WHERE state <> 'pending') AS triggered,"                          \
    " count(*) FILTER (WHERE state = 're_registered') AS finished,"                      \
    " count(*) FILTER (WHERE state = 'failed') AS failed,"                               \
    " min(triggered_at) AS first_at, max(triggered_at) AS last_at"                       \
    " FROM workflows WHERE parent = r.id) c"

enum ls_rc store_workflows_rotation_get(struct store *s, int64_t id, char **json_out,
                                        struct ls_error *err)
{
    static const char sql[] =
        "SELECT " ROTATION_OBJECT "::text FROM " ROTATION_FROM
        " WHERE r.id = $1::bigint AND r.kind = 'rotation'";
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *values[1] = { idt };
    PGresult *res = NULL;
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "get rotation", sql, 1, values, &res, err);
    if (rc == LS_OK)
        rc = take_one(res, json_out, "rotation", err);
    PQclear(res);
    return rc;
}

/* The JSON text of a one-row, one-column aggregate, or "[]". */
static enum ls_rc take_list(PGresult *res, char **json_out, const char *what,
                            struct ls_error *err)
{
    *json_out = strdup(PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0)
                                                                       : "[]");
    return *json_out ? LS_OK : ls_error_set(err, LS_ENOMEM, "list %s: out of memory", what);
}

enum ls_rc store_workflows_list(struct store *s, const char *state, int64_t rotation,
                                int limit, char **json_out, struct ls_error *err)
{
    /* Newest first by id (the primary key's order): limit rows of an index
     * walk, however many a fleet has. */
    static const char sql[] =
        "SELECT json_agg(x ORDER BY x_id DESC)::text FROM (SELECT id AS x_id, "
        WORKFLOW_OBJECT " AS x FROM workflows WHERE kind = 'bootstrap'"
        " AND ($1::text IS NULL OR state = $1::text)"
        " AND ($2::bigint < 0 OR parent IS NOT DISTINCT FROM nullif($2::bigint, 0))"
        " ORDER BY id DESC LIMIT $3::int) t";
    char rot[24], lim[16];
    snprintf(rot, sizeof rot, "%" PRId64, rotation);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *values[3] = { state, rot, lim };
    PGresult *res = NULL;
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "list workflows", sql, 3, values, &res, err);
    if (rc == LS_OK)
        rc = take_list(res, json_out, "workflows", err);
    PQclear(res);
    return rc;
}

enum ls_rc store_workflows_rotation_list(struct store *s, int limit, char **json_out,
                                         struct ls_error *err)
{
    static const char sql[] =
        "SELECT json_agg(x ORDER BY x_id DESC)::text FROM (SELECT r.id AS x_id, "
        ROTATION_OBJECT " AS x FROM" ROTATION_FROM " WHERE r.kind = 'rotation'"
        " ORDER BY r.id DESC LIMIT $1::int) t";
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *values[1] = { lim };
    PGresult *res = NULL;
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "list rotations", sql, 1, values, &res, err);
    if (rc == LS_OK)
        rc = take_list(res, json_out, "rotations", err);
    PQclear(res);
    return rc;
}

enum ls_rc store_workflows_endpoints(struct store *s, char **json_out, struct ls_error *err)
{
    PGresult *res = NULL;
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "list endpoints",
                                    "SELECT coalesce(jsonb_agg(name ORDER BY name), '[]')::text"
                                    " FROM endpoints", 0, NULL, &res, err);
    if (rc == LS_OK)
        rc = take_one(res, json_out, "endpoints", err);
    PQclear(res);
    return rc;
}

/* ---- rotations that outlive their server (resume) ---- */

enum ls_rc store_workflows_rotation_beat(struct store *s, const char *runner, bool release,
                                         struct ls_error *err)
{
    static const char beat[] =
        "UPDATE workflows SET detail = jsonb_set(detail, '{beat}', to_jsonb(now()))"
        " WHERE kind = 'rotation' AND state = 'pending' AND detail->>'runner' = $1";
    static const char rel[] =
        "UPDATE workflows SET detail = detail - 'beat'"
        " WHERE kind = 'rotation' AND state = 'pending' AND detail->>'runner' = $1";
    const char *values[1] = { runner };
    return store_exec_text(s, release ? "release rotations" : "rotation heartbeat",
                           release ? rel : beat, 1, values, NULL, err);
}

enum ls_rc store_workflows_rotation_claim(struct store *s, const char *runner, int stale_s,
                                          char **json_out, struct ls_error *err)
{
    static const char sql[] =
        "WITH r AS (UPDATE workflows SET detail = detail || jsonb_build_object("
        " 'runner', $1::text, 'beat', now(),"
        " 'resumed', coalesce((detail->>'resumed')::int, 0) + 1)"
        " WHERE id IN (SELECT id FROM workflows WHERE kind = 'rotation' AND state = 'pending'"
        " AND (detail->>'beat' IS NULL"
        " OR (detail->>'beat')::timestamptz < now() - $2::int * interval '1 second')"
        " AND detail->>'runner' IS DISTINCT FROM $1::text"
        " ORDER BY id LIMIT 16 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, detail->'rate' AS rate, created_by, actor)"
        " SELECT coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'rate', r.rate,"
        " 'token', r.created_by, 'actor', r.actor, 'last_us', (SELECT"
        " (extract(epoch FROM max(c.triggered_at)) * 1000000)::bigint FROM workflows c"
        " WHERE c.parent = r.id), 'children',"
        " (SELECT coalesce(jsonb_agg(jsonb_build_array(c.id, c.endpoint)"
        " ORDER BY (c.detail->>'order')::bigint, c.id), '[]'::jsonb) FROM workflows c"
        " WHERE c.parent = r.id AND c.state = 'pending')) ORDER BY r.id), '[]'::jsonb)::text"
        " FROM r";
    char st[16];
    snprintf(st, sizeof st, "%d", stale_s);
    const char *values[2] = { runner, st };
    PGresult *res = NULL;
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "claim rotations", sql, 2, values, &res, err);
    if (rc == LS_OK)
        rc = take_one(res, json_out, "rotations", err);
    PQclear(res);
    return rc;
}
