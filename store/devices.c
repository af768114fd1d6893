/*
 * store/devices.c -- read-only device queries for the REST API
 *
 * Paging is keyset, not OFFSET: "name > $after ORDER BY name LIMIT n" walks
 * the endpoints primary key and costs the same on page 1 and page 1000.
 * One extra row is fetched to tell the caller whether another page exists
 * without a second query.  A name prefix is matched with LIKE on an escaped
 * pattern: '%' and '_' in a device name are ordinary characters.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

bool store_devices_like_prefix(const char *prefix, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = prefix; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\') {
            if (n + 1 >= cap)
                return false;
            out[n++] = '\\';
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = *p;
    }
    if (n + 2 > cap)
        return false;
    out[n++] = '%';
    out[n] = '\0';
    return true;
}

/* The registration part of a list row; r is the registrations alias. */
#define LIST_ROW                                                                         \
    "json_build_object('endpoint', e.name, 'registered', r.id IS NOT NULL,"              \
    " 'lwm2m', r.lwm2m_version, 'binding', r.binding, 'queue', r.queue,"                 \
    " 'address', r.address, 'security', r.security, 'lifetime', r.lifetime_s,"           \
    " 'registered_at', r.registered_at, 'last_seen', r.last_seen)"

enum ls_rc store_devices_list(struct store *s, const char *after, const char *prefix,
                              int limit, char **json_out, bool *more, struct ls_error *err)
{
    PGresult *res = NULL;
    char *pattern = NULL, limtext[16];
    enum ls_rc rc = LS_OK;
    *json_out = NULL;
    *more = false;
    if (limit < 1 || limit > STORE_DEVICES_LIMIT_MAX)
        return ls_error_set(err, LS_EINVAL, "limit %d is outside 1..%d", limit,
                            STORE_DEVICES_LIMIT_MAX);
    if (prefix && *prefix) {
        size_t cap = 2 * strlen(prefix) + 2;
        pattern = malloc(cap);
        if (!pattern || !store_devices_like_prefix(prefix, pattern, cap)) {
            rc = ls_error_set(err, LS_ENOMEM, "cannot build the name pattern");
            goto out;
        }
    }
    snprintf(limtext, sizeof limtext, "%d", limit + 1);
    const char *values[] = { after, pattern, limtext };
    rc = store_exec_text(s, "list devices",
                         "SELECT " LIST_ROW " FROM endpoints e"
                         " LEFT JOIN registrations r ON r.endpoint = e.name"
                         " WHERE ($1::text IS NULL OR e.name > $1)"
                         " AND ($2::text IS NULL OR e.name LIKE $2 ESCAPE '\\')"
                         " ORDER BY e.name LIMIT $3",
                         3, values, &res, err);
    if (rc != LS_OK)
        goto out;
    int rows = PQntuples(res);
    if (rows > limit) {
        *more = true;
        rows = limit;
    }
    size_t len = 2;
    for (int i = 0; i < rows; i++)
        len += (size_t)PQgetlength(res, i, 0) + 1;
    char *json = malloc(len + 1);
    if (!json) {
        rc = ls_error_set(err, LS_ENOMEM, "cannot allocate the device list");
        goto out;
    }
    size_t n = 0;
    json[n++] = '[';
    for (int i = 0; i < rows; i++) {
        if (i)
            json[n++] = ',';
        size_t l = (size_t)PQgetlength(res, i, 0);
        memcpy(json + n, PQgetvalue(res, i, 0), l);
        n += l;
    }
    json[n++] = ']';
    json[n] = '\0';
    *json_out = json;
out:
    free(pattern);
    PQclear(res);
    return rc;
}

enum ls_rc store_devices_get(struct store *s, const char *endpoint, char **json_out,
                             struct ls_error *err)
{
    PGresult *res = NULL;
    *json_out = NULL;
    const char *values[] = { endpoint };
    enum ls_rc rc = store_exec_text(
        s, "get device",
        "SELECT json_build_object('endpoint', e.name, 'registered', r.id IS NOT NULL,"
        " 'registration', CASE WHEN r.id IS NULL THEN NULL ELSE json_build_object("
        "  'id', r.id, 'lwm2m', r.lwm2m_version, 'lifetime', r.lifetime_s,"
        "  'binding', r.binding, 'queue', r.queue, 'address', r.address,"
        "  'security', r.security, 'identity', r.identity, 'objects', r.objects,"
        "  'registered_at', r.registered_at, 'last_seen', r.last_seen) END,"
        " 'credentials', coalesce((SELECT json_agg(json_build_object("
        "  'id', c.id, 'scope', c.scope, 'mode', c.mode, 'identity', c.identity,"
        "  'state', c.state, 'server_uri', c.server_uri, 'ssid', c.ssid,"
        "  'created_at', c.created_at, 'activated_at', c.activated_at,"
        "  'revoked_at', c.revoked_at, 'expires_at', c.expires_at) ORDER BY c.id)"
        "  FROM credentials c WHERE c.endpoint = e.name), '[]'::json))"
        " FROM endpoints e LEFT JOIN registrations r ON r.endpoint = e.name"
        " WHERE e.name = $1",
        1, values, &res, err);
    if (rc != LS_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = ls_error_set(err, LS_ENOTFOUND, "no device named \"%.64s\"", endpoint);
        goto out;
    }
    *json_out = strdup(PQgetvalue(res, 0, 0));
    if (!*json_out)
        rc = ls_error_set(err, LS_ENOMEM, "cannot copy the device");
out:
    PQclear(res);
    return rc;
}
