/*
 * store/events.c -- the events table as a stream (LISTEN lodestar_events)
 *
 * The JSON of an event is built by Postgres, like the device queries, so
 * the stream and any later "GET /api/events?since=" page share one shape.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

enum ls_rc store_events_listen(struct store *s, struct ls_error *err)
{
    return store_exec_text(s, "listen for events", "LISTEN " STORE_EVENTS_CHANNEL, 0, NULL,
                           NULL, err);
}

int store_events_socket(struct store *s)
{
    PGconn *c = store_pgconn(s);
    return c ? PQsocket(c) : -1;
}

enum ls_rc store_events_consume(struct store *s, unsigned *count, struct ls_error *err)
{
    *count = 0;
    PGconn *c = store_pgconn(s);
    if (!c)
        return ls_error_set(err, LS_ETRANSIENT, "event listener is not connected");
    if (!PQconsumeInput(c)) {
        /* store_check with no result classifies the connection: a dead
         * one marks the store down, so the next call reconnects. */
        enum ls_rc rc = store_check(s, NULL, "read notifications", err);
        return rc == LS_OK ? ls_error_set(err, LS_ETRANSIENT, "read notifications failed") : rc;
    }
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL) {
        if (strcmp(n->relname, STORE_EVENTS_CHANNEL) == 0)
            (*count)++;
        PQfreemem(n);
    }
    return LS_OK;
}

void store_events_free(struct store_event *events, size_t n)
{
    if (!events)
        return;
    for (size_t i = 0; i < n; i++) {
        free(events[i].endpoint);
        free(events[i].json);
    }
    free(events);
}

/* Copies one result row into ev. */
static bool take_row(const PGresult *res, int i, struct store_event *ev)
{
    ev->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    snprintf(ev->kind, sizeof ev->kind, "%s", PQgetvalue(res, i, 1));
    ev->endpoint = PQgetisnull(res, i, 2) ? NULL : strdup(PQgetvalue(res, i, 2));
    ev->json = strdup(PQgetvalue(res, i, 3));
    return ev->json && (ev->endpoint || PQgetisnull(res, i, 2));
}

enum ls_rc store_events_after(struct store *s, int64_t after, const char *endpoint,
                              int limit, struct store_event **events_out, size_t *n_out,
                              struct ls_error *err)
{
    PGresult *res = NULL;
    struct store_event *evs = NULL;
    char aftertext[24], limtext[16];
    *events_out = NULL;
    *n_out = 0;
    snprintf(aftertext, sizeof aftertext, "%" PRId64, after);
    snprintf(limtext, sizeof limtext, "%d", limit > 0 ? limit : 1);
    const char *values[] = { aftertext, endpoint, limtext };
    enum ls_rc rc = store_exec_text(
        s, "read events",
        "SELECT id, kind, endpoint, CASE WHEN kind = 'notifications' AND endpoint IS NULL"
        " THEN (SELECT string_agg(to_json(n->>'endpoint')::text || E'\\t' ||"
        " json_build_object('id', e.id, 'at', e.at, 'endpoint', n->>'endpoint',"
        " 'kind', 'notification', 'detail', n->'detail')::text, E'\\n' ORDER BY k)"
        " FROM jsonb_array_elements(e.detail->'notifications') WITH ORDINALITY AS x(n, k)"
        " WHERE $2::text IS NULL OR n->>'endpoint' = $2)"
        " ELSE json_build_object('id', id, 'at', at,"
        " 'endpoint', endpoint, 'kind', kind, 'detail', detail)::text END"
        " FROM events e WHERE id > $1 AND ($2::text IS NULL OR endpoint = $2"
        /* A round's "notifications" row names its devices inside
         * (store/registrations.c); the SSE hub splits it. */
        " OR (endpoint IS NULL AND kind = 'notifications' AND detail->'notifications'"
        " @> jsonb_build_array(jsonb_build_object('endpoint', $2::text))))"
        " ORDER BY id LIMIT $3",
        3, values, &res, err);
    if (rc != LS_OK)
        goto out;
    int rows = PQntuples(res);
    if (rows == 0)
        goto out;
    evs = calloc((size_t)rows, sizeof *evs);
    if (!evs) {
        rc = ls_error_set(err, LS_ENOMEM, "cannot allocate %d events", rows);
        goto out;
    }
    for (int i = 0; i < rows; i++)
        if (!take_row(res, i, &evs[i])) {
            store_events_free(evs, (size_t)i + 1);
            evs = NULL;
            rc = ls_error_set(err, LS_ENOMEM, "cannot copy an event");
            goto out;
        }
    *events_out = evs;
    *n_out = (size_t)rows;
out:
    PQclear(res);
    return rc;
}

enum ls_rc store_events_last_id(struct store *s, int64_t *id_out, struct ls_error *err)
{
    PGresult *res = NULL;
    *id_out = 0;
    enum ls_rc rc = store_exec_text(s, "read the last event id",
                                    "SELECT coalesce(max(id), 0) FROM events", 0, NULL, &res,
                                    err);
    if (rc == LS_OK)
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}
