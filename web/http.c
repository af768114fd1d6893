/*
 * web/http.c -- the HTTP API server: request lifecycle, routing, replies
 *
 * MHD calls the access handler several times per request: first to let us
 * create per-request state, then once per upload chunk, then once with no
 * data, when the body is complete and the route runs.  Bodies are
 * collected up to body_max; a larger one is discarded as it arrives and
 * answered 413 (at once when Content-Length already says so).
 *
 * Routing is one static table of (method, path, role, handler).  A path
 * ending in "/{}" takes one more non-empty segment, percent-decoded
 * strictly into req->param (MHD hands us the path still encoded, see
 * runtime_httpd_options.raw_url, so "%2F" inside a device name is not a
 * separator).  A path that exists with another method answers 405 with
 * Allow; a GET outside /api/ is a static file; anything else 404.  Auth
 * runs after routing (an unknown route is 404 for everyone) and before the
 * handler.  HEAD is served as GET (MHD drops the body).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model.h"
#include "runtime/log.h"
#include "store/tokens.h"

struct web_counters web_counters;

struct route {
    const char *method;
    const char *path;               /* literal segments, "{}" (one segment, anywhere;
                                       the first is req->param) and a final "*" (the
                                       non-empty rest, req->tail: a catch-all) */
    enum store_tokens_role role;    /* NONE: no token needed */
    web_handler_fn *fn;
};

static const struct route routes[] = {
    { "GET", "/healthz", STORE_TOKENS_NONE, web_health_get },
    { "GET", "/metrics", STORE_TOKENS_NONE, web_metrics_get },
    { "GET", "/api/whoami", STORE_TOKENS_VIEWER, web_whoami_get },
    { "GET", "/api/openapi.yaml", STORE_TOKENS_VIEWER, web_openapi_get },
    { "GET", "/api/tokens", STORE_TOKENS_ADMIN, web_tokens_list },
    { "POST", "/api/tokens", STORE_TOKENS_ADMIN, web_tokens_create },
    { "DELETE", "/api/tokens/{}", STORE_TOKENS_ADMIN, web_tokens_delete },
    { "GET", "/api/devices", STORE_TOKENS_VIEWER, web_devices_list },
    { "GET", "/api/devices/{}", STORE_TOKENS_VIEWER, web_devices_get },
    { "GET", "/api/devices/{}/telemetry", STORE_TOKENS_VIEWER, web_telemetry_get },
    { "GET", "/api/devices/{}/commands", STORE_TOKENS_VIEWER, web_commands_list },
    { "GET", "/api/events", STORE_TOKENS_VIEWER, web_events_get },
    { "GET", "/api/models", STORE_TOKENS_VIEWER, web_models_list },
    { "GET", "/api/models/{}", STORE_TOKENS_VIEWER, web_models_get },
    /* Device operations (issue 5): the catch-alls take the LwM2M path; a
     * literal route under /api/devices/{}/ always wins over them.  Non-GET
     * operations need operator, checked in web/devops.c. */
    { "POST", "/api/devices/{}/composite", STORE_TOKENS_OPERATOR, web_devops_composite },
    { "GET", "/api/devices/{}/*", STORE_TOKENS_VIEWER, web_devops_handle },
    { "PUT", "/api/devices/{}/*", STORE_TOKENS_VIEWER, web_devops_handle },
    { "PATCH", "/api/devices/{}/*", STORE_TOKENS_VIEWER, web_devops_handle },
    { "POST", "/api/devices/{}/*", STORE_TOKENS_VIEWER, web_devops_handle },
    { "DELETE", "/api/devices/{}/*", STORE_TOKENS_VIEWER, web_devops_handle },
    { "GET", "/api/audit", STORE_TOKENS_ADMIN, web_audit_list },
    { "GET", "/api/commands/{}", STORE_TOKENS_VIEWER, web_commands_get },
    /* ":import" is its own literal route: the {} below only matches after
     * "configs/", so "configs:import" can never be taken for a name. */
    { "GET", "/api/bootstrap/configs", STORE_TOKENS_ADMIN, web_bootstrap_list },
    { "GET", "/api/bootstrap/sessions", STORE_TOKENS_VIEWER, web_bootstrap_sessions_all },
    { "POST", "/api/bootstrap/configs:import", STORE_TOKENS_ADMIN, web_bootstrap_import },
    { "GET", "/api/bootstrap/configs/{}", STORE_TOKENS_ADMIN, web_bootstrap_get },
    { "PUT", "/api/bootstrap/configs/{}", STORE_TOKENS_ADMIN, web_bootstrap_put },
    { "DELETE", "/api/bootstrap/configs/{}", STORE_TOKENS_ADMIN, web_bootstrap_delete },
    { "GET", "/api/devices/{}/bootstrap-sessions", STORE_TOKENS_VIEWER, web_bootstrap_sessions },
    { "POST", "/api/devices/{}/credentials/revoke", STORE_TOKENS_ADMIN, web_credentials_revoke },
    { "POST", "/api/credentials/revoke", STORE_TOKENS_ADMIN, web_credentials_revoke_fleet },
    { "POST", "/api/factory/batches", STORE_TOKENS_ADMIN, web_factory_create },
    { "GET", "/api/factory/batches/{}", STORE_TOKENS_ADMIN, web_factory_export },
    /* issue 7: server-initiated bootstrap and rotations (web/workflows.c) */
    { "POST", "/api/devices/{}/bootstrap", STORE_TOKENS_OPERATOR, web_workflows_bootstrap },
    { "GET", "/api/workflows", STORE_TOKENS_VIEWER, web_workflows_list },
    { "GET", "/api/workflows/{}", STORE_TOKENS_VIEWER, web_workflows_get },
    { "POST", "/api/bootstrap/rotations", STORE_TOKENS_ADMIN, web_workflows_rotation_create },
    { "GET", "/api/bootstrap/rotations", STORE_TOKENS_VIEWER, web_workflows_rotation_list },
    { "GET", "/api/bootstrap/rotations/{}", STORE_TOKENS_VIEWER, web_workflows_rotation_get },
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

/* A bulk import carries thousands of devices in one request (about 110
 * bytes per CSV row with its own key): it may exceed body_max. */
#define IMPORT_BODY_MAX ((size_t)32 << 20)  /* bytes */

/* A device write carries values as JSON: a 1 MB firmware image (/5/0/0) is
 * 1.4 MB of base64.  Issue 5. */
#define DEVICE_BODY_MAX ((size_t)4 << 20)  /* bytes */

static size_t body_limit(const struct web_http *w, const char *path)
{
    if (strcmp(path, "/api/bootstrap/configs:import") == 0 && w->body_max < IMPORT_BODY_MAX)
        return IMPORT_BODY_MAX;
    if (strncmp(path, "/api/devices/", 13) == 0 && w->body_max < DEVICE_BODY_MAX)
        return DEVICE_BODY_MAX;
    return w->body_max;
}

/* Issue 10: on every answer.  The dashboard loads only its own scripts,
 * styles and data (static/, /api); nothing may frame it.  A header already
 * set (a response reused for several requests) is left alone. */
static void add_security_headers(struct MHD_Connection *conn, struct MHD_Response *r)
{
    static const char *const headers[][2] = {
        { "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
          "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'" },
        { "X-Content-Type-Options", "nosniff" },
        { "Referrer-Policy", "no-referrer" },
        { "X-Frame-Options", "DENY" },
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        if (!MHD_get_response_header(r, headers[i][0]))
            MHD_add_response_header(r, headers[i][0], headers[i][1]);
    if (runtime_httpd_is_tls(conn) && !MHD_get_response_header(r, "Strict-Transport-Security"))
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
}

enum MHD_Result web_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r)
{
    add_security_headers(conn, r);
    unsigned cls = status / 100;
    if (cls >= 2 && cls <= 5)
        atomic_fetch_add_explicit(&web_counters.status_class[cls], 1, memory_order_relaxed);
    return MHD_queue_response(conn, status, r);
}

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
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = web_queue(conn, status, r);
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

enum MHD_Result web_reply_page(struct MHD_Connection *conn, char *text, bool more,
                               const char *key, const char *cursor_field)
{
    json_t *list = json_loads(text, 0, NULL);
    free(text);
    if (!list)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "cannot read the %s list", key);
    json_t *next = json_null();
    size_t n = json_array_size(list);
    if (more && n > 0)
        next = json_incref(json_object_get(json_array_get(list, n - 1), cursor_field));
    return web_reply_json(conn, MHD_HTTP_OK, json_pack("{s:o,s:o}", key, list, "next", next));
}

enum MHD_Result web_reply_list(struct MHD_Connection *conn, enum ls_rc rc, char *text,
                               const struct ls_error *err, const char *key)
{
    if (rc != LS_OK) {
        free(text);
        return web_reply_store_error(conn, err);
    }
    json_t *list = json_loads(text, 0, NULL);
    free(text);
    if (!list)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "cannot read the %s list", key);
    return web_reply_json(conn, MHD_HTTP_OK, json_pack("{s:o}", key, list));
}

enum MHD_Result web_reply_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* jansson refuses invalid UTF-8, and a message may quote input. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return reply(conn, status, error_body(code, msg), NULL);
}

enum MHD_Result web_reply_store_error(struct MHD_Connection *conn, const struct ls_error *err)
{
    switch (err->code) {
    case LS_ETRANSIENT:
        return web_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                               "the database is unavailable; try again");
    case LS_ENOTFOUND:
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "%s", err->msg);
    case LS_ECONFLICT:
        return web_reply_error(conn, MHD_HTTP_CONFLICT, "conflict", "%s", err->msg);
    case LS_EINVAL:
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err->msg);
    default:
        /* The detail (libpq's text) goes to the log, not to the client. */
        ls_log_error("http_store_failed", "error=\"%s\" detail=\"%s\"", err->msg, err->detail);
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "internal error");
    }
}

/* What a route's pattern captured from a path. */
struct match {
    const char *param;              /* first "{}" segment, in the path; NULL if none */
    size_t param_len;
    const char *tail;               /* what "*" took; NULL if none */
};

static bool is_catch_all(const struct route *rt)
{
    size_t n = strlen(rt->path);
    return n && rt->path[n - 1] == '*';
}

/* Does path match the route's pattern?  "{}" takes one non-empty segment,
 * a final "*" the non-empty rest. */
static bool path_matches(const char *pattern, const char *path, struct match *m)
{
    const char *p = pattern, *s = path;
    memset(m, 0, sizeof *m);
    while (*p) {
        if (p[0] == '*' && p[1] == '\0') {
            if (!*s)
                return false;
            m->tail = s;
            return true;
        }
        if (p[0] == '{' && p[1] == '}') {
            size_t n = strcspn(s, "/");
            if (n == 0)
                return false;
            if (!m->param) {
                m->param = s;
                m->param_len = n;
            }
            s += n;
            p += 2;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *s == '\0';
}

/* Does the path match any route that is not a catch-all?  Then those
 * routes alone decide (405 rather than a catch-all). */
static bool literal_known(const char *path)
{
    struct match m;
    for (size_t i = 0; i < N_ROUTES; i++)
        if (!is_catch_all(&routes[i]) && path_matches(routes[i].path, path, &m))
            return true;
    return false;
}

/* 405 with the Allow header listing the methods the path has. */
static enum MHD_Result reply_method_not_allowed(struct MHD_Connection *conn,
                                                const struct web_request *req, bool is_static)
{
    char allow[96] = "", msg[160];
    struct match m;
    bool literal = literal_known(req->path);
    for (size_t i = 0; i < N_ROUTES && !is_static; i++) {
        if (is_catch_all(&routes[i]) == literal || !path_matches(routes[i].path, req->path, &m))
            continue;
        size_t n = strlen(allow);
        snprintf(allow + n, sizeof allow - n, "%s%s%s", n ? ", " : "", routes[i].method,
                 strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
    }
    if (is_static)
        snprintf(allow, sizeof allow, "GET, HEAD");
    snprintf(msg, sizeof msg, "%.16s is not allowed here; allowed: %s", req->method, allow);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, error_body("method_not_allowed", msg),
                 allow);
}

static enum MHD_Result run_route(struct web_http *w, struct MHD_Connection *conn,
                                 struct web_request *req, const struct route *rt,
                                 const struct match *m)
{
    req->tail = m->tail;
    if (m->param) {
        size_t len = m->param_len;
        req->param = malloc(len + 1);
        if (!req->param)
            return MHD_NO;
        if (!web_url_decode(m->param, len, req->param, len + 1, &req->param_len))
            return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                                   "the path segment is not valid percent-encoded UTF-8");
    }
    if (rt->role != STORE_TOKENS_NONE) {
        enum MHD_Result ret;
        if (!web_auth_check(w, conn, req, rt->role, &ret))
            return ret;
    }
    return rt->fn(w, conn, req);
}

static bool is_api_path(const char *path)
{
    return strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0;
}

/* The route that serves method on path: its index, or -1 with *path_known
 * saying whether another method has the path (405 rather than 404).
 * Literal routes first; the catch-alls only when none knows the path. */
static long find_route(const char *method, const char *path, bool *path_known,
                       struct match *m)
{
    bool literal = literal_known(path);
    *path_known = false;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (is_catch_all(&routes[i]) == literal || !path_matches(routes[i].path, path, m))
            continue;
        *path_known = true;
        if (strcmp(routes[i].method, method) == 0)
            return (long)i;
    }
    return -1;
}

const char *web_http_route_at(size_t i, const char **path, enum store_tokens_role *role)
{
    if (i >= N_ROUTES)
        return NULL;
    *path = routes[i].path;
    *role = routes[i].role;
    return routes[i].method;
}

long web_http_route_find(const char *method, const char *path)
{
    bool known;
    struct match m;
    return find_route(method, path, &known, &m);
}

static enum MHD_Result route(struct web_http *w, struct MHD_Connection *conn,
                             struct web_request *req)
{
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    bool path_known;
    struct match m;

    if (req->too_large)
        return web_reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                               "request body exceeds %zu bytes", body_limit(w, req->path));
    long i = find_route(method, req->path, &path_known, &m);
    if (i >= 0)
        return run_route(w, conn, req, &routes[i], &m);
    if (path_known)
        return reply_method_not_allowed(conn, req, false);
    if (is_api_path(req->path))
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such resource");
    if (strcmp(method, "GET") != 0)
        return reply_method_not_allowed(conn, req, true);
    return web_static_get(w, conn, req);
}

/* Appends an upload chunk, or marks the request too large. */
static void take_chunk(struct web_http *w, struct web_request *req, const char *data, size_t n)
{
    if (req->too_large)
        return;
    if (n > body_limit(w, req->path) - req->body_len) {
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
    if (cl && strtoull(cl, NULL, 10) > body_limit(w, url)) {
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
     * still call us for the body it chose to read: say nothing twice.  A
     * suspended handler is called back here once resumed. */
    if (req->replied)
        return req->on_resume ? req->on_resume(w, conn, req) : MHD_YES;
    req->replied = true;
    return route(w, conn, req);
}

static void on_done(void *cls, void *state)
{
    struct web_request *req = state;
    if (req) {
        free(req->body);
        free(req->param);
        if (req->resume_free)
            req->resume_free(req->resume_arg);
    }
    free(req);
}

/* The object models /api/models serves: the daemon's, or our own. */
static bool setup_model(struct web_http *w, const struct web_http_options *opts,
                        struct ls_error *err)
{
    if (opts->model) {
        w->model = opts->model;
        return true;
    }
    w->owned_model = lwm2m_model_new(err);
    if (!w->owned_model)
        return false;
    if (opts->models_dir && lwm2m_model_load_dir(w->owned_model, opts->models_dir, err) != LS_OK)
        return false;
    w->model = w->owned_model;
    return true;
}

/* --admin-token: make sure the configured secret is a live admin token. */
static bool ensure_admin(struct web_http *w, const char *secret, struct ls_error *err)
{
    uint8_t hash[STORE_TOKENS_HASH_LEN];
    store_tokens_hash(secret, strlen(secret), hash);
    if (store_tokens_ensure(w->store, "admin (--admin-token)", STORE_TOKENS_ADMIN, hash, err) !=
        LS_OK) {
        ls_error_prefix(err, "--admin-token");
        return false;
    }
    return true;
}

static void free_web(struct web_http *w)
{
    web_workflows_stop(w->workflows);
    web_events_stop(w->events);
    store_audit_writer_free(w->audit);
    web_auth_free(w->auth);
    store_close(w->store);
    lwm2m_model_free(w->owned_model);
    free(w->static_root);
    pthread_mutex_destroy(&w->store_lock);
    pthread_mutex_destroy(&w->metrics_lock);
    pthread_mutex_destroy(&w->devices_lock);
    explicit_bzero(&w->master_key, sizeof w->master_key);
    free(w);
}

/* The master key for factory batches (issue 7), as store/secret.h wants it. */
static bool setup_master_key(struct web_http *w, const uint8_t *raw, struct ls_error *err)
{
    char hex[2 * STORE_SECRET_KEY_LEN + 1];
    if (!raw)
        return true;
    for (size_t i = 0; i < STORE_SECRET_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    w->has_master_key = store_secret_key_from_hex(hex, &w->master_key, err) == LS_OK;
    explicit_bzero(hex, sizeof hex);
    return w->has_master_key;
}

struct web_http *web_http_start(const struct web_http_options *opts, struct ls_error *err)
{
    struct web_http *w = calloc(1, sizeof *w);
    if (!w) {
        ls_error_set(err, LS_ENOMEM, "cannot allocate the web layer");
        return NULL;
    }
    w->body_max = opts->body_max ? opts->body_max : WEB_HTTP_BODY_MAX_DEFAULT;
    w->metrics_fn = opts->metrics_fn;
    w->metrics_arg = opts->metrics_arg;
    pthread_mutex_init(&w->store_lock, NULL);
    pthread_mutex_init(&w->metrics_lock, NULL);
    pthread_mutex_init(&w->devices_lock, NULL);
    w->auth = web_auth_new();
    if (!w->auth) {
        ls_error_set(err, LS_ENOMEM, "cannot allocate the token cache");
        goto fail;
    }
    if (!setup_model(w, opts, err) || !setup_master_key(w, opts->master_key, err))
        goto fail;
    if (opts->static_dir) {
        /* A missing directory serves 404s; the dashboard is optional. */
        w->static_root = realpath(opts->static_dir, NULL);
        if (!w->static_root)
            ls_log_warn("static_missing", "dir=\"%s\"", opts->static_dir);
    }
    w->store = store_open(opts->conninfo, err);
    if (!w->store)
        goto fail;
    w->audit = store_audit_writer_start(opts->conninfo, 0, err);
    if (!w->audit)
        goto fail;
    /* Best effort: a database that is away now is reconnected by later
     * pings; /healthz says so meanwhile. */
    struct ls_error later = { 0 };
    if (store_connect(w->store, &later) != LS_OK)
        ls_log_debug("web_db_deferred", "error=\"%s\"", later.msg);
    if (opts->admin_token && !ensure_admin(w, opts->admin_token, err))
        goto fail;
    w->events = web_events_start(opts->conninfo, err);
    if (!w->events)
        goto fail;
    w->workflows = web_workflows_start(w, err);
    if (!w->workflows)
        goto fail;

    struct runtime_httpd_options o = {
        .listen = opts->listen, .threads = opts->threads, .handler = on_request,
        .done = on_done, .cls = w, .raw_url = true,
        .tls_cert = opts->tls_cert, .tls_key = opts->tls_key,
    };
    w->httpd = runtime_httpd_start(&o, err);
    if (!w->httpd)
        goto fail;
    return w;
fail:
    free_web(w);
    return NULL;
}

void web_http_metrics(struct web_http *w, runtime_metrics_fn *fn, void *arg)
{
    pthread_mutex_lock(&w->metrics_lock);
    w->metrics_fn = fn;
    w->metrics_arg = arg;
    pthread_mutex_unlock(&w->metrics_lock);
}

char *web_http_bound(const struct web_http *w, char *buf)
{
    return runtime_httpd_bound(w->httpd, buf);
}

void web_http_stop(struct web_http *w)
{
    if (!w)
        return;
    /* Streams first: a suspended SSE connection would hold the drain for
     * its whole timeout, and MHD refuses to stop with one suspended. */
    web_events_close_streams(w->events);
    /* Audit entries first too: their writer resumes parked connections. */
    store_audit_writer_stop(w->audit);
    runtime_httpd_stop(w->httpd, 5000);
    free_web(w);
}
