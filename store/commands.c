/*
 * store/commands.c -- the commands table: queued and routed device operations
 *
 * Each state change is one statement: a data-modifying CTE "c" changes the
 * command row(s) and returns (id, endpoint, op, path, state), CMD_EVENT
 * inserts one 'command' event per changed row, and the final SELECT
 * notifies.  pg_notify inside an uncorrelated scalar subquery runs once
 * (an initplan), and only when a row changed.  Notifications are sent at
 * commit, so a listener that reacts finds the committed row.
 *
 * The JSON the API shows is built by Postgres (json_build_object), like
 * store/devices.c, so timestamps have one format everywhere.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* One 'command' event per row of c, and a CTE e with their ids. */
#define CMD_EVENT                                                                     \
    ", e AS (INSERT INTO events (endpoint, kind, detail)"                             \
    " SELECT c.endpoint, 'command', jsonb_build_object('command', c.id, 'state',"    \
    " c.state, 'op', c.op, 'path', c.path) FROM c RETURNING id)"

/* The initplan that notifies event readers once. */
#define NOTIFY_EVENTS "(SELECT pg_notify('lodestar_events', max(id)::text) FROM e)"

/* Milliseconds left until expires_at; -1 when none. */
#define REMAINING(col)                                                                \
    "coalesce(greatest(0, (extract(epoch FROM " col " - now()) * 1000)::bigint), -1)"

#define DEAD_AFTER "interval '30 seconds'"    /* STORE_COMMANDS_DEAD_AFTER_S */

void store_command_clear(struct store_command *c)
{
    if (!c)
        return;
    free(c->endpoint);
    free(c->body);
    memset(c, 0, sizeof *c);
}

static void i64text(char *buf, size_t cap, int64_t v)
{
    snprintf(buf, cap, "%" PRId64, v);
}

/* Runs sql; LS_ENOTFOUND (with msg) when it returned no row. */
static enum ls_rc exec_row(struct store *s, const char *what, const char *sql, int n,
                           const char *const *values, PGresult **out, struct ls_error *err)
{
    enum ls_rc rc = store_exec_text(s, what, sql, n, values, out, err);
    if (rc == LS_OK && PQntuples(*out) == 0) {
        PQclear(*out);
        *out = NULL;
        rc = ls_error_set(err, LS_ENOTFOUND, "%s: no such command in that state", what);
    }
    return rc;
}

/* Copies row i (id, endpoint, body, remaining_ms) into c. */
static bool take_command(const PGresult *res, int i, struct store_command *c)
{
    c->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    c->endpoint = strdup(PQgetvalue(res, i, 1));
    c->body = strdup(PQgetvalue(res, i, 2));
    c->remaining_ms = strtoll(PQgetvalue(res, i, 3), NULL, 10);
    return c->endpoint && c->body;
}

enum ls_rc store_commands_insert(struct store *s, const char *endpoint, const char *body,
                                 int format, int64_t created_by, int64_t ttl_default_s,
                                 const char *target, int64_t route_ms, int64_t *id_out,
                                 struct ls_error *err)
{
    char fmt[16], by[24], ttl[24], route[24];
    PGresult *res = NULL;
    *id_out = 0;
    snprintf(fmt, sizeof fmt, "%d", format);
    i64text(by, sizeof by, created_by);
    i64text(ttl, sizeof ttl, ttl_default_s);
    i64text(route, sizeof route, route_ms);
    const char *values[] = { endpoint, body, format >= 0 ? fmt : NULL,
                             created_by > 0 ? by : NULL, target, ttl, route };
    enum ls_rc rc = exec_row(
        s, "insert command",
        "WITH c AS (INSERT INTO commands (endpoint, op, path, format, body, created_by,"
        " target_instance, mode, expires_at)"
        " SELECT $1, b->>'op', b->>'path', $3::int, b, $4::bigint, $5::text,"
        "  CASE WHEN $5::text IS NULL THEN 'queue' ELSE 'route' END,"
        "  now() + CASE WHEN $5::text IS NULL"
        "   THEN coalesce((b->>'ttl')::numeric, $6::numeric) * interval '1 second'"
        "   ELSE $7::bigint * interval '1 millisecond' END"
        " FROM (SELECT $2::jsonb AS b) x"
        " RETURNING id, endpoint, op, path, state)" CMD_EVENT
        " SELECT c.id, " NOTIFY_EVENTS ","
        " CASE WHEN $5::text IS NOT NULL THEN pg_notify('" STORE_COMMANDS_CHANNEL "', $5) END"
        " FROM c",
        7, values, &res, err);
    if (rc == LS_OK)
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

enum ls_rc store_commands_claim_next(struct store *s, const char *endpoint,
                                     const char *instance, struct store_command *out,
                                     struct ls_error *err)
{
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    const char *values[] = { endpoint, instance };
    enum ls_rc rc = exec_row(
        s, "claim the next queued command",
        "WITH n AS (SELECT id FROM commands WHERE endpoint = $1 AND state = 'queued'"
        "  AND mode = 'queue' AND (expires_at IS NULL OR expires_at > now())"
        "  ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED),"
        " c AS (UPDATE commands k SET state = 'sent', sent_by = $2::text, updated_at = now()"
        "  FROM n WHERE k.id = n.id"
        "  RETURNING k.id, k.endpoint, k.op, k.path, k.state, k.body, k.expires_at)" CMD_EVENT
        " SELECT c.id, c.endpoint, c.body::text, " REMAINING("c.expires_at") ", "
        NOTIFY_EVENTS " FROM c",
        2, values, &res, err);
    if (rc == LS_OK && !take_command(res, 0, out)) {
        store_command_clear(out);
        rc = ls_error_set(err, LS_ENOMEM, "claim command: out of memory");
    }
    PQclear(res);
    return rc;
}

/* One single-row transition: set (an SQL SET list) where id = $1 and
 * (an SQL condition); params beyond $1 in extra. */
static enum ls_rc transition(struct store *s, const char *what, const char *sql, int n,
                             const char *const *values, struct ls_error *err)
{
    PGresult *res = NULL;
    enum ls_rc rc = exec_row(s, what, sql, n, values, &res, err);
    PQclear(res);
    return rc;
}

enum ls_rc store_commands_requeue(struct store *s, int64_t id, struct ls_error *err)
{
    char idt[24];
    i64text(idt, sizeof idt, id);
    const char *values[] = { idt };
    return transition(s, "requeue command",
                      "WITH c AS (UPDATE commands SET state = 'queued', sent_by = NULL,"
                      " updated_at = now() WHERE id = $1 AND state = 'sent'"
                      " RETURNING id, endpoint, op, path, state)" CMD_EVENT
                      " SELECT c.id, " NOTIFY_EVENTS " FROM c",
                      1, values, err);
}

enum ls_rc store_commands_finish(struct store *s, int64_t id, unsigned http_status,
                                 const char *result_json, struct ls_error *err)
{
    char idt[24], st[16];
    i64text(idt, sizeof idt, id);
    snprintf(st, sizeof st, "%u", http_status);
    const char *values[] = { idt, st, result_json };
    return transition(
        s, "finish command",
        /* $3 is text: typed jsonb, http_body would get jsonb's rewriting */
        "WITH r AS (SELECT $3::text::jsonb AS j),"
        " k AS (SELECT coalesce(j->>'coap', j->'error'->>'coap') AS code FROM r),"
        " c AS (UPDATE commands SET state = CASE WHEN $2::int < 300 THEN 'done' ELSE 'failed'"
        "  END, http_status = $2::int, result = (SELECT j FROM r), http_body = $3::text,"
        "  coap_code = (SELECT code FROM k WHERE code ~ '^[0-7]\\.[0-3][0-9]$'),"
        "  updated_at = now()"
        "  WHERE id = $1 AND state IN ('queued', 'sent')"
        "  RETURNING id, endpoint, op, path, state)" CMD_EVENT
        " SELECT c.id, " NOTIFY_EVENTS ","
        " pg_notify('" STORE_COMMANDS_DONE_CHANNEL "', c.id::text) FROM c",
        3, values, err);
}

enum ls_rc store_commands_to_queue(struct store *s, int64_t id, int64_t ttl_default_s,
                                   struct ls_error *err)
{
    char idt[24], ttl[24];
    i64text(idt, sizeof idt, id);
    i64text(ttl, sizeof ttl, ttl_default_s);
    const char *values[] = { idt, ttl };
    return transition(
        s, "queue a routed command",
        "WITH c AS (UPDATE commands SET state = 'queued', mode = 'queue', updated_at = now(),"
        "  expires_at = now() + coalesce((body->>'ttl')::numeric, $2::numeric)"
        "   * interval '1 second'"
        "  WHERE id = $1 AND state = 'sent' AND mode = 'held'"
        "  RETURNING id, endpoint, op, path, state)" CMD_EVENT
        " SELECT c.id, " NOTIFY_EVENTS ","
        " pg_notify('" STORE_COMMANDS_DONE_CHANNEL "', c.id::text) FROM c",
        2, values, err);
}

enum ls_rc store_commands_abandon(struct store *s, int64_t id, struct ls_error *err)
{
    char idt[24];
    i64text(idt, sizeof idt, id);
    const char *values[] = { idt };
    enum ls_rc rc = transition(s, "abandon a routed command",
                               "WITH c AS (UPDATE commands SET state = 'expired',"
                               " updated_at = now()"
                               " WHERE id = $1 AND state = 'queued' AND mode = 'route'"
                               " RETURNING id, endpoint, op, path, state)" CMD_EVENT
                               " SELECT c.id, " NOTIFY_EVENTS " FROM c",
                               1, values, err);
    /* Already picked up (or finished): the holder settles it. */
    if (rc == LS_ENOTFOUND && err)
        memset(err, 0, sizeof *err);
    return rc == LS_ENOTFOUND ? LS_OK : rc;
}

enum ls_rc store_commands_take_routed(struct store *s, const char *instance,
                                      struct store_command **out, size_t *n_out,
                                      struct ls_error *err)
{
    PGresult *res = NULL;
    *out = NULL;
    *n_out = 0;
    const char *values[] = { instance };
    enum ls_rc rc = store_exec_text(
        s, "take routed commands",
        "WITH c AS (UPDATE commands SET state = 'sent', mode = 'held', sent_by = $1,"
        "  updated_at = now()"
        "  WHERE target_instance = $1 AND state = 'queued' AND mode = 'route'"
        "  AND expires_at > now()"
        "  RETURNING id, endpoint, op, path, state, body, expires_at)" CMD_EVENT
        " SELECT c.id, c.endpoint, c.body::text, " REMAINING("c.expires_at") ", "
        NOTIFY_EVENTS " FROM c ORDER BY c.id",
        1, values, &res, err);
    int rows = rc == LS_OK ? PQntuples(res) : 0;
    if (rows > 0) {
        struct store_command *v = calloc((size_t)rows, sizeof *v);
        for (int i = 0; v && i < rows; i++)
            if (!take_command(res, i, &v[i])) {
                for (int j = 0; j <= i; j++)
                    store_command_clear(&v[j]);
                free(v);
                v = NULL;
            }
        if (!v)
            rc = ls_error_set(err, LS_ENOMEM, "take routed commands: out of memory");
        *out = v;
        *n_out = v ? (size_t)rows : 0;
    }
    PQclear(res);
    return rc;
}

enum ls_rc store_commands_expire(struct store *s, size_t *n_out, struct ls_error *err)
{
    PGresult *res = NULL;
    *n_out = 0;
    enum ls_rc rc = store_exec_text(
        s, "expire commands",
        "WITH c AS (UPDATE commands SET state = 'expired', updated_at = now()"
        "  WHERE state = 'queued' AND expires_at IS NOT NULL AND expires_at <= now()"
        "  RETURNING id, endpoint, op, path, state)" CMD_EVENT
        " SELECT c.id, " NOTIFY_EVENTS ","
        " pg_notify('" STORE_COMMANDS_DONE_CHANNEL "', c.id::text) FROM c",
        0, NULL, &res, err);
    if (rc == LS_OK)
        *n_out = (size_t)PQntuples(res);
    PQclear(res);
    return rc;
}

/*
 * Orphans: 'sent' for longer than DEAD_AFTER by an instance without a live
 * heartbeat (or none recorded).  A side-effect-free queue-mode command
 * (SAFE_OPS) with TTL left goes back to 'queued' for the device's next
 * wake; everything else fails with 503 "interrupted" (store/commands.h
 * says why).  Both UPDATEs read the same snapshot, so their conditions
 * are disjoint rather than chained.
 */
#define SAFE_OPS "('read', 'discover', 'read_composite')"
#define ORPHAN                                                                            "state = 'sent' AND updated_at < now() - " DEAD_AFTER                                 " AND NOT EXISTS (SELECT 1 FROM server_instances i WHERE i.id = k.sent_by"            " AND i.last_heartbeat > now() - " DEAD_AFTER ")"
#define RETRYABLE                                                                         "(k.mode = 'queue' AND k.op IN " SAFE_OPS                                             " AND (k.expires_at IS NULL OR k.expires_at > now()))"
#define INTERRUPTED                                                                       "'{\"error\":{\"code\":\"interrupted\",\"message\":\"the lodestar-server "      "instance delivering this command stopped before the device answered; whether the "     "device applied it is unknown\"}}'"

enum ls_rc store_commands_sweep(struct store *s, size_t *failed_out, size_t *requeued_out,
                                struct ls_error *err)
{
    PGresult *res = NULL;
    *failed_out = *requeued_out = 0;
    enum ls_rc rc = store_exec_text(
        s, "sweep orphaned commands",
        "WITH rq AS (UPDATE commands k SET state = 'queued', sent_by = NULL,"
        "  updated_at = now() WHERE " ORPHAN " AND " RETRYABLE
        "  RETURNING id, endpoint, op, path, state),"
        " fl AS (UPDATE commands k SET state = 'failed', sent_by = NULL, http_status = 503,"
        "  http_body = " INTERRUPTED ", result = " INTERRUPTED "::jsonb, updated_at = now()"
        "  WHERE " ORPHAN " AND NOT " RETRYABLE
        "  RETURNING id, endpoint, op, path, state),"
        " c AS (SELECT * FROM rq UNION ALL SELECT * FROM fl)" CMD_EVENT
        " SELECT c.state, " NOTIFY_EVENTS ","
        " CASE WHEN c.state = 'failed' THEN"
        " pg_notify('" STORE_COMMANDS_DONE_CHANNEL "', c.id::text) END FROM c",
        0, NULL, &res, err);
    for (int i = 0; rc == LS_OK && i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 0), "failed") == 0)
            (*failed_out)++;
        else
            (*requeued_out)++;
    }
    PQclear(res);
    return rc;
}

/* What a routed caller answers for a settled row (state, mode, status,
 * result); NULL json when not settled. */
static enum ls_rc settle(const PGresult *res, int64_t id, bool *final, unsigned *status,
                         char **json, struct ls_error *err)
{
    const char *state = PQgetvalue(res, 0, 0), *mode = PQgetvalue(res, 0, 1);
    char buf[160];
    if (!strcmp(state, "done") || !strcmp(state, "failed")) {
        *status = PQgetisnull(res, 0, 2) ? 500 : (unsigned)atoi(PQgetvalue(res, 0, 2));
        *json = strdup(PQgetisnull(res, 0, 3) ? "{}" : PQgetvalue(res, 0, 3));
    } else if (!strcmp(state, "queued") && !strcmp(mode, "queue")) {
        *status = 202;
        snprintf(buf, sizeof buf, "{\"command\":%" PRId64 ",\"state\":\"queued\"}", id);
        *json = strdup(buf);
    } else if (!strcmp(state, "expired")) {
        *status = 504;
        snprintf(buf, sizeof buf,
                 "{\"error\":{\"code\":\"timeout\",\"message\":\"command %" PRId64
                 " expired before the instance holding the device answered\"}}", id);
        *json = strdup(buf);
    } else {
        return LS_OK;    /* waiting for the holder */
    }
    if (!*json)
        return ls_error_set(err, LS_ENOMEM, "command outcome: out of memory");
    *final = true;
    return LS_OK;
}

enum ls_rc store_commands_outcome(struct store *s, int64_t id, bool *final_out,
                                  unsigned *status_out, char **json_out, struct ls_error *err)
{
    char idt[24];
    PGresult *res = NULL;
    *final_out = false;
    *status_out = 0;
    *json_out = NULL;
    i64text(idt, sizeof idt, id);
    const char *values[] = { idt };
    enum ls_rc rc = exec_row(s, "read command outcome",
                             "SELECT state, mode, http_status, coalesce(http_body, result::text) FROM commands"
                             " WHERE id = $1",
                             1, values, &res, err);
    if (rc == LS_OK)
        rc = settle(res, id, final_out, status_out, json_out, err);
    PQclear(res);
    return rc;
}

#define COMMAND_JSON                                                                   \
    "json_build_object('id', id, 'endpoint', endpoint, 'op', op, 'path', path,"       \
    " 'state', state, 'created_at', created_at, 'updated_at', updated_at,"            \
    " 'expires_at', expires_at, 'result', result, 'coap', coap_code, 'command', body)"

static enum ls_rc one_text(struct store *s, const char *what, const char *sql, int n,
                           const char *const *values, char **out, struct ls_error *err)
{
    PGresult *res = NULL;
    *out = NULL;
    enum ls_rc rc = store_exec_text(s, what, sql, n, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 0)
        rc = ls_error_set(err, LS_ENOTFOUND, "%s: not found", what);
    if (rc == LS_OK && !(*out = strdup(PQgetvalue(res, 0, 0))))
        rc = ls_error_set(err, LS_ENOMEM, "%s: out of memory", what);
    PQclear(res);
    return rc;
}

enum ls_rc store_commands_get(struct store *s, int64_t id, char **json_out,
                              struct ls_error *err)
{
    char idt[24];
    i64text(idt, sizeof idt, id);
    const char *values[] = { idt };
    return one_text(s, "read command",
                    "SELECT " COMMAND_JSON "::text FROM commands WHERE id = $1", 1, values,
                    json_out, err);
}

enum ls_rc store_commands_list(struct store *s, const char *endpoint, const char *state,
                               int limit, int64_t after, char **json_out, struct ls_error *err)
{
    char lim[16], aft[24];
    snprintf(lim, sizeof lim, "%d", limit < 1 ? 1 : limit > 1000 ? 1000 : limit);
    i64text(aft, sizeof aft, after);
    const char *values[] = { endpoint, state, lim, aft };
    /* One row more than asked says whether there is a next page. */
    return one_text(
        s, "list commands",
        "WITH p AS (SELECT id, " COMMAND_JSON " AS j FROM commands"
        "  WHERE endpoint = $1 AND ($2::text IS NULL OR state = $2) AND id > $4::bigint"
        "  ORDER BY id LIMIT $3::int + 1),"
        " q AS (SELECT id, j FROM p ORDER BY id LIMIT $3::int)"
        " SELECT json_build_object('commands', coalesce((SELECT json_agg(j ORDER BY id)"
        "  FROM q), '[]'::json), 'next', CASE WHEN (SELECT count(*) FROM p) > $3::int"
        "  THEN (SELECT max(id) FROM q) END)::text",
        4, values, json_out, err);
}

enum ls_rc store_commands_holder(struct store *s, const char *endpoint,
                                 struct store_commands_holder *out, struct ls_error *err)
{
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    const char *values[] = { endpoint };
    enum ls_rc rc = store_exec_text(
        s, "find the holder",
        "SELECT e.name IS NOT NULL, r.id IS NOT NULL, coalesce(r.queue, false),"
        " coalesce(i.last_heartbeat > now() - " DEAD_AFTER ", false),"
        " coalesce(r.instance_id, '')"
        " FROM (SELECT $1::text AS n) x LEFT JOIN endpoints e ON e.name = x.n"
        " LEFT JOIN registrations r ON r.endpoint = x.n"
        " LEFT JOIN server_instances i ON i.id = r.instance_id",
        1, values, &res, err);
    if (rc == LS_OK) {
        out->known = PQgetvalue(res, 0, 0)[0] == 't';
        out->registered = PQgetvalue(res, 0, 1)[0] == 't';
        out->queue = PQgetvalue(res, 0, 2)[0] == 't';
        out->alive = PQgetvalue(res, 0, 3)[0] == 't';
        snprintf(out->instance, sizeof out->instance, "%s", PQgetvalue(res, 0, 4));
    }
    PQclear(res);
    return rc;
}

enum ls_rc store_commands_claim_registrations(struct store *s, const char *instance,
                                              const char *address, size_t *n_out,
                                              struct ls_error *err)
{
    PGresult *res = NULL;
    *n_out = 0;
    const char *values[] = { instance, address };
    /* The instance row first (registrations.instance_id references it;
     * the foreign key is checked at the end of the statement). */
    enum ls_rc rc = store_exec_text(
        s, "claim registrations",
        "WITH me AS (INSERT INTO server_instances (id, kind, address)"
        "  VALUES ($1, 'server', $2) ON CONFLICT (id) DO UPDATE SET last_heartbeat = now()"
        "  RETURNING id)"
        " UPDATE registrations r SET instance_id = (SELECT id FROM me)"
        " WHERE r.instance_id IS DISTINCT FROM $1 AND (r.instance_id IS NULL"
        "  OR NOT EXISTS (SELECT 1 FROM server_instances i WHERE i.id = r.instance_id"
        "   AND i.last_heartbeat > now() - " DEAD_AFTER
        "   AND ($2::text IS NULL OR i.address IS DISTINCT FROM $2)))"
        " RETURNING r.id",
        2, values, &res, err);
    if (rc == LS_OK)
        *n_out = (size_t)PQntuples(res);
    PQclear(res);
    return rc;
}

enum ls_rc store_commands_release_instance(struct store *s, const char *instance,
                                           struct ls_error *err)
{
    const char *values[] = { instance };
    return store_exec_text(s, "release instance",
                           "UPDATE server_instances SET last_heartbeat = now() - "
                           DEAD_AFTER " - interval '1 second' WHERE id = $1",
                           1, values, NULL, err);
}

enum ls_rc store_commands_event(struct store *s, const char *endpoint, const char *kind,
                                const char *detail_json, struct ls_error *err)
{
    const char *values[] = { endpoint, kind, detail_json };
    return store_exec_text(s, "insert event",
                           "WITH e AS (INSERT INTO events (endpoint, kind, detail)"
                           " VALUES ($1, $2, $3::jsonb) RETURNING id)"
                           " SELECT pg_notify('lodestar_events', id::text) FROM e",
                           3, values, NULL, err);
}

enum ls_rc store_commands_listen(struct store *s, struct ls_error *err)
{
    enum ls_rc rc = store_exec_text(s, "listen for commands",
                                    "LISTEN " STORE_COMMANDS_CHANNEL, 0, NULL, NULL, err);
    if (rc == LS_OK)
        rc = store_exec_text(s, "listen for finished commands",
                             "LISTEN " STORE_COMMANDS_DONE_CHANNEL, 0, NULL, NULL, err);
    return rc;
}

int store_commands_socket(struct store *s)
{
    PGconn *c = store_pgconn(s);
    return c ? PQsocket(c) : -1;
}

enum ls_rc store_commands_consume(struct store *s, store_commands_notify_fn *fn, void *arg,
                                  struct ls_error *err)
{
    PGconn *c = store_pgconn(s);
    if (!c)
        return ls_error_set(err, LS_ETRANSIENT, "command listener is not connected");
    if (!PQconsumeInput(c)) {
        enum ls_rc rc = store_check(s, NULL, "read notifications", err);
        return rc == LS_OK ? ls_error_set(err, LS_ETRANSIENT, "read notifications failed") : rc;
    }
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL) {
        if (strcmp(n->relname, STORE_COMMANDS_CHANNEL) == 0)
            fn(arg, false, n->extra);
        else if (strcmp(n->relname, STORE_COMMANDS_DONE_CHANNEL) == 0)
            fn(arg, true, n->extra);
        PQfreemem(n);
    }
    return LS_OK;
}
