/*
 * web/web_int.h -- what the files of web/ share; never included outside
 * web/ (json_t and MHD types stay here)
 *
 * A handler gets the web context, the connection and the request (method,
 * path, complete body) and queues exactly one response with the
 * web_reply_* helpers.  Routes are listed in web/http.c.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_WEB_WEB_INT_H
#define LODESTAR_WEB_WEB_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/err.h"
#include "runtime/httpd.h"
#include "store/store.h"
#include "web/http.h"

struct web_http {
    struct runtime_httpd *httpd;
    size_t body_max;                /* bytes */
    pthread_mutex_t store_lock;     /* serialises every use of store */
    struct store *store;            /* the web layer's own connection */
};

/* One request, from MHD's first handler call to its completion. */
struct web_request {
    const char *method;             /* borrowed from MHD for the request's life */
    const char *path;               /* borrowed, likewise */
    char *body;                     /* NUL-terminated upload; NULL when empty */
    size_t body_len;                /* bytes */
    bool too_large;                 /* upload exceeded body_max: answer 413 */
    bool replied;                   /* a response is queued: ignore further calls */
};

typedef enum MHD_Result web_handler_fn(struct web_http *w, struct MHD_Connection *conn,
                                       const struct web_request *req);

/* Queues status + the JSON body.  Consumes body (json_decref), even on
 * failure.  Returns MHD_NO only when MHD could not queue (the connection is
 * then closed). */
enum MHD_Result web_reply_json(struct MHD_Connection *conn, unsigned status, json_t *body);

/* {"error":{"code":code,"message":...}} with status. */
enum MHD_Result web_reply_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                const char *fmt, ...) LS_PRINTF(4, 5);

/* GET /healthz -- web/health.c */
enum MHD_Result web_health_get(struct web_http *w, struct MHD_Connection *conn,
                               const struct web_request *req);

#endif /* LODESTAR_WEB_WEB_INT_H */
