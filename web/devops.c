/*
 * web/devops.c -- device operations: /api/devices/{ep}/{path}[/discover|
 *                 /attributes|/observe] and POST /api/devices/{ep}/composite
 *
 * The REST call becomes a command document (contract section 1), handed to
 * the CoAP side through the web_device_submit_fn hook (web_http_devices).
 * The MHD connection is suspended meanwhile -- a parked request costs a
 * socket, not a thread -- and resumed from the done callback, whatever
 * thread that runs on.  MHD then calls the access handler again
 * (web_request.on_resume), which builds the audit entry, parks the
 * connection again and queues the entry on the audit writer
 * (store_audit_writer_*: group commit on its own thread and connection);
 * the writer resumes it once the entry committed, and only then is the
 * answer sent: an acknowledged operation is in the audit log, and neither
 * the HTTP threads nor the loop wait for Postgres.  An entry that cannot
 * be written (database away longer than STORE_AUDIT_GIVE_UP_MS) turns the
 * answer into 503 "audit_unavailable", whose message gives the
 * operation's outcome.
 *
 *   GET    .../{path}             read          (viewer)
 *   GET    .../{path}/discover    discover      (viewer)
 *   PUT    .../{path}             write         (operator; body {"values":[...]})
 *   PUT    .../{path}/attributes  attributes    (operator; ?pmin=&pmax=&gt=...)
 *   PATCH  .../{path}             update        (operator)
 *   POST   .../{o}                create        (operator)
 *   POST   .../{o}/{i}/{r}        execute       (operator; body: arguments text)
 *   DELETE .../{path}             delete        (operator)
 *   POST   .../{path}/observe     observe       (operator)
 *   DELETE .../{path}/observe     cancel        (operator)
 *   POST   .../composite          {"op":"read|observe|write|cancel_observe",
 *                                  "paths":[...], "values":[...]} (operator)
 * Query: ?format= (a format name or number), ?timeout= (seconds, 1..300,
 * default 5), ?depth= (discover), and the attributes for /attributes and
 * /observe; an attribute given with an empty value (?gt=) is removed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <stdlib.h>
#include <string.h>

#include "lwm2m/format.h"
#include "lwm2m/path.h"
#include "runtime/log.h"

#define TIMEOUT_DEFAULT_S 5
#define TIMEOUT_MAX_S 300
#define NAME_MAX_BYTES 1024

enum devop_state {
    DEVOP_RUNNING,                  /* on the device; parked */
    DEVOP_FINISHED,                 /* done ran; resumed to write the audit entry */
    DEVOP_AUDITING,                 /* parked until the entry committed */
    DEVOP_AUDITED,                  /* resumed to answer */
};

/* One suspended call, shared by the HTTP thread, the done callback and
 * the audit writer. */
struct devop {
    pthread_mutex_t lock;
    struct MHD_Connection *conn;
    enum devop_state state;
    unsigned status;
    char *json;                     /* done's body, copied */
    json_t *body;                   /* parsed, once FINISHED was handled */
    enum ls_rc audit_rc;
    char audit_msg[160];
    char action[48];                /* "device.read" */
    char *endpoint;
    char path[LWM2M_PATH_STR_MAX];
};

static const char *const attr_names[] = { "pmin", "pmax", "gt", "lt", "st",
                                          "epmin", "epmax", "edge", "con" };
#define N_ATTRS (sizeof attr_names / sizeof attr_names[0])

/* ---- pure helpers (unit-tested through web_devops_parse_target) ---- */

enum web_devops_suffix web_devops_suffix_of(const char *seg, size_t len)
{
    if (len == 8 && memcmp(seg, "discover", 8) == 0)
        return WEB_DEVOPS_DISCOVER;
    if (len == 10 && memcmp(seg, "attributes", 10) == 0)
        return WEB_DEVOPS_ATTRIBUTES;
    if (len == 7 && memcmp(seg, "observe", 7) == 0)
        return WEB_DEVOPS_OBSERVE;
    return WEB_DEVOPS_PLAIN;
}

bool web_devops_parse_target(const char *tail, struct lwm2m_path *path,
                             enum web_devops_suffix *suffix, char *msg, size_t cap)
{
    size_t len = strlen(tail);
    *suffix = WEB_DEVOPS_PLAIN;
    const char *last = memrchr(tail, '/', len);
    const char *seg = last ? last + 1 : tail;
    enum web_devops_suffix s = web_devops_suffix_of(seg, len - (size_t)(seg - tail));
    if (s != WEB_DEVOPS_PLAIN) {
        *suffix = s;
        len = last ? (size_t)(last - tail) : 0;
    }
    if (len == 0) {
        snprintf(msg, cap, "path: an object, instance, resource or resource instance is "
                           "needed, like /3/0/1");
        return false;
    }
    char buf[64];
    if (len + 2 > sizeof buf) {
        snprintf(msg, cap, "path: too long");
        return false;
    }
    buf[0] = '/';
    memcpy(buf + 1, tail, len);
    buf[len + 1] = '\0';
    struct ls_error err = { 0 };
    if (lwm2m_path_parse(buf, len + 1, path, &err) != LS_OK || path->depth == 0) {
        snprintf(msg, cap, "path: %s", err.msg[0] ? err.msg : "the root is not allowed");
        return false;
    }
    return true;
}

const char *web_devops_op_for(const char *method, enum web_devops_suffix suffix,
                              unsigned depth)
{
    bool get = strcmp(method, "GET") == 0, put = strcmp(method, "PUT") == 0;
    bool post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
    switch (suffix) {
    case WEB_DEVOPS_DISCOVER:
        return get ? "discover" : NULL;
    case WEB_DEVOPS_ATTRIBUTES:
        return put ? "attributes" : NULL;
    case WEB_DEVOPS_OBSERVE:
        return post ? "observe" : del ? "cancel_observe" : NULL;
    default:
        break;
    }
    if (get)
        return "read";
    if (put)
        return "write";
    if (strcmp(method, "PATCH") == 0)
        return "update";
    if (del)
        return "delete";
    if (post)
        return depth == LWM2M_DEPTH_OBJECT ? "create"
               : depth == LWM2M_DEPTH_RESOURCE ? "execute" : NULL;
    return NULL;
}

/* ---- query -> command ---- */

/* An attribute from the query into attrs: "" removes (null), else a number. */
static bool query_attr(struct MHD_Connection *conn, const char *name, json_t *attrs,
                       char *msg, size_t cap)
{
    char v[48];
    int got = web_url_query(conn, name, v, sizeof v);
    if (got == 0)
        return true;
    char *end = NULL;
    double d = got > 0 && v[0] ? strtod(v, &end) : 0;
    if (got < 0 || (v[0] && (*end || end == v))) {
        snprintf(msg, cap, "%s: must be a number", name);
        return false;
    }
    json_t *val = !v[0] ? json_null()
                  : (d == (double)(long long)d && strchr(v, '.') == NULL && strchr(v, 'e') == NULL)
                      ? json_integer((long long)d) : json_real(d);
    json_object_set_new(attrs, name, val);
    return true;
}

static bool query_common(struct MHD_Connection *conn, json_t *cmd, int64_t *timeout_ms,
                         char *msg, size_t cap)
{
    char v[32];
    long long n;
    int got = web_url_query(conn, "format", v, sizeof v);
    unsigned f;
    if (got < 0 || (got > 0 && (!lwm2m_format_parse(v, &f) || f == LWM2M_FORMAT_LINK))) {
        snprintf(msg, cap, "format: unknown format \"%.24s\"", got > 0 ? v : "?");
        return false;
    }
    if (got > 0)
        json_object_set_new(cmd, "format", json_string(v));
    got = web_url_query(conn, "timeout", v, sizeof v);
    if (got < 0 || (got > 0 && !web_url_parse_int(v, 1, TIMEOUT_MAX_S, &n))) {
        snprintf(msg, cap, "timeout: seconds, an integer from 1 to %d", TIMEOUT_MAX_S);
        return false;
    }
    *timeout_ms = (got > 0 ? n : TIMEOUT_DEFAULT_S) * 1000;
    return true;
}

/* The body's JSON object, or NULL with msg ("" when there is no body). */
static json_t *body_object(const struct web_request *req, char *msg, size_t cap)
{
    msg[0] = '\0';
    if (!req->body || req->body_len == 0)
        return NULL;
    json_error_t e;
    json_t *b = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(b)) {
        snprintf(msg, cap, "body: not a JSON object (%s)", b ? "another type" : e.text);
        json_decref(b);
        return NULL;
    }
    return b;
}

/* Adds what op takes from the query and the body to cmd. */
static bool fill_command(struct MHD_Connection *conn, const struct web_request *req,
                         const char *op, json_t *cmd, char *msg, size_t cap)
{
    if (strcmp(op, "write") == 0 || strcmp(op, "update") == 0 || strcmp(op, "create") == 0) {
        json_t *b = body_object(req, msg, cap);
        if (!b && msg[0])
            return false;
        json_t *values = b ? json_object_get(b, "values") : NULL;
        if (!values && strcmp(op, "create") != 0) {
            json_decref(b);
            snprintf(msg, cap, "values: the body must be {\"values\":[...]}");
            return false;
        }
        if (values)
            json_object_set(cmd, "values", values);
        json_decref(b);
        return true;
    }
    if (strcmp(op, "execute") == 0) {
        if (req->body_len && (!web_url_utf8_valid(req->body, req->body_len) ||
                              strlen(req->body) != req->body_len)) {
            snprintf(msg, cap, "args: the body must be UTF-8 text");
            return false;
        }
        if (req->body_len)
            json_object_set_new(cmd, "args", json_stringn(req->body, req->body_len));
        return true;
    }
    if (strcmp(op, "discover") == 0) {
        char v[8];
        long long n;
        int got = web_url_query(conn, "depth", v, sizeof v);
        if (got < 0 || (got > 0 && !web_url_parse_int(v, 0, 3, &n))) {
            snprintf(msg, cap, "depth: an integer from 0 to 3");
            return false;
        }
        if (got > 0)
            json_object_set_new(cmd, "depth", json_integer(n));
        return true;
    }
    if (strcmp(op, "attributes") == 0 || strcmp(op, "observe") == 0) {
        json_t *attrs = json_object();
        for (size_t i = 0; i < N_ATTRS; i++)
            if (!query_attr(conn, attr_names[i], attrs, msg, cap)) {
                json_decref(attrs);
                return false;
            }
        json_object_set_new(cmd, "attributes", attrs);
    }
    return true;
}

/* POST .../composite: the body is the command, with op in short form. */
static json_t *composite_command(const struct web_request *req, char *msg, size_t cap)
{
    json_t *b = body_object(req, msg, cap);
    if (!b) {
        if (!msg[0])
            snprintf(msg, cap, "body: {\"op\":\"read\",\"paths\":[...]} is needed");
        return NULL;
    }
    const char *op = json_string_value(json_object_get(b, "op"));
    static const char *const ops[] = { "read", "observe", "write", "cancel_observe" };
    for (size_t i = 0; op && i < 4; i++)
        if (strcmp(op, ops[i]) == 0) {
            char full[40];
            snprintf(full, sizeof full, "%s_composite", op);
            json_object_set_new(b, "op", json_string(full));
            return b;
        }
    json_decref(b);
    snprintf(msg, cap, "op: must be read, observe, write or cancel_observe");
    return NULL;
}

/* ---- suspend / resume ---- */

static void devop_free(void *arg)
{
    struct devop *op = arg;
    if (!op)
        return;
    pthread_mutex_destroy(&op->lock);
    json_decref(op->body);
    free(op->json);
    free(op->endpoint);
    free(op);
}

/* Any thread, exactly once. */
static void on_done(void *ctx, unsigned status, const char *json)
{
    struct devop *op = ctx;
    char *copy = strdup(json ? json : "");
    pthread_mutex_lock(&op->lock);
    op->status = copy ? status : 500;
    op->json = copy;
    op->state = DEVOP_FINISHED;
    struct MHD_Connection *conn = op->conn;
    pthread_mutex_unlock(&op->lock);
    MHD_resume_connection(conn);
}

/* The outcome as an audit detail: path, HTTP status, and the CoAP code or
 * the error code when there is one. */
static json_t *audit_detail(const struct devop *op, json_t *body)
{
    json_t *d = json_pack("{s:s,s:i}", "path", op->path, "status", (int)op->status);
    json_t *e = json_object_get(body, "error");
    json_t *coap = json_object_get(e ? e : body, "coap");
    if (d && coap)
        json_object_set(d, "coap", coap);
    if (d && e)
        json_object_set(d, "error", json_object_get(e, "code"));
    if (d && json_object_get(body, "command"))
        json_object_set(d, "command", json_object_get(body, "command"));
    return d;
}

/* The writer thread: the entry committed (or was given up). */
static void audited(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    struct devop *op = arg;
    pthread_mutex_lock(&op->lock);
    op->audit_rc = rc;
    if (rc != LS_OK)
        snprintf(op->audit_msg, sizeof op->audit_msg, "%s", err ? err->msg : "");
    op->state = DEVOP_AUDITED;
    struct MHD_Connection *conn = op->conn;
    pthread_mutex_unlock(&op->lock);
    MHD_resume_connection(conn);
}

/* Parks the connection until the operation's audit entry committed. */
static void audit(struct web_http *w, const struct web_request *req, struct devop *op)
{
    json_t *detail = audit_detail(op, op->body);
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    struct ls_error err = { 0 };
    pthread_mutex_lock(&op->lock);
    op->state = DEVOP_AUDITING;
    pthread_mutex_unlock(&op->lock);
    MHD_suspend_connection(op->conn);
    if (store_audit_writer_append(w->audit, req->token.id, req->token.name, op->action,
                                  op->endpoint, text ? text : "{}", audited, op, &err) != LS_OK)
        audited(op, err.code != LS_OK ? err.code : LS_EIO, &err);
    free(text);
}

/* The answer once the audit entry is settled. */
static enum MHD_Result answer(struct MHD_Connection *conn, struct devop *op)
{
    if (op->audit_rc == LS_OK) {
        json_t *body = op->body;
        op->body = NULL;
        return web_reply_json(conn, op->status, body);
    }
    ls_log_error("audit_failed", "action=%s target=\"%s\" error=\"%s\"", op->action,
                 op->endpoint, op->audit_msg);
    return web_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
                           "the operation was carried out (outcome: HTTP %u) but its audit "
                           "entry could not be written: %s", op->status, op->audit_msg);
}

static enum MHD_Result resumed(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req)
{
    struct devop *op = req->resume_arg;
    pthread_mutex_lock(&op->lock);
    enum devop_state state = op->state;
    pthread_mutex_unlock(&op->lock);
    if (state == DEVOP_RUNNING || state == DEVOP_AUDITING)
        return MHD_YES;   /* a spurious call; wait for the next resume */
    if (state == DEVOP_AUDITED) {
        req->on_resume = NULL;
        return answer(conn, op);
    }
    op->body = op->json ? json_loads(op->json, 0, NULL) : NULL;
    if (!op->body)
        op->body = json_pack("{s:{s:s,s:s}}", "error", "code", "internal", "message",
                             "the answer was not JSON");
    audit(w, req, op);
    return MHD_YES;
}

static enum MHD_Result submit(struct web_http *w, struct MHD_Connection *conn,
                              struct web_request *req, const char *op_name,
                              const struct lwm2m_path *path, json_t *cmd, int64_t timeout_ms)
{
    struct devop *op = calloc(1, sizeof *op);
    char *text = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    if (!op || !text || !(op->endpoint = strdup(req->param))) {
        free(text);
        free(op);
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "out of memory");
    }
    pthread_mutex_init(&op->lock, NULL);
    op->conn = conn;
    snprintf(op->action, sizeof op->action, "device.%s", op_name);
    lwm2m_path_format(path, op->path);
    req->resume_arg = op;
    req->resume_free = devop_free;
    req->on_resume = resumed;
    struct web_device_call call = {
        .endpoint = req->param, .command_json = text, .timeout_ms = timeout_ms,
        .actor_token_id = req->token.id, .actor = req->token.name,
    };
    MHD_suspend_connection(conn);
    pthread_mutex_lock(&w->devices_lock);
    if (w->devices_fn)
        w->devices_fn(w->devices_arg, &call, on_done, op);
    else
        on_done(op, MHD_HTTP_SERVICE_UNAVAILABLE,
                "{\"error\":{\"code\":\"unavailable\",\"message\":\"device operations are "
                "not available yet\"}}");
    pthread_mutex_unlock(&w->devices_lock);
    free(text);
    return MHD_YES;
}

static enum MHD_Result bad(struct MHD_Connection *conn, const char *msg)
{
    return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
}

enum MHD_Result web_devops_handle(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req)
{
    char msg[200];
    struct lwm2m_path path;
    enum web_devops_suffix suffix;
    if (req->param_len > NAME_MAX_BYTES)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
    if (!web_devops_parse_target(req->tail ? req->tail : "", &path, &suffix, msg, sizeof msg))
        return bad(conn, msg);
    const char *op = web_devops_op_for(req->method, suffix, path.depth);
    if (!op)
        return bad(conn, strcmp(req->method, "POST") == 0 && suffix == WEB_DEVOPS_PLAIN
                             ? "path: POST creates on an object (/3303) or executes a "
                               "resource (/3/0/4)"
                             : "method: not an operation on this path");
    if (strcmp(req->method, "GET") != 0) {
        enum MHD_Result ret;
        if (!web_auth_check(w, conn, req, STORE_TOKENS_OPERATOR, &ret))
            return ret;
    }
    char ptext[LWM2M_PATH_STR_MAX];
    lwm2m_path_format(&path, ptext);
    json_t *cmd = json_pack("{s:s,s:s}", "op", op, "path", ptext);
    int64_t timeout_ms = 0;
    if (!cmd)
        return MHD_NO;
    if (!query_common(conn, cmd, &timeout_ms, msg, sizeof msg) ||
        !fill_command(conn, req, op, cmd, msg, sizeof msg)) {
        json_decref(cmd);
        return bad(conn, msg);
    }
    return submit(w, conn, req, op, &path, cmd, timeout_ms);
}

enum MHD_Result web_devops_composite(struct web_http *w, struct MHD_Connection *conn,
                                     struct web_request *req)
{
    char msg[200];
    int64_t timeout_ms = 0;
    if (req->param_len > NAME_MAX_BYTES)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
    json_t *cmd = composite_command(req, msg, sizeof msg);
    if (!cmd)
        return bad(conn, msg);
    json_t *fmt = json_object_get(cmd, "format");
    if (!query_common(conn, cmd, &timeout_ms, msg, sizeof msg)) {
        json_decref(cmd);
        return bad(conn, msg);
    }
    (void)fmt;
    char op[40];
    snprintf(op, sizeof op, "%s", json_string_value(json_object_get(cmd, "op")));
    struct lwm2m_path root = lwm2m_path_root();
    return submit(w, conn, req, op, &root, cmd, timeout_ms);
}

void web_http_devices(struct web_http *w, web_device_submit_fn *submit_fn, void *arg)
{
    pthread_mutex_lock(&w->devices_lock);
    w->devices_fn = submit_fn;
    w->devices_arg = arg;
    pthread_mutex_unlock(&w->devices_lock);
}
