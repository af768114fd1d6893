/*
 * web/commands.c -- GET /api/commands/{id} and GET /api/devices/{ep}/commands
 * (viewer)
 *
 * Commands are device operations kept in Postgres: queued for a sleeping
 * queue-mode device (202 {"command":id} from the device API) or routed to
 * the instance holding the device (server/commands.c).  A command reads
 *   {"id","endpoint","op","path","state","created_at","updated_at",
 *    "expires_at","result","coap","command"}
 * where state is queued | sent | done | failed | expired, result the API
 * body of its outcome (null until done/failed), coap the device's answer
 * code, command the operation as submitted.  The list is keyset-paged by
 * id: ?after=<id> continues, "next" is the id to pass (null on the last
 * page); ?state= filters; ?limit= 1..1000 (default 50).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <stdlib.h>
#include <string.h>

#include "store/commands.h"

#define NAME_MAX_BYTES 1024         /* endpoints.name CHECK */
#define LIMIT_DEFAULT 50
#define LIMIT_MAX 1000

static enum MHD_Result reply_text(struct MHD_Connection *conn, char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    if (!j)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "cannot read the command");
    return web_reply_json(conn, MHD_HTTP_OK, j);
}

enum MHD_Result web_commands_get(struct web_http *w, struct MHD_Connection *conn,
                                 struct web_request *req)
{
    long long id = 0;
    if (!req->param || !web_url_parse_int(req->param, 1, INT64_MAX, &id))
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such command");
    struct ls_error err = { 0 };
    char *text = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_commands_get(w->store, (int64_t)id, &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc == LS_ENOTFOUND)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such command");
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    return reply_text(conn, text);
}

static bool state_known(const char *s)
{
    static const char *const states[] = { "queued", "sent", "done", "failed", "expired" };
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (strcmp(s, states[i]) == 0)
            return true;
    return false;
}

/* ?state= ?limit= ?after=; false after queuing a 400. */
static bool list_params(struct MHD_Connection *conn, char *state, size_t cap, long long *limit,
                        long long *after, enum MHD_Result *ret)
{
    char lim[24], aft[24];
    int has_state = web_url_query(conn, "state", state, cap);
    int has_limit = web_url_query(conn, "limit", lim, sizeof lim);
    int has_after = web_url_query(conn, "after", aft, sizeof aft);
    *limit = LIMIT_DEFAULT;
    *after = 0;
    if (has_state < 0 || (has_state > 0 && !state_known(state)))
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "state must be queued, sent, done, failed or expired");
    else if (has_limit < 0 || (has_limit > 0 && !web_url_parse_int(lim, 1, LIMIT_MAX, limit)))
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "limit must be an integer from 1 to %d", LIMIT_MAX);
    else if (has_after < 0 || (has_after > 0 && !web_url_parse_int(aft, 0, INT64_MAX, after)))
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "after must be a command id");
    else {
        if (has_state <= 0)
            state[0] = '\0';
        return true;
    }
    return false;
}

enum MHD_Result web_commands_list(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req)
{
    char state[16];
    long long limit, after;
    enum MHD_Result ret;
    if (!req->param || req->param_len > NAME_MAX_BYTES)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
    if (!list_params(conn, state, sizeof state, &limit, &after, &ret))
        return ret;
    struct ls_error err = { 0 };
    char *text = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_commands_list(w->store, req->param, state[0] ? state : NULL,
                                        (int)limit, (int64_t)after, &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    return reply_text(conn, text);
}
