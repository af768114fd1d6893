/*
 * store/telemetry.c -- reading observations and telemetry (telemetry.h)
 *
 * The writes are store worker operations (store/registrations.c); this
 * file holds the synchronous reads: the observations a starting server
 * takes back, and the telemetry list of the REST API.  The list is built
 * as JSON by Postgres (json_agg), so no row passes through C twice.
 *
 * Paging is keyset on (ts, id): the cursor is "<ts in us since the
 * epoch>.<id>", opaque to clients; a page never skips or repeats a row
 * however many are appended meanwhile (rows appended with an older ts than
 * the cursor are not seen by this walk: device time is the device's).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/telemetry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define LOAD_PAGE 5000

static const char SQL_LOAD[] =
    "SELECT id, endpoint, registration_id, path, array_to_json(paths)::text,"
    " encode(token, 'hex'), COALESCE(format, -1), attributes::text"
    " FROM observations WHERE registration_id IS NOT NULL AND id > $1::bigint"
    " ORDER BY id LIMIT $2::int";

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Calls fn for each row; *last gets the last id.  RETURNS rows. */
static int load_rows(const PGresult *res, store_observation_row_fn *fn, void *arg,
                     int64_t *last)
{
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        uint8_t token[8];
        const char *h = PQgetvalue(res, i, 5);
        size_t n = strlen(h) / 2;
        if (n > sizeof token)
            n = sizeof token;
        for (size_t k = 0; k < n; k++)
            token[k] = (uint8_t)(unhex(h[2 * k]) << 4 | unhex(h[2 * k + 1]));
        struct store_observation o = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .endpoint = PQgetvalue(res, i, 1),
            .registration_id = PQgetvalue(res, i, 2),
            .path = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3),
            .paths_json = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
            .token = token,
            .token_len = n,
            .format = (int)strtol(PQgetvalue(res, i, 6), NULL, 10),
            .attributes_json = PQgetvalue(res, i, 7),
        };
        *last = o.id;
        fn(arg, &o);
    }
    return rows;
}

enum ls_rc store_observations_load(struct store *s, store_observation_row_fn *fn, void *arg,
                                   struct ls_error *err)
{
    char after[24] = "0", page[16];
    const char *values[2] = { after, page };
    enum ls_rc rc = LS_OK;
    int rows;
    int64_t last = 0;

    snprintf(page, sizeof page, "%d", LOAD_PAGE);
    do {
        PGresult *res = NULL;
        rc = store_exec_text(s, "load observations", SQL_LOAD, 2, values, &res, err);
        if (rc != LS_OK)
            break;
        rows = load_rows(res, fn, arg, &last);
        PQclear(res);
        snprintf(after, sizeof after, "%" PRId64, last);
    } while (rows == LOAD_PAGE);
    return rc;
}

/* Timestamps in the API: RFC 3339 UTC with milliseconds. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define FROM_US(p) "(timestamptz 'epoch' + " p "::bigint * interval '1 microsecond')"

/*
 * $1 endpoint, $2 path or NULL, $3 path || '/%' (the segments below it; the
 * path is canonical digits and slashes, so no LIKE escape is needed),
 * $4 since us, $5 until us (NULL = unbounded), $6 cursor ts us, $7 cursor
 * id (NULL = first page), $8 limit + 1 (the extra row says there is more).
 */
static const char SQL_LIST[] =
    "WITH p AS (SELECT id, path, ts, received_at, source, value FROM telemetry"
    " WHERE endpoint = $1::text"
    " AND ($2::text IS NULL OR path = $2::text OR path LIKE $3::text)"
    " AND ($4::bigint IS NULL OR ts >= " FROM_US("$4") ")"
    " AND ($5::bigint IS NULL OR ts < " FROM_US("$5") ")"
    " AND ($7::bigint IS NULL OR (ts, id) > (" FROM_US("$6") ", $7::bigint))"
    " ORDER BY ts, id LIMIT $8::int),"
    " page AS (SELECT * FROM p ORDER BY ts, id LIMIT $8::int - 1)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM endpoints WHERE name = $1::text) THEN"
    " json_build_object('telemetry', COALESCE((SELECT json_agg(json_build_object("
    " 'path', path, 'ts', " TS("ts") ", 'received_at', " TS("received_at") ","
    " 'source', source, 'value', value) ORDER BY ts, id) FROM page), '[]'::json),"
    " 'next', CASE WHEN (SELECT count(*) FROM p) >= $8::int THEN"
    " (SELECT " US("ts") "::text || '.' || id::text FROM page ORDER BY ts DESC, id DESC LIMIT 1)"
    " END)::text END";

static const char *num(char *buf, size_t cap, int64_t v)
{
    snprintf(buf, cap, "%" PRId64, v);
    return buf;
}

enum ls_rc store_telemetry_list(struct store *s, const struct store_telemetry_query *q,
                                char **json_out, struct ls_error *err)
{
    char since[24], until[24], cts[24], cid[24], lim[16], *like = NULL;
    PGresult *res = NULL;
    enum ls_rc rc;

    *json_out = NULL;
    if (q->limit < 1 || q->limit > 1000)
        return ls_error_set(err, LS_EINVAL, "limit %d is outside 1..1000", q->limit);
    if (q->path && asprintf(&like, "%s/%%", strcmp(q->path, "/") == 0 ? "" : q->path) < 0)
        return ls_error_set(err, LS_ENOMEM, "list telemetry: out of memory");
    const char *path = q->path && strcmp(q->path, "/") != 0 ? q->path : NULL;
    const char *values[8] = {
        q->endpoint, path, path ? like : NULL,
        q->since_us == INT64_MIN ? NULL : num(since, sizeof since, q->since_us),
        q->until_us == INT64_MAX ? NULL : num(until, sizeof until, q->until_us),
        q->after_id ? num(cts, sizeof cts, q->after_ts_us) : NULL,
        q->after_id ? num(cid, sizeof cid, q->after_id) : NULL,
        num(lim, sizeof lim, q->limit + 1),
    };
    rc = store_exec_text(s, "list telemetry", SQL_LIST, 8, values, &res, err);
    if (rc == LS_OK && (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)))
        rc = ls_error_set(err, LS_ENOTFOUND, "no device \"%s\"", q->endpoint);
    else if (rc == LS_OK && !(*json_out = strdup(PQgetvalue(res, 0, 0))))
        rc = ls_error_set(err, LS_ENOMEM, "list telemetry: out of memory");
    PQclear(res);
    free(like);
    return rc;
}
