/*
 * web/devices.c -- GET /api/devices and GET /api/devices/{ep} (viewer)
 *
 * The list is keyset-paged: ?after=<endpoint> continues after that name,
 * and "next" is the name to pass for the following page (null on the
 * last), so pages stay consistent while devices come and go.  ?q= filters
 * by a literal name prefix.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <stdlib.h>
#include <string.h>

#include "store/devices.h"

#define NAME_MAX_BYTES 1024         /* endpoints.name CHECK */
#define LIMIT_DEFAULT 50

enum MHD_Result web_devices_list(struct web_http *w, struct MHD_Connection *conn,
                                 struct web_request *req)
{
    char after[NAME_MAX_BYTES + 1], prefix[NAME_MAX_BYTES + 1];
    long long limit;
    int has_after = web_url_query(conn, "after", after, sizeof after);
    int has_prefix = web_url_query(conn, "q", prefix, sizeof prefix);
    if (has_after < 0 || has_prefix < 0)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "after and q must be percent-encoded UTF-8 of at most %d bytes",
                               NAME_MAX_BYTES);
    if (!web_url_query_limit(conn, LIMIT_DEFAULT, STORE_DEVICES_LIMIT_MAX, &limit))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "limit must be an integer from 1 to %d", STORE_DEVICES_LIMIT_MAX);

    struct ls_error err = { 0 };
    char *text = NULL;
    bool more = false;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_devices_list(w->store, has_after > 0 && *after ? after : NULL,
                                       has_prefix > 0 && *prefix ? prefix : NULL, (int)limit,
                                       &text, &more, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    return web_reply_page(conn, text, more, "devices", "endpoint");
}

enum MHD_Result web_devices_get(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req)
{
    if (req->param_len > NAME_MAX_BYTES)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
    struct ls_error err = { 0 };
    char *text = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_devices_get(w->store, req->param, &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc == LS_ENOTFOUND)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    json_t *dev = json_loads(text, 0, NULL);
    free(text);
    if (!dev)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "cannot read the device");
    return web_reply_json(conn, MHD_HTTP_OK, dev);
}
