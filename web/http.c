/*
 * web/http.c -- the HTTP API server: request lifecycle, routing, replies
 *
 * MHD calls the access handler several times per request: first to let us
 * create per-request state, then once per upload chunk, then once with no
 * data, when the body is complete and the route runs.  Bodies are
 * collected up to body_max; a larger one is discarded as it arrives and
 * answered 413 (at once when Content-Length already says so).
 *
 * Routing is one static table of (method, path, handler).  A path that
 * exists with another method answers 405 with Allow; anything else 404.
 * HEAD is served as GET (MHD drops the body).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"

struct route {
    const char *method;
    const char *path;               /* exact match */
    web_handler_fn *fn;
};

static const struct route routes[] = {
    { "GET", "/healthz", web_health_get },
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

/* Queues status + body (consumed) with an optional Allow header. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, json_t *body,
                             const char *allow)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return MHD_NO;
    /* json_dumps allocates with malloc; MHD frees it with free(). */
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
                                                             MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static json_t *error_body(const char *code, const char *msg)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
}

enum MHD_Result web_reply_json(struct MHD_Connection *conn, unsigned status, json_t *body)
{
    return reply(conn, status, body, NULL);
}

enum MHD_Result web_reply_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return reply(conn, status, error_body(code, msg), NULL);
}

/* 405 with the Allow header listing the methods the path has. */
static enum MHD_Result reply_method_not_allowed(struct MHD_Connection *conn,
                                                const struct web_request *req)
{
    char allow[64] = "", msg[160];
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strcmp(routes[i].path, req->path) != 0)
            continue;
        size_t n = strlen(allow);
        snprintf(allow + n, sizeof allow - n, "%s%s%s", n ? ", " : "", routes[i].method,
                 strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
    }
    snprintf(msg, sizeof msg, "%.16s is not allowed here; allowed: %s", req->method, allow);
    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, error_body("method_not_allowed", msg), allow);
}

static enum MHD_Result route(struct web_http *w, struct MHD_Connection *conn,
                             const struct web_request *req)
{
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    bool path_known = false;

    if (req->too_large)
        return web_reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                               "request body exceeds %zu bytes", w->body_max);
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strcmp(routes[i].path, req->path) != 0)
            continue;
        path_known = true;
        if (strcmp(routes[i].method, method) == 0)
            return routes[i].fn(w, conn, req);
    }
    if (path_known)
        return reply_method_not_allowed(conn, req);
    return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such resource");
}

/* Appends an upload chunk, or marks the request too large. */
static void take_chunk(struct web_http *w, struct web_request *req, const char *data, size_t n)
{
    if (req->too_large)
        return;
    if (n > w->body_max - req->body_len) {
        req->too_large = true;
        free(req->body);
        req->body = NULL;
        req->body_len = 0;
        return;
    }
    char *b = realloc(req->body, req->body_len + n + 1);
    if (!b) {
        /* Treated as too large: the client gets a 413 rather than a reset. */
        req->too_large = true;
        return;
    }
    memcpy(b + req->body_len, data, n);
    req->body_len += n;
    b[req->body_len] = '\0';
    req->body = b;
}

/* First call: create the request; refuse a declared oversize body now. */
static enum MHD_Result begin(struct web_http *w, struct MHD_Connection *conn, const char *url,
                             const char *method, void **state)
{
    struct web_request *req = calloc(1, sizeof *req);
    if (!req)
        return MHD_NO;
    req->method = method;
    req->path = url;
    *state = req;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > w->body_max) {
        req->too_large = true;
        req->replied = true;
        return route(w, conn, req);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *upload_data,
                                  size_t *upload_data_size, void **state)
{
    struct web_http *w = cls;
    struct web_request *req = *state;
    if (!req)
        return begin(w, conn, url, method, state);
    if (*upload_data_size > 0) {
        if (!req->replied)
            take_chunk(w, req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* An early answer (413 on Content-Length) is already queued; MHD may
     * still call us for the body it chose to read: say nothing twice. */
    if (req->replied)
        return MHD_YES;
    req->replied = true;
    return route(w, conn, req);
}

static void on_done(void *cls, void *state)
{
    struct web_request *req = state;
    if (req)
        free(req->body);
    free(req);
}

struct web_http *web_http_start(const struct web_http_options *opts, struct ls_error *err)
{
    struct web_http *w = calloc(1, sizeof *w);
    if (!w) {
        ls_error_set(err, LS_ENOMEM, "cannot allocate the web layer");
        return NULL;
    }
    w->body_max = opts->body_max ? opts->body_max : WEB_HTTP_BODY_MAX_DEFAULT;
    pthread_mutex_init(&w->store_lock, NULL);
    w->store = store_open(opts->conninfo, err);
    if (!w->store)
        goto fail;
    /* Best effort: a database that is away now is reconnected by later
     * pings; /healthz says so meanwhile. */
    struct ls_error later = { 0 };
    if (store_connect(w->store, &later) != LS_OK)
        ls_log_debug("web_db_deferred", "error=\"%s\"", later.msg);

    struct runtime_httpd_options o = {
        .listen = opts->listen, .threads = opts->threads, .handler = on_request,
        .done = on_done, .cls = w,
    };
    w->httpd = runtime_httpd_start(&o, err);
    if (!w->httpd)
        goto fail;
    return w;
fail:
    store_close(w->store);
    pthread_mutex_destroy(&w->store_lock);
    free(w);
    return NULL;
}

char *web_http_bound(const struct web_http *w, char *buf)
{
    return runtime_httpd_bound(w->httpd, buf);
}

void web_http_stop(struct web_http *w)
{
    if (!w)
        return;
    runtime_httpd_stop(w->httpd, 5000);
    store_close(w->store);
    pthread_mutex_destroy(&w->store_lock);
    free(w);
}
