/*
 * web/health.c -- GET /healthz: is this instance able to serve?
 *
 * 200 {"status":"ok","db":"up"} when Postgres answers a round trip now,
 * 503 {"status":"degraded","db":"down"} when it does not.  The ping goes
 * through the web layer's own store, which reconnects when its backoff
 * allows, so the answer follows the database going away and coming back
 * without anyone restarting anything.  No authentication (ARCHITECTURE.md).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

enum MHD_Result web_health_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req)
{
    struct ls_error err = { 0 };
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_ping(w->store, &err);
    pthread_mutex_unlock(&w->store_lock);
    /* The store logs the transitions up/down itself, once each. */
    if (rc == LS_OK)
        return web_reply_json(conn, MHD_HTTP_OK,
                              json_pack("{s:s,s:s}", "status", "ok", "db", "up"));
    return web_reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          json_pack("{s:s,s:s}", "status", "degraded", "db", "down"));
}
