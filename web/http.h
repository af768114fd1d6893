/*
 * web/http.h -- the HTTP API server embedded in lodestar-server
 *
 * libmicrohttpd through runtime/httpd (an epoll thread pool; see
 * runtime/httpd.h for why not thread-per-connection), JSON in and out
 * (jansson), one routing table (web/http.c).  Handlers run on HTTP threads
 * and never call libcoap (ARCHITECTURE.md, "Threads and data flow").
 *
 * The web layer owns its own struct store, guarded by a mutex, because a
 * store is single-threaded and the daemon's main store belongs to the loop
 * thread.  GET /healthz pings through it, so it reconnects on its own when
 * Postgres comes back.
 *
 * Errors are {"error":{"code":"not_found","message":"..."}} with the HTTP
 * status: 400 bad input, 401 no or unknown token, 403 a role too low, 404
 * unknown route or thing, 405 wrong method (with Allow), 409 conflict, 413
 * body over body_max, 503 database away, 500 when the server itself fails.
 *
 * Routes and roles (web/http.c has the table):
 *   GET /healthz, GET /metrics, GET /<static file>      no token
 *   GET /api/devices, /api/devices/{ep}, /api/events,
 *       /api/models, /api/models/{id}                   viewer
 *   GET|POST /api/tokens, DELETE /api/tokens/{id}       admin
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_WEB_HTTP_H
#define LODESTAR_WEB_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/addr.h"
#include "runtime/err.h"
#include "runtime/metrics.h"

struct lwm2m_model;

#define WEB_HTTP_BODY_MAX_DEFAULT (1024 * 1024)  /* bytes */

struct web_http;

struct web_http_options {
    const struct runtime_addr *listen;  /* borrowed; --http */
    const char *conninfo;               /* borrowed; --db, for the web layer's store */
    size_t body_max;                    /* request body limit, bytes; 0 = default */
    unsigned threads;                   /* HTTP thread pool size; 0 = 4 */
    /* Added for issue 4 (REST API base): */
    const char *admin_token;            /* borrowed; --admin-token: ensured at start */
    const char *static_dir;             /* borrowed; --static; NULL = no dashboard */
    const struct lwm2m_model *model;    /* borrowed, read-only; NULL = the built-in
                                         * objects plus models_dir, loaded here */
    const char *models_dir;             /* borrowed; --models, used when model is NULL */
    runtime_metrics_fn *metrics_fn;     /* more /metrics lines; may be NULL (see
                                         * also web_http_metrics) */
    void *metrics_arg;                  /* passed to metrics_fn, on an HTTP thread */
    /* Added for issue 7 (factory batches): the master key, 32 bytes,
     * borrowed (copied at start, wiped at stop); NULL = factory batches
     * answer 503. */
    const uint8_t *master_key;
    /* Added for issue 10 (HTTPS): PEM files, both or neither (--http-cert,
     * --http-key); with them the API and dashboard are served over TLS
     * only.  Borrowed; read at start. */
    const char *tls_cert;
    const char *tls_key;
};

/*
 * web_http_start -- open the web layer's store (connecting now if the
 * database answers, later otherwise) and start listening.
 * Caller owns; stop with web_http_stop().  NULL with err set when the
 * address cannot be bound.
 */
struct web_http *web_http_start(const struct web_http_options *opts, struct ls_error *err);

/* Bound address ("127.0.0.1:8080"); buf: RUNTIME_ADDR_STR_MAX.  Returns buf. */
char *web_http_bound(const struct web_http *w, char *buf);

/*
 * web_http_metrics -- set (or, with fn NULL, clear) the function that adds
 * lines to GET /metrics after the web layer's own, e.g. the CoAP side's
 * counters once it has started.  fn runs on an HTTP thread under a lock
 * that this call also takes: after web_http_metrics(w, NULL, NULL)
 * returns, fn is not running and will not run, so arg may be freed.
 * Added for issue 4.
 */
void web_http_metrics(struct web_http *w, runtime_metrics_fn *fn, void *arg);

/* --- Added for issue 5 (device operations; contract section 2). ---
 *
 * The hook through which web/devops.c hands a device operation to the
 * CoAP side.  submit runs on an HTTP thread, copies what it keeps and never
 * blocks; done is called exactly once, from any thread (possibly inside
 * submit), with json borrowed for the call: the HTTP body, a result
 * (section 1) or {"error":{...}}.  web/devops.c suspends the MHD connection
 * around it.  Without a hook set, device operations answer 503. */
#include <stdint.h>
typedef void web_device_done_fn(void *ctx, unsigned http_status, const char *json);
struct web_device_call {
    const char *endpoint;        /* decoded */
    const char *command_json;    /* contract section 1 */
    int64_t timeout_ms;          /* ?timeout= seconds * 1000; default 5000 */
    int64_t actor_token_id;      /* the API token's id */
    const char *actor;           /* the token's name */
};
typedef void web_device_submit_fn(void *arg, const struct web_device_call *call,
                                  web_device_done_fn *done, void *ctx);

/* Sets (or, with submit NULL, clears) the hook.  Takes the lock submit
 * runs under: once a clear returns, submit is not running and will not
 * run, so arg may be freed (calls already submitted still get their done). */
void web_http_devices(struct web_http *w, web_device_submit_fn *submit, void *arg);

/* Stops accepting, lets requests in progress finish (up to 5 s), stops the
 * threads, closes the store, frees.  NULL is a no-op. */
void web_http_stop(struct web_http *w);

#endif /* LODESTAR_WEB_HTTP_H */
