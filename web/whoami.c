/*
 * web/whoami.c -- GET /api/whoami (viewer): the calling token's name and role
 *
 * The dashboard asks it right after sign-in: a 200 proves the token, and
 * the role decides which pages and buttons the page shows (the API still
 * checks every call; hiding a button is a courtesy, not the control).
 * Nothing secret: the caller already holds the token.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

enum MHD_Result web_whoami_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req)
{
    (void)w;
    json_t *body = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)req->token.id, "name",
                             req->token.name, "role",
                             store_tokens_role_name(req->token.role));
    if (!body)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "cannot encode the token's name");
    return web_reply_json(conn, MHD_HTTP_OK, body);
}
