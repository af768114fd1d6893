/*
 * web/audit.c -- GET /api/audit?limit=&after= (admin)
 *
 * Newest first, keyset-paged by id: "next" is the id to pass as ?after= for
 * the following (older) page, null on the last.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <stdlib.h>

#define LIMIT_DEFAULT 50

enum MHD_Result web_audit_list(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req)
{
    (void)req;
    char aftertext[24];
    long long limit, after = 0;
    int has_after = web_url_query(conn, "after", aftertext, sizeof aftertext);
    if (!web_url_query_limit(conn, LIMIT_DEFAULT, STORE_AUDIT_LIMIT_MAX, &limit))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "limit must be an integer from 1 to %d", STORE_AUDIT_LIMIT_MAX);
    if (has_after < 0 ||
        (has_after > 0 && !web_url_parse_int(aftertext, 1, INT64_MAX, &after)))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "after must be an entry id");
    struct ls_error err = { 0 };
    char *text = NULL;
    int64_t next = 0;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_audit_list(w->store, after, (int)limit, &text, &next, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    json_t *list = json_loads(text, 0, NULL);
    free(text);
    if (!list)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "cannot read the audit log");
    return web_reply_json(conn, MHD_HTTP_OK,
                          json_pack("{s:o,s:o}", "entries", list, "next",
                                    next ? json_integer(next) : json_null()));
}
