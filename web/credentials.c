/*
 * web/credentials.c -- invalidate keys (admin):
 *   POST /api/devices/{ep}/credentials/revoke?reason=   one device
 *   POST /api/credentials/revoke  {"match": "<glob>", "reason"}   a fleet
 *
 * Body (optional for one device): {"scope": "server" (default) |
 * "bootstrap" | "all", "reason": "..."}; ?reason= wins over the body's.
 * The credentials are marked revoked in one statement that notifies the
 * daemons (store/credentials.h); lodestar-server then reloads its PSK
 * table, closes the sessions of the revoked identities and ends their
 * registrations (server/registration.c), and both daemons refuse new
 * handshakes with them.  Every call is audited with its reason; the
 * answer lists what was revoked (ids, identities: never a key).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"
#include "store/bsconfigs.h"
#include "store/credentials.h"
#include "store/devices.h"

#define REASON_MAX 500
#define NAME_MAX_BYTES 1024

struct revoke_req {
    const char *scope;          /* NULL = all */
    const char *scope_name;     /* "server" | "bootstrap" | "all" */
    char reason[REASON_MAX + 1];
    const char *match;          /* fleet only */
};

/* The body (may be absent) and ?reason=.  NULL or the message of a 400. */
static const char *parse(struct MHD_Connection *conn, struct web_request *req, json_t **body,
                         struct revoke_req *r)
{
    json_error_t jerr;
    *body = NULL;
    r->scope = r->scope_name = "server";
    if (req->body && !(*body = json_loadb(req->body, req->body_len, 0, &jerr)))
        return "the body must be a JSON object";
    if (*body && !json_is_object(*body))
        return "the body must be a JSON object";
    json_t *scope = json_object_get(*body, "scope"), *reason = json_object_get(*body, "reason");
    if (scope) {
        const char *s = json_string_value(scope);
        if (!s || (strcmp(s, "server") && strcmp(s, "bootstrap") && strcmp(s, "all")))
            return "scope: must be \"server\", \"bootstrap\" or \"all\"";
        r->scope_name = s;
        r->scope = strcmp(s, "all") == 0 ? NULL : s;
    }
    int q = web_url_query(conn, "reason", r->reason, sizeof r->reason);
    if (q < 0)
        return "reason: must be percent-encoded UTF-8 of at most 500 bytes";
    if (q == 0 && reason) {
        const char *s = json_string_value(reason);
        if (!s || strlen(s) > REASON_MAX)
            return "reason: must be a string of at most 500 bytes";
        snprintf(r->reason, sizeof r->reason, "%s", s);
    }
    r->match = json_string_value(json_object_get(*body, "match"));
    return NULL;
}

static enum ls_rc audit(struct web_http *w, struct web_request *req, const char *action,
                        const char *target, json_t *detail, struct ls_error *err)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (!text)
        return ls_error_set(err, LS_ENOMEM, "out of memory");
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_audit_append(w->store, req->token.id, req->token.name, action, target,
                                       text, err);
    pthread_mutex_unlock(&w->store_lock);
    free(text);
    return rc;
}

/* Revokes in the endpoints of list (JSON array text); the answer's body. */
static enum MHD_Result do_revoke(struct web_http *w, struct MHD_Connection *conn,
                                 struct web_request *req, const struct revoke_req *r,
                              const char *list, const char *action, const char *target,
                              json_t *answer)
{
    struct ls_error err = { 0 };
    int64_t n = 0;
    char *revoked = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_credentials_revoke_list(w->store, list, r->scope, &n, &revoked, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK) {
        json_decref(answer);
        return web_reply_store_error(conn, &err);
    }
    json_t *creds = json_loads(revoked, 0, NULL);
    free(revoked);
    json_object_set_new(answer, "scope", json_string(r->scope_name));
    json_object_set_new(answer, "reason", json_string(r->reason));
    json_object_set_new(answer, "revoked", json_integer(n));
    json_object_set_new(answer, "credentials", creds ? creds : json_array());
    json_t *detail = json_deep_copy(answer);
    if (detail && json_array_size(json_object_get(detail, "credentials")) > 100)
        json_object_del(detail, "credentials");   /* a fleet: the counts say it */
    if (audit(w, req, action, target, detail, &err) != LS_OK)
        ls_log_warn("audit_failed", "action=%s error=\"%s\"", action, err.msg);
    ls_log_info("credentials_revoked", "target=\"%s\" scope=%s count=%" PRId64, target,
                r->scope_name, n);
    return web_reply_json(conn, MHD_HTTP_OK, answer);
}

enum MHD_Result web_credentials_revoke(struct web_http *w, struct MHD_Connection *conn,
                                       struct web_request *req)
{
    struct revoke_req r = { 0 };
    json_t *body = NULL;
    enum MHD_Result ret;
    const char *msg = parse(conn, req, &body, &r);
    if (msg) {
        ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
        goto out;
    }
    struct ls_error err = { 0 };
    char *dev = NULL;
    enum ls_rc rc = LS_ENOTFOUND;
    if (req->param_len <= NAME_MAX_BYTES) {
        pthread_mutex_lock(&w->store_lock);
        rc = store_devices_get(w->store, req->param, &dev, &err);
        pthread_mutex_unlock(&w->store_lock);
        free(dev);
    }
    if (rc == LS_ENOTFOUND) {
        ret = web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
        goto out;
    }
    if (rc != LS_OK) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    json_t *list = json_pack("[s]", req->param);
    char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    ret = text ? do_revoke(w, conn, req, &r, text, "credentials.revoke", req->param,
                        json_pack("{s:s}", "endpoint", req->param))
               : web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                 "out of memory");
    free(text);
out:
    json_decref(body);
    return ret;
}

/* The live endpoints matching glob, as a JSON array text; *n their count. */
static enum ls_rc matching(struct web_http *w, const char *glob, const char *scope, char **out,
                           size_t *n, struct ls_error *err)
{
    char *all = NULL;
    *out = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_credentials_live_endpoints(w->store, scope, &all, err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return rc;
    json_t *names = json_loads(all, 0, NULL), *hit = json_array();
    free(all);
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
        if (store_bsconfigs_glob_match(glob, json_string_value(v)))
            json_array_append(hit, v);
    *n = json_array_size(hit);
    *out = names && hit ? json_dumps(hit, JSON_COMPACT) : NULL;
    json_decref(names);
    json_decref(hit);
    return *out ? LS_OK : ls_error_set(err, LS_ENOMEM, "out of memory");
}

enum MHD_Result web_credentials_revoke_fleet(struct web_http *w, struct MHD_Connection *conn,
                                             struct web_request *req)
{
    struct revoke_req r = { 0 };
    json_t *body = NULL;
    enum MHD_Result ret;
    const char *msg = parse(conn, req, &body, &r);
    if (!msg && (!r.match || !*r.match || strlen(r.match) > NAME_MAX_BYTES))
        msg = "match: must be a glob of 1..1024 bytes (\"*\" for every device)";
    if (!msg && !r.reason[0])
        msg = "reason: required for a fleet revocation";
    if (msg) {
        ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
        goto out;
    }
    struct ls_error err = { 0 };
    char *list = NULL;
    size_t n = 0;
    if (matching(w, r.match, r.scope, &list, &n, &err) != LS_OK) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    ret = do_revoke(w, conn, req, &r, list, "credentials.revoke_fleet", r.match,
                 json_pack("{s:s,s:I}", "match", r.match, "devices", (json_int_t)n));
    free(list);
out:
    json_decref(body);
    return ret;
}
