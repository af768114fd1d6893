/*
 * web/web_int.h -- what the files of web/ share; never included outside
 * web/ (json_t and MHD types stay here)
 *
 * A handler gets the web context, the connection and the request (method,
 * path, complete body, the decoded {param} of its route and the caller's
 * token) and queues exactly one response with the web_reply_* helpers.
 * Routes and the role each needs are listed in web/http.c; auth runs
 * before the handler, so a handler never sees an unauthorised request.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_WEB_WEB_INT_H
#define LODESTAR_WEB_WEB_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"
#include "runtime/httpd.h"
#include "store/store.h"
#include "store/audit.h"
#include "store/secret.h"
#include "store/tokens.h"
#include "web/http.h"

struct web_auth;
struct web_events;

/* Counters for /metrics; relaxed atomics, any thread. */
struct web_counters {
    atomic_uint_fast64_t status_class[6];   /* [2] = 2xx ... [5] = 5xx; [0]/[1] unused */
    atomic_uint_fast64_t auth_missing;      /* 401: no Authorization header */
    atomic_uint_fast64_t auth_invalid;      /* 401: unknown or malformed token */
    atomic_uint_fast64_t auth_forbidden;    /* 403: role too low */
    atomic_uint_fast64_t auth_throttled;    /* 429: too many 401s from the address (issue 10) */
};

struct web_http {
    struct runtime_httpd *httpd;
    size_t body_max;                /* bytes */
    pthread_mutex_t store_lock;     /* serialises every use of store */
    struct store *store;            /* the web layer's own connection */
    struct web_auth *auth;          /* token cache (web/auth.c) */
    struct web_events *events;      /* the SSE hub (web/events.c) */
    const struct lwm2m_model *model;/* borrowed or owned_model */
    struct lwm2m_model *owned_model;/* loaded by web_http_start when not given */
    char *static_root;              /* realpath of --static; NULL = none */
    pthread_mutex_t metrics_lock;   /* guards metrics_fn/arg and their calls */
    runtime_metrics_fn *metrics_fn;
    void *metrics_arg;
    /* Added for issue 5: the device operation hook (web_http_devices). */
    pthread_mutex_t devices_lock;   /* guards devices_fn/arg and their calls */
    web_device_submit_fn *devices_fn;
    void *devices_arg;
    struct store_audit_writer *audit;  /* device operations' audit entries (CORE2) */
    /* Added for issue 7: the master key (web_http_options.master_key). */
    bool has_master_key;
    struct store_secret_key master_key;    /* secret; wiped at stop */
    /* Added for issue 7 (SIB): the bootstrap trigger thread (web/workflows.c). */
    struct web_workflows *workflows;
};

/* Process-wide: a process runs one web layer, and the reply helpers that
 * count have no web_http at hand. */
extern struct web_counters web_counters;

/* One request, from MHD's first handler call to its completion. */
struct web_request {
    const char *method;             /* borrowed from MHD for the request's life */
    const char *path;               /* borrowed, likewise; still percent-encoded */
    char *body;                     /* NUL-terminated upload; NULL when empty */
    size_t body_len;                /* bytes */
    bool too_large;                 /* upload exceeded body_max: answer 413 */
    bool replied;                   /* a response is queued: ignore further calls */
    char *param;                    /* the route's decoded {param}; NULL when none */
    size_t param_len;               /* bytes */
    struct store_token token;       /* the caller, once auth passed */
    /* Added for issue 5 (device operations): */
    const char *tail;               /* a catch-all route's rest of the path, after the
                                       prefix's '/'; borrowed, still percent-encoded */
    enum MHD_Result (*on_resume)(struct web_http *w, struct MHD_Connection *conn,
                                 struct web_request *req); /* a suspended handler's
                                       second half: MHD calls the access handler again
                                       after MHD_resume_connection */
    void *resume_arg;               /* the handler's state while suspended */
    void (*resume_free)(void *arg); /* frees resume_arg when the request completes */
};

typedef enum MHD_Result web_handler_fn(struct web_http *w, struct MHD_Connection *conn,
                                       struct web_request *req);

/* Queues status + the JSON body.  Consumes body (json_decref), even on
 * failure.  Returns MHD_NO only when MHD could not queue (the connection is
 * then closed). */
enum MHD_Result web_reply_json(struct MHD_Connection *conn, unsigned status, json_t *body);

/* {"error":{"code":code,"message":...}} with status.  Bytes of the message
 * that are not printable ASCII become '?', so any input echoed in it keeps
 * the body valid JSON. */
enum MHD_Result web_reply_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                const char *fmt, ...) LS_PRINTF(4, 5);

/* The error reply for a failed store call: 503 while the database is away,
 * 404 / 409 / 400 for ENOTFOUND / ECONFLICT / EINVAL, else 500. */
enum MHD_Result web_reply_store_error(struct MHD_Connection *conn, const struct ls_error *err);

/* One page of a keyset-paged list: {"<key>": [...], "next": <the last
 * item's cursor_field, or null when there is no more>}.  Consumes text
 * (the JSON array a store list function returned). */
enum MHD_Result web_reply_page(struct MHD_Connection *conn, char *text, bool more,
                               const char *key, const char *cursor_field);

/* {"<key>": [...]} from a store list call's outcome: its error reply when
 * rc is not LS_OK, else the JSON array text (consumed). */
enum MHD_Result web_reply_list(struct MHD_Connection *conn, enum ls_rc rc, char *text,
                               const struct ls_error *err, const char *key);

/* Queues a prepared response and counts its status class.  Adds the
 * security headers every answer carries (CSP, nosniff, Referrer-Policy,
 * X-Frame-Options; HSTS over TLS) unless the response already has them. */
enum MHD_Result web_queue(struct MHD_Connection *conn, unsigned status,
                          struct MHD_Response *r);

/* --- web/url.c: pure helpers (unit-tested) --- */

/*
 * web_url_decode -- strict percent-decoding of len bytes of in into out
 * (cap bytes, NUL-terminated).  Refuses a '%' not followed by two hex
 * digits, an encoded NUL, output that is not valid UTF-8, and output that
 * does not fit.  *out_len gets the decoded length.
 */
bool web_url_decode(const char *in, size_t len, char *out, size_t cap, size_t *out_len);

/* True when len bytes of s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool web_url_utf8_valid(const char *s, size_t len);

/* Parses a decimal in [min, max] (no sign, no spaces, no leading '+'). */
bool web_url_parse_int(const char *s, long long min, long long max, long long *out);

/* The decoded query value of name into out (cap bytes).  0 when absent,
 * 1 when present and valid, -1 when present but badly encoded or too long. */
int web_url_query(struct MHD_Connection *conn, const char *name, char *out, size_t cap);

/* web_url_query for a value that must be one of allowed (NULL-terminated):
 * 0 absent, 1 one of them (in out), -1 anything else. */
int web_url_query_enum(struct MHD_Connection *conn, const char *name,
                       const char *const *allowed, char *out, size_t cap);

/* ?limit= in 1..max into *out (def when absent); false when bad. */
bool web_url_query_limit(struct MHD_Connection *conn, long long def, long long max,
                         long long *out);

/* --- web/auth.c --- */

struct web_auth *web_auth_new(void);
void web_auth_free(struct web_auth *a);

/* Forget every cached lookup (after a token is deleted here). */
void web_auth_flush(struct web_auth *a);

/*
 * web_auth_check -- authenticate the request's bearer token and require
 * at least role.  true: req->token is the caller.  false: a 401/403/503
 * reply was queued (*ret is what to return to MHD).
 */
bool web_auth_check(struct web_http *w, struct MHD_Connection *conn, struct web_request *req,
                    enum store_tokens_role role, enum MHD_Result *ret);

/* --- handlers --- */
enum MHD_Result web_health_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req);
/* web/whoami.c: the calling token's name and role (viewer; the dashboard) */
enum MHD_Result web_whoami_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req);
enum MHD_Result web_tokens_list(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req);
enum MHD_Result web_tokens_create(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req);
enum MHD_Result web_tokens_delete(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req);
enum MHD_Result web_devices_list(struct web_http *w, struct MHD_Connection *conn,
                                 struct web_request *req);
enum MHD_Result web_devices_get(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req);
enum MHD_Result web_models_list(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req);
enum MHD_Result web_models_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req);
enum MHD_Result web_metrics_get(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req);
enum MHD_Result web_static_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req);
enum MHD_Result web_events_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req);
/* web/telemetry.c: a device's notifications and Send data (viewer) */
enum MHD_Result web_telemetry_get(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req);
/* RFC 3339 or epoch milliseconds -> us since the epoch.  Pure, fuzzed. */
bool web_telemetry_parse_time(const char *s, int64_t *us_out);
/* web/commands.c: queued and routed commands (viewer) */
enum MHD_Result web_commands_get(struct web_http *w, struct MHD_Connection *conn,
                                 struct web_request *req);
enum MHD_Result web_commands_list(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req);
/* web/bootstrap.c: bootstrap configurations (admin), a device's sessions */
enum MHD_Result web_bootstrap_list(struct web_http *w, struct MHD_Connection *conn,
                                   struct web_request *req);
enum MHD_Result web_bootstrap_get(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req);
enum MHD_Result web_bootstrap_put(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req);
enum MHD_Result web_bootstrap_delete(struct web_http *w, struct MHD_Connection *conn,
                                     struct web_request *req);
enum MHD_Result web_bootstrap_import(struct web_http *w, struct MHD_Connection *conn,
                                     struct web_request *req);
enum MHD_Result web_bootstrap_sessions_all(struct web_http *w, struct MHD_Connection *conn,
                                           struct web_request *req);
enum MHD_Result web_bootstrap_sessions(struct web_http *w, struct MHD_Connection *conn,
                                       struct web_request *req);

/*
 * web_bootstrap_csv_items -- an import CSV (RFC 4180, header line, columns
 * in docs/bootstrap.md) as the JSON import list.  Pure, fuzzed.
 * lines_out  Caller frees: the line each item starts on (items' order).
 * Returns the list (caller decrefs), or NULL with msg ("line N: ...").
 */
json_t *web_bootstrap_csv_items(const char *text, size_t len, size_t **lines_out, char *msg,
                                size_t cap);

/* --- web/devops.c: device operations (issue 5) --- */
enum MHD_Result web_devops_handle(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req);
enum MHD_Result web_devops_composite(struct web_http *w, struct MHD_Connection *conn,
                                     struct web_request *req);
enum MHD_Result web_audit_list(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req);

/* What follows the LwM2M path in a device operation URL. */
enum web_devops_suffix { WEB_DEVOPS_PLAIN, WEB_DEVOPS_DISCOVER, WEB_DEVOPS_ATTRIBUTES,
                         WEB_DEVOPS_OBSERVE };
struct lwm2m_path;
/* Pure, unit-tested: "3/0/1/observe" -> path /3/0/1 + WEB_DEVOPS_OBSERVE;
 * false with msg ("path: ...") for anything else than 1..4 decimal ids and
 * an optional known suffix. */
bool web_devops_parse_target(const char *tail, struct lwm2m_path *path,
                             enum web_devops_suffix *suffix, char *msg, size_t cap);
enum web_devops_suffix web_devops_suffix_of(const char *seg, size_t len);
/* The command op for a method on a target; NULL when there is none. */
const char *web_devops_op_for(const char *method, enum web_devops_suffix suffix,
                              unsigned depth);

/* --- issue 7: web/factory.c (admin) and web/credentials.c (admin) --- */
enum MHD_Result web_factory_create(struct web_http *w, struct MHD_Connection *conn,
                                   struct web_request *req);
enum MHD_Result web_factory_export(struct web_http *w, struct MHD_Connection *conn,
                                   struct web_request *req);
enum MHD_Result web_credentials_revoke(struct web_http *w, struct MHD_Connection *conn,
                                       struct web_request *req);
enum MHD_Result web_credentials_revoke_fleet(struct web_http *w, struct MHD_Connection *conn,
                                             struct web_request *req);
/* CSV field quoting (RFC 4180): appends s to out (cap bytes incl. NUL);
 * false when it does not fit.  Pure. */
bool web_factory_csv_field(const char *s, char *out, size_t cap);

/* --- web/http.c: the route table, for the OpenAPI test (test_web_openapi) --- */

/* Route i of the table: its method, with its path pattern ("{}" one
 * segment, a final "*" the rest) and least role; NULL past the end. */
const char *web_http_route_at(size_t i, const char **path, enum store_tokens_role *role);
/* The index of the route that serves method on a concrete (encoded) path,
 * as the server routes it (literal routes before catch-alls); -1: none. */
long web_http_route_find(const char *method, const char *path);

/* --- web/openapi.c: GET /api/openapi.yaml (viewer) --- */
enum MHD_Result web_openapi_get(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req);
/* docs/openapi.yaml as compiled in (len bytes, NUL-terminated). */
const char *web_openapi_text(size_t *len);

/* --- issue 7: web/workflows.c: server-initiated bootstrap, rotations --- */
struct web_workflows;
/* The trigger thread; uses w->store (under store_lock) and the device hook. */
struct web_workflows *web_workflows_start(struct web_http *w, struct ls_error *err);
/* After the HTTP server stopped; NULL ok. */
void web_workflows_stop(struct web_workflows *wf);
enum MHD_Result web_workflows_bootstrap(struct web_http *w, struct MHD_Connection *conn,
                                        struct web_request *req);
enum MHD_Result web_workflows_list(struct web_http *w, struct MHD_Connection *conn,
                                   struct web_request *req);
enum MHD_Result web_workflows_rotation_list(struct web_http *w, struct MHD_Connection *conn,
                                            struct web_request *req);
enum MHD_Result web_workflows_get(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req);
enum MHD_Result web_workflows_rotation_create(struct web_http *w, struct MHD_Connection *conn,
                                              struct web_request *req);
enum MHD_Result web_workflows_rotation_get(struct web_http *w, struct MHD_Connection *conn,
                                           struct web_request *req);

/* --- web/static.c: pure helper (unit-tested) --- */

/* Checks a decoded request path for the static tree and turns it into a
 * relative file path ("/" -> "index.html"): refuses "..", ".", empty
 * segments after the first, backslashes and control bytes. */
bool web_static_relpath(const char *path, char *out, size_t cap);

/* The Content-Type for a file name, by extension. */
const char *web_static_content_type(const char *name);

/* --- web/events.c: the SSE hub --- */
struct web_events *web_events_start(const char *conninfo, struct ls_error *err);
/* Ends every stream (their connections resume and finish); call before
 * the HTTP server stops. */
void web_events_close_streams(struct web_events *e);
void web_events_stop(struct web_events *e);
/* Current subscribers, for /metrics. */
unsigned web_events_subscribers(struct web_events *e);

/* Formats one SSE frame ("id: 7\nevent: update\ndata: {...}\n\n") into a
 * malloc'd string; NULL on ENOMEM.  Pure, unit-tested. */
char *web_events_frame(int64_t id, const char *kind, const char *json);

#endif /* LODESTAR_WEB_WEB_INT_H */
